"""Syslog as a stream of messages from many programs: RFC 5424 and RFC 3164
messages (with or without their ``<PRI>``), one per line, each read by the
parser of the program that wrote it.

The same reader serves a mixed syslog file (``/var/log/syslog``,
``/var/log/messages``, a file rsyslog writes in RFC 5424) and the lines the
syslog receiver spools. A message is brought to the syslog-file form the
program parsers read (``TIME HOST PROGRAM[PID]: MESSAGE``, an RFC 5424 time
kept as its RFC 3339 text), then routed by program name: ``sshd`` to
``openssh``, ``kernel`` to ``netfilter``, ``postfix/…`` to ``postfix``,
``unbound`` to ``unbound``. A message of another program is counted as
ignored under its program's name, never dropped unseen.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from confiance.events import empty_table
from confiance.ingest.columns import (
    IGNORED,
    PLAIN,
    SYSLOG_STAMP,
    BadRows,
    ParseContext,
    Parser,
    Rows,
    group,
    iso_time,
)

#: program name (or ``name/…`` for a family such as Postfix's) → format
DEFAULT_ROUTES: Mapping[str, str] = {
    "sshd": "openssh",
    "sshd-session": "openssh",  # OpenSSH 9.8 and later
    "kernel": "netfilter",
    "postfix": "postfix",
    "unbound": "unbound",
}

_PRI = r"<(?P<pri>\d{1,3})>"
#: RFC 5424 §6: VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG];
#: a structured-data value may hold escaped quotes and brackets
_RFC5424 = (
    r"1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r'(?P<sd>-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: \x{FEFF}?(?P<msg>.*))?'
)
_MESSAGE = rf"^(?:{_PRI})?(?:{_RFC5424}|(?P<bsd>.*))$"
#: a syslog-file line: time, host, then the program's tag
_LINE = "^" + SYSLOG_STAMP + r" \S+ (?P<program>[^\s\[:]+)"
#: the start of a message that carries its own time and host (RFC 5424 with a
#: time, RFC 3164, or RFC 3339 in the legacy layout rsyslog forwards)
_HAS_HEADER = r"^(?:<\d{1,3}>)?(?:1 \S+ \S+ |" + SYSLOG_STAMP + r" \S+ )"
_NIL_TIME = r"^(<\d{1,3}>1 )- "


def escape_controls(messages: pa.Array) -> pa.Array:
    """Line breaks and NULs inside a message written as rsyslog writes them
    (``#012``, ``#015``, ``#000``), so that one message stays one line."""
    for char, code in (("\n", "#012"), ("\r", "#015"), ("\x00", "#000")):
        messages = pc.replace_substring(messages, char, code)
    return messages


def relay_lines(messages: pa.Array, peers: pa.Array, *, received: datetime.datetime) -> pa.Array:
    """Received messages as spool lines: a message without its own time (an
    RFC 5424 nil time, an RFC 3164 message without header) gets the time it
    was received and the sender's address, as RFC 3164 §4.3.3 asks of a relay."""
    stamp = received.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    messages = escape_controls(messages)
    messages = pc.replace_substring_regex(messages, _NIL_TIME, rf"\1{stamp} ")
    headed = pc.fill_null(pc.match_substring_regex(messages, _HAS_HEADER), False)
    if pc.all(headed).as_py():
        return messages
    split = pc.extract_regex(messages, r"^(?P<pri>(?:<\d{1,3}>)?)(?P<rest>.*)$")
    prefixed = pc.binary_join_element_wise(
        pc.struct_field(split, "pri"), f"{stamp} ", peers, " ", pc.struct_field(split, "rest"), ""
    )
    return pc.if_else(headed, messages, prefixed)


class SyslogMessages:
    """A syslog stream of many programs, each message read by its program's parser."""

    framing = PLAIN
    name = "syslog"
    description = (
        "syslog messages of many programs (RFC 5424 or RFC 3164; /var/log/syslog, "
        "the syslog receiver), each read by its program's parser"
    )
    sample = (
        "<38>1 2026-11-22T10:15:32.123456+01:00 bastion sshd 24680 - - Failed password "
        "for root from 203.0.113.9 port 52211 ssh2"
    )

    def __init__(self, parsers: Mapping[str, Parser], routes: Mapping[str, str]) -> None:
        missing = sorted(set(routes.values()) - set(parsers))
        if missing:
            raise ValueError(f"syslog routes name unknown formats: {', '.join(missing)}")
        self.parsers = parsers
        self.routes = dict(routes)

    def route(self, program: str, routes: Mapping[str, str] | None = None) -> str | None:
        """The format of a program's messages (``postfix/smtpd`` is Postfix's)."""
        table = self.routes if routes is None else routes
        return table.get(program) or table.get(program.split("/", 1)[0])

    def parse_routes(self, text: str) -> dict[str, str]:
        """The ``routes`` option (``named=bind-querylog,sshd-dmz=openssh``) over the defaults."""
        routes = dict(self.routes)
        for item in filter(None, (part.strip() for part in text.split(","))):
            program, sep, fmt = item.partition("=")
            if not sep or not program.strip() or fmt.strip() not in self.parsers:
                raise ValueError(f"route {item!r}: expected PROGRAM=FORMAT with a known format")
            if fmt.strip() == self.name:
                raise ValueError(f"route {item!r}: a program cannot be routed to syslog itself")
            routes[program.strip()] = fmt.strip()
        return routes

    def lines(self, messages: pa.Array) -> tuple[pa.Array, BadRows]:
        """Messages in the syslog-file form (null where unreadable), and
        (position, reason) of the unreadable ones."""
        fields = pc.extract_regex(messages, _MESSAGE)
        rows = Rows(len(messages))
        rows.require(
            pc.less_equal(pc.fill_null(pc.cast(group(fields, "pri"), pa.int32()), 0), 191),
            "field PRI: above 191 (RFC 5424 §6.2.1)",
        )
        ts = group(fields, "ts")
        rfc5424 = pc.is_valid(ts)
        time = iso_time(ts)
        rows.require(
            pc.or_(pc.invert(rfc5424), pc.is_valid(time)), "field TIMESTAMP: not an RFC 3339 time"
        )
        procid = group(fields, "procid")
        tag = pc.if_else(
            pc.fill_null(pc.not_equal(procid, "-"), False),
            pc.binary_join_element_wise(group(fields, "app"), "[", procid, "]", ""),
            group(fields, "app"),
        )
        converted = pc.binary_join_element_wise(
            ts,  # checked above; its offset is read again by the program parsers
            " ",
            group(fields, "host"),
            " ",
            tag,
            ": ",
            pc.fill_null(group(fields, "msg"), ""),
            "",
        )
        lines = pc.if_else(rfc5424, converted, pc.fill_null(pc.struct_field(fields, "bsd"), ""))
        headed = pc.match_substring_regex(lines, _LINE)
        rows.require(headed, "no syslog header (time, host, program)")
        return rows.only_good(lines), rows.bad

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        normalised, bad = self.lines(lines)
        program = group(pc.extract_regex(normalised, _LINE), "program")
        names = pc.unique(program).drop_null().to_pylist()
        given = context.options.get("routes")
        routes = self.routes if given is None else self.parse_routes(given)
        formats = {name: self.route(name, routes) for name in names}
        tables = [empty_table()]
        for fmt in sorted({f for f in formats.values() if f is not None}):
            chosen = [name for name, f in formats.items() if f == fmt]
            where = pc.fill_null(pc.is_in(program, pa.array(chosen, pa.string())), False)
            positions = np.flatnonzero(where.to_numpy(zero_copy_only=False))
            table, sub_bad = self.parsers[fmt].parse(
                normalised.take(pa.array(positions)), context=context
            )
            tables.append(table)
            bad.extend((int(positions[i]), reason) for i, reason in sub_bad)
        unread = pa.array([name for name, target in formats.items() if target is None], pa.string())
        where = pc.fill_null(pc.is_in(program, unread), False)
        positions = np.flatnonzero(where.to_numpy(zero_copy_only=False))
        for i, name in zip(positions, program.take(pa.array(positions)).to_pylist(), strict=True):
            bad.append((int(i), IGNORED + f"message of {name}, a program no parser reads"))
        return pa.concat_tables(tables), sorted(bad)
