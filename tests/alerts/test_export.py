"""Alert exports, checked by the tools that read them: the STIX validator, a CEF parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pycef
import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from confiance.alerts import Alert
from confiance.alerts.export import to_cef, to_json, to_stix
from confiance.consortium import Home, operations


@pytest.fixture
def alerts(home: Home) -> list[Alert]:
    found = operations.list_alerts(home, "soc-commun", contract_id="soc-commun", run=None)
    assert found
    return found


def test_stix_bundle_is_valid_stix_2_1(alerts: list[Alert]) -> None:
    bundle = to_stix(alerts)
    result = validate_string(bundle, ValidationOptions(version="2.1"))
    assert result.is_valid, [str(e) for e in result.errors]
    parsed = stix2.parse(bundle, allow_custom=True)
    sightings = [o for o in parsed.objects if o.type == "sighting"]
    assert len(sightings) == len(alerts)
    by_id = {o.id: o for o in parsed.objects}
    for sighting, alert in zip(sightings, alerts, strict=True):
        assert sighting.x_confiance_attestation == alert.attestation == "SIMULATED"
        pattern = by_id[sighting.sighting_of_ref]
        if alert.attack_technique:
            assert pattern.external_references[0].external_id == alert.attack_technique
            assert pattern.external_references[0].source_name == "mitre-attack"
        assert {by_id[w].name for w in sighting.where_sighted_refs} == set(alert.tenants)
    observables = [
        o for o in parsed.objects if o.type in ("ipv4-addr", "ipv6-addr", "user-account")
    ]
    assert observables and all(o.x_confiance_pseudonym is True for o in observables)
    # the same alerts give the same ids: a platform importing twice gets no duplicates
    assert {o["id"] for o in json.loads(to_stix(alerts))["objects"]} == set(by_id)


def test_cef_lines_parse_and_carry_the_pseudonym_warning(alerts: list[Alert]) -> None:
    lines = to_cef(alerts)
    assert len(lines) == len(alerts)
    for line, alert in zip(lines, alerts, strict=True):
        event = pycef.parse(line)
        assert event is not None, line
        assert (event["DeviceVendor"], event["DeviceEventClassID"]) == ("confiance", alert.detector)
        # pycef names custom strings by their labels
        assert event["externalId"] == alert.id and event["attestation"] == "SIMULATED"
        assert event["identifiers"] == "pseudonyms" and event["tenants"] == ",".join(alert.tenants)
        if alert.entity.field == "source.ip":
            assert event["src"] == alert.entity.value


def test_cef_escapes_what_would_break_a_record(alerts: list[Alert]) -> None:
    tricky = alerts[0].model_copy(update={"title": "a|b=c\\d\nnext", "tenants": ("x=y",)})
    line = to_cef([tricky])[0]
    assert "\n" not in line
    assert "|a\\|b=c\\\\d next|" in line  # header: pipe and backslash escaped
    assert "cs2=x\\=y" in line  # extension: equals escaped
    assert "msg=a|b\\=c\\\\d\\nnext" in line


def test_json_export_says_identifiers_are_pseudonyms(alerts: list[Alert]) -> None:
    document = json.loads(to_json(alerts, recipient="soc-commun"))
    assert "pseudonyms" in document["identifiers"] and len(document["alerts"]) == len(alerts)
    assert datetime.fromisoformat(document["exported_at"]).tzinfo == UTC
