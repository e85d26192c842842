"""People's access: client certificates per person (tenant and role), revocation, the server.

The consortium CA made at ``init`` issues them; the CA key opens with the
operator's passphrase. Every issue and revocation is in the ledger (serial,
tenant, role; never the person's name).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from confiance.consortium.home import OPERATOR, SOC, Home
from confiance.errors import ConfigError
from confiance.keys.pki import (
    ConsortiumCA,
    MemberCredentials,
    PersonCredentials,
    crl_path,
    issue_person,
    revoke,
    write_crl,
)


def _ca(home: Home) -> ConsortiumCA:
    return ConsortiumCA(home.root / "pki")


def issue(
    home: Home, *, tenant: str, role: str, name: str, passphrase: str, directory: Path | None = None
) -> PersonCredentials:
    """A client certificate (PEM and PKCS#12) for one person of a tenant, with a role."""
    if tenant != SOC and tenant not in home.authorities:
        home.require_tenant(tenant)
    credentials = issue_person(
        _ca(home),
        tenant=tenant,
        role=role,
        name=name,
        ca_passphrase=home.passphrase(OPERATOR),
        passphrase=passphrase,
        directory=directory or home.root / "pki" / "people",
    )
    home.record(
        OPERATOR,
        "access.issued",
        {"serial": f"{credentials.serial:x}", "tenant": tenant, "role": role},
    )
    return credentials


def revoke_certificate(home: Home, serial: str) -> Path:
    """Revoke a person's certificate by its (hex) serial; the new CRL applies at once."""
    try:
        number = int(serial, 16)
    except ValueError:
        raise ConfigError(f"serial {serial!r}: not a hexadecimal number") from None
    path = revoke(_ca(home), number, ca_passphrase=home.passphrase(OPERATOR))
    home.record(OPERATOR, "access.revoked", {"serial": f"{number:x}"})
    return path


def current_crl(home: Home) -> Path:
    """Re-sign the CRL (it expires after a week: publish it at least that often)."""
    return write_crl(_ca(home), ca_passphrase=home.passphrase(OPERATOR))


@dataclass(frozen=True)
class ServerCredentials:
    """The HTTP server's certificate, the passphrase of its key, and the CRL to enforce."""

    member: MemberCredentials
    passphrase: str
    crl: Path

    def context(self) -> ssl.SSLContext:
        """TLS 1.3 only; a client certificate from the CA, not revoked, is required."""
        return self.member.server_context(self.passphrase, crl=self.crl)


def server_credentials(home: Home) -> ServerCredentials:
    """The server's certificate (made on first use), the CA and the current CRL."""
    ca = _ca(home)
    directory = home.root / "pki" / "server"
    member = MemberCredentials(
        "api", directory / "tls-cert.pem", directory / "tls-key.pem", ca.certificate_path
    )
    if not member.certificate.exists():
        member = ca.issue(
            "api",
            ca_passphrase=home.passphrase(OPERATOR),
            member_passphrase=home.passphrase(OPERATOR),
            directory=directory,
        )
    if not crl_path(ca).exists():
        current_crl(home)
    return ServerCredentials(member, home.passphrase(OPERATOR), crl_path(ca))
