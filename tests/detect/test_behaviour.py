"""Behavioural detections at their edges, on hand-built events and on real captures."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from confiance.detect import jobs
from confiance.errors import ConfigError
from confiance.events import EVENT_SCHEMA
from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.parsers import ParseContext

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def _login(seconds: float, account: str, ip: str, ok: bool, tenant: str = "academie") -> dict:
    return {
        "@timestamp": T0 + dt.timedelta(seconds=seconds),
        "tenant": tenant,
        "event.dataset": "keycloak-json",
        "ocsf.class_uid": 3002,
        "event.category": "authentication",
        "event.outcome": "success" if ok else "failure",
        "user.name": account,
        "source.ip": ip,
    }


def _flow(seconds: float, src: str, dst: str, port: int, size: int, proto: str = "tcp") -> dict:
    return {
        "@timestamp": T0 + dt.timedelta(seconds=seconds),
        "tenant": "reseau",
        "event.dataset": "nfdump-csv",
        "ocsf.class_uid": 4001,
        "event.action": ".AP.SF",
        "source.ip": src,
        "destination.ip": dst,
        "destination.port": port,
        "network.transport": proto,
        "network.packets": 8,
        "source.bytes": size,
    }


def _run(rows: list[dict], name: str, **params: Any) -> list[dict[str, Any]]:
    return jobs.run(_table(rows), analyses=[name], parameters={name: params})


# -- failures then a success ---------------------------------------------------------


def test_a_run_of_failures_then_a_success_is_a_likely_compromise() -> None:
    guesses = [_login(30 * i, "marie.martin", "51.68.1.2", ok=False) for i in range(8)]
    found = _run(
        [*guesses, _login(300, "marie.martin", "51.68.1.2", ok=True)], "failure_then_success"
    )
    assert [f["entity"]["value"] for f in found] == ["marie.martin"]
    assert found[0]["evidence"]["failures"] == 8 and found[0]["severity"] == "high"
    # seven failures is a user who forgot; no success is brute force, not this
    assert (
        _run(
            [*guesses[:7], _login(300, "marie.martin", "51.68.1.2", ok=True)],
            "failure_then_success",
        )
        == []
    )
    assert _run(guesses, "failure_then_success") == []


def test_the_success_must_come_from_the_guessing_source_within_the_window() -> None:
    guesses = [_login(30 * i, "marie.martin", "51.68.1.2", ok=False) for i in range(10)]
    assert (
        _run([*guesses, _login(300, "marie.martin", "86.192.3.4", ok=True)], "failure_then_success")
        == []
    )
    late = _login(30 * 9 + 31 * 60, "marie.martin", "51.68.1.2", ok=True)
    assert _run([*guesses, late], "failure_then_success") == []
    assert _run([*guesses, late], "failure_then_success", window_minutes=60) != []


def test_failures_before_an_earlier_success_do_not_count_regression() -> None:
    """Found on the synthetic week with working hours: someone who forgot the password
    twice within half an hour (four failures, a login, four failures, a login) was
    reported as eight failed guesses."""
    first = [_login(20 * i, "lea.roux", "86.192.3.4", ok=False) for i in range(4)]
    second = [_login(600 + 20 * i, "lea.roux", "86.192.3.4", ok=False) for i in range(4)]
    rows = [
        *first,
        _login(100, "lea.roux", "86.192.3.4", ok=True),
        *second,
        _login(700, "lea.roux", "86.192.3.4", ok=True),
    ]
    assert _run(rows, "failure_then_success") == []
    assert len(_run(rows, "failure_then_success", min_failures=4)) == 1  # the runs apart


# -- credential stuffing --------------------------------------------------------------


def _stuffing(sources: int, per_source: int) -> list[dict]:
    return [
        _login(40 * s + 5 * a, f"leaked{s}-{a}", f"41.58.{s}.9", ok=False)
        for s in range(sources)
        for a in range(per_source)
    ]


def test_credential_stuffing_is_many_sources_few_accounts_each() -> None:
    found = _run(_stuffing(12, 3), "credential_stuffing")
    assert [f["entity"] for f in found] == [{"field": "service.tenant", "value": "academie"}]
    evidence = found[0]["evidence"]
    assert (evidence["distinct_sources"], evidence["distinct_accounts"]) == (12, 36)
    assert found[0]["severity"] == "medium"  # nothing succeeded
    # nine sources, or one account each, is not a campaign
    assert _run(_stuffing(9, 4), "credential_stuffing") == []
    assert _run(_stuffing(40, 1), "credential_stuffing") == []


def test_a_school_nat_address_with_many_accounts_is_not_stuffing() -> None:
    # 15 NAT addresses, 40 pupils each: a few typos among hundreds of logins
    rows = []
    for nat in range(15):
        for pupil in range(40):
            account, ip = f"eleve{nat}-{pupil}", f"193.48.{nat}.1"
            if pupil % 10 == 0:
                rows.append(_login(60 * pupil, account, ip, ok=False))
            rows.append(_login(60 * pupil + 20, account, ip, ok=True))
    assert _run(rows, "credential_stuffing") == []


# -- beaconing ----------------------------------------------------------------------


def test_beaconing_on_a_real_njrat_capture() -> None:
    """Stratosphere CTU-Malware-Capture-Botnet-230-1: NjRAT calls 41.108.179.197:1177."""
    context = ParseContext(tenant="reseau", service="reseau", geo=DEMO_GEO)
    parsed = parse_file(
        DATA / "001-zeek-scenario-malicious_labeled-conn.log", format="zeek-conn", context=context
    )
    found = jobs.run(parsed.table, analyses=["beaconing"], parameters={})
    assert [f["entity"]["value"] for f in found] == ["192.168.1.115"]
    (channel,) = found[0]["evidence"]["channels"]
    assert (channel["destination"], channel["port"], channel["connections"]) == (
        "41.108.179.197",
        1177,
        237,
    )
    # the DNS resolver (330 queries) and the periodic ICMPv6 reports are not beacons
    assert found[0]["pseudonyms"] == ["192.168.1.115", "41.108.179.197"]


def test_regular_calls_fire_and_random_ones_do_not() -> None:
    rng = random.Random(4)
    regular = [
        _flow(300 * i * rng.uniform(0.99, 1.01), "10.1.2.3", "177.32.1.1", 443, 1100)
        for i in range(40)
    ]
    t, browsing = 0.0, []
    for _ in range(60):
        t += rng.expovariate(1 / 300)
        browsing.append(_flow(t, "10.1.2.4", "185.1.1.1", 443, rng.randint(500, 90_000)))
    found = _run(regular + browsing, "beaconing")
    assert [f["entity"]["value"] for f in found] == ["10.1.2.3"]
    assert found[0]["evidence"]["channels"][0]["score"] > 0.95
    # too few calls, too short a span, or an ignored port: nothing
    assert _run(regular[:19], "beaconing") == []
    assert _run(regular, "beaconing", min_duration_minutes=600) == []
    ntp = [{**f, "destination.port": 123, "network.transport": "udp"} for f in regular]
    assert _run(ntp, "beaconing") == []


# -- large outbound transfers ---------------------------------------------------------


def test_a_transfer_far_above_the_host_baseline_fires_once() -> None:
    usual = [_flow(3600 * h, "10.1.2.3", "185.1.1.1", 443, 2_000_000) for h in range(24)]
    # 3 GB straddling two hours (0.6 GB then 2.4 GB): the first hour is not the second's baseline
    start = 3600 * 30 - 900
    burst = [_flow(start + 150 * i, "10.1.2.3", "41.58.3.3", 443, 250_000_000) for i in range(12)]
    found = _run(usual + burst, "large_outbound")
    assert len(found) == 1 and found[0]["entity"]["value"] == "10.1.2.3"
    assert found[0]["evidence"]["hours_of_history"] == 24
    assert "41.58.3.3" in found[0]["evidence"]["destinations"]
    # a backup server sending 2 GB every hour: only its first hours, before any
    # baseline, fire (one finding); then it is its own baseline
    backups = [_flow(3600 * h, "10.9.9.9", "172.16.0.5", 443, 2_000_000_000) for h in range(10)]
    (first,) = _run(backups, "large_outbound")
    assert first["evidence"]["hours_of_history"] == 0
    assert first["last_seen"] < (T0 + dt.timedelta(hours=2)).isoformat()


# -- web attacks ----------------------------------------------------------------------


def _request(seconds: float, ip: str, path: str, status: int, agent: str = "Mozilla/5.0") -> dict:
    return {
        "@timestamp": T0 + dt.timedelta(seconds=seconds),
        "tenant": "region",
        "event.dataset": "apache-combined",
        "ocsf.class_uid": 4002,
        "source.ip": ip,
        "http.request.method": "GET",
        "url.path": path,
        "http.response.status_code": status,
        "user_agent.original": agent,
    }


@pytest.mark.parametrize(
    ("path", "agent", "kind"),
    [
        ("/cgi-bin/../../etc/passwd", "curl/8", "traversal"),
        ("/static/..%2f..%2fetc%2fpasswd", "curl/8", "traversal"),
        ("/search/%3Cscript%3Ealert(1)%3C/script%3E", "curl/8", "injection"),
        ("/items/1%20UNION%20SELECT%20password", "curl/8", "injection"),
        ("/.git/config", "curl/8", "probe"),
        ("/wp-login.php", "curl/8", "probe"),
        ("/", "sqlmap/1.8#stable", "scanner"),
    ],
)
def test_web_attack_kinds(path: str, agent: str, kind: str) -> None:
    rows = [_request(i, "95.165.1.1", path, 404, agent) for i in range(10)]
    (found,) = _run(rows, "web_attack")
    assert found["evidence"]["kinds"] == [kind]
    assert found["attack_technique"] == (
        "T1190" if kind in ("traversal", "injection") else "T1595.002"
    )
    assert _run(rows[:9], "web_attack") == []


def test_missing_icons_and_the_proxy_are_not_web_attacks() -> None:
    icons = [_request(i, "86.192.1.1", "/favicon.ico", 404) for i in range(50)]
    proxied = [
        {**_request(i, "10.1.1.1", "/wp-login.php", 200), "event.dataset": "squid"}
        for i in range(50)
    ]
    assert _run(icons + proxied, "web_attack") == []


# -- noise control and parameters ----------------------------------------------------


def test_an_allow_listed_entity_is_never_reported() -> None:
    rows = [_request(i, "195.83.1.50", "/.env", 404, "Nessus") for i in range(30)]
    assert len(_run(rows, "web_attack")) == 1
    assert _run(rows, "web_attack", allow=["195.83.1.50"]) == []
    with pytest.raises(ConfigError, match="allow must be a list of strings"):
        _run(rows, "web_attack", allow="195.83.1.50")


def test_a_misspelt_parameter_is_refused_not_ignored() -> None:
    with pytest.raises(
        ConfigError, match=r"analysis beaconing: unknown parameter\(s\) min_conections"
    ):
        _run([], "beaconing", min_conections=5)


# -- cross-tenant incidents -----------------------------------------------------------


def _probe(seconds: float, src: str, port: int) -> dict:
    return {
        **_flow(seconds, src, "172.16.1.5", port, 44),
        "event.action": "....S.",
        "network.packets": 1,
    }


def _campaign(gap_hours: float) -> list[dict]:
    """One address: a scan of the network operator, then probes of the region's portal."""
    scan = [_probe(i, "41.58.7.7", port) for i, port in enumerate(range(1, 61))]
    later = 3600 * gap_hours
    web = [
        {**_request(later + i, "41.58.7.7", "/.env", 404), "tenant": "region"} for i in range(12)
    ]
    return scan + web


