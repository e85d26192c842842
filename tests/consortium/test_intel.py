"""Threat-intelligence feeds of two members, through the whole path: import, contract, run."""

from __future__ import annotations

import json
from pathlib import Path

from confiance.consortium import Home, operations
from confiance.consortium.home import TENANTS
from confiance.detect.synthetic import INTEL_FEED


def test_feeds_of_two_members_both_count_in_the_run(home: Home, tmp_path: Path) -> None:
    cert = home.inputs_dir() / INTEL_FEED[0] / INTEL_FEED[1]
    first = operations.import_intel(home, "reseau", cert)
    assert first["ip"] >= 2 and first["domain"] == 2
    # the lycées' own feed lists a domain their pupils visit
    own = tmp_path / "lycees-feed.json"
    own.write_text(
        json.dumps(
            {"Event": {"info": "ISAC", "Attribute": [{"type": "domain", "value": "instagram.com"}]}}
        )
    )
    operations.import_intel(home, "lycees", own)
    operations.new_contract(home, "soc-ti")
    contract = operations.load_contract(home, "soc-ti")
    assert {(d.tenant, d.source) for d in contract.datasets} >= {
        ("reseau", "threat-intel"),
        ("lycees", "threat-intel"),
    }
    for tenant in TENANTS:
        operations.sign_contract(home, "soc-ti", tenant)
    operations.run_contract(home, "soc-ti")
    alerts = operations.list_alerts(home, "soc-commun", contract_id="soc-ti", run=None)
    intel = [a for a in alerts if a.detector == "threat_intel"]
    directions = {(a.evidence["direction"], tuple(a.tenants)) for a in intel}
    assert ("outbound", ("reseau",)) in directions  # the beacons' command servers
    assert ("lookup", ("lycees",)) in directions  # the lycées' own listed domain
    # the feed's addresses travel as pseudonyms, never as the CERT wrote them
    listed = json.loads(cert.read_text())["response"][0]["Event"]["Attribute"]
    clear = {a["value"] for a in listed if a["type"] == "ip-dst"}
    assert not clear & {a.evidence["indicator"] for a in intel}
