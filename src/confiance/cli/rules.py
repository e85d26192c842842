"""Sigma rules: what loads and runs, and a rule author's test on their own logs."""

from __future__ import annotations

import datetime
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import pyarrow as pa
import pyarrow.parquet as pq
from rich.table import Table

from confiance.cli.console import EXIT_ERROR, console, err, errors, print_json
from confiance.detect import sigma
from confiance.errors import ConfigError, IngestError


@click.group()
def rules() -> None:
    """Sigma rules (SigmaHQ format): list what loads and runs, test a rule on your logs."""


def _report_errors(ruleset: sigma.RuleSet) -> None:
    for error in ruleset.errors:
        err.print(f"[bold red]rule error:[/] {error.path}: {error.message}", markup=True)


def _rule_json(rule: sigma.LoadedRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "title": rule.title,
        "author": rule.author,
        "level": rule.level,
        "techniques": list(rule.techniques),
        "path": rule.path,
        "kind": rule.kind,
        "source": rule.source,
        "runs": rule.runs,
        "notes": list(rule.notes),
    }


@rules.command("list")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rules_list(paths: tuple[Path, ...], as_json: bool) -> None:
    """Load rules (default: those the `sigma` analysis ships) and say which run on our data.

    Exits 1 when a rule does not load (the others are still listed).
    """
    with errors():
        ruleset = sigma.load_rules(list(paths)) if paths else sigma.shipped_rules()
    if as_json:
        print_json(
            {
                "rules": [_rule_json(r) for r in ruleset.rules],
                "errors": [asdict(e) for e in ruleset.errors],
            }
        )
    else:
        table = Table(title=f"{len(ruleset.rules)} Sigma rules")
        for column in ("level", "log source", "kind", "title", "notes"):
            table.add_column(column)
        for rule in ruleset.rules:
            table.add_row(
                rule.level,
                rule.source or "[dim]none[/]",
                rule.kind,
                rule.title,
                "; ".join(rule.notes),
            )
        console.print(table)
        running = sum(r.runs for r in ruleset.rules)
        console.print(f"{running} of {len(ruleset.rules)} rules run on the datasets we ingest")
    _report_errors(ruleset)
    if ruleset.errors:
        sys.exit(EXIT_ERROR)


def _events(path: Path, fmt: str | None, tenant: str) -> tuple[pa.Table, int]:
    """Normalised events of ``path`` (a log in a supported format, or Parquet events)."""
    from confiance.events import conform
    from confiance.ingest import DEMO_GEO, parse_file
    from confiance.ingest.parsers import ParseContext

    if path.suffix == ".parquet":
        try:
            return conform(pq.read_table(path)), 0
        except (OSError, pa.ArrowInvalid) as exc:
            raise IngestError(f"{path}: not a Parquet file of events ({exc})") from None
    if fmt is None:
        raise ConfigError(f"{path}: give its --format (see `confiance formats`), or Parquet events")
    context = ParseContext(
        tenant=tenant, service=tenant, geo=DEMO_GEO, now=datetime.datetime.now(datetime.UTC)
    )
    parsed = parse_file(path, format=fmt, context=context)
    for line in parsed.quarantined[:5]:
        err.print(f"quarantined: {line.file}:{line.line}: {line.reason}")
    return parsed.table, len(parsed.quarantined)


@rules.command("test")
@click.argument("rule_files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--events",
    "events_file",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A log file (with --format) or Parquet events.",
)
@click.option("--format", "fmt", default=None, help="Format of the log file.")
@click.option("--tenant", default="local", show_default=True, help="Tenant named in findings.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rules_test(
    rule_files: tuple[Path, ...], events_file: Path, fmt: str | None, tenant: str, as_json: bool
) -> None:
    """Run rules over your own logs, in clear, on this machine: nothing is stored or sent.

    For rule authors: what a rule matches before a contract names it.
    """
    with errors():
        ruleset = sigma.load_rules(list(rule_files))
        events, quarantined = _events(events_file, fmt, tenant)
        findings = sigma.run_rules(ruleset, events)
    if as_json:
        print_json(
            {
                "events": events.num_rows,
                "quarantined": quarantined,
                "rules": [_rule_json(r) for r in ruleset.rules],
                "errors": [asdict(e) for e in ruleset.errors],
                "findings": findings,
            }
        )
    else:
        for rule in ruleset.rules:
            state = "runs" if rule.runs else "does not run"
            console.print(f"[bold]{rule.title}[/] ({rule.level}, {rule.kind}): {state}")
            for note in rule.notes:
                console.print(f"  note: {note}")
        table = Table(title=f"{len(findings)} finding(s) over {events.num_rows} events")
        for column in ("rule", "entity", "events", "first seen", "last seen"):
            table.add_column(column)
        for f in findings:
            table.add_row(
                f["title"],
                f"{f['entity']['field']}={f['entity']['value']}",
                str(f["evidence"]["events"]),
                f["first_seen"],
                f["last_seen"],
            )
        console.print(table)
        if quarantined:
            console.print(f"{quarantined} line(s) quarantined")
    _report_errors(ruleset)
    if ruleset.errors:
        sys.exit(EXIT_ERROR)


COMMANDS = (rules,)
