"""Storage nodes: one per independent datacenter. Backends implement :class:`Node`.

A backend is a class registered under a ``kind`` in :data:`NODE_KINDS`; the
configuration of a node (``{"name", "kind", ...}``) is enough to rebuild it,
in the platform as in the runtime, so a new backend is a new module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from confiance.errors import StoreError


class NodeUnavailable(StoreError):
    """The node cannot be reached (directory gone, server down)."""


#: what a node stores: bytes, bytes in chunks (a fragment's segments), or an open
#: file read to its end (a repaired fragment spooled to disk)
Blob = bytes | list[bytes] | BinaryIO


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: float  # POSIX seconds


class Node(Protocol):
    """A place that durably stores opaque blobs under string keys."""

    name: str

    def put(self, key: str, data: Blob) -> None:
        """Store durably (fsync'd, or acknowledged by the server) or raise.

        ``data`` may come in chunks (a fragment's segments) or as a file: they
        are written one after the other, never joined in memory first.
        """
        ...

    def get(self, key: str) -> bytes | None:
        """The blob, ``None`` if this node does not hold it; raises if unreachable."""
        ...

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        """Up to ``length`` bytes of the blob from ``start`` (fewer where it ends),
        ``None`` if this node does not hold it; raises if unreachable."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a blob already gone is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix``; raises if unreachable."""
        ...

    def check(self) -> None:
        """Return if the node answers, raise :class:`NodeUnavailable` otherwise."""
        ...

    def config(self) -> dict[str, Any]:
        """What :func:`node_from_config` needs to rebuild this node elsewhere."""
        ...


def check_key(node: str, key: str) -> str:
    """Keys are relative paths of plain segments (no ``..``, no absolute path)."""
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise StoreError(f"node {node}: invalid key")
    return key


@dataclass
class LocalDirectoryNode:
    """A node backed by a local directory (the embedded default).

    The directory must exist: a missing directory is an unreachable node, and
    is never silently recreated.
    """

    name: str
    root: Path

    def _path(self, key: str) -> Path:
        return self.root / check_key(self.name, key)

    def check(self) -> None:
        if not self.root.is_dir():
            raise NodeUnavailable(f"node {self.name}: unreachable ({self.root} missing)")

    def put(self, key: str, data: Blob) -> None:
        self.check()
        path = self._path(key)
        tmp = path.with_name(path.name + ".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                if isinstance(data, bytes):
                    handle.write(data)
                elif isinstance(data, list):
                    handle.writelines(data)
                else:
                    shutil.copyfileobj(data, handle, 2**20)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
            directory = os.open(path.parent, os.O_RDONLY)  # the rename itself is durable
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise NodeUnavailable(f"node {self.name}: write of {key} failed") from exc

    def get(self, key: str) -> bytes | None:
        self.check()
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise NodeUnavailable(f"node {self.name}: read of {key} failed") from exc

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        self.check()
        try:
            with self._path(key).open("rb") as handle:
                handle.seek(start)
                return handle.read(length)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise NodeUnavailable(f"node {self.name}: read of {key} failed") from exc

    def delete(self, key: str) -> None:
        self.check()
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise NodeUnavailable(f"node {self.name}: delete of {key} failed") from exc
        with contextlib.suppress(OSError):  # an emptied directory goes too
            path.parent.rmdir()

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        self.check()
        folder = prefix.rpartition("/")[0]
        base = self.root / folder if folder else self.root
        for directory, _, files in os.walk(base):
            for file in files:
                path = Path(directory) / file
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # removed while listing
                    continue
                yield BlobInfo(key, stat.st_size, stat.st_mtime)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "dir", "path": str(self.root.resolve())}


def _local(config: Mapping[str, Any], base: Path) -> Node:
    path = Path(str(config["path"]))
    return LocalDirectoryNode(str(config["name"]), path if path.is_absolute() else base / path)


def _s3(config: Mapping[str, Any], base: Path) -> Node:
    from confiance.store.s3 import S3Node  # boto3 is imported only when an S3 node exists

    return S3Node.from_config(config)


#: node backends by ``kind``; ``dir`` is the default when a configuration names none
NODE_KINDS: dict[str, Callable[[Mapping[str, Any], Path], Node]] = {"dir": _local, "s3": _s3}


def node_from_config(config: Mapping[str, Any], *, base: Path) -> Node:
    """The node a configuration entry describes; relative paths are under ``base``."""
    kind = str(config.get("kind", "dir"))
    factory = NODE_KINDS.get(kind)
    if factory is None:
        raise StoreError(
            f"node {config.get('name')!r}: unknown kind {kind!r} (known: {', '.join(NODE_KINDS)})"
        )
    try:
        return factory(config, base)
    except KeyError as exc:
        raise StoreError(f"node {config.get('name')!r}: field {exc.args[0]} missing") from None
