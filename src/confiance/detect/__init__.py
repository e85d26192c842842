"""Detections over the pooled, pseudonymised events, and their evaluation.

Detectors run inside the confidential runtime through :mod:`confiance.detect.jobs`;
each is pinned in contracts by the digest of its module's code.
"""

from confiance.detect.evaluation import Score, score_findings
from confiance.detect.registry import DETECTORS, Detector, detector_code_digest, detectors_of
from confiance.detect.synthetic import Attack, GenerationSummary, generate, load_ground_truth

__all__ = [
    "DETECTORS",
    "Attack",
    "Detector",
    "GenerationSummary",
    "Score",
    "detector_code_digest",
    "detectors_of",
    "generate",
    "load_ground_truth",
    "score_findings",
]
