"""Protection of minors end to end: the authority's list, the gated contract, the review queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from confiance.consortium import Home, operations
from confiance.consortium import safeguarding as sg
from confiance.detect.synthetic import AUTHORITY_LIST
from confiance.errors import AccessDenied, AlertError, ConfigError, RuntimeJobError


def _prepare(home: Home, **contract) -> None:
    sg.enrol_authority(home, "autorite")
    sg.import_blocklist(home, "autorite", home.inputs_dir() / "autorite" / "liste-autorite.txt")
    sg.new_minors_contract(home, **contract)
    for owner in ("lycees", "autorite"):
        operations.sign_contract(home, sg.CONTRACT_ID, owner)


def _ledger(home: Home) -> list[dict]:
    return [e.statement() for e in home.ledger().entries()]


@pytest.fixture
def ran(home: Home) -> Home:
    _prepare(home)
    report = operations.run_contract(home, sg.CONTRACT_ID)
    assert report.findings > 0
    return home


def test_hits_reach_only_the_authority_and_the_school(ran: Home) -> None:
    truth = json.loads((ran.inputs_dir() / "ground-truth.json").read_text())["safeguarding"]
    hits = sg.review_queue(ran, "autorite")
    assert {q.alert.detector for q in hits} == {"blocklist_access"}
    assert len(hits) == sum(1 for t in truth if t["analysis"] == "blocklist_access")
    assert len(sg.review_queue(ran, "direction-lycees")) == len(hits)
    signals = sg.review_queue(ran, "referent-lycees")
    classes = sorted(q.alert.evidence["signal_class"] for q in signals)
    assert classes == sorted(t["class"] for t in truth if t["analysis"] == "search_signals")
    # never to the joint SOC, and never outside the recorded review queue
    with pytest.raises(AccessDenied, match="not a recipient"):
        sg.review_queue(ran, "soc-commun")
    with pytest.raises(AccessDenied, match="review queue"):
        operations.list_alerts(ran, "lycees", contract_id=sg.CONTRACT_ID)
    with ran.meta.connect() as con:
        rows = con.execute(
            "SELECT DISTINCT recipient FROM results JOIN runs ON runs.id = results.run "
            "WHERE runs.contract = ?",
            (sg.CONTRACT_ID,),
        ).fetchall()
    recipients = {r[0] for r in rows}
    assert recipients == {"autorite", "direction-lycees", "referent-lycees"}


def test_the_list_never_exists_in_clear_on_the_platform(ran: Home) -> None:
    entries = [line for line in AUTHORITY_LIST if not line.startswith("#")]
    words = ["contenu-interdit", "partage-anonyme", "galerie/privee"]
    assert all(any(w in e for e in entries) for w in words)  # words of the clear list
    for path in ran.root.rglob("*"):
        if not path.is_file() or ran.inputs_dir() in path.parents:
            continue  # inputs/ is the owners' side: the authority keeps its list and index there
        data = path.read_bytes()
        for word in words:
            assert word.encode() not in data, f"{word} in {path}"
    for entry in _ledger(ran):
        assert not any(w in json.dumps(entry) for w in words)


def test_every_view_and_decision_is_in_the_ledger(ran: Home) -> None:
    signal = sg.review_queue(ran, "referent-lycees")[0].alert
    decided = sg.decide(ran, "referent-lycees", signal.id, decision="dismiss", suppress=True)
    assert decided.status == "dismissed"
    kinds = [e["kind"] for e in _ledger(ran)]
    assert kinds.count("minors.signals.viewed") == 1
    assert "minors.signal.dismissed" in kinds and "minors.patterns.suppressed" in kinds
    assert signal.id not in {q.alert.id for q in sg.review_queue(ran, "referent-lycees")}
    # the dismissal fed back: the same pattern, found again by the next run, is set aside
    operations.run_contract(ran, sg.CONTRACT_ID)
    again = sg.review_queue(ran, "referent-lycees")
    assert signal.id not in {q.alert.id for q in again} and again
    suppressed = [e for e in _ledger(ran) if e["kind"] == "minors.signals.suppressed"]
    assert suppressed[-1]["body"]["results"] == [signal.id]
    with pytest.raises(AlertError, match=f"no signal {signal.id} for autorite"):
        sg.decide(ran, "autorite", signal.id, decision="confirm")  # never sealed to it
    with pytest.raises(ConfigError, match="decision must be one of"):
        sg.decide(ran, "referent-lycees", signal.id, decision="act")


def test_signals_are_deleted_when_retention_ends(ran: Home) -> None:
    assert sg.purge_expired(ran, now=datetime.now(UTC)) == 0
    deleted = sg.purge_expired(ran, now=datetime.now(UTC) + timedelta(days=31))
    assert deleted > 0
    assert sg.review_queue(ran, "autorite") == []
    entry = next(e for e in _ledger(ran) if e["kind"] == "minors.signals.deleted")
    assert "retention of 30 days ended" in entry["body"]["reason"]


def test_the_runtime_refuses_a_contract_that_breaks_its_class(home: Home) -> None:
    _prepare(home, retention_days=365)
    with pytest.raises(RuntimeJobError, match="retention of 365 days exceeds the 90 allowed"):
        operations.run_contract(home, sg.CONTRACT_ID)
    kinds = [e["kind"] for e in _ledger(home)]
    last_run = len(kinds) - 1 - kinds[::-1].index("run.requested")
    assert kinds[last_run:] == ["run.requested", "run.failed"]  # no key was ever asked for


def test_a_class_cannot_be_dropped_after_signature(home: Home) -> None:
    _prepare(home)
    path = home.contract_path(sg.CONTRACT_ID)
    document = yaml.safe_load(path.read_text())
    document["contract_class"] = "standard"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(RuntimeJobError, match="needs a contract of class protection-of-minors"):
        operations.run_contract(home, sg.CONTRACT_ID)


def test_an_authority_is_enrolled_once(home: Home) -> None:
    sg.enrol_authority(home, "autorite")
    with pytest.raises(ConfigError, match="already a member"):
        sg.enrol_authority(home, "autorite")
    with pytest.raises(ConfigError, match="unknown authority 'x'"):
        sg.import_blocklist(home, "x", home.inputs_dir() / "autorite" / "liste-autorite.txt")


def test_the_newest_list_counts_and_no_tenant_can_pose_as_the_list(home: Home) -> None:
    from datetime import date

    from confiance.consortium.operations import _store_dataset
    from confiance.detect.minors import KeyedBlocklist

    _prepare(home)  # imports the full demo list (two entries the pupils reach)
    partial = home.inputs_dir() / "autorite" / "liste-2.txt"
    partial.write_text("contenu-interdit.example\n")
    sg.import_blocklist(home, "autorite", partial)  # a newer list: one of them left
    operations.run_contract(home, sg.CONTRACT_ID)
    assert len(sg.review_queue(home, "autorite")) == 1
    # a school's dataset that claims to be the authority's list is refused
    fake, _ = KeyedBlocklist.prepare(["example.org"], where="fake")
    _store_dataset(
        home, home.object_store(), "lycees", "proxy", date.today().isoformat(), fake.to_table()
    )
    with pytest.raises(RuntimeJobError, match="reference 'blocklist' in a 'proxy' dataset"):
        operations.run_contract(home, sg.CONTRACT_ID)
