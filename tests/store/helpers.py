"""Stores over temporary directories, with a manifest key that needs no keystore file."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from confiance.store import LocalDirectoryNode, NodeLabels, ObjectStore


class FixedKeys:
    """AES key wrap (RFC 3394) under one key; the context is ignored (tests only)."""

    def __init__(self) -> None:
        self.kek = os.urandom(32)

    def wrap_key(self, key: bytes | bytearray, *, context: bytes) -> bytes:
        return aes_key_wrap(self.kek, bytes(key))

    def unwrap_key(self, wrapped: bytes, *, context: bytes) -> bytearray:
        from cryptography.hazmat.primitives.keywrap import InvalidUnwrap

        from confiance.errors import KeyStoreError

        try:
            return bytearray(aes_key_unwrap(self.kek, wrapped))
        except InvalidUnwrap:
            raise KeyStoreError("cannot unwrap") from None


def local_store(
    root: Path,
    k: int = 4,
    m: int = 2,
    *,
    nodes: int | None = None,
    segment_size: int = 4096,
    keys: FixedKeys | None = None,
    labels: dict[str, NodeLabels] | None = None,
    **options: object,
) -> ObjectStore:
    made = []
    for i in range(nodes or k + m):
        (root / f"n{i}").mkdir(parents=True, exist_ok=True)
        made.append(LocalDirectoryNode(f"n{i}", root / f"n{i}"))
    return ObjectStore(
        made,
        k=k,
        m=m,
        segment_size=segment_size,
        manifest_keys=keys or FixedKeys(),
        labels=labels,
        **options,  # type: ignore[arg-type]
    )


def fragment_path(store: ObjectStore, object_id: str, index: int, node: str | None = None) -> Path:
    """Where fragment ``index`` of an object lies (on ``node``, or where placement put it)."""
    from confiance.store import place

    name = node or place(object_id, store.labels, store.k + store.m)[index]
    found = next(n for n in store.nodes if n.name == name)
    assert isinstance(found, LocalDirectoryNode)
    return found.root / "objects" / object_id[:2] / f"{object_id}.{index}"
