"""Storage throughput, one core, side by side in one run.

* write path: AES-256-GCM encryption, then confiance's ``ObjectStore.put``
  (4 MiB segments, Reed-Solomon encode, SHA-256 of every segment fragment,
  manifest sealed) onto in-memory nodes, so the figure is the CPU path;
* degraded read: ``ObjectStore.read`` with the m first data fragments missing
  (parity decode, every segment hash checked), then decryption;
* the same three library calls chained by hand on the whole buffer
  (``AESGCM.encrypt`` → ``ECDriver.encode`` → ``sha256`` of each fragment, and
  back), and a plain memory copy of the same bytes (the ceiling);
* bytes on disk for objects of random sizes (0 B to 8 MiB) written to local
  directory nodes, against 3-way replication;
* repair of a lost node: the time to rebuild its fragments onto a spare node,
  per GiB of fragments it held.

Objects of 64 MiB (16 MiB with --quick), RS 4+2 and 10+4.

    python bench/store.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyeclib.ec_iface import ECDriver

from confiance.keys import decrypt_blob, encrypt_blob
from confiance.store import BlobInfo, LocalDirectoryNode, Manifest, ObjectStore
from confiance.store.node import Blob
from machine import describe


class MemoryNode:
    """A node in a dict: the bench measures the CPU path, not a disk."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.blobs: dict[str, bytes | Sequence[bytes]] = {}

    def put(self, key: str, data: Blob) -> None:
        # kept as given, like a disk keeps what was written; a spooled file is read
        self.blobs[key] = data if isinstance(data, bytes | list) else data.read()

    def get(self, key: str) -> bytes | None:
        blob = self.blobs.get(key)
        return blob if blob is None or isinstance(blob, bytes) else b"".join(blob)

    def get_range(self, key: str, start: int, length: int) -> bytes | None:
        blob = self.get(key)
        return None if blob is None else blob[start : start + length]

    def delete(self, key: str) -> None:
        self.blobs.pop(key, None)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        for key, blob in list(self.blobs.items()):
            if key.startswith(prefix):
                size = len(blob) if isinstance(blob, bytes) else sum(map(len, blob))
                yield BlobInfo(key, size, 0.0)

    def check(self) -> None:
        return None

    def config(self) -> dict[str, str]:
        return {"name": self.name, "kind": "memory"}


class BenchKeys:
    """Manifest sealing under one in-memory key (the platform uses its keystore)."""

    def __init__(self) -> None:
        self.kek = AESGCM.generate_key(bit_length=256)

    def wrap_key(self, key: bytes | bytearray, *, context: bytes) -> bytes:
        return encrypt_blob(bytes(key), self.kek, aad=context)

    def unwrap_key(self, wrapped: bytes, *, context: bytes) -> bytearray:
        return bytearray(decrypt_blob(wrapped, self.kek, aad=context))


