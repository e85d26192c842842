"""Protection of minors: list matching without disclosure, and text signals for human review.

Nothing here acts on its own: hits and signals are sealed to the reviewers a
contract names and wait in a review queue for a person's decision.
"""

from confiance.detect.minors.blocklist import Hit, KeyedBlocklist, ListEntry
from confiance.detect.minors.classifier import (
    TextClassifier,
    TransformerClassifier,
    load_classifier,
)
from confiance.detect.minors.lexicon import CLASSES, LexiconClassifier, Signal, normalise
from confiance.detect.minors.urls import CanonicalUrl, canonicalize, expressions
from confiance.ingest.search import extract_search_terms, search_terms

__all__ = [
    "CLASSES",
    "CanonicalUrl",
    "Hit",
    "KeyedBlocklist",
    "LexiconClassifier",
    "ListEntry",
    "Signal",
    "TextClassifier",
    "TransformerClassifier",
    "canonicalize",
    "expressions",
    "extract_search_terms",
    "load_classifier",
    "normalise",
    "search_terms",
]
