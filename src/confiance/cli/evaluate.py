"""`confiance eval`: how good the detections are, on labelled data, in numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from confiance.cli.console import console, errors, print_json
from confiance.cli.minors import minors_text_report
from confiance.detect.labelled import FORMATS


def _cell(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


@click.command("eval")
@click.option(
    "--dataset",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="A labelled file, or the directory `confiance generate` wrote (synthetic).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["minors-text", *FORMATS]),
    default="minors-text",
    show_default=True,
    help="What the dataset holds.",
)
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="ssh-auth: a CSV of source_ip,label for the log's sources.",
)
@click.option(
    "--analysis",
    "analyses",
    multiple=True,
    help="Only these detections (default: every standard one).",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="minors-text: a local transformer model directory instead of the lexicon.",
)
@click.option("--json", "as_json", is_flag=True)
def evaluate(
    dataset: Path,
    fmt: str,
    labels: Path | None,
    analyses: tuple[str, ...],
    model: Path | None,
    as_json: bool,
) -> None:
    """Precision, recall and F1 per detection (or per signal class) on labelled data.

    Detections are scored per flow (record) and per source address; on the
    synthetic week also per injected attack. The run is in clear, on this
    machine: pseudonymisation maps values one to one and does not change
    the scores (the demo's last stage measures them through the whole path).
    """
    if fmt == "minors-text":
        minors_text_report(dataset, model, as_json)
        return
    from confiance.detect.labelled import evaluate as run

    with errors():
        report = run(dataset, fmt, labels=labels, analyses=analyses or None)
    if as_json:
        print_json(report)
        return
    table = Table(
        "detection",
        "findings",
        "flow P",
        "flow R",
        "flow F1",
        "source P",
        "source R",
        "source F1",
        "attacks found",
        title=f"{report['format']}: {report['records']} records, "
        f"{report['malicious_records']} malicious from {report['malicious_sources']} source(s)",
    )
    rows = [*report["detections"].items(), ("overall", report["overall"])]
    for name, r in rows:
        attack = r.get("attack")
        found = "" if not attack else f"{attack['detected']}/{attack['attacks']}"
        table.add_row(
            name,
            str(r["findings"]),
            *(
                _cell(r[level][k])
                for level in ("flow", "source")
                for k in ("precision", "recall", "f1")
            ),
            found,
        )
    console.print(table)
    for note in report["notes"]:
        console.print(note)


COMMANDS = (evaluate,)
