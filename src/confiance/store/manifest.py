"""Manifest of a stored object: codec, segments, and the hash of every fragment segment.

The manifest is the format; the codec library is only arithmetic. Every
segment's fragment is hashed (SHA-256) and checked before it reaches the
decoder, because liberasurecode's own checksums do not catch a corrupted
payload and a fragment of another backend would decode to wrong bytes. The
decoded object is not hashed again: its inputs are exactly the fragments
written, the codec is pinned by golden vectors, and every object the
platform stores is an AEAD ciphertext whose tag is checked when it is opened.

On the nodes a manifest is sealed (AES-256-GCM under a fresh key wrapped by
the platform operator's KEK): node names and sizes are not secret, the
object's attributes (tenant, source, day) and hashes stay with the platform.
See docs/formats.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import rfc8785

from confiance.errors import KeyStoreError, StoreError
from confiance.keys.envelope import decrypt_blob, encrypt_blob, new_dek, zero

FORMAT = "confiance-manifest/2"
SEALED_FORMAT = "confiance-sealed-manifest/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ManifestKeys(Protocol):
    """What sealing needs from a keystore (any :class:`confiance.keys.KeyStore` fits)."""

    def wrap_key(self, key: bytes | bytearray, *, context: bytes) -> bytes: ...

    def unwrap_key(self, wrapped: bytes, *, context: bytes) -> bytearray: ...


@dataclass(frozen=True)
class FragmentRecord:
    """Fragment ``index`` of every segment, stored as one blob on ``node``."""

    index: int
    node: str
    hashes: tuple[str, ...]  # SHA-256 of this fragment of each segment


@dataclass(frozen=True)
class Manifest:
    """Everything a reader needs to check and decode an object's fragments."""

    object_id: str
    backend: str
    k: int
    m: int
    segment_size: int
    length: int
    fragment_sizes: tuple[int, ...]  # per segment: the size of each of its k+m fragments
    fragments: tuple[FragmentRecord, ...]
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"manifest of {self.object_id}"
        if self.k < 1 or self.m < 1 or self.segment_size < 1 or self.length < 0:
            raise StoreError(f"{where}: k, m, segment size and length out of range")
        if len(self.fragment_sizes) != math.ceil(self.length / self.segment_size):
            raise StoreError(f"{where}: {len(self.fragment_sizes)} segments for its length")
        if sorted(f.index for f in self.fragments) != list(range(self.k + self.m)):
            raise StoreError(f"{where}: fragments are not indexes 0..{self.k + self.m - 1}")
        for record in self.fragments:
            if len(record.hashes) != len(self.fragment_sizes) or not all(
                _HEX64.fullmatch(h) for h in record.hashes
            ):
                raise StoreError(f"{where}: fragment {record.index} hashes malformed")

    @property
    def fragment_size(self) -> int:
        """Bytes of each fragment blob (all k+m have the same size)."""
        return sum(self.fragment_sizes)

    def offsets(self) -> list[tuple[int, int]]:
        """(offset, size) of each segment inside a fragment blob."""
        spans, offset = [], 0
        for size in self.fragment_sizes:
            spans.append((offset, size))
            offset += size
        return spans

    def record(self, index: int) -> FragmentRecord:
        return next(f for f in self.fragments if f.index == index)

    def nodes(self) -> tuple[str, ...]:
        """Node of each fragment, by index."""
        return tuple(f.node for f in sorted(self.fragments, key=lambda f: f.index))

    def moved(self, targets: Mapping[int, str]) -> Manifest:
        """The same object with the fragments of ``targets`` on their new nodes."""
        return replace(
            self,
            fragments=tuple(
                replace(f, node=targets[f.index]) if f.index in targets else f
                for f in self.fragments
            ),
        )

    def to_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785), so the digest is stable."""
        document: dict[str, Any] = {
            "format": FORMAT,
            "object": self.object_id,
            "codec": {
                "library": "liberasurecode",
                "backend": self.backend,
                "k": self.k,
                "m": self.m,
                "segment_size": self.segment_size,
            },
            "length": self.length,
            "hash": "sha256",
            "segments": list(self.fragment_sizes),
            "fragments": [
                {"index": f.index, "node": f.node, "sha256": list(f.hashes)}
                for f in sorted(self.fragments, key=lambda f: f.index)
            ],
            "attributes": dict(self.attributes),
        }
        encoded: bytes = rfc8785.dumps(document)
        return encoded

    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, raw: bytes, *, where: str) -> Manifest:
        try:
            document = json.loads(raw)
            if document["format"] != FORMAT:
                raise StoreError(f"manifest {where}: unsupported format {document['format']!r}")
            codec = document["codec"]
            if codec["library"] != "liberasurecode" or document["hash"] != "sha256":
                raise StoreError(f"manifest {where}: unsupported codec or hash")
            return cls(
                object_id=str(document["object"]),
                backend=str(codec["backend"]),
                k=int(codec["k"]),
                m=int(codec["m"]),
                segment_size=int(codec["segment_size"]),
                length=int(document["length"]),
                fragment_sizes=tuple(int(s) for s in document["segments"]),
                fragments=tuple(
                    FragmentRecord(
                        index=int(f["index"]),
                        node=str(f["node"]),
                        hashes=tuple(str(h) for h in f["sha256"]),
                    )
                    for f in document["fragments"]
                ),
                attributes={str(k): str(v) for k, v in document["attributes"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"manifest {where}: malformed") from exc


def _aad(object_id: str) -> bytes:
    return f"{SEALED_FORMAT}|{object_id}".encode()


def _context(object_id: str) -> bytes:
    return f"confiance-manifest|{object_id}".encode()


def seal_manifest(manifest: Manifest, keys: ManifestKeys) -> bytes:
    """The manifest as stored on nodes: encrypted under a fresh key wrapped by ``keys``."""
    key = new_dek()
    try:
        ciphertext = encrypt_blob(manifest.to_bytes(), key, aad=_aad(manifest.object_id))
        wrapped = keys.wrap_key(key, context=_context(manifest.object_id))
    finally:
        zero(key)
    sealed: bytes = rfc8785.dumps(
        {
            "format": SEALED_FORMAT,
            "object": manifest.object_id,
            "key": base64.b64encode(wrapped).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }
    )
    return sealed


def open_manifest(sealed: bytes, keys: ManifestKeys, *, object_id: str, where: str) -> Manifest:
    """Open a sealed manifest of ``object_id``; a copy of another object is refused."""
    try:
        document = json.loads(sealed)
        if document["format"] != SEALED_FORMAT or document["object"] != object_id:
            raise StoreError(f"manifest {where}: not a sealed manifest of {object_id}")
        wrapped = base64.b64decode(document["key"], validate=True)
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"manifest {where}: malformed") from exc
    try:
        key = keys.unwrap_key(wrapped, context=_context(object_id))
        try:
            raw = decrypt_blob(ciphertext, key, aad=_aad(object_id))
        finally:
            zero(key)
    except KeyStoreError:
        raise StoreError(f"manifest {where}: cannot be opened") from None
    return Manifest.from_bytes(raw, where=where)
