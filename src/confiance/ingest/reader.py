"""Reading a log file as a stream of line batches, and parsing each batch with
quarantine of bad lines.

Memory stays bounded whatever the file's size: the file is decompressed as it
is read, cut into blocks of whole lines, and each block is split into an Arrow
array of lines without a Python object per line. A line longer than the limit
is quarantined by its first bytes and skipped, never held whole.
"""

from __future__ import annotations

import bz2
import gzip
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from confiance.errors import IngestError
from confiance.events import empty_table
from confiance.ingest.columns import LineText
from confiance.ingest.parsers import IGNORED, ParseContext, Parser, parser_for

#: Lines longer than this are quarantined, never parsed.
MAX_LINE_BYTES = 64 * 1024
#: A zip member larger than this is refused (a zip bomb is not a report).
MAX_ARCHIVE_MEMBER_BYTES = 256 * 1024 * 1024
#: A file that is one document (an XML report) is read whole up to this size.
MAX_DOCUMENT_BYTES = MAX_ARCHIVE_MEMBER_BYTES
#: Bytes of decompressed text per batch: a batch's lines, parsed table and
#: quarantine fit in a few times this.
BATCH_BYTES = 16 * 1024 * 1024
#: Kept of a quarantined line: enough to see what it was, never a whole record.
QUARANTINE_KEEP = 256

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Lines kept back to the end for a format's closing lines (nfdump's statistics).
_TRAILER_LINES = 8


@dataclass(frozen=True)
class QuarantinedLine:
    file: str
    line: int
    reason: str
    raw: str


@dataclass
class ParsedBatch:
    """The events and the refused lines of one block of a file."""

    table: pa.Table
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    #: well-formed lines that record no event, counted by reason (never silently dropped)
    ignored: dict[str, int] = field(default_factory=dict)
    #: lines of the file read so far, this batch included
    lines: int = 0
    #: compressed bytes of the file read so far (for a progress bar)
    position: int = 0


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
        return count_reasons(self.quarantined)


def count_reasons(quarantined: list[QuarantinedLine]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in quarantined:
        counts[q.reason] = counts.get(q.reason, 0) + 1
    return counts


class _Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


class _Counting:
    """A raw file that counts the bytes read through it (before decompression)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.position += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.raw.close()


class _Source:
    """A file's decompressed bytes as a stream, whatever its compression."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise IngestError(f"{path}: cannot be read ({exc.strerror})") from None
        self.counting = _Counting(raw)
        magic = raw.read(4)
        raw.seek(0)
        self.stream: _Stream
        try:
            if magic.startswith(b"\x1f\x8b"):
                self.stream = gzip.GzipFile(fileobj=cast(IO[bytes], self.counting), mode="rb")
            elif magic.startswith(b"BZh"):
                self.stream = bz2.BZ2File(cast(IO[bytes], self.counting), mode="rb")
            elif magic == _ZSTD_MAGIC:
                self.stream = _Zstd(self.counting)
            elif magic == b"PK\x03\x04":
                self.stream = _single_member(path, raw)
            else:
                self.stream = self.counting
        except (OSError, EOFError, ValueError, zipfile.BadZipFile):
            raw.close()
            raise IngestError(f"{path}: corrupt compressed file") from None

    @property
    def position(self) -> int:
        return self.counting.position

    def read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except (OSError, EOFError, ValueError, zstandard.ZstdError, zipfile.BadZipFile):
            raise IngestError(f"{self.path}: corrupt compressed file") from None

    def close(self) -> None:
        self.stream.close()
        self.counting.close()


class _Zstd:
    """Zstandard frames one after the other, decompressed as read; a file cut in
    the middle of a frame is an error (the library's stream reader says nothing)."""

    def __init__(self, raw: _Counting) -> None:
        self.raw = raw
        self.decompressor = zstandard.ZstdDecompressor()
        self.frame = self.decompressor.decompressobj()
        self.in_frame = False
        self.done = False
        self.buffer = bytearray()

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size and not self.done:
            compressed = self.raw.read(1 << 20)
            if not compressed:
                if self.in_frame:
                    raise zstandard.ZstdError("truncated frame")
                self.done = True
            while compressed:
                self.buffer += self.frame.decompress(compressed)
                self.in_frame = not self.frame.eof
                if self.in_frame:
                    break
                compressed = self.frame.unused_data
                self.frame = self.decompressor.decompressobj()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def close(self) -> None:
        self.raw.close()


def _single_member(path: Path, raw: IO[bytes]) -> IO[bytes]:
    """The one file of a zip archive (how DMARC reports arrive), read within a bound."""
    archive = zipfile.ZipFile(raw)
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) != 1:
        raise IngestError(f"{path}: a zip archive must hold one file, not {len(members)}")
    (member,) = members
    if member.file_size > MAX_ARCHIVE_MEMBER_BYTES:
        raise IngestError(
            f"{path}: {member.filename} expands to {member.file_size} bytes "
            f"(limit {MAX_ARCHIVE_MEMBER_BYTES})"
        )
    return archive.open(member)


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


