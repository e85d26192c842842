"""Ledger throughput and proof cost, side by side with a plain SQLite insert.

* appends: entries pre-signed by their actor (signing is the actor's cost),
  appended in batches of 1,000 (one transaction and one signed checkpoint per
  batch) and one at a time; the ledger verifies every actor signature. Two
  batched figures: the actor signed the batch once (one Ed25519 signature over
  its Merkle root, each entry carrying its path: the headline figure), and
  the actor signed every entry on its own (one Ed25519 verification per
  entry caps it). The reference is a plain SQLite insert of the same rows
  (the price of the tree, the signatures and the checkpoints).
* proofs: inclusion and consistency proofs generated from the stored tree
  levels and verified, at 1M entries (and 10M without --quick).

    python bench/ledger.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confiance.ledger import Checkpoint, Entry, Ledger, NoteSigner
from confiance.ledger.checkpoint import sign_note
from confiance.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from confiance.ledger.tree import SCHEMA, TreeStore
from machine import describe

ORIGIN = "bench.example/ledger"


def _body(i: int) -> dict[str, object]:
    return {
        "dataset": f"{i:032x}",
        "rows": 1000 + i,
        "sha256": f"{i:064x}",
        "tenant": "academie",
        "source": "sso",
        "day": "2026-09-14",
    }


def _entries(n: int, key: Ed25519PrivateKey) -> list[Entry]:
    return [
        Entry.sign(kind="dataset.ingested", actor="academie", key=key, body=_body(i))
        for i in range(n)
    ]


def _batch_signed(n: int, key: Ed25519PrivateKey) -> list[Entry]:
    entries: list[Entry] = []
    for i in range(0, n, 1000):
        statements = [
            ("dataset.ingested", "academie", _body(j)) for j in range(i, min(n, i + 1000))
        ]
        entries += Entry.sign_batch(statements, key=key)
    return entries


def appends(tmp: Path, n: int) -> dict[str, float]:
    key, operator = Ed25519PrivateKey.generate(), NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    keys = {"academie": key.public_key()}
    entries = _entries(n, key)

    def seconds_to_append(directory: Path, signed: list[Entry]) -> float:
        ledger = Ledger(directory, origin=ORIGIN)
        ledger.create()
        start = time.perf_counter()
        for i in range(0, n, 1000):
            ledger.append(signed[i : i + 1000], actor_keys=keys, operator=operator)
        return time.perf_counter() - start

    per_entry_s = seconds_to_append(tmp / "batched", entries)
    batched_s = seconds_to_append(tmp / "signed-once", _batch_signed(n, key))

    single_n = min(n, 2000)
    single = Ledger(tmp / "single", origin=ORIGIN)
    single.create()
    start = time.perf_counter()
    for entry in entries[:single_n]:
        single.append([entry], actor_keys=keys, operator=operator)
    single_s = time.perf_counter() - start

    lines = [e.line() for e in entries]
    con = sqlite3.connect(tmp / "plain.sqlite", isolation_level=None)
    con.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    start = time.perf_counter()
    for i in range(0, n, 1000):
        con.execute("BEGIN")
        con.executemany(
            "INSERT INTO entries VALUES (?, ?)", [(j, lines[j]) for j in range(i, min(n, i + 1000))]
        )
        con.execute("COMMIT")
    plain_s = time.perf_counter() - start
    con.close()

    # The same storage, tree and checkpoint work as Ledger.append, without the
    # per-entry signature check and canonicalisation: the price of the tree alone.
    con = sqlite3.connect(tmp / "tree.sqlite", isolation_level=None)
    con.executescript(SCHEMA)
    con.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    con.execute("CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    tree = TreeStore(con)
    start = time.perf_counter()
    for i in range(0, n, 1000):
        con.execute("BEGIN IMMEDIATE")
        chunk = lines[i : i + 1000]
        con.executemany(
            "INSERT INTO entries VALUES (?, ?)", [(i + j, line) for j, line in enumerate(chunk)]
        )
        tree.append([leaf_hash(line) for line in chunk])
        note = sign_note(Checkpoint(ORIGIN, tree.size, tree.root()).text(), [operator])
        con.execute("INSERT INTO checkpoints VALUES (?, ?)", (tree.size, note))
        con.execute("COMMIT")
    tree_s = time.perf_counter() - start
    con.close()

    start = time.perf_counter()
    for entry in entries:
        keys["academie"].verify(entry.signature, entry.signed_bytes())
    verify_s = time.perf_counter() - start
    return {
        "appends_per_s_batched": n / batched_s,
        "appends_per_s_batched_entry_signatures": n / per_entry_s,
        "appends_per_s_unbatched": single_n / single_s,
        "sqlite_inserts_per_s": n / plain_s,
        "tree_appends_per_s_batched": n / tree_s,
        "signature_checks_per_s": n / verify_s,
    }


def proofs(tmp: Path, size: int, label: str, samples: int = 300) -> dict[str, float]:
    con = sqlite3.connect(tmp / f"tree-{label}.sqlite", isolation_level=None)
    con.executescript(SCHEMA)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    tree = TreeStore(con)
    start = time.perf_counter()
    chunk = 100_000
    for base in range(0, size, chunk):
        con.execute("BEGIN")
        tree.append([leaf_hash(i.to_bytes(8, "big")) for i in range(base, min(size, base + chunk))])
        con.execute("COMMIT")
    build_s = time.perf_counter() - start
    tree = TreeStore(con)  # a fresh reader, as a server process would open it
    root = tree.root()
    rng = random.Random(7)
    gen, ver, cgen, cver = [], [], [], []
    for _ in range(samples):
        index = rng.randrange(size)
        t = time.perf_counter()
        proof = tree.inclusion(index, size)
        gen.append(time.perf_counter() - t)
        t = time.perf_counter()
        verify_inclusion(
            index=index, size=size, leaf=leaf_hash(index.to_bytes(8, "big")), proof=proof, root=root
        )
        ver.append(time.perf_counter() - t)
        old = rng.randrange(1, size)
        t = time.perf_counter()
        cproof = tree.consistency(old, size)
        cgen.append(time.perf_counter() - t)
        old_root = tree.root(old)
        t = time.perf_counter()
        verify_consistency(old=old, new=size, old_root=old_root, new_root=root, proof=cproof)
        cver.append(time.perf_counter() - t)
        tree._cache.clear()  # measure reads from the store, not from the cache
    con.close()

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    return {
        f"tree_build_s_{label}": build_s,
        f"inclusion_proof_ms_{label}": ms(gen),
        f"inclusion_verify_ms_{label}": ms(ver),
        f"consistency_proof_ms_{label}": ms(cgen),
        f"consistency_verify_ms_{label}": ms(cver),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k appends, proofs at 1M only")
    args = parser.parse_args()
    machine = describe()
    print(f"machine: {machine}")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        figures |= appends(tmp, 20_000 if args.quick else 100_000)
        figures |= proofs(tmp, 1_000_000, "1m")
        if not args.quick:
            figures |= proofs(tmp, 10_000_000, "10m", samples=200)
    print(f"{'figure':<34}{'value':>14}")
    for key, value in figures.items():
        print(f"{key:<34}{value:>14,.3f}")
    print(
        f"batched appends: {figures['appends_per_s_batched']:,.0f}/s, batches signed once by "
        f"their actor (entries signed one by one: "
        f"{figures['appends_per_s_batched_entry_signatures']:,.0f}/s, "
        f"Ed25519 verification alone: "
        f"{figures['signature_checks_per_s']:,.0f}/s); storage + tree + checkpoint alone: "
        f"{figures['tree_appends_per_s_batched']:,.0f}/s; plain SQLite insert: "
        f"{figures['sqlite_inserts_per_s']:,.0f}/s"
    )
    print(json.dumps({k: round(v, 4) for k, v in figures.items()} | {"machine": machine["cpu"]}))


if __name__ == "__main__":
    main()
