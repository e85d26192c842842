"""Mail logs: Postfix's syslog lines and DMARC aggregate reports (RFC 7489).

Postfix writes one message over several lines tied by its queue id: the
client (smtpd), the envelope sender (qmgr) and one line per recipient
delivery (smtp, local, lmtp). Each delivery becomes one event, with the
sender and the client joined from the same file by queue id; rejections,
header and body checks and SASL logins are events of their own. Attachment
names never leave the owner: only their extension is kept.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from confiance.errors import IngestError
from confiance.events import OcsfClass
from confiance.ingest.columns import (
    IGNORED,
    SYSLOG_STAMP,
    BadRows,
    Framing,
    ParseContext,
    Rows,
    common,
    group,
    syslog_time,
    to_int,
    valid_ips,
)

_QID = r"[0-9A-Za-z]{5,20}"
#: ``host[address]`` as Postfix names a peer, with its port when logged
_PEER = r"(?P<host>[^\[\s]*)\[(?P<ip>[^\]]+)\](?::\d+)?"


def _null(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _domain(addresses: pa.Array) -> pa.Array:
    """The domain of each address, lower case; null for the null sender ``<>``."""
    return pc.utf8_lower(group(pc.extract_regex(addresses, r"@(?P<d>[^@\s]+)$"), "d"))


def _last_by_queue_id(qid: pa.Array, values: dict[str, pa.Array]) -> pa.Table:
    """For each queue id, its last value of each column (a queue id may recur)."""
    table = pa.table({"qid": qid, **values}).filter(pc.is_valid(qid))
    grouped = table.group_by("qid", use_threads=False).aggregate(
        [(name, "last") for name in values]
    )
    return pa.table({"qid": grouped["qid"], **{n: grouped[f"{n}_last"] for n in values}})


def _joined(qid: pa.Array, known: pa.Table, name: str) -> pa.Array:
    """``known[name]`` for each row's queue id (null where unknown), in row order."""
    rows = pa.table({"row": pa.array(range(len(qid)), pa.int64()), "qid": qid})
    joined = rows.join(known, "qid", join_type="left outer").sort_by("row")
    return joined[name].combine_chunks()


