"""Sealing results to recipients with HPKE (RFC 9180, base mode, single shot).

Two suites, chosen per recipient by the contract:

* ``x25519``: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM;
* ``mlkem768-x25519``: the ML-KEM-768 + X25519 hybrid KEM, HKDF-SHA256,
  AES-256-GCM — safe as long as either ML-KEM-768 or X25519 holds, so results
  recorded today stay confidential against a future quantum computer.

The ``info`` string binds a ciphertext to its contract, run and recipient, so
a result cannot be replayed to another recipient or run.
"""

from __future__ import annotations

import enum

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from confiance.errors import SealError

X25519_BYTES = 32
MLKEM768_PUBLIC_BYTES = 1184


class SealSuite(enum.StrEnum):
    X25519 = "x25519"
    MLKEM768_X25519 = "mlkem768-x25519"

    @property
    def public_key_bytes(self) -> int:
        return X25519_BYTES if self is SealSuite.X25519 else MLKEM768_PUBLIC_BYTES + X25519_BYTES

    def hpke(self) -> hpke.Suite:
        kem = hpke.KEM.X25519 if self is SealSuite.X25519 else hpke.KEM.MLKEM768_X25519
        return hpke.Suite(kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


RecipientPrivateKey = X25519PrivateKey | hpke.MLKEM768X25519PrivateKey


def _public_key(suite: SealSuite, raw: bytes) -> X25519PublicKey | hpke.MLKEM768X25519PublicKey:
    if len(raw) != suite.public_key_bytes:
        raise SealError(f"a {suite.value} recipient key is {suite.public_key_bytes} bytes")
    if suite is SealSuite.X25519:
        return X25519PublicKey.from_public_bytes(raw)
    return hpke.MLKEM768X25519PublicKey(
        mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM768_PUBLIC_BYTES]),
        X25519PublicKey.from_public_bytes(raw[MLKEM768_PUBLIC_BYTES:]),
    )


def seal(
    plaintext: bytes,
    recipient: X25519PublicKey | bytes,
    *,
    info: bytes,
    suite: SealSuite = SealSuite.X25519,
) -> bytes:
    """Encrypt ``plaintext`` so that only ``recipient``'s private key opens it."""
    key = _public_key(suite, recipient) if isinstance(recipient, bytes) else recipient
    ciphertext: bytes = suite.hpke().encrypt(plaintext, key, info=info)
    return ciphertext


def open_sealed(
    ciphertext: bytes,
    key: RecipientPrivateKey,
    *,
    info: bytes,
    suite: SealSuite = SealSuite.X25519,
) -> bytes:
    """Decrypt a sealed result; any failure is one opaque error."""
    try:
        plaintext: bytes = suite.hpke().decrypt(ciphertext, key, info=info)
    except Exception:  # the HPKE binding raises several types; none may leak detail
        raise SealError("cannot open sealed result: not for this key, or altered") from None
    return plaintext
