"""Pseudonyms for people and addresses, and the owner-held re-identification table.

Accounts get RFC 9497 OPRF pseudonyms evaluated by t of n consortium members
holding Shamir shares of the key: evaluators never see identifiers and no
single party can compute a pseudonym. Addresses get Crypto-PAn
prefix-preserving pseudonyms under a key derived by the same threshold OPRF.
"""

from confiance.pseudonym.keyed import IdentifierKind, Pseudonymiser, PseudonymService
from confiance.pseudonym.policy import apply_policy
from confiance.pseudonym.reidentification import ReidentificationTable
from confiance.pseudonym.service import ThresholdPseudonymService
from confiance.pseudonym.threshold import (
    DailyVolumeExceeded,
    Evaluator,
    EvaluatorUnavailable,
    split_key,
    threshold_prf,
)

__all__ = [
    "DailyVolumeExceeded",
    "Evaluator",
    "EvaluatorUnavailable",
    "IdentifierKind",
    "PseudonymService",
    "Pseudonymiser",
    "ReidentificationTable",
    "ThresholdPseudonymService",
    "apply_policy",
    "split_key",
    "threshold_prf",
]
