"""The confidential runtime: attestation, key release, job execution, sealing.

Only the ``SIMULATED`` attestation backend exists in this version: the
measurement is real (a digest of the code and configuration that runs), but
the evidence is signed by a local key, so nothing protects the runtime's
memory from root on its host. Every output says so.
"""

from confiance.runtime.attestation import (
    SIMULATED,
    Evidence,
    SimulatedAttester,
    SimulatedVerifier,
)
from confiance.runtime.host import RunOutcome, RuntimeHost, SealedResult
from confiance.runtime.keyrelease import DatasetKey, KeyService
from confiance.runtime.measurement import code_digest, measure_image
from confiance.runtime.seal import open_sealed, seal

__all__ = [
    "SIMULATED",
    "DatasetKey",
    "Evidence",
    "KeyService",
    "RunOutcome",
    "RuntimeHost",
    "SealedResult",
    "SimulatedAttester",
    "SimulatedVerifier",
    "code_digest",
    "measure_image",
    "open_sealed",
    "seal",
]
