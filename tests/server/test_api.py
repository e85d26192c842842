"""The HTTP API over real TLS 1.3 with real client certificates."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from confiance.consortium import Home, access, operations
from confiance.consortium.home import TENANTS
from confiance.keys.pki import PersonCredentials
from confiance.ledger import Trust, verify_receipt
from confiance.server import BackgroundServer, create_app, following_crl

PASSPHRASE = "correct horse battery"
SQUID = (
    "1789370531.112    187 10.3.14.22 TCP_MISS/200 18234 GET http://www.education.gouv.fr/ "
    "- HIER_DIRECT/185.161.45.10 text/html\n"
)


def _server(home: Home) -> BackgroundServer:
    credentials = access.server_credentials(home)
    context = following_crl(credentials.context, credentials.crl)
    return BackgroundServer(create_app(home), host="127.0.0.1", port=0, context=context)


def _client(home: Home, server: BackgroundServer, person: PersonCredentials | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=home.root / "pki" / "ca.pem")
    if person is not None:
        context.load_cert_chain(person.certificate, person.key, password=PASSPHRASE)
    return httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=context, timeout=30)


@pytest.fixture
def people(home: Home) -> dict[str, PersonCredentials]:
    def issue(tenant: str, role: str) -> PersonCredentials:
        return access.issue(
            home, tenant=tenant, role=role, name=f"Dominique {role}", passphrase=PASSPHRASE
        )

    return {
        "analyst": issue("academie", "analyst"),
        "auditor": issue("academie", "auditor"),
        "operator": issue("region", "operator"),
        "admin": issue("lycees", "tenant-admin"),
        "soc": issue("soc-commun", "analyst"),
    }


@pytest.fixture
def api(home: Home) -> Iterator[BackgroundServer]:
    with _server(home) as server:
        yield server


def test_an_analyst_sees_the_alerts_of_its_tenant(home, people, api) -> None:
    with _client(home, api, people["analyst"]) as client:
        assert client.get("/v1/whoami").json()["tenant"] == "academie"
        first = client.get("/v1/alerts", params={"limit": 2}).json()
        assert first["total"] > 2 and len(first["items"]) == 2 and first["next"]
        assert all("academie" in a["tenants"] for a in first["items"])
        second = client.get(first["next"]).json()
        assert second["offset"] == 2 and second["items"][0] != first["items"][0]
        # an offset past 64 bits (found by the schema fuzzer) is refused, not a 500
        huge = client.get("/v1/alerts", params={"offset": 2**64})
        assert huge.status_code == 422
        detail = client.get(f"/v1/alerts/{first['items'][0]['id']}").json()
        assert detail["evidence"] and detail["attestation"] == "SIMULATED"
        missing = client.get("/v1/alerts/0000000000000000")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    with _client(home, api, people["soc"]) as client:
        joint = client.get("/v1/alerts").json()
        assert joint["total"] >= first["total"]


def test_wrong_tenant_or_role_is_403_and_in_the_ledger(home, people, api) -> None:
    with _client(home, api, people["analyst"]) as client:
        denied = client.get("/v1/alerts", params={"tenant": "region"})
        assert denied.status_code == 403
        body = denied.json()
        assert body["status"] == 403 and "may not act for region" in body["detail"]
        assert client.get("/v1/store/health").status_code == 403
    with _client(home, api, people["auditor"]) as client:
        assert client.get("/v1/alerts").status_code == 403
    entries = [e for e in home.ledger().entries() if e.kind == "api.denied"]
    assert len(entries) == 3
    assert entries[0].body["serial"] == f"{people['analyst'].serial:x}"
    assert all("Dominique" not in str(e.body) for e in entries)  # no name in the ledger


def test_an_auditor_checks_a_receipt_offline(home, people, api) -> None:
    for tenant in TENANTS:
        operations.witness(home, tenant)  # the checkpoint is final once witnesses cosign
    with _client(home, api, people["auditor"]) as client:
        checkpoint = client.get("/v1/ledger/checkpoint").json()
        assert checkpoint["size"] > 3 and checkpoint["note"].startswith("confiance.example/ledger")
        receipt = client.get("/v1/ledger/entries/3/receipt").json()
        trust = Trust.from_json(client.get("/v1/ledger/trust").json())
    assert verify_receipt(receipt, trust=trust).index == 3


def test_operators_see_storage_and_admins_upload(home, people, api) -> None:
    with _client(home, api, people["operator"]) as client:
        health = client.get("/v1/store/health").json()
        assert len(health["nodes"]) == 6
    with _client(home, api, people["admin"]) as client:
        done = client.post(
            "/v1/batches", params={"source": "proxy", "format": "squid"}, content=SQUID * 50
        )
        assert done.status_code == 201, done.text
        assert done.json() | {"reasons": {}} == {
            "tenant": "lycees",
            "lines": 50,
            "events": 50,
            "quarantined": 0,
            "reasons": {},
            "datasets": 1,
        }
        bad = client.post(
            "/v1/batches", params={"source": "Proxy!", "format": "squid"}, content=SQUID
        )
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert client.get("/v1/alerts", params={"limit": 0}).status_code == 422
    with _client(home, api, people["analyst"]) as client:
        refused = client.post(
            "/v1/batches", params={"source": "proxy", "format": "squid"}, content=SQUID
        )
        assert refused.status_code == 403


def test_no_certificate_is_refused_at_the_handshake(home, api) -> None:
    with _client(home, api, None) as client, pytest.raises(httpx.TransportError):
        client.get("/v1/whoami")


def test_a_revoked_certificate_is_refused(home, people, api) -> None:
    with _client(home, api, people["analyst"]) as client:
        assert client.get("/v1/whoami").status_code == 200
        access.revoke_certificate(home, f"{people['analyst'].serial:x}")
        # a server already running re-reads the CRL: the next request is refused
        refused = client.get("/v1/whoami")
        assert refused.status_code == 403 and "revoked" in refused.json()["detail"]
    # a new connection to the same running server is refused at the handshake
    with _client(home, api, people["analyst"]) as client, pytest.raises(httpx.TransportError):
        client.get("/v1/whoami")
    with _client(home, api, people["auditor"]) as client:
        assert client.get("/v1/whoami").status_code == 200  # the others still get in


def test_the_openapi_document_is_versioned(home, people, api) -> None:
    with _client(home, api, people["auditor"]) as client:
        spec = client.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/v1/alerts" in spec["paths"]


def test_person_certificates_need_a_known_tenant_and_role(home) -> None:
    from confiance.errors import ConfigError, KeyStoreError

    with pytest.raises(ConfigError, match="unknown tenant 'nowhere'"):
        access.issue(home, tenant="nowhere", role="analyst", name="x", passphrase=PASSPHRASE)
    with pytest.raises(KeyStoreError, match="is not one of"):
        access.issue(home, tenant="region", role="root", name="x", passphrase=PASSPHRASE)
    with pytest.raises(ConfigError, match="not a hexadecimal number"):
        access.revoke_certificate(home, "zz")
    assert Path(access.current_crl(home)).read_text().startswith("-----BEGIN X509 CRL")


def test_proofs_runs_revocation_and_reidentification(home, people, api) -> None:
    from confiance.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion

    with _client(home, api, people["auditor"]) as client:
        proof = client.get("/v1/ledger/proofs/inclusion", params={"index": 4}).json()
        root = home.ledger().root(proof["size"])
        verify_inclusion(
            index=4,
            size=proof["size"],
            leaf=leaf_hash(proof["leaf_line"].encode()),
            proof=[base64.b64decode(p) for p in proof["proof"]],
            root=root,
        )
        both = client.get("/v1/ledger/proofs/consistency", params={"old": 5}).json()
        verify_consistency(
            old=5,
            new=both["new"],
            old_root=home.ledger().root(5),
            new_root=home.ledger().root(both["new"]),
            proof=[base64.b64decode(p) for p in both["proof"]],
        )
        runs = client.get("/v1/runs").json()
        assert runs[0]["status"] == "done" and runs[0]["attestation"] == "SIMULATED"
    admin = access.issue(
        home, tenant="academie", role="tenant-admin", name="Admin", passphrase=PASSPHRASE
    )
    with _client(home, api, admin) as client:
        withdrawn = client.post(
            "/v1/contracts/soc-commun/revocations", json={"reason": "end of the pilot"}
        )
        assert withdrawn.status_code == 201
    kinds = [e.kind for e in home.ledger().entries()]
    assert "contract.revoked" in kinds


def _admin(home: Home, tenant: str) -> PersonCredentials:
    return access.issue(
        home, tenant=tenant, role="tenant-admin", name=f"Camille {tenant}", passphrase=PASSPHRASE
    )


def test_the_soc_asks_an_owner_who_a_pseudonym_is(home, people, api) -> None:
    """The design's last step: the recipient asks, the owner decides and answers;
    the platform keeps ciphertexts, the ledger keeps who asked whom, and why."""
    with _client(home, api, people["soc"]) as client:
        alerts = client.get("/v1/alerts", params={"limit": 500}).json()["items"]
        chosen = next(
            a for a in alerts if a["tenants"] == ["academie"] and a["detector"] == "brute_force"
        )
        detail = client.get(f"/v1/alerts/{chosen['id']}").json()
        short = client.post("/v1/reidentifications", json={"alert": chosen["id"], "reason": "why"})
        assert short.status_code == 422
        stranger = client.post(
            "/v1/reidentifications",
            json={"alert": chosen["id"], "reason": "incident 2026-118", "pseudonyms": ["x"]},
        )
        assert stranger.status_code == 400 and "pseudonyms" in stranger.json()["detail"]
        asked = client.post(
            "/v1/reidentifications", json={"alert": chosen["id"], "reason": "incident 2026-118"}
        )
        assert asked.status_code == 201, asked.text
        (request,) = asked.json()["requests"]
        assert request["owner"] == "academie" and request["status"] == "pending"
        again = client.post(
            "/v1/reidentifications", json={"alert": chosen["id"], "reason": "incident 2026-118"}
        )
        assert again.json()["requests"][0]["id"] == request["id"]  # asked once
        answered_by_soc = client.post(
            f"/v1/reidentifications/{request['id']}/answer",
            json={"decision": "approve", "reason": "not mine to give"},
        )
        assert answered_by_soc.status_code == 403  # an analyst never answers
    with _client(home, api, _admin(home, "region")) as client:
        listed = client.get("/v1/reidentifications").json()
        assert listed["total"] == 0  # neither asked nor asking
        other = client.post(
            f"/v1/reidentifications/{request['id']}/answer",
            json={"decision": "approve", "reason": "incident 2026-118"},
        )
        assert other.status_code == 403 and "not addressed to region" in other.json()["detail"]
    with _client(home, api, _admin(home, "academie")) as client:
        waiting = client.get("/v1/reidentifications").json()["items"]
        assert [(w["id"], w["status"], w["requester"]) for w in waiting] == [
            (request["id"], "pending", "soc-commun")
        ]
        assert "resolved" not in waiting[0]  # the owner's list shows the question, not values
        assert waiting[0]["pseudonyms"] == sorted(detail["pseudonyms"])
        done = client.post(
            f"/v1/reidentifications/{request['id']}/answer",
            json={"decision": "approve", "reason": "CERT case 2026-118 confirmed"},
        )
        assert done.status_code == 201, done.text
        assert done.json()["status"] == "answered" and done.json()["resolved"] >= 1
        twice = client.post(
            f"/v1/reidentifications/{request['id']}/answer",
            json={"decision": "refuse", "reason": "changed my mind"},
        )
        assert twice.status_code == 400 and "already answered" in twice.json()["detail"]
    with _client(home, api, people["soc"]) as client:
        (mine,) = client.get("/v1/reidentifications").json()["items"]
    assert mine["status"] == "answered" and set(mine["resolved"]) <= set(detail["pseudonyms"])
    values = list(mine["resolved"].values())
    assert values and all(v and v not in detail["pseudonyms"] for v in values)
    # the platform's metadata holds ciphertexts: neither the question nor the answer
    meta = (home.root / "meta.sqlite").read_bytes()
    assert not any(p.encode() in meta for p in detail["pseudonyms"])
    assert not any(v.encode() in meta for v in values)
    entries = [e for e in home.ledger().entries() if e.kind.startswith("reidentification.")]
    assert [e.kind for e in entries] == [
        "reidentification.requested",
        "reidentification.denied",
        "reidentification.answered",
    ]
    assert entries[2].actor == "academie" and entries[2].body["decision"] == "approve"
    ledger = str([e.body for e in entries])
    assert not any(p in ledger for p in detail["pseudonyms"] + values)


def test_an_owner_may_refuse_and_only_its_alerts_can_be_asked_about(home, people, api) -> None:
    with _client(home, api, people["soc"]) as client:
        alerts = client.get("/v1/alerts", params={"limit": 500}).json()["items"]
        regional = next(a for a in alerts if a["tenants"] == ["region"])
        asked = client.post(
            "/v1/reidentifications", json={"alert": regional["id"], "reason": "routine check"}
        ).json()["requests"]
    with _client(home, api, people["analyst"]) as client:  # academie's analyst
        foreign = client.post(
            "/v1/reidentifications", json={"alert": regional["id"], "reason": "curiosity only"}
        )
        assert foreign.status_code == 403 and "not among the results" in foreign.json()["detail"]
    with _client(home, api, _admin(home, "region")) as client:
        refused = client.post(
            f"/v1/reidentifications/{asked[0]['id']}/answer",
            json={"decision": "refuse", "reason": "not proportionate (GDPR Art. 5)"},
        )
        assert refused.status_code == 201 and refused.json()["status"] == "refused"
    with _client(home, api, people["soc"]) as client:
        (mine,) = client.get("/v1/reidentifications").json()["items"]
    assert mine["status"] == "refused" and "resolved" not in mine
    assert mine["answer_reason"] == "not proportionate (GDPR Art. 5)"


def test_incidents_come_with_their_timeline(home, people, api) -> None:
    with _client(home, api, people["soc"]) as client:
        listed = client.get("/v1/incidents").json()
        also = client.get("/v1/alerts", params={"detector": "incidents", "limit": 500}).json()
        assert listed["total"] >= 1 and listed["total"] == also["total"]
        first = client.get(f"/v1/incidents/{listed['items'][0]['id']}").json()
        assert client.get("/v1/incidents/0000000000000000").status_code == 404
    assert len(first["tenants"]) >= 2 and len(first["timeline"]) >= 2
    times = [step["time"] for step in first["timeline"]]
    assert times == sorted(times) and first["status"] == "new"
    assert {t for step in first["timeline"] for t in step["tenants"]} == set(first["tenants"])


def test_alerts_export_as_json_stix_and_cef(home, people, api) -> None:
    import json

    with _client(home, api, people["analyst"]) as client:
        first = client.get("/v1/alerts").json()["items"][0]
        params = {"detector": first["detector"]}
        total = client.get("/v1/alerts", params=params).json()["total"]
        as_json = client.get("/v1/alerts/export", params=params | {"format": "json"})
        stix = client.get("/v1/alerts/export", params=params | {"format": "stix"})
        cef = client.get("/v1/alerts/export", params=params | {"format": "cef"})
        bad = client.get("/v1/alerts/export", params={"format": "xml"})
    assert total >= 1
    assert len(as_json.json()["alerts"]) == total and as_json.json()["recipient"] == "academie"
    assert stix.headers["content-type"].startswith("application/stix+json")
    bundle = json.loads(stix.text)
    kinds = {o["type"] for o in bundle["objects"]}
    assert bundle["type"] == "bundle" and "sighting" in kinds and "identity" in kinds
    lines = cef.text.splitlines()
    assert len(lines) == total and all(line.startswith("CEF:0|") for line in lines)
    assert bad.status_code == 422


def test_an_owner_drafts_a_new_version_through_the_api(home, people, api) -> None:
    import yaml

    document = yaml.safe_load(home.contract_path("soc-commun").read_text())
    document["version"], document["retention_days"] = 2, 180
    text = yaml.safe_dump(document, sort_keys=False)
    with _client(home, api, people["analyst"]) as client:
        assert client.post("/v1/contracts", json={"yaml": text}).status_code == 403
    with _client(home, api, _admin(home, "soc-commun")) as client:
        outsider = client.post("/v1/contracts", json={"yaml": text})
        assert outsider.status_code == 403 and "not one of its data owners" in outsider.text
    with _client(home, api, people["admin"]) as client:  # lycees
        broken = client.post("/v1/contracts", json={"yaml": "id: [unclosed"})
        assert broken.status_code == 422 and "draft:1: not valid YAML" in broken.text
        wrong = client.post(
            "/v1/contracts", json={"yaml": text.replace("version: 2", "version: 0")}
        )
        assert wrong.status_code == 422 and "field version" in wrong.json()["detail"]
        made = client.post("/v1/contracts", json={"yaml": text})
        assert made.status_code == 201, made.text
        assert made.json()["version"] == 2
        assert made.json()["missing"] == ["academie", "lycees", "region", "reseau"]
        stale = client.post("/v1/contracts", json={"yaml": text})
        assert stale.status_code == 422 and "must be above" in stale.json()["detail"]
        diff = client.get("/v1/contracts/soc-commun/diff")
    assert {(c["field"], c["old"], c["new"]) for c in diff.json()["changes"]} == {
        ("version", 1, 2),
        ("retention_days", 365, 180),
    }
    drafted = [e for e in home.ledger().entries() if e.kind == "contract.drafted"][-1]
    assert drafted.body["version"] == 2 and drafted.body["drafted_by"] == "lycees"
    assert {e.kind for e in home.ledger().entries()} >= {"contract.draft-denied"}


def test_reviewers_work_their_queue_through_the_api(home, people, api) -> None:
    from confiance.consortium import safeguarding as sg

    sg.enrol_authority(home, "autorite")
    sg.import_blocklist(home, "autorite", home.inputs_dir() / "autorite" / "liste-autorite.txt")
    sg.new_minors_contract(home)
    for owner in ("lycees", "autorite"):
        operations.sign_contract(home, sg.CONTRACT_ID, owner)
    operations.run_contract(home, sg.CONTRACT_ID)
    reviewer = access.issue(
        home, tenant="lycees", role="reviewer", name="Référent", passphrase=PASSPHRASE
    )
    authority = access.issue(
        home, tenant="autorite", role="tenant-admin", name="Autorité", passphrase=PASSPHRASE
    )
    with _client(home, api, reviewer) as client:
        signals = client.get("/v1/review").json()
        assert signals and {s["detector"] for s in signals} == {"search_signals"}
        decided = client.post(
            f"/v1/review/{signals[0]['id']}/decision", json={"decision": "confirm"}
        )
        assert decided.status_code == 201 and decided.json()["status"] == "confirmed"
    with _client(home, api, authority) as client:
        hits = client.get("/v1/review").json()
        assert hits and {h["detector"] for h in hits} == {"blocklist_access"}
    with _client(home, api, people["analyst"]) as client:
        assert client.get("/v1/review").status_code == 403
    kinds = [e.kind for e in home.ledger().entries()]
    assert kinds.count("minors.signals.viewed") == 2 and "minors.signal.confirmed" in kinds


def test_a_contract_is_compared_with_its_previous_version(home, people, api) -> None:
    import yaml

    with _client(home, api, people["auditor"]) as client:
        first = client.get("/v1/contracts/soc-commun/diff").json()
        assert first["previous"] is None and first["changes"] == []
        path = home.contract_path("soc-commun")
        document = yaml.safe_load(path.read_text())
        document["version"], document["retention_days"] = 2, 180
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        diff = client.get("/v1/contracts/soc-commun/diff").json()
        detail = client.get("/v1/contracts/soc-commun").json()
    assert diff["previous_version"] == 1 and diff["current"] == detail["digest"]
    assert {(c["field"], c["old"], c["new"]) for c in diff["changes"]} == {
        ("version", 1, 2),
        ("retention_days", 365, 180),
    }
    assert "-retention_days: 365" in diff["unified"] and "+retention_days: 180" in diff["unified"]
    assert detail["missing"] == ["academie", "lycees", "region", "reseau"]  # signatures void


def test_a_triaged_alert_shows_its_status_in_the_next_list(home, people, api) -> None:
    """The alert list is served from the event loop while nothing changed: a triage
    (or a new run) must show in the very next list."""
    with _client(home, api, people["analyst"]) as client:
        before = client.get("/v1/alerts", params={"limit": 500}).json()["items"]
        assert client.get("/v1/alerts", params={"limit": 500}).json()["items"] == before
        chosen = before[0]["id"]
        answer = client.post(
            f"/v1/alerts/{chosen}/triage", json={"status": "investigating", "comment": "on it"}
        )
        assert answer.status_code == 201, answer.text
        after = {
            a["id"]: a for a in client.get("/v1/alerts", params={"limit": 500}).json()["items"]
        }
        assert after[chosen]["status"] == "investigating"
        client.post(f"/v1/alerts/{chosen}/triage", json={"status": "closed"})
        again = {
            a["id"]: a for a in client.get("/v1/alerts", params={"limit": 500}).json()["items"]
        }
        assert again[chosen]["status"] == "closed"
