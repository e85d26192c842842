"""Recognising a file's format without --format: right on every real and
synthetic sample, and a clear refusal rather than a guess."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from confiance.detect.synthetic import SOURCES, generate
from confiance.errors import IngestError
from confiance.ingest import PARSERS
from confiance.ingest.recognition import recognise

DATA = Path(__file__).parents[1] / "data"
REAL = {
    "001-zeek-scenario-malicious_labeled-conn.log": "zeek-conn",
    "002-zeek-scenario-port-scanning_conn.log": "zeek-conn",
    "003-zeek-scenario-malicious_dns.log": "zeek-dns",
    "005-zeek-scenario-malicious_http.log": "zeek-http",
    "OpenSSH_2k.log": "openssh",
    "mail/postfix.log": "postfix",
    "mail/dmarc-aggregate.xml": "dmarc-aggregate",
}


@pytest.mark.parametrize(("name", "expected"), sorted(REAL.items()))
def test_real_samples_are_recognised(name: str, expected: str) -> None:
    assert recognise(DATA / name) == expected


def test_every_synthetic_source_is_recognised_even_compressed(tmp_path: Path) -> None:
    generate(tmp_path, events=20_000, seed=3)
    for tenant, name, fmt, _share in SOURCES.values():
        path = tmp_path / tenant / name
        assert recognise(path) == fmt, name
        packed = tmp_path / f"{name}.gz"
        packed.write_bytes(gzip.compress(path.read_bytes()))
        assert recognise(packed) == fmt, name


@pytest.mark.parametrize("fmt", sorted(set(PARSERS) - {"nfdump-csv", "dmarc-aggregate"}))
def test_each_format_sample_line_is_recognised(tmp_path: Path, fmt: str) -> None:
    # `confiance formats` shows these lines: each must be read as its own format.
    path = tmp_path / "sample.log"
    path.write_text(PARSERS[fmt].sample + "\n")
    assert recognise(path) == fmt


def test_a_zeek_conn_log_is_not_read_as_dns(tmp_path: Path) -> None:
    from confiance.ingest import parse_file
    from confiance.ingest.geo import DEMO_GEO
    from confiance.ingest.parsers import ParseContext

    context = ParseContext(tenant="t", service="s", geo=DEMO_GEO)
    with pytest.raises(IngestError, match=r"not a zeek-dns log: its #fields header has none of"):
        parse_file(
            DATA / "001-zeek-scenario-malicious_labeled-conn.log",
            format="zeek-dns",
            context=context,
        )
    with pytest.raises(IngestError, match=r"no line is in the zeek-dns format"):  # JSON lines
        parse_file(
            DATA / "002-zeek-scenario-port-scanning_conn.log", format="zeek-dns", context=context
        )


def test_what_is_not_a_log_is_refused_by_name(tmp_path: Path) -> None:
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps({"response": [{"Event": {"info": "x"}}]}))
    with pytest.raises(IngestError, match=r"feed\.json: not a format confiance reads"):
        recognise(feed)
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(IngestError, match=r"image\.png: binary content, not a log"):
        recognise(binary)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match=r"empty\.log: not a format"):
        recognise(empty)
