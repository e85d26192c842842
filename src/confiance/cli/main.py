"""`confiance` command-line interface."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from confiance.cli.console import EXIT_ERROR, console, err, errors, home_of, print_json
from confiance.cli.progress import IngestProgress
from confiance.consortium import Home, operations, storage
from confiance.consortium.home import TENANTS, default_home
from confiance.errors import (
    ConfigError,
    LedgerVerificationError,
)
from confiance.runtime import SIMULATED


@click.group()
@click.option(
    "--home",
    "home_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Consortium home (default: $CONFIANCE_HOME or ./.confiance).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.version_option(package_name="confiance")
@click.pass_context
def cli(ctx: click.Context, home_dir: Path | None, verbose: bool) -> None:
    """Sovereign pooling of security logs between public bodies."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.ensure_object(dict)
    ctx.obj["home"] = Home(home_dir or default_home())
    ctx.call_on_close(ctx.obj["home"].close)


# -- init / generate / ingest --------------------------------------------------


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create a consortium: tenants, keystores, storage nodes, metadata, ledger."""
    with errors():
        home = operations.init_consortium(home_of(ctx).root)
        console.print(
            f"initialised {home.root}: tenants {', '.join(TENANTS)}; "
            f"{len(home.nodes())} storage nodes; ledger empty"
        )
        console.print(
            "UNSAFE (demo): keystore passphrases are stored beside the keystores; "
            "set CONFIANCE_PASSPHRASE_<OWNER> before `init` in production."
        )


@cli.command()
@click.option("--events", default=200_000, show_default=True, help="Events in total.")
@click.option("--seed", default=1, show_default=True, help="Random seed.")
@click.pass_context
def generate(ctx: click.Context, events: int, seed: int) -> None:
    """Write synthetic logs of a school week, attacks included, under inputs/."""
    from confiance.detect import generate as _generate

    with errors():
        summary = _generate(home_of(ctx).inputs_dir(), events=events, seed=seed)
        console.print(
            f"generated {summary.events} events "
            f"({', '.join(f'{k} {v}' for k, v in summary.per_source.items())}); "
            f"{len(summary.attacks)} attacks in inputs/ground-truth.json"
        )


def _ingest_line(report: operations.IngestReport, elapsed: float) -> str:
    rate = f" ({report.lines / elapsed:,.0f} lines/s)" if elapsed > 0 and report.lines else ""
    line = (
        f"{report.tenant}: {report.lines} lines{rate}, {report.events} events in "
        f"{report.datasets} datasets, {report.quarantined} quarantined"
    )
    if report.quarantined:
        reasons = "; ".join(f"{r}: {n}" for r, n in report.reasons.items())
        line += f" ({reasons}) → {', '.join(report.quarantine_files)}"
    if report.ignored:
        line += "; ignored: " + "; ".join(f"{r}: {n}" for r, n in report.ignored.items())
    return line


@cli.command()
@click.option("--tenant", type=str, default=None, help="Tenant (default: every tenant).")
@click.option(
    "--format",
    "fmt",
    default=None,
    help="Format of FILES (see `confiance formats`); recognised from each file if omitted.",
)
@click.option("--source", default=None, help="Source name of FILES (default: their format).")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A format option for FILES, e.g. log_format='%h %l %u %t \"%r\" %>s %b' "
    "(see `confiance formats`).",
)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.pass_context
def ingest(
    ctx: click.Context,
    tenant: str | None,
    fmt: str | None,
    source: str | None,
    options: tuple[str, ...],
    files: tuple[Path, ...],
) -> None:
    """Parse, pseudonymise, encrypt and store a tenant's logs.

    FILES may be plain, gzip, bzip2, zstd or single-file zip; without FILES,
    the tenant's configured sources are read.
    """
    with errors():
        home = home_of(ctx)
        if files and tenant is None:
            raise ConfigError("FILES need --tenant")
        if options and not files:
            raise ConfigError("--option applies to FILES (configured sources take `options:`)")
        chosen: dict[str, str] = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or not key:
                raise ConfigError(f"--option {option!r}: expected KEY=VALUE")
            chosen[key] = value
        tenants = [tenant] if tenant else list(home.config["tenants"])
        for name in tenants:
            given = [(source or "", fmt or "", f) for f in files] if files else None
            with IngestProgress(console) as progress:
                report = operations.ingest_tenant(
                    home,
                    name,
                    files=given,
                    on_batch=progress.batch,
                    options=chosen if files else None,
                )
            if files and not fmt:
                for path, recognised in report.formats.items():
                    console.print(f"{path}: read as {recognised}")
            console.print(_ingest_line(report, progress.elapsed))


@cli.group()
def events() -> None:
    """A tenant's own stored events."""


