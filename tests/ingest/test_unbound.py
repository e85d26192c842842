"""Unbound query and reply logs in the three envelopes Unbound writes them.

The messages follow Unbound's own format strings: ``log_query_in`` prints
``CLIENT NAME TYPE CLASS`` (daemon/worker.c, log-queries) and
``log_reply_info`` prints ``CLIENT NAME TYPE CLASS RCODE SEC.USEC CACHED SIZE``
(util/data/msgreply.c, log-replies), with ``- - -`` for a FORMERR reply.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext
from confiance.ingest.recognition import recognise

CONTEXT = ParseContext(
    tenant="t", service="dns", geo=DEMO_GEO, now=datetime(2026, 11, 23, tzinfo=UTC)
)
LOG = """\
[1790064932] unbound[812:0] info: 10.3.14.22 www.Example.org. A IN
[1790064932] unbound[812:0] info: 10.3.14.22 www.Example.org. A IN NOERROR 0.012503 0 49
[1790064933] unbound[812:1] info: 10.3.14.22 zzqx7h.example.net. TXT IN NXDOMAIN 0.000000 1 103
[1790064934] unbound[812:0] info: 10.3.14.23 - - - FORMERR - - -
[1790064935] unbound[812:0] notice: init module 0: validator
[1790064935] unbound[812:0] info: start of service (unbound 1.17.1).
Nov 22 10:15:32 unbound[812:0] info: 10.3.14.22 4.3.2.1.in-addr.arpa. PTR IN NOERROR 0.001 1 90
Oct 25 02:30:00 resolver unbound: [812:0] info: 10.3.14.22 moodle.ac-normandie.fr. AAAA IN
2026-11-22T10:15:33.250+01:00 resolver unbound[812]: [812:0] info: 2001:db8::7 example.org. A IN
[1790064936] unbound[812:0] info: 999.1.1.1 example.org. A IN
this is not unbound at all
"""


def test_three_envelopes_queries_and_replies(tmp_path: Path) -> None:
    path = tmp_path / "unbound.log"
    path.write_text(LOG)
    parsed = parse_file(path, format="unbound", context=CONTEXT)
    rows = parsed.table.to_pylist()
    assert [r["event.action"] for r in rows] == [
        "dns-query",
        "dns-reply",
        "dns-reply",
        "dns-reply",
        "dns-reply",
        "dns-query",
        "dns-query",
    ]
    assert [r["dns.question.name"] for r in rows] == [
        "www.example.org",
        "www.example.org",
        "zzqx7h.example.net",
        None,
        "in-addr.arpa",
        "moodle.ac-normandie.fr",
        "example.org",
    ]
    assert [r["dns.response_code"] for r in rows] == [
        None,
        "NOERROR",
        "NXDOMAIN",
        "FORMERR",
        "NOERROR",
        None,
        None,
    ]
    assert [r["event.outcome"] for r in rows] == [
        "unknown",
        "success",
        "failure",
        "failure",
        "success",
        "unknown",
        "unknown",
    ]
    assert rows[1]["destination.bytes"] == 49 and rows[3]["destination.bytes"] is None
    assert rows[0]["@timestamp"] == datetime.fromtimestamp(1790064932, UTC)
    # BSD time, Paris: 22 Nov is UTC+1; 25 Oct 02:30 is the repeated hour (first = CEST)
    assert rows[4]["@timestamp"] == datetime(2026, 11, 22, 9, 15, 32, tzinfo=UTC)
    assert rows[5]["@timestamp"] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert rows[6]["@timestamp"] == datetime(2026, 11, 22, 9, 15, 33, 250000, tzinfo=UTC)
    assert rows[6]["source.ip"] == "2001:db8::7"
    assert parsed.ignored == {"Unbound line that records no query": 2}
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (10, "field source.ip: not an IP address"),
        (11, "not an Unbound log line"),
    ]


def test_an_unbound_log_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "resolver.log"
    path.write_text(LOG)
    assert recognise(path) == "unbound"
