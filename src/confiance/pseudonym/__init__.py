"""Pseudonyms for people and addresses, and the owner-held re-identification table.

This first version uses a keyed hash (HMAC-SHA256) under a consortium key held
by a pseudonym service, so the same identifier links across tenants. The
service is the only place the key lives; owners never hold it.
"""

from confiance.pseudonym.keyed import (
    IdentifierKind,
    KeyedPseudonymService,
    Pseudonymiser,
    PseudonymService,
)
from confiance.pseudonym.policy import apply_policy
from confiance.pseudonym.reidentification import ReidentificationTable

__all__ = [
    "IdentifierKind",
    "KeyedPseudonymService",
    "PseudonymService",
    "Pseudonymiser",
    "ReidentificationTable",
    "apply_policy",
]
