"""Packets logged by the Linux firewall: iptables' ``LOG`` target and nftables'
``log`` statement, as the kernel writes them to syslog.

Both print the same ``KEY=value`` list after the rule's prefix
(``… kernel: [ 8123.4567] FW-DROP: IN=eth0 OUT= MAC=… SRC=… DST=… LEN=60 …
PROTO=TCP SPT=51514 DPT=22 … SYN URGP=0``). One event per packet; the prefix
becomes ``rule.name``, and a prefix naming a drop, reject or deny makes the
outcome a failure; the TCP flags are written as nfdump writes them
(``....S.``) so that the port-scan and flood detections read firewall logs as
they read flows. MAC addresses are never carried.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from confiance.events import OcsfClass
from confiance.ingest.columns import (
    IGNORED,
    PLAIN,
    SYSLOG_STAMP,
    BadRows,
    ParseContext,
    Rows,
    common,
    group,
    syslog_time,
    to_int,
    valid_ips,
)

#: TCP flags in nfdump's order and letters (``UAPRSF``, a dot where unset), so
#: that firewall packets and flow records meet the same flow detections
_TCP_FLAGS = (("URG", "U"), ("ACK", "A"), ("PSH", "P"), ("RST", "R"), ("SYN", "S"), ("FIN", "F"))


class NetfilterLog:
    framing = PLAIN
    name = "netfilter"
    description = "iptables LOG / nftables log packet lines of a syslog file (kern.log)"
    sample = (
        "Nov 22 10:15:32 fw1 kernel: [ 8123.456789] FW-DROP: IN=eth0 OUT= "
        "MAC=00:16:3e:5a:01:02:00:16:3e:5a:01:03:08:00 SRC=203.0.113.5 DST=10.3.0.1 LEN=60 "
        "TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51514 DPT=22 WINDOW=29200 "
        "RES=0x00 SYN URGP=0"
    )
    _header = (
        "^"
        + SYSLOG_STAMP
        + r" \S+ (?P<program>[\w./-]+)(?:\[\d+\])?: (?:\[ *\d+\.\d+\] )?(?P<msg>.*)$"
    )
    _packet = r"^(?P<prefix>.*?) ?IN=(?P<in>\S*) OUT=(?P<out>\S*) (?P<rest>.*)$"

    @staticmethod
    def _value(rest: pa.Array, key: str) -> pa.Array:
        return group(pc.extract_regex(rest, rf"(?:^| ){key}=(?P<v>\S+)"), "v")

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        head = pc.extract_regex(lines, self._header)
        rows = Rows(len(lines))
        rows.require(head.is_valid(), "not a syslog line")
        packet = pc.extract_regex(group(head, "msg"), self._packet)
        rows.require(
            pc.and_(pc.equal(group(head, "program"), "kernel"), packet.is_valid()),
            IGNORED + "line that logs no packet",
        )
        stamp = syslog_time(head, context)
        rows.require(pc.is_valid(stamp), "field @timestamp: unparseable time")
        rest = group(packet, "rest")
        src, dst = self._value(rest, "SRC"), self._value(rest, "DST")
        rows.require(valid_ips(src), "field source.ip (SRC): not an IP address")
        rows.require(valid_ips(dst), "field destination.ip (DST): not an IP address")
        proto = self._value(rest, "PROTO")
        prefix = pc.utf8_trim(pc.fill_null(group(packet, "prefix"), ""), characters=" :")
        verdict = pc.utf8_lower(prefix)
        flags = [
            pc.if_else(pc.match_substring_regex(rest, rf"(?:^| ){word}(?: |$)"), letter, ".")
            for word, letter in _TCP_FLAGS
        ]
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.NETWORK_ACTIVITY, category="network"
        ) | {
            "@timestamp": pc.fill_null(stamp, pa.scalar(0, stamp.type)),
            "event.action": pc.binary_join_element_wise(*flags, ""),
            "rule.name": pc.if_else(pc.equal(prefix, ""), pa.scalar(None, pa.string()), prefix),
            "event.outcome": pc.case_when(
                pc.make_struct(
                    pc.match_substring_regex(verdict, r"drop|reject|deny|block"),
                    pc.match_substring_regex(verdict, r"accept|allow|pass"),
                ),
                "failure",
                "success",
                "unknown",
            ),
            "source.ip": src,
            "source.port": to_int(self._value(rest, "SPT"), pa.int32()),
            "destination.ip": dst,
            "destination.port": to_int(self._value(rest, "DPT"), pa.int32()),
            "network.transport": pc.utf8_lower(proto),
            "network.packets": pa.repeat(pa.scalar(1, pa.int64()), n),
            "source.bytes": to_int(self._value(rest, "LEN")),
        }
        columns.update(context.geo.columns(rows.only_good(src)))
        return rows.finish(columns)
