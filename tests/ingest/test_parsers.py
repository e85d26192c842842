"""Parsers on documented example lines, time zones, and arbitrary bad input."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confiance.errors import IngestError
from confiance.ingest import DEMO_GEO, PARSERS, parse_file
from confiance.ingest.parsers import ParseContext

CONTEXT = ParseContext(tenant="t", service="svc", geo=DEMO_GEO)

# The Apache HTTP Server documentation's own example of the combined format.
APACHE_DOC = (
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 '
    '2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)
# A native access.log line as shown on the Squid wiki (LogFormat page).
SQUID_DOC = (
    "1286536308.779    180 192.168.0.224 TCP_MISS/200 411 GET "
    "http://liveupdate.symantecliveupdate.com/minitri.flg - DIRECT/125.23.216.203 "
    "text/plain"
)
NFDUMP_HEADER = PARSERS["nfdump-csv"].sample.split("\n")[0].replace(",...", "")


def _file(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_apache_documentation_example(tmp_path: Path) -> None:
    parsed = parse_file(
        _file(tmp_path, "a.log", APACHE_DOC + "\n"), format="apache-combined", context=CONTEXT
    )
    row = parsed.table.to_pylist()[0]
    assert row["@timestamp"] == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert (row["user.name"], row["source.ip"], row["url.path"]) == (
        "frank",
        "127.0.0.1",
        "/apache_pb.gif",
    )
    assert (row["http.response.status_code"], row["destination.bytes"]) == (200, 2326)
    assert row["event.outcome"] == "success" and row["ocsf.class_uid"] == 4002


def test_squid_wiki_example(tmp_path: Path) -> None:
    parsed = parse_file(_file(tmp_path, "s.log", SQUID_DOC + "\n"), format="squid", context=CONTEXT)
    row = parsed.table.to_pylist()[0]
    assert row["@timestamp"] == datetime(2010, 10, 8, 11, 11, 48, 779000, tzinfo=UTC)
    assert row["url.domain"] == "liveupdate.symantecliveupdate.com"
    assert (row["source.ip"], row["destination.ip"]) == ("192.168.0.224", "125.23.216.203")


def test_keycloak_both_forms(tmp_path: Path) -> None:
    sample = PARSERS["keycloak-json"].sample
    text = (
        sample
        + "\n"
        + "2026-09-14 08:00:01,000 INFO [org.keycloak.events] JSON_EVENT::"
        + (sample.replace("LOGIN_ERROR", "LOGIN"))
        + "\n"
    )
    parsed = parse_file(_file(tmp_path, "k.log", text), format="keycloak-json", context=CONTEXT)
    rows = parsed.table.to_pylist()
    assert [r["event.outcome"] for r in rows] == ["failure", "success"]
    assert rows[0]["user.name"] == "lea.bernard" and rows[0]["ocsf.class_uid"] == 3002


def test_nfdump_local_time_in_the_repeated_october_hour(tmp_path: Path) -> None:
    row = (
        "2026-10-25 02:30:00,2026-10-25 02:30:01,1.000,10.0.0.1,172.16.0.2,5000,443,TCP,"
        ".AP.SF,0,0,3,120,0,0"
    )
    parsed = parse_file(
        _file(tmp_path, "f.csv", NFDUMP_HEADER + "\n" + row + "\nSummary\n1,2\n"),
        format="nfdump-csv",
        context=CONTEXT,
    )
    got = parsed.table.to_pylist()[0]
    # 02:30 happens twice in Paris that night; the first (CEST, UTC+2) is taken.
    assert got["@timestamp"] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert (got["network.transport"], got["destination.port"], got["event.duration"]) == (
        "tcp",
        443,
        1_000_000_000,
    )


def test_bad_lines_are_quarantined_with_line_and_reason(tmp_path: Path) -> None:
    lines = [
        APACHE_DOC,
        "garbage",
        APACHE_DOC.replace("127.0.0.1", "999.1.1.1"),
        APACHE_DOC.replace("10/Oct/2000", "99/Foo/2000"),
        "",
        APACHE_DOC,
    ]
    parsed = parse_file(
        _file(tmp_path, "a.log", "\n".join(lines) + "\n"), format="apache-combined", context=CONTEXT
    )
    assert parsed.table.num_rows == 2
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (2, "does not match the apache-combined format"),
        (3, "field source.ip: not an IP address"),
        (4, "field @timestamp: unparseable time"),
    ]
    assert parsed.quarantined[0].file.endswith("a.log") and parsed.quarantined[0].raw == "garbage"


def test_long_lines_latin1_and_compression(tmp_path: Path) -> None:
    latin = APACHE_DOC.replace("frank", "fran\xe7ois").encode("latin-1")
    data = latin + b"\n" + b"x" * 100 + b"\n"
    parsed = parse_file(
        _file(tmp_path, "a.log.gz", gzip.compress(data)),
        format="apache-combined",
        context=CONTEXT,
        max_line_bytes=64 * 1024,
    )
    assert parsed.table.column("user.name").to_pylist() == ["fran\xe7ois"]
    long = parse_file(
        _file(tmp_path, "b.log", APACHE_DOC + "\n" + "y" * 200 + "\n"),
        format="apache-combined",
        context=CONTEXT,
        max_line_bytes=190,
    )
    assert [q.reason for q in long.quarantined] == ["line longer than 190 bytes"]


def test_files_that_are_not_logs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="binary content, not a squid log"):
        parse_file(_file(tmp_path, "x.bin", b"\x00\x01\x02" * 100), format="squid", context=CONTEXT)
    with pytest.raises(IngestError, match="no line is in the squid format"):
        parse_file(
            _file(tmp_path, "x.log", "\n".join([APACHE_DOC] * 20)), format="squid", context=CONTEXT
        )
    with pytest.raises(IngestError, match=r"x\.gz: corrupt compressed file"):
        parse_file(_file(tmp_path, "x.gz", b"\x1f\x8b\x08garbage"), format="squid", context=CONTEXT)
    with pytest.raises(IngestError, match="unknown format 'rfc5424'"):
        parse_file(_file(tmp_path, "y.log", "x"), format="rfc5424", context=CONTEXT)
    with pytest.raises(IngestError, match="lacks column"):
        parse_file(_file(tmp_path, "z.csv", "a,b\n1,2\n"), format="nfdump-csv", context=CONTEXT)


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.lists(st.binary(max_size=300).filter(lambda b: b"\x00" not in b), max_size=15))
def test_arbitrary_bytes_never_crash_and_every_line_is_accounted_for(
    tmp_path: Path, fmt: str, data: list[bytes]
) -> None:
    lines = [d.replace(b"\n", b" ").replace(b"\r", b" ") for d in data]
    if fmt == "nfdump-csv":
        lines = [NFDUMP_HEADER.encode(), *lines]
    path = tmp_path / f"{fmt}.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    try:
        parsed = parse_file(path, format=fmt, context=CONTEXT)
    except IngestError as exc:
        assert str(exc).startswith(str(path))  # a refusal names the file
        return
    body = lines[1 if fmt == "nfdump-csv" else 0 :]
    if fmt == "nfdump-csv" and body and body[-1] == b"No matching flows":
        body = body[:-1]  # nfdump's own closing line when nothing matched
    if fmt.startswith("zeek-"):
        body = [line for line in body if not line.startswith(b"#")]  # Zeek's metadata lines
    counted = sum(1 for line in body if line.strip())
    ignored = sum(parsed.ignored.values())
    assert parsed.table.num_rows + len(parsed.quarantined) + ignored == counted
    assert isinstance(parsed.table, pa.Table)


def test_an_nfdump_trailer_lookalike_in_the_middle_is_not_a_trailer(tmp_path: Path) -> None:
    row = (
        "2026-09-14 08:00:00,2026-09-14 08:00:01,1.000,10.0.0.1,172.16.0.2,5000,443,TCP,"
        ".AP.SF,0,0,3,120,0,0"
    )
    text = (
        "\n".join(
            [
                NFDUMP_HEADER,
                row,
                "Summary",
                row,
                row,
                "Summary",
                "flows,bytes,packets,avg_bps,avg_pps,avg_bpp",
                "3,360,9,0,0,0",
            ]
        )
        + "\n"
    )
    parsed = parse_file(_file(tmp_path, "f.csv", text), format="nfdump-csv", context=CONTEXT)
    assert parsed.table.num_rows == 3
    assert [(q.line, q.raw) for q in parsed.quarantined] == [(3, "Summary")]


# The query-log bodies of BIND 9.11+ as documented (ARM "queries" category and
# named's query.c format string), behind the print-time stamp of a file channel.
BIND_DOC = (
    "22-Nov-2026 10:15:32.123 client @0x7fa0d607f200 192.168.1.130#63565 (example.org): "
    "view internal: query: example.org IN NS +E(0)K (192.168.1.130)\n"
    "22-Nov-2026 10:15:33.004 queries: info: client @0x7f1 10.3.14.22#5353 "
    "(WWW.Example.Org.): query: WWW.Example.Org. IN A +E(0)K (10.3.0.53)\n"
    "22-Nov-2026 10:15:34.500 client @0x7f1 10.3.14.22#5353 (22.14.3.10.in-addr.arpa): "
    "query: 22.14.3.10.in-addr.arpa IN PTR + (10.3.0.53)\n"
    "22-Nov-2026 10:15:35.000 client @0x7f1 10.3.14.22#5353: resolver: something else\n"
)


def test_bind_query_log(tmp_path: Path) -> None:
    context = ParseContext(tenant="lycees", service="dns", geo=DEMO_GEO, timezone="Europe/Paris")
    parsed = parse_file(
        _file(tmp_path, "query.log", BIND_DOC), format="bind-querylog", context=context
    )
    rows = parsed.table.to_pylist()
    assert [(r["dns.question.name"], r["dns.question.type"]) for r in rows] == [
        ("example.org", "NS"),
        ("www.example.org", "A"),
        ("in-addr.arpa", "PTR"),  # a reverse lookup names an address: only the zone is kept
    ]
    assert rows[0]["@timestamp"] == datetime(2026, 11, 22, 9, 15, 32, 123000, tzinfo=UTC)
    assert (rows[1]["source.ip"], rows[1]["source.port"], rows[1]["destination.ip"]) == (
        "10.3.14.22",
        5353,
        "10.3.0.53",
    )
    assert rows[1]["ocsf.class_uid"] == 4003
    assert [q.reason for q in parsed.quarantined] == ["does not match the bind-querylog format"]


def test_zeek_json_lines_with_iso_times_and_an_nxdomain(tmp_path: Path) -> None:
    """Zeek's JSON writer, with ``JSON::TS_ISO8601`` times, and a sample of each log."""
    lines = [
        PARSERS["zeek-dns"].sample,
        '{"ts":"2026-11-22T09:15:32.123456Z","id.orig_h":"10.3.14.22","id.orig_p":5353,'
        '"id.resp_h":"10.3.0.53","id.resp_p":53,"proto":"udp",'
        '"query":"Qx7vz0pkd.Example.ORG.","qtype_name":"TXT","rcode_name":"NXDOMAIN"}',
        '{"ts":"2026-11-22T09:15:33Z","id.orig_h":"10.3.14.22","id.orig_p":5354,'
        '"id.resp_h":"10.3.0.53","id.resp_p":53,"proto":"udp",'
        '"query":"4.3.2.10.in-addr.arpa","qtype_name":"PTR"}',
    ]
    parsed = parse_file(
        _file(tmp_path, "dns.log", "\n".join(lines) + "\n"), format="zeek-dns", context=CONTEXT
    )
    rows = parsed.table.to_pylist()
    assert not parsed.quarantined and len(rows) == 3
    assert rows[1]["@timestamp"] == datetime(2026, 11, 22, 9, 15, 32, 123456, tzinfo=UTC)
    assert (rows[1]["dns.question.name"], rows[1]["event.outcome"]) == (
        "qx7vz0pkd.example.org",
        "failure",
    )
    # a reverse lookup keeps only its zone; no answer means no outcome
    assert (rows[2]["dns.question.name"], rows[2]["event.outcome"]) == ("in-addr.arpa", None)
    http = parse_file(
        _file(tmp_path, "http.log", PARSERS["zeek-http"].sample + "\n"),
        format="zeek-http",
        context=CONTEXT,
    )
    assert http.table.to_pylist()[0]["url.domain"] == "gatyfus.com"


