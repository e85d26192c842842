"""Envelope encryption of blobs with AES-256-GCM under a data key (DEK).

Blob layout: ``b"CFE1" || nonce(12) || ciphertext || tag(16)``. The associated
data binds each blob to where it belongs (dataset id, tenant), so a blob moved
to another place fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from confiance.errors import KeyStoreError

DEK_BYTES = 32
_MAGIC = b"CFE1"
_NONCE = 12


def new_dek() -> bytearray:
    """A fresh 256-bit data key, in a mutable buffer so it can be zeroed."""
    return bytearray(os.urandom(DEK_BYTES))


def zero(buffer: bytearray) -> None:
    """Overwrite a key buffer in place (best effort: Python may hold copies)."""
    for i in range(len(buffer)):
        buffer[i] = 0


def encrypt_blob(plaintext: bytes, key: bytes | bytearray, *, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``key``; the nonce is chosen here, never by callers."""
    nonce = os.urandom(_NONCE)
    return _MAGIC + nonce + AESGCM(bytes(key)).encrypt(nonce, plaintext, aad)


def decrypt_blob(blob: bytes, key: bytes | bytearray, *, aad: bytes) -> bytes:
    """Open a blob made by :func:`encrypt_blob`; any mismatch gives one opaque error."""
    if len(blob) < len(_MAGIC) + _NONCE + 16 or not blob.startswith(_MAGIC):
        raise KeyStoreError("cannot decrypt: not an encrypted blob")
    nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE]
    try:
        # a view, not a slice: large datasets are not copied before decryption
        return AESGCM(bytes(key)).decrypt(nonce, memoryview(blob)[len(_MAGIC) + _NONCE :], aad)
    except InvalidTag:
        raise KeyStoreError("cannot decrypt: wrong key or altered data") from None


def dataset_aad(tenant: str, dataset_id: str) -> bytes:
    """Associated data of an encrypted dataset: binds it to its owner and id."""
    return f"confiance-dataset/1|{tenant}|{dataset_id}".encode()