def test_one_source_at_two_tenants_is_one_incident_with_a_timeline() -> None:
    rows = _campaign(gap_hours=3)
    found = jobs.run(_table(rows), analyses=["port_scan", "web_attack", "incidents"], parameters={})
    (incident,) = [f for f in found if f["detector"] == "incidents"]
    assert incident["tenants"] == ["region", "reseau"]
    assert incident["entity"] == {"field": "source.ip", "value": "41.58.7.7"}
    timeline = incident["evidence"]["timeline"]
    assert [e["detector"] for e in timeline] == ["port_scan", "web_attack"]
    assert sorted(incident["evidence"]["findings"]) == sorted(
        f["id"] for f in found if f["detector"] != "incidents"
    )
    # more than a day apart: two unrelated findings, no incident
    apart = jobs.run(
        _table(_campaign(gap_hours=30)),
        analyses=["port_scan", "web_attack", "incidents"],
        parameters={},
    )
    assert [f["detector"] for f in apart] == ["port_scan", "web_attack"]
    wider = jobs.run(
        _table(_campaign(gap_hours=30)),
        analyses=["port_scan", "web_attack", "incidents"],
        parameters={"incidents": {"max_gap_hours": 48}},
    )
    assert "incidents" in {f["detector"] for f in wider}


def test_an_account_taken_over_then_used_at_another_tenant() -> None:
    guesses = [_login(30 * i, "prof.durand", "51.68.9.9", ok=False) for i in range(9)]
    taken = _login(300, "prof.durand", "51.68.9.9", ok=True)
    elsewhere = _login(2400, "prof.durand", "51.68.9.9", ok=True, tenant="region")
    found = jobs.run(
        _table([*guesses, taken, elsewhere]),
        analyses=["failure_then_success", "incidents"],
        parameters={},
    )
    (incident,) = [f for f in found if f["detector"] == "incidents"]
    assert incident["severity"] == "critical" and incident["tenants"] == ["academie", "region"]
    assert incident["entity"] == {"field": "user.name", "value": "prof.durand"}
    assert incident["title"] == "Account taken over at academie, then used at region"
    assert incident["evidence"]["timeline"][-1]["source"] == "51.68.9.9"
    # the owner logging in at the region from home is not the intruder
    own = _login(2400, "prof.durand", "86.192.1.1", ok=True, tenant="region")
    found = jobs.run(
        _table([*guesses, taken, own]),
        analyses=["failure_then_success", "incidents"],
        parameters={},
    )
    assert [f["detector"] for f in found] == ["failure_then_success"]


