"""Detections against a baseline: an account's hours, its places, the domains the
members resolve, a web server's error rates. Hand-built events, edges included."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from confiance.detect import jobs
from confiance.errors import ConfigError
from confiance.events import EVENT_SCHEMA

#: a Monday in November: Paris is UTC+1
T0 = dt.datetime(2026, 11, 2, 0, 0, tzinfo=dt.UTC)
FRANCE, BRAZIL = (46.6, 2.4), (-14.2, -51.9)


def _run(rows: list[dict[str, Any]], name: str, **params: Any) -> list[dict[str, Any]]:
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    return jobs.run(table, analyses=[name], parameters={name: params})


def _at(days: float = 0, hours: float = 0, minutes: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=days, hours=hours, minutes=minutes)


# -- unusual hours --------------------------------------------------------------------


def _login(t: dt.datetime, account: str, ip: str = "86.192.1.1", ok: bool = True) -> dict:
    return {
        "@timestamp": t,
        "tenant": "academie",
        "event.dataset": "keycloak-json",
        "ocsf.class_uid": 3002,
        "event.category": "authentication",
        "event.outcome": "success" if ok else "failure",
        "user.name": account,
        "source.ip": ip,
        "source.geo.country_iso_code": "FR",
    }


def _working_days(account: str, utc_hours: list[float], days: int = 5) -> list[dict]:
    return [_login(_at(d, h), account) for d in range(days) for h in utc_hours]


#: a tenant busy by day and in the evening (UTC hours; Paris is one hour ahead)
COLLEAGUES = [
    row
    for n in range(30)
    for row in _working_days(f"u_colleague{n}", [7 + n % 5, 11, 14 + n % 3, 17 + n % 4])
]


def test_a_day_worker_logging_in_at_night_fires_with_the_local_time() -> None:
    history = _working_days("u_day", [7.5, 11, 14.5])  # 08:30, 12:00, 15:30 in Paris
    night = _login(_at(5, 2, 30), "u_day", ip="51.68.1.1")  # 03:30 in Paris
    (found,) = _run([*COLLEAGUES, *history, night], "unusual_hour")
    assert found["entity"]["value"] == "u_day"
    assert found["attack_technique"] == "T1078"
    assert found["evidence"]["local_time"] == "03:30"
    assert found["evidence"]["usual_hour"] == "12:00"
    assert found["evidence"]["earlier_logins"] == 15
    assert found["evidence"]["sources"] == ["51.68.1.1"]
    # in another time zone the same instant is another hour
    (there,) = _run([*COLLEAGUES, *history, night], "unusual_hour", time_zone="America/Cayenne")
    assert there["evidence"]["local_time"] == "23:30"


def test_the_history_counts_the_logins_earlier_the_same_day() -> None:
    """An account's history is its days before the login, then its logins earlier that
    day (counted apart): the three of the sixth day count, the one after does not."""
    history = _working_days("u_day", [7.5, 11, 14.5], days=6)
    late = _login(_at(5, 22, 30), "u_day", ip="51.68.1.1")  # 23:30 in Paris
    after = _login(_at(5, 23, 50), "u_day")
    (found,) = _run([*COLLEAGUES, *history, late, after], "unusual_hour")
    assert found["evidence"]["local_time"] == "23:30"
    assert found["evidence"]["earlier_logins"] == 18


def test_night_owls_young_accounts_and_busy_hours_do_not_fire() -> None:
    owl = _working_days("u_owl", [22, 23, 0.5])  # 23:00 to 01:30 in Paris
    owl_again = _login(_at(5, 23, 30), "u_owl")
    young = [*_working_days("u_young", [8, 13], days=2), _login(_at(5, 2), "u_young")]
    day = _working_days("u_evening", [7.5, 11, 13])
    evening = _login(_at(5, 18, 30), "u_evening")  # 19:30 in Paris: the tenant is busy then
    rows = [*COLLEAGUES, *owl, owl_again, *young, *day, evening]
    assert _run(rows, "unusual_hour") == []
    # the tenant's busy hours are what keeps the evening login quiet
    (found,) = _run(rows, "unusual_hour", max_tenant_share=1.0)
    assert found["entity"]["value"] == "u_evening"


def test_a_night_login_ingested_twice_is_one_finding_regression() -> None:
    """The README ingests the Académie's logs twice: the same night login twice made two
    findings with one id, and the run failed storing its results."""
    history = _working_days("u_day", [7.5, 11, 14.5])
    night = _login(_at(5, 2, 30), "u_day", ip="51.68.1.1")
    (found,) = _run([*COLLEAGUES, *history, *history, night, night], "unusual_hour")
    assert found["evidence"]["local_time"] == "03:30"


def test_failed_attempts_are_not_logins_and_a_bad_zone_is_refused() -> None:
    history = _working_days("u_day", [7.5, 11, 14.5])
    failed = _login(_at(5, 2, 30), "u_day", ok=False)
    assert _run([*COLLEAGUES, *history, failed], "unusual_hour") == []
    with pytest.raises(ConfigError, match="time_zone: 'Europe/Pariss' is not an IANA"):
        _run(history, "unusual_hour", time_zone="Europe/Pariss")


# -- concurrent sessions --------------------------------------------------------------


def _page(t: dt.datetime, account: str, ip: str, place: tuple[float, float]) -> dict:
    return {
        "@timestamp": t,
        "tenant": "region",
        "event.dataset": "apache-combined",
        "ocsf.class_uid": 4002,
        "user.name": account,
        "source.ip": ip,
        "source.geo.country_iso_code": "FR" if place == FRANCE else "BR",
        "source.geo.location.lat": place[0],
        "source.geo.location.lon": place[1],
        "url.path": "/agents/conges",
        "http.response.status_code": 200,
    }


def test_an_account_used_from_two_continents_at_once() -> None:
    home = [_page(_at(0, 9, 2 * i + 1), "u_a", "86.192.1.1", FRANCE) for i in range(30)]
    thief = [_page(_at(0, 9, 20 + 3 * i), "u_a", "177.32.1.1", BRAZIL) for i in range(10)]
    (found,) = _run(home + thief, "concurrent_sessions")
    assert found["entity"]["value"] == "u_a"
    assert found["severity"] == "high"
    evidence = found["evidence"]
    assert evidence["countries"] == ["BR", "FR"] and evidence["usual_country"] == "FR"
    assert evidence["sources"] == ["177.32.1.1"]
    assert evidence["usual_sources"] == ["86.192.1.1"]
    assert evidence["switches"] >= 3
    assert found["first_seen"] == _at(0, 9, 20).isoformat()


def test_travel_failures_and_nearby_places_are_not_concurrent() -> None:
    home = [_page(_at(0, 9, i), "u_b", "86.192.1.1", FRANCE) for i in range(30)]
    later = [_page(_at(0, 11, i), "u_b", "177.32.1.1", BRAZIL) for i in range(30)]
    assert _run(home + later, "concurrent_sessions") == []  # one switch: travel
    tries = [
        {**_page(_at(0, 9, i + 0.5), "u_b", "177.32.1.1", BRAZIL), "event.outcome": "failure"}
        for i in range(10)
    ]
    assert _run(home + tries, "concurrent_sessions") == []  # failures are no activity
    lyon = (45.76, 4.84)
    near = [_page(_at(0, 9, i + 0.5), "u_b", "90.0.1.1", lyon) for i in range(10)]
    assert _run(home + near, "concurrent_sessions") == []  # 300 km: a phone and a laptop
    assert len(_run(home + near, "concurrent_sessions", min_km=200)) == 1


def test_a_session_stolen_at_one_tenant_then_used_at_another_is_an_incident() -> None:
    home = [_page(_at(0, 9, 2 * i + 1), "u_c", "86.192.1.1", FRANCE) for i in range(30)]
    thief = [_page(_at(0, 9, 20 + 3 * i), "u_c", "177.32.1.1", BRAZIL) for i in range(10)]
    elsewhere = {**_login(_at(0, 11), "u_c", ip="177.32.1.1"), "source.geo.country_iso_code": "BR"}
    table = pa.Table.from_pylist([*home, *thief, elsewhere], schema=EVENT_SCHEMA)
    found = jobs.run(table, analyses=["concurrent_sessions", "incidents"], parameters={})
    (incident,) = [f for f in found if f["detector"] == "incidents"]
    assert incident["title"] == "Account taken over at region, then used at academie"
    assert incident["evidence"]["timeline"][-1]["source"] == "177.32.1.1"


# -- newly seen domains ---------------------------------------------------------------


def _query(t: dt.datetime, client: str, qname: str) -> dict:
    return {
        "@timestamp": t,
        "tenant": "reseau",
        "event.dataset": "bind-querylog",
        "ocsf.class_uid": 4003,
        "source.ip": client,
        "dns.question.name": qname,
        "dns.question.type": "A",
    }


KNOWN = ["www.wikipedia.org", "pronote.index-education.net", "www.education.gouv.fr"]
BASELINE = [
    _query(_at(day, hour), f"10.1.1.{hour}", name)
    for day in range(4)
    for hour in range(8, 18)
    for name in KNOWN
]


def test_a_domain_nobody_resolved_before_fires_once_with_its_clients() -> None:
    phishing = [
        _query(_at(3, 10, 5 * i), f"10.2.2.{i % 2}", f"{label}.ent-verif.example")
        for i, label in enumerate(("login", "www", "login", "login"))
    ]
    (found,) = _run(BASELINE + phishing, "newly_seen_domain")
    assert found["entity"] == {
        "field": "dns.question.registered_domain",
        "value": "ent-verif.example",
    }
    assert found["evidence"]["queries"] == 4
    assert found["evidence"]["clients"] == ["10.2.2.0", "10.2.2.1"]
    assert found["pseudonyms"] == ["10.2.2.0", "10.2.2.1"]  # the domain is no pseudonym
    assert found["first_seen"] == _at(3, 10).isoformat()


def test_known_rare_reverse_or_too_early_domains_do_not_fire() -> None:
    known_later = [_query(_at(3, 9, i), "10.3.3.3", "fr.wikipedia.org") for i in range(5)]
    twice = [_query(_at(3, 9, i), "10.3.3.3", "typo-domain.example") for i in range(2)]
    reverse = [_query(_at(3, 9, i), "10.3.3.3", f"{i}.1.10.in-addr.arpa") for i in range(5)]
    rows = BASELINE + known_later + twice + reverse
    assert _run(rows, "newly_seen_domain") == []
    assert len(_run(rows, "newly_seen_domain", min_queries=2)) == 1
    # within the baseline days everything is new and nothing can be told
    early = [_query(_at(1, 9, i), "10.3.3.3", "new-early.example") for i in range(5)]
    assert _run(BASELINE + early, "newly_seen_domain") == []


# -- web error rates ------------------------------------------------------------------


def _request(t: dt.datetime, ip: str, path: str, status: int) -> dict:
    return {
        "@timestamp": t,
        "tenant": "region",
        "event.dataset": "apache-combined",
        "ocsf.class_uid": 4002,
        "source.ip": ip,
        "http.request.method": "GET",
        "url.path": path,
        "http.response.status_code": status,
        "user_agent.original": "Mozilla/5.0",
    }


ENDINGS = ("", ".zip", ".bak", "/", ".sql", ".old", ".txt", ".json")
WORDS = [f"/{w}{e}" for w in ("backup", "old", "test", "archive", "db") for e in ENDINGS]


def test_paths_guessed_from_a_word_list_fire_as_forced_browsing() -> None:
    guesses = [_request(_at(0, 10, i / 10), "95.165.1.1", p, 404) for i, p in enumerate(WORDS)]
    (found,) = _run(guesses, "web_error_rate")
    assert found["entity"]["value"] == "95.165.1.1"
    assert found["attack_technique"] == "T1595.003"
    assert found["evidence"]["client_errors"] == 40 and found["evidence"]["statuses"] == [404]
    assert _run(guesses[:29], "web_error_rate") == []


def test_known_probes_login_failures_and_missing_icons_are_not_error_rates() -> None:
    probes = [_request(_at(0, 10, i / 10), "95.165.2.2", "/.env", 404) for i in range(40)]
    logins = [_request(_at(0, 10, i / 10), "95.165.3.3", "/auth/login", 401) for i in range(40)]
    icons = [
        _request(_at(0, 10, i / 10), "86.192.1.1", "/favicon.ico" if i % 10 == 0 else "/", 200)
        for i in range(60)
    ]
    assert _run(probes + logins + icons, "web_error_rate") == []
    assert len(_run(probes, "web_attack")) == 1  # the probes are web_attack's


def test_a_server_answering_5xx_far_above_its_usual_rate() -> None:
    usual = [_request(_at(0, 8, i), f"86.192.1.{i % 50}", "/", 200) for i in range(240)]
    flood = [
        _request(_at(0, 12, i / 20), f"37.160.1.{i % 20}", "/api/recherche", 503 if i % 8 else 200)
        for i in range(200)
    ]
    (found,) = _run(usual + flood, "web_error_rate")
    assert found["entity"] == {"field": "service.tenant", "value": "region"}
    assert found["attack_technique"] == "T1499"
    assert found["evidence"]["server_errors"] == 175
    assert found["evidence"]["statuses"] == [503]
    assert len(found["evidence"]["sources"]) == 20
    # 60 errors among 360 answers (17 %) is a busy server with a hiccup, not a failing one
    busy = [
        _request(_at(0, 12, i / 40), f"86.192.2.{i % 90}", "/", 503 if i % 6 == 0 else 200)
        for i in range(360)
    ]
    assert _run(usual + busy, "web_error_rate") == []
    assert len(_run(usual + busy, "web_error_rate", min_server_error_ratio=0.15)) == 1
