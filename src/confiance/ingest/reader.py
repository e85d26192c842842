"""Reading a log file into lines, and parsing it with quarantine of bad lines."""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyarrow as pa

from confiance.errors import IngestError
from confiance.events import empty_table
from confiance.ingest.parsers import IGNORED, ParseContext, Parser, parser_for

#: Lines longer than this are quarantined, never parsed.
MAX_LINE_BYTES = 64 * 1024
#: A zip member larger than this is refused (a zip bomb is not a report).
MAX_ARCHIVE_MEMBER_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class QuarantinedLine:
    file: str
    line: int
    reason: str
    raw: str


@dataclass
class ParsedFile:
    path: Path
    format: str
    lines: int
    table: pa.Table
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    #: well-formed lines that record no event, counted by reason (never silently dropped)
    ignored: dict[str, int] = field(default_factory=dict)

    def reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for q in self.quarantined:
            counts[q.reason] = counts.get(q.reason, 0) + 1
        return counts


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        if raw.startswith(b"\x1f\x8b"):
            return gzip.decompress(raw)
        if raw.startswith(b"BZh"):
            return bz2.decompress(raw)
        if raw.startswith(b"PK\x03\x04"):
            return _single_member(path, raw)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        raise IngestError(f"{path}: corrupt compressed file") from None
    return raw


def _single_member(path: Path, raw: bytes) -> bytes:
    """The one file of a zip archive (how DMARC reports arrive), read within a bound."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raise IngestError(f"{path}: a zip archive must hold one file, not {len(members)}")
        (member,) = members
        if member.file_size > MAX_ARCHIVE_MEMBER_BYTES:
            raise IngestError(
                f"{path}: {member.filename} expands to {member.file_size} bytes "
                f"(limit {MAX_ARCHIVE_MEMBER_BYTES})"
            )
        with archive.open(member) as stream:
            data = stream.read(MAX_ARCHIVE_MEMBER_BYTES + 1)
        if len(data) > MAX_ARCHIVE_MEMBER_BYTES:
            raise IngestError(f"{path}: {member.filename} expands beyond its declared size")
        return data


def open_text(path: Path) -> IO[str]:
    """A text stream over a plain, gzip or bzip2 file, read as it goes (not whole).

    Undecodable bytes become U+FFFD: labelled datasets carry stray cp1252
    bytes (CIC-IDS2017's "Web Attack \x96 Brute Force").
    """
    try:
        with open(path, "rb") as probe:
            magic = probe.read(3)
        if magic.startswith(b"\x1f\x8b"):
            return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
        if magic == b"BZh":
            return bz2.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
        return open(path, encoding="utf-8-sig", errors="replace", newline="")
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc.strerror})") from None


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        # French administrations still write latin-1; it never fails to decode.
        return line.decode("latin-1")


def parse_file(
    path: Path, *, format: str, context: ParseContext, max_line_bytes: int = MAX_LINE_BYTES
) -> ParsedFile:
    """Parse every line of ``path``; each line is either an event or quarantined."""
    parser = parser_for(format)
    data = _read_bytes(path)
    if b"\x00" in data[:4096]:
        raise IngestError(f"{path}: binary content, not a {format} log")
    if parser.framing.document:
        return _parse_document(path, parser, data, context)
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    numbers: list[int] = []
    texts: list[str] = []
    quarantined: list[QuarantinedLine] = []
    header: str | None = None
    framing = parser.framing
    end = framing.trailer(raw_lines) if framing.trailer else len(raw_lines)
    for number, terminated in enumerate(raw_lines[:end], start=1):
        raw = terminated.rstrip(b"\r")
        if framing.header_first_line and number == 1:
            header = _decode(raw)
            continue
        if framing.metadata_prefix and raw.startswith(framing.metadata_prefix):
            if framing.header_prefix and raw.startswith(framing.header_prefix):
                header = _decode(raw)
            continue  # the format's own metadata, not records
        if not raw.strip():
            continue
        if len(raw) > max_line_bytes:
            quarantined.append(
                QuarantinedLine(
                    str(path),
                    number,
                    f"line longer than {max_line_bytes} bytes",
                    _decode(raw[:256]),
                )
            )
            continue
        numbers.append(number)
        texts.append(_decode(raw))
    if not texts:
        return ParsedFile(path, format, len(raw_lines), empty_table(), quarantined)
    lines = pa.array(texts, pa.string())
    try:
        table, bad = parser.parse(lines, context=context, header=header)
    except IngestError as exc:
        raise IngestError(f"{path}: {exc}") from None
    ignored: dict[str, int] = {}
    for _, reason in bad:
        if reason.startswith(IGNORED):
            ignored[reason[len(IGNORED) :]] = ignored.get(reason[len(IGNORED) :], 0) + 1
    bad = [(i, reason) for i, reason in bad if not reason.startswith(IGNORED)]
    if len(bad) == len(texts) and len(texts) >= 10 and not ignored:
        raise IngestError(f"{path}: no line is in the {format} format; refusing the file")
    quarantined.extend(
        QuarantinedLine(str(path), numbers[i], reason, texts[i]) for i, reason in bad
    )
    quarantined.sort(key=lambda q: q.line)
    return ParsedFile(path, format, len(raw_lines), table, quarantined, ignored)


def _parse_document(path: Path, parser: Parser, data: bytes, context: ParseContext) -> ParsedFile:
    """A file that is one document (an XML report): its bad records keep their line."""
    text = _decode(data)
    try:
        table, bad = parser.parse(pa.array([text], pa.string()), context=context)
    except IngestError as exc:
        raise IngestError(f"{path}: {exc}") from None
    source_lines = text.split("\n")
    quarantined = [
        QuarantinedLine(
            str(path),
            line,
            reason,
            source_lines[line - 1][:256] if line <= len(source_lines) else "",
        )
        for line, reason in bad
    ]
    return ParsedFile(path, parser.name, len(source_lines), table, quarantined)
