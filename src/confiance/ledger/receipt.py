"""Receipts: one entry with everything needed to check it offline.

A receipt holds the entry's canonical line, its index, an inclusion proof to a
checkpoint, and that checkpoint with the log's signature and the witnesses'
cosignatures. Checking it needs only public keys (a trust bundle). Its compact
form (``CFR1:`` + base64url of zlib-compressed canonical JSON) fits a QR code
when small.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from confiance.errors import LedgerError, LedgerVerificationError
from confiance.ledger.checkpoint import Checkpoint, NoteVerifier, open_note
from confiance.ledger.cosignature import CosignatureVerifier, verify_cosignatures
from confiance.ledger.log import Entry, Ledger
from confiance.ledger.merkle import leaf_hash, verify_inclusion
from confiance.ledger.timestamp import verify_timestamp

FORMAT = "confiance-receipt/1"
_COMPACT = "CFR1:"


@dataclass(frozen=True)
class Trust:
    """Public keys a receipt verifier trusts, obtained independently of the receipt."""

    log: NoteVerifier
    actors: Mapping[str, Ed25519PublicKey]
    witnesses: Sequence[CosignatureVerifier] = ()
    threshold: int = 0
    tsa_roots: Sequence[x509.Certificate] = ()

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Trust:
        try:
            return cls(
                log=NoteVerifier.from_vkey(document["log"]),
                actors={
                    name: Ed25519PublicKey.from_public_bytes(base64.b64decode(key))
                    for name, key in document["actors"].items()
                },
                witnesses=[CosignatureVerifier.from_vkey(v) for v in document.get("witnesses", [])],
                threshold=int(document.get("threshold", 0)),
                tsa_roots=[
                    x509.load_pem_x509_certificate(pem.encode())
                    for pem in document.get("tsa_roots", [])
                ],
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise LedgerError("malformed trust bundle") from exc


def export_receipt(ledger: Ledger, index: int, *, trust: Trust | None = None) -> dict[str, Any]:
    """The receipt of entry ``index``.

    Against the latest checkpoint that covers it and that enough trusted
    witnesses cosigned (when ``trust`` has a threshold), else the latest one.
    """
    note = ledger.checkpoint()
    if trust is not None and trust.threshold:
        for candidate in ledger.checkpoints(min_size=index + 1):
            try:
                cosigned = verify_cosignatures(candidate, list(trust.witnesses))
            except LedgerError:
                continue
            if len(cosigned) >= trust.threshold:
                note = candidate
                break
    size = int(note.split("\n")[1])
    entry = ledger.entry(index)
    _, proof = ledger.inclusion_proof(index, size)
    receipt: dict[str, Any] = {
        "format": FORMAT,
        "index": index,
        "entry": entry.line().decode(),
        "proof": [base64.b64encode(p).decode() for p in proof],
        "checkpoint": note,
    }
    token = ledger.timestamp(size)
    if token is not None:
        receipt["timestamp"] = base64.b64encode(token).decode()
    return receipt


def verify_receipt(receipt: Mapping[str, Any], *, trust: Trust) -> Entry:
    """Raise unless the receipt proves its entry is in the log, as the trusted keys say."""
    try:
        if receipt["format"] != FORMAT:
            raise LedgerVerificationError(f"not a {FORMAT} receipt")
        index = int(receipt["index"])
        line = str(receipt["entry"]).encode()
        proof = [base64.b64decode(p, validate=True) for p in receipt["proof"]]
        note = str(receipt["checkpoint"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise LedgerVerificationError("malformed receipt") from None
    entry = Entry.parse(line, index)
    key = trust.actors.get(entry.actor)
    if key is None:
        raise LedgerVerificationError(f"receipt: actor {entry.actor!r} is not trusted")
    entry.verify(key)
    try:
        text, _ = open_note(note, [trust.log])
        checkpoint = Checkpoint.parse(text)
    except LedgerError as exc:
        raise LedgerVerificationError(f"receipt: checkpoint: {exc}") from None
    verify_inclusion(
        index=index, size=checkpoint.size, leaf=leaf_hash(line), proof=proof, root=checkpoint.root
    )
    if "timestamp" in receipt and trust.tsa_roots:
        try:
            verify_timestamp(
                base64.b64decode(str(receipt["timestamp"])), text.encode(), roots=trust.tsa_roots
            )
        except (LedgerError, binascii.Error) as exc:
            raise LedgerVerificationError(f"receipt: {exc}") from None
    if trust.threshold:
        try:
            cosigned = verify_cosignatures(note, list(trust.witnesses))
        except LedgerError as exc:
            raise LedgerVerificationError(f"receipt: {exc}") from None
        if len(cosigned) < trust.threshold:
            raise LedgerVerificationError(
                f"receipt: checkpoint cosigned by {len(cosigned)} trusted witness(es), "
                f"{trust.threshold} required"
            )
    return entry


def to_compact(receipt: Mapping[str, Any]) -> str:
    raw = zlib.compress(rfc8785.dumps(dict(receipt)), 9)
    return _COMPACT + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def from_compact(text: str) -> dict[str, Any]:
    text = text.strip()
    if not text.startswith(_COMPACT):
        raise LedgerVerificationError("not a compact receipt")
    payload = text[len(_COMPACT) :]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        document: dict[str, Any] = json.loads(raw)
    except (ValueError, zlib.error, binascii.Error):
        raise LedgerVerificationError("malformed compact receipt") from None
    return document


def load_receipt(text: str) -> dict[str, Any]:
    """A receipt from its JSON form or its compact (QR) form."""
    if text.lstrip().startswith(_COMPACT):
        return from_compact(text)
    try:
        document: dict[str, Any] = json.loads(text)
    except ValueError:
        raise LedgerVerificationError("malformed receipt: neither JSON nor compact") from None
    return document
