"""The properties issue 2 says must hold, each proven from the user's side."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from tests.conftest import build_home

import confiance
from confiance.consortium import Home, operations, storage
from confiance.consortium.home import SOC, TENANTS
from confiance.errors import AccessDenied, ConfigError, KeyReleaseDenied, RuntimeJobError
from confiance.keys import SoftwareKeyStore, decrypt_blob

_IPV4 = re.compile(rb"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_ACCOUNT = re.compile(rb"[a-z]+\.[a-z]+\d*")


def _identifiers(inputs: Path) -> tuple[set[bytes], set[bytes]]:
    """Every IPv4 address and account name that appears in the generated raw logs."""
    ips: set[bytes] = set()
    accounts: set[bytes] = set()
    for path in inputs.rglob("*"):
        if not path.is_file() or path.name == "ground-truth.json":
            continue
        data = path.read_bytes()
        ips.update(m.group(1) for m in _IPV4.finditer(data))
        for m in re.finditer(rb'"username":"([^"]+)"|\] |- ([a-z]+\.[a-z]+\d*) \[', data):
            value = m.group(1) or m.group(2)
            if value:
                accounts.add(value)
    for line in (inputs / "lycees" / "squid-access.log").read_bytes().splitlines():
        fields = line.split()
        if len(fields) > 8 and fields[8] != b"-":
            accounts.add(fields[8])
    ips.discard(b"0.0.0.0")
    return ips, accounts


def _ledger_kinds(home: Home) -> list[str]:
    return [e.kind for e in home.ledger().entries()]


def test_nothing_readable_crosses_a_boundary(home: Home) -> None:
    ips, accounts = _identifiers(home.inputs_dir())
    assert len(ips) > 1000 and len(accounts) > 500  # the search is not vacuous
    allowed = {home.keystore_path(t) for t in TENANTS} | {
        home.tenant_dir(t) / "reid.json" for t in TENANTS
    }
    searched = 0
    for path in home.root.rglob("*"):
        if not path.is_file() or path in allowed:
            continue
        if home.inputs_dir() in path.parents:
            continue  # the owners' own raw logs, on their side of the boundary
        data = path.read_bytes()
        searched += 1
        leaked_ips = {m.group(1) for m in _IPV4.finditer(data)} & ips
        leaked_accounts = {m.group(0) for m in _ACCOUNT.finditer(data)} & accounts
        assert not leaked_ips, f"{path}: holds IP addresses {sorted(leaked_ips)[:3]}"
        assert not leaked_accounts, f"{path}: holds accounts {sorted(leaked_accounts)[:3]}"
    assert searched > 100  # fragments, manifests, ledger, metadata, contract, quarantine


def _soc_alert_ids(home: Home) -> list[str]:
    return sorted(a.id for a in operations.list_alerts(home, SOC))


def test_losing_two_nodes_changes_nothing(home: Home) -> None:
    before = _soc_alert_ids(home)
    assert before
    for node in home.nodes()[1:3]:
        shutil.rmtree(node.root)
    operations.run_contract(home, "soc-commun")
    assert _soc_alert_ids(home) == before


def test_losing_three_nodes_names_the_object_and_never_returns_wrong_data(home: Home) -> None:
    for node in home.nodes()[:3]:
        shutil.rmtree(node.root)
    with pytest.raises(
        RuntimeJobError, match=r"object [0-9a-f]{32}: unreadable, segment \d+ has 3 intact"
    ):
        operations.run_contract(home, "soc-commun")
    status = storage.store_status(home)
    assert sum(not n["reachable"] for n in status["nodes"]) == 3
    assert all(o["present"] == 3 for o in status["objects"])


def test_corrupt_fragments_are_detected_and_replaced_by_parity(home: Home) -> None:
    before = _soc_alert_ids(home)
    for path in (home.root / "nodes" / "dc-rouen" / "objects").rglob("*.0"):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    operations.run_contract(home, "soc-commun")
    assert _soc_alert_ids(home) == before


def test_run_refused_when_a_tenant_has_not_signed(tmp_path: Path) -> None:
    home = build_home(tmp_path / "h", sign=("academie", "region", "reseau"), run=False)
    try:
        with pytest.raises(KeyReleaseDenied, match="contract soc-commun: not signed by lycees"):
            operations.run_contract(home, "soc-commun")
        denied = [e for e in home.ledger().entries() if e.kind == "key.denied"]
        assert denied and "not signed by lycees" in denied[-1].body["reason"]
        assert "key.released" not in _ledger_kinds(home)
    finally:
        home.close()


def _image(tmp_path: Path) -> Path:
    """A runtime image: a copy of the installed package, as an operator would deploy it."""
    image = tmp_path / "image"
    shutil.copytree(
        Path(confiance.__file__).parent,
        image / "confiance",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return image


def test_run_refused_when_one_byte_of_a_detector_changes(home: Home, tmp_path: Path) -> None:
    image = _image(tmp_path)
    detector = image / "confiance" / "detect" / "network.py"
    source = bytearray(detector.read_bytes())
    source[source.index(b"min_targets")] = ord(b"M")  # one byte, in the detector's code
    detector.write_bytes(bytes(source))
    with pytest.raises(KeyReleaseDenied, match=r"runtime measurement sha256:[0-9a-f]+ differs"):
        operations.run_contract(home, "soc-commun", image=image)
    assert _ledger_kinds(home)[-2:] == ["key.denied", "run.failed"]


def test_an_unchanged_image_is_accepted(home: Home, tmp_path: Path) -> None:
    image = _image(tmp_path)
    report = operations.run_contract(home, "soc-commun", image=image)
    assert report.findings > 0 and report.attestation == "SIMULATED"


def test_recipient_not_in_contract_gets_nothing(home: Home) -> None:
    with pytest.raises(AccessDenied, match="recipient mallory is not named in it"):
        operations.run_contract(home, "soc-commun", recipients=["mallory"])
    with pytest.raises(AccessDenied, match="'mallory' is not a recipient"):
        operations.list_alerts(home, "mallory")
    kinds = _ledger_kinds(home)
    assert kinds.count("results.denied") == 2


def test_each_recipient_sees_only_what_concerns_it(home: Home) -> None:
    soc = operations.list_alerts(home, SOC)
    for tenant in TENANTS:
        mine = operations.list_alerts(home, tenant)
        assert {a.id for a in mine} == {a.id for a in soc if tenant in a.tenants}


def test_reveal_resolves_only_the_owners_pseudonyms_and_logs_the_request(home: Home) -> None:
    shared = next(
        a
        for a in operations.list_alerts(home, "academie")
        if a.detector == "password_spraying" and set(a.tenants) == {"academie", "region"}
    )
    academie = operations.reveal(home, shared.id, owner="academie", reason="incident 2026-117")
    region = operations.reveal(home, shared.id, owner="region", reason="incident 2026-117")
    assert academie and region
    assert set(academie) | set(region) <= set(shared.pseudonyms)
    truth = json.loads((home.inputs_dir() / "ground-truth.json").read_text())
    attackers = {a["entity"] for a in truth["attacks"] if a["type"] == "password_spraying"}
    assert attackers & set(academie.values())
    requests = [e for e in home.ledger().entries() if e.kind == "reveal.requested"]
    assert [e.actor for e in requests[-2:]] == ["academie", "region"]
    for entry in requests:  # the request is logged, never the answer
        assert not set(academie.values()) & set(map(str, entry.body.values()))


def test_reveal_of_an_alert_not_sealed_to_the_owner_is_refused_and_logged(home: Home) -> None:
    scan = next(a for a in operations.list_alerts(home, SOC) if a.tenants == ("reseau",))
    with pytest.raises(AccessDenied, match=f"alert {scan.id}: not among the results sealed to"):
        operations.reveal(home, scan.id, owner="academie", reason="curiosity, not allowed")
    assert _ledger_kinds(home)[-1] == "reveal.denied"


def test_malformed_lines_are_counted_and_kept_encrypted(home: Home) -> None:
    truth = json.loads((home.inputs_dir() / "ground-truth.json").read_text())
    with home.meta.connect() as con:
        files = con.execute("SELECT tenant, lines, path FROM quarantine").fetchall()
    totals: dict[str, int] = {}
    for tenant, lines, _path in files:
        totals[tenant] = totals.get(tenant, 0) + lines
    assert totals == truth["malformed_lines"]
    for tenant, count, path in files:  # a tenant with two sources has two files
        document = json.loads((home.root / path).read_text())
        keystore: SoftwareKeyStore = home.keystore(tenant)
        context = f"confiance-quarantine/1|{tenant}|{document['name']}".encode()
        import base64

        dek = keystore.unwrap_key(base64.b64decode(document["wrapped_key"]), context=context)
        lines = decrypt_blob(base64.b64decode(document["blob"]), dek, aad=context).splitlines()
        assert len(lines) == count
        record = json.loads(lines[0])
        assert (
            record["line"] > 0
            and record["reason"]
            and record["file"].endswith(
                (
                    "ent-sso.jsonl",
                    "mail.log",
                    "portail-access.log",
                    "squid-access.log",
                    "flows.csv",
                    "resolver-query.log",
                )
            )
        )


def flip_entry_byte(home: Home, index: int) -> None:
    """Flip one byte of entry ``index`` where it lies in the ledger's SQLite file."""
    line = home.ledger().entry(index).line()
    store = home.root / "ledger" / "ledger.sqlite"
    data = bytearray(store.read_bytes())
    offset = data.index(line) + len(line) // 2
    data[offset] ^= 0x04
    store.write_bytes(bytes(data))


