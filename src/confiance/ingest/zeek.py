"""Zeek logs (conn, dns, http), tab-separated under their ``#fields`` header or
as JSON lines: one reader for both layouts, one column mapping per log.
"""

from __future__ import annotations

import abc
import json
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from confiance.errors import IngestError
from confiance.events import OcsfClass
from confiance.ingest.columns import (
    BadRows,
    Framing,
    ParseContext,
    Rows,
    common,
    delimited,
    iso_time,
    login_category,
    outcome_from_status,
    question_name,
    to_float,
    to_int,
    url_path,
    valid_ips,
)
from confiance.ingest.search import extract_search_terms

#: Zeek's markers for an unset field, an empty container, and an empty string
_UNSET = pa.array(["-", "(empty)", ""], pa.string())


def _clean(column: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_in(column, value_set=_UNSET), pa.scalar(None, pa.string()), column)


class _ZeekLog(abc.ABC):
    """What every Zeek log shares: the two layouts, the time and the connection 4-tuple."""

    framing = Framing(metadata_prefix=b"#", header_prefix=b"#fields\t")
    name: str
    description: str
    sample: str
    ocsf: ClassVar[OcsfClass]
    category: ClassVar[str]
    #: the log's own fields this mapping reads, besides the connection's
    fields: ClassVar[tuple[str, ...]]
    #: fields of which every record of this log has at least one, and the other
    #: logs none: what tells a dns.log from a conn.log read by mistake
    signature: ClassVar[tuple[str, ...]]
    _connection = ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")

    @property
    def _wanted(self) -> tuple[str, ...]:
        return self._connection + self.fields

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        """TSV under its ``#fields`` header, or JSON lines when there is none."""
        values, valid = self._json(lines) if header is None else self._tsv(header, lines)
        rows = Rows(len(lines))
        rows.require(valid, f"does not match the {self.name} format")
        stamp = self._time(_clean(values["ts"]))
        rows.require(stamp.is_valid(), "field ts: not an epoch or ISO 8601 time")
        src, dst = _clean(values["id.orig_h"]), _clean(values["id.resp_h"])
        rows.require(valid_ips(src), "field source.ip (id.orig_h): not an IP address")
        rows.require(valid_ips(dst), "field destination.ip (id.resp_h): not an IP address")
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=self.ocsf, category=self.category
        ) | {
            "@timestamp": pc.fill_null(stamp, pa.scalar(0, stamp.type)),
            "source.ip": src,
            "source.port": to_int(_clean(values["id.orig_p"]), pa.int32()),
            "destination.ip": dst,
            "destination.port": to_int(_clean(values["id.resp_p"]), pa.int32()),
        }
        columns.update(self._mapped({k: _clean(values[k]) for k in self.fields}))
        columns.update(context.geo.columns(rows.only_good(src)))
        return rows.finish(columns)

    @abc.abstractmethod
    def _mapped(self, values: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """The log's own columns, from its fields (unset markers already null)."""

    @staticmethod
    def _time(ts: pa.Array) -> pa.Array:
        """Epoch seconds (Zeek's default), or ISO 8601 (``JSON::TS_ISO8601``)."""
        seconds = to_float(ts)
        epoch = pc.cast(
            pc.cast(pc.multiply(seconds, 1e6), pa.int64(), safe=False),
            pa.timestamp("us", tz="UTC"),
        )
        return pc.coalesce(epoch, iso_time(ts))

    def _tsv(self, fields_line: str, lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array]:
        names = fields_line.rstrip("\n").split("\t")[1:]
        missing = [c for c in ("ts", "id.orig_h", "id.resp_h", "id.resp_p") if c not in names]
        if missing:
            raise IngestError(f"Zeek #fields header lacks {', '.join(missing)}")
        if not set(self.signature) & set(names):
            raise IngestError(
                f"not a {self.name} log: its #fields header has none of {', '.join(self.signature)}"
            )
        wanted = [n for n in self._wanted if n in names]
        values, valid = delimited(lines, names=names, wanted=wanted, delimiter="\t")
        for n in self._wanted:
            if n not in values:
                values[n] = pa.nulls(len(lines), pa.string())
        return values, valid

    def _json(self, lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array]:
        wanted = self._wanted
        records: dict[str, list[str | None]] = {n: [] for n in wanted}
        ok = []
        for line in lines.to_pylist():
            try:
                event = json.loads(line)
                good = isinstance(event, dict) and any(k in event for k in self.signature)
            except ValueError:
                good, event = False, {}
            ok.append(good)
            for n in wanted:
                value = event.get(n) if good else None
                records[n].append(None if value is None else str(value))
        values = {n: pa.array(v, pa.string()) for n, v in records.items()}
        return values, pa.array(ok, pa.bool_())


class ZeekConn(_ZeekLog):
    """Zeek conn.log: one connection per line."""

    name = "zeek-conn"
    description = "Zeek conn.log, TSV or JSON"
    sample = (
        '{"ts":1664464850.117582,"id.orig_h":"172.16.1.11","id.orig_p":35356,'
        '"id.resp_h":"172.16.1.1","id.resp_p":443,"proto":"tcp","conn_state":"S0",'
        '"history":"S","orig_pkts":1,"orig_ip_bytes":44,"resp_pkts":0}'
    )
    ocsf = OcsfClass.NETWORK_ACTIVITY
    category = "network"
    signature = ("conn_state", "history", "missed_bytes", "orig_pkts")
    fields = (
        "proto",
        "duration",
        "orig_bytes",
        "resp_bytes",
        "conn_state",
        "history",
        "orig_pkts",
    )

    def _mapped(self, values: dict[str, pa.Array]) -> dict[str, pa.Array]:
        return {
            # Zeek's history (S = SYN only …) plays the part of TCP flags
            "event.action": pc.coalesce(values["history"], values["conn_state"]),
            "network.transport": values["proto"],
            "network.packets": to_int(values["orig_pkts"]),
            "source.bytes": to_int(values["orig_bytes"]),
            "destination.bytes": to_int(values["resp_bytes"]),
            "event.duration": pc.cast(
                pc.multiply(to_float(values["duration"]), 1e9), pa.int64(), safe=False
            ),
        }


class ZeekDns(_ZeekLog):
    """Zeek dns.log: one query (and its answer, if any) per line.

    The outcome is the response code: ``success`` for NOERROR, ``failure`` for
    any other (NXDOMAIN …), unknown when no answer came back.
    """

    name = "zeek-dns"
    description = "Zeek dns.log, TSV or JSON"
    sample = (
        '{"ts":1596790164.509987,"uid":"Cr01B21ezPdgDs60pb","id.orig_h":"10.8.0.61",'
        '"id.orig_p":35740,"id.resp_h":"8.8.8.8","id.resp_p":53,"proto":"udp",'
        '"query":"infinitedata-pa.googleapis.com","qtype_name":"A","rcode_name":"NOERROR"}'
    )
    ocsf = OcsfClass.DNS_ACTIVITY
    category = "network"
    fields = ("proto", "query", "qtype_name", "rcode_name")
    signature = ("trans_id", "query", "qtype", "rcode", "rejected")

    def _mapped(self, values: dict[str, pa.Array]) -> dict[str, pa.Array]:
        rcode = values["rcode_name"]
        n = len(rcode)
        return {
            "event.action": pa.array(["dns-query"] * n, pa.string()),
            "event.outcome": pc.if_else(
                pc.is_null(rcode),
                pa.scalar(None, pa.string()),
                pc.if_else(pc.equal(rcode, "NOERROR"), "success", "failure"),
            ),
            "network.transport": values["proto"],
            "dns.question.name": question_name(values["query"]),
            "dns.question.type": values["qtype_name"],
            "dns.response_code": rcode,
        }


class ZeekHttp(_ZeekLog):
    """Zeek http.log: one request per line.

    The query string is dropped (only the path is carried) and Zeek's
    ``password`` field is never read; a searched phrase on a known engine is
    kept as the restricted ``url.search_terms``, as for the proxy.
    """

    name = "zeek-http"
    description = "Zeek http.log, TSV or JSON"
    sample = (
        '{"ts":1526314047.535914,"id.orig_h":"192.168.1.116","id.orig_p":49161,'
        '"id.resp_h":"67.55.121.97","id.resp_p":80,"method":"GET","host":"gatyfus.com",'
        '"uri":"/login.php","user_agent":"Mozilla/4.0","request_body_len":6,'
        '"response_body_len":154,"status_code":302}'
    )
    ocsf = OcsfClass.HTTP_ACTIVITY
    category = "web"
    signature = ("trans_depth", "method", "uri", "status_code", "request_body_len")
    fields = (
        "method",
        "host",
        "uri",
        "user_agent",
        "request_body_len",
        "response_body_len",
        "status_code",
        "username",
    )

    def _mapped(self, values: dict[str, pa.Array]) -> dict[str, pa.Array]:
        method, uri = values["method"], values["uri"]
        host = pc.utf8_lower(pc.replace_substring_regex(values["host"], r":\d+$", ""))
        status = to_int(values["status_code"], pa.int32())
        path = url_path(uri)
        full = pc.binary_join_element_wise("http://", host, uri, "")
        return {
            "event.category": login_category(method, path, otherwise="web"),
            "event.action": method,
            "event.outcome": outcome_from_status(status),
            "user.name": values["username"],
            "http.request.method": method,
            "http.response.status_code": status,
            "source.bytes": to_int(values["request_body_len"]),
            "destination.bytes": to_int(values["response_body_len"]),
            "url.domain": host,
            "url.path": path,
            "url.search_terms": extract_search_terms(full),
            "user_agent.original": values["user_agent"],
        }