def test_zeek_http_drops_the_query_string_and_keeps_only_search_words(tmp_path: Path) -> None:
    line = (
        '{"ts":1789370531.1,"id.orig_h":"10.3.14.22","id.orig_p":50000,'
        '"id.resp_h":"142.250.0.1","id.resp_p":80,"method":"GET","host":"www.google.fr:80",'
        '"uri":"/search?q=devoirs+maths&client=firefox&sessionid=SECRET","status_code":200,'
        '"username":"eleve.dupont","password":"hunter2"}'
    )
    parsed = parse_file(_file(tmp_path, "h.log", line + "\n"), format="zeek-http", context=CONTEXT)
    row = parsed.table.to_pylist()[0]
    assert (row["url.domain"], row["url.path"]) == ("www.google.fr", "/search")
    assert row["url.search_terms"] == "devoirs maths" and row["user.name"] == "eleve.dupont"
    flat = str(row)
    assert "SECRET" not in flat and "hunter2" not in flat


def test_zeek_impossible_iso_time_is_quarantined_not_a_crash(tmp_path: Path) -> None:
    good = (
        '{"ts":"2026-11-22T09:15:33Z","id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2",'
        '"trans_id":4711}'
    )
    bad = good.replace("11-22", "13-45")
    parsed = parse_file(
        _file(tmp_path, "d.log", f"{good}\n{bad}\n"), format="zeek-dns", context=CONTEXT
    )
    assert parsed.table.num_rows == 1
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (2, "field ts: not an epoch or ISO 8601 time")
    ]