def test_ledger_byte_flip_names_the_entry(home: Home) -> None:
    flip_entry_byte(home, 5)
    from confiance.errors import LedgerVerificationError

    with pytest.raises(LedgerVerificationError, match="entry 5:") as info:
        operations.verify_ledger(home)
    assert info.value.index == 5


def test_ledger_holds_no_plaintext_and_verifies(home: Home) -> None:
    report = operations.verify_ledger(home)
    assert report.entries == report.checkpoints > 10
    kinds = set(_ledger_kinds(home))
    assert {"dataset.ingested", "contract.signed", "key.released", "run.receipt"} <= kinds
    receipt = next(e for e in home.ledger().entries() if e.kind == "run.receipt").body["receipt"]
    assert receipt["withheld"] == [] and receipt["attestation"] == "SIMULATED"
    ips, accounts = _identifiers(home.inputs_dir())
    secrets = set()
    for owner in (*TENANTS, SOC):
        keystore = home.keystore(owner)
        secrets |= {bytes(v).hex() for v in keystore._secrets.values()}
        secrets |= {base64.b64encode(bytes(v)).decode() for v in keystore._secrets.values()}
    for entry in home.ledger().entries():
        text = entry.line().decode()
        assert not {m.group(1).decode() for m in _IPV4.finditer(text.encode())} & {
            i.decode() for i in ips
        }
        assert not {m.group(0) for m in _ACCOUNT.finditer(text.encode())} & accounts
        assert not any(secret in text for secret in secrets), entry.index


