"""Sealing results to recipients with HPKE (RFC 9180, base mode).

Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM. The ``info``
string binds a ciphertext to its contract, run and recipient, so a result
cannot be replayed to another recipient or run.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from confiance.errors import SealError

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def seal(plaintext: bytes, recipient: X25519PublicKey | bytes, *, info: bytes) -> bytes:
    """Encrypt ``plaintext`` so that only ``recipient``'s private key opens it."""
    if isinstance(recipient, bytes):
        recipient = X25519PublicKey.from_public_bytes(recipient)
    ciphertext: bytes = _SUITE.encrypt(plaintext, recipient, info=info)
    return ciphertext


def open_sealed(ciphertext: bytes, key: X25519PrivateKey, *, info: bytes) -> bytes:
    """Decrypt a sealed result; any failure is one opaque error."""
    try:
        plaintext: bytes = _SUITE.decrypt(ciphertext, key, info=info)
    except Exception:  # the HPKE binding raises several types; none may leak detail
        raise SealError("cannot open sealed result: not for this key, or altered") from None
    return plaintext
