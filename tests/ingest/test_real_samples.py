"""Parsers and detections on real logs (tests/data, sources in its README)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from confiance.detect import detectors_of, jobs
from confiance.errors import IngestError
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

DATA = Path(__file__).parent.parent / "data"
CONTEXT = ParseContext(
    tenant="lycees", service="sshd", geo=DEMO_GEO, now=datetime(2026, 11, 22, tzinfo=UTC)
)


def test_openssh_outcomes_and_the_real_brute_force() -> None:
    parsed = parse_file(DATA / "OpenSSH_2k.log", format="openssh", context=CONTEXT)
    text = (DATA / "OpenSSH_2k.log").read_text()
    import re

    outcomes = len(re.findall(r"sshd\[\d+\]: (?:Failed|Accepted) ", text))
    assert parsed.table.num_rows == outcomes and not parsed.quarantined
    assert parsed.table.num_rows + sum(parsed.ignored.values()) == 2000  # every line counted
    first = parsed.table.slice(0, 1).to_pylist()[0]
    # "Dec 10 06:55:48" in Paris, no year: the latest December 10th not in the future
    assert first["@timestamp"] == datetime(2025, 12, 10, 5, 55, 48, tzinfo=UTC)
    assert (first["user.name"], first["event.outcome"]) == ("webmaster", "failure")
    findings = jobs.run(parsed.table, analyses=detectors_of(), parameters={})
    brute = [
        f for f in findings if f["detector"] == "brute_force" and f["entity"]["value"] == "root"
    ]
    assert sum(f["evidence"]["failures"] for f in brute) >= 280
    assert "183.62.140.253" in {s for f in brute for s in f["evidence"]["sources"]}
    assert any(
        f["detector"] == "password_spraying" and f["entity"]["value"] == "187.141.143.180"
        for f in findings
    )


def test_zeek_conn_tsv_with_labels() -> None:
    parsed = parse_file(
        DATA / "001-zeek-scenario-malicious_labeled-conn.log", format="zeek-conn", context=CONTEXT
    )
    data_lines = [
        line
        for line in (DATA / "001-zeek-scenario-malicious_labeled-conn.log").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert parsed.table.num_rows == len(data_lines) and not parsed.quarantined
    row = parsed.table.slice(0, 1).to_pylist()[0]
    assert (row["destination.port"], row["network.transport"], row["event.action"]) == (
        53,
        "udp",
        "Dd",
    )


def test_zeek_conn_json_and_the_real_nmap_scan() -> None:
    parsed = parse_file(
        DATA / "002-zeek-scenario-port-scanning_conn.log", format="zeek-conn", context=CONTEXT
    )
    assert parsed.table.num_rows == 4504 and not parsed.quarantined
    scans = [f for f in jobs.run(parsed.table, analyses=["port_scan"], parameters={})]
    assert scans and {f["entity"]["value"] for f in scans} == {"172.16.1.11"}
    assert sum(f["evidence"]["probes"] for f in scans) > 2000


def test_a_zeek_header_without_addresses_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "conn.log"
    bad.write_text("#separator \\x09\n#fields\tts\tuid\n1.0\tC1\n")
    with pytest.raises(IngestError, match=r"conn\.log: Zeek #fields header lacks id\.orig_h"):
        parse_file(bad, format="zeek-conn", context=CONTEXT)


def test_zeek_http_tsv_keeps_paths_never_query_strings() -> None:
    name = "005-zeek-scenario-malicious_http.log"
    parsed = parse_file(DATA / name, format="zeek-http", context=CONTEXT)
    records = [
        line.split("\t")
        for line in (DATA / name).read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert parsed.table.num_rows == len(records) == 992 and not parsed.quarantined
    rows = parsed.table.to_pylist()
    first = rows[0]
    assert (first["url.domain"], first["url.path"], first["http.request.method"]) == (
        "gatyfus.com",
        "/login.php",
        "GET",
    )
    assert (first["http.response.status_code"], first["event.outcome"]) == (302, "success")
    assert (first["source.bytes"], first["destination.bytes"]) == (6, 154)
    assert first["ocsf.class_uid"] == 4002 and first["destination.port"] == 80
    # Zeek writes "-" for a request that got no answer: no status, not a zero
    assert sum(r["http.response.status_code"] is None for r in rows) == sum(
        fields[15] == "-" for fields in records
    )
    assert len({r["url.domain"] for r in rows}) == len({fields[8] for fields in records})


def test_zeek_dns_tsv_and_json_agree() -> None:
    name = "003-zeek-scenario-malicious_dns.log"
    tsv = parse_file(DATA / name, format="zeek-dns", context=CONTEXT).table.to_pylist()
    assert len(tsv) == 1
    row = tsv[0]
    assert (row["dns.question.name"], row["dns.question.type"], row["event.outcome"]) == (
        "infinitedata-pa.googleapis.com",
        "A",
        "success",
    )
    assert (row["source.ip"], row["destination.ip"], row["destination.port"]) == (
        "10.8.0.61",
        "8.8.8.8",
        53,
    )
    assert row["@timestamp"] == datetime(2020, 8, 7, 8, 49, 24, 509987, tzinfo=UTC)