def test_witnesses_make_the_latest_checkpoint_final(home: Home) -> None:
    assert operations.verify_ledger(home).final is False
    for tenant in ("academie", "region"):
        operations.witness(home, tenant)
    assert operations.verify_ledger(home).final is False  # 2 of 4, threshold 3
    operations.witness(home, "lycees")
    report = operations.verify_ledger(home)
    assert report.final is True and len(report.cosigned_by) == 3
    operations.run_contract(home, "soc-commun")  # the ledger grows
    size, count = operations.witness(home, "academie")  # consistency from its last size
    assert count == 1 and size == home.ledger().size


def test_checkpoints_time_stamped_by_an_rfc3161_authority(home: Home, tmp_path: Path) -> None:
    from tests.ledger.tsa import running_tsa

    with pytest.raises(ConfigError, match="no timestamp authority configured"):
        operations.timestamp_checkpoint(home)
    with running_tsa() as (url, root):
        shutil.copy(root, home.root / "tsa-root.pem")
        config = home.config
        config["ledger"]["tsa"] = {"url": url, "roots": "tsa-root.pem"}
        home.save_config(config)
        for tenant in ("academie", "region", "reseau"):
            operations.witness(home, tenant)
        size, when = operations.timestamp_checkpoint(home)
    assert size == home.ledger().size and when.year >= 2026
    assert operations.verify_ledger(home).timestamps == 1
    from confiance.ledger.receipt import export_receipt, verify_receipt

    receipt = export_receipt(home.ledger(), 4, trust=home.trust())
    assert "timestamp" in receipt
    verify_receipt(receipt, trust=home.trust())
    token = bytearray(home.ledger().timestamp(size) or b"")
    token[-20] ^= 1
    import sqlite3

    con = sqlite3.connect(home.ledger().path)
    with con:
        con.execute("UPDATE timestamps SET token = ? WHERE size = ?", (bytes(token), size))
    con.close()
    from confiance.errors import LedgerVerificationError

    with pytest.raises(LedgerVerificationError, match=f"checkpoint of size {size}: timestamp"):
        operations.verify_ledger(home)


