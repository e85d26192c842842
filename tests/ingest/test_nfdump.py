"""nfdump CSV from real tools: a packet capture replayed by Debian's softflowd
as NetFlow v9 to Debian's nfcapd, read back with nfdump 1.7.1's ``-o csv``;
and the header nfdump 1.7.5 and later write (names from nfdump's
``src/output/output_csv.c`` format table, values as its ``String_*``
functions print them: protocol numbers, millisecond times, ICMP type.code in
the port column)."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

CONTEXT = ParseContext(tenant="reseau", service="flows", geo=DEMO_GEO, timezone="UTC")


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    return header[:10] + struct.pack("!H", _checksum(header)) + header[12:] + payload


def _capture(path: Path) -> None:
    """A pcap: one source sends a SYN to 40 ports of one host, and one DNS query."""
    ethernet = bytes.fromhex("00163e00000100163e0000020800")
    packets = [
        _ipv4("203.0.113.5", "10.3.0.1", 6, struct.pack("!HHIIBBHHH", 40000 + i, port, 1, 0,
                                                         0x50, 0x02, 8192, 0, 0))
        for i, port in enumerate(range(20, 60))
    ]  # fmt: skip
    packets.append(_ipv4("10.3.14.22", "10.3.0.53", 17, struct.pack("!HHHH", 5353, 53, 28, 0)))
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, packet in enumerate(packets):
            frame = ethernet + packet
            out.write(struct.pack("<IIII", 1795420800, i * 10_000, len(frame), len(frame)))
            out.write(frame)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_real_nfdump_output_of_a_softflowd_export(tmp_path: Path) -> None:
    for tool in ("nfcapd", "nfdump", "softflowd"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.fail(f"{tool} is missing: run scripts/system-deps.sh (make test does)")
    _capture(tmp_path / "scan.pcap")
    flows = tmp_path / "flows"
    flows.mkdir()
    port = _free_udp_port()
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
    (capture,) = sorted(flows.glob("nfcapd.2*"))
    csv = subprocess.run(
        ["nfdump", "-r", str(capture), "-o", "csv"], check=True, capture_output=True, timeout=30
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
