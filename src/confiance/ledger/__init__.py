"""Append-only Merkle log (RFC 9162 hashing) with signed C2SP checkpoints.

Entries are signed by their actors; every append ends with a checkpoint signed
by the log operator; tenant witnesses cosign checkpoints (C2SP tlog-witness)
only after checking consistency; receipts prove one entry offline.
"""

from confiance.ledger.checkpoint import Checkpoint, NoteSigner, NoteVerifier
from confiance.ledger.cosignature import CosignatureVerifier, Cosigner, verify_cosignatures
from confiance.ledger.log import Entry, Ledger, SplitViewError, VerifyReport
from confiance.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from confiance.ledger.receipt import Trust, export_receipt, verify_receipt
from confiance.ledger.witness import Witness, WitnessError

__all__ = [
    "Checkpoint",
    "CosignatureVerifier",
    "Cosigner",
    "Entry",
    "Ledger",
    "NoteSigner",
    "NoteVerifier",
    "SplitViewError",
    "Trust",
    "VerifyReport",
    "Witness",
    "WitnessError",
    "consistency_proof",
    "export_receipt",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_cosignatures",
    "verify_inclusion",
    "verify_receipt",
]
