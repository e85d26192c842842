"""Keystores: where a tenant's long-term secrets live.

:class:`KeyStore` is the interface every backend implements; callers never see
the KEK itself, only wrap/unwrap operations. :class:`SoftwareKeyStore` is the
embedded default: one JSON file whose secrets are encrypted under a key derived
from a passphrase with scrypt.
"""

from __future__ import annotations

import base64
import enum
import json
import os
from pathlib import Path
from typing import Any, Protocol

import rfc8785
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from confiance.errors import KeyStoreError
from confiance.keys.envelope import decrypt_blob, encrypt_blob, zero

FORMAT = "confiance-keystore/1"
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1


class SecretName(enum.StrEnum):
    """The secrets a keystore may hold, each 32 random bytes."""

    KEK = "kek"  # AES-256 key-encryption key: wraps batch DEKs
    KEK_PREVIOUS = "kek-previous"  # the KEK being retired, during a rotation only
    SIGNING = "signing"  # Ed25519 seed: signs contracts and ledger entries
    RECIPIENT = "recipient"  # X25519 private key: opens results sealed to us
    WITNESS = "witness"  # Ed25519 seed: cosigns ledger checkpoints (distinct from SIGNING)
    OPRF_SHARE = "oprf-share"  # this member's Shamir share of the OPRF key (evaluators only)
    RECIPIENT_PQ = "recipient-mlkem768"  # 64-byte ML-KEM-768 seed, with RECIPIENT: hybrid key