def test_an_owner_that_withdraws_stops_every_key_release(home: Home) -> None:
    operations.revoke_contract(home, "soc-commun", "region", reason="end of the agreement")
    contract = operations.load_contract(home, "soc-commun")
    assert operations.state_of(home, contract) == "revoked by region"
    with pytest.raises(KeyReleaseDenied, match="contract soc-commun: revoked by region"):
        operations.run_contract(home, "soc-commun")
    kinds = _ledger_kinds(home)
    assert "contract.revoked" in kinds and kinds[-2:] == ["key.denied", "run.failed"]
    with pytest.raises(ConfigError, match="--reason"):
        operations.revoke_contract(home, "soc-commun", "academie", reason="")


def test_a_forged_revocation_also_stops_use(home: Home) -> None:
    contract = operations.load_contract(home, "soc-commun")
    from confiance.contracts import contract_digest

    with home.meta.connect() as con:
        con.execute(
            "INSERT INTO revocations VALUES (?,?,?,?,?)",
            (contract.id, contract_digest(contract), "lycees", b"\x00" * 64, "forged"),
        )
    with pytest.raises(KeyReleaseDenied, match="revocation attributed to lycees does not verify"):
        operations.run_contract(home, "soc-commun")


def test_kek_rotation_rewraps_without_reencrypting_and_survives_interruption(home: Home) -> None:
    from confiance.keys import SecretName

    before = _soc_alert_ids(home)
    fragments = sorted((home.root / "nodes" / "dc-rouen" / "objects").rglob("*"))
    snapshot = {p: p.read_bytes() for p in fragments if p.is_file()}
    old_kek = bytes(home.keystore("academie")._secrets[SecretName.KEK])
    with home.meta.connect() as con:
        datasets = con.execute(
            "SELECT count(*) FROM datasets WHERE tenant = 'academie'"
        ).fetchone()[0]
    counts = operations.rotate_kek(home, "academie")
    # one quarantine file per source with bad lines: its sign-on and its mail server
    assert counts["datasets"] == datasets > 0 and counts["quarantine_files"] == 2
    assert bytes(home.keystore("academie")._secrets[SecretName.KEK]) != old_kek
    assert all(p.read_bytes() == data for p, data in snapshot.items())  # no data re-encrypted
    home.close()  # reopen everything from disk
    operations.run_contract(home, "soc-commun")
    assert _soc_alert_ids(home) == before
    spraying = next(
        a for a in operations.list_alerts(home, "academie") if a.detector == "password_spraying"
    )
    assert operations.reveal(home, spraying.id, owner="academie", reason="after rotation")
    assert "keys.kek-rotated" in _ledger_kinds(home)

    # Interrupted half-way: both KEKs are on disk, everything still opens.
    keystore = home.keystore("region")
    keystore.begin_kek_rotation(passphrase=home.passphrase("region"))
    with home.meta.connect() as con:
        first = con.execute(
            "SELECT id, source, wrapped_dek FROM datasets WHERE tenant = 'region' LIMIT 1"
        ).fetchone()
        from confiance.runtime import DatasetKey

        context = DatasetKey(first[0], "region", first[1], b"").wrap_context()
        con.execute(
            "UPDATE datasets SET wrapped_dek = ? WHERE id = ?",
            (keystore.rewrap_key(bytes(first[2]), context=context), first[0]),
        )
    home.close()
    operations.run_contract(home, "soc-commun")
    assert _soc_alert_ids(home) == before
    operations.rotate_kek(home, "region")  # finishes the rotation
    home.close()
    assert not home.keystore("region").rotation_under_way()
    operations.run_contract(home, "soc-commun")
    assert _soc_alert_ids(home) == before


def test_a_rotation_with_the_wrong_passphrase_changes_nothing(home: Home) -> None:
    from confiance.errors import KeyStoreError

    path = home.keystore_path("lycees")
    original = path.read_bytes()
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        home.keystore("lycees").begin_kek_rotation(passphrase="not the passphrase")
    assert path.read_bytes() == original


def test_a_dry_run_shows_what_a_draft_would_release_without_touching_data(tmp_path: Path) -> None:
    home = build_home(tmp_path / "h", sign=(), run=False)  # a draft: nobody signed
    try:
        entries_before = home.ledger().size
        preview = operations.dry_run(home, "soc-commun", events=12_000, seed=3)
        assert preview["mode"] == "DRY RUN on synthetic data" and preview["findings"] > 0
        soc = preview["recipients"]["soc-commun"]
        assert soc["results"] == preview["findings"] - len(preview["withheld"])
        assert "entity" in soc["fields"] and "evidence.failures" in soc["fields"]
        assert preview["recipients"]["rssi-lycees"]["results"] == 0
        assert home.ledger().size == entries_before  # no key released, nothing recorded
        with home.meta.connect() as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    finally:
        home.close()


