"""Detection speed, side by side in one run: the full suite, the Sigma rules on SQLite
(the Zircolite approach: pySigma's SQLite backend, events copied into SQLite) and a
naive Python loop over dict events.

* events: a synthetic school week (1M events; 200k with --quick), parsed, then
  repeated week after week (times shifted by 7 days) up to 10M (1M with --quick),
  each week written to Parquet and read back as the runtime's worker reads a
  dataset (its own memory, vocabulary columns as dictionaries);
* ours: every analysis of the default joint-SOC contract (behavioural
  detections, the SigmaHQ rules on DuckDB with their correlations on SQLite,
  cross-tenant incidents) over all the events, as the runtime runs them;
* reference 1: the same SigmaHQ rules, every one on SQLite as pySigma's backend
  writes them, over one week (the rate is per event, so a week is enough);
* reference 2: brute force, port scans and web probes in a plain Python loop
  over the same week as dicts (what a script would do), rules alone;
* peak resident memory of ours: the suite runs in a process of its own that
  reads the events and runs every analysis, as the runtime does (the
  generator's and the references' memory are not in it).

    python bench/detect.py [--quick]

Last line: JSON with ``events_per_s``, ``sqlite_sigma_events_per_s``,
``naive_events_per_s``, ``peak_rss_mb``.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from confiance.detect import detectors_of, generate, jobs, sigma
from confiance.detect.labelled import synthetic_references
from confiance.detect.synthetic import SOURCES
from confiance.detect.web import PATH_PATTERNS
from confiance.events import read_events, return_freed_memory
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext
from machine import describe


def _week(inputs: Path, events: int) -> tuple[pa.Table, dict[str, pa.Table]]:
    """A parsed synthetic week, and its threat-intelligence feed as a reference table."""
    generate(inputs, events=events, seed=1)
    tables = []
    for tenant, name, fmt, _share in SOURCES.values():
        context = ParseContext(tenant=tenant, service=tenant, geo=DEMO_GEO)
        tables.append(parse_file(inputs / tenant / name, format=fmt, context=context).table)
    return pa.concat_tables(tables), synthetic_references(inputs)


def _weeks(week: pa.Table, total: int) -> pa.Table:
    """Weeks of events, each shifted by 7 days, held as the runtime holds its datasets:
    written to Parquet and read back by the worker's reader (so each week has its
    own memory, its vocabulary columns as dictionaries)."""
    parts, n = [], 0
    while n < total:
        shift = pa.scalar(timedelta(days=7 * len(parts)), pa.duration("us"))
        part = week.slice(0, min(week.num_rows, total - n))
        index = part.column_names.index("@timestamp")
        moved = pc.add(part["@timestamp"], shift)
        buffer = pa.BufferOutputStream()
        pq.write_table(part.set_column(index, part.schema.field(index), moved), buffer)
        parts.append(read_events(buffer.getvalue()))
        n += part.num_rows
    return pa.concat_tables(parts)


def _resident_mb() -> int:
    """The process's resident memory now (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def _ours(inputs: Path, total: int) -> dict[str, float]:
    """The whole suite over ``total`` events, read as the runtime reads its datasets."""
    return_freed_memory()  # as the runtime's worker does
    week = pq.read_table(inputs / "week.parquet")
    events = _weeks(week, total)
    del week
    loaded = _resident_mb()
    references = synthetic_references(inputs)
    t = time.perf_counter()
    findings = jobs.run(events, analyses=detectors_of(), parameters={}, references=references)
    return {
        "events": events.num_rows,
        "seconds": time.perf_counter() - t,
        "findings": len(findings),
        "arrow_mb": round(events.nbytes / 2**20),
        "loaded_mb": loaded,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _naive(rows: list[dict]) -> int:
    """Brute force (20 failures / account / 10 min), port scans (50 ports / source / 5 min)
    and web probes (10 / source / hour) in plain Python over dicts."""
    failures: dict[tuple, int] = defaultdict(int)
    ports: dict[tuple, set] = defaultdict(set)
    probes: dict[tuple, int] = defaultdict(int)
    patterns = [re.compile(rx) for _kind, rx in PATH_PATTERNS]
    alerts = set()
    for event in rows:
        ts = event["@timestamp"]
        if event["event.category"] == "authentication" and event["event.outcome"] == "failure":
            key = (event["user.name"], ts.timestamp() // 600)
            failures[key] += 1
            if failures[key] >= 20:
                alerts.add(("brute_force", key[0]))
        elif event["ocsf.class_uid"] == 4001:
            flags = event["event.action"] or ""
            if (event["network.packets"] or 0) <= 2 and "S" in flags and "A" not in flags:
                key = (event["source.ip"], event["destination.ip"], ts.timestamp() // 300)
                ports[key].add(event["destination.port"])
                if len(ports[key]) >= 50:
                    alerts.add(("port_scan", key[0]))
        elif event["event.dataset"] == "apache-combined":
            path = (event["url.path"] or "").lower()
            if any(p.search(path) for p in patterns):
                key = (event["source.ip"], ts.timestamp() // 3600)
                probes[key] += 1
                if probes[key] >= 10:
                    alerts.add(("web_attack", key[0]))
    return len(alerts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M events instead of 10M")
    args = parser.parse_args()
    week_size, total = (200_000, 1_000_000) if args.quick else (1_000_000, 10_000_000)
    print("machine:", json.dumps(describe()))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        week, references = _week(Path(tmp), week_size)
        pq.write_table(week, Path(tmp) / "week.parquet")
        print(f"a week: {week.num_rows:,} events, generated and parsed "
              f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        # ours runs in a process of its own, as in the runtime: its memory is the
        # events' and the suite's, not the generator's or the references' below
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            ran = pool.submit(_ours, Path(tmp), total).result()
    analyses = detectors_of()
    rate, peak = ran["events"] / ran["seconds"], ran["peak_mb"]
    print(f"events: {ran['events']:,} ({ran['arrow_mb']:,} MiB in Arrow, resident memory "
          f"{ran['loaded_mb']:,} MB once read)")  # fmt: skip
    print(f"ours ({len(analyses)} analyses): {ran['seconds']:.1f} s, {rate:,.0f} events/s, "
          f"{ran['findings']} findings, peak resident memory {peak:,} MB")  # fmt: skip
    per = {}
    for name in analyses:
        t = time.perf_counter()
        jobs.run(week, analyses=[name], parameters={}, references=references)
        per[name] = round(week.num_rows / (time.perf_counter() - t))
    print("  per analysis over one week (events/s):", json.dumps(per))

    t = time.perf_counter()
    fast = sigma.run_rules(sigma.shipped_rules(), week, engine="duckdb")
    duck = time.perf_counter() - t
    t = time.perf_counter()
    slow = sigma.run_rules(sigma.shipped_rules(), week, engine="sqlite")
    lite = time.perf_counter() - t
    assert fast == slow, "the two engines disagree"
    print(f"SigmaHQ rules over one week: DuckDB {week.num_rows / duck:,.0f} events/s, "
          f"SQLite (pySigma backend as written) {week.num_rows / lite:,.0f} events/s, "
          f"same {len(fast)} findings")  # fmt: skip

    rows = week.to_pylist()
    t = time.perf_counter()
    naive_alerts = _naive(rows)
    naive = week.num_rows / (time.perf_counter() - t)
    print(f"naive Python loop over dicts (3 rules only): {naive:,.0f} events/s, "
          f"{naive_alerts} alerts")  # fmt: skip
    print(
        json.dumps(
            {
                "events": ran["events"],
                "events_per_s": round(rate),
                "sqlite_sigma_events_per_s": round(week.num_rows / lite),
                "duckdb_sigma_events_per_s": round(week.num_rows / duck),
                "naive_events_per_s": round(naive),
                "peak_rss_mb": round(peak),
                "events_arrow_mb": ran["arrow_mb"],
                "per_analysis_events_per_s": per,
            }
        )
    )


if __name__ == "__main__":
    main()