class PostfixSyslog:
    """Postfix lines of a syslog file, BSD (``Nov 22 10:15:32``) or RFC 3339 times."""

    framing = Framing(whole=True)
    name = "postfix"
    description = "Postfix mail log lines of a syslog file (mail.log, maillog)"
    sample = (
        "Nov 22 10:15:34 mx1 postfix/smtp[1250]: 3F1A82A0B1: to=<claire.durand@ac-normandie.fr>, "
        "relay=mx.ac-normandie.fr[195.83.12.25]:25, delay=1.2, delays=0.1/0/0.5/0.6, "
        "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9B2C1)"
    )
    _header = (
        "^" + SYSLOG_STAMP + r" (?P<server>\S+) (?P<program>[\w./-]+)(?:\[\d+\])?: (?P<msg>.*)$"
    )
    _deliver = (
        rf"^(?P<qid>{_QID}): to=<(?P<to>[^>]*)>,(?: orig_to=<[^>]*>,)? "
        r"relay=(?P<relay>[^,]*),.* status=(?P<status>[a-z]+)"
    )
    _sender = rf"^(?P<qid>{_QID}): from=<(?P<from>[^>]*)>, size=\d+, nrcpt="
    _client = (
        rf"^(?P<qid>{_QID}): client={_PEER}"
        r"(?:, sasl_method=(?P<method>[^,]*), sasl_username=(?P<user>[^,]*))?"
    )
    _reject = (
        rf"^(?P<qid>NOQUEUE|{_QID}): (?P<verb>reject|reject_warning|discard|hold|warn): "
        rf"(?P<stage>[A-Z-]+) from {_PEER}: (?P<reply>[^;]*); "
        r"from=<(?P<from>[^>]*)>(?: to=<(?P<to>[^>]*)>)?"
    )
    _check = (
        rf"^(?P<qid>{_QID}): (?P<verb>reject|warning|discard|hold|redirect|replace): "
        r"(?P<part>header|body|mime-header|nested-header) (?P<text>.*) "
        rf"from {_PEER}; from=<(?P<from>[^>]*)>(?: to=<(?P<to>[^>]*)>)?"
    )
    _sasl_failure = (
        rf"^warning: {_PEER}: SASL (?P<mech>[\w-]+) authentication failed"
        r"(?:: [^,]*)?(?:, sasl_username=(?P<user>\S+))?"
    )
    _attachment = r'(?i)\b(?:file)?name="?[^";]*\.(?P<ext>[A-Za-z0-9]{1,10})"?(?:;|\s|$)'

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        n = len(lines)
        head = pc.extract_regex(lines, self._header)
        rows = Rows(n)
        rows.require(head.is_valid(), "not a syslog line")
        rows.require(
            pc.starts_with(group(head, "program"), "postfix"),
            IGNORED + "line of another program than Postfix",
        )
        msg = group(head, "msg")
        deliver = pc.extract_regex(msg, self._deliver)
        sender = pc.extract_regex(msg, self._sender)
        client = pc.extract_regex(msg, self._client)
        reject = pc.extract_regex(msg, self._reject)
        check = pc.extract_regex(msg, self._check)
        failure = pc.extract_regex(msg, self._sasl_failure)
        login = pc.and_(client.is_valid(), pc.is_valid(group(client, "user")))
        is_event = pc.or_(
            pc.or_(deliver.is_valid(), reject.is_valid()),
            pc.or_(pc.or_(check.is_valid(), failure.is_valid()), login),
        )
        part_of_message = pc.or_(sender.is_valid(), client.is_valid())
        rows.require(
            pc.or_(is_event, pc.invert(part_of_message)),
            IGNORED + "part of a message's record (joined into its deliveries)",
        )
        rows.require(is_event, IGNORED + "Postfix line that records no event")

        time = syslog_time(head, context)
        rows.require(pc.is_valid(time), "field @timestamp: not a date")

        # sender and client of each delivery, joined by queue id within the file
        known = _last_by_queue_id(
            pc.coalesce(group(sender, "qid"), group(client, "qid")),
            {"from": group(sender, "from"), "client": group(client, "ip")},
        )
        qid = group(deliver, "qid")
        delivered_from = _joined(qid, known, "from")
        delivered_client = _joined(qid, known, "client")

        relay = pc.extract_regex(group(deliver, "relay"), r"\[(?P<ip>[^\]]+)\]")
        status = group(deliver, "status")
        check_verb = group(check, "verb")
        sender_address = pc.coalesce(delivered_from, group(reject, "from"), group(check, "from"))
        source_ip = pc.coalesce(
            delivered_client,
            group(reject, "ip"),
            group(check, "ip"),
            group(failure, "ip"),
            group(client, "ip"),
        )
        rows.require(
            pc.or_(pc.is_null(source_ip), valid_ips(source_ip)),
            "field source.ip: not an IP address",
        )
        relay_ip = group(relay, "ip")
        authentication = pc.or_(failure.is_valid(), login)
        method = pc.utf8_lower(pc.coalesce(group(failure, "mech"), group(client, "method")))
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.EMAIL_ACTIVITY, category="email"
        ) | {
            "@timestamp": pc.fill_null(time, pa.scalar(0, time.type)),
            "ocsf.class_uid": pc.if_else(
                authentication, int(OcsfClass.AUTHENTICATION), int(OcsfClass.EMAIL_ACTIVITY)
            ),
            "event.category": pc.if_else(authentication, "authentication", "email"),
            "event.action": pc.coalesce(
                status,
                group(reject, "verb"),
                pc.binary_join_element_wise(check_verb, group(check, "part"), "-"),
                pc.binary_join_element_wise("smtp-sasl", method, "-"),
            ),
            "event.outcome": pc.coalesce(
                pc.case_when(
                    pc.make_struct(
                        pc.equal(status, "sent"), pc.is_in(status, pa.array(["bounced", "expired"]))
                    ),
                    "success",
                    "failure",
                    pa.scalar(None, pa.string()),
                ),
                pc.if_else(reject.is_valid(), "failure", pa.scalar(None, pa.string())),
                pc.if_else(
                    check.is_valid(),
                    pc.if_else(
                        pc.is_in(check_verb, pa.array(["reject", "discard"])), "failure", "success"
                    ),
                    pa.scalar(None, pa.string()),
                ),
                pc.if_else(failure.is_valid(), "failure", pa.scalar(None, pa.string())),
                pc.if_else(login, "success", pa.scalar(None, pa.string())),
            ),
            "user.name": pc.coalesce(group(failure, "user"), group(client, "user")),
            "source.ip": source_ip,
            "destination.ip": pc.if_else(
                valid_ips(relay_ip), relay_ip, pa.scalar(None, pa.string())
            ),
            "email.from.address": sender_address,
            "email.to.address": pc.coalesce(
                group(deliver, "to"), group(reject, "to"), group(check, "to")
            ),
            "email.from.domain": _domain(sender_address),
            "email.attachments.file.extension": pc.utf8_lower(
                group(pc.extract_regex(group(check, "text"), self._attachment), "ext")
            ),
        }
        columns.update(context.geo.columns(rows.only_good(source_ip)))
        return rows.finish(columns)