def test_a_single_finding_across_tenants_is_not_wrapped_as_an_incident() -> None:
    sprays = [
        _login(20 * i, f"user{i}", "95.165.3.3", ok=False, tenant=("academie", "region")[i % 2])
        for i in range(40)
    ]
    found = jobs.run(_table(sprays), analyses=["password_spraying", "incidents"], parameters={})
    assert [f["detector"] for f in found] == ["password_spraying"]
    assert found[0]["tenants"] == ["academie", "region"]


# -- anomaly scoring ------------------------------------------------------------------


def _ordinary_month(accounts: int = 60, days: int = 6) -> list[dict]:
    rng = random.Random(11)
    rows = []
    for a in range(accounts):
        home = f"86.192.{a}.{rng.randint(1, 250)}"
        for d in range(days):
            for _ in range(rng.randint(1, 3)):
                rows.append(
                    {
                        **_login(86400 * d + rng.uniform(8, 18) * 3600, f"agent{a}", home, ok=True),
                        "source.as.number": 3215,
                        "source.geo.country_iso_code": "FR",
                    }
                )
    return rows


def _odd_day() -> list[dict]:
    """agent7, day 5: 25 logins from five networks in five countries, many failing."""
    rows = []
    for i in range(25):
        asn, country = [(29465, "NG"), (12389, "RU"), (26599, "BR"), (45899, "VN"), (16276, "FR")][
            i % 5
        ]
        rows.append(
            {
                **_login(86400 * 5 + 3600 * 2 + 60 * i, "agent7", f"41.58.{i}.1", ok=i % 3 == 0),
                "source.as.number": asn,
                "source.geo.country_iso_code": country,
            }
        )
    return rows


