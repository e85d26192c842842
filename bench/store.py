"""Storage throughput, one core, side by side in one run.

* write path: encrypt (AES-256-GCM) + Reed-Solomon encode + SHA-256 of every
  fragment, through confiance (`encrypt_blob`, `Codec`, the manifest hashing);
* degraded read: m data fragments missing, hashes checked, decode, decrypt;
* the same three library calls chained by hand on the same buffers;
* a plain memory copy of the same bytes (the ceiling);
* bytes on disk for RS k+m against 3-way replication.

Objects of 64 MiB (16 MiB with --quick), RS 4+2 and 10+4.

    python bench/store.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyeclib.ec_iface import ECDriver

from confiance.keys import decrypt_blob, encrypt_blob
from confiance.store import Codec
from machine import describe


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
    codec = Codec(k=k, m=m)
    mb = size / 2**20

    def ours_write() -> list[bytes]:
        fragments = codec.encode(encrypt_blob(data, key, aad=aad))
        for fragment in fragments:
            hashlib.sha256(fragment).hexdigest()
        return fragments

    fragments = ours_write()
    hashes = [hashlib.sha256(f).hexdigest() for f in fragments]

    def ours_read() -> bytes:
        survivors = fragments[m:]  # the first m (data) fragments are missing
        for index, fragment in enumerate(survivors, start=m):
            assert hashlib.sha256(fragment).hexdigest() == hashes[index]
        return decrypt_blob(codec.decode(survivors[:k]), key, aad=aad)

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
        f"write_mb_s_{k}_{m}": mb / _best(ours_write),
        f"read_degraded_mb_s_{k}_{m}": mb / _best(ours_read),
        f"raw_pipeline_write_mb_s_{k}_{m}": mb / _best(raw_write),
        f"raw_pipeline_read_mb_s_{k}_{m}": mb / _best(raw_read),
        f"disk_bytes_vs_replication_{k}_{m}": sum(len(f) for f in fragments) / (3 * size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    machine = describe()
    print(f"machine: {machine}")
    size = (16 if args.quick else 64) * 2**20
    figures: dict[str, float | None] = {}
    for k, m in ((4, 2), (10, 4)):
        figures |= measure(size, k, m)
    data = os.urandom(size)
    figures["memcpy_mb_s"] = (size / 2**20) / _best(lambda: bytearray(data))
    figures["write_mb_s"] = figures["write_mb_s_4_2"]
    figures["read_degraded_mb_s"] = figures["read_degraded_mb_s_4_2"]
    figures["raw_pipeline_write_mb_s"] = figures["raw_pipeline_write_mb_s_4_2"]
    figures["raw_pipeline_read_mb_s"] = figures["raw_pipeline_read_mb_s_4_2"]
    figures["disk_bytes_vs_replication"] = figures["disk_bytes_vs_replication_4_2"]
    figures["repair_seconds_per_gib"] = None  # needs repair onto another node (issue 4)
    for name, value in figures.items():
        print(f"{name:<36}" + ("not measured yet" if value is None else f"{value:>12,.2f}"))
    print(
        f"our write path at {figures['write_mb_s'] / figures['raw_pipeline_write_mb_s']:.0%} "  # type: ignore[operator]
        "of the hand-chained library calls (RS 4+2)"
    )
    print(
        json.dumps(
            {k: (None if v is None else round(v, 3)) for k, v in figures.items()}
            | {"object_mib": size // 2**20, "machine": machine["cpu"]}
        )
    )


if __name__ == "__main__":
    main()