# -- DMARC aggregate reports ---------------------------------------------------

_RECORD_TAG = re.compile(r"<(?:[\w.-]+:)?record\b")


def _strip_namespaces(root: Any) -> None:
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]


def _text(element: Any, path: str) -> str | None:
    value = element.findtext(path)
    return value.strip() if value and value.strip() else None


class DmarcAggregate:
    """A DMARC aggregate report (RFC 7489 appendix C): one event per record row.

    The report comes from a receiver anywhere on the Internet, so it is read
    with ``defusedxml`` (no entity expansion, no external entities). A record
    says how many messages (``event.count``) one source address sent in the
    report's period claiming the member's domain, and whether SPF and DKIM
    passed aligned (``email.auth.spf``, ``email.auth.dkim``): DMARC passes
    (``event.outcome``) when either does. The receiver's disposition is the
    action (``none``, ``quarantine``, ``reject``).
    """

    framing = Framing(document=True)
    name = "dmarc-aggregate"
    description = "DMARC aggregate report, RFC 7489 XML (.xml, .xml.gz or .zip)"
    sample = (
        "<feedback><report_metadata><org_name>google.com</org_name>…"
        "<date_range><begin>1335571200</begin>…</report_metadata>"
        "<record><row><source_ip>72.150.241.94</source_ip><count>2</count>"
        "<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>"
        "</policy_evaluated></row><identifiers><header_from>example.com</header_from>"
        "</identifiers>…</record></feedback>"
    )

    def parse(
        self, lines: pa.Array, *, context: ParseContext, header: str | None = None
    ) -> tuple[pa.Table, BadRows]:
        import defusedxml.ElementTree as SafeXml
        from defusedxml import DefusedXmlException

        document = "".join(lines.to_pylist())
        try:
            root = SafeXml.fromstring(document)
        except DefusedXmlException as exc:
            raise IngestError(f"refused: {type(exc).__name__} in the XML") from None
        except SafeXml.ParseError as exc:
            raise IngestError(f"not a DMARC aggregate report: XML error {exc}") from None
        _strip_namespaces(root)
        if root.tag != "feedback":
            raise IngestError(f"not a DMARC aggregate report: root <{root.tag}>, not <feedback>")
        begin = _text(root, "report_metadata/date_range/begin")
        if begin is None or not begin.isdigit():
            raise IngestError("field report_metadata/date_range/begin: not an epoch time")
        records = root.findall("record")
        fields = {
            "ip": "row/source_ip",
            "count": "row/count",
            "action": "row/policy_evaluated/disposition",
            "spf": "row/policy_evaluated/spf",
            "dkim": "row/policy_evaluated/dkim",
            "from": "identifiers/header_from",
        }
        values = {
            name: pa.array([_text(r, path) for r in records], pa.string())
            for name, path in fields.items()
        }
        n = len(records)
        rows = Rows(n)
        rows.require(valid_ips(values["ip"]), "field row/source_ip: not an IP address")
        count = to_int(values["count"])
        rows.require(pc.is_valid(count), "field row/count: not a whole number")
        rows.require(pc.is_valid(values["from"]), "field identifiers/header_from: missing")
        spf, dkim = pc.utf8_lower(values["spf"]), pc.utf8_lower(values["dkim"])
        passed = pc.or_(pc.equal(spf, "pass"), pc.equal(dkim, "pass"))
        when = pa.scalar(int(begin) * 1_000_000, pa.timestamp("us", tz="UTC"))
        columns: dict[str, Any] = common(
            n, context, dataset=self.name, ocsf=OcsfClass.EMAIL_ACTIVITY, category="email"
        ) | {
            "@timestamp": pa.array([when.as_py()] * n, pa.timestamp("us", tz="UTC")),
            "event.action": values["action"],
            "event.outcome": pc.if_else(pc.fill_null(passed, False), "success", "failure"),
            "event.count": count,
            "source.ip": values["ip"],
            "email.from.domain": pc.utf8_lower(values["from"]),
            "email.auth.spf": spf,
            "email.auth.dkim": dkim,
        }
        columns.update(context.geo.columns(rows.only_good(values["ip"])))
        table, bad = rows.finish(columns)
        # a bad record is named by the line where it begins
        starts = _record_lines(document)
        return table, [(starts[i] if i < len(starts) else 1, reason) for i, reason in bad]


def _record_lines(document: str) -> list[int]:
    """The line on which each ``<record>`` begins, counted in one pass."""
    lines, position, found = 1, 0, []
    for match in _RECORD_TAG.finditer(document):
        lines += document.count("\n", position, match.start())
        position = match.start()
        found.append(lines)
    return found
