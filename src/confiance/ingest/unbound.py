"""Unbound's query and reply logs (``log-queries`` / ``log-replies``).

Unbound writes the same message in three envelopes: its own log file
(``[1790000000] unbound[812:0] info: …``, epoch seconds), the same with
``log-time-ascii: yes`` (``Nov 22 10:15:32 unbound[812:0] info: …``), and
syslog (``Nov 22 10:15:32 resolver unbound: [812:0] info: …``, or an RFC 3339
time from rsyslog). The message of a query is ``CLIENT NAME TYPE CLASS``; a
reply adds ``RCODE SECONDS CACHED SIZE`` (the order of Unbound's
``log_reply_info``). Unbound's other lines (start, stop, statistics) are
counted as ignored.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from confiance.events import OcsfClass
from confiance.ingest.columns import (
    IGNORED,
    PLAIN,
    BadRows,
    ParseContext,
    Rows,
    common,
    group,
    question_name,
    syslog_time,
    to_int,
    valid_ips,
)

_THREAD = r"\[\d+:[0-9a-f]+\]"


class UnboundLog:
    framing = PLAIN
    name = "unbound"
    description = "Unbound resolver query/reply log (log-queries, log-replies), file or syslog"
    sample = (
        "[1790064932] unbound[812:0] info: 10.3.14.22 www.example.org. A IN NOERROR 0.000000 1 49"
    )
    _header = (
        r"^(?:\[(?P<epoch>\d{9,11})\] unbound" + _THREAD + r"|(?P<mon>[A-Z][a-z]{2}) +"
        r"(?P<day>\d{1,2}) (?P<clock>\d\d:\d\d:\d\d) (?:unbound" + _THREAD + r"|\S+ unbound"
        r"(?:\[\d+\])?: " + _THREAD + r")|(?P<iso>\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)) "
        r"\S+ unbound(?:\[\d+\])?: " + _THREAD + r") (?P<level>[a-z]+): (?P<msg>.*)$"
    )
    _message = (
        r"^(?P<client>[0-9A-Fa-f.:]+) (?P<qname>\S+) (?P<qtype>[A-Z0-9-]+) (?P<qclass>[A-Z0-9-]+)"
        r"(?: (?P<rcode>[A-Z]+) (?P<seconds>\d+\.\d+|-) (?P<cached>[01-]) (?P<size>\d+|-)"
        r"(?: .*)?)?$"
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        head = pc.extract_regex(lines, self._header)
        rows = Rows(len(lines))
        rows.require(head.is_valid(), "not an Unbound log line")
        body = pc.extract_regex(group(head, "msg"), self._message)
        rows.require(
            pc.and_(pc.equal(group(head, "level"), "info"), body.is_valid()),
            IGNORED + "Unbound line that records no query",
        )
        epoch = pc.cast(
            pc.multiply(to_int(group(head, "epoch")), 1_000_000), pa.timestamp("us", tz="UTC")
        )
        stamp = pc.coalesce(epoch, syslog_time(head, context))
        rows.require(pc.is_valid(stamp), "field @timestamp: unparseable time")
        client = group(body, "client")
        rows.require(valid_ips(client), "field source.ip: not an IP address")
        rcode = group(body, "rcode")
        qname = group(body, "qname")
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.DNS_ACTIVITY, category="network"
        ) | {
            "@timestamp": pc.fill_null(stamp, pa.scalar(0, stamp.type)),
            "event.action": pc.if_else(pc.is_null(rcode), "dns-query", "dns-reply"),
            "event.outcome": pc.case_when(
                pc.make_struct(pc.is_null(rcode), pc.equal(rcode, "NOERROR")),
                "unknown",
                "success",
                "failure",
            ),
            "source.ip": client,
            "dns.question.name": question_name(
                pc.if_else(pc.equal(qname, "-"), pa.scalar(None, pa.string()), qname)
            ),
            "dns.question.type": group(body, "qtype"),
            "dns.response_code": rcode,
            "destination.bytes": to_int(group(body, "size")),
        }
        columns.update(context.geo.columns(rows.only_good(client)))
        return rows.finish(columns)