@dataclass
class _Block:
    """Whole lines of a file: ``data`` ends with a newline. Lines are numbered
    by whoever reads the blocks, in order (counting them here cost a pass)."""

    data: bytes | memoryview
    #: the head of a line longer than the limit, skipped where this block stands
    #: (such a block holds no other line)
    overlong: bytes | None = None
    final: bool = False


def _blocks(
    read: Callable[[int], bytes], *, max_line_bytes: int, batch_bytes: int, hold: int = 0
) -> Iterator[_Block]:
    """Cut the stream into blocks of whole lines; skip over-long lines as they go.

    The last ``hold`` lines are kept back until the end of the file, so that the
    final block holds a format's closing lines (nfdump's statistics) whole.
    """
    carry = b""
    skipping: bytes | None = None
    while True:
        chunk = read(batch_bytes)
        if not chunk:
            break
        if skipping is not None:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            yield _Block(b"", overlong=skipping)
            skipping = None
            chunk = chunk[end + 1 :]
        data = carry + chunk if carry else chunk
        last = data.rfind(b"\n")
        cut = last
        for _ in range(hold):
            if cut < 0:
                break
            cut = data.rfind(b"\n", 0, cut)
        if cut < 0:
            carry = data
        else:
            # a view, not a copy, of the block's lines
            block, carry = memoryview(data)[: cut + 1], data[cut + 1 :]
            yield _Block(block)
        partial = len(data) - last - 1
        if partial > max_line_bytes:
            complete = carry[: len(carry) - partial]
            if complete:
                yield _Block(complete)
            skipping = carry[len(carry) - partial :][:QUARANTINE_KEEP]
            carry = b""
    if skipping is not None:
        yield _Block(b"", overlong=skipping, final=True)
    elif carry.endswith(b"\n") or not carry:
        yield _Block(carry, final=True)
    else:
        yield _Block(carry + b"\n", final=True)


def _split_lines(data: bytes | memoryview) -> tuple[pa.StringArray, pa.Array] | None:
    """The lines of ``data`` (which ends with a newline) as one Arrow array built
    from numpy offsets (no Python object per line), and their byte lengths;
    None if some line is not UTF-8."""
    view = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(view == 0x0A).astype(np.int32)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    # offsets of line i: [starts[i], ends[i]) — built as one offsets buffer
    # over the text with every newline left between two lines.
    offsets = np.empty(len(ends) * 2, dtype=np.int32)
    offsets[0::2] = starts
    offsets[1::2] = ends
    if not _utf8(data):
        return None
    both = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    # even slots are lines, odd slots the newlines between them
    lines = both.take(pa.array(np.arange(0, len(offsets) - 1, 2, dtype=np.int32)))
    return lines, pa.array(ends - starts)