def test_anomaly_scoring_explains_the_odd_day_against_the_account_itself() -> None:
    rows = _ordinary_month() + _odd_day()
    found = _run(rows, "anomaly")
    assert [(f["entity"]["value"], f["evidence"]["day"]) for f in found] == [
        ("agent7", "2026-11-07")
    ]
    explanation = found[0]["evidence"]["explanation"]
    assert explanation[0]["baseline"] == "entity" and abs(explanation[0]["deviation"]) >= 4
    assert {e["feature"] for e in explanation} & {"sources", "countries", "networks", "failures"}
    assert found[0]["evidence"]["features"]["countries"] == 5
    # seeded: the same events give the same scores
    assert _run(rows, "anomaly") == found
    # the ordinary month alone, or too few entity-days to learn from: nothing
    assert _run(_ordinary_month(), "anomaly") == []
    assert _run(_ordinary_month(accounts=5, days=3) + _odd_day(), "anomaly") == []


def test_an_anomaly_a_rule_already_reports_is_not_reported_twice() -> None:
    rows = _ordinary_month() + _odd_day()
    # a brute-force rule on agent7 (25 logins, 16 failing) with a low threshold
    found = jobs.run(
        _table(rows),
        analyses=["brute_force", "anomaly"],
        parameters={"brute_force": {"min_failures": 10, "window_minutes": 60}},
    )
    assert [f["detector"] for f in found] == ["brute_force"]


def test_an_analyst_benign_verdict_quiets_similar_days() -> None:
    rows = _ordinary_month() + _odd_day()
    (odd,) = _run(rows, "anomaly")
    verdict = pa.table(
        {"kind": ["account"], "tenant": ["academie"]}
        | {k: [float(v)] for k, v in odd["evidence"]["features"].items()}
    )
    quiet = jobs.run(
        _table(rows),
        analyses=["anomaly"],
        parameters={},
        references={"anomaly_feedback": verdict},
    )
    assert quiet == []
    # feedback for another tenant changes nothing here
    other = verdict.set_column(1, "tenant", pa.array(["region"]))
    assert _run(rows, "anomaly") == jobs.run(
        _table(rows), analyses=["anomaly"], parameters={}, references={"anomaly_feedback": other}
    )


