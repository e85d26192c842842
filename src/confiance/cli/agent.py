"""The streaming agent: `confiance agent` runs it, `confiance agent status` reports on it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.table import Table

from confiance.cli.console import console, errors, home_of, print_json
from confiance.consortium.agent import Agent, AgentConfig, LocalPlatform, agent_status
from confiance.consortium.home import Home
from confiance.errors import ConfigError

_CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The agent's YAML configuration (files, syslog, batching, spool).",
)
_TENANT = click.option("--tenant", default=None, help="Tenant (default: the configuration's).")


def _setup(home: Home, config_path: Path, tenant: str | None) -> tuple[AgentConfig, str, Path]:
    config = AgentConfig.load(config_path)
    name = tenant or config.tenant
    if name is None:
        raise ConfigError(f"{config_path}: no tenant (give --tenant or set tenant:)")
    if config.tenant is not None and tenant is not None and config.tenant != tenant:
        raise ConfigError(f"{config_path}: written for tenant {config.tenant}, not {tenant}")
    home.require_tenant(name)
    state = config.state or home.tenant_dir(name) / "agent"
    return config, name, state


@click.group(invoke_without_command=True)
@_CONFIG
@_TENANT
@click.option("--once", is_flag=True, help="Read the files to their end, ship, and exit.")
@click.option(
    "--duration", type=float, default=None, help="Run this many seconds, then stop cleanly."
)
@click.pass_context
def agent(
    ctx: click.Context, config_path: Path, tenant: str | None, once: bool, duration: float | None
) -> None:
    """Tail files and receive syslog, spool encrypted, ship to the platform.

    Runs until interrupted (Ctrl-C, SIGTERM), then ships what it holds.
    Positions survive restarts: no line is read twice or lost.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj["agent_config"] = (config_path, tenant)
        return
    with errors():
        home = home_of(ctx)
        config, name, state = _setup(home, config_path, tenant)
        runner = Agent(
            config,
            tenant=name,
            state=state,
            keystore=home.kek_store(name),
            platform=LocalPlatform(home, name),
        )
        if once:
            runner.run_once()
        else:

            def ready() -> None:
                where = [str(e) for e in runner.receiver.bound] if runner.receiver else []
                console.print(
                    f"agent for {name}: {len(config.files)} file(s)"
                    + (f", syslog on {', '.join(where)}" if where else "")
                    + f"; state in {state}"
                )

            asyncio.run(runner.run(duration=duration, on_ready=ready))
        shipped = runner.shipped
        console.print(
            f"shipped {shipped.segments} batch(es): {shipped.lines:,} lines, "
            f"{shipped.events:,} events, {shipped.quarantined:,} quarantined; "
            f"{len(runner.spool.segments())} batch(es) left in the spool"
            + (f"; last error: {shipped.last_error}" if shipped.last_error else "")
        )


@agent.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def agent_status_command(ctx: click.Context, as_json: bool) -> None:
    """Lag per file, spool size and age, shipping errors."""
    config_path, tenant = ctx.obj["agent_config"]
    with errors():
        config, _, state = _setup(home_of(ctx), config_path, tenant)
        status = agent_status(config, state)
        if as_json:
            print_json(status)
            return
        table = Table("file", "size", "read up to", "lag (bytes)")
        for f in status["files"]:
            table.add_row(
                f["path"],
                "-" if f["size"] is None else f"{f['size']:,}",
                "-" if f["offset"] is None else f"{f['offset']:,}",
                "-" if f["lag_bytes"] is None else f"{f['lag_bytes']:,}",
            )
        console.print(table)
        spool = status["spool"]
        console.print(
            f"spool: {spool['segments']} batch(es), {spool['bytes']:,} bytes "
            f"of {spool['max_bytes']:,}"
            + (f", oldest {spool['oldest_age_s']} s old" if spool["oldest"] else "")
        )
        reported = status["agent"]
        if reported:
            shipped = reported["shipped"]
            console.print(
                f"agent (pid {reported['pid']}) last reported {reported['updated']}: "
                f"shipped {shipped['lines']:,} lines, {shipped['failures']} failed tries"
                + (f", last error: {shipped['last_error']}" if shipped["last_error"] else "")
                + (", BACKPRESSURE (spool full)" if reported["backpressure"] else "")
            )


COMMANDS = [agent]
