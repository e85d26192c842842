"""Time each stage of the protected data path against the unprotected baseline.

Baseline: the same files parsed and written as Parquet in clear, which is what
pooling would cost with no pseudonyms, no encryption, no erasure coding, no
contract and no ledger. Prints the machine, a table, and a JSON line last.

    python bench/pipeline.py [--events N] [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow.parquet as pq

from confiance.consortium import operations
from confiance.consortium.home import SOC, TENANTS
from confiance.detect import generate
from confiance.detect.synthetic import SOURCES
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext
from machine import describe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="50,000 events (under a minute)")
    args = parser.parse_args()
    events = 50_000 if args.quick else args.events
    machine = describe()
    print(f"machine: {machine}")
    figures: dict[str, float] = {"events": events}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "home"
        t = time.perf_counter()
        home = operations.init_consortium(root)
        figures["init_s"] = time.perf_counter() - t

        t = time.perf_counter()
        generate(home.inputs_dir(), events=events, seed=1)
        figures["generate_s"] = time.perf_counter() - t

        t = time.perf_counter()
        for tenant, name, fmt, _share in SOURCES.values():
            context = ParseContext(tenant=tenant, service=tenant, geo=DEMO_GEO)
            table = parse_file(home.inputs_dir() / tenant / name, format=fmt, context=context).table
            pq.write_table(table, io.BytesIO(), compression="zstd")
        figures["baseline_parse_write_s"] = time.perf_counter() - t

        t = time.perf_counter()
        for tenant in TENANTS:
            operations.ingest_tenant(home, tenant)
        figures["ingest_s"] = time.perf_counter() - t

        t = time.perf_counter()
        operations.new_contract(home, "soc-commun")
        for tenant in TENANTS:
            operations.sign_contract(home, "soc-commun", tenant)
        figures["contract_s"] = time.perf_counter() - t

        t = time.perf_counter()
        operations.run_contract(home, "soc-commun")
        figures["run_s"] = time.perf_counter() - t

        t = time.perf_counter()
        operations.list_alerts(home, SOC)
        operations.verify_ledger(home)
        figures["alerts_and_verify_s"] = time.perf_counter() - t
        home.close()
    figures["total_s"] = sum(
        v for k, v in figures.items() if k.endswith("_s") and not k.startswith("baseline")
    )
    figures["ingest_events_per_s"] = events / figures["ingest_s"]
    figures["baseline_events_per_s"] = events / figures["baseline_parse_write_s"]
    figures["protection_cost_ratio"] = figures["ingest_s"] / figures["baseline_parse_write_s"]
    print(f"{'stage':<28}{'seconds':>10}")
    for key, value in figures.items():
        if key.endswith("_s") and not key.endswith("_per_s"):
            print(f"{key[:-2]:<28}{value:>10.2f}")
    print(
        f"ingest: {figures['ingest_events_per_s']:,.0f} events/s protected vs "
        f"{figures['baseline_events_per_s']:,.0f} events/s parse+Parquet in clear "
        f"(x{figures['protection_cost_ratio']:.2f})"
    )
    print(json.dumps({k: round(v, 3) for k, v in figures.items()} | {"machine": machine["cpu"]}))


if __name__ == "__main__":
    main()
