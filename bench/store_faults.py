"""Fault injection: many objects, a random schedule of faults, every byte back.

1. Objects of random sizes (0 B to 8 MiB) are written RS 4+2 over seven
   local directory nodes (one spare).
2. Faults, at most m = 2 per object: one node is lost for good, then random
   fragment deletions, bit flips and truncations.
3. Every object reads back byte-identical (SHA-256 and length compared).
4. A sample of objects gets one fault more (m + 1): each read must fail with
   an error naming the object, never return bytes. Their fragments are then
   put back.
5. ``repair`` (the lost node's fragments rebuilt onto the spare) brings every
   object back to full health, checked by a scrub, and every object reads
   back identical again.

    python bench/store_faults.py [--quick] [--objects N] [--seed S]

The slow test ``tests/store/test_faults.py`` runs it in full.
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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from confiance.errors import StoreError
from confiance.store import LocalDirectoryNode, Manifest, ObjectStore
from machine import describe
from store import BenchKeys

K, M = 4, 2
MAX_SIZE = 8 * 2**20


def _fragment(root: Path, manifest: Manifest, index: int) -> Path:
    node = manifest.nodes()[index]
    return root / node / "objects" / manifest.object_id[:2] / f"{manifest.object_id}.{index}"


def _damage(path: Path, kind: str, rng: random.Random) -> None:
    if kind == "delete":
        path.unlink()
        return
    blob = bytearray(path.read_bytes())
    if kind == "flip":
        if blob:
            blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
        else:
            blob = bytearray(b"\x01")
    else:  # truncate
        del blob[rng.randrange(len(blob)) if blob else 0 :]
        if not blob:
            path.write_bytes(b"")
            return
    path.write_bytes(bytes(blob))


def run(root: Path, *, objects: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    names = [f"dc{i}" for i in range(7)]
    for name in names:
        (root / name).mkdir(parents=True)
    store = ObjectStore(
        [LocalDirectoryNode(n, root / n) for n in names], k=K, m=M, manifest_keys=BenchKeys()
    )
    pool = os.urandom(MAX_SIZE)
    expected: dict[str, tuple[int, str]] = {}
    manifests: dict[str, Manifest] = {}
    start = time.perf_counter()
    written = 0
    for number in range(objects):
        length = rng.choice([0, 1, rng.randint(0, 4096), rng.randint(0, MAX_SIZE)])
        offset = rng.randint(0, MAX_SIZE - length)
        data = pool[offset : offset + length]
        object_id = hashlib.sha256(f"{seed}/{number}".encode()).hexdigest()[:32]
        manifests[object_id] = store.put(object_id, data)
        expected[object_id] = (length, hashlib.sha256(data).hexdigest())
        written += length
    write_seconds = time.perf_counter() - start

    # faults: one node lost for good, then random fragment faults, <= m per object
    lost = rng.choice(names[:6])
    shutil.rmtree(root / lost)
    kinds: Counter[str] = Counter({"node lost": 1})
    faulted: dict[str, set[int]] = {}
    for object_id, manifest in manifests.items():
        hit = {i for i, node in enumerate(manifest.nodes()) if node == lost}
        budget = M - len(hit)
        for index in rng.sample([i for i in range(K + M) if i not in hit], rng.randint(0, budget)):
            kind = rng.choice(["delete", "flip", "truncate"])
            _damage(_fragment(root, manifest, index), kind, rng)
            kinds[kind] += 1
            hit.add(index)
        faulted[object_id] = hit

    def read_all() -> int:
        identical = 0
        for object_id, manifest in manifests.items():
            data = store.read(manifest)
            if (len(data), hashlib.sha256(data).hexdigest()) != expected[object_id]:
                raise AssertionError(f"object {object_id}: WRONG BYTES")
            identical += 1
        return identical

    start = time.perf_counter()
    identical_with_faults = read_all()
    read_seconds = time.perf_counter() - start

    # m + 1 faults: an error naming the object, never bytes
    sample = rng.sample(
        [o for o, m in manifests.items() if m.fragment_sizes], min(20, len(manifests))
    )
    named = 0
    for object_id in sample:
        manifest = manifests[object_id]
        extra = [i for i in range(K + M) if i not in faulted[object_id]][
            : M + 1 - len(faulted[object_id])
        ]
        saved = {i: _fragment(root, manifest, i).read_bytes() for i in extra}
        for index in extra:
            _damage(_fragment(root, manifest, index), "delete", rng)
        try:
            store.read(manifest)
        except StoreError as exc:
            named += object_id in str(exc)
        else:
            raise AssertionError(f"object {object_id}: read with {M + 1} faults returned bytes")
        for index, blob in saved.items():
            _fragment(root, manifest, index).write_bytes(blob)

    # repair: everything back to full health, the lost node's share on the spare
    start = time.perf_counter()
    reachable = store.reachable()
    moved = rebuilt = 0
    for object_id, manifest in list(manifests.items()):
        result = store.repair(manifest, reachable=reachable)
        moved += len(result.moved)
        rebuilt += result.rebuilt_segments
        manifests[object_id] = result.manifest
        store.collect(result.manifest)
    repair_seconds = time.perf_counter() - start
    healthy = sum(1 for m in manifests.values() if store.scrub(m).healthy)
    identical_after_repair = read_all()
    return {
        "objects": objects,
        "bytes": written,
        "faults": dict(kinds),
        "lost_node": lost,
        "identical_with_faults": identical_with_faults,
        "over_m_sampled": len(sample),
        "over_m_errors_naming_object": named,
        "fragments_moved": moved,
        "segments_rebuilt": rebuilt,
        "healthy_after_repair": healthy,
        "identical_after_repair": identical_after_repair,
        "write_seconds": round(write_seconds, 2),
        "read_seconds": round(read_seconds, 2),
        "repair_seconds": round(repair_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="150 objects")
    parser.add_argument("--objects", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    objects = args.objects or (150 if args.quick else 1000)
    machine = describe()
    print(f"machine: {machine}")
    with tempfile.TemporaryDirectory(prefix="confiance-faults-") as tmp:
        report = run(Path(tmp), objects=objects, seed=args.seed)
    print(
        f"{report['objects']} objects, {report['bytes']:,} bytes; faults {report['faults']} "
        f"(node {report['lost_node']} lost)"
    )
    print(
        f"with <= m faults: {report['identical_with_faults']}/{objects} identical; "
        f"with m+1: {report['over_m_errors_naming_object']}/{report['over_m_sampled']} "
        "refused naming the object"
    )
    print(
        f"repair: {report['fragments_moved']} fragments moved, {report['segments_rebuilt']} "
        f"segments rebuilt in {report['repair_seconds']} s; "
        f"{report['healthy_after_repair']}/{objects} healthy, "
        f"{report['identical_after_repair']}/{objects} identical"
    )
    print(json.dumps(report | {"machine": machine["cpu"]}))


if __name__ == "__main__":
    main()
