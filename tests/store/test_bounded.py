"""Scrub, repair and move read fragments by ranges of segments: memory stays bounded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.store.helpers import FixedKeys

from confiance.store import LocalDirectoryNode, ObjectStore
from confiance.store.node import Blob, BlobInfo

ID = "cd" * 16
SEGMENT = 4096
WINDOW = 6 * 1024 * 4  # four segments of every fragment (1 KiB each at 4+2)


class Counting:
    """A local node that records the largest read and whether a whole blob was read."""

    def __init__(self, node: LocalDirectoryNode) -> None:
        self.inner = node
        self.name = node.name
        self.largest = 0
        self.whole: list[str] = []

    def put(self, key: str, data: Blob) -> None:
        self.inner.put(key, data)

    def get(self, key: str) -> bytes | None:
        blob = self.inner.get(key)
        if key.startswith("objects/"):
            self.whole.append(key)
        return blob

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        part = self.inner.get_range(key, start, length)
        self.largest = max(self.largest, len(part or b""))
        return part

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        return self.inner.list(prefix)

    def check(self) -> None:
        self.inner.check()

    def config(self) -> dict[str, Any]:
        return self.inner.config()


def _path(root: Path, node: str, index: int) -> Path:
    return root / node / "objects" / ID[:2] / f"{ID}.{index}"


def _store(root: Path) -> tuple[ObjectStore, list[Counting]]:
    nodes = []
    for i in range(6):
        (root / f"n{i}").mkdir(parents=True)
        nodes.append(Counting(LocalDirectoryNode(f"n{i}", root / f"n{i}")))
    store = ObjectStore(
        nodes,  # type: ignore[arg-type]
        k=4,
        m=2,
        segment_size=SEGMENT,
        manifest_keys=FixedKeys(),
        window_bytes=WINDOW,
    )
    return store, nodes


def test_repair_of_a_lost_node_reads_by_windows_never_whole_fragments(tmp_path: Path) -> None:
    store, nodes = _store(tmp_path)
    data = os.urandom(SEGMENT * 50 + 123)  # 51 segments: 13 windows
    manifest = store.put(ID, data)
    lost = manifest.record(2).node
    shutil.rmtree(tmp_path / lost)
    (tmp_path / lost).mkdir()  # the node came back empty (a disk replaced)
    result = store.repair(manifest)
    assert result.before.missing == (2,) and result.after.healthy
    assert result.rebuilt_segments == 51
    assert _path(tmp_path, lost, 2).stat().st_size == manifest.fragment_size
    assert store.get(ID, manifest_digest=manifest.digest()) == data
    reads = [n for n in nodes if n.largest]
    assert reads and all(n.largest <= WINDOW // 6 + 1 for n in nodes)
    whole = [key for n in nodes for key in n.whole]
    assert sorted(whole) == [f"objects/{ID[:2]}/{ID}.{i}" for i in range(4)]  # the read


def test_a_fragment_longer_or_shorter_than_its_manifest_is_corrupt(tmp_path: Path) -> None:
    store, _ = _store(tmp_path)
    data = os.urandom(SEGMENT * 20)
    manifest = store.put(ID, data)
    longer = _path(tmp_path, manifest.record(0).node, 0)
    shorter = _path(tmp_path, manifest.record(5).node, 5)
    originals = {0: longer.read_bytes(), 5: shorter.read_bytes()}
    longer.write_bytes(originals[0] + b"appended")
    cut = manifest.offsets()[-4][0] + 10
    shorter.write_bytes(originals[5][:cut])  # the last 4 segments cut
    report = store.scrub(manifest)
    assert report.corrupt == (0, 5) and report.bad_segments == 4
    assert store.get(ID, manifest_digest=manifest.digest()) == data
    result = store.repair(manifest)
    assert result.after.healthy and result.rebuilt_segments == 4
    assert longer.read_bytes() == originals[0] and shorter.read_bytes() == originals[5]


def test_move_streams_a_fragment_to_its_new_node(tmp_path: Path) -> None:
    store, nodes = _store(tmp_path)
    (tmp_path / "n6").mkdir()
    spare = Counting(LocalDirectoryNode("n6", tmp_path / "n6"))
    store = ObjectStore(
        [*nodes, spare],  # type: ignore[list-item]
        k=4,
        m=2,
        segment_size=SEGMENT,
        manifest_keys=FixedKeys(),
        window_bytes=WINDOW,
    )
    data = os.urandom(SEGMENT * 30)
    manifest = store.put(ID, data)
    free = next(n.name for n in [*nodes, spare] if n.name not in manifest.nodes())
    moved = store.move(manifest, {1: free})
    assert moved.record(1).node == free
    old = _path(tmp_path, manifest.record(1).node, 1).read_bytes()
    assert _path(tmp_path, free, 1).read_bytes() == old
    assert all(not n.whole for n in [*nodes, spare])
    assert store.scrub(moved).healthy