def _best(fn, rounds: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(size: int, k: int, m: int) -> dict[str, float]:
    data = os.urandom(size)
    key, aad = os.urandom(32), b"bench"
    nodes = [MemoryNode(f"n{i}") for i in range(k + m)]
    store = ObjectStore(nodes, k=k, m=m, manifest_keys=BenchKeys())
    mb = size / 2**20
    written: list[Manifest] = []

    def ours_write() -> None:
        written[:] = [store.put("bench", encrypt_blob(data, key, aad=aad))]

    write_seconds = _best(ours_write)
    manifest = written[0]  # the last write's
    for node in nodes:  # the first m data fragments are lost
        if node.name in manifest.nodes()[:m]:
            node.blobs.clear()

    def ours_read() -> bytes:
        return decrypt_blob(store.read(manifest), key, aad=aad)

    driver, gcm, nonce = ECDriver(k=k, m=m, ec_type="isa_l_rs_cauchy"), AESGCM(key), os.urandom(12)

    def raw_write() -> list[bytes]:
        raw = driver.encode(gcm.encrypt(nonce, data, aad))
        for fragment in raw:
            hashlib.sha256(fragment).digest()
        return raw

    raw_fragments = raw_write()

    def raw_read() -> bytes:
        survivors = raw_fragments[m:]
        for fragment in survivors:
            hashlib.sha256(fragment).digest()
        return gcm.decrypt(nonce, driver.decode(survivors[:k]), aad)

    assert ours_read() == data and raw_read() == data
    return {
        f"write_mb_s_{k}_{m}": mb / write_seconds,
        f"read_degraded_mb_s_{k}_{m}": mb / _best(ours_read),
        f"raw_pipeline_write_mb_s_{k}_{m}": mb / _best(raw_write),
        f"raw_pipeline_read_mb_s_{k}_{m}": mb / _best(raw_read),
    }


def _local(root: Path, names: list[str]) -> list[LocalDirectoryNode]:
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    return [LocalDirectoryNode(name, root / name) for name in names]


def _disk(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def disk_usage(root: Path, objects: int) -> tuple[float, int, int]:
    """Bytes on disk (fragments and sealed manifests) for objects of 0 B to 8 MiB."""
    rng = random.Random(4)
    store = ObjectStore(
        _local(root, [f"n{i}" for i in range(6)]), k=4, m=2, manifest_keys=BenchKeys()
    )
    total = 0
    pool = os.urandom(8 * 2**20)
    for number in range(objects):
        length = rng.randint(0, 8 * 2**20)
        store.put(f"{number:032x}", pool[:length])
        total += length
    on_disk = _disk(root)
    return on_disk / (3 * total), on_disk, total


def repair_time(root: Path, target_bytes: int) -> tuple[float, int]:
    """Seconds to rebuild a lost node's fragments onto a spare, and the bytes it held."""
    names = [f"dc{i}" for i in range(7)]
    store = ObjectStore(_local(root, names), k=4, m=2, manifest_keys=BenchKeys())
    object_size = 16 * 2**20
    blob = os.urandom(object_size)
    manifests = []
    held = 0
    while held < target_bytes:  # fill until dc0 holds target_bytes of fragments
        manifest = store.put(f"{len(manifests):032x}", blob)
        manifests.append(manifest)
        if "dc0" in manifest.nodes():
            held += manifest.fragment_size
    shutil.rmtree(root / "dc0")
    reachable = store.reachable()
    start = time.perf_counter()
    for manifest in manifests:
        if "dc0" in manifest.nodes():
            result = store.repair(manifest, reachable=reachable)
            assert result.after.healthy and result.moved, result
    return time.perf_counter() - start, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    machine = describe()
    print(f"machine: {machine}")
    size = (16 if args.quick else 64) * 2**20
    figures: dict[str, float] = {}
    for k, m in ((4, 2), (10, 4)):
        figures |= measure(size, k, m)
    data = os.urandom(size)
    figures["memcpy_mb_s"] = (size / 2**20) / _best(lambda: bytearray(data))
    figures["write_mb_s"] = figures["write_mb_s_4_2"]
    figures["read_degraded_mb_s"] = figures["read_degraded_mb_s_4_2"]
    figures["raw_pipeline_write_mb_s"] = figures["raw_pipeline_write_mb_s_4_2"]
    figures["raw_pipeline_read_mb_s"] = figures["raw_pipeline_read_mb_s_4_2"]
    objects = 100 if args.quick else 1000
    held_target = (128 if args.quick else 1024) * 2**20
    with tempfile.TemporaryDirectory(prefix="confiance-bench-store-") as tmp:
        ratio, on_disk, total = disk_usage(Path(tmp) / "disk", objects)
        seconds, held = repair_time(Path(tmp) / "repair", held_target)
    figures["disk_bytes_vs_replication"] = ratio
    figures["repair_seconds_per_gib"] = seconds / (held / 2**30)
    for name, value in figures.items():
        print(f"{name:<36}{value:>12,.3f}")
    print(
        f"{objects} objects of 0 B to 8 MiB: {total:,} bytes, {on_disk:,} on disk with RS 4+2 "
        f"(fragments and sealed manifests) = {ratio:.1%} of 3-way replication"
    )
    print(f"lost node holding {held / 2**20:,.0f} MiB of fragments rebuilt in {seconds:.1f} s")
    print(
        f"our write path at {figures['write_mb_s'] / figures['raw_pipeline_write_mb_s']:.0%}, "
        f"degraded read at {figures['read_degraded_mb_s'] / figures['raw_pipeline_read_mb_s']:.0%} "
        "of the hand-chained library calls (RS 4+2)"
    )
    print(
        json.dumps(
            {k: round(v, 3) for k, v in figures.items()}
            | {
                "objects": objects,
                "object_mib": size // 2**20,
                "repair_mib": round(held / 2**20),
                "machine": machine["cpu"],
            }
        )
    )


if __name__ == "__main__":
    main()
