"""SSO logs: Apereo CAS audit records (multi-line CAS 5/6/7, single-line, JSON)
and Shibboleth IdP audit (V4/V5 and V3 defaults) and process logs. No ticket,
NameID, session or assertion id is ever carried."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext
from confiance.ingest.recognition import recognise
from confiance.ingest.sso import ShibbolethAudit, shibboleth_fields

DATA = Path(__file__).parents[1] / "data" / "sso"
CONTEXT = ParseContext(
    tenant="academie", service="cas", geo=DEMO_GEO, now=datetime(2026, 11, 23, tzinfo=UTC)
)


def _rows(name: str, fmt: str) -> tuple[list[dict[str, object]], object]:
    parsed = parse_file(DATA / name, format=fmt, context=CONTEXT)
    return parsed.table.to_pylist(), parsed


def test_cas_records_in_every_layout() -> None:
    rows, parsed = _rows("cas_audit.log", "cas-audit")
    picked = [
        (r["event.action"], r["event.outcome"], r["user.name"], r["source.ip"], r["url.domain"])
        for r in rows
    ]
    assert picked == [
        # WHO unknown: the account is the supplied credential's username
        ("AUTHENTICATION_FAILED", "failure", "lea.bernard", "193.48.10.4", None),
        ("TICKET_GRANTING_TICKET_CREATED", "success", "lea.bernard", "193.48.10.4", None),
        # CAS 7 keys; the service's host and path, never its query (a ticket)
        ("SERVICE_TICKET_CREATED", "success", "lea.bernard", "193.48.10.4", "ent.ac-normandie.fr"),
        # single-line form
        ("AUTHENTICATION_FAILED", "failure", "paul.martin", "198.51.100.23", None),
        # JSON form; an access denial is a failure
        (
            "SERVICE_ACCESS_ENFORCEMENT_TRIGGERED",
            "failure",
            None,
            "10.0.1.76",
            "intranet.region-normandie.fr",
        ),
    ]
    # log4j's local time (Europe/Paris) in UTC, to the millisecond
    assert rows[0]["@timestamp"] == datetime(2026, 11, 22, 9, 15, 32, 123000, tzinfo=UTC)
    assert rows[2]["url.path"] == "/portail/login"
    assert rows[2]["user_agent.original"] == "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    assert rows[2]["destination.ip"] is None  # SERVER_IP was a host name
    assert parsed.ignored == {  # type: ignore[attr-defined]
        "part of a multi-line audit record": 36,
        "CAS log line that is not an audit record": 1,
    }
    assert [(q.line, q.reason) for q in parsed.quarantined] == [  # type: ignore[attr-defined]
        (40, "field source.ip (CLIENT IP ADDRESS): not an IP address"),
        (47, "not a CAS audit log line"),
    ]
    text = str(rows)
    assert "TGT-" not in text and "ST-1540" not in text and "ticket=" not in text


def test_cas_when_without_a_log4j_head() -> None:
    lines = pa.array(
        [
            "Audit trail record BEGIN",
            "WHO: lea.bernard",
            "ACTION: AUTHENTICATION_SUCCESS",
            "WHEN: Mon Aug 26 12:35:59 CEST 2013",
            "CLIENT IP ADDRESS: 172.16.5.181",
            "Audit trail record BEGIN",
            "WHO: paul.martin",
            "ACTION: AUTHENTICATION_SUCCESS",
            "WHEN: Mon Aug 26 12:35:59 IST 2013",  # ambiguous zone: the source's own
            "CLIENT IP ADDRESS: 172.16.5.181",
        ]
    )
    from confiance.ingest.parsers import PARSERS

    table, bad = PARSERS["cas-audit"].parse(lines, context=CONTEXT)
    assert table.column("@timestamp").to_pylist() == [
        datetime(2013, 8, 26, 10, 35, 59, tzinfo=UTC),
        datetime(2013, 8, 26, 10, 35, 59, tzinfo=UTC),
    ]
    assert all(reason.startswith("ignored: ") for _, reason in bad)


def test_shibboleth_audit_v4_and_v3_records() -> None:
    rows, parsed = _rows("idp-audit.log", "shibboleth-audit")
    picked = [
        (r["user.name"], r["event.outcome"], r["event.action"], r["source.ip"], r["url.domain"])
        for r in rows
    ]
    assert picked == [
        ("username", "success", "sso-password", "172.20.156.241", "whoami.cloud.sh.edu.cn"),
        # an error event and a Responder status
        (
            "lea.bernard",
            "failure",
            "sso-PasswordProtectedTransport",
            "193.48.10.4",
            "ent.ac-normandie.fr",
        ),
        # V3 has no client address; its compact time is read
        ("jdoe", "success", "sso-PasswordProtectedTransport", None, "sp.example.org"),
    ]
    assert rows[0]["@timestamp"] == datetime(2021, 2, 23, 11, 57, 38, 78869, tzinfo=UTC)
    assert rows[2]["@timestamp"] == datetime(2023, 11, 10, 13, 50, 23, tzinfo=UTC)
    text = str(rows)
    assert "AAdzZW" not in text and "_6dc96dc7" not in text and "35de7df9" not in text
    assert [(q.line, q.reason) for q in parsed.quarantined] == [  # type: ignore[attr-defined]
        (4, "not a Shibboleth audit record (field count of no known format)")
    ]


def test_a_custom_shibboleth_format() -> None:
    parser = ShibbolethAudit(("%T|%a|%u|%SP|%S",))
    table, bad = parser.parse(
        pa.array(["2026-11-22T09:15:32Z|193.48.10.4|lea.bernard|https://sp.fr/sp|Success"]),
        context=CONTEXT,
    )
    assert bad == []
    assert table.column("user.name").to_pylist() == ["lea.bernard"]
    with pytest.raises(ValueError, match=r"not a \|-separated Shibboleth audit format"):
        shibboleth_fields("%T %a %u")


def test_shibboleth_process_log_logins() -> None:
    rows, parsed = _rows("idp-process.log", "shibboleth-process")
    assert [(r["user.name"], r["event.outcome"], r["source.ip"]) for r in rows] == [
        ("lea.bernard", "failure", "193.48.10.4"),
        ("lea.bernard", "success", "193.48.10.4"),
        ("x", "failure", None),  # no address in the line's MDC
    ]
    assert parsed.ignored == {"process log line that records no login": 1}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("cas_audit.log", "cas-audit"),
        ("idp-audit.log", "shibboleth-audit"),
        ("idp-process.log", "shibboleth-process"),
    ],
)
def test_sso_logs_are_recognised(name: str, fmt: str) -> None:
    assert recognise(DATA / name) == fmt
