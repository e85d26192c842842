"""The new-country detection: a clean login from a country an account never
used; not a fast hop (impossible travel's), not after guessing (brute force's),
not a country the members travel to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from confiance.detect import jobs
from confiance.events import OcsfClass, conform

START = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


def _login(t: datetime, account: str, ip: str, country: str, *, ok: bool = True) -> dict[str, Any]:
    return {
        "@timestamp": t,
        "tenant": "academie",
        "event.dataset": "keycloak-json",
        "ocsf.class_uid": int(OcsfClass.AUTHENTICATION),
        "event.category": "authentication",
        "event.outcome": "success" if ok else "failure",
        "user.name": account,
        "source.ip": ip,
        "source.geo.country_iso_code": country,
        "source.as.number": 3215,
    }


def _history(account: str) -> list[dict[str, Any]]:
    return [_login(START + timedelta(days=d), account, "n4_home", "FR") for d in range(3)]


def _run(rows: list[dict[str, Any]], **parameters: Any) -> list[dict[str, Any]]:
    events = conform(pa.Table.from_pylist(rows))
    return jobs.run(events, analyses=["new_country"], parameters={"new_country": parameters})


def test_a_quiet_login_from_a_new_country_a_day_later() -> None:
    abroad = START + timedelta(days=3, hours=5)
    rows = [*_history("u_a"), _login(abroad, "u_a", "n4_abroad", "BR")]
    (found,) = _run(rows)
    assert found["entity"]["value"] == "u_a"
    assert found["evidence"]["country"] == "BR"
    assert found["evidence"]["known_countries"] == ["FR"]
    assert found["attack_technique"] == "T1078"
    # a second login from there is not new any more
    assert len(_run([*rows, _login(abroad + timedelta(hours=8), "u_a", "n4_abroad", "BR")])) == 1


def test_what_is_left_to_other_detections_or_tuned_away() -> None:
    day3 = START + timedelta(days=2, hours=1)
    fast = [*_history("u_b"), _login(day3, "u_b", "n4_abroad", "BR")]  # an hour after home
    assert _run(fast) == []
    guessed = [
        *_history("u_c"),
        _login(START + timedelta(days=3), "u_c", "n4_x", "BR", ok=False),
        _login(START + timedelta(days=3, minutes=2), "u_c", "n4_x", "BR"),
    ]
    assert _run(guessed) == []
    young = [
        _login(START, "u_d", "n4_home", "FR"),
        _login(START + timedelta(days=2), "u_d", "n4_y", "BR"),
    ]
    assert _run(young) == []  # no history to compare with
    travel = [*_history("u_e"), _login(START + timedelta(days=4), "u_e", "n4_z", "BE")]
    assert len(_run(travel)) == 1
    assert _run(travel, ignore_countries=["BE"]) == []
