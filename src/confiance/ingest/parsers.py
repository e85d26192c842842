"""One parser per log format, all columnar: a regular expression applied to a
whole Arrow array of lines at once, then vectorised conversions.

A parser returns the normalised table of the lines it could read and, for
every other line, its position and the reason (which field failed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from confiance.errors import IngestError
from confiance.events import OcsfClass
from confiance.ingest.columns import (
    IGNORED,
    PLAIN,
    SYSLOG_STAMP,
    BadRows,
    Framing,
    LineText,
    ParseContext,
    Parser,
    Rows,
    common,
    dash_to_null,
    delimited_rows,
    group,
    local_stamp,
    local_time,
    question_name,
    syslog_time,
    to_float,
    to_int,
    valid_ips,
)
from confiance.ingest.mail import DmarcAggregate, PostfixSyslog
from confiance.ingest.netfilter import NetfilterLog
from confiance.ingest.search import extract_search_terms
from confiance.ingest.sso import CasAudit, ShibbolethAudit, ShibbolethProcess, shibboleth_fields
from confiance.ingest.syslog import DEFAULT_ROUTES, SyslogMessages
from confiance.ingest.unbound import UnboundLog
from confiance.ingest.weblog import AccessLog, compile_log_format
from confiance.ingest.zeek import ZeekConn, ZeekDns, ZeekHttp

__all__ = ["IGNORED", "PARSERS", "ParseContext", "Parser", "parser_for"]


class SquidNative:
    framing = PLAIN
    name = "squid"
    description = "Squid native access.log"
    sample = (
        "1789370531.112    187 10.3.14.22 TCP_MISS/200 18234 GET "
        "http://www.education.gouv.fr/ - HIER_DIRECT/185.161.45.10 text/html"
    )
    _pattern = (
        r"^(?P<ts>\d{9,11}\.\d{1,3})\s+(?P<elapsed>-?\d+) (?P<client>\S+) "
        r"(?P<action>[A-Z_]+)/(?P<code>\d{3}) (?P<size>\d+) (?P<method>[A-Z_]+) (?P<url>\S+) "
        r"(?P<user>\S+) (?P<hier>[A-Z_]+)/(?P<peer>\S+) (?P<ctype>\S+)\s*$"
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        fields = pc.extract_regex(lines, self._pattern)
        rows = Rows(len(lines))
        rows.require(fields.is_valid(), f"does not match the {self.name} format")
        client = fields.field("client")
        rows.require(valid_ips(client), "field source.ip: not an IP address")
        seconds = to_float(fields.field("ts"))
        time = pc.cast(pc.multiply(seconds, 1_000_000.0), pa.int64(), safe=False)
        peer = fields.field("peer")
        url = fields.field("url")
        parts = pc.extract_regex(
            url, r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?P<host>[^/:?#]*)(?::\d+)?(?P<path>/[^?#]*)?"
        )
        status = to_int(fields.field("code"), pa.int32())
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.HTTP_ACTIVITY, category="web"
        ) | {
            "@timestamp": pc.cast(time, pa.timestamp("us", tz="UTC")),
            "event.action": fields.field("action"),
            "event.outcome": pc.if_else(pc.less(status, 400), "success", "failure"),
            "user.name": dash_to_null(fields.field("user")),
            "source.ip": client,
            "destination.ip": pc.if_else(valid_ips(peer), peer, pa.scalar(None, pa.string())),
            "http.request.method": fields.field("method"),
            "http.response.status_code": status,
            "destination.bytes": to_int(fields.field("size")),
            "event.duration": pc.multiply(to_int(fields.field("elapsed")), 1_000_000),
            "url.domain": pc.utf8_lower(parts.field("host")),
            "url.path": parts.field("path"),
            "url.search_terms": extract_search_terms(url),
        }
        columns.update(context.geo.columns(rows.only_good(client)))
        return rows.finish(columns)


def nfdump_trailer(raw_lines: list[bytes]) -> int:
    """Index where nfdump's closing statistics begin, or len(raw_lines) if absent.

    Only the exact trailer at the very end counts: ``Summary``, the statistics
    header, one line of values; or a final ``No matching flows``. A look-alike
    elsewhere is data and is parsed (or quarantined), never skipped.
    """
    body = [line.rstrip(b"\r") for line in raw_lines]
    while body and not body[-1].strip():
        body.pop()
    if len(body) >= 3 and body[-3] == b"Summary" and body[-2].startswith(b"flows,"):
        return len(body) - 3
    if body and body[-1] == b"No matching flows":
        return len(body) - 1
    return len(raw_lines)


_NFDUMP_PROTOCOLS = {
    "TCP": "tcp",
    "UDP": "udp",
    "ICMP": "icmp",
    "ICMP6": "ipv6-icmp",
    "6": "tcp",
    "17": "udp",
    "1": "icmp",
    "58": "ipv6-icmp",
}
#: nfdump 1.7.5 and later name the columns of ``-o csv`` (and ``-o csv:%ts,…``)
#: after the fields: the names of 1.7.1 and earlier they stand for
_NFDUMP_NAMES = {
    "firstSeen": "ts",
    "lastSeen": "te",
    "duration": "td",
    "proto": "pr",
    "srcAddr": "sa",
    "dstAddr": "da",
    "srcPort": "sp",
    "dstPort": "dp",
    "flags": "flg",
    "packets": "ipkt",
    "inPackets": "ipkt",
    "bytes": "ibyt",
    "inBytes": "ibyt",
    "outPackets": "opkt",
    "outBytes": "obyt",
    "flows": "fl",
}


class NfdumpCsv:
    """``nfdump -o csv``: a header line names the columns (1.7.1's ``ts,te,td,sa,…``
    or 1.7.5's ``firstSeen,duration,proto,srcAddr,…``); a Summary trailer may follow."""

    framing = Framing(header_first_line=True, trailer=nfdump_trailer, text=True)
    name = "nfdump-csv"
    description = "NetFlow/IPFIX records exported by nfdump -o csv (1.7.1 or 1.7.5+ header)"
    sample = (
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,...\n"
        "2026-09-14 08:00:01,2026-09-14 08:00:02,0.412,10.3.14.22,172.16.0.10,51514,443,TCP,"
        ".AP.SF,0,0,12,4512,0,0,..."
    )
    required = ("ts", "sa", "da", "sp", "dp", "pr", "ipkt", "ibyt")
    #: read when present: nfdump 1.7.5's default output has no TCP flags
    optional = ("td", "flg")

    def header_names(self, header: str) -> list[str]:
        """The header's columns under 1.7.1's names (the first of two that mean the same)."""
        names, seen = [], set()
        for position, raw in enumerate(header.strip().split(",")):
            name = _NFDUMP_NAMES.get(raw.strip(), raw.strip())
            names.append(name if name not in seen else f"{name}#{position}")
            seen.add(name)
        missing = [c for c in self.required if c not in names]
        if missing:
            raise IngestError(f"nfdump CSV header lacks column(s) {', '.join(missing)}")
        return names

    def parse(
        self, lines: pa.Array | LineText, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        if header is None:
            raise IngestError("nfdump CSV needs its header line")
        names = self.header_names(header)
        wanted = [*self.required, *(c for c in self.optional if c in names)]
        # the rows are the lines with the header's field count
        values, refused = delimited_rows(lines, names=names, wanted=wanted, delimiter=",")
        n = len(lines) - len(refused)
        for absent in self.optional:
            values.setdefault(absent, pa.nulls(n, pa.string()))
        rows = Rows(n, refused=refused, reason=f"does not match the {self.name} header")
        ts = values["ts"]
        if pc.min_max(pc.binary_length(ts)).as_py() == {"min": 19, "max": 19}:
            time = local_stamp(ts, None, context)  # no fraction
        else:
            stamp = pc.extract_regex(ts, r"^(?P<s>[0-9-]+ [0-9:]+)(?:\.(?P<f>\d{1,6}))?$")
            time = local_stamp(group(stamp, "s"), group(stamp, "f"), context)
        rows.require(time.is_valid(), "field @timestamp: unparseable time")
        sa, da = values["sa"], values["da"]
        # checked and located once per distinct source address
        sources = pc.dictionary_encode(sa)
        rows.require(valid_ips(sources), "field source.ip: not an IP address")
        rows.require(valid_ips(da), "field destination.ip: not an IP address")
        proto = pc.utf8_upper(pc.utf8_trim_whitespace(values["pr"]))
        transport = pc.fill_null(
            pc.take(
                pa.array(list(_NFDUMP_PROTOCOLS.values()), pa.string()),
                pc.index_in(proto, value_set=pa.array(list(_NFDUMP_PROTOCOLS), pa.string())),
            ),
            pc.utf8_lower(proto),
        )
        sp, dp = to_int(values["sp"], pa.int32()), to_int(values["dp"], pa.int32())
        # an ICMP flow's "port" is its type.code: no port, and no error
        icmp = pc.fill_null(pc.is_in(transport, pa.array(["icmp", "ipv6-icmp"])), False)
        if pc.any(icmp).as_py():
            icmp = pc.and_(
                icmp, pc.fill_null(pc.match_substring_regex(values["dp"], r"^\d+\.\d+$"), False)
            )
        rows.require(sp.is_valid(), "field source.port: not a port")
        rows.require(pc.or_(dp.is_valid(), icmp), "field destination.port: not a port")
        duration = pc.cast(
            pc.multiply(to_float(values["td"]), 1e9),
            pa.int64(),
            safe=False,
        )
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.NETWORK_ACTIVITY, category="network"
        ) | {
            "@timestamp": time,
            "event.action": values["flg"],
            "source.ip": sa,
            "source.port": sp,
            "destination.ip": da,
            "destination.port": dp,
            "network.transport": transport,
            "network.packets": to_int(values["ipkt"]),
            "source.bytes": to_int(values["ibyt"]),
            "event.duration": duration,
        }
        columns.update(context.geo.columns(sources))
        return rows.finish(columns)


class KeycloakJson:
    """Keycloak events as JSON objects, one per line (the admin events API form)."""

    framing = PLAIN
    name = "keycloak-json"
    description = "Keycloak login events, JSON lines"
    sample = (
        '{"time":1789369331000,"type":"LOGIN_ERROR","realmId":"ent","clientId":"ent-portail",'
        '"ipAddress":"193.48.10.4","error":"invalid_user_credentials",'
        '"details":{"username":"lea.bernard","auth_method":"openid-connect"}}'
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        times: list[int | None] = []
        kinds: list[str | None] = []
        clients: list[str | None] = []
        users: list[str | None] = []
        ips: list[str | None] = []
        bad: BadRows = []
        for position, line in enumerate(lines.to_pylist()):
            record = self._record(line)
            if isinstance(record, str):
                bad.append((position, record))
                record = (None, None, None, None, None)
            t, k, c, u, i = record
            times.append(t)
            kinds.append(k)
            clients.append(c)
            users.append(u)
            ips.append(i)
        ip_array = pa.array(ips, pa.string())
        rows = Rows(len(lines))
        rows.reject(bad)
        rows.require(valid_ips(ip_array), "field source.ip (ipAddress): not an IP address")
        kind_array = pa.array(kinds, pa.string())
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.AUTHENTICATION, category="authentication"
        ) | {
            "@timestamp": pc.cast(
                pc.multiply(pa.array(times, pa.int64()), 1000), pa.timestamp("us", tz="UTC")
            ),
            "event.action": kind_array,
            "event.outcome": pc.if_else(pc.ends_with(kind_array, "_ERROR"), "failure", "success"),
            "service.name": pa.array(clients, pa.string()),  # the Keycloak client
            "user.name": pa.array(users, pa.string()),
            "source.ip": ip_array,
        }
        columns.update(context.geo.columns(rows.only_good(ip_array)))
        return rows.finish(columns)

    @staticmethod
    def _record(
        line: str,
    ) -> tuple[int | None, str | None, str | None, str | None, str | None] | str:
        if "JSON_EVENT::" in line:
            line = line.split("JSON_EVENT::", 1)[1]
        try:
            event = json.loads(line)
        except ValueError:
            return "not a JSON object"
        if not isinstance(event, dict):
            return "not a JSON object"
        time = event.get("time")
        if not isinstance(time, int) or time <= 0:
            return "field time: missing or not epoch milliseconds"
        kind = event.get("type")
        if not isinstance(kind, str) or not kind:
            return "field type: missing"
        raw_details = event.get("details")
        details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
        user = details.get("username") or event.get("userId")
        ip = event.get("ipAddress")
        if not isinstance(ip, str):
            return "field ipAddress: missing"
        return (
            time,
            kind,
            str(event.get("clientId")) if event.get("clientId") else None,
            str(user) if user else None,
            ip,
        )


class OpensshSyslog:
    """sshd authentication outcomes in a syslog file (BSD times without a year, or RFC 3339)."""

    framing = PLAIN
    name = "openssh"
    description = "OpenSSH sshd lines of a syslog file (auth.log, secure)"
    sample = (
        "Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from "
        "119.137.62.142 port 49116 ssh2"
    )
    # OpenSSH 9.8 and later log authentication as sshd-session; a renamed
    # instance (sshd-dmz) is read too
    _header = "^" + SYSLOG_STAMP + r" (?P<host>\S+) sshd[\w.-]*(?:\[\d+\])?: (?P<msg>.*)$"
    _outcome = (
        r"^(?P<verb>Failed|Accepted) (?P<method>\S+) for (?:invalid user )?"
        # a user name may hold spaces (attackers try anything): up to " from <ip> port"
        r"(?P<user>.*?) from (?P<ip>\S+) port (?P<port>\d+)"
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        head = pc.extract_regex(lines, self._header)
        rows = Rows(len(lines))
        rows.require(head.is_valid(), "not an sshd syslog line")
        body = pc.extract_regex(head.field("msg"), self._outcome)
        rows.require(body.is_valid(), IGNORED + "sshd line that records no authentication outcome")
        time = syslog_time(head, context)
        rows.require(pc.is_valid(time), "field @timestamp: not a date")
        ip = body.field("ip")
        rows.require(valid_ips(ip), "field source.ip: not an IP address")
        success = pc.equal(body.field("verb"), "Accepted")
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.AUTHENTICATION, category="authentication"
        ) | {
            "@timestamp": time,
            "event.action": pc.binary_join_element_wise("ssh_", body.field("method"), ""),
            "event.outcome": pc.if_else(success, "success", "failure"),
            "user.name": pc.if_else(
                pc.equal(body.field("user"), ""), pa.scalar(None, pa.string()), body.field("user")
            ),
            "source.ip": ip,
            "source.port": to_int(body.field("port"), pa.int32()),
        }
        columns.update(context.geo.columns(rows.only_good(ip)))
        return rows.finish(columns)


class BindQuerylog:
    """BIND 9 query log (``querylog yes``; a file channel with ``print-time``).

    Reverse lookups (``…in-addr.arpa``, ``…ip6.arpa``) name an address: only
    the zone is kept, the address never leaves its owner in clear.
    """

    framing = PLAIN
    name = "bind-querylog"
    description = "BIND 9 query log lines (querylog channel with print-time)"
    sample = (
        "22-Nov-2026 10:15:32.123 client @0x7fa0d607f200 10.3.14.22#63565 (example.org): "
        "query: example.org IN A +E(0)K (10.3.0.53)"
    )
    _pattern = (
        r"^(?P<ts>\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2})\.(?P<ms>\d{3}) "
        r"(?:queries: [a-z]+: )?client (?:@0x[0-9a-f]+ )?(?P<client>[0-9A-Fa-f.:]+)#(?P<port>\d+)"
        r"(?: \([^)]*\))?: (?:view [^:]+: )?query: (?P<qname>\S+) (?P<qclass>[A-Z0-9]+) "
        r"(?P<qtype>[A-Z0-9]+) (?P<flags>\S+) \((?P<server>[^)]+)\)"
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        fields = pc.extract_regex(lines, self._pattern)
        rows = Rows(len(lines))
        rows.require(fields.is_valid(), "does not match the bind-querylog format")
        client = fields.field("client")
        rows.require(valid_ips(client), "field source.ip: not an IP address")
        local = pc.strptime(
            fields.field("ts"), format="%d-%b-%Y %H:%M:%S", unit="us", error_is_null=True
        )
        rows.require(pc.is_valid(local), "field @timestamp: not a date")
        stamp = pc.add(
            local_time(local, context),
            pc.cast(pc.multiply(to_int(fields.field("ms")), 1000), pa.duration("us")),
        )
        qname = question_name(fields.field("qname"))
        server = fields.field("server")
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.DNS_ACTIVITY, category="network"
        ) | {
            "@timestamp": stamp,
            "event.action": pa.array(["dns-query"] * n, pa.string()),
            "source.ip": client,
            "source.port": to_int(fields.field("port"), pa.int32()),
            "destination.ip": pc.if_else(valid_ips(server), server, pa.scalar(None, pa.string())),
            "dns.question.name": qname,
            "dns.question.type": fields.field("qtype"),
        }
        columns.update(context.geo.columns(rows.only_good(client)))
        return rows.finish(columns)


PARSERS: dict[str, Parser] = {
    p.name: p
    for p in (
        KeycloakJson(),
        AccessLog(),
        SquidNative(),
        NfdumpCsv(),
        OpensshSyslog(),
        ZeekConn(),
        ZeekDns(),
        ZeekHttp(),
        PostfixSyslog(),
        DmarcAggregate(),
        BindQuerylog(),
        UnboundLog(),
        NetfilterLog(),
        CasAudit(),
        ShibbolethAudit(),
        ShibbolethProcess(),
    )
}
SYSLOG = SyslogMessages(PARSERS, DEFAULT_ROUTES)
PARSERS["syslog"] = SYSLOG


#: the options a format takes, each with the function that checks its value
OPTIONS: dict[str, dict[str, Callable[[str], object]]] = {
    "apache-combined": {"log_format": compile_log_format},
    "shibboleth-audit": {"log_format": shibboleth_fields},
    "syslog": {"routes": SYSLOG.parse_routes},
}


def check_options(name: str, options: Mapping[str, str]) -> None:
    """Refuse an option the format does not take, or a value it cannot use."""
    known = OPTIONS.get(name, {})
    for key, value in options.items():
        if key not in known:
            takes = ", ".join(sorted(known)) or "none"
            raise IngestError(f"format {name}: unknown option {key!r} (it takes: {takes})")
        try:
            known[key](value)
        except ValueError as exc:
            raise IngestError(f"format {name}: option {key}: {exc}") from None


def parser_for(name: str) -> Parser:
    try:
        return PARSERS[name]
    except KeyError:
        known = ", ".join(sorted(PARSERS))
        raise IngestError(f"unknown format {name!r} (known: {known})") from None