class KeyStore(Protocol):
    """What a key service needs from a keystore, whatever the backend."""

    owner: str

    def wrap_key(self, key: bytes | bytearray, *, context: bytes) -> bytes:
        """Encrypt a data key under the KEK, bound to ``context``."""
        ...

    def unwrap_key(self, wrapped: bytes, *, context: bytes) -> bytearray:
        """Decrypt a data key wrapped by :meth:`wrap_key` with the same context."""
        ...

    def signing_key(self) -> Ed25519PrivateKey:
        """The owner's Ed25519 signing key."""
        ...

    def recipient_key(self) -> X25519PrivateKey:
        """The owner's X25519 key for opening sealed results."""
        ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def public_bytes(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    """Raw 32-byte encoding of a public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class SoftwareKeyStore:
    """Secrets in one passphrase-encrypted file; the embedded default."""

    def __init__(self, owner: str, secrets: dict[SecretName, bytearray], path: Path) -> None:
        self.owner = owner
        self._secrets = secrets
        self.path = path

    def __repr__(self) -> str:
        return f"SoftwareKeyStore(owner={self.owner!r}, path={str(self.path)!r})"

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        owner: str,
        passphrase: str,
        secrets: tuple[SecretName, ...] = (
            SecretName.KEK,
            SecretName.SIGNING,
            SecretName.RECIPIENT,
        ),
        given: dict[SecretName, bytes] | None = None,
    ) -> SoftwareKeyStore:
        """Generate fresh secrets (or take ``given`` ones) and write them, encrypted."""
        if not passphrase:
            raise KeyStoreError(f"keystore {path}: an empty passphrase is not allowed")
        if path.exists():
            raise KeyStoreError(f"keystore {path}: already exists, refusing to overwrite")
        values = {
            name: bytearray(os.urandom(64 if name is SecretName.RECIPIENT_PQ else 32))
            for name in secrets
        }
        values |= {name: bytearray(value) for name, value in (given or {}).items()}
        store = cls(owner, values, path)
        store._write(passphrase)
        return store

    @classmethod
    def open(cls, path: Path, *, passphrase: str) -> SoftwareKeyStore:
        """Read and decrypt a keystore; a wrong passphrase gives an opaque error."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            header = document["header"]
            if header["format"] != FORMAT:
                raise KeyStoreError(f"keystore {path}: unsupported format {header['format']!r}")
            kdf = header["kdf"]
            salt = _unb64(kdf["salt"])
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            blob = _unb64(document["ciphertext"])
            owner = str(header["owner"])
        except FileNotFoundError:
            raise KeyStoreError(f"keystore {path}: not found") from None
        except (KeyError, ValueError, TypeError) as exc:
            raise KeyStoreError(f"keystore {path}: malformed") from exc
        key = bytearray(Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode()))
        try:
            plaintext = decrypt_blob(blob, key, aad=rfc8785.dumps(header))
        except KeyStoreError:
            raise KeyStoreError(f"keystore {path}: wrong passphrase or altered file") from None
        finally:
            zero(key)
        raw = json.loads(plaintext)
        secrets = {SecretName(name): bytearray(_unb64(value)) for name, value in raw.items()}
        return cls(owner, secrets, path)

    def _write(self, passphrase: str) -> None:
        salt = os.urandom(16)
        header: dict[str, Any] = {
            "format": FORMAT,
            "owner": self.owner,
            "kdf": {
                "name": "scrypt",
                "n": _SCRYPT_N,
                "r": _SCRYPT_R,
                "p": _SCRYPT_P,
                "salt": _b64(salt),
            },
            "public": self.public_keys(),
        }
        key = bytearray(
            Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
                passphrase.encode()
            )
        )
        try:
            plaintext = json.dumps({n.value: _b64(bytes(v)) for n, v in self._secrets.items()})
            blob = encrypt_blob(plaintext.encode(), key, aad=rfc8785.dumps(header))
        finally:
            zero(key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"header": header, "ciphertext": _b64(blob)}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)

    def _check_passphrase(self, passphrase: str) -> None:
        """Refuse to rewrite the file under a passphrase that does not open it now."""
        SoftwareKeyStore.open(self.path, passphrase=passphrase).close()

    def _secret(self, name: SecretName) -> bytearray:
        try:
            return self._secrets[name]
        except KeyError:
            raise KeyStoreError(f"keystore of {self.owner}: holds no {name.value} key") from None

    def public_keys(self) -> dict[str, str]:
        """Base64 public keys of the asymmetric secrets (safe to publish)."""
        result: dict[str, str] = {}
        if SecretName.SIGNING in self._secrets:
            result["signing"] = _b64(public_bytes(self.signing_key().public_key()))
        if SecretName.RECIPIENT in self._secrets:
            result["recipient"] = _b64(public_bytes(self.recipient_key().public_key()))
        if SecretName.WITNESS in self._secrets:
            result["witness"] = _b64(public_bytes(self.witness_key().public_key()))
        if SecretName.RECIPIENT_PQ in self._secrets:
            seed = bytes(self._secret(SecretName.RECIPIENT_PQ))
            pq = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).public_key().public_bytes_raw()
            classic = public_bytes(self.recipient_key().public_key())
            result["recipient_hybrid"] = _b64(pq + classic)  # ML-KEM-768 key || X25519 key
        return result

    def wrap_key(self, key: bytes | bytearray, *, context: bytes) -> bytes:
        return encrypt_blob(bytes(key), self._secret(SecretName.KEK), aad=context)

    def unwrap_key(self, wrapped: bytes, *, context: bytes) -> bytearray:
        for name in (SecretName.KEK, SecretName.KEK_PREVIOUS):
            if name not in self._secrets:
                continue
            try:
                return bytearray(decrypt_blob(wrapped, self._secrets[name], aad=context))
            except KeyStoreError:
                continue
        raise KeyStoreError(f"key of {self.owner}: cannot unwrap data key")

    def begin_kek_rotation(self, *, passphrase: str) -> None:
        """Make a new KEK current and keep the old one for unwrapping, on disk first.

        From here on, keys wrapped under either KEK open, so a rotation that stops
        half-way loses nothing; :meth:`finish_kek_rotation` forgets the old one.
        """
        if SecretName.KEK_PREVIOUS in self._secrets:
            raise KeyStoreError(f"keystore of {self.owner}: a KEK rotation is already under way")
        self._check_passphrase(passphrase)
        self._secrets[SecretName.KEK_PREVIOUS] = self._secret(SecretName.KEK)
        self._secrets[SecretName.KEK] = bytearray(os.urandom(32))
        self._write(passphrase)

    def rewrap_key(self, wrapped: bytes, *, context: bytes) -> bytes:
        """A wrapped key, unwrapped with whichever KEK opens it and wrapped under the current."""
        key = self.unwrap_key(wrapped, context=context)
        try:
            return self.wrap_key(key, context=context)
        finally:
            zero(key)

    def rotation_under_way(self) -> bool:
        return SecretName.KEK_PREVIOUS in self._secrets

    def finish_kek_rotation(self, *, passphrase: str) -> None:
        if SecretName.KEK_PREVIOUS not in self._secrets:
            raise KeyStoreError(f"keystore of {self.owner}: no KEK rotation under way")
        self._check_passphrase(passphrase)
        previous = self._secrets.pop(SecretName.KEK_PREVIOUS)
        zero(previous)
        self._write(passphrase)

    def signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(bytes(self._secret(SecretName.SIGNING)))

    def recipient_key(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(bytes(self._secret(SecretName.RECIPIENT)))

    def recipient_hybrid_key(self) -> hpke.MLKEM768X25519PrivateKey:
        """The ML-KEM-768 + X25519 hybrid key for results sealed post-quantum."""
        seed = bytes(self._secret(SecretName.RECIPIENT_PQ))
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(seed), self.recipient_key()
        )

    def witness_key(self) -> Ed25519PrivateKey:
        """The owner's witness key, used only for checkpoint cosignatures."""
        return Ed25519PrivateKey.from_private_bytes(bytes(self._secret(SecretName.WITNESS)))

    def oprf_share(self) -> bytes:
        """This evaluator's Shamir share of the OPRF key."""
        return bytes(self._secret(SecretName.OPRF_SHARE))

    def close(self) -> None:
        """Zero every secret held in memory."""
        for value in self._secrets.values():
            zero(value)
        self._secrets.clear()
