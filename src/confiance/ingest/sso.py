"""Single sign-on servers of education and public administrations: Apereo CAS
audit logs and Shibboleth IdP audit and process logs.

What an SSO log holds besides logins is mostly secrets and identifiers that
must not leave their owner: CAS writes ticket ids (a ticket-granting ticket
is a bearer credential) in WHAT, Shibboleth writes the NameID, the session
and assertion ids. None of them is carried: only the account, the client
address, the action and its outcome, the service (its host and path, never
a query string) and the user agent.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from confiance.events import OcsfClass
from confiance.ingest.columns import (
    IGNORED,
    PLAIN,
    SYSLOG_STAMP,
    BadRows,
    Framing,
    ParseContext,
    Rows,
    common,
    delimited,
    group,
    iso_time,
    local_stamp,
    local_time,
    valid_ips,
)

_NULL = pa.scalar(None, pa.string())
_UTC = pa.timestamp("us", tz="UTC")


def _ip_or_null(values: pa.Array) -> pa.Array:
    """An address field that may hold a host name or nothing: null unless an IP."""
    return pc.if_else(pc.fill_null(valid_ips(values), False), values, _NULL)


def _service(urls: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Host and path of service URLs or entity ids; the query is never kept."""
    parts = pc.extract_regex(
        urls, r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?P<host>[^/:?#]+)(?::\d+)?(?P<path>/[^?#]*)?"
    )
    return pc.utf8_lower(group(parts, "host")), group(parts, "path")


# -- CAS ---------------------------------------------------------------------------

#: The head log4j writes before a CAS message (``%d %p [%c] - <%m>``), perhaps
#: behind a syslog head.
_LOG4J = (
    r"^(?:" + SYSLOG_STAMP + r" \S+ \S+: )?"
    r"(?P<stamp>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[,.](?P<frac>\d{1,6}))? +"
    r"(?P<level>[A-Z]+) +\[(?P<logger>[^\]]*)\] +- +(?P<message>.*)$"
)
#: Keys of a multi-line record: CAS 5/6 (``CLIENT IP ADDRESS``) and 7 (``CLIENT_IP``)
_CAS_KEYS = {
    "WHO": "who",
    "WHAT": "what",
    "ACTION": "action",
    "APPLICATION": "application",
    "WHEN": "when",
    "CLIENT IP ADDRESS": "client",
    "CLIENT_IP": "client",
    "SERVER IP ADDRESS": "server",
    "SERVER_IP": "server",
    "CLIENT USERAGENT": "agent",
    "USER_AGENT": "agent",
}
_CAS_KEY_LINE = (
    r"^\s*(?P<key>" + "|".join(sorted(_CAS_KEYS, key=len, reverse=True)) + r"): ?(?P<value>.*?)\s*$"
)
#: The single-line form, CAS's default field order with ``|`` between fields:
#: WHEN|WHO|WHAT|ACTION|[APPLICATION|][USER_AGENT|]CLIENT_IP|SERVER_IP|
_CAS_SINGLE = (
    r"^<?(?P<when>[^|]+)\|(?P<who>[^|]*)\|(?P<what>.*)\|(?P<action>[A-Z][A-Z0-9_]+)\|"
    r"(?:(?P<application>[A-Z][A-Za-z0-9_-]*)\|)?(?:(?P<agent>[^|]*[^|0-9A-Fa-f.:][^|]*)\|)?"
    r"(?P<client>[0-9A-Fa-f.:]+)\|(?P<server>[^|]*)\|?>?$"
)
_CAS_FIELDS = ("who", "what", "action", "when", "client", "server", "agent")
#: Java's Date.toString(): ``Mon Aug 26 12:35:59 CEST 2013``
_JAVA_DATE = (
    r"^[A-Z][a-z]{2} (?P<mon>[A-Z][a-z]{2}) (?P<day>\d\d) (?P<clock>\d\d:\d\d:\d\d) "
    r"(?P<zone>[A-Za-z]+(?:[+-]\d\d:?\d\d)?) (?P<year>\d{4})$"
)
#: zone abbreviations whose offset is unambiguous here (others: the source's zone)
_ZONES = {"UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 3600, "CET": 3600, "CEST": 7200}
#: the service a ticket or an access decision was for, in WHAT
_CAS_TARGET = r'(?:for |service=|"service":")(?P<u>https?://[^\s,\]"]+)'
_SUCCESS = r"_(?:SUCCESS|CREATED|VALIDATED|GRANTED|DESTROYED|PASSED)$"
_FAILURE = r"_(?:FAILED|FAILURE|DENIED|NOT_CREATED|NOT_VALIDATED|BLOCKED|REJECTED)$"


def _java_time(when: pa.Array, context: ParseContext) -> pa.Array:
    """CAS's WHEN (Java's Date.toString(), or ISO for CAS 7) as UTC; null where unreadable."""
    iso = pc.extract_regex(when, r"^(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?$")
    from_iso = local_stamp(group(iso, "stamp"), group(iso, "frac"), context)
    parts = pc.extract_regex(when, _JAVA_DATE)
    text = pc.binary_join_element_wise(
        group(parts, "year"), group(parts, "mon"), group(parts, "day"), group(parts, "clock"), " "
    )
    naive = pc.strptime(text, format="%Y %b %d %H:%M:%S", unit="us", error_is_null=True)
    zone = group(parts, "zone")
    offsets = pa.array(list(_ZONES.values()), pa.int64())
    offset = pc.take(offsets, pc.index_in(zone, pa.array(list(_ZONES), pa.string())))
    as_utc = pc.subtract(
        pc.assume_timezone(pc.fill_null(naive, pa.scalar(0, pa.timestamp("us"))), "UTC"),
        pc.cast(pc.multiply(pc.fill_null(offset, 0), 1_000_000), pa.duration("us")),
    )
    local = pc.cast(local_time(naive, context), _UTC)
    java = pc.if_else(pc.is_valid(offset), pc.cast(as_utc, _UTC), local)
    java = pc.if_else(pc.is_valid(naive), java, pa.scalar(None, _UTC))
    return pc.coalesce(from_iso, java)


def _place(values: pa.Array, at: np.ndarray, n: int) -> pa.Array:
    """An array of ``n`` rows holding ``values`` at rows ``at`` and null elsewhere."""
    index = np.full(n, -1, dtype=np.int64)
    index[at] = np.arange(len(at))
    return values.take(pa.array(index, mask=index < 0))


class CasAudit:
    """Apereo CAS audit log (``cas_audit.log``, or audit lines of ``cas.log``):
    multi-line records, the single-line form (``cas.audit.slf4j.use-single-line``,
    ``|`` separator) or JSON (``audit-format: JSON``), CAS 5 to 7."""

    # a multi-line record's lines are gathered by position within the file
    framing = Framing(whole=True)
    name = "cas-audit"
    description = "Apereo CAS audit log: multi-line, single-line (| separated) or JSON records"
    sample = (
        "2026-11-22 10:15:32,123 INFO [org.apereo.inspektr.audit.support."
        "Slf4jLoggingAuditTrailManager] - Fri Nov 22 10:15:32 CET 2026|lea.bernard|"
        "Supplied credentials: [UsernamePasswordCredential(username=lea.bernard)]|"
        "AUTHENTICATION_FAILED|193.48.10.4|10.10.0.5|"
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        n = len(lines)
        head = pc.extract_regex(lines, _LOG4J)
        message = pc.if_else(head.is_valid(), group(head, "message"), lines)
        message = pc.utf8_rtrim(pc.fill_null(message, ""), characters=" >")
        is_begin = pc.fill_null(pc.match_substring(message, "Audit trail record BEGIN"), False)
        single = pc.extract_regex(message, _CAS_SINGLE)
        is_json = pc.fill_null(pc.starts_with(pc.utf8_ltrim(message, characters="<"), "{"), False)
        fields = self._multi_line(lines, is_begin, n)
        json_fields = self._json(message, is_json, n)
        for name in _CAS_FIELDS:
            fields[name] = pc.coalesce(fields[name], group(single, name), json_fields[name])
        record = pc.or_(pc.or_(is_begin, single.is_valid()), is_json)

        rows = Rows(n)
        record_part = pc.fill_null(
            pc.match_substring_regex(lines, r"^\s*(?:=+|>|<|)\s*$|" + _CAS_KEY_LINE[1:]), False
        )
        rows.require(
            pc.or_(record, pc.invert(record_part)), IGNORED + "part of a multi-line audit record"
        )
        rows.require(
            pc.or_(record, pc.invert(head.is_valid())),
            IGNORED + "CAS log line that is not an audit record",
        )
        rows.require(record, "not a CAS audit log line")
        action = fields["action"]
        rows.require(pc.is_valid(action), "field ACTION: missing")
        time = pc.coalesce(
            local_stamp(group(head, "stamp"), group(head, "frac"), context),
            _java_time(fields["when"], context),
        )
        rows.require(pc.is_valid(time), "field WHEN: not a date")
        client = fields["client"]
        rows.require(valid_ips(client), "field source.ip (CLIENT IP ADDRESS): not an IP address")

        target = pc.extract_regex(fields["what"], _CAS_TARGET)
        host, path = _service(group(target, "u"))
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.AUTHENTICATION, category="authentication"
        ) | {
            "@timestamp": time,
            "event.action": action,
            "event.outcome": pc.case_when(
                pc.make_struct(
                    pc.match_substring_regex(action, _SUCCESS),
                    pc.or_(
                        pc.match_substring_regex(action, _FAILURE),
                        pc.fill_null(
                            pc.match_substring_regex(fields["what"], r"(?i)access denied"), False
                        ),
                    ),
                ),
                pa.scalar("success"),
                pa.scalar("failure"),
                pa.scalar("unknown"),
            ),
            "user.name": self._account(fields["who"], fields["what"]),
            "source.ip": client,
            "destination.ip": _ip_or_null(fields["server"]),
            "url.domain": host,
            "url.path": path,
            "user_agent.original": fields["agent"],
        }
        columns.update(context.geo.columns(rows.only_good(client)))
        return rows.finish(columns)

    @staticmethod
    def _multi_line(lines: pa.Array, is_begin: pa.Array, n: int) -> dict[str, pa.Array]:
        """The fields of multi-line records, placed on their BEGIN line."""
        begins = np.flatnonzero(is_begin.to_numpy(zero_copy_only=False))
        record_of = np.cumsum(is_begin.to_numpy(zero_copy_only=False)) - 1
        pairs = pc.extract_regex(lines, _CAS_KEY_LINE)
        keys = group(pairs, "key")
        values = pc.struct_field(pairs, "value")
        fields: dict[str, pa.Array] = {}
        for name in _CAS_FIELDS:
            names = [k for k, v in _CAS_KEYS.items() if v == name]
            where = pc.fill_null(pc.is_in(keys, pa.array(names, pa.string())), False)
            at = np.flatnonzero(where.to_numpy(zero_copy_only=False))
            at = at[record_of[at] >= 0]
            # each record's value moved to its BEGIN line (the last one if repeated)
            slot = np.full(len(begins), -1, dtype=np.int64)
            slot[record_of[at]] = at
            taken = values.take(pa.array(slot, mask=slot < 0))
            fields[name] = _place(taken, begins, n)
        return fields

    @staticmethod
    def _json(message: pa.Array, is_json: pa.Array, n: int) -> dict[str, pa.Array]:
        """The fields of JSON records (``audit-format: JSON``), read one by one."""
        at = np.flatnonzero(is_json.to_numpy(zero_copy_only=False))
        found: dict[str, list[str | None]] = {name: [] for name in _CAS_FIELDS}
        keys = {
            "who": "who",
            "what": "what",
            "action": "action",
            "when": "when",
            "client": "clientIpAddress",
            "server": "serverIpAddress",
            "agent": "userAgent",
        }
        for text in message.take(pa.array(at, pa.int64())).to_pylist():
            try:
                record = json.loads(text.lstrip("<"))
            except ValueError:
                record = None
            if not isinstance(record, dict):
                record = {}
            for name, key in keys.items():
                value = record.get(key)
                if isinstance(value, dict | list):
                    value = json.dumps(value)
                found[name].append(None if value is None else str(value))
        return {
            name: _place(pa.array(values, pa.string()), at, n) for name, values in found.items()
        }

    @staticmethod
    def _account(who: pa.Array, what: pa.Array) -> pa.Array:
        """WHO, or for an unknown principal the username of the supplied credentials."""
        unknown = pc.fill_null(
            pc.is_in(who, pa.array(["audit:unknown", "", "null", "anonymous"], pa.string())), True
        )
        # CAS 6/7 name the credential's username; CAS 5 lists it bare
        credential = pc.coalesce(
            group(
                pc.extract_regex(what, r"(?:username=|\[username: )(?P<user>[^,\])\s]+)"), "user"
            ),
            group(
                pc.extract_regex(what, r"^Supplied credentials: \[(?P<user>[^,\]()\s\[]+)\]"),
                "user",
            ),
        )
        bracketed = pc.extract_regex(who, r"^\[username: (?P<user>[^\]]+)\]$")
        named = pc.coalesce(group(bracketed, "user"), who)
        return pc.if_else(unknown, credential, named)


# -- Shibboleth ----------------------------------------------------------------------

#: IdP V4 and V5's default audit format, and V3's.
SHIBBOLETH_V4 = "%a|%ST|%T|%u|%SP|%i|%ac|%t|%attr|%n|%f|%SSO|%XX|%XA|%b|%bb|%e|%S|%SS|%s|%UA"
SHIBBOLETH_V3 = "%T|%b|%I|%SP|%P|%IDP|%bb|%III|%u|%ac|%attr|%n|%i|"
#: the audit fields we carry; the NameID (%n), session (%s), assertion and
#: message ids and released attributes are never read
_SHIB_WANTED = ("a", "T", "u", "SP", "P", "ac", "e", "S", "UA")


def shibboleth_fields(layout: str) -> list[str]:
    """The field labels of an audit format string, in order (``%a|%T|…``)."""
    if "|" not in layout or not layout.startswith("%"):
        raise ValueError(f"not a |-separated Shibboleth audit format: {layout!r}")
    return [part.lstrip("%") for part in layout.split("|")]


class ShibbolethAudit:
    """Shibboleth IdP audit log (``idp-audit.log``): one ``|``-separated record
    per request, in the IdP's default format (V4/V5, or V3 told apart by its
    field count), or the one given as the ``log_format`` option."""

    framing = PLAIN
    name = "shibboleth-audit"
    description = (
        "Shibboleth IdP audit log (idp-audit.log): V4/V5 or V3 default format, or the IdP's own"
    )
    sample = (
        "193.48.10.4|2026-11-22T09:15:31.102Z|2026-11-22T09:15:32.417Z|lea.bernard|"
        "https://ent.ac-normandie.fr/shibboleth|_6dc96dc77f516174d881bb90c12976f3|password|"
        "2026-11-22T09:15:32.001Z|uid,mail|AAdzZWNyZXQx|transient|false|false|AES128-GCM|"
        "Redirect|POST||Success||35de7df990f2aeb9|Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    )

    def __init__(self, layouts: tuple[str, ...] = (SHIBBOLETH_V4, SHIBBOLETH_V3)) -> None:
        self.layouts = [shibboleth_fields(layout) for layout in layouts]

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        n = len(lines)
        counts = pc.add(pc.count_substring(lines, "|"), 1)
        fields: dict[str, pa.Array] = {w: pa.nulls(n, pa.string()) for w in _SHIB_WANTED}
        matched = pa.array(np.zeros(n, dtype=bool))
        layout = context.options.get("log_format")
        layouts = self.layouts if layout is None else [shibboleth_fields(layout)]
        for labels in layouts:
            chosen = pc.fill_null(pc.equal(counts, len(labels)), False)
            at = np.flatnonzero(chosen.to_numpy(zero_copy_only=False))
            if not len(at):
                continue
            names = [f"{i}:{label}" for i, label in enumerate(labels)]
            wanted = [f"{i}:{label}" for i, label in enumerate(labels) if label in _SHIB_WANTED]
            chunk = lines.take(pa.array(at))
            split, ok = delimited(chunk, names=names, wanted=wanted, delimiter="|")
            for column in wanted:
                label = column.split(":", 1)[1]
                fields[label] = pc.coalesce(fields[label], _place(split[column], at, n))
            matched = pc.or_(matched, pc.fill_null(_place(ok, at, n), False))
        rows = Rows(n)
        rows.require(matched, "not a Shibboleth audit record (field count of no known format)")
        stamp = fields["T"]
        compact = pc.extract_regex(
            stamp, r"^(?P<d>\d{4})(?P<m>\d\d)(?P<dd>\d\d)T(?P<h>\d\d)(?P<mi>\d\d)(?P<s>\d\d)Z$"
        )
        expanded = pc.binary_join_element_wise(
            group(compact, "d"),
            "-",
            group(compact, "m"),
            "-",
            group(compact, "dd"),
            "T",
            group(compact, "h"),
            ":",
            group(compact, "mi"),
            ":",
            group(compact, "s"),
            "Z",
            "",
        )
        time = iso_time(pc.coalesce(expanded, stamp))
        rows.require(pc.is_valid(time), "field @timestamp (%T): not a date")
        ip = fields["a"]
        rows.require(
            pc.or_(pc.is_null(ip), valid_ips(ip)), "field source.ip (%a): not an IP address"
        )
        status, event = fields["S"], fields["e"]
        failed = pc.or_(
            pc.fill_null(pc.invert(pc.match_substring_regex(status, r"(?i)success$")), False),
            pc.fill_null(pc.and_(pc.not_equal(event, ""), pc.not_equal(event, "Proceed")), False),
        )
        method = group(pc.extract_regex(fields["ac"], r"(?P<m>[^:/#]+)$"), "m")
        host, path = _service(fields["SP"])
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.AUTHENTICATION, category="authentication"
        ) | {
            "@timestamp": time,
            "event.action": pc.coalesce(
                pc.binary_join_element_wise("sso-", method, ""), pa.scalar("sso")
            ),
            "event.outcome": pc.if_else(failed, "failure", "success"),
            "user.name": pc.if_else(pc.equal(fields["u"], ""), _NULL, fields["u"]),
            "source.ip": ip,
            "url.domain": pc.coalesce(host, fields["SP"]),
            "url.path": path,
            "user_agent.original": pc.if_else(pc.equal(fields["UA"], ""), _NULL, fields["UA"]),
        }
        columns.update(context.geo.columns(rows.only_good(ip)))
        return rows.finish(columns)


class ShibbolethProcess:
    """Shibboleth IdP process log (``idp-process.log``): the password
    validators' ``Login by 'user' succeeded|failed`` lines, with the client
    address the IdP puts in each line."""

    framing = PLAIN
    name = "shibboleth-process"
    description = "Shibboleth IdP process log (idp-process.log): password logins and failures"
    sample = (
        "2026-11-22 10:15:32,417 - 193.48.10.4 - INFO [net.shibboleth.idp.authn.impl."
        "LDAPCredentialValidator:182] - Credential Validator ldap: Login by 'lea.bernard' failed"
    )
    _line = (
        r"^(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(?P<frac>\d{3}) - (?P<ip>[0-9A-Fa-f.:]*) ?- "
        r"(?P<level>[A-Z]+) \[(?P<logger>[^\]]*)\] - (?P<msg>.*)$"
    )
    _login = (
        r"^Credential Validator (?P<validator>\S+): Login by '(?P<user>.*)' "
        r"(?P<result>succeeded|failed)$"
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        n = len(lines)
        head = pc.extract_regex(lines, self._line)
        rows = Rows(n)
        rows.require(head.is_valid(), "not a Shibboleth process log line")
        login = pc.extract_regex(group(head, "msg"), self._login)
        rows.require(login.is_valid(), IGNORED + "process log line that records no login")
        time = local_stamp(group(head, "stamp"), group(head, "frac"), context)
        rows.require(pc.is_valid(time), "field @timestamp: not a date")
        ip = group(head, "ip")
        rows.require(pc.or_(pc.is_null(ip), valid_ips(ip)), "field source.ip: not an IP address")
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.AUTHENTICATION, category="authentication"
        ) | {
            "@timestamp": time,
            "event.action": pc.binary_join_element_wise("password-", group(login, "validator"), ""),
            "event.outcome": pc.if_else(
                pc.equal(group(login, "result"), "succeeded"), "success", "failure"
            ),
            "user.name": group(login, "user"),
            "source.ip": ip,
        }
        columns.update(context.geo.columns(rows.only_good(ip)))
        return rows.finish(columns)
