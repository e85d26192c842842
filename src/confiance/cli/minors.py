"""Commands of the protection of minors: the authority, its list, the review queue, eval."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from confiance.cli.console import console, errors, home_of, print_json
from confiance.consortium import safeguarding as sg


@click.group()
def authority() -> None:
    """Authorities that own reference data (a list of known illegal content)."""


@authority.command("add")
@click.argument("name")
@click.pass_context
def authority_add(ctx: click.Context, name: str) -> None:
    """Enrol an authority: its keystore, KEK, signing key and certificate."""
    with errors():
        sg.enrol_authority(home_of(ctx), name)
    console.print(f"authority {name} enrolled (keystore under tenants/{name}/)")


@click.group()
def minors() -> None:
    """Protection of minors: the authority's list and the contract that gates it."""


@minors.command("import-list")
@click.option("--authority", "name", required=True, help="The authority that owns the list.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_context
def minors_import_list(ctx: click.Context, name: str, path: Path) -> None:
    """Key the authority's list (one URL or domain per line) and store it encrypted.

    Run on the authority's side: the clear list never leaves it; the index from
    keyed ids back to lines stays in its own directory.
    """
    with errors():
        done = sg.import_blocklist(home_of(ctx), name, path)
    console.print(
        f"{done.entries} entries keyed and stored encrypted ({done.dataset_bytes} bytes); "
        f"the authority's index: {done.index_path}"
    )


@minors.command("contract")
@click.option("--school", default="lycees", show_default=True, help="The school tenant.")
@click.option("--authority", "name", default="autorite", show_default=True)
@click.option("--retention-days", default=30, show_default=True, type=int)
@click.pass_context
def minors_contract(ctx: click.Context, school: str, name: str, retention_days: int) -> None:
    """Draft the protection-of-minors contract between a school and the authority."""
    with errors():
        path = sg.new_minors_contract(
            home_of(ctx), school=school, authority=name, retention_days=retention_days
        )
    console.print(f"drafted {path}; both owners must sign it (`confiance contract sign`)")


@click.group()
def review() -> None:
    """The review queue of protection-of-minors signals; every view is in the ledger."""


def _contract_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option("--contract", "contract_id", default=sg.CONTRACT_ID, show_default=True)(
        function
    )


@review.command("list")
@click.option("--as", "who", required=True, help="The recipient reviewing.")
@click.option("--all", "every_status", is_flag=True, help="Decided signals too.")
@_contract_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def review_list(
    ctx: click.Context, who: str, every_status: bool, contract_id: str, as_json: bool
) -> None:
    """Open the signals waiting for WHO (the view is written to the ledger)."""
    with errors():
        queue = sg.review_queue(
            home_of(ctx), who, contract_id=contract_id, every_status=every_status
        )
    if as_json:
        print_json([q.alert.model_dump(mode="json") | {"status": q.status} for q in queue])
        return
    table = Table("signal", "status", "severity", "what", "who", "first seen", "reasons")
    for q in queue:
        evidence = q.alert.evidence
        what = evidence.get("signal_class") or f"list entry {evidence.get('list_entry')}"
        table.add_row(
            q.alert.id,
            q.status,
            q.alert.severity,
            str(what),
            q.alert.entity.value,
            q.alert.first_seen.isoformat(timespec="minutes"),
            ", ".join(evidence.get("reasons", [])) or "-",
        )
    console.print(table)
    console.print(
        f"{len(queue)} signal(s) for {who}; SIMULATED attestation. Nothing is acted upon "
        "automatically: confirm or dismiss each one (`confiance review confirm|dismiss`)."
    )


def _decide(
    ctx: click.Context, signal: str, who: str, decision: str, suppress: bool, contract_id: str
) -> None:
    with errors():
        done = sg.decide(
            home_of(ctx), who, signal, decision=decision, suppress=suppress, contract_id=contract_id
        )
    extra = "; its patterns are suppressed for the tenant" if suppress else ""
    console.print(f"signal {signal}: {done.status} by {who}{extra} (in the ledger)")


@review.command("confirm")
@click.argument("signal")
@click.option("--as", "who", required=True, help="The reviewer.")
@_contract_option
@click.pass_context
def review_confirm(ctx: click.Context, signal: str, who: str, contract_id: str) -> None:
    """Record that a person judged SIGNAL to call for follow-up."""
    _decide(ctx, signal, who, "confirm", False, contract_id)


@review.command("dismiss")
@click.argument("signal")
@click.option("--as", "who", required=True, help="The reviewer.")
@click.option("--suppress", is_flag=True, help="Also set its patterns aside for the tenant.")
@_contract_option
@click.pass_context
def review_dismiss(
    ctx: click.Context, signal: str, who: str, suppress: bool, contract_id: str
) -> None:
    """Record that SIGNAL is not a concern (and, with --suppress, why it will not recur)."""
    _decide(ctx, signal, who, "dismiss", suppress, contract_id)


@review.command("purge")
@_contract_option
@click.pass_context
def review_purge(ctx: click.Context, contract_id: str) -> None:
    """Delete signals whose retention ended (also done before every queue view)."""
    with errors():
        deleted = sg.purge_expired(home_of(ctx), contract_id)
    console.print(f"{deleted} signal(s) deleted at the end of their retention")


def minors_text_report(dataset: Path, model: Path | None, as_json: bool) -> None:
    """Precision, recall and F1 per signal class on a labelled file of texts."""
    from confiance.detect.minors import load_classifier
    from confiance.detect.minors.evaluation import evaluate as score
    from confiance.detect.minors.evaluation import load_labelled

    with errors():
        report = score(load_classifier(model), load_labelled(dataset))
    if as_json:
        print_json(report)
        return
    table = Table("class", "precision", "recall", "F1", "TP", "FP", "FN")
    for cls, f in report["classes"].items():
        table.add_row(
            cls,
            str(f["precision"]),
            str(f["recall"]),
            str(f["f1"]),
            str(f["true_positives"]),
            str(f["false_positives"]),
            str(f["false_negatives"]),
        )
    console.print(table)
    console.print(
        f"{report['texts']} texts, classifier {report['classifier']}; false positives by kind: "
        f"{report['false_positives_by_kind'] or 'none'}"
    )


COMMANDS = (authority, minors, review)
