"""The HTTP API behind mutual TLS: certificates name a person, a tenant and a role."""

from confiance.server.app import create_app
from confiance.server.tls import BackgroundServer, following_crl

__all__ = ["BackgroundServer", "create_app", "following_crl"]
