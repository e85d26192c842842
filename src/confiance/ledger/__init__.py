"""Append-only Merkle log (RFC 9162 hashing) with signed C2SP checkpoints."""

from confiance.ledger.checkpoint import Checkpoint, NoteSigner, NoteVerifier
from confiance.ledger.log import Entry, Ledger
from confiance.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "Checkpoint",
    "Entry",
    "Ledger",
    "NoteSigner",
    "NoteVerifier",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]
