"""`confiance demo`: every stage of the data path, one line each, then scores."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from confiance.consortium import operations
from confiance.consortium import safeguarding as sg
from confiance.consortium.home import SOC, TENANTS, Home
from confiance.detect.synthetic import INTEL_FEED
from confiance.errors import ConfigError


def _prepare(root: Path, console: Console) -> None:
    """Reuse the path only if it is empty or a previous demo home."""
    config = root / "config.yaml"
    if config.exists():
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        if not loaded.get("demo"):
            raise ConfigError(
                f"{root}: holds a consortium that is not a demo; refusing to replace it"
            )
        console.print(f"replacing the previous demo home {root}")
        shutil.rmtree(root)
    elif root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root}: exists and is not empty; give another --home")


class _Stage:
    def __init__(self, console: Console, number: int, name: str) -> None:
        self.console, self.label = console, f"{number}. {name:<9}"
        self.start = time.perf_counter()

    def done(self, text: str) -> None:
        elapsed = time.perf_counter() - self.start
        self.console.print(f"[bold]{self.label}[/] {text}  [dim]({elapsed:.1f}s)[/]")


def run_demo(root: Path, *, events: int, seed: int, console: Console, as_json: bool) -> None:
    _prepare(root, console)
    total = time.perf_counter()
    stage = _Stage(console, 1, "init")
    home = operations.init_consortium(root)
    config = home.config
    config["demo"] = True
    home.save_config(config)
    stage.done(
        f"consortium of {len(TENANTS)} tenants ({', '.join(TENANTS)}), "
        f"{len(home.nodes())} storage nodes, empty ledger in {root} "
        "[yellow](UNSAFE demo: passphrases stored beside keystores)[/]"
    )
    try:
        _stages(home, events=events, seed=seed, console=console, as_json=as_json)
    finally:
        home.close()
    console.print(
        f"[bold]demo complete[/] in {time.perf_counter() - total:.1f}s — "
        "attestation was SIMULATED: no hardware protects the runtime's memory"
    )


def _stages(home: Home, *, events: int, seed: int, console: Console, as_json: bool) -> None:
    from confiance.detect import generate

    stage = _Stage(console, 2, "generate")
    summary = generate(home.inputs_dir(), events=events, seed=seed)
    stage.done(
        f"{summary.events} events over a school week: "
        + ", ".join(f"{k} {v}" for k, v in summary.per_source.items())
        + f"; {len(summary.attacks)} attacks injected (inputs/ground-truth.json)"
    )

    stage = _Stage(console, 3, "ingest")
    reports = []
    with Progress(
        TextColumn("   {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("ingest", total=len(TENANTS))
        for tenant in TENANTS:
            reports.append(
                operations.ingest_tenant(
                    home, tenant, progress=lambda text: progress.update(task, description=text)
                )
            )
            progress.advance(task)
    stage.done(
        f"{sum(r.events for r in reports)} events pseudonymised, encrypted (AES-256-GCM, one DEK "
        f"per dataset) and erasure-coded 4+2 into {sum(r.datasets for r in reports)} datasets; "
        f"{sum(r.quarantined for r in reports)} malformed lines quarantined (encrypted)"
    )
    for r in reports:
        reasons = ", ".join(f"{k}: {v}" for k, v in r.reasons.items()) or "none"
        console.print(
            f"             {r.tenant}: {r.lines} lines → {r.events} events, "
            f"quarantine {r.quarantined} ({reasons}) in "
            f"{', '.join(r.quarantine_files) or '-'}"
        )

    feed = home.inputs_dir() / INTEL_FEED[0] / INTEL_FEED[1]
    imported = operations.import_intel(home, INTEL_FEED[0], feed)
    console.print(
        f"             {INTEL_FEED[0]}: {imported['indicators']} threat-intelligence indicators "
        f"from its CERT's MISP feed, addresses pseudonymised like its logs"
    )

    stage = _Stage(console, 4, "contract")
    operations.new_contract(home, "soc-commun")
    for tenant in TENANTS:
        operations.sign_contract(home, "soc-commun", tenant)
    stage.done(
        f"soc-commun written to contracts/soc-commun.yaml and signed by {', '.join(TENANTS)}"
    )

    stage = _Stage(console, 5, "run")
    report = operations.run_contract(home, "soc-commun")
    stage.done(
        f"runtime process attested ([yellow]{report.attestation}[/]), keys released by "
        f"{len(TENANTS)} key services; {report.events} events → {report.findings} findings, "
        f"{report.sealed} results sealed (HPKE) to "
        + ", ".join(f"{r} {n}" for r, n in sorted(report.recipients.items()))
    )

    stage = _Stage(console, 6, "alerts")
    soc_alerts = operations.list_alerts(home, SOC)
    per_tenant = {t: len(operations.list_alerts(home, t)) for t in TENANTS}
    own = next(
        (
            a
            for a in operations.list_alerts(home, "academie")
            if a.detector == "password_spraying" and len(a.tenants) > 1
        ),
        None,
    )
    revealed = ""
    if own is not None:
        resolved = operations.reveal(
            home,
            own.id,
            owner="academie",
            reason="demo: confirm the accounts targeted by a campaign",
        )
        revealed = (
            f"; reveal {own.id} --as academie resolved {len(resolved)} of "
            f"{len(own.pseudonyms)} pseudonyms (only its own data)"
        )
    stage.done(
        f"{SOC} opened {len(soc_alerts)} alerts; "
        + ", ".join(f"{t} {n}" for t, n in per_tenant.items())
        + revealed
    )

    stage = _Stage(console, 7, "minors")
    sg.enrol_authority(home, "autorite")
    listed = sg.import_blocklist(
        home, "autorite", home.inputs_dir() / "autorite" / "liste-autorite.txt"
    )
    sg.new_minors_contract(home)
    for owner in ("lycees", "autorite"):
        operations.sign_contract(home, sg.CONTRACT_ID, owner)
    minors = operations.run_contract(home, sg.CONTRACT_ID)
    queues = {who: len(sg.review_queue(home, who)) for who in minors.recipients}
    stage.done(
        f"authority autorite keyed its made-up list ({listed.entries} entries, never in clear "
        f"here); contract {sg.CONTRACT_ID} (class protection-of-minors) signed by lycees and "
        "autorite; review queues: "
        + ", ".join(f"{w} {n}" for w, n in sorted(queues.items()))
        + f"; {SOC} receives none; every view is in the ledger"
    )

    stage = _Stage(console, 8, "ledger")
    for tenant in TENANTS:
        operations.witness(home, tenant)
    verified = operations.verify_ledger(home)
    stage.done(
        f"verified {verified.entries} entries and {verified.checkpoints} signed checkpoints; "
        f"latest cosigned by {len(verified.cosigned_by)} tenant witnesses "
        f"({'final' if verified.final else 'NOT final'}); root {verified.root.hex()[:16]}…"
    )

    stage = _Stage(console, 9, "score")
    scores = operations.ground_truth_scores(home, soc_alerts)
    table = Table(title="detections against the ground truth (joint SOC's alerts)")
    for column in ("attack type", "injected", "detected", "alerts", "precision", "recall"):
        table.add_column(column)
    for s in scores.values():
        table.add_row(
            s.detector,
            str(s.attacks),
            str(s.detected),
            str(s.findings),
            f"{s.precision:.2f}",
            f"{s.recall:.2f}" if s.attacks else "—",
        )
    stage.done("precision and recall per attack type")
    console.print(table)
    if as_json:
        console.print(
            json.dumps(
                {
                    k: {"precision": v.precision, "recall": v.recall, "f1": v.f1}
                    for k, v in scores.items()
                }
            )
        )
