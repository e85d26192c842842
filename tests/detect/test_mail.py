"""Mail detections over parsed Postfix logs and DMARC reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from confiance.detect import jobs
from confiance.detect.mail import imitation
from confiance.errors import ConfigError
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

MAIL = Path(__file__).parent.parent / "data" / "mail"
CONTEXT = ParseContext(
    tenant="academie", service="mx", geo=DEMO_GEO, now=datetime(2026, 11, 23, tzinfo=UTC)
)
OWN = ["ac-normandie.fr", "normandie.fr"]


def _events() -> pa.Table:
    return pa.concat_tables(
        [
            parse_file(MAIL / "postfix.log", format="postfix", context=CONTEXT).table,
            parse_file(
                MAIL / "dmarc-aggregate.xml", format="dmarc-aggregate", context=CONTEXT
            ).table,
        ]
    )


@pytest.mark.parametrize(
    ("domain", "kind"),
    [
        ("ac-normandle.fr", "homoglyph"),  # i → l
        ("ac-norrnandie.fr", "homoglyph"),  # m → rn
        ("xn--cole-exemple-9db.fr", None),  # école-exemple.fr, an IDN that is no look-alike
        ("xn--ac-normandi-ykj.fr", "homoglyph"),  # ac-normandiе.fr, with a Cyrillic е
        ("xn--ac-nrmandie-ufb.fr", "homoglyph"),  # ac-nörmandie.fr
        ("ac-normandi.fr", "typo"),
        ("ac-normandie.fr-securite.com", "combo"),
        ("mail.ac-normandie.fr", None),  # our own subdomain
        ("normandie.fr", None),
        ("tourisme-normandie.fr", None),  # a short, generic label is no combo
        ("ac-rouen.fr", None),
        ("example.net", None),
    ],
)
def test_imitation_of_the_consortium_domains(domain: str, kind: str | None) -> None:
    assert imitation(domain, OWN) == kind


def test_spoofing_and_phishing_found_in_the_mail_logs_with_their_evidence() -> None:
    findings = jobs.run(
        _events(),
        analyses=["spoofed_sender", "phishing_mail"],
        parameters={"phishing_mail": {"own_domains": OWN}},
    )
    by_detector = {f["detector"]: f for f in findings}
    spoof = by_detector["spoofed_sender"]
    assert (spoof["entity"]["value"], spoof["severity"]) == ("203.0.113.67", "high")
    assert (spoof["evidence"]["failed"], spoof["evidence"]["delivered"]) == (57, 57)
    assert (spoof["evidence"]["spf"], spoof["evidence"]["dkim"]) == (["fail"], ["fail"])
    assert spoof["first_seen"] == "2026-11-22T00:00:00+00:00"
    assert spoof["last_seen"] == "2026-11-22T23:59:59+00:00"
    phishing = by_detector["phishing_mail"]
    assert phishing["entity"] == {"field": "email.from.domain", "value": "ac-normandle.fr"}
    assert phishing["evidence"]["imitation"] == "homoglyph"
    assert phishing["evidence"]["extensions"] == ["exe"]
    assert phishing["evidence"]["sources"] == ["203.0.113.66", "203.0.113.67"]
    # both its messages were rejected: the defence held, the signal stays
    assert phishing["severity"] == "high" and phishing["attack_technique"] == "T1566.001"
    assert phishing["pseudonyms"] == ["203.0.113.66", "203.0.113.67"]
    assert len(findings) == 2  # the newsletter and the members' own mail are not phishing


def test_a_misconfigured_sender_below_the_daily_volume_is_not_spoofing() -> None:
    events = _events()
    quiet = jobs.run(
        events, analyses=["spoofed_sender"], parameters={"spoofed_sender": {"min_messages": 58}}
    )
    assert quiet == []
    allowed = jobs.run(
        events,
        analyses=["spoofed_sender"],
        parameters={"spoofed_sender": {"allow": ["203.0.113.67"]}},
    )
    assert allowed == []


def test_a_misspelt_mail_parameter_is_refused() -> None:
    with pytest.raises(ConfigError, match="own_domain"):
        jobs.run(
            _events(), analyses=["phishing_mail"], parameters={"phishing_mail": {"own_domain": OWN}}
        )
