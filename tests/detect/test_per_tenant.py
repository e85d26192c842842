"""Thresholds per tenant: a tenant's events analysed apart with its own
parameters, every other tenant's with the contract's; refused where they
cannot apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from confiance.detect import jobs
from confiance.errors import ConfigError
from confiance.events import OcsfClass, conform

START = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)


def _failures(tenant: str, account: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "@timestamp": START + timedelta(seconds=10 * i),
            "tenant": tenant,
            "event.dataset": "keycloak-json",
            "ocsf.class_uid": int(OcsfClass.AUTHENTICATION),
            "event.category": "authentication",
            "event.outcome": "failure",
            "user.name": account,
            "source.ip": f"n4_{tenant}",
        }
        for i in range(count)
    ]


EVENTS = conform(
    pa.Table.from_pylist([*_failures("lycees", "u_pupil", 30), *_failures("region", "u_agent", 30)])
)


def _accounts(parameters: dict[str, Any]) -> list[str]:
    findings = jobs.run(EVENTS, analyses=["brute_force"], parameters={"brute_force": parameters})
    return sorted(f["entity"]["value"] for f in findings)


def test_a_tenant_threshold_applies_to_its_events_only() -> None:
    assert _accounts({}) == ["u_agent", "u_pupil"]  # 30 failures ≥ 20 everywhere
    # the schools' pupils mistype a lot: 50 there, 20 elsewhere
    assert _accounts({"per_tenant": {"lycees": {"min_failures": 50}}}) == ["u_agent"]
    assert _accounts({"min_failures": 50, "per_tenant": {"region": {"min_failures": 25}}}) == [
        "u_agent"
    ]


@pytest.mark.parametrize(
    ("analysis", "parameters", "message"),
    [
        ("brute_force", {"per_tenant": {"lycees": {"min_fail": 5}}}, "unknown parameter"),
        ("brute_force", {"per_tenant": {"lycees": {}}}, "must set parameters"),
        ("brute_force", {"per_tenant": ["lycees"]}, "maps tenants to parameters"),
        ("incidents", {"per_tenant": {"lycees": {"min_tenants": 3}}}, "analysis of findings"),
    ],
)
def test_bad_per_tenant_parameters_are_refused(
    analysis: str, parameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        jobs.run(EVENTS, analyses=[analysis], parameters={analysis: parameters})