@events.command("export")
@click.option("--tenant", required=True, help="Whose events (its KEK opens them).")
@click.option("--source", default=None, help="Only this source.")
@click.option("--day", default=None, help="Only this UTC day (YYYY-MM-DD).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ocsf", "ecs"]),
    default="ocsf",
    show_default=True,
    help="OCSF 1.1.0 event objects, or the flat ECS columns as stored.",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.pass_context
def events_export(
    ctx: click.Context,
    tenant: str,
    source: str | None,
    day: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    """Write a tenant's events as JSON lines (pseudonymised as they were stored)."""
    from confiance.events.ocsf import iter_ocsf

    with errors():
        stream = out.open("w", encoding="utf-8") if out else sys.stdout
        count = 0
        try:
            for table in operations.own_events(home_of(ctx), tenant, source=source, day=day):
                records = iter_ocsf(table) if fmt == "ocsf" else iter(table.to_pylist())
                for record in records:
                    stream.write(json.dumps(record, default=str) + "\n")
                    count += 1
        finally:
            if out:
                stream.close()
        if out:
            console.print(f"{count} events of {tenant} written to {out} ({fmt})")


@cli.command()
@click.option("--tenant", required=True, help="Whose quarantine (its KEK opens it).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine(ctx: click.Context, tenant: str, as_json: bool) -> None:
    """The lines a tenant's ingestion refused: file, line, reason, first bytes."""
    with errors():
        records = operations.read_quarantine(home_of(ctx), tenant)
        if as_json:
            print_json(records)
            return
        table = Table("source", "file", "line", "reason", "start of the line")
        for r in records:
            table.add_row(r["source"], r["file"], str(r["line"]), r["reason"], r["raw"][:60])
        console.print(table)
        console.print(f"{len(records)} quarantined line(s) of {tenant}")


@cli.command()
def formats() -> None:
    """List supported log formats with a sample line each, and the options they take."""
    from rich.markup import escape

    from confiance.ingest.parsers import OPTIONS, PARSERS

    for parser in PARSERS.values():
        takes = ", ".join(sorted(OPTIONS.get(parser.name, {})))
        console.print(
            f"[bold]{parser.name}[/]: {escape(parser.description)}"
            + (f" (options: {takes})" if takes else "")
            + f"\n  {escape(parser.sample)}\n"
        )


# -- contracts -------------------------------------------------------------------


@cli.group()
def contract() -> None:
    """Draft, show, sign and list data-use contracts."""


@contract.command("new")
@click.argument("contract_id", default="soc-commun")
@click.pass_context
def contract_new(ctx: click.Context, contract_id: str) -> None:
    """Write the default joint-SOC contract to contracts/ID.yaml."""
    with errors():
        path = operations.new_contract(home_of(ctx), contract_id)
        console.print(f"wrote {path}; each data owner must now `confiance contract sign`")


@contract.command("show")
@click.argument("contract_id", default="soc-commun")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def contract_show(ctx: click.Context, contract_id: str, as_json: bool) -> None:
    """Show a contract, its digest and who signed it."""
    from confiance.contracts import contract_digest

    with errors():
        home = home_of(ctx)
        c = operations.load_contract(home, contract_id)
        signed = sorted(operations.signatures(home, c))
        missing = [t for t in c.data_owners if t not in signed]
        if as_json:
            print_json(
                {
                    "contract": c.canonical(),
                    "digest": contract_digest(c),
                    "signed_by": signed,
                    "missing": missing,
                }
            )
            return
        console.print(c.to_yaml())
        console.print(f"digest {contract_digest(c)}; state: {operations.state_of(home, c)}")
        console.print(
            f"signed by: {', '.join(signed) or 'nobody'}; missing: {', '.join(missing) or 'none'}"
        )


@contract.command("sign")
@click.argument("contract_id", default="soc-commun")
@click.option("--as", "tenant", required=True, help="Signing tenant.")
@click.pass_context
def contract_sign(ctx: click.Context, contract_id: str, tenant: str) -> None:
    """Sign a contract as a data owner (the signature goes to the ledger)."""
    with errors():
        digest = operations.sign_contract(home_of(ctx), contract_id, tenant)
        console.print(f"{tenant} signed {contract_id} ({digest})")


@contract.command("revoke")
@click.argument("contract_id", default="soc-commun")
@click.option("--as", "tenant", required=True, help="The data owner withdrawing.")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
@click.pass_context
def contract_revoke(ctx: click.Context, contract_id: str, tenant: str, reason: str) -> None:
    """Withdraw a data owner's participation: no key is released for it any more."""
    with errors():
        digest = operations.revoke_contract(home_of(ctx), contract_id, tenant, reason=reason)
        console.print(f"{tenant} revoked {contract_id} ({digest})")


@contract.command("diff")
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("new", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def contract_diff(old: Path, new: Path) -> None:
    """What changed between two contract files, field by field, and their digests."""
    from confiance.contracts import Contract, contract_digest
    from confiance.contracts.diff import unified

    with errors():
        a, b = Contract.load(old), Contract.load(new)
        text = unified(a, b, old_name=str(old), new_name=str(new))
        click.echo(text if text else "no difference in what is signed")
        click.echo(
            f"digests: {contract_digest(a)} → {contract_digest(b)}"
            + ("" if text else " (same: signatures carry over)")
        )


@contract.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def contract_list(ctx: click.Context, as_json: bool) -> None:
    """List contracts and their signature status."""
    with errors():
        rows = operations.contract_states(home_of(ctx))
        if as_json:
            print_json(rows)
            return
        for row in rows:
            state = row["state"]
            console.print(
                f"{row['id']} v{row['version']}: {state}, signed by "
                f"{', '.join(row['signed_by']) or 'nobody'}"
            )


# -- run / alerts / reveal ---------------------------------------------------------


@cli.command()
@click.argument("contract_id")
@click.option(
    "--runtime-image",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory holding the runtime's `confiance` package (default: installed).",
)
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    help="Also ask for results for this recipient (must be named in the contract).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Run on synthetic data: see what each recipient would get, before signing.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def run(
    ctx: click.Context,
    contract_id: str,
    runtime_image: Path | None,
    recipients: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run a contract's analyses in the confidential runtime (SIMULATED attestation)."""
    with errors():
        if dry_run:
            preview = operations.dry_run(home_of(ctx), contract_id)
            if as_json:
                print_json(preview)
                return
            console.print(
                f"{preview['mode']}: contract {preview['contract']}, "
                f"{preview['events']} synthetic events, {preview['findings']} findings, "
                f"{len(preview['withheld'])} withheld by the output constraints"
            )
            for name, seen in preview["recipients"].items():
                console.print(
                    f"  {name}: {seen['results']} results "
                    f"({', '.join(seen['detectors']) or 'none'}); fields: "
                    f"{', '.join(seen['fields']) or '-'}"
                )
            return
        report = operations.run_contract(
            home_of(ctx), contract_id, image=runtime_image, recipients=recipients
        )
        if as_json:
            print_json(asdict(report))
            return
        console.print(
            f"run {report.run} of {report.contract}: attestation {report.attestation} "
            f"(no hardware protection), measurement {report.measurement[:23]}…"
        )
        console.print(
            f"  {report.events} events, {report.findings} findings, {report.sealed} "
            f"sealed results: "
            + ", ".join(f"{r} {n}" for r, n in sorted(report.recipients.items()))
        )


@cli.group()
def alerts() -> None:
    """Alerts sealed to a recipient."""


@alerts.command("list")
@click.option("--as", "who", required=True, help="Tenant or recipient name.")
@click.option("--contract", "contract_id", default="soc-commun", show_default=True)
@click.option("--run", "run_id", default=None, help="Run id (default: latest).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def alerts_list(
    ctx: click.Context, who: str, contract_id: str, run_id: str | None, as_json: bool
) -> None:
    """Open and list the alerts sealed to WHO."""
    with errors():
        found = operations.list_alerts(home_of(ctx), who, contract_id=contract_id, run=run_id)
        if as_json:
            print_json([a.model_dump(mode="json") for a in found])
            return
        table = Table(title=f"alerts sealed to {who} — attestation {SIMULATED}")
        for column in ("id", "severity", "detector", "tenants", "entity", "first seen", "title"):
            table.add_column(column)
        for a in found:
            table.add_row(
                a.id,
                a.severity,
                a.detector,
                ",".join(a.tenants),
                a.entity.value,
                a.first_seen.strftime("%Y-%m-%d %H:%M"),
                a.title,
            )
        console.print(table)


@alerts.command("export")
@click.option("--as", "who", required=True, help="Tenant or recipient name.")
@click.option("--contract", "contract_id", default="soc-commun", show_default=True)
@click.option("--run", "run_id", default=None, help="Run id (default: latest).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "stix", "cef"]),
    required=True,
    help="json document, STIX 2.1 bundle, or CEF lines for syslog.",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.pass_context
def alerts_export(
    ctx: click.Context, who: str, contract_id: str, run_id: str | None, fmt: str, out: Path | None
) -> None:
    """Export the alerts sealed to WHO for a SIEM or a threat-intelligence platform.

    Identifiers stay pseudonyms, and every format says so in a field a machine
    reads; the attestation travels with each alert.
    """
    from confiance.alerts import export

    with errors():
        found = operations.list_alerts(home_of(ctx), who, contract_id=contract_id, run=run_id)
        if fmt == "json":
            text = export.to_json(found, recipient=who)
        elif fmt == "stix":
            text = export.to_stix(found)
        else:
            text = "\n".join(export.to_cef(found))
        if out is None:
            click.echo(text)
        else:
            out.write_text(text + "\n", encoding="utf-8")
            console.print(f"{len(found)} alert(s) written to {out} ({fmt})")


@cli.command()
@click.argument("alert_id")
@click.option("--as", "owner", required=True, help="Data owner asking.")
@click.option("--reason", required=True, help="Why re-identification is needed (logged).")
@click.option("--contract", "contract_id", default="soc-commun", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reveal(
    ctx: click.Context, alert_id: str, owner: str, reason: str, contract_id: str, as_json: bool
) -> None:
    """Resolve the pseudonyms of ALERT that OWNER contributed (request is logged)."""
    with errors():
        resolved = operations.reveal(
            home_of(ctx), alert_id, owner=owner, reason=reason, contract_id=contract_id
        )
        if as_json:
            print_json(resolved)
            return
        if not resolved:
            console.print(f"{owner} contributed none of the pseudonyms of alert {alert_id}")
        for pseudonym, identifier in sorted(resolved.items()):
            console.print(f"{pseudonym} → {identifier}")


@cli.group()
def reidentify() -> None:
    """Ask the data owners behind an alert who its pseudonyms are; owners answer."""


@reidentify.command("ask")
@click.argument("alert_id")
@click.option("--as", "requester", required=True, help="Recipient asking (tenant or name).")
@click.option("--reason", required=True, help="Why (5–500 characters, in the ledger).")
@click.option("--pseudonym", "pseudonyms", multiple=True, help="Only these (default: all).")
@click.option("--contract", "contract_id", default="soc-commun", show_default=True)
@click.pass_context
def reidentify_ask(
    ctx: click.Context,
    alert_id: str,
    requester: str,
    reason: str,
    pseudonyms: tuple[str, ...],
    contract_id: str,
) -> None:
    """One request per data owner of ALERT that the contract lets re-identify."""
    from confiance.consortium import reidentification

    with errors():
        made = reidentification.ask(
            home_of(ctx),
            requester=requester,
            alert_id=alert_id,
            reason=reason,
            contract_id=contract_id,
            pseudonyms=pseudonyms or None,
        )
        for request in made:
            console.print(f"request {request['id']} to {request['owner']}: {request['status']}")


@reidentify.command("answer")
@click.argument("request_id")
@click.option("--as", "owner", required=True, help="Data owner answering.")
@click.option("--approve/--refuse", required=True)
@click.option("--reason", required=True, help="Why (5–500 characters, in the ledger).")
@click.pass_context
def reidentify_answer(
    ctx: click.Context, request_id: str, owner: str, approve: bool, reason: str
) -> None:
    """OWNER's decision; approved, the identities are sealed to the requester."""
    from confiance.consortium import reidentification

    with errors():
        done = reidentification.answer(
            home_of(ctx),
            request_id,
            owner=owner,
            decision="approve" if approve else "refuse",
            reason=reason,
        )
        console.print(
            f"request {request_id}: {done['status']}, {done['resolved']} pseudonym(s) resolved"
        )


@reidentify.command("list")
@click.option("--as", "party", required=True, help="Requester or owner.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reidentify_list(ctx: click.Context, party: str, as_json: bool) -> None:
    """Requests PARTY made (with the answers, opened) or must answer."""
    from confiance.consortium import reidentification

    with errors():
        listed = reidentification.requests(home_of(ctx), party)
        if as_json:
            print_json(listed)
            return
        for item in listed:
            console.print(
                f"{item['id']} {item['asked']} alert {item['alert']} "
                f"{item['requester']} → {item['owner']}: {item['status']} — {item['reason']}"
            )
            for pseudonym, identifier in sorted(item.get("resolved", {}).items()):
                console.print(f"    {pseudonym} → {identifier}")


# -- ledger / store -----------------------------------------------------------------


@cli.group()
def ledger() -> None:
    """The signed, tamper-evident ledger."""


@ledger.command("verify")
@click.option(
    "--from-checkpoint",
    "saved",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A checkpoint saved earlier: prove nothing before it changed.",
)
@click.pass_context
def ledger_verify(ctx: click.Context, saved: Path | None) -> None:
    """Check every entry, the stored tree, every signed checkpoint and the witnesses."""
    with errors():
        home = home_of(ctx)
        try:
            if saved is not None:
                checkpoint = home.ledger().verify_against(
                    saved.read_text(encoding="utf-8"), operator=home.operator_verifier()
                )
                console.print(
                    f"saved checkpoint of size {checkpoint.size} is a prefix of the "
                    "current ledger (consistency proof verified)"
                )
            report = operations.verify_ledger(home)
        except LedgerVerificationError as exc:
            err.print(f"ledger verification FAILED: {exc}")
            sys.exit(EXIT_ERROR)
        final = {True: "final", False: "NOT final", None: "no witness policy"}[report.final]
        console.print(
            f"ledger OK: {report.entries} entries, {report.checkpoints} signed checkpoints, "
            f"root {report.root.hex()}; latest checkpoint cosigned by "
            f"{len(report.cosigned_by)} of {len(home.witness_verifiers())} witnesses "
            f"({', '.join(report.cosigned_by) or 'none'}; {home.witness_threshold()} needed): "
            f"{final}; {report.timestamps} RFC 3161 time-stamp(s) verified"
        )


def _entry_json(entry: Any) -> dict[str, Any]:
    return {"index": entry.index, **entry.statement()}


@ledger.command("tail")
@click.option("-n", "count", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ledger_tail(ctx: click.Context, count: int, as_json: bool) -> None:
    """Show the last entries."""
    with errors():
        book = home_of(ctx).ledger()
        entries = book.entries(max(0, book.size - count))
        if as_json:
            print_json([_entry_json(e) for e in entries])
            return
        for e in entries:
            console.print(
                f"{e.index:>6} {e.time} {e.actor:<18} {e.kind:<20} "
                f"{json.dumps(dict(e.body), default=str)[:100]}"
            )


@ledger.command("show")
@click.argument("index", type=int)
@click.pass_context
def ledger_show(ctx: click.Context, index: int) -> None:
    """Show one entry."""
    with errors():
        print_json(_entry_json(home_of(ctx).ledger().entry(index)))


@ledger.command("prove")
@click.argument("index", type=int)
@click.option("--size", type=int, default=None, help="Tree size (default: latest).")
@click.pass_context
def ledger_prove(ctx: click.Context, index: int, size: int | None) -> None:
    """Inclusion proof of entry INDEX, verified here against the root."""
    from confiance.ledger import verify_inclusion

    with errors():
        book = home_of(ctx).ledger()
        size, proof = book.inclusion_proof(index, size)
        leaf = book.entry(index).leaf()
        root = book.root(size)
        verify_inclusion(index=index, size=size, leaf=leaf, proof=proof, root=root)
        print_json(
            {
                "index": index,
                "size": size,
                "leaf_hash": leaf.hex(),
                "root": root.hex(),
                "proof": [p.hex() for p in proof],
                "verified": True,
            }
        )


@ledger.command("consistency")
@click.argument("old", type=int)
@click.argument("new", type=int, required=False)
@click.pass_context
def ledger_consistency(ctx: click.Context, old: int, new: int | None) -> None:
    """Consistency proof from tree size OLD to NEW (default: latest), verified here."""
    from confiance.ledger import verify_consistency

    with errors():
        book = home_of(ctx).ledger()
        new, proof = book.consistency_proof(old, new)
        old_root, new_root = book.root(old), book.root(new)
        if old > 0:
            verify_consistency(old=old, new=new, old_root=old_root, new_root=new_root, proof=proof)
        print_json(
            {
                "old": old,
                "new": new,
                "old_root": old_root.hex(),
                "new_root": new_root.hex(),
                "proof": [p.hex() for p in proof],
                "verified": True,
            }
        )


@ledger.command("checkpoint")
@click.option("--size", type=int, default=None)
@click.pass_context
def ledger_checkpoint(ctx: click.Context, size: int | None) -> None:
    """Print the signed checkpoint (C2SP note, with cosignatures); save it to verify later."""
    with errors():
        click.echo(home_of(ctx).ledger().checkpoint(size), nl=False)


@ledger.command("witness")
@click.option("--as", "tenant", required=True, help="The tenant whose witness cosigns.")
@click.pass_context
def ledger_witness(ctx: click.Context, tenant: str) -> None:
    """The tenant's witness checks consistency and cosigns the latest checkpoint."""
    with errors():
        size, count = operations.witness(home_of(ctx), tenant)
        console.print(
            f"{tenant} cosigned the checkpoint of size {size}; it now has {count} cosignature(s)"
        )


@ledger.command("timestamp")
@click.pass_context
def ledger_timestamp(ctx: click.Context) -> None:
    """Have the configured RFC 3161 authority time-stamp the latest checkpoint."""
    with errors():
        size, when = operations.timestamp_checkpoint(home_of(ctx))
        console.print(f"checkpoint of size {size} time-stamped at {when.isoformat()}")


@ledger.command("trust")
@click.pass_context
def ledger_trust(ctx: click.Context) -> None:
    """Print the public keys an offline verifier needs (give it out of band)."""
    with errors():
        print_json(home_of(ctx).trust_bundle())


@ledger.command("export-receipt")
@click.argument("index", type=int)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option(
    "--qr",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the compact receipt as a QR code (PNG).",
)
@click.pass_context
def ledger_export_receipt(
    ctx: click.Context, index: int, out: Path | None, qr: Path | None
) -> None:
    """Export entry INDEX as a receipt anyone can check offline."""
    from confiance.ledger.receipt import export_receipt, to_compact

    with errors():
        home = home_of(ctx)
        receipt = export_receipt(home.ledger(), index, trust=home.trust())
        text = json.dumps(receipt, indent=1)
        if out is not None:
            out.write_text(text + "\n", encoding="utf-8")
        else:
            click.echo(text)
        if qr is not None:
            compact = to_compact(receipt)
            _write_qr(compact, qr)
            err.print(f"QR code of the compact receipt ({len(compact)} characters) in {qr}")


def _write_qr(text: str, path: Path) -> None:
    import segno

    try:
        segno.make(text, error="l", micro=False).save(str(path), scale=4, border=4)
    except segno.DataOverflowError:
        raise ConfigError(
            f"the receipt ({len(text)} characters) is too large for a QR code"
        ) from None


@ledger.command("verify-receipt")
@click.argument("receipt_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--trust",
    "trust_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Trust bundle (default: this home's keys).",
)
@click.pass_context
def ledger_verify_receipt(ctx: click.Context, receipt_file: Path, trust_file: Path | None) -> None:
    """Check a receipt offline (JSON or compact form) with public keys only."""
    from confiance.ledger import Trust
    from confiance.ledger.receipt import load_receipt, verify_receipt

    with errors():
        if trust_file is not None:
            trust = Trust.from_json(json.loads(trust_file.read_text(encoding="utf-8")))
        else:
            trust = home_of(ctx).trust()
        try:
            entry = verify_receipt(
                load_receipt(receipt_file.read_text(encoding="utf-8")), trust=trust
            )
        except LedgerVerificationError as exc:
            err.print(f"receipt INVALID: {exc}")
            sys.exit(EXIT_ERROR)
        console.print(
            f"receipt valid: entry {entry.index} ({entry.kind} by {entry.actor} at "
            f"{entry.time}) is in the ledger, checkpoint signed by the log and "
            f"cosigned by at least {trust.threshold} trusted witness(es)"
        )


@cli.group()
def keys() -> None:
    """A tenant's keys."""


@keys.command("rotate")
@click.option("--tenant", required=True)
@click.pass_context
def keys_rotate(ctx: click.Context, tenant: str) -> None:
    """New KEK for TENANT; every data key re-wrapped, no data re-encrypted (crash-safe)."""
    with errors():
        counts = operations.rotate_kek(home_of(ctx), tenant)
        console.print(
            f"{tenant}: new KEK; re-wrapped the keys of {counts['datasets']} datasets, "
            f"{counts['quarantine_files']} quarantine files and its "
            "re-identification table"
        )


@keys.command("use-hsm")
@click.option("--tenant", required=True)
@click.option(
    "--module",
    default="/usr/lib/softhsm/libsofthsm2.so",
    show_default=True,
    help="The PKCS#11 library of the HSM.",
)
@click.option("--token", "token_label", required=True, help="Token label.")
@click.option("--label", default=None, help="Label of the KEK to create (default kek-TENANT).")
@click.pass_context
def keys_use_hsm(
    ctx: click.Context, tenant: str, module: str, token_label: str, label: str | None
) -> None:
    """Move TENANT's KEK into a PKCS#11 token (PIN: $CONFIANCE_PKCS11_PIN_<TENANT>)."""
    with errors():
        counts = operations.use_hsm(
            home_of(ctx), tenant, module=module, token=token_label, label=label or f"kek-{tenant}"
        )
        console.print(
            f"{tenant}: KEK generated non-extractable in token {token_label!r}; "
            f"re-wrapped the keys of {counts['datasets']} datasets, "
            f"{counts['quarantine_files']} quarantine files and its table"
        )


@cli.group()
def evaluator() -> None:
    """The OPRF evaluator a consortium member runs for the others."""


@evaluator.command("serve")
@click.option("--as", "member", required=True, help="The member whose key share serves.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9443, show_default=True, type=int)
@click.pass_context
def evaluator_serve(ctx: click.Context, member: str, host: str, port: int) -> None:
    """Serve OPRF evaluations over HTTPS with mutual TLS until interrupted."""
    import threading

    from confiance.pseudonym.network import serve

    with errors():
        home = home_of(ctx)
        local = {e.name: e for e in home.evaluators()}
        if member not in local:
            raise ConfigError(f"{member} holds no share of the OPRF key")
        context = home.credentials(member).server_context(home.passphrase(member))
        server = serve(local[member], host=host, port=port, context=context)
        console.print(
            f"evaluator {member} (share {local[member].index}) on https://{host}:"
            f"{server.server_address[1]}/v1/evaluate — client certificates required"
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            server.shutdown()


@cli.group()
def store() -> None:
    """The erasure-coded storage nodes."""


@store.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def store_status(ctx: click.Context, as_json: bool) -> None:
    """Nodes (reachable, fragments, bytes, last scrub) and objects (fragments present / needed)."""
    with errors():
        status = storage.store_status(home_of(ctx))
        if as_json:
            print_json(status)
            return
        table = Table(title=f"storage nodes — Reed-Solomon {status['k']}+{status['m']}")
        for column in (
            "node",
            "datacenter",
            "jurisdiction",
            "state",
            "reachable",
            "fragments",
            "bytes",
            "last scrub",
        ):
            table.add_column(column)
        for n in status["nodes"]:
            scrub = n["last_scrub"]
            table.add_row(
                n["node"],
                str(n["datacenter"]),
                str(n["jurisdiction"]),
                n["state"],
                "yes" if n["reachable"] else "NO",
                str(n["fragments"]),
                str(n["bytes"]),
                "never" if scrub is None else f"{scrub['time']} ({scrub['bad']} bad)",
            )
        console.print(table)
        jurisdiction = {n["node"]: n["jurisdiction"] for n in status["nodes"]}
        weak = [o for o in status["objects"] if o["present"] < o["total"]]
        lost = [o for o in status["objects"] if o["present"] < o["needed"]]
        for tenant, where in sorted(status["placement"].items()):
            console.print(
                f"{tenant}: fragments on "
                + ", ".join(
                    f"{node} ({jurisdiction.get(node, '?')}) {count}"
                    for node, count in sorted(where.items())
                )
            )
        last = status["last_scrub"]
        console.print(
            f"{len(status['objects'])} objects; {len(weak)} degraded; {len(lost)} unreadable; "
            + ("never scrubbed" if last is None else f"last {last['action']} {last['time']}")
        )
        for o in lost:
            console.print(
                f"  unreadable: {o['dataset']} ({o['tenant']}/{o['source']} {o['day']}): "
                f"{o['present']} of {o['needed']} fragments"
            )


def _scrub_command(
    ctx: click.Context, *, repair: bool, as_json: bool, grace: float, relocate: bool = True
) -> None:
    with errors():
        report = storage.scrub_store(
            home_of(ctx), repair=repair, grace_seconds=grace, relocate_unreachable=relocate
        )
        if as_json:
            print_json(report)
            return
        console.print(
            f"{report['objects']} objects checked: {report['missing']} fragments missing, "
            f"{report['corrupt']} corrupt (bit rot in {report['bad_segments']} segment(s)), "
            f"{report['unreachable']} on unreachable nodes"
            + (
                f"; {report['repaired']} repaired ({report['rebuilt_segments']} segment(s) "
                f"rebuilt, {report['moved']} moved to other nodes)"
                if repair
                else ""
            )
        )
        console.print(
            f"orphans: {report['orphans_removed']} removed ({report['orphan_bytes']} bytes), "
            f"{report['orphans_recent']} younger than {grace:g} s kept"
        )
        for item in report["unreadable"]:
            console.print(f"  UNREADABLE: {item['reason']}")
        if report["unreadable"]:
            sys.exit(EXIT_ERROR)


_GRACE = click.option(
    "--grace",
    type=float,
    default=storage.DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Seconds an unrecorded blob is kept (it may be a write under way).",
)


@store.command("scrub")
@click.option("--json", "as_json", is_flag=True)
@_GRACE
@click.pass_context
def store_scrub(ctx: click.Context, as_json: bool, grace: float) -> None:
    """Verify every fragment segment against its manifest; remove orphaned blobs."""
    _scrub_command(ctx, repair=False, as_json=as_json, grace=grace)


@store.command("repair")
@click.option("--json", "as_json", is_flag=True)
@_GRACE
@click.option(
    "--keep-unreachable",
    is_flag=True,
    help="Leave fragments of unreachable nodes for when they return (default: rebuild elsewhere).",
)
@click.pass_context
def store_repair(ctx: click.Context, as_json: bool, grace: float, keep_unreachable: bool) -> None:
    """Rebuild missing or corrupt fragments from any k intact ones, onto healthy nodes."""
    _scrub_command(ctx, repair=True, as_json=as_json, grace=grace, relocate=not keep_unreachable)


@store.command("add-node")
@click.argument("name")
@click.option("--dir", "path", help="A local directory (must exist).")
@click.option("--s3", "s3", help="An S3 endpoint URL (credentials from the AWS_* environment).")
@click.option("--bucket", help="The S3 bucket of the node.")
@click.option("--create-bucket", is_flag=True, help="Create the bucket if it does not exist.")
@click.option("--datacenter", required=True)
@click.option("--jurisdiction", required=True, help="e.g. FR or FR-NOR")
@click.option("--operator", default="", help="Who runs the datacenter.")
@click.option("--weight", type=float, default=1.0, show_default=True, help="Relative capacity.")
@click.pass_context
def store_add_node(
    ctx: click.Context,
    name: str,
    path: str | None,
    s3: str | None,
    bucket: str | None,
    create_bucket: bool,
    datacenter: str,
    jurisdiction: str,
    operator: str,
    weight: float,
) -> None:
    """Add a storage node; it must answer first. Run `store rebalance` to use it."""
    with errors():
        entry = storage.add_node(
            home_of(ctx),
            name,
            path=path,
            s3=s3,
            bucket=bucket,
            create_bucket=create_bucket,
            datacenter=datacenter,
            jurisdiction=jurisdiction,
            operator=operator,
            weight=weight,
        )
        where = entry.get("path") or f"{entry['endpoint']} bucket {entry['bucket']}"
        console.print(f"node {name} added ({where}; {datacenter}, {jurisdiction})")


def _moves(report: dict[str, Any], what: str) -> None:
    console.print(f"{what}: {report['fragments']} fragment(s) of {report['objects']} object(s)")
    for item in report["failed"]:
        console.print(f"  NOT MOVED: {item['dataset']}: {item['reason']}")
    if report["failed"]:
        sys.exit(EXIT_ERROR)


@store.command("drain")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def store_drain(ctx: click.Context, name: str, as_json: bool) -> None:
    """Move every fragment off a node, then remove it from the configuration."""
    with errors():
        report = storage.drain_node(home_of(ctx), name)
        if as_json:
            print_json(report)
            return
        if report["removed"]:
            console.print(f"node {name} drained and removed")
        _moves(report, "moved")


@store.command("rebalance")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def store_rebalance(ctx: click.Context, as_json: bool) -> None:
    """Move fragments to where placement puts them now (after adding nodes)."""
    with errors():
        report = storage.rebalance(home_of(ctx))
        if as_json:
            print_json(report)
            return
        _moves(report, "moved")


# -- demo ------------------------------------------------------------------------------


@cli.command()
@click.option("--events", default=200_000, show_default=True, help="Events in total.")
@click.option("--seed", default=1, show_default=True, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the final scores as JSON too.")
@click.pass_context
def demo(ctx: click.Context, events: int, seed: int, as_json: bool) -> None:
    """Run the whole path end to end on a fresh home."""
    from confiance.cli.demo import run_demo

    with errors():
        run_demo(home_of(ctx).root, events=events, seed=seed, console=console, as_json=as_json)


@cli.command()
@click.option("--tenant", required=True, help="Whose identifiers (its own only).")
@click.option(
    "--kind",
    type=click.Choice(["ip", "account", "mac", "email"]),
    default="ip",
    show_default=True,
)
@click.argument("values", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def pseudonymise(
    ctx: click.Context, tenant: str, kind: str, values: tuple[str, ...], as_json: bool
) -> None:
    """The pseudonyms of a tenant's own identifiers, as analyses see them.

    For a contract's allow-lists: the school's NAT address or the scanner it
    runs itself, written as the pool knows them.
    """
    with errors():
        found = operations.pseudonyms_of(home_of(ctx), tenant, kind, list(values))
    if as_json:
        print_json(found)
        return
    for value, pseudonym in found.items():
        console.print(f"{value}\t{pseudonym}", markup=False, highlight=False)


@cli.group()
def intel() -> None:
    """Threat-intelligence feeds (MISP JSON, STIX 2.1) matched inside the runtime."""


@intel.command("import")
@click.option("--tenant", required=True, help="The member that subscribes to the feed.")
@click.argument("feed", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def intel_import(ctx: click.Context, tenant: str, feed: Path, as_json: bool) -> None:
    """Store FEED as TENANT's reference dataset (addresses pseudonymised like its logs).

    The next joint-SOC contract (`contract new`) names it, so the parties sign
    that the feed is used; the `threat_intel` analysis matches it.
    """
    with errors():
        report = operations.import_intel(home_of(ctx), tenant, feed)
    if as_json:
        print_json(report)
        return
    console.print(
        f"{report['indicators']} indicators ({report['ip']} addresses, {report['domain']} "
        f"domains) from {report['feed']} stored for {tenant}, encrypted and erasure-coded"
    )


def _register() -> None:
    from confiance.cli import access, agent, evaluate, minors, rules

    for command in (
        *minors.COMMANDS,
        *access.COMMANDS,
        *rules.COMMANDS,
        *evaluate.COMMANDS,
        *agent.COMMANDS,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="confiance")
