"""Ingestion speed and memory, side by side in one run, on one core.

* ours: `confiance.ingest.reader.iter_parse`, raw file to normalised Arrow
  batches (framing, UTF-8 check, parse, times to UTC, address checks, geo
  columns, quarantine), per format;
* naive: a plain Python loop, one regular expression (or ``json.loads``) per
  line into a dict, then one Arrow table (what a script would do; it converts
  nothing and checks no address, so it does less than ours);
* pandas: ``pandas.read_csv`` of the same nfdump CSV and Zeek TSV files, the
  columns we read, as strings (the raw CSV reader, no normalisation);
  ours and pandas are the best of two runs, the naive loop one run;
* memory: a file of Apache combined lines (5 GB; 256 MB with --quick) parsed
  in a child process; its peak resident memory;
* the syslog receiver over loopback (see bench/syslog_receiver.py): TCP
  messages/s into events without loss, against a naive line-at-a-time
  server, and UDP datagrams lost when offered at twice that rate.

Inputs are the synthetic generator's logs and the real Zeek samples of
tests/data, repeated to the wanted number of lines. Pyarrow runs on one
thread (``pa.set_cpu_count(1)``).

    python bench/ingest.py [--quick]

Last line: JSON with ``<format>_lines_per_s``, ``naive_<format>_lines_per_s``,
``pandas_<format>_lines_per_s``, ``peak_rss_mb``, ``syslog_tcp_msgs_per_s``,
``syslog_tcp_lost``, ``syslog_udp_lost`` and the others of bench/syslog_receiver.py.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow as pa

from confiance.detect.synthetic import SOURCES, generate
from confiance.ingest import DEMO_GEO
from confiance.ingest.parsers import PARSERS, ParseContext
from confiance.ingest.reader import iter_parse
from machine import describe
from syslog_receiver import figures as syslog_figures

DATA = Path(__file__).parents[1] / "tests" / "data"
CONTEXT = ParseContext(tenant="bench", service="bench", geo=DEMO_GEO)
#: format key in the JSON → (format name, how its file is laid out)
FORMATS = {
    "nfdump_csv": "nfdump-csv",
    "zeek_tsv": "zeek-conn",
    "zeek_json": "zeek-conn",
    "apache_combined": "apache-combined",
    "squid": "squid",
    "keycloak_json": "keycloak-json",
    "bind_querylog": "bind-querylog",
    "postfix": "postfix",
}


def _repeat(header: list[str], body: list[str], lines: int, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(header)
        written = 0
        while written < lines:
            chunk = body[: lines - written]
            out.writelines(chunk)
            written += len(chunk)
    return path


def inputs(folder: Path, lines: int) -> dict[str, Path]:
    generate(folder / "week", events=200_000, seed=1)
    made: dict[str, Path] = {}
    for tenant, name, fmt, _share in SOURCES.values():
        key = next((k for k, v in FORMATS.items() if v == fmt and "zeek" not in k), None)
        if key is None:
            continue
        text = (folder / "week" / tenant / name).read_text(encoding="utf-8")
        rows = text.splitlines(keepends=True)
        header = rows[:1] if fmt == "nfdump-csv" else []
        body = [r for r in rows[len(header) :] if not r.startswith(("Summary", "flows,"))]
        made[key] = _repeat(header, body, lines, folder / f"{key}.log")
    tsv = (DATA / "001-zeek-scenario-malicious_labeled-conn.log").read_text().splitlines(True)
    made["zeek_tsv"] = _repeat(
        [r for r in tsv if r.startswith("#")],
        [r for r in tsv if not r.startswith("#")],
        lines,
        folder / "conn.log",
    )
    jsonl = (DATA / "002-zeek-scenario-port-scanning_conn.log").read_text().splitlines(True)
    made["zeek_json"] = _repeat([], jsonl, lines, folder / "conn.json")
    return made


def ours(fmt: str, path: Path, rounds: int = 2) -> tuple[int, float]:
    """Best of ``rounds``: the first pays one-time costs (the geo table's
    intervals, regular expressions) that a long ingest pays once."""
    best = float("inf")
    lines = 0
    for _ in range(rounds):
        start = time.perf_counter()
        for batch in iter_parse(path, format=fmt, context=CONTEXT):
            lines = batch.lines
        best = min(best, time.perf_counter() - start)
    return lines, best


def _naive_regex(pattern: str) -> Callable[[str], dict[str, str] | None]:
    compiled = re.compile(pattern)

    def parse(line: str) -> dict[str, str] | None:
        match = compiled.match(line)
        return match.groupdict() if match else None

    return parse


def _naive_json(line: str) -> dict[str, str] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def naive(key: str, fmt: str, path: Path) -> tuple[int, float]:
    """One regex (or json.loads) per line into dicts, then one Arrow table."""
    start = time.perf_counter()
    parser = PARSERS[fmt]
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
        if key == "nfdump_csv":
            names = first.strip().split(",")
            parse = _naive_regex("^" + ",".join(f"(?P<{n}>[^,]*)" for n in names) + "$")
        elif key == "zeek_tsv":
            parse = _naive_regex(
                r"^(?P<ts>[^\t]*)\t(?P<uid>[^\t]*)\t(?P<src>[^\t]*)\t(?P<sp>[^\t]*)\t(?P<dst>[^\t]*)\t(?P<dp>[^\t]*)\t(?P<rest>.*)$"
            )
        elif key in ("zeek_json", "keycloak_json"):
            parse = _naive_json
        elif key == "postfix":
            parse = _naive_regex(
                r"^(?P<time>\d{4}-\S+|\w{3} +\d+ [\d:]+) (?P<host>\S+) (?P<program>[^\[:]+)"
                r"(?:\[(?P<pid>\d+)\])?: (?P<queue>[0-9A-F]+): (?P<message>.*)$"
            )
        else:
            parse = _naive_regex(parser._pattern)  # type: ignore[attr-defined]
        rows = []
        lines = 1
        if not (key == "nfdump_csv" or first.startswith("#")):
            record = parse(first.rstrip("\n"))
            if record is not None:
                rows.append(record)
        for line in handle:
            lines += 1
            if line.startswith("#"):
                continue
            record = parse(line.rstrip("\n"))
            if record is not None:
                rows.append(record)
    pa.Table.from_pylist(rows)
    return lines, time.perf_counter() - start


#: the formats pandas.read_csv reads
PANDAS = ("nfdump_csv", "zeek_tsv")


def pandas_csv(key: str, path: Path) -> tuple[int, float] | None:
    import pandas as pd

    start = time.perf_counter()
    if key == "nfdump_csv":
        frame = pd.read_csv(
            path,
            usecols=["ts", "td", "sa", "da", "sp", "dp", "pr", "flg", "ipkt", "ibyt"],
            dtype=str,
            on_bad_lines="skip",
        )
    elif key == "zeek_tsv":
        with path.open(encoding="utf-8") as handle:
            names = next(r for r in handle if r.startswith("#fields")).rstrip("\n").split("\t")[1:]
        frame = pd.read_csv(
            path,
            sep="\t",
            comment="#",
            names=names,
            usecols=["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"],
            dtype=str,
            on_bad_lines="skip",
        )
    else:
        return None
    return len(frame), time.perf_counter() - start


def memory(folder: Path, size: int) -> dict[str, float]:
    """Parse a file of ``size`` bytes of Apache lines in a child; its peak RSS."""
    line = PARSERS["apache-combined"].sample + "\n"
    block = (line * ((1 << 20) // len(line) + 1)).encode()
    path = folder / "big-access.log"
    with path.open("wb") as out:
        written = 0
        while written < size:
            out.write(block)
            written += len(block)
    script = (
        "import sys, time, pyarrow as pa; pa.set_cpu_count(1); pa.set_io_thread_count(1)\n"
        "from pathlib import Path\n"
        "from confiance.ingest import DEMO_GEO\n"
        "from confiance.ingest.parsers import ParseContext\n"
        "from confiance.ingest.reader import iter_parse\n"
        "c = ParseContext(tenant='b', service='b', geo=DEMO_GEO)\n"
        "t = time.perf_counter(); n = e = 0\n"
        "for b in iter_parse(Path(sys.argv[1]), format='apache-combined', context=c):\n"
        "    n = b.lines; e += b.table.num_rows\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the
        # forking parent, which holds the other benchmarks' data
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "peak = int(status.split()[0])\n"
        "print(n, e, time.perf_counter() - t, peak)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    lines, events, seconds, peak_kib = done.stdout.split()
    path.unlink()
    return {
        "file_mb": round(written / 1e6),
        "lines": int(lines),
        "events": int(events),
        "seconds": round(float(seconds), 1),
        "peak_rss_mb": round(int(peak_kib) / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200k lines, 256 MB file (< 60 s)")
    args = parser.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    lines = 200_000 if args.quick else 1_000_000
    big = 256 * 2**20 if args.quick else 5 * 10**9
    print("machine:", json.dumps(describe()))
    print(f"{lines:,} lines per format, one core\n")
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = inputs(folder, lines)
        print(
            f"{'format':16s} {'ours lines/s':>14s} {'naive lines/s':>14s} {'pandas lines/s':>15s}"
        )
        for key, fmt in FORMATS.items():
            n, seconds = ours(fmt, files[key])
            m, naive_seconds = naive(key, fmt, files[key])
            tries = [pandas_csv(key, files[key]) for _ in range(2 if key in PANDAS else 0)]
            pandas = min((t for t in tries if t is not None), key=lambda t: t[1], default=None)
            figures[f"{key}_lines_per_s"] = round(n / seconds)
            figures[f"naive_{key}_lines_per_s"] = round(m / naive_seconds)
            shown = "-"
            if pandas is not None:
                figures[f"pandas_{key}_lines_per_s"] = round(pandas[0] / pandas[1])
                shown = f"{pandas[0] / pandas[1]:,.0f}"
            print(f"{key:16s} {n / seconds:14,.0f} {m / naive_seconds:14,.0f} {shown:>15s}")
        mem = memory(folder, big)
    print(
        f"\nbounded memory: {mem['file_mb']:,} MB of Apache lines ({mem['lines']:,} lines) in "
        f"{mem['seconds']} s, peak RSS {mem['peak_rss_mb']} MB"
    )
    figures |= {"peak_rss_mb": mem["peak_rss_mb"], "big_file_mb": mem["file_mb"]}
    print()
    figures |= syslog_figures(args.quick)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