def _block_lines(data: bytes | memoryview) -> tuple[pa.Array, pa.Array]:
    if len(data) > 2**31 - 1:  # pragma: no cover - blocks are far smaller
        raise IngestError("block too large")
    split = _split_lines(data)
    if split is None:
        raw = bytes(data[:-1]).split(b"\n")
        lengths = pa.array([len(line) for line in raw], pa.int32())
        lines = pa.array([_decode(line) for line in raw], pa.string())
    else:
        lines, lengths = split
    if (np.frombuffer(data, dtype=np.uint8) == 0x0D).any():
        lines = pc.utf8_rtrim(lines, characters="\r")
    return lines, lengths


def _line_text(data: bytes | memoryview, max_line_bytes: int) -> LineText | None:
    """``data`` as one text of lines, or None if the lines must be read one by
    one: a carriage return, a line longer than the limit, bytes not UTF-8."""
    view = np.frombuffer(data, dtype=np.uint8)
    if (view == 0x0D).any():
        return None
    ends = np.flatnonzero(view == 0x0A)
    if np.diff(ends, prepend=-1).max() - 1 > max_line_bytes:
        return None
    if not _utf8(data):
        return None
    return LineText(data, ends)


def _utf8(data: bytes | memoryview) -> bool:
    """Whether ``data`` is valid UTF-8 (so is then every line of it: a newline
    is never part of a multi-byte character)."""
    whole = pa.StringArray.from_buffers(
        1, pa.py_buffer(np.array([0, len(data)], np.int32)), pa.py_buffer(data)
    )
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def iter_parse(
    path: Path,
    *,
    format: str,
    context: ParseContext,
    max_line_bytes: int = MAX_LINE_BYTES,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[ParsedBatch]:
    """Parse ``path`` batch by batch: each line is either an event or quarantined."""
    parser = parser_for(format)
    source = _Source(path)
    try:
        yield from _ParseRun(path, parser, source, context, max_line_bytes, batch_bytes).run()
    finally:
        source.close()


def read_head(path: Path, size: int) -> tuple[bytes, bool]:
    """The first ``size`` decompressed bytes of ``path``, and whether that is all of it."""
    source = _Source(path)
    try:
        head = source.read(size)
        return head, not source.read(1)
    finally:
        source.close()


class _Memory:
    """Bytes already in memory, read like a file (to try a format on a file's head)."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.position = 0

    def read(self, size: int) -> bytes:
        chunk = bytes(self.data[self.position : self.position + size])
        self.position += len(chunk)
        return chunk


def parse_bytes(
    data: bytes, *, path: Path, format: str, context: ParseContext
) -> Iterator[ParsedBatch]:
    """Parse lines already in memory as if they were the file ``path``."""
    run = _ParseRun(path, parser_for(format), _Memory(data), context, MAX_LINE_BYTES, BATCH_BYTES)
    yield from run.run()


class _ParseRun:
    def __init__(
        self,
        path: Path,
        parser: Parser,
        source: _Source | _Memory,
        context: ParseContext,
        max_line_bytes: int,
        batch_bytes: int,
    ) -> None:
        self.path = path
        self.parser = parser
        self.source = source
        self.context = context
        self.max_line_bytes = max_line_bytes
        self.batch_bytes = batch_bytes
        self.header: str | None = None
        self.checked = False
        self.lines = 0

    def run(self) -> Iterator[ParsedBatch]:
        head = self.source.read(4096)
        if b"\x00" in head:
            raise IngestError(f"{self.path}: binary content, not a {self.parser.name} log")
        if self.parser.framing.document:
            yield self._document(head)
            return
        framing = self.parser.framing
        pending = [head]

        def read(size: int) -> bytes:
            if pending:
                first = pending.pop()
                return first + self.source.read(max(0, size - len(first)))
            return self.source.read(size)

        held: list[tuple[pa.Array, pa.Array, list[QuarantinedLine]]] = []
        for block in _blocks(
            read,
            max_line_bytes=self.max_line_bytes,
            batch_bytes=self.batch_bytes,
            hold=_TRAILER_LINES if framing.trailer else 0,
        ):
            quarantined: list[QuarantinedLine] = []
            if block.overlong is not None:
                self.lines += 1
                quarantined.append(self._overlong(self.lines, _decode(block.overlong)))
            numbers, lines = self._records(block, quarantined)
            if framing.whole:
                held.append((numbers, lines, quarantined))
                if not block.final:
                    continue
                numbers = pa.concat_arrays([h[0] for h in held])
                lines = pa.concat_arrays([h[1] for h in held])
                quarantined = [q for h in held for q in h[2]]
            yield self._parse(numbers, lines, quarantined)

    def _overlong(self, number: int, raw: str) -> QuarantinedLine:
        return QuarantinedLine(
            str(self.path), number, f"line longer than {self.max_line_bytes} bytes", raw
        )

    def _records(
        self, block: _Block, quarantined: list[QuarantinedLine]
    ) -> tuple[pa.Array, pa.Array | LineText]:
        """Line numbers and texts of the records of ``block`` (metadata, blank and
        over-long lines taken out, the header remembered)."""
        if not block.data:
            return pa.array([], pa.int64()), pa.array([], pa.string())
        if self.parser.framing.text and not block.final:
            text = _line_text(block.data, self.max_line_bytes)
            if text is not None:
                return self._text_records(text)
        lines, lengths = _block_lines(block.data)
        n = len(lines)
        first = self.lines + 1
        self.lines += n
        numbers = pa.array(np.arange(first, first + n, dtype=np.int64))
        framing = self.parser.framing
        keep = pc.invert(pc.or_(pc.equal(lengths, 0), pc.ascii_is_space(lines)))
        if framing.header_first_line and first == 1:
            self.header = lines[0].as_py()
            keep = pc.and_(keep, pc.not_equal(numbers, 1))
        if framing.trailer and block.final:
            tail = min(_TRAILER_LINES, n)
            cut = framing.trailer([line.encode() for line in lines.slice(n - tail).to_pylist()])
            if cut < tail:
                keep = pc.and_(keep, pc.less(numbers, first + n - tail + cut))
        if framing.metadata_prefix:
            metadata = pc.starts_with(lines, framing.metadata_prefix.decode())
            if framing.header_prefix:
                headers = pc.starts_with(lines, framing.header_prefix.decode())
                found = pc.indices_nonzero(headers).to_pylist()
                if found:
                    # A later header (concatenated logs) would apply to the lines
                    # after it; the last one of the block wins, as Zeek files
                    # carry one header each.
                    self.header = lines[found[-1]].as_py()
            keep = pc.and_(keep, pc.invert(metadata))
        long = pc.greater(lengths, self.max_line_bytes)
        if pc.any(long).as_py():
            for i in pc.indices_nonzero(pc.and_(long, keep)).to_pylist():
                head = lines[i].as_py()[:QUARANTINE_KEEP]
                quarantined.append(self._overlong(first + i, head))
            keep = pc.and_(keep, pc.invert(long))
        return numbers.filter(keep), lines.filter(keep)

    def _text_records(self, text: LineText) -> tuple[pa.Array, LineText]:
        """:meth:`_records` of a block read as one text (blank lines stay in:
        the parser refuses them and :meth:`_parse` drops them)."""
        first = self.lines + 1
        self.lines += len(text)
        if first == 1 and self.parser.framing.header_first_line:
            self.header = text.line(0)
            start = int(text.ends[0]) + 1
            text = LineText(text.data[start:], text.ends[1:] - start)
            first = 2
        return pa.array(np.arange(first, first + len(text), dtype=np.int64)), text

    def _parse(
        self,
        numbers: pa.Array,
        lines: pa.Array | LineText,
        quarantined: list[QuarantinedLine],
    ) -> ParsedBatch:
        if len(lines) == 0:
            return ParsedBatch(empty_table(), quarantined, {}, self.lines, self.source.position)
        try:
            table, bad = self.parser.parse(lines, context=self.context, header=self.header)
        except IngestError as exc:
            raise IngestError(f"{self.path}: {exc}") from None
        ignored: dict[str, int] = {}
        refused = []
        records = len(lines)
        for index, reason in bad:
            if isinstance(lines, LineText) and not lines.line(index).strip():
                records -= 1  # a blank line, not a record
                continue
            if reason.startswith(IGNORED):
                key = reason[len(IGNORED) :]
                ignored[key] = ignored.get(key, 0) + 1
            else:
                refused.append((index, reason))
        if not self.checked and records >= 10:
            self.checked = True
            if len(refused) == records and not ignored:
                raise IngestError(
                    f"{self.path}: no line is in the {self.parser.name} format; refusing the file"
                )
        if refused:
            at = pa.array([i for i, _ in refused], pa.int64())
            lines_at = pc.take(numbers, at).to_pylist()
            if isinstance(lines, LineText):
                texts = [lines.line(i)[: 4 * QUARANTINE_KEEP] for i, _ in refused]
            else:
                taken = pc.utf8_slice_codeunits(pc.take(lines, at), 0, 4 * QUARANTINE_KEEP)
                texts = taken.to_pylist()
            quarantined.extend(
                QuarantinedLine(str(self.path), number, reason, text)
                for number, (_, reason), text in zip(lines_at, refused, texts, strict=True)
            )
            quarantined.sort(key=lambda q: q.line)
        return ParsedBatch(table, quarantined, ignored, self.lines, self.source.position)

    def _document(self, head: bytes) -> ParsedBatch:
        """A file that is one document (an XML report): its bad records keep their line."""
        rest = self.source.read(MAX_DOCUMENT_BYTES + 1 - len(head))
        data = head + rest
        if len(data) > MAX_DOCUMENT_BYTES:
            raise IngestError(f"{self.path}: a document larger than {MAX_DOCUMENT_BYTES} bytes")
        text = _decode(data)
        try:
            table, bad = self.parser.parse(pa.array([text], pa.string()), context=self.context)
        except IngestError as exc:
            raise IngestError(f"{self.path}: {exc}") from None
        source_lines = text.split("\n")
        quarantined = [
            QuarantinedLine(
                str(self.path),
                line,
                reason,
                source_lines[line - 1][:QUARANTINE_KEEP] if line <= len(source_lines) else "",
            )
            for line, reason in bad
        ]
        return ParsedBatch(table, quarantined, {}, len(source_lines), self.source.position)


def parse_file(
    path: Path,
    *,
    format: str,
    context: ParseContext,
    max_line_bytes: int = MAX_LINE_BYTES,
    batch_bytes: int = BATCH_BYTES,
    progress: Callable[[ParsedBatch], None] | None = None,
) -> ParsedFile:
    """Parse every line of ``path`` into one table; each line is either an event
    or quarantined. For files larger than memory, iterate ``iter_parse``."""
    tables: list[pa.Table] = []
    quarantined: list[QuarantinedLine] = []
    ignored: dict[str, int] = {}
    lines = 0
    for batch in iter_parse(
        path,
        format=format,
        context=context,
        max_line_bytes=max_line_bytes,
        batch_bytes=batch_bytes,
    ):
        if batch.table.num_rows:
            tables.append(batch.table)
        quarantined.extend(batch.quarantined)
        for reason, count in batch.ignored.items():
            ignored[reason] = ignored.get(reason, 0) + count
        lines = batch.lines
        if progress:
            progress(batch)
    table = pa.concat_tables(tables) if tables else empty_table()
    return ParsedFile(path, parser_for(format).name, lines, table, quarantined, ignored)
