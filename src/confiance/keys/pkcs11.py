"""A KEK that never leaves a PKCS#11 token (an HSM; SoftHSM2 in tests).

The KEK is generated inside the token as a non-extractable, sensitive
AES-256 key; wrapping and unwrapping of data keys are AES-GCM operations done
by the token, bound to their context as associated data. Signing and
recipient keys stay in the owner's software keystore.

Wrapped key layout: ``b"CFH1" || nonce(12) || ciphertext || tag(16)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism

from confiance.errors import KeyStoreError
from confiance.keys.keystore import SoftwareKeyStore

_MAGIC = b"CFH1"
_NONCE = 12
SOFTHSM2_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class TokenConfig:
    module: str
    token_label: str
    kek_label: str


def _session(config: TokenConfig, pin: str, *, rw: bool = False) -> pkcs11.Session:
    try:
        library = pkcs11.lib(config.module)
        token = library.get_token(token_label=config.token_label)
        try:
            return token.open(rw=rw, user_pin=pin)
        except pkcs11.UserAlreadyLoggedIn:
            # PKCS#11 logins belong to the process: another open session holds it
            return token.open(rw=rw)
    except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
        raise KeyStoreError(
            f"PKCS#11 token {config.token_label!r}: cannot be opened ({type(exc).__name__})"
        ) from None


def create_kek(config: TokenConfig, *, pin: str) -> None:
    """Generate the KEK inside the token: AES-256, non-extractable, sensitive."""
    session = _session(config, pin, rw=True)
    try:
        try:
            session.get_key(label=config.kek_label, key_type=KeyType.AES)
        except pkcs11.NoSuchKey:
            pass
        else:
            raise KeyStoreError(f"token {config.token_label!r} already holds {config.kek_label!r}")
        session.generate_key(
            KeyType.AES,
            256,
            label=config.kek_label,
            store=True,
            template={
                Attribute.EXTRACTABLE: False,
                Attribute.SENSITIVE: True,
                Attribute.TOKEN: True,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
            },
        )
    finally:
        session.close()


class Pkcs11KeyStore:
    """The :class:`~confiance.keys.keystore.KeyStore` of an owner whose KEK is in an HSM."""

    def __init__(self, config: TokenConfig, *, pin: str, software: SoftwareKeyStore) -> None:
        self.owner = software.owner
        self._config = config
        self._software = software
        self._session = _session(config, pin)
        try:
            # a SecretKey with EncryptMixin/DecryptMixin; the stubs only say Key
            self._kek: Any = self._session.get_key(label=config.kek_label, key_type=KeyType.AES)
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
            self._session.close()
            raise KeyStoreError(
                f"token {config.token_label!r}: no single key labelled {config.kek_label!r}"
            ) from None

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore(owner={self.owner!r}, token={self._config.token_label!r})"

    def wrap_key(self, key: bytes | bytearray, *, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        try:
            sealed = self._kek.encrypt(
                bytes(key),
                mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(nonce, context, 128),
            )
        except pkcs11.PKCS11Error:
            raise KeyStoreError(f"key of {self.owner}: the token refused to wrap") from None
        return _MAGIC + nonce + bytes(sealed)

    def unwrap_key(self, wrapped: bytes, *, context: bytes) -> bytearray:
        if len(wrapped) < len(_MAGIC) + _NONCE + 16 or not wrapped.startswith(_MAGIC):
            raise KeyStoreError(f"key of {self.owner}: cannot unwrap data key")
        nonce = wrapped[len(_MAGIC) : len(_MAGIC) + _NONCE]
        try:
            key = self._kek.decrypt(
                wrapped[len(_MAGIC) + _NONCE :],
                mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(nonce, context, 128),
            )
        except pkcs11.PKCS11Error:
            raise KeyStoreError(f"key of {self.owner}: cannot unwrap data key") from None
        return bytearray(key)

    def signing_key(self) -> Ed25519PrivateKey:
        return self._software.signing_key()

    def recipient_key(self) -> X25519PrivateKey:
        return self._software.recipient_key()

    def close(self) -> None:
        self._session.close()
