"""Commands of people's access: the consortium CA, client certificates, the HTTP server."""

from __future__ import annotations

import os

import click

from confiance.cli.console import console, errors, home_of
from confiance.consortium import access
from confiance.errors import ConfigError
from confiance.keys.pki import ROLES


@click.group()
def ca() -> None:
    """The consortium CA: client certificates per person, revocation, the CRL."""


@ca.command("init")
@click.pass_context
def ca_init(ctx: click.Context) -> None:
    """The CA is made by `confiance init`; this checks it is there and publishes a CRL."""
    with errors():
        home = home_of(ctx)
        if not (home.root / "pki" / "ca.pem").exists():
            raise ConfigError(f"{home.root}: no consortium CA (run `confiance init`)")
        path = access.current_crl(home)
    console.print(f"consortium CA in {home.root / 'pki'}; CRL published in {path}")


@ca.command("issue")
@click.option("--tenant", required=True, help="The person's tenant (or soc-commun).")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", required=True, help="The person's name (in the certificate only).")
@click.pass_context
def ca_issue(ctx: click.Context, tenant: str, role: str, name: str) -> None:
    """A client certificate for one person; its key under CONFIANCE_CERT_PASSPHRASE."""
    passphrase = os.environ.get("CONFIANCE_CERT_PASSPHRASE", "")
    with errors():
        if not passphrase:
            raise ConfigError("set CONFIANCE_CERT_PASSPHRASE: it encrypts the person's key")
        issued = access.issue(
            home_of(ctx), tenant=tenant, role=role, name=name, passphrase=passphrase
        )
    console.print(
        f"serial {issued.serial:x}: {issued.certificate} and its key {issued.key}; "
        f"for a browser, import {issued.pkcs12}"
    )


@ca.command("revoke")
@click.argument("serial")
@click.pass_context
def ca_revoke(ctx: click.Context, serial: str) -> None:
    """Revoke a certificate by its hexadecimal serial; refused from the next connection."""
    with errors():
        path = access.revoke_certificate(home_of(ctx), serial)
    console.print(f"revoked {serial}; CRL {path}")


@ca.command("crl")
@click.pass_context
def ca_crl(ctx: click.Context) -> None:
    """Re-sign and print the CRL (valid a week)."""
    with errors():
        path = access.current_crl(home_of(ctx))
    click.echo(path.read_text(), nl=False)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8443, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API over TLS 1.3; a client certificate from the CA is required."""
    from confiance.server import create_app, following_crl
    from confiance.server.tls import uvicorn_server

    with errors():
        home = home_of(ctx)
        credentials = access.server_credentials(home)
        context = following_crl(credentials.context, credentials.crl)
        console.print(f"serving https://{host}:{port}/v1 (mutual TLS 1.3; SIMULATED attestation)")
        uvicorn_server(create_app(home), host=host, port=port, context=context).run()


COMMANDS = (ca, serve)