def test_the_anomaly_model_is_opt_in() -> None:
    from confiance.detect import detectors_of

    assert "anomaly" not in detectors_of() and "anomaly" in detectors_of(opt_in=True)


# -- DNS ------------------------------------------------------------------------------


def _query(seconds: float, client: str, qname: str, qtype: str = "A") -> dict:
    return {
        "@timestamp": T0 + dt.timedelta(seconds=seconds),
        "tenant": "reseau",
        "event.dataset": "bind-querylog",
        "ocsf.class_uid": 4003,
        "source.ip": client,
        "dns.question.name": qname,
        "dns.question.type": qtype,
    }


def test_entropy_in_bits_per_character() -> None:
    from confiance.detect.dns import entropy

    assert (entropy(""), entropy("aaaa"), entropy("abcd"), entropy("aabb")) == (0, 0, 2, 1)


def test_dns_tunnelling_is_many_long_random_names_under_one_domain() -> None:
    rng = random.Random(3)
    base32 = "abcdefghijklmnopqrstuvwxyz234567"
    names = ["".join(rng.choice(base32) for _ in range(50)) for _ in range(120)]
    tunnel = [
        _query(10 * i, "10.1.1.1", f"{n}.t.relay.example", "TXT") for i, n in enumerate(names)
    ]
    (found,) = _run(tunnel, "dns_tunnelling")
    assert found["entity"]["value"] == "10.1.1.1"
    assert found["evidence"]["domains"] == ["relay.example"]
    assert found["evidence"]["query_types"] == ["TXT"]
    # fewer names, short labels, or random names spread over many domains: nothing
    assert _run(tunnel[:99], "dns_tunnelling") == []
    video = [
        _query(10 * i, "10.1.1.2", f"r{i % 9}---sn-{n[:8]}.googlevideo.com")
        for i, n in enumerate(names)
    ]
    assert _run(video, "dns_tunnelling") == []
    # the Public Suffix List knows bbc.co.uk is a domain, not a subdomain of co.uk
    british = [_query(10 * i, "10.1.1.3", f"{n}.bbc.co.uk") for i, n in enumerate(names)]
    assert _run(british, "dns_tunnelling")[0]["evidence"]["domains"] == ["bbc.co.uk"]


def test_generated_domains_in_a_burst() -> None:
    rng = random.Random(5)
    letters = "bcdfghjklmnpqrstvwxz"
    generated = [
        _query(20 * i, "10.2.2.2", "".join(rng.choice(letters) for _ in range(14)) + ".com")
        for i in range(40)
    ]
    (found,) = _run(generated, "dga")
    assert found["evidence"]["distinct_domains"] == 40
    real = [
        "wikipedia.org", "education.gouv.fr", "pronote.index-education.net", "khanacademy.org",
        "geogebra.org", "service-public.fr", "ouest-france.fr", "larousse.fr", "lemonde.fr",
        "instagram.com", "googlevideo.com", "microsoftonline.com", "cloudflare.com",
    ]  # fmt: skip
    ordinary = [_query(5 * i, "10.2.2.3", f"www.{d}") for i, d in enumerate(real * 3)]
    assert _run(ordinary, "dga") == []
    assert _run(generated[:24], "dga") == []


def test_a_suppression_window_hides_only_what_lies_within_it() -> None:
    rows = [_request(i, "195.83.1.50", "/.env", 404, "Nessus") for i in range(30)]
    day = T0.date().isoformat()
    inside = f"195.83.1.50@{day}T09:00:00+00:00/{day}T11:00:00+00:00"
    assert _run(rows, "web_attack", suppress=[inside]) == []
    before = f"195.83.1.50@{day}T08:00:00+00:00/{day}T10:00:10+00:00"  # ends mid-scan
    assert len(_run(rows, "web_attack", suppress=[before])) == 1
    other = f"10.0.0.1@{day}T09:00:00+00:00/{day}T11:00:00+00:00"
    assert len(_run(rows, "web_attack", suppress=[other])) == 1
    for bad, message in (
        ("195.83.1.50", "is not VALUE@START/END"),
        (f"195.83.1.50@{day}T11:00:00+00:00/{day}T09:00:00+00:00", "START before END"),
        (f"195.83.1.50@{day}T09:00:00/{day}T11:00:00", "give a time zone"),
    ):
        with pytest.raises(ConfigError, match=message):
            _run(rows, "web_attack", suppress=[bad])
