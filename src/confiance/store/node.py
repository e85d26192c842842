"""Storage nodes: one per independent datacenter. Backends implement :class:`Node`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from confiance.errors import StoreError


class NodeUnavailable(StoreError):
    """The node cannot be reached (directory gone, server down)."""


class Node(Protocol):
    """A place that durably stores opaque blobs under string keys."""

    name: str

    def put(self, key: str, data: bytes) -> None:
        """Store durably (fsync'd) or raise."""
        ...

    def get(self, key: str) -> bytes | None:
        """The blob, ``None`` if this node does not hold it; raises if unreachable."""
        ...

    def usage(self) -> tuple[int, int]:
        """(number of blobs, bytes held); raises if unreachable."""
        ...


@dataclass
class LocalDirectoryNode:
    """A node backed by a local directory (the embedded default).

    The directory must exist: a missing directory is an unreachable node, and
    is never silently recreated.
    """

    name: str
    root: Path

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"node {self.name}: invalid key")
        return self.root / key

    def _check(self) -> None:
        if not self.root.is_dir():
            raise NodeUnavailable(f"node {self.name}: unreachable ({self.root} missing)")

    def put(self, key: str, data: bytes) -> None:
        self._check()
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        except OSError as exc:
            raise StoreError(f"node {self.name}: write of {key} failed") from exc

    def get(self, key: str) -> bytes | None:
        self._check()
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise NodeUnavailable(f"node {self.name}: read of {key} failed") from exc

    def usage(self) -> tuple[int, int]:
        self._check()
        count = size = 0
        for path in self.root.rglob("*"):
            if path.is_file():
                count += 1
                size += path.stat().st_size
        return count, size
