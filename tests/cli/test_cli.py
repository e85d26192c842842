"""The `confiance` command as users run it: exit codes and what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [
    [],
    ["init"],
    ["generate"],
    ["ingest"],
    ["formats"],
    ["contract"],
    ["contract", "new"],
    ["contract", "show"],
    ["contract", "sign"],
    ["contract", "list"],
    ["run"],
    ["alerts"],
    ["alerts", "list"],
    ["alerts", "export"],
    ["reveal"],
    ["reidentify"],
    ["reidentify", "ask"],
    ["reidentify", "answer"],
    ["reidentify", "list"],
    ["ledger"],
    ["ledger", "verify"],
    ["ledger", "tail"],
    ["ledger", "show"],
    ["ledger", "prove"],
    ["ledger", "consistency"],
    ["ledger", "checkpoint"],
    ["ledger", "witness"],
    ["ledger", "timestamp"],
    ["ledger", "trust"],
    ["ledger", "export-receipt"],
    ["ledger", "verify-receipt"],
    ["contract", "revoke"],
    ["contract", "diff"],
    ["keys"],
    ["keys", "rotate"],
    ["keys", "use-hsm"],
    ["evaluator"],
    ["evaluator", "serve"],
    ["store"],
    ["store", "status"],
    ["store", "scrub"],
    ["store", "repair"],
    ["store", "add-node"],
    ["store", "drain"],
    ["store", "rebalance"],
    ["demo"],
    ["authority"],
    ["authority", "add"],
    ["minors"],
    ["minors", "import-list"],
    ["minors", "contract"],
    ["review"],
    ["review", "list"],
    ["review", "confirm"],
    ["review", "dismiss"],
    ["review", "purge"],
    ["eval"],
    ["ca"],
    ["ca", "init"],
    ["ca", "issue"],
    ["ca", "revoke"],
    ["ca", "crl"],
    ["serve"],
    ["rules"],
    ["rules", "list"],
    ["rules", "test"],
    ["pseudonymise"],
    ["intel"],
    ["intel", "import"],
]


def confiance(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["--home", str(home)] if home else []
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "confiance.cli", *prefix, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "confiance")
def test_every_command_has_help(command: list[str]) -> None:
    result = confiance(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: confiance" in result.stdout


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("cli") / "home"
    result = confiance("demo", "--events", "12000", "--seed", "4", home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    return home, result.stdout


def test_demo_prints_every_stage_and_the_scores(demo_home: tuple[Path, str]) -> None:
    home, out = demo_home
    for stage in (
        "1. init",
        "2. generate",
        "3. ingest",
        "4. contract",
        "5. run",
        "6. alerts",
        "7. minors",
        "8. ledger",
        "9. score",
    ):
        assert stage in out
    assert "SIMULATED" in out and "UNSAFE demo" in out
    for attack in ("password_spraying", "brute_force", "port_scan", "impossible_travel",
                   "beaconing", "credential_stuffing", "web_attack", "threat_intel",
                   "incidents"):  # fmt: skip
        assert attack in out
    for path in (
        "config.yaml",
        "meta.sqlite",
        "ledger/ledger.sqlite",
        "tenants/lycees/witness.json",
        "contracts/soc-commun.yaml",
        "tenants/academie/keystore.json",
        "tenants/academie/reid.json",
        "inputs/ground-truth.json",
        "nodes/dc-rouen/manifests",
    ):
        assert (home / path).exists(), path


def test_demo_reruns_on_its_own_home_but_never_on_a_real_one(tmp_path: Path) -> None:
    real = tmp_path / "real"
    assert confiance("init", home=real).returncode == 0
    refused = confiance("demo", "--events", "6000", home=real)
    assert refused.returncode == 2 and "not a demo; refusing to replace it" in refused.stderr


def test_listing_commands_speak_json(demo_home: tuple[Path, str]) -> None:
    home, _ = demo_home
    alerts = json.loads(
        confiance("alerts", "list", "--as", "soc-commun", "--json", home=home).stdout
    )
    assert alerts and {"id", "detector", "pseudonyms", "attestation"} <= set(alerts[0])
    status = json.loads(confiance("store", "status", "--json", home=home).stdout)
    assert len(status["nodes"]) == 6 and status["k"] == 4
    contracts = json.loads(confiance("contract", "list", "--json", home=home).stdout)
    assert contracts == [
        {
            "id": "protection-mineurs",
            "version": 1,
            "complete": True,
            "state": "active",
            "signed_by": ["autorite", "lycees"],
        },
        {
            "id": "soc-commun",
            "version": 1,
            "complete": True,
            "state": "active",
            "signed_by": ["academie", "lycees", "region", "reseau"],
        },
    ]
    entries = json.loads(confiance("ledger", "tail", "-n", "3", "--json", home=home).stdout)
    assert len(entries) == 3
    shown = json.loads(confiance("contract", "show", "--json", home=home).stdout)
    assert shown["missing"] == [] and shown["digest"].startswith("sha256:")


def test_pseudonymise_gives_what_the_alerts_name(demo_home: tuple[Path, str]) -> None:
    """What a tenant writes in an allow-list: its address, as the pool knows it."""
    home, _ = demo_home
    truth = json.loads((home / "inputs/ground-truth.json").read_text())
    scan = next(a for a in truth["attacks"] if a["type"] == "port_scan")
    out = confiance(
        "pseudonymise", "--tenant", "reseau", "--kind", "ip", scan["entity"], "--json", home=home
    )
    assert out.returncode == 0, out.stderr
    pseudonym = json.loads(out.stdout)[scan["entity"]]
    alerts = json.loads(
        confiance("alerts", "list", "--as", "soc-commun", "--json", home=home).stdout
    )
    assert pseudonym in {a["entity"]["value"] for a in alerts if a["detector"] == "port_scan"}
    bad = confiance("pseudonymise", "--tenant", "mallory", "10.0.0.1", home=home)
    assert bad.returncode != 0 and "unknown tenant 'mallory'" in bad.stderr


def test_alerts_export_for_a_siem_and_a_ti_platform(
    demo_home: tuple[Path, str], tmp_path: Path
) -> None:
    home, _ = demo_home
    out = tmp_path / "bundle.json"
    done = confiance(
        "alerts", "export", "--as", "soc-commun", "--format", "stix", "--out", str(out), home=home
    )
    assert done.returncode == 0, done.stderr
    bundle = json.loads(out.read_text())
    assert bundle["type"] == "bundle" and any(o["type"] == "sighting" for o in bundle["objects"])
    cef = confiance("alerts", "export", "--as", "soc-commun", "--format", "cef", home=home)
    assert cef.stdout.startswith("CEF:0|confiance|confiance|")
    refused = confiance("alerts", "export", "--as", "mallory", "--format", "json", home=home)
    assert refused.returncode == 3


def test_the_soc_asks_and_the_owner_answers(demo_home: tuple[Path, str]) -> None:
    home, _ = demo_home
    listed = confiance("alerts", "list", "--as", "soc-commun", "--json", home=home)
    alert = next(a for a in json.loads(listed.stdout) if a["tenants"] == ["region"])
    asked = confiance(
        "reidentify", "ask", alert["id"], "--as", "soc-commun", "--reason", "case 12",
        "--pseudonym", alert["pseudonyms"][0], home=home,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    request = asked.stdout.split()[1]
    assert asked.stdout.strip().endswith("to region: pending")
    stranger = confiance(
        "reidentify", "answer", request, "--as", "academie", "--approve", "--reason", "case 12",
        home=home,
    )  # fmt: skip
    assert stranger.returncode == 3 and "not addressed to academie" in stranger.stderr
    done = confiance(
        "reidentify", "answer", request, "--as", "region", "--approve", "--reason", "case 12 ok",
        home=home,
    )  # fmt: skip
    assert done.returncode == 0 and "answered, 1 pseudonym(s) resolved" in done.stdout
    mine = json.loads(
        confiance("reidentify", "list", "--as", "soc-commun", "--json", home=home).stdout
    )
    (answered,) = [m for m in mine if m["id"] == request]
    assert list(answered["resolved"]) == [alert["pseudonyms"][0]]


def test_denials_exit_with_code_3(demo_home: tuple[Path, str]) -> None:
    home, _ = demo_home
    result = confiance("alerts", "list", "--as", "mallory", home=home)
    assert result.returncode == 3 and "'mallory' is not a recipient" in result.stderr
    result = confiance("run", "soc-commun", "--recipient", "mallory", home=home)
    assert result.returncode == 3 and "mallory is not named in it" in result.stderr
    result = confiance(
        "reveal", "0000000000000000", "--as", "region", "--reason", "checking", home=home
    )
    assert result.returncode == 3 and "not among the results sealed to region" in result.stderr


def test_usage_errors_exit_with_code_2(tmp_path: Path) -> None:
    result = confiance("store", "status", home=tmp_path / "nothing")
    assert result.returncode == 2 and "not a confiance home" in result.stderr
    result = confiance(
        "ingest",
        "--tenant",
        "academie",
        "--format",
        "squid",
        "/etc/hostname",
        home=tmp_path / "nothing",
    )
    assert result.returncode == 2


def test_ledger_verify_fails_on_a_flipped_byte(demo_home: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    from tests.consortium.test_must_hold import flip_entry_byte

    from confiance.consortium import Home

    home = tmp_path / "copy"
    shutil.copytree(demo_home[0], home)
    ok = confiance("ledger", "verify", home=home)
    assert ok.returncode == 0 and "final" in ok.stdout
    flip_entry_byte(Home(home), 1)
    result = confiance("ledger", "verify", home=home)
    assert result.returncode == 1
    assert "ledger verification FAILED: entry 1:" in result.stderr


def test_ledger_commands(demo_home: tuple[Path, str], tmp_path: Path) -> None:
    home, _ = demo_home
    shown = json.loads(confiance("ledger", "show", "3", home=home).stdout)
    assert shown["index"] == 3 and shown["actor"]
    proof = json.loads(confiance("ledger", "prove", "3", home=home).stdout)
    assert proof["verified"] and proof["proof"]
    consistency = json.loads(confiance("ledger", "consistency", "5", home=home).stdout)
    assert consistency["verified"] and consistency["old"] == 5
    note = confiance("ledger", "checkpoint", home=home).stdout
    assert note.startswith("confiance.example/ledger\n") and "\u2014 " in note
    saved = tmp_path / "saved.note"
    saved.write_text(note)
    later = confiance("ledger", "verify", "--from-checkpoint", str(saved), home=home)
    assert later.returncode == 0 and "is a prefix of the current ledger" in later.stdout
    trust = tmp_path / "trust.json"
    trust.write_text(confiance("ledger", "trust", home=home).stdout)
    receipt = tmp_path / "receipt.json"
    qr = tmp_path / "receipt.png"
    exported = confiance(
        "ledger", "export-receipt", "2", "--out", str(receipt), "--qr", str(qr), home=home
    )
    assert exported.returncode == 0, exported.stderr
    assert qr.read_bytes().startswith(b"\x89PNG")
    valid = confiance(
        "ledger", "verify-receipt", str(receipt), "--trust", str(trust), home=tmp_path / "elsewhere"
    )  # offline: no home, only the trust bundle
    assert valid.returncode == 0 and "receipt valid: entry 2" in valid.stdout
    document = json.loads(receipt.read_text())
    document["entry"] = document["entry"].replace('"kind":"', '"kind":"x', 1)
    receipt.write_text(json.dumps(document))
    invalid = confiance(
        "ledger", "verify-receipt", str(receipt), "--trust", str(trust), home=tmp_path / "elsewhere"
    )
    assert invalid.returncode == 1 and "receipt INVALID" in invalid.stderr


def test_contract_diff_shows_what_each_party_would_sign(
    demo_home: tuple[Path, str], tmp_path: Path
) -> None:
    home, _ = demo_home
    original = home / "contracts" / "soc-commun.yaml"
    changed = tmp_path / "v2.yaml"
    changed.write_text(original.read_text().replace("retention_days: 365", "retention_days: 30"))
    result = confiance("contract", "diff", str(original), str(changed), home=home)
    assert result.returncode == 0
    assert "-retention_days: 365" in result.stdout and "+retention_days: 30" in result.stdout
    same = confiance("contract", "diff", str(original), str(original), home=home)
    assert "no difference in what is signed" in same.stdout


def test_dry_run_from_the_command_line(demo_home: tuple[Path, str]) -> None:
    home, _ = demo_home
    result = confiance("run", "soc-commun", "--dry-run", home=home)
    assert result.returncode == 0, result.stderr
    assert "DRY RUN on synthetic data" in result.stdout and "soc-commun:" in result.stdout


def test_ingesting_a_real_ssh_log_reports_every_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert confiance("init", home=home).returncode == 0
    data = Path(__file__).parent.parent / "data" / "OpenSSH_2k.log"
    result = confiance(
        "ingest",
        "--tenant",
        "lycees",
        "--format",
        "openssh",
        "--source",
        "sshd",
        str(data),
        home=home,
    )
    assert result.returncode == 0, result.stderr
    assert "2000 lines (" in result.stdout and "lines/s), 523 events" in result.stdout
    assert "ignored: sshd line that records no authentication outcome: 1477" in result.stdout


def test_ingest_recognises_the_format_of_a_compressed_file(tmp_path: Path) -> None:
    import zstandard

    home = tmp_path / "home"
    assert confiance("init", home=home).returncode == 0
    data = Path(__file__).parent.parent / "data" / "001-zeek-scenario-malicious_labeled-conn.log"
    packed = tmp_path / "conn.log.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(data.read_bytes()))
    result = confiance("ingest", "--tenant", "reseau", str(packed), home=home)
    assert result.returncode == 0, result.stderr
    assert f"{packed}: read as zeek-conn" in result.stdout
    assert (
        "1000 lines (" in result.stdout and "lines/s), 992 events" in result.stdout
    )  # 8 lines of Zeek metadata
    unknown = tmp_path / "notes.txt"
    unknown.write_text("shopping list\nmilk\n")
    result = confiance("ingest", "--tenant", "reseau", str(unknown), home=home)
    assert result.returncode == 1
    assert f"{unknown}: not a format confiance reads" in result.stderr


def test_ingest_reads_a_web_log_with_its_own_log_format(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert confiance("init", home=home).returncode == 0
    log = tmp_path / "access.log"
    log.write_text(
        'portail.region.fr 10.3.14.22 [22/Nov/2026:10:15:32 +0100] "GET /aides HTTP/1.1" 200 51\n'
    )
    layout = '%v %h %t "%r" %>s %b'
    args = ["ingest", "--tenant", "region", "--format", "apache-combined", str(log)]
    result = confiance(*args, "--option", f"log_format={layout}", home=home)
    assert result.returncode == 0, result.stderr
    assert "1 lines (" in result.stdout and "1 events" in result.stdout
    wrong = confiance(*args, "--option", "format=x", home=home)
    assert wrong.returncode == 1
    assert "format apache-combined: unknown option 'format' (it takes: log_format)" in (
        wrong.stderr
    )
    bare = confiance(*args, "--option", "log_format", home=home)
    assert bare.returncode == 2 and "expected KEY=VALUE" in bare.stderr


def test_agent_ships_a_tailed_file_and_reports_its_status(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert confiance("init", home=home).returncode == 0
    log = tmp_path / "auth.log"
    log.write_text(
        "Dec 10 09:32:20 LabSZ sshd[24680]: Accepted password for fztu from "
        "119.137.62.142 port 49116 ssh2\n" * 3 + "garbage\n"
    )
    config = tmp_path / "agent.yaml"
    config.write_text("tenant: lycees\nfiles:\n  - path: auth.log\n    source: bastion\n")
    result = confiance("agent", "--config", str(config), "--once", home=home)
    assert result.returncode == 0, result.stderr
    assert "shipped 1 batch(es): 4 lines, 3 events, 1 quarantined; 0 batch(es) left" in (
        result.stdout
    )
    refused = confiance("quarantine", "--tenant", "lycees", "--json", home=home)
    assert refused.returncode == 0, refused.stderr
    assert json.loads(refused.stdout) == [
        {
            "source": "bastion",
            "file": str(log),
            "line": 4,
            "reason": "not an sshd syslog line",
            "raw": "garbage",
        }
    ]
    status = confiance("agent", "--config", str(config), "status", "--json", home=home)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["files"] == [
        {"path": str(log), "size": log.stat().st_size, "offset": log.stat().st_size, "lag_bytes": 0}
    ]
    assert report["spool"]["segments"] == 0
    assert report["agent"]["shipped"]["lines"] == 4
    table = confiance("agent", "--config", str(config), "status", home=home)
    assert "spool: 0 batch(es), 0 bytes" in table.stdout
    wrong = confiance("agent", "--config", str(config), "--tenant", "region", "--once", home=home)
    assert wrong.returncode == 2
    assert "written for tenant lycees, not region" in wrong.stderr


def test_a_tenant_exports_its_own_events_as_ocsf(home, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = confiance("events", "export", "--tenant", "lycees", "--out", str(out), home=home.root)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert events and f"{len(events)} events of lycees written to {out} (ocsf)" in result.stdout
    assert {e["metadata"]["tenant_uid"] for e in events} == {"lycees"}
    assert {e["class_uid"] for e in events} <= {3002, 4001, 4002, 4003, 4009}
    # pseudonymised as stored: no account in clear
    users = {e["user"]["name"] for e in events if "user" in e}
    assert users and all(u.startswith("u_") for u in users)
    ecs = confiance("events", "export", "--tenant", "lycees", "--format", "ecs", home=home.root)
    assert ecs.returncode == 0 and len(ecs.stdout.splitlines()) == len(events)
    tail = confiance("ledger", "tail", "-n", "3", "--json", home=home.root)
    assert "events.exported" in tail.stdout
    none = confiance(
        "events", "export", "--tenant", "lycees", "--day", "1999-01-01", home=home.root
    )
    assert none.returncode == 2 and "tenant lycees: no stored events on 1999-01-01" in none.stderr


def test_protection_of_minors_from_the_command_line(home) -> None:
    root = home.root
    steps = [
        ["authority", "add", "autorite"],
        [
            "minors",
            "import-list",
            "--authority",
            "autorite",
            str(root / "inputs" / "autorite" / "liste-autorite.txt"),
        ],
        ["minors", "contract"],
        ["contract", "sign", "protection-mineurs", "--as", "lycees"],
        ["contract", "sign", "protection-mineurs", "--as", "autorite"],
        ["run", "protection-mineurs"],
    ]
    for step in steps:
        result = confiance(*step, home=root)
        assert result.returncode == 0, (step, result.stdout, result.stderr)
    listed = confiance("review", "list", "--as", "referent-lycees", "--json", home=root)
    signals = json.loads(listed.stdout)
    assert signals and {s["detector"] for s in signals} == {"search_signals"}
    table = confiance("review", "list", "--as", "autorite", home=root)
    assert "list entry" in table.stdout and "Nothing is acted upon automatically" in table.stdout
    first = signals[0]["id"]
    dismissed = confiance(
        "review", "dismiss", first, "--as", "referent-lycees", "--suppress", home=root
    )
    assert dismissed.returncode == 0 and "dismissed by referent-lycees" in dismissed.stdout
    denied = confiance("review", "list", "--as", "soc-commun", home=root)
    assert denied.returncode == 3 and "not a recipient" in denied.stderr
    purged = confiance("review", "purge", home=root)
    assert purged.returncode == 0 and "0 signal(s) deleted" in purged.stdout


def test_eval_prints_precision_and_recall_per_class() -> None:
    data = Path(__file__).parents[1] / "data" / "minors" / "test.tsv"
    result = confiance("eval", "--dataset", str(data), "--format", "minors-text", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["classes"]) == {"distress", "radicalisation", "harassment"}
    assert all({"precision", "recall", "f1"} <= set(f) for f in report["classes"].values())
    shown = confiance("eval", "--dataset", str(data))
    assert "precision" in shown.stdout and "lexicon-fr" in shown.stdout
    missing = confiance("eval", "--dataset", str(data), "--model", "/nonexistent/camembert")
    assert missing.returncode == 1 and "never downloaded" in missing.stderr


def test_ca_and_serve_from_the_command_line(home) -> None:
    import socket
    import ssl
    import time

    import httpx

    root = home.root
    missing = confiance(
        "ca", "issue", "--tenant", "region", "--role", "auditor", "--name", "A", home=root
    )
    assert missing.returncode == 2 and "CONFIANCE_CERT_PASSPHRASE" in missing.stderr
    os.environ["CONFIANCE_CERT_PASSPHRASE"] = "correct horse battery"
    try:
        issued = confiance(
            "ca", "issue", "--tenant", "region", "--role", "auditor", "--name", "Camille", home=root
        )
    finally:
        del os.environ["CONFIANCE_CERT_PASSPHRASE"]
    assert issued.returncode == 0, issued.stderr
    serial = issued.stdout.split()[1].rstrip(":")
    people = root / "pki" / "people"
    certificate = next(people.glob(f"region-auditor-{serial}.pem"))
    assert (people / f"region-auditor-{serial}.p12").exists()
    assert confiance("ca", "init", home=root).returncode == 0
    assert "BEGIN X509 CRL" in confiance("ca", "crl", home=root).stdout

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "confiance.cli", "--home", str(root), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        context = ssl.create_default_context(cafile=root / "pki" / "ca.pem")
        context.load_cert_chain(
            certificate,
            people / f"region-auditor-{serial}-key.pem",
            password="correct horse battery",
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"https://127.0.0.1:{port}/v1/whoami", verify=context)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert answer.json() == {
            "name": "Camille",
            "tenant": "region",
            "role": "auditor",
            "serial": serial,
        }
        revoked = confiance("ca", "revoke", serial, home=root)
        assert revoked.returncode == 0
        with pytest.raises(httpx.TransportError):  # the running server follows the new CRL
            httpx.get(f"https://127.0.0.1:{port}/v1/whoami", verify=context)
    finally:
        server.terminate()
        server.wait(timeout=20)