def _reissue(home: Home, change: dict) -> None:
    """Edit the contract as its authors would, and have every owner sign the new text."""
    import yaml

    path = home.contract_path("soc-commun")
    document = yaml.safe_load(path.read_text())
    for key, value in change.items():
        document[key] = value(document[key]) if callable(value) else value
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    for tenant in TENANTS:
        operations.sign_contract(home, "soc-commun", tenant)


def test_datasets_outside_the_contracts_days_are_never_released(home: Home) -> None:
    with home.meta.connect() as con:
        days = sorted(
            r[0] for r in con.execute("SELECT DISTINCT day FROM datasets WHERE tenant = 'academie'")
        )

    def first_day_only(datasets: list) -> list:
        for dataset in datasets:
            if dataset["tenant"] == "academie":
                dataset["from_day"] = dataset["until_day"] = days[1]
        return datasets

    _reissue(home, {"datasets": first_day_only})
    report = operations.run_contract(home, "soc-commun")
    released = [
        e.body
        for e in home.ledger().entries()
        if e.kind == "key.released" and e.actor == "academie" and e.body["run"] == report.run
    ]
    with home.meta.connect() as con:
        that_day = {
            r[0]
            for r in con.execute(
                "SELECT id FROM datasets WHERE tenant = 'academie' AND day = ?", (days[1],)
            )
        }
    # its sign-on and mail server logs of that day, nothing of any other day
    assert len(released) == 1 and set(released[0]["datasets"]) == that_day
    assert len(that_day) == 2


def test_analysis_parameters_signed_in_the_contract_apply(home: Home) -> None:
    def strict(analyses: list) -> list:
        for analysis in analyses:
            if analysis["detector"] == "brute_force":
                analysis["parameters"] = {"min_failures": 10_000}
        return analyses

    _reissue(home, {"analyses": strict})
    operations.run_contract(home, "soc-commun")
    detectors = {a.detector for a in operations.list_alerts(home, SOC)}
    assert "brute_force" not in detectors and "password_spraying" in detectors


def test_the_contract_says_who_may_reidentify(home: Home) -> None:
    _reissue(home, {"reidentification_by": ["region"]})
    operations.run_contract(home, "soc-commun")
    spraying = next(
        a
        for a in operations.list_alerts(home, "academie")
        if a.detector == "password_spraying" and len(a.tenants) > 1
    )
    with pytest.raises(AccessDenied, match="academie may not re-identify under it"):
        operations.reveal(home, spraying.id, owner="academie", reason="not allowed here")
    assert _ledger_kinds(home)[-1] == "reveal.denied"
    assert operations.reveal(home, spraying.id, owner="region", reason="allowed by contract")


