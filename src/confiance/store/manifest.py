"""Manifest of a stored object: codec, length, and the hash of every fragment."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import rfc8785

from confiance.errors import StoreError

FORMAT = "confiance-manifest/1"


@dataclass(frozen=True)
class FragmentRecord:
    index: int
    node: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Everything a reader needs to check and decode an object's fragments."""

    object_id: str
    backend: str
    k: int
    m: int
    length: int
    sha256: str
    fragments: tuple[FragmentRecord, ...]

    def to_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785), so the digest is stable."""
        document: dict[str, Any] = {
            "format": FORMAT,
            "object": self.object_id,
            "codec": {"library": "pyeclib", "backend": self.backend, "k": self.k, "m": self.m},
            "length": self.length,
            "sha256": self.sha256,
            "fragments": [
                {"index": f.index, "node": f.node, "size": f.size, "sha256": f.sha256}
                for f in self.fragments
            ],
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
            return cls(
                object_id=str(document["object"]),
                backend=str(codec["backend"]),
                k=int(codec["k"]),
                m=int(codec["m"]),
                length=int(document["length"]),
                sha256=str(document["sha256"]),
                fragments=tuple(
                    FragmentRecord(
                        index=int(f["index"]),
                        node=str(f["node"]),
                        size=int(f["size"]),
                        sha256=str(f["sha256"]),
                    )
                    for f in document["fragments"]
                ),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"manifest {where}: malformed") from exc
