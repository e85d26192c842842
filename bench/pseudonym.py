"""Pseudonym costs, side by side in one run, one core.

* the bound: raw ristretto255 scalar multiplications per second (libsodium);
* the full 2-of-3 threshold round per identifier (blind, two evaluations,
  combine with the unblinding folded in, finalise), batches of 10,000, and how
  many scalar multiplications it makes (counted, not assumed);
* a plain HMAC-SHA256 pseudonym of the same identifiers (the price of trusting
  no one);
* 1,000,000 events with 50,000 accounts and 20,000 addresses, cold (nothing
  cached) and warm (the owner's encrypted table loaded as the cache);
* Crypto-PAn over IPv4 addresses, vectorised.

    python bench/pseudonym.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import pyarrow as pa
import pysodium

from confiance.events import conform
from confiance.keys import SoftwareKeyStore
from confiance.pseudonym import (
    Evaluator,
    Pseudonymiser,
    ReidentificationTable,
    ThresholdPseudonymService,
    apply_policy,
    oprf,
    split_key,
    threshold_prf,
)
from confiance.pseudonym.cryptopan import CryptoPan
from machine import describe


def _evaluators() -> list[Evaluator]:
    shares = split_key(oprf.random_scalar(), threshold=2, indices=[1, 2, 3])
    return [Evaluator(f"e{i}", i, shares[i], {"bench": 10**9}) for i in (1, 2, 3)]


def scalarmult_rate(n: int) -> float:
    scalar, point = oprf.random_scalar(), oprf.hash_to_group(b"x")
    start = time.perf_counter()
    for _ in range(n):
        pysodium.crypto_scalarmult_ristretto255(scalar, point)
    return n / (time.perf_counter() - start)


def scalarmults_per_round(evaluators: list[Evaluator]) -> int:
    counted = 0
    original = oprf.scalarmult

    def counting(scalar: bytes, element: bytes) -> bytes:
        nonlocal counted
        counted += 1
        return original(scalar, element)

    oprf.scalarmult = counting  # type: ignore[assignment]
    try:
        threshold_prf("bench", [b"one identifier"], evaluators, threshold=2)
    finally:
        oprf.scalarmult = original  # type: ignore[assignment]
    return counted


def events_table(n: int, accounts: int, addresses: int) -> pa.Table:
    rng = np.random.default_rng(1)
    names = np.array([f"eleve.{i:05d}" for i in range(accounts)], dtype=object)
    ips = np.array(
        [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(addresses)], dtype=object
    )
    return conform(
        pa.table(
            {
                "@timestamp": pa.array(
                    np.full(n, 1_789_000_000_000_000, dtype="int64"), pa.timestamp("us", tz="UTC")
                ),
                "tenant": pa.array(["bench"] * n),
                "event.dataset": pa.array(["bench"] * n),
                "ocsf.class_uid": pa.array(np.full(n, 3002, dtype="int32")),
                "user.name": pa.array(names[rng.integers(0, accounts, n)].tolist(), pa.string()),
                "source.ip": pa.array(ips[rng.integers(0, addresses, n)].tolist(), pa.string()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="under a minute")
    args = parser.parse_args()
    machine = describe()
    print(f"machine: {machine}")
    figures: dict[str, float] = {}
    evaluators = _evaluators()
    figures["scalarmult_per_s"] = scalarmult_rate(5_000 if args.quick else 20_000)
    figures["scalarmults_per_round"] = scalarmults_per_round(evaluators)

    identifiers = [f"eleve.{i:05d}".encode() for i in range(10_000)]
    start = time.perf_counter()
    threshold_prf("bench", identifiers, evaluators, threshold=2)
    figures["oprf_evals_per_s"] = len(identifiers) / (time.perf_counter() - start)
    key = os.urandom(32)
    start = time.perf_counter()
    for identifier in identifiers * 10:
        hmac.new(key, b"account\x00" + identifier, hashlib.sha256).digest()
    figures["hmac_evals_per_s"] = 10 * len(identifiers) / (time.perf_counter() - start)
    bound = figures["scalarmult_per_s"] / figures["scalarmults_per_round"]
    figures["oprf_share_of_bound"] = figures["oprf_evals_per_s"] / bound

    table = events_table(1_000_000, 50_000, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        keystore = SoftwareKeyStore.create(Path(tmp) / "ks.json", owner="bench", passphrase="p")
        service = ThresholdPseudonymService(tenant="bench", evaluators=evaluators, threshold=2)
        start = time.perf_counter()
        cold = Pseudonymiser(service)
        apply_policy(table, cold)
        ReidentificationTable(Path(tmp) / "reid.json", keystore).update(cold.mapping)
        figures["events_1m_seconds_cold"] = time.perf_counter() - start
        start = time.perf_counter()
        cached = ReidentificationTable(Path(tmp) / "reid.json", keystore).entries()
        warm = Pseudonymiser(
            ThresholdPseudonymService(tenant="bench", evaluators=evaluators, threshold=2),
            known=cached,
        )
        apply_policy(table, warm)
        figures["events_1m_seconds_warm"] = time.perf_counter() - start
        figures["warm_new_identifiers"] = warm.evaluated

    pan = CryptoPan(os.urandom(32))
    addresses = (
        np.random.default_rng(2)
        .integers(0, 2**32, 200_000 if args.quick else 1_000_000, dtype=np.uint64)
        .astype(np.uint32)
    )
    start = time.perf_counter()
    pan.ipv4(addresses)
    figures["cryptopan_ipv4_per_s"] = len(addresses) / (time.perf_counter() - start)

    print(f"{'figure':<28}{'value':>16}")
    for name, value in figures.items():
        print(f"{name:<28}{value:>16,.2f}")
    print(
        f"threshold round: {figures['oprf_evals_per_s']:,.0f} identifiers/s = "
        f"{figures['oprf_share_of_bound']:.0%} of the bound ({figures['scalarmult_per_s']:,.0f} "
        f"scalar multiplications/s ÷ {figures['scalarmults_per_round']:.0f} per round); "
        f"HMAC-SHA256: {figures['hmac_evals_per_s']:,.0f}/s"
    )
    print(json.dumps({k: round(v, 3) for k, v in figures.items()} | {"machine": machine["cpu"]}))


if __name__ == "__main__":
    main()
