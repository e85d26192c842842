"""nfdump CSV from real tools: a packet capture replayed by Debian's softflowd
as NetFlow v9 to Debian's nfcapd, read back with nfdump 1.7.1's ``-o csv``;
and the header nfdump 1.7.5 and later write (names from nfdump's
``src/output/output_csv.c`` format table, values as its ``String_*``
functions print them: protocol numbers, millisecond times, ICMP type.code in
the port column)."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.ingest.netflow import capture, free_udp_port

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

CONTEXT = ParseContext(tenant="reseau", service="flows", geo=DEMO_GEO, timezone="UTC")


@pytest.mark.slow
def test_real_nfdump_output_of_a_softflowd_export(tmp_path: Path) -> None:
    for tool in ("nfcapd", "nfdump", "softflowd"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is missing: run scripts/system-deps.sh (make test does)")
    capture(tmp_path / "scan.pcap")
    flows = tmp_path / "flows"
    flows.mkdir()
    port = free_udp_port()
    collector = subprocess.Popen(
        ["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(flows), "-t", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        softflowd = shutil.which("softflowd") or "/usr/sbin/softflowd"
        subprocess.run(
            [softflowd, "-r", str(tmp_path / "scan.pcap"), "-n", f"127.0.0.1:{port}", "-v", "9"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        time.sleep(0.5)
    finally:
        collector.terminate()
        collector.wait(timeout=10)
    (captured,) = sorted(flows.glob("nfcapd.2*"))
    csv = subprocess.run(
        ["nfdump", "-r", str(captured), "-o", "csv"], check=True, capture_output=True, timeout=30
    ).stdout
    path = tmp_path / "flows.csv"
    path.write_bytes(csv)
    parsed = parse_file(path, format="nfdump-csv", context=CONTEXT)
    rows = parsed.table.to_pylist()
    assert parsed.quarantined == [] and len(rows) == 41
    scan = [r for r in rows if r["source.ip"] == "203.0.113.5"]
    assert sorted(r["destination.port"] for r in scan) == list(range(20, 60))
    assert {r["event.action"] for r in scan} == {"......S."}  # nfdump's SYN-only flags
    assert {r["network.transport"] for r in rows} == {"tcp", "udp"}


NFDUMP_175 = """\
firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows
2026-11-22 10:15:32.123,0.412,6,10.3.14.22,51514,172.16.0.10,443,12,4512,1
2026-11-22 10:15:33.000,0.000,1,10.3.14.22,0,10.3.0.1,8.0,1,84,1
2026-11-22 10:15:34.500,1.250,17,2001:db8::7,5353,2001:db8::53,53,2,180,1
0000-00-00 00:00:00.000,0.000,6,10.3.14.22,1,10.3.0.1,2,1,40,1
2026-11-22 10:15:35.000,0.000,6,10.3.14.22,1,10.3.0.1,8.0,1,40,1
"""


def test_the_nfdump_1_7_5_header(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(NFDUMP_175)
    parsed = parse_file(path, format="nfdump-csv", context=CONTEXT)
    rows = parsed.table.to_pylist()
    assert [
        (r["network.transport"], r["destination.port"], r["source.bytes"], r["event.action"])
        for r in rows
    ] == [("tcp", 443, 4512, None), ("icmp", None, 84, None), ("udp", 53, 180, None)]
    assert rows[0]["@timestamp"] == datetime(2026, 11, 22, 10, 15, 32, 123000, tzinfo=UTC)
    assert rows[2]["event.duration"] == 1_250_000_000
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (5, "field @timestamp: unparseable time"),  # nfdump's "no time"
        (6, "field destination.port: not a port"),  # type.code is for ICMP only
    ]


def test_a_custom_nfdump_csv_with_flags(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(
        "firstSeen,lastSeen,proto,srcAddr,srcPort,dstAddr,dstPort,flags,inPackets,inBytes\n"
        "2026-11-22 10:15:32.123,2026-11-22 10:15:32.200,6,10.3.14.22,51514,10.3.0.1,22,"
        "......S.,1,40\n"
    )
    (row,) = parse_file(path, format="nfdump-csv", context=CONTEXT).table.to_pylist()
    assert (row["event.action"], row["event.duration"]) == ("......S.", None)
