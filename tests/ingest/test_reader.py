"""The streaming reader: results do not depend on where blocks are cut, memory
does not depend on the file's size, every compression we accept is read."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import zipfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confiance.errors import IngestError
from confiance.ingest import DEMO_GEO, parse_file, reader
from confiance.ingest.parsers import ParseContext, parser_for
from confiance.ingest.reader import iter_parse

CONTEXT = ParseContext(tenant="t", service="svc", geo=DEMO_GEO)
SAMPLES = Path(__file__).parents[1] / "data"
APACHE = (
    '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 '
    '2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)
NFDUMP_HEADER = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt"
NFDUMP_ROW = (
    "2026-09-14 08:00:00,2026-09-14 08:00:01,1.000,10.0.0.1,172.16.0.2,5000,443,TCP,"
    ".AP.SF,0,0,3,120,0,0"
)
NFDUMP_TRAILER = ["Summary", "flows,bytes,packets,avg_bps,avg_pps,avg_bpp", "3,360,9,0,0,0"]


def _summary(parsed: object) -> tuple[int, list[tuple[int, str]], dict[str, int], list[object]]:
    table = parsed.table  # type: ignore[attr-defined]
    return (
        table.num_rows,
        [(q.line, q.reason) for q in parsed.quarantined],  # type: ignore[attr-defined]
        parsed.ignored,  # type: ignore[attr-defined]
        table.column("@timestamp").to_pylist() if table.num_rows else [],
    )


def test_nfdump_trailer_split_across_blocks_is_still_the_trailer(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text("\n".join([NFDUMP_HEADER, *[NFDUMP_ROW] * 40, *NFDUMP_TRAILER]) + "\n")
    for batch_bytes in (16, 97, 1000, 1 << 20):
        parsed = parse_file(path, format="nfdump-csv", context=CONTEXT, batch_bytes=batch_bytes)
        assert parsed.table.num_rows == 40, batch_bytes
        assert parsed.quarantined == []
        assert parsed.lines == 44


def test_zeek_header_holds_for_every_block(tmp_path: Path) -> None:
    sample = SAMPLES / "002-zeek-scenario-port-scanning_conn.log"
    whole = parse_file(sample, format="zeek-conn", context=CONTEXT)
    small = parse_file(sample, format="zeek-conn", context=CONTEXT, batch_bytes=3000)
    assert whole.table.num_rows > 100
    assert _summary(small) == _summary(whole)
    assert small.table.equals(whole.table)


def test_a_line_longer_than_the_limit_is_skipped_not_held(tmp_path: Path) -> None:
    # The long line spans many blocks: only its head is kept, the next line is read.
    path = tmp_path / "access.log"
    path.write_bytes((APACHE + "\n").encode() + b"A" * 5000 + b"\n" + (APACHE + "\n").encode() * 2)
    parsed = parse_file(
        path, format="apache-combined", context=CONTEXT, max_line_bytes=1000, batch_bytes=64
    )
    assert parsed.table.num_rows == 3
    assert [(q.line, q.reason, len(q.raw)) for q in parsed.quarantined] == [
        (2, "line longer than 1000 bytes", 256)
    ]
    assert parsed.lines == 4


def test_a_long_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes((APACHE + "\n").encode() + b"B" * 5000)
    parsed = parse_file(
        path, format="apache-combined", context=CONTEXT, max_line_bytes=1000, batch_bytes=128
    )
    assert parsed.table.num_rows == 1
    assert [(q.line, q.raw[:3]) for q in parsed.quarantined] == [(2, "BBB")]


def test_postfix_joins_queue_ids_across_blocks(tmp_path: Path) -> None:
    sample = SAMPLES / "mail" / "postfix.log"
    whole = parse_file(sample, format="postfix", context=CONTEXT)
    small = parse_file(sample, format="postfix", context=CONTEXT, batch_bytes=200)
    assert small.table.equals(whole.table)
    assert small.table.column("email.from.domain").null_count < small.table.num_rows


@pytest.mark.parametrize("kind", ["gz", "bz2", "zst", "zip"])
def test_every_accepted_compression(tmp_path: Path, kind: str) -> None:
    text = ((APACHE + "\n") * 50).encode()
    path = tmp_path / f"access.log.{kind}"
    if kind == "gz":
        path.write_bytes(gzip.compress(text))
    elif kind == "bz2":
        path.write_bytes(bz2.compress(text))
    elif kind == "zst":
        # two frames, as `zstd` writes when files are concatenated
        z = zstandard.ZstdCompressor()
        path.write_bytes(z.compress(text[:1000]) + z.compress(text[1000:]))
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("access.log", text)
        path.write_bytes(buffer.getvalue())
    parsed = parse_file(path, format="apache-combined", context=CONTEXT, batch_bytes=333)
    assert parsed.table.num_rows == 50
    assert parsed.quarantined == []


def test_a_truncated_zstd_file_is_refused_by_name(tmp_path: Path) -> None:
    data = zstandard.ZstdCompressor().compress(((APACHE + "\n") * 500).encode())
    path = tmp_path / "cut.log.zst"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"cut\.log\.zst: corrupt compressed file"):
        parse_file(path, format="apache-combined", context=CONTEXT)


def test_batches_report_progress_in_compressed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(((APACHE + "\n") * 2000).encode()))
    batches = list(iter_parse(path, format="apache-combined", context=CONTEXT, batch_bytes=50_000))
    assert len(batches) > 3
    assert [b.lines for b in batches] == sorted(b.lines for b in batches)
    assert batches[-1].lines == 2000
    assert batches[-1].position == path.stat().st_size
    assert sum(b.table.num_rows for b in batches) == 2000


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.sampled_from([APACHE, "", "garbage line", "é" * 40, APACHE.replace("frank", "fr\xe9d")]),
        max_size=30,
    ),
    batch_bytes=st.integers(min_value=1, max_value=600),
    terminated=st.booleans(),
)
def test_where_blocks_are_cut_changes_nothing(
    tmp_path: Path, lines: list[str], batch_bytes: int, terminated: bool
) -> None:
    path = tmp_path / "access.log"
    data = "\n".join(lines).encode() + (b"\n" if terminated and lines else b"")
    path.write_bytes(data.replace("fr\xe9d".encode(), "fr\xe9d".encode("latin-1")))
    try:
        reference = parse_file(path, format="apache-combined", context=CONTEXT)
    except IngestError:
        with pytest.raises(IngestError):
            parse_file(path, format="apache-combined", context=CONTEXT, batch_bytes=batch_bytes)
        return
    cut = parse_file(
        path, format="apache-combined", context=CONTEXT, batch_bytes=batch_bytes, max_line_bytes=70
    )
    fine = parse_file(path, format="apache-combined", context=CONTEXT, max_line_bytes=70)
    assert _summary(cut) == _summary(fine)
    assert [q.raw for q in cut.quarantined] == [q.raw for q in fine.quarantined]
    assert reference.lines == cut.lines


NFDUMP_VARIANTS = [
    NFDUMP_ROW,
    "",
    "   ",
    "garbage line",
    NFDUMP_ROW.replace("10.0.0.1", "10.0.0.999"),
    NFDUMP_ROW.replace("08:00:00,", "08:00:00.250,"),
    NFDUMP_ROW.replace(".AP.SF", ".AP\r.SF"),
    NFDUMP_ROW.replace(".AP.SF", ".AP.SF\xe9"),
    NFDUMP_ROW + "," * 300,
]


def _nfdump_file(path: Path, rows: list[str]) -> Path:
    text = "\n".join([NFDUMP_HEADER, *rows]) + "\n"
    path.write_bytes(text.replace("\xe9", "\x00").encode().replace(b"\x00", b"\xe9"))
    return path


def test_nfdump_blocks_read_as_one_text_number_and_quarantine_lines_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [NFDUMP_ROW] * 30 + ["", "garbage line", "  "] + [NFDUMP_ROW] * 30
    rows[40] = NFDUMP_ROW.replace("172.16.0.2", "not-an-address")
    path = _nfdump_file(tmp_path / "flows.csv", rows)
    read_as_text = []
    original = reader._line_text

    def spy(data: bytes, max_line_bytes: int) -> object:
        text = original(data, max_line_bytes)
        read_as_text.append(text is not None)
        return text

    monkeypatch.setattr(reader, "_line_text", spy)
    parsed = parse_file(path, format="nfdump-csv", context=CONTEXT, batch_bytes=1000)
    assert any(read_as_text)
    assert parsed.table.num_rows == 59
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (33, "does not match the nfdump-csv header"),
        (42, "field destination.ip: not an IP address"),
    ]
    assert parsed.quarantined[0].raw == "garbage line"
    assert parsed.lines == 64


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.sampled_from(NFDUMP_VARIANTS), max_size=40),
    batch_bytes=st.integers(min_value=64, max_value=4000),
)
def test_nfdump_as_text_or_line_by_line_gives_the_same(
    tmp_path: Path, rows: list[str], batch_bytes: int
) -> None:
    """A block read as one text (the fast path) and the same block split into
    lines give the same events, quarantine and counts, wherever blocks are cut
    and whatever the block holds (blank lines, carriage returns, latin-1, a
    line over the limit, a row with another field count)."""
    path = _nfdump_file(tmp_path / "flows.csv", rows)
    parser = parser_for("nfdump-csv")

    def parsed(text: bool) -> object:
        framing = parser.framing
        try:
            parser.framing = dataclasses.replace(framing, text=text)  # type: ignore[misc]
            return parse_file(
                path,
                format="nfdump-csv",
                context=CONTEXT,
                batch_bytes=batch_bytes,
                max_line_bytes=200,
            )
        except IngestError as exc:
            return str(exc)
        finally:
            vars(parser).pop("framing", None)

    fast, lines = parsed(True), parsed(False)
    if isinstance(fast, str) or isinstance(lines, str):
        assert fast == lines
        return
    assert _summary(fast) == _summary(lines)
    assert [q.raw for q in fast.quarantined] == [q.raw for q in lines.quarantined]  # type: ignore[attr-defined]
    assert fast.lines == lines.lines  # type: ignore[attr-defined]
