"""Vectorised building blocks shared by the parsers: the parse context, how a
format frames its lines, the parser protocol, and conversions of whole Arrow
arrays (times, addresses, numbers) that mark the rows they cannot read.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv

from confiance.events import OcsfClass, conform
from confiance.ingest.geo import IPV4_SHAPE, GeoTable

BadRows = list[tuple[int, str]]


_UTC_US = pa.timestamp("us", tz="UTC")

#: A bad-row reason with this prefix marks a well-formed line that records no
#: event (counted as ignored, with its reason), not an unparseable one.
IGNORED = "ignored: "


@dataclass(frozen=True)
class ParseContext:
    tenant: str
    service: str
    geo: GeoTable
    timezone: str = "Europe/Paris"
    #: for formats without a year (RFC 3164 syslog): the latest plausible time
    now: datetime.datetime | None = None
    #: the source's format options (a web server's ``log_format`` …), checked
    #: by :func:`confiance.ingest.parsers.check_options`
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Framing:
    """How a format marks the lines of a file that are not records."""

    #: the first line names the columns (nfdump CSV)
    header_first_line: bool = False
    #: lines starting with this are the format's own metadata (Zeek's ``#…``)
    metadata_prefix: bytes | None = None
    #: among metadata lines, the one that names the columns (Zeek's ``#fields``)
    header_prefix: bytes | None = None
    #: index where the format's closing lines begin (nfdump's statistics)
    trailer: Callable[[list[bytes]], int] | None = None
    #: the whole file is one document (an XML report), given to the parser as a
    #: single string; the positions of its bad rows are line numbers in it
    document: bool = False
    #: records refer to each other across lines (Postfix queue ids): the file's
    #: lines are parsed as one batch, so memory grows with the file
    whole: bool = False
    #: the parser reads delimited records with a CSV reader and takes a block's
    #: lines as one :class:`LineText` when it can (no carriage return, valid
    #: UTF-8, no over-long line, not the final block): splitting the block into
    #: lines only to join them again for the reader cost nfdump a sixth of its time.
    #: For formats without metadata lines; blank lines are the reader's to drop.
    text: bool = False


@dataclass(frozen=True)
class LineText:
    """The lines of a block as one UTF-8 text, each line ending with a newline."""

    data: bytes | memoryview
    #: where each line's newline is
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.ends)

    def line(self, index: int) -> str:
        start = int(self.ends[index - 1]) + 1 if index else 0
        return bytes(self.data[start : int(self.ends[index])]).decode("utf-8")


PLAIN = Framing()


class Parser(Protocol):
    name: str
    description: str
    sample: str
    framing: Framing

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        """Normalised events of the readable lines, and (position, reason) of the others.

        ``header`` is the line that names the columns, for formats whose
        framing has one. ``lines`` is a :class:`LineText` for formats whose
        framing has ``text``.
        """
        ...


class Rows:
    """Tracks which rows are still good and why the others were rejected.

    A row is a line of the parser's input; or, given ``refused``, the lines left
    once those positions (sorted) were refused for ``reason`` before any column
    was built (:func:`delimited_rows`). Bad rows are reported by line position.
    """

    def __init__(self, n: int, *, refused: Sequence[int] = (), reason: str = "") -> None:
        self.ok: pa.Array = pa.array(np.ones(n, dtype=bool))
        self.bad: BadRows = [(index, reason) for index in refused]
        self._lines = np.delete(np.arange(n + len(refused)), refused) if refused else None

    def _line(self, index: int) -> int:
        return index if self._lines is None else int(self._lines[index])

    def reject(self, bad: BadRows) -> None:
        """Mark rows rejected by a per-line check (with their own reasons)."""
        if bad:
            mask = np.ones(len(self.ok), dtype=bool)
            for index, _ in bad:
                mask[index] = False
            self.ok = pc.and_(self.ok, pa.array(mask))
            self.bad.extend((self._line(index), reason) for index, reason in bad)

    def only_good(self, values: pa.Array) -> pa.Array:
        """``values`` where the row is still good, null elsewhere."""
        return pc.if_else(self.ok, values, pa.scalar(None, values.type))

    def require(self, valid: pa.Array, reason: str) -> None:
        valid = pc.fill_null(valid, False)
        failed = pc.and_(self.ok, pc.invert(valid))
        for index in pc.indices_nonzero(failed).to_pylist():
            self.bad.append((self._line(index), reason))
        self.ok = pc.and_(self.ok, valid)

    def finish(self, columns: Mapping[str, pa.Array]) -> tuple[pa.Table, BadRows]:
        table = pa.table(dict(columns))
        if self.ok.false_count:
            table = table.filter(self.ok)
        return conform(table), sorted(self.bad)


def common(
    n: int, context: ParseContext, *, dataset: str, ocsf: OcsfClass, category: str | None
) -> dict[str, pa.Array]:
    """Columns that are the same on every row a parser emits."""
    columns = {
        "tenant": pa.repeat(pa.scalar(context.tenant, pa.string()), n),
        "event.dataset": pa.repeat(pa.scalar(dataset, pa.string()), n),
        "ocsf.class_uid": pa.repeat(pa.scalar(int(ocsf), pa.int32()), n),
        "service.name": pa.repeat(pa.scalar(context.service, pa.string()), n),
    }
    if category is not None:
        columns["event.category"] = pa.repeat(pa.scalar(category, pa.string()), n)
    return columns


def local_time(local: pa.Array, context: ParseContext) -> pa.Array:
    """Naive local times of the source's time zone, as UTC instants.

    Unparseable times (null) become a placeholder: their rows are already
    quarantined. Ambiguous (the repeated autumn hour) and nonexistent (the
    skipped spring hour) local times take Arrow's "earliest" resolution.
    """
    return pc.assume_timezone(
        pc.fill_null(local, pa.scalar(0, pa.timestamp("us"))),
        context.timezone,
        ambiguous="earliest",
        nonexistent="earliest",
    )


def valid_ips(values: pa.Array) -> pa.Array:
    """True where the value is a syntactically valid IPv4/IPv6 address.

    IPv4 is checked by one vectorised pattern; only the distinct values with a
    colon (IPv6, rare here) go through :mod:`ipaddress`. A dictionary-encoded
    column is checked once per distinct address.
    """
    if isinstance(values, pa.DictionaryArray):
        return pc.take(valid_ips(values.dictionary), values.indices)
    v4 = pc.fill_null(pc.match_substring_regex(values, IPV4_SHAPE), False)
    if pc.all(v4).as_py():
        return v4
    others = values.filter(pc.invert(v4))
    colons = others.filter(pc.fill_null(pc.match_substring(others, ":"), False))
    good = []
    for value in pc.unique(colons).to_pylist():
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        good.append(value)
    if not good:
        return v4
    return pc.or_(v4, pc.is_in(values, value_set=pa.array(good, pa.string())))


def dash_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, "-"), pa.scalar(None, pa.string()), values)


def to_int(values: pa.Array, kind: pa.DataType | None = None) -> pa.Array:
    """Digits (at most 18) to integers; anything else becomes null."""
    kind = kind or pa.int64()
    try:  # the common case, a column of plain numbers, in one cast
        fast = pc.cast(values, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        fast = None
    # the cast also takes a sign and hexadecimal, which are not digits
    if (
        fast is not None
        and pc.all(pc.ascii_is_decimal(values)).as_py() is not False
        and (pc.max(pc.binary_length(values)).as_py() or 0) <= 18
    ):
        return fast
    digits = pc.match_substring_regex(values, r"^\d{1,18}$")
    clean = pc.cast(pc.if_else(digits, values, pa.scalar(None, pa.string())), pa.int64())
    if kind != pa.int64():  # a number too large for the column is no number either
        fits = pc.less_equal(clean, pa.scalar(2 ** (kind.bit_width - 1) - 1, pa.int64()))
        clean = pc.if_else(fits, clean, pa.scalar(None, pa.int64()))
    return pc.cast(clean, kind)


def to_float(values: pa.Array) -> pa.Array:
    """Decimal numbers to float64; anything else becomes null."""
    numeric = pc.match_substring_regex(values, r"^-?\d{1,18}(\.\d{1,9})?$")
    clean = pc.if_else(numeric, values, pa.scalar(None, pa.string()))
    return pc.cast(clean, pa.float64())


def outcome_from_status(status: pa.Array) -> pa.Array:
    return pc.case_when(
        pc.make_struct(
            pc.less(status, 400),
            pc.is_in(status, value_set=pa.array([401, 403], pa.int32())),
        ),
        pa.scalar("success"),
        pa.scalar("failure"),
        pa.scalar("unknown"),
    )


_LOGIN_PATH = r"(?i)/(auth|login|signin|connexion|cas/login)"

#: stands for a line that cannot be given to the CSV reader (it holds a carriage
#: return, which the reader would take for a line break): one field, so refused
_UNREADABLE = "\x00"


def _joined(lines: pa.Array) -> pa.Buffer:
    """The lines as one text, a newline between two, without a copy beyond the join's
    (a scalar's ``as_buffer`` of the joined text copied it again)."""
    whole = pc.binary_join(
        pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n"
    )
    return whole.buffers()[2].slice(0, pc.binary_length(whole)[0].as_py())


#: bytes the CSV reader tokenises at a time: a block that fits the CPU's cache
#: parses nearly twice as fast as one block of the whole batch
_CSV_BLOCK = 1 << 20


def _spread(values: pa.Array, good: np.ndarray, ends: np.ndarray) -> pa.Array:
    """``values`` (one per good row) laid out over every row, null where a row
    is not good: only the offsets are rebuilt, the text is not copied.
    ``ends[i + 1]`` is the number of good rows up to and including row ``i``."""
    offsets = np.frombuffer(
        values.buffers()[1], dtype=np.int32, count=len(values) + 1, offset=4 * values.offset
    )
    valid = good.copy()
    valid[good] = np.asarray(values.is_valid())
    return pa.StringArray.from_buffers(
        len(good),
        pa.py_buffer(offsets[ends]),
        values.buffers()[2],
        pa.py_buffer(np.packbits(valid, bitorder="little")),
    )


def delimited_rows(
    lines: pa.Array | LineText, *, names: list[str], wanted: Sequence[str], delimiter: str
) -> tuple[dict[str, pa.Array], list[int]]:
    """Split delimiter-separated lines (no quoting) into the ``wanted`` columns,
    as strings, with Arrow's CSV reader: the columns of the lines that have
    exactly ``names`` fields, and the positions of the others (sorted).
    """
    if len(lines) == 0:
        return {w: pa.array([], pa.string()) for w in wanted}, []
    if isinstance(lines, LineText):
        text = pa.py_buffer(lines.data)
    else:
        text = _joined(lines)
        if (np.frombuffer(text, dtype=np.uint8) == 0x0D).any():
            lines = pc.if_else(pc.match_substring(lines, "\r"), _UNREADABLE, lines)
            text = _joined(lines)
    refused: list[int] = []

    def refuse(row: csv.InvalidRow) -> str:
        # the serial reader numbers rows across its blocks
        refused.append(row.number - 1)
        return "skip"

    table = csv.read_csv(
        pa.BufferReader(text),
        read_options=csv.ReadOptions(use_threads=False, column_names=names, block_size=_CSV_BLOCK),
        parse_options=csv.ParseOptions(
            delimiter=delimiter,
            quote_char=False,
            invalid_row_handler=refuse,
            ignore_empty_lines=False,
        ),
        convert_options=csv.ConvertOptions(
            include_columns=list(wanted),
            column_types={w: pa.string() for w in wanted},
            strings_can_be_null=False,
            # Arrow strings and a LineText are valid UTF-8 already
            check_utf8=False,
        ),
    )
    return {w: table.column(w).combine_chunks() for w in wanted}, refused


def delimited(
    lines: pa.Array | LineText, *, names: list[str], wanted: Sequence[str], delimiter: str
) -> tuple[dict[str, pa.Array], pa.Array]:
    """:func:`delimited_rows` laid out over every line: which lines had exactly
    ``names`` fields; a line with another count is null in every column.
    """
    values, refused = delimited_rows(lines, names=names, wanted=wanted, delimiter=delimiter)
    good = np.ones(len(lines), dtype=bool)
    if not refused:
        return values, pa.array(good)
    good[refused] = False
    # row i's value ends where the good rows up to and including i end
    ends = np.concatenate(([0], np.cumsum(good, dtype=np.int64)))
    return {w: _spread(values[w], good, ends) for w in wanted}, pa.array(good)


def group(fields: pa.Array, name: str) -> pa.Array:
    """A named group of :func:`pyarrow.compute.extract_regex`'s result: null where
    the line did not match or the optional group took no part in the match."""
    values = pc.struct_field(fields, name)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def url_path(target: pa.Array) -> pa.Array:
    """The path of a request target; the query string and fragment are never carried."""
    return pc.extract_regex(target, r"^(?P<p>[^?#]*)").field("p")


def login_category(method: pa.Array, path: pa.Array, *, otherwise: str) -> pa.Array:
    """``authentication`` for a POST to a login endpoint, ``otherwise`` for the rest."""
    posts = pc.fill_null(pc.equal(method, "POST"), False)
    # the path is looked at for POSTs only (a few of all requests)
    posted = pc.if_else(posts, path, pa.scalar(None, pa.string()))
    is_login = pc.fill_null(pc.match_substring_regex(posted, _LOGIN_PATH), False)
    return pc.if_else(is_login, "authentication", otherwise)


def question_name(names: pa.Array) -> pa.Array:
    """A queried name in lower case without its final dot.

    For a reverse lookup only the zone is kept (``in-addr.arpa``,
    ``ip6.arpa``): the address it names never leaves its owner in clear.
    """
    lowered = pc.utf8_lower(pc.utf8_rtrim(names, characters="."))
    return pc.replace_substring_regex(lowered, r"^.*\.(in-addr|ip6)\.arpa$", r"\1.arpa")


_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"


def _iso_or_none(value: str | None) -> datetime.datetime | None:
    try:
        return None if value is None else datetime.datetime.fromisoformat(value)
    except ValueError:
        return None


def iso_time(values: pa.Array) -> pa.Array:
    """RFC 3339 times with an offset (``…T09:15:32.123456+01:00``) as UTC; null elsewhere."""
    shaped = pc.fill_null(pc.match_substring_regex(values, _ISO), False)
    candidates = pc.if_else(shaped, values, pa.scalar(None, pa.string()))
    try:
        return pc.cast(candidates, pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:  # a well-shaped but impossible date: read one by one
        return pa.array(
            [_iso_or_none(v) for v in candidates.to_pylist()], pa.timestamp("us", tz="UTC")
        )


#: The time at the head of a syslog line: BSD (``Nov 22 10:15:32``, local, no
#: year) or RFC 3339 (rsyslog's high-precision form); read by :func:`syslog_time`.
SYSLOG_STAMP = (
    r"(?:(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<clock>\d\d:\d\d:\d\d)"
    r"|(?P<iso>\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)))"
)


def syslog_time(head: pa.Array, context: ParseContext) -> pa.Array:
    """UTC times of lines matched with :data:`SYSLOG_STAMP`; null where unreadable."""
    iso = group(head, "iso")
    return pc.if_else(
        pc.is_valid(iso),
        iso_time(iso),
        pc.cast(
            rfc3164_time(group(head, "mon"), group(head, "day"), group(head, "clock"), context),
            pa.timestamp("us", tz="UTC"),
        ),
    )


def _seconds(stamp: pa.Array) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` (or with a ``T``) as naive times, null where unreadable."""
    if pc.min_max(pc.binary_length(stamp)).as_py() == {"min": 19, "max": 19}:
        # Arrow's own ISO 8601 reader, several times faster than strptime; it
        # refuses the whole column at one bad value, and takes the 19 characters
        # of exactly these two forms only (an offset or a fraction is longer)
        try:
            return pc.cast(stamp, pa.timestamp("us"))
        except pa.ArrowInvalid:
            pass
    return pc.strptime(
        pc.replace_substring(stamp, "T", " "),
        format="%Y-%m-%d %H:%M:%S",
        unit="us",
        error_is_null=True,
    )


def local_stamp(stamp: pa.Array, fraction: pa.Array | None, context: ParseContext) -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` local times (and their fraction, if the format has
    one) as UTC; null where unreadable."""
    local = _seconds(stamp)
    utc = local_time(local, context)
    if fraction is not None:
        micros = pc.utf8_slice_codeunits(pc.utf8_rpad(pc.fill_null(fraction, "0"), 6, "0"), 0, 6)
        utc = pc.add(utc, pc.cast(to_int(micros), pa.duration("us")))
    return pc.if_else(pc.is_valid(local), pc.cast(utc, _UTC_US), pa.scalar(None, _UTC_US))


def rfc3164_time(
    month: pa.Array, day: pa.Array, clock: pa.Array, context: ParseContext
) -> pa.Array:
    """A BSD syslog time (``Dec 10 06:55:48``, local, no year) as UTC.

    RFC 3164 has no year: the latest year that does not put the line more than
    a day in the future of ``context.now`` is taken.
    """
    now = context.now or datetime.datetime.now(datetime.UTC)
    stamps = pc.binary_join_element_wise(month, pc.utf8_lpad(day, 2, "0"), clock, " ")

    def at(year: int) -> pa.Array:
        local = pc.strptime(
            pc.binary_join_element_wise(str(year), stamps, " "),
            format="%Y %b %d %H:%M:%S",
            unit="us",
            error_is_null=True,
        )
        return local_time(local, context)

    this_year = at(now.year)
    limit = pa.scalar(now + datetime.timedelta(days=1), pa.timestamp("us", tz="UTC"))
    return pc.if_else(pc.greater(this_year, limit), at(now.year - 1), this_year)
