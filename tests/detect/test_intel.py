"""Threat-intelligence feeds: MISP and STIX 2.1 read, matched on pseudonymised events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from confiance.detect import jobs
from confiance.detect.intel import REFERENCE, load_feed, reference_table
from confiance.errors import ConfigError
from confiance.events import EVENT_SCHEMA

T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)

MISP = {
    "response": [
        {
            "Event": {
                "info": "RAT command servers",
                "Attribute": [
                    {"type": "ip-dst", "value": "203.0.113.9", "to_ids": True},
                    {"type": "ip-dst|port", "value": "203.0.113.10|8443", "to_ids": True},
                    {"type": "domain", "value": "Evil.Example.", "to_ids": True},
                    {"type": "url", "value": "https://drop.example/x.php", "to_ids": True},
                    {"type": "domain|ip", "value": "c2.example|198.51.100.4", "to_ids": True},
                    {"type": "ip-src", "value": "192.0.2.99", "to_ids": False},  # context only
                    {"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e", "to_ids": True},
                ],
                "Object": [
                    {"Attribute": [{"type": "ip-src", "value": "198.51.100.77", "to_ids": True}]}
                ],
            }
        }
    ]
}

# STIX 2.1 patterns as the specification writes them (OASIS STIX 2.1, section 9 examples)
STIX = {
    "type": "bundle",
    "id": "bundle--44af6c39-c09b-49c5-9de2-394224b04982",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2016-04-06T20:03:48.000Z",
            "modified": "2016-04-06T20:03:48.000Z",
            "name": "Poison Ivy C2",
            "pattern": "[ipv4-addr:value = '198.51.100.1/32']"
            " OR [domain-name:value = 'ivy.example']",
            "pattern_type": "stix",
            "valid_from": "2016-01-01T00:00:00Z",
        },
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade",
            "created": "2016-04-06T20:03:48.000Z",
            "modified": "2016-04-06T20:03:48.000Z",
            "pattern": "[file:hashes.'SHA-256' = "
            "'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            "pattern_type": "stix",
            "valid_from": "2016-01-01T00:00:00Z",
        },
        {"type": "malware", "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"},
    ],
}


def _feed(tmp_path: Path, document: object, name: str = "feed.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_misp_export_indicators(tmp_path: Path) -> None:
    found = {(i.kind, i.value) for i in load_feed(_feed(tmp_path, MISP))}
    assert found == {
        ("ip", "203.0.113.9"),
        ("ip", "203.0.113.10"),
        ("ip", "198.51.100.77"),
        ("domain", "evil.example"),
        ("domain", "drop.example"),
        ("domain", "c2.example"),
    }  # context-only and hash attributes are left out
    # a single event, or a list of events, read the same
    event = MISP["response"][0]
    assert load_feed(_feed(tmp_path, event, "one.json")) == load_feed(_feed(tmp_path, MISP))
    assert load_feed(_feed(tmp_path, [event], "list.json")) == load_feed(_feed(tmp_path, MISP))


def test_stix_bundle_indicators(tmp_path: Path) -> None:
    found = load_feed(_feed(tmp_path, STIX))
    assert {(i.kind, i.value, i.label) for i in found} == {
        ("ip", "198.51.100.1", "Poison Ivy C2"),
        ("domain", "ivy.example", "Poison Ivy C2"),
    }
    broken = json.loads(json.dumps(STIX))
    broken["objects"][0]["pattern"] = "[ipv4-addr:value = '1.2.3.4'"
    with pytest.raises(ConfigError, match=r"feed.json: indicator indicator--8e2e.*bad pattern"):
        load_feed(_feed(tmp_path, broken))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"response": [{"Event": {"Attribute": []}}]}', "no address or domain indicator"),
        ('"a string"', "not a MISP export"),
    ],
)
def test_bad_feeds_are_refused_with_their_name(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "feed.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=f"feed.json: .*{message}|feed.json: {message}"):
        load_feed(path)


def _events(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def test_the_feed_matches_pseudonymised_events(tmp_path: Path) -> None:
    def pseudonym(ip: str) -> str:  # any one-to-one mapping stands for Crypto-PAn here
        return "p-" + ip

    feed = reference_table(
        load_feed(_feed(tmp_path, MISP)), feed="cert.json", pseudonymise_ip=pseudonym, created="x"
    )
    assert feed.schema.metadata[b"confiance.reference"] == REFERENCE.encode()
    base = {"@timestamp": T0, "tenant": "reseau"}
    rows = [
        base
        | {
            "event.dataset": "nfdump-csv",
            "ocsf.class_uid": 4001,
            "source.ip": "p-10.1.2.3",
            "destination.ip": "p-203.0.113.9",
            "destination.port": 443,
        },
        base
        | {
            "event.dataset": "keycloak-json",
            "ocsf.class_uid": 3002,
            "event.category": "authentication",
            "event.outcome": "failure",
            "user.name": "u_x",
            "source.ip": "p-198.51.100.77",
        },
        base
        | {
            "event.dataset": "squid",
            "ocsf.class_uid": 4002,
            "source.ip": "p-10.1.2.4",
            "url.domain": "www.EVIL.example",
            "url.path": "/",
        },
        # a name that only ends like a listed one is not it
        base
        | {
            "event.dataset": "squid",
            "ocsf.class_uid": 4002,
            "source.ip": "p-10.1.2.5",
            "url.domain": "notevil.example",
            "url.path": "/",
        },
    ]
    found = jobs.run(
        _events(rows), analyses=["threat_intel"], parameters={}, references={REFERENCE: feed}
    )
    summary = {(f["entity"]["value"], f["evidence"]["direction"]) for f in found}
    assert summary == {
        ("p-10.1.2.3", "outbound"),
        ("p-198.51.100.77", "inbound"),
        ("p-10.1.2.4", "lookup"),
    }
    assert all(f["severity"] == "high" for f in found)
    # no feed in the run, no finding
    assert jobs.run(_events(rows), analyses=["threat_intel"], parameters={}) == []
