"""Firewall packet logs: iptables ``LOG`` and nftables ``log`` lines as the
kernel's nf_log writes them (``IN= OUT= MAC= SRC= DST= LEN= … PROTO= SPT= DPT=``,
TCP flags as bare words), in BSD and RFC 3339 syslog envelopes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext
from confiance.ingest.recognition import recognise

CONTEXT = ParseContext(
    tenant="t", service="fw", geo=DEMO_GEO, now=datetime(2026, 11, 23, tzinfo=UTC)
)
MAC = "MAC=00:16:3e:5a:01:02:00:16:3e:5a:01:03:08:00"
LOG = f"""\
Nov 22 10:15:32 fw1 kernel: [ 8123.456789] FW-DROP: IN=eth0 OUT= {MAC} SRC=95.165.3.4 \
DST=10.3.0.1 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51514 DPT=22 \
WINDOW=29200 RES=0x00 SYN URGP=0
Nov 22 10:15:33 fw1 kernel: nft accept IN=eth1 OUT=eth0 SRC=10.3.14.22 DST=172.16.0.10 LEN=52 \
TOS=0x00 PREC=0x00 TTL=63 ID=1 DF PROTO=TCP SPT=40000 DPT=443 WINDOW=501 RES=0x00 ACK PSH URGP=0
2026-11-22T10:15:34.120+01:00 fw1 kernel: [ 8125.0] REJECT-dns IN=eth0 OUT= SRC=2001:db8::7 \
DST=2001:db8::53 LEN=72 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=UDP SPT=5353 DPT=53 LEN=32
Nov 22 10:15:35 fw1 kernel: [ 8126.0] IN=eth0 OUT= SRC=10.3.14.22 DST=10.3.0.1 LEN=84 \
TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1
Nov 22 10:15:36 fw1 kernel: [ 8127.0] e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex
Nov 22 10:15:37 fw1 sshd[99]: Accepted publickey for admin from 10.3.0.9 port 5022 ssh2
Nov 22 10:15:38 fw1 kernel: [ 8128.0] FW-DROP: IN=eth0 OUT= SRC=10.3.300.1 DST=10.3.0.1 LEN=60 \
PROTO=TCP SPT=1 DPT=2 SYN URGP=0
garbage
"""


def test_iptables_and_nftables_packets(tmp_path: Path) -> None:
    path = tmp_path / "kern.log"
    path.write_text(LOG)
    parsed = parse_file(path, format="netfilter", context=CONTEXT)
    rows = parsed.table.to_pylist()
    assert [r["rule.name"] for r in rows] == ["FW-DROP", "nft accept", "REJECT-dns", None]
    assert [r["event.outcome"] for r in rows] == ["failure", "success", "failure", "unknown"]
    assert [r["event.action"] for r in rows] == ["....S.", ".AP...", "......", "......"]
    assert [r["network.transport"] for r in rows] == ["tcp", "tcp", "udp", "icmp"]
    assert [(r["source.port"], r["destination.port"]) for r in rows] == [
        (51514, 22),
        (40000, 443),
        (5353, 53),
        (None, None),
    ]
    # LEN= is the packet's length (the first one, not UDP's own LEN=)
    assert [r["source.bytes"] for r in rows] == [60, 52, 72, 84]
    assert rows[0]["source.geo.country_iso_code"] == "RU"
    assert rows[0]["@timestamp"] == datetime(2026, 11, 22, 9, 15, 32, tzinfo=UTC)
    assert rows[2]["@timestamp"] == datetime(2026, 11, 22, 9, 15, 34, 120000, tzinfo=UTC)
    assert all("00:16:3e" not in str(value) for r in rows for value in r.values())
    assert parsed.ignored == {"line that logs no packet": 2}
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (7, "field source.ip (SRC): not an IP address"),
        (8, "not a syslog line"),
    ]


def test_a_firewall_log_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "kern.log"
    path.write_text("".join(line for line in LOG.splitlines(True) if " sshd[" not in line))
    assert recognise(path) == "netfilter"
    # with another program's events in it, the syslog reader reads them all
    path.write_text(LOG)
    assert recognise(path) == "syslog"
