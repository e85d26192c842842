"""Web server access logs: Apache and Nginx, in the combined, common and
vhost_combined layouts, or in the layout a server was configured with (an
Apache ``LogFormat`` string or an Nginx ``log_format`` one, given as the
source's ``log_format`` option).

A format string is compiled once into one regular expression over the whole
batch: the directives we read become named groups, every other directive
matches its text without being kept, and the literal text in between must be
there. The query string of a request is never carried.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from confiance.events import OcsfClass
from confiance.ingest.columns import (
    PLAIN,
    BadRows,
    ParseContext,
    Rows,
    common,
    dash_to_null,
    group,
    iso_time,
    login_category,
    outcome_from_status,
    to_float,
    to_int,
    url_path,
    valid_ips,
)

_REQUEST = r"(?P<method>[A-Z]{1,16}) (?P<target>\S+)(?: (?P<proto>HTTP/[0-9.]+))?"
_SIZE = r"(?P<size>\d+|-)"

#: Apache directives → what they match (a named group when we read it)
_APACHE: dict[str, str] = {
    "h": r"(?P<ip>\S+)",
    "a": r"(?P<ip>\S+)",
    "{c}a": r"(?P<ip>\S+)",
    "l": r"\S+",
    "u": r"(?P<user>\S+)",
    "t": r"\[(?P<time>[^\]]+)\]",
    "r": _REQUEST,
    ">s": r"(?P<status>\d{3})",
    "s": r"(?P<status>\d{3})",
    "b": _SIZE,
    "B": _SIZE,
    "O": _SIZE,
    "v": r"(?P<vhost>[^\s:]+)",
    "V": r"(?P<vhost>[^\s:]+)",
    "D": r"(?P<micros>\d+)",
    "T": r"(?P<seconds>\d+)",
    "{Referer}i": r"(?P<referer>[^\"]*)",
    "{User-Agent}i": r"(?P<agent>[^\"]*)",
    "{User-agent}i": r"(?P<agent>[^\"]*)",
}
#: Nginx variables → the same groups
_NGINX: dict[str, str] = {
    "remote_addr": r"(?P<ip>\S+)",
    "realip_remote_addr": r"(?P<ip>\S+)",
    "remote_user": r"(?P<user>\S+)",
    "time_local": r"(?P<time>[^\]]+)",
    "time_iso8601": r"(?P<iso>\S+)",
    "request": _REQUEST,
    "status": r"(?P<status>\d{3})",
    "body_bytes_sent": _SIZE,
    "bytes_sent": _SIZE,
    "host": r"(?P<vhost>\S+)",
    "server_name": r"(?P<vhost>\S+)",
    "request_time": r"(?P<request_time>[0-9.]+)",
    "http_referer": r"(?P<referer>[^\"]*)",
    "http_user_agent": r"(?P<agent>[^\"]*)",
}
_DIRECTIVE = re.compile(r"%(?:[<>]?(?:\{[^}]*\})?[a-zA-Z]|%)|\$([a-z_][a-z0-9_]*)")

#: the layouts users name instead of writing them out
LAYOUTS = {
    "combined": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"',
    "common": '%h %l %u %t "%r" %>s %b',
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "nginx": (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent"'
    ),
}


@functools.lru_cache(maxsize=32)
def compile_log_format(layout: str) -> str:
    """The regular expression that reads lines written with ``layout`` (an
    Apache LogFormat, an Nginx log_format, or a name of :data:`LAYOUTS`)."""
    layout = LAYOUTS.get(layout, layout)
    pattern, used, at = ["^"], set(), 0
    readable = False
    for match in _DIRECTIVE.finditer(layout):
        pattern.append(re.escape(layout[at : match.start()]))
        at = match.end()
        directive, variable = match.group(0), match.group(1)
        if directive == "%%":
            pattern.append("%")
            continue
        quoted = match.start() > 0 and layout[match.start() - 1] == '"'
        known = _NGINX.get(variable) if variable is not None else _APACHE.get(directive[1:])
        if known is None:
            pattern.append(r'[^"]*' if quoted else r"\S*")
            continue
        names = re.findall(r"\?P<(\w+)>", known)
        if any(name in used for name in names):  # read once: a second one only matches
            known = re.sub(r"\?P<\w+>", "?:", known)
        used.update(names)
        readable = readable or "ip" in names
        pattern.append(known)
    pattern.append(re.escape(layout[at:]))
    pattern.append(r"\s*$")
    if not readable or not ({"time", "iso"} & used) or "method" not in used:
        raise ValueError(
            f"log format {layout!r} lacks the client address, the time or the request "
            "(%h/$remote_addr, %t/$time_local/$time_iso8601, %r/$request)"
        )
    return "".join(pattern)


#: vhost_combined's ``host:port`` before the client address
_VHOST_GROUP = r"(?:(?P<vhost>[^\s:]+):\d+ )?"
_VHOST_PREFIX = r"^[^\s:]+:\d+ \S+ \S+ \S+ \["


class AccessLog:
    """Apache / Nginx access logs: combined or common by default (a vhost
    prefix is read too), or the layout given as the ``log_format`` option."""

    framing = PLAIN
    name = "apache-combined"
    description = (
        "Apache / Nginx access log: combined, common, vhost_combined, or the server's "
        "own LogFormat / log_format"
    )
    sample = (
        '195.83.12.7 - marie.martin [14/Sep/2026:08:02:11 +0200] "POST /auth/login HTTP/1.1" '
        '200 512 "https://portail.example.fr/" "Mozilla/5.0 (X11; Linux x86_64)"'
    )
    #: combined, common and vhost_combined in one expression (the default);
    #: only the fields read are captured (each group costs the matcher time)
    _pattern = (
        "^" + _VHOST_GROUP + r"(?P<ip>\S+) \S+ (?P<user>\S+) "
        r"\[(?P<time>[^\]]+)\] "
        r'"(?P<method>[A-Z]{1,16}) (?P<target>\S+)(?: HTTP/[0-9.]+)?" '
        r'(?P<status>\d{3}) (?P<size>\d+|-)(?: "[^"]*" "(?P<agent>[^"]*)")?\s*$'
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        layout = context.options.get("log_format")
        if layout is not None:
            pattern = compile_log_format(layout)
        elif pc.any(pc.match_substring_regex(lines, _VHOST_PREFIX)).as_py():
            pattern = self._pattern
        else:  # no vhost_combined line in the batch: the shorter expression is faster
            pattern = self._pattern.replace(_VHOST_GROUP, "", 1)
        fields = pc.extract_regex(lines, pattern)
        names = set(re.findall(r"\?P<(\w+)>", pattern))

        def field(name: str) -> pa.Array:
            if name in names:
                return group(fields, name)
            return pa.nulls(len(lines), pa.string())

        rows = Rows(len(lines))
        rows.require(fields.is_valid(), f"does not match the {self.name} format")
        clf = pc.strptime(
            field("time"), format="%d/%b/%Y:%H:%M:%S %z", unit="us", error_is_null=True
        )
        time = pc.cast(clf, pa.timestamp("us", tz="UTC"))
        if "iso" in names:
            time = pc.coalesce(time, iso_time(field("iso")))
        rows.require(time.is_valid(), "field @timestamp: unparseable time")
        ip = field("ip")
        rows.require(valid_ips(ip), "field source.ip: not an IP address")
        status = to_int(field("status"), pa.int32())
        path = url_path(field("target"))
        method = field("method")
        duration = pc.coalesce(
            pc.multiply(to_int(field("micros")), 1000),
            pc.multiply(to_int(field("seconds")), 1_000_000_000),
            pc.cast(pc.multiply(to_float(field("request_time")), 1e9), pa.int64()),
        )
        n = len(lines)
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.HTTP_ACTIVITY, category=None
        ) | {
            "@timestamp": time,
            "event.category": login_category(method, path, otherwise="web"),
            "event.action": method,
            "event.outcome": outcome_from_status(status),
            "user.name": dash_to_null(field("user")),
            "source.ip": ip,
            "http.request.method": method,
            "http.response.status_code": status,
            "destination.bytes": to_int(field("size")),
            "event.duration": duration,
            "url.domain": pc.utf8_lower(field("vhost")),
            "url.path": path,
            "user_agent.original": field("agent"),
        }
        columns.update(context.geo.columns(rows.only_good(ip)))
        return rows.finish(columns)
