"""Schemathesis against the OpenAPI document: whatever a client sends, no 5xx.

The app is called in process (ASGI) with a tenant-admin's certificate put in
the request scope, as the TLS layer does (tests over real TLS are in
test_api.py): generated requests then reach every handler, past the role
check.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from confiance.consortium import Home, access
from confiance.server import create_app
from confiance.server.tls import PEER


def _with_certificate(app: Any, der: bytes) -> Any:
    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "state": {**scope.get("state", {}), PEER: der}}
        await app(scope, receive, send)

    return asgi


@pytest.fixture
def api_schema(home: Home) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    person = access.issue(
        home, tenant="academie", role="tenant-admin", name="fuzz", passphrase="fuzz passphrase"
    )
    der = x509.load_pem_x509_certificate(person.certificate.read_bytes()).public_bytes(Encoding.DER)
    return schemathesis.openapi.from_asgi(
        "/v1/openapi.json", _with_certificate(create_app(home), der)
    )


def test_no_request_gets_a_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                response.text[:300],
            )

        check()
