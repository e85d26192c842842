"""Postfix mail logs and DMARC aggregate reports, from the files users have."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from confiance.errors import IngestError
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

MAIL = Path(__file__).parent.parent / "data" / "mail"
CONTEXT = ParseContext(
    tenant="academie", service="mx", geo=DEMO_GEO, now=datetime(2026, 11, 23, tzinfo=UTC)
)


@pytest.fixture(scope="module")
def postfix() -> list[dict[str, object]]:
    parsed = parse_file(MAIL / "postfix.log", format="postfix", context=CONTEXT)
    # every line is an event, part of a message's record, another program's, or quarantined
    assert parsed.table.num_rows + sum(parsed.ignored.values()) + len(parsed.quarantined) == 20
    assert [(q.line, q.reason) for q in parsed.quarantined] == [(20, "not a syslog line")]
    assert parsed.ignored == {
        "part of a message's record (joined into its deliveries)": 4,
        "Postfix line that records no event": 5,
        "line of another program than Postfix": 1,
    }
    rows: list[dict[str, object]] = parsed.table.to_pylist()
    return rows


def test_a_delivery_carries_its_sender_and_client_joined_by_queue_id(
    postfix: list[dict[str, object]],
) -> None:
    sent = postfix[0]
    assert sent["@timestamp"] == datetime(2026, 11, 22, 9, 15, 33, tzinfo=UTC)  # Paris time
    assert (sent["event.action"], sent["event.outcome"], sent["ocsf.class_uid"]) == (
        "sent",
        "success",
        4009,
    )
    assert (sent["email.from.address"], sent["email.to.address"]) == (
        "newsletter@example.net",
        "claire.durand@ac-normandie.fr",
    )
    assert (sent["email.from.domain"], sent["source.ip"], sent["destination.ip"]) == (
        "example.net",
        "198.51.100.20",
        "10.3.0.25",
    )
    bounced = postfix[1]
    assert (bounced["event.action"], bounced["event.outcome"]) == ("bounced", "failure")
    assert bounced["email.to.address"] == "paul.martin@ac-normandie.fr"


def test_rejections_checks_and_sasl_logins_are_events_of_their_own(
    postfix: list[dict[str, object]],
) -> None:
    by_action = {str(r["event.action"]): r for r in postfix}
    reject = by_action["reject"]
    assert (reject["source.ip"], reject["email.from.domain"], reject["event.outcome"]) == (
        "203.0.113.66",
        "ac-normandle.fr",
        "failure",
    )
    check = by_action["reject-header"]
    # only the extension of an attachment's name is kept, never the name
    assert check["email.attachments.file.extension"] == "exe"
    assert "Facture" not in str(check)
    assert check["email.to.address"] == "claire.durand@ac-normandie.fr"
    logins = [r for r in postfix if r["ocsf.class_uid"] == 3002]
    failures = [r for r in logins if r["event.outcome"] == "failure"]
    assert [(r["event.action"], r["source.ip"], r["user.name"]) for r in failures] == [
        ("smtp-sasl-login", "203.0.113.68", None),
        ("smtp-sasl-plain", "203.0.113.68", "paul.martin@ac-normandie.fr"),
    ]
    (login,) = [r for r in logins if r["event.outcome"] == "success"]
    assert (login["user.name"], login["source.ip"]) == ("claire.durand", "10.3.14.22")
    deferred = by_action["deferred"]
    assert deferred["event.outcome"] is None and deferred["source.ip"] == "10.3.14.22"
    # an RFC 3339 syslog time (rsyslog's default on Debian) and a relay that is none
    at = datetime(2026, 11, 22, 9, 19, 0, 250000, tzinfo=UTC)
    iso = [r for r in postfix if r["@timestamp"] == at]
    assert len(iso) == 1 and iso[0]["destination.ip"] is None and iso[0]["source.ip"] is None


def test_dmarc_report_records_with_counts_and_aligned_results(tmp_path: Path) -> None:
    parsed = parse_file(MAIL / "dmarc-aggregate.xml", format="dmarc-aggregate", context=CONTEXT)
    rows = parsed.table.to_pylist()
    assert [(r["source.ip"], r["event.count"], r["event.outcome"]) for r in rows] == [
        ("195.83.12.25", 412, "success"),
        ("203.0.113.67", 57, "failure"),
    ]
    spoof = rows[1]
    assert (spoof["email.auth.spf"], spoof["email.auth.dkim"], spoof["event.action"]) == (
        "fail",
        "fail",
        "none",
    )
    assert spoof["email.from.domain"] == "ac-normandie.fr" and spoof["ocsf.class_uid"] == 4009
    assert spoof["@timestamp"] == datetime(2026, 11, 22, tzinfo=UTC)
    # the bad record is quarantined at the line where it begins
    text = (MAIL / "dmarc-aggregate.xml").read_text().splitlines()
    (bad,) = parsed.quarantined
    assert bad.reason == "field row/source_ip: not an IP address"
    assert text[bad.line - 1].strip() == "<record>" and bad.line > 40
    # as the receivers send them: gzip, zip, and the DMARC 2.0 namespace
    xml = (MAIL / "dmarc-aggregate.xml").read_bytes()
    gz = tmp_path / "receiver.example!ac-normandie.fr!1795305600!1795391999.xml.gz"
    gz.write_bytes(gzip.compress(xml))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("receiver.example!ac-normandie.fr.xml", xml)
    zipped = tmp_path / "report.zip"
    zipped.write_bytes(buffer.getvalue())
    spaced = tmp_path / "v2.xml"
    spaced.write_bytes(
        xml.replace(b"<feedback>", b'<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">')
    )
    for path in (gz, zipped, spaced):
        again = parse_file(path, format="dmarc-aggregate", context=CONTEXT)
        assert again.table.to_pylist() == rows and len(again.quarantined) == 1


def test_hostile_or_wrong_dmarc_files_are_refused_by_name(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<feedback>&lol2;</feedback>"
    )
    with pytest.raises(IngestError, match=r"bomb\.xml: refused: EntitiesForbidden in the XML"):
        parse_file(bomb, format="dmarc-aggregate", context=CONTEXT)
    other = tmp_path / "rss.xml"
    other.write_text("<rss><channel/></rss>")
    with pytest.raises(IngestError, match=r"rss\.xml: not a DMARC aggregate report: root <rss>"):
        parse_file(other, format="dmarc-aggregate", context=CONTEXT)
    broken = tmp_path / "cut.xml"
    broken.write_text("<feedback><record>")
    with pytest.raises(IngestError, match=r"cut\.xml: not a DMARC aggregate report: XML error"):
        parse_file(broken, format="dmarc-aggregate", context=CONTEXT)
    undated = tmp_path / "undated.xml"
    undated.write_text("<feedback><report_metadata/></feedback>")
    with pytest.raises(IngestError, match="field report_metadata/date_range/begin: not an epoch"):
        parse_file(undated, format="dmarc-aggregate", context=CONTEXT)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.xml", "<feedback/>")
        archive.writestr("b.xml", "<feedback/>")
    with pytest.raises(IngestError, match=r"two\.zip: a zip archive must hold one file, not 2"):
        parse_file(two, format="dmarc-aggregate", context=CONTEXT)
