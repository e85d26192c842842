"""Evaluators over HTTPS with mutual TLS, on loopback, with the consortium's certificates."""

from __future__ import annotations

import datetime
import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from confiance.consortium import Home, operations
from confiance.errors import PseudonymError
from confiance.keys.pki import ConsortiumCA
from confiance.pseudonym import DailyVolumeExceeded, EvaluatorUnavailable, IdentifierKind, oprf
from confiance.pseudonym.network import HttpEvaluator, serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def networked(home: Home) -> Iterator[tuple[Home, dict[str, int]]]:
    """region and reseau serve over mTLS; academie's evaluator is down."""
    local = {e.name: e for e in home.evaluators()}
    servers, ports = [], {"academie": _free_port()}
    for name in ("region", "reseau"):
        context = home.credentials(name).server_context(home.passphrase(name))
        server = serve(local[name], host="127.0.0.1", port=0, context=context)
        servers.append(server)
        ports[name] = server.server_address[1]
    config = home.config
    for entry in config["pseudonyms"]["evaluators"]:
        entry["address"] = f"127.0.0.1:{ports[entry['name']]}"
    home.save_config(config)
    yield home, ports
    for server in servers:
        server.shutdown()
        server.server_close()


def test_ingestion_over_the_network_gives_the_same_pseudonyms(networked: tuple) -> None:
    home, _ = networked
    report = operations.ingest_tenant(home, "lycees")
    assert report.events > 0 and report.oprf_evaluations == 0  # all cached from the first run
    from confiance.pseudonym import Pseudonymiser, ReidentificationTable

    table = ReidentificationTable(home.tenant_dir("lycees") / "reid.json", home.keystore("lycees"))
    account = next(i for p, i in table.entries().items() if p.startswith("u_"))
    fresh = Pseudonymiser(operations._pseudonym_service(home, "lycees"))  # no cache: network
    assert table.resolve([fresh.one(IdentifierKind.ACCOUNT, account)]) == {
        fresh.one(IdentifierKind.ACCOUNT, account): account
    }


def test_the_brake_holds_over_the_network_and_counts_the_certificate_holder(
    networked: tuple,
) -> None:
    home, ports = networked
    region = next(e for e in home.evaluators() if e.name == "region")
    region.today = lambda: datetime.date(2026, 11, 22)  # one day, even across midnight
    counts_file = home.tenant_dir("region") / "oprf-counts.json"

    def used(requester: str) -> int:
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
        return int(counts.get(requester, {}).get("2026-11-22", 0))

    before = {t: used(t) for t in ("lycees", "academie")}
    region.declared = {**region.declared, "lycees": used("lycees") + 5}
    context = home.credentials("lycees").client_context(home.passphrase("lycees"))
    client = HttpEvaluator("region", 2, "127.0.0.1", ports["region"], context)
    blinded = [oprf.blind(bytes([i]))[1] for i in range(3)]
    client.evaluate("academie", blinded)  # the claim in the call is ignored
    assert used("lycees") == before["lycees"] + 3 and used("academie") == before["academie"]
    with pytest.raises(DailyVolumeExceeded, match="evaluator region: tenant lycees asked for"):
        client.evaluate("academie", blinded)
    kinds = [
        (e.actor, e.body.get("requester"))
        for e in home.ledger().entries()
        if e.kind == "oprf.daily-count"
    ]
    assert ("region", "lycees") in kinds  # daily counts go to the ledger


def test_one_evaluator_down_is_tolerated_two_are_not(networked: tuple, tmp_path: Path) -> None:
    home, _ = networked
    service = operations._pseudonym_service(home, "academie")
    assert service.pseudonymise(IdentifierKind.ACCOUNT, ["a.b"])[0].startswith("u_")
    config = home.config
    config["pseudonyms"]["evaluators"][1]["address"] = f"127.0.0.1:{_free_port()}"
    home.save_config(config)
    new = tmp_path / "new.log"  # identifiers no cache holds: the evaluators must answer
    new.write_text(
        "1789365602.912    187 10.2.9.171 TCP_MISS/200 1059 GET "
        "http://www.larousse.fr/ zoe.nouvelle HIER_DIRECT/185.166.186.138 text/html\n"
    )
    with home.meta.connect() as con:
        before = con.execute("SELECT count(*) FROM datasets").fetchone()[0]
    with pytest.raises(
        EvaluatorUnavailable,
        match=r"evaluator academie at 127\.0\.0\.1:\d+: "
        r"unreachable.*evaluator region at",
    ):
        operations.ingest_tenant(home, "lycees", files=[("proxy", "squid", new)])
    with home.meta.connect() as con:  # stopped cleanly: nothing stored, no weaker pseudonym
        assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == before


def test_no_certificate_or_a_foreign_one_is_refused(networked: tuple, tmp_path: Path) -> None:
    _, ports = networked
    bare = ssl.create_default_context()
    bare.check_hostname = False
    bare.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        connection = http.client.HTTPSConnection(
            "127.0.0.1", ports["region"], context=bare, timeout=5
        )
        connection.request("POST", "/v1/evaluate", body="{}")
        connection.getresponse().read()
    foreign = ConsortiumCA(tmp_path / "other-ca")
    foreign.create(passphrase="p")
    credentials = foreign.issue(
        "academie", ca_passphrase="p", member_passphrase="q", directory=tmp_path / "mallory"
    )
    context = credentials.client_context("q")
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = HttpEvaluator("region", 2, "127.0.0.1", ports["region"], context)
    with pytest.raises((EvaluatorUnavailable, PseudonymError)):
        client.evaluate("academie", [oprf.blind(b"x")[1]])


def test_crafted_elements_over_the_network_are_refused(networked: tuple) -> None:
    home, ports = networked
    context = home.credentials("academie").client_context(home.passphrase("academie"))
    client = HttpEvaluator("region", 2, "127.0.0.1", ports["region"], context)
    for crafted in (bytes(32), bytes([0xFF] * 32), b"\x01" + bytes(31)):
        with pytest.raises(PseudonymError, match="evaluator region: invalid group element"):
            client.evaluate("academie", [crafted])
    connection = http.client.HTTPSConnection(
        "127.0.0.1", ports["region"], context=context, timeout=5
    )
    connection.request(
        "POST", "/v1/evaluate", body=b"not json", headers={"Content-Type": "application/json"}
    )
    reply = connection.getresponse()
    assert reply.status == 400 and json.loads(reply.read())["detail"] == "malformed request"
