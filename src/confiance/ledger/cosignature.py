"""C2SP tlog-cosignature v1 (Ed25519): a witness's statement on a checkpoint.

Signed message: ``cosignature/v1\\ntime <unix>\\n`` followed by the checkpoint
body; signature line ``— <name> base64(key_id[4] || timestamp u64 BE || sig)``
with ``key_id = SHA-256(name || 0x0A || 0x04 || public_key)[:4]``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from confiance.errors import LedgerError
from confiance.ledger.checkpoint import format_vkey, parse_vkey, split_note

_ALG = b"\x04"
_DASH = "\u2014 "


def cosigner_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + _ALG + raw).digest()[:4]


def _message(checkpoint_text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True)
class Cosigner:
    name: str
    key: Ed25519PrivateKey
    clock: Callable[[], float] = time.time

    def cosign(self, checkpoint_text: str) -> str:
        """One cosignature line over a checkpoint body (which ends with a newline)."""
        timestamp = int(self.clock())
        signature = self.key.sign(_message(checkpoint_text, timestamp))
        blob = cosigner_key_id(self.name, self.key.public_key()) + timestamp.to_bytes(8, "big")
        return f"{_DASH}{self.name} {base64.b64encode(blob + signature).decode()}\n"


@dataclass(frozen=True)
class CosignatureVerifier:
    name: str
    key: Ed25519PublicKey

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse a ``name+hexid+base64(0x04||key)`` cosigner key."""
        return cls(
            *parse_vkey(vkey, algorithm=_ALG, key_id_of=cosigner_key_id, what="cosignature/v1 key")
        )

    def vkey(self) -> str:
        return format_vkey(self.name, self.key, algorithm=_ALG, key_id_of=cosigner_key_id)


def cosignature_timestamp(blob: bytes) -> int:
    """The timestamp field of a cosignature blob (key id, u64, signature)."""
    if len(blob) != 4 + 8 + 64:
        raise LedgerError("malformed cosignature")
    return int.from_bytes(blob[4:12], "big")


def verify_cosignatures(note: str, verifiers: list[CosignatureVerifier]) -> dict[str, int]:
    """Names of the known cosigners whose cosignature verifies, with its timestamp.

    Lines of unknown keys are ignored; a bad cosignature by a known key raises.
    """
    text, signatures = split_note(note)
    by_id = {(v.name, cosigner_key_id(v.name, v.key)): v for v in verifiers}
    found: dict[str, int] = {}
    for name, blob in signatures:
        verifier = by_id.get((name, blob[:4]))
        if verifier is None:
            continue
        timestamp = cosignature_timestamp(blob)
        try:
            verifier.key.verify(blob[12:], _message(text, timestamp))
        except InvalidSignature:
            raise LedgerError(f"invalid cosignature by {name}") from None
        found[name] = timestamp
    return found