@pytest.mark.pkcs11
def test_a_tenant_moves_its_kek_into_an_hsm(
    home: Home, softhsm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import PIN

    from confiance.errors import KeyStoreError
    from confiance.keys.pkcs11 import SOFTHSM2_MODULE, Pkcs11KeyStore

    before = _soc_alert_ids(home)
    monkeypatch.setenv("CONFIANCE_PKCS11_PIN_ACADEMIE", PIN)
    label = f"kek-academie-{home.root.parent.name[-12:]}"
    counts = operations.use_hsm(
        home, "academie", module=SOFTHSM2_MODULE, token=softhsm, label=label
    )
    assert counts["datasets"] > 0 and "keys.kek-moved-to-hsm" in _ledger_kinds(home)
    home.close()
    assert isinstance(home.kek_store("academie"), Pkcs11KeyStore)
    with home.meta.connect() as con:
        dataset_id, source, wrapped = con.execute(
            "SELECT id, source, wrapped_dek FROM datasets WHERE tenant = 'academie'"
        ).fetchone()
    from confiance.runtime import DatasetKey

    context = DatasetKey(dataset_id, "academie", source, b"").wrap_context()
    with pytest.raises(KeyStoreError):  # the software KEK no longer opens anything
        home.keystore("academie").unwrap_key(bytes(wrapped), context=context)
    operations.run_contract(home, "soc-commun")
    assert _soc_alert_ids(home) == before
    spraying = next(
        a for a in operations.list_alerts(home, "academie") if a.detector == "password_spraying"
    )
    assert operations.reveal(home, spraying.id, owner="academie", reason="with the HSM")
    with pytest.raises(ConfigError, match="its KEK is in an HSM"):
        operations.rotate_kek(home, "academie")


def test_signing_keys_must_be_certified_by_the_consortium_ca(home: Home, tmp_path: Path) -> None:
    from confiance.keys.pki import ConsortiumCA, certified_signing_key, certify_signing_key

    keys = home.certified_signing_keys()
    assert keys["academie"].public_bytes_raw() == (
        home.signing_public_keys()["academie"].public_bytes_raw()
    )
    rogue = ConsortiumCA(tmp_path / "rogue")
    rogue.create(passphrase="p")
    certify_signing_key(
        rogue,
        "region",
        home.keystore("region").signing_key().public_key(),
        ca_passphrase="p",
        directory=home.tenant_dir("region"),
    )
    with pytest.raises(
        KeyReleaseDenied, match="signing certificate of region: not issued by the consortium CA"
    ):
        operations.run_contract(home, "soc-commun")
    assert _ledger_kinds(home)[-1] == "run.failed"
    from confiance.errors import KeyStoreError

    with pytest.raises(KeyStoreError, match="names someone else"):
        certified_signing_key(
            home.tenant_dir("academie") / "signing-cert.pem",
            member="lycees",
            ca_certificate=home.root / "pki" / "ca.pem",
        )


def test_every_contract_transition_is_in_the_ledger(tmp_path: Path) -> None:
    home = build_home(tmp_path / "h", sign=("academie", "region", "lycees"), run=False)
    try:
        kinds = _ledger_kinds(home)
        assert kinds.count("contract.drafted") == 1 and "contract.activated" not in kinds
        operations.sign_contract(home, "soc-commun", "reseau")
        operations.sign_contract(home, "soc-commun", "reseau")  # signing again changes nothing
        assert _ledger_kinds(home).count("contract.activated") == 1
        operations.revoke_contract(home, "soc-commun", "lycees", reason="leaving the consortium")
        assert _ledger_kinds(home)[-1] == "contract.revoked"
    finally:
        home.close()


def test_scrub_finds_bit_rot_and_repair_restores_full_health(home: Home) -> None:
    report = storage.scrub_store(home)
    assert report["objects"] > 0 and report["missing"] == report["corrupt"] == 0
    rouen = home.root / "nodes" / "dc-rouen" / "objects"
    victims = sorted(p for p in rouen.rglob("*") if p.is_file())[:3]
    rotten = bytearray(victims[0].read_bytes())
    rotten[len(rotten) // 3] ^= 0x10
    victims[0].write_bytes(bytes(rotten))
    victims[1].unlink()
    caen = home.root / "nodes" / "dc-caen"
    shutil.rmtree(caen)
    caen.mkdir()  # a node replaced by an empty one
    found = storage.scrub_store(home)
    assert found["corrupt"] == 1 and found["missing"] >= found["objects"] + 1
    repaired = storage.scrub_store(home, repair=True)
    assert repaired["repaired"] == found["missing"] + found["corrupt"]
    assert all(item["healthy_after"] for item in repaired["damaged"])
    after = storage.scrub_store(home)
    assert after["missing"] == after["corrupt"] == 0
    assert all(o["present"] == o["total"] for o in storage.store_status(home)["objects"])
    assert storage.store_status(home)["last_scrub"]["action"] == "scrub"
    kinds = _ledger_kinds(home)
    assert "store.scrub" in kinds and "store.repair" in kinds


def test_residency_is_enforced_at_write_and_shown_in_status(home: Home, tmp_path: Path) -> None:
    from confiance.errors import StoreError

    status = storage.store_status(home)
    assert set(status["placement"]) == set(TENANTS)
    assert all(len(where) == 6 for where in status["placement"].values())
    config = home.config
    config["residency"]["lycees"] = {"jurisdiction_in": ["DE"]}
    home.save_config(config)
    new = tmp_path / "new.log"
    new.write_text(
        "1789365602.912    187 10.2.9.171 TCP_MISS/200 1059 GET http://www.ac.fr/ - "
        "HIER_DIRECT/185.166.186.138 text/html\n"
    )
    with home.meta.connect() as con:
        before = con.execute("SELECT count(*) FROM datasets").fetchone()[0]
    with pytest.raises(
        StoreError,
        match=r"residency policy of lycees \(jurisdiction in \[DE\]\) "
        r"admits 0 node\(s\); 6 are needed: nothing was written",
    ):
        operations.ingest_tenant(home, "lycees", files=[("proxy", "squid", new)])
    with home.meta.connect() as con:
        assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == before
