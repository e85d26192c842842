"""Authentication detections: spraying, brute force, stuffing, compromise, impossible travel.

All run as DuckDB SQL over the view ``auth`` built by :mod:`confiance.detect.jobs`
(authentication events of every tenant, pseudonymised).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import duckdb

from confiance.detect.finding import fetch_one, finding, merge_windows


def password_spraying(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1110.003: one source, failures on many accounts, few tries each.

    Fires per source and hour when at least ``min_accounts`` distinct accounts
    failed, failures are at least ``min_failure_ratio`` of attempts, and there
    are at most ``max_tries_per_account`` failures per account. A school's NAT
    address carries hundreds of legitimate logins and a low failure ratio.
    """
    windows = con.execute(
        """
        SELECT ip, time_bucket(INTERVAL 1 HOUR, ts) AS w
        FROM auth GROUP BY ip, w
        HAVING count(DISTINCT account) FILTER (outcome = 'failure') >= $min_accounts
           AND count(*) FILTER (outcome = 'failure') >= $ratio * count(*)
           AND count(*) FILTER (outcome = 'failure')
               <= $tries * count(DISTINCT account) FILTER (outcome = 'failure')
        """,
        {
            "min_accounts": p["min_accounts"],
            "ratio": p["min_failure_ratio"],
            "tries": p["max_tries_per_account"],
        },
    ).fetchall()
    findings = []
    for ip, start, end in merge_windows(windows, width=timedelta(hours=1)):
        tenants, accounts, failures, first, last = fetch_one(
            con,
            """
            SELECT list(DISTINCT tenant), list(DISTINCT account), count(*), min(ts), max(ts)
            FROM auth WHERE ip = $ip AND outcome = 'failure' AND ts >= $s AND ts < $e
            """,
            {"ip": ip, "s": start, "e": end},
        )
        findings.append(
            finding(
                detector="password_spraying",
                title="Password spraying from one source"
                + (" across tenants" if len(tenants) > 1 else ""),
                severity="high" if len(tenants) > 1 else "medium",
                technique="T1110.003",
                tenants=tenants,
                entity_field="source.ip",
                entity=ip,
                first_seen=first,
                last_seen=last,
                evidence={
                    "failures": failures,
                    "distinct_accounts": len(accounts),
                    "accounts_sample": sorted(accounts)[:20],
                },
                pseudonyms=[*sorted(accounts)[:20]],
            )
        )
    return findings


def brute_force(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1110.001: many failed passwords on one account within minutes."""
    width = int(p["window_minutes"])
    windows = con.execute(
        f"""
        SELECT account, time_bucket(INTERVAL {width} MINUTE, ts) AS w
        FROM auth WHERE outcome = 'failure' GROUP BY account, w
        HAVING count(*) >= $min_failures
        """,
        {"min_failures": p["min_failures"]},
    ).fetchall()
    findings = []
    for account, start, end in merge_windows(windows, width=timedelta(minutes=width)):
        tenants, sources, failures, first, last = fetch_one(
            con,
            """
            SELECT list(DISTINCT tenant), list(DISTINCT ip), count(*), min(ts), max(ts)
            FROM auth WHERE account = $a AND outcome = 'failure' AND ts >= $s AND ts < $e
            """,
            {"a": account, "s": start, "e": end},
        )
        findings.append(
            finding(
                detector="brute_force",
                title="Brute force on one account",
                severity="medium",
                technique="T1110.001",
                tenants=tenants,
                entity_field="user.name",
                entity=account,
                first_seen=first,
                last_seen=last,
                evidence={"failures": failures, "sources": sorted(sources)[:10]},
                pseudonyms=sorted(sources)[:10],
            )
        )
    return findings


def impossible_travel(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1078: successive successful logins faster than an airliner."""
    rows = con.execute(
        """
        WITH s AS (
            SELECT account, tenant, ts, ip, lat, lon, asn, country,
                   lag(ts) OVER w AS pts, lag(ip) OVER w AS pip, lag(lat) OVER w AS plat,
                   lag(lon) OVER w AS plon, lag(asn) OVER w AS pasn,
                   lag(country) OVER w AS pcountry, lag(tenant) OVER w AS ptenant
            FROM auth WHERE outcome = 'success' AND lat IS NOT NULL
            WINDOW w AS (PARTITION BY account ORDER BY ts)
        ), d AS (
            SELECT *, 2 * 6371 * asin(sqrt(
                       pow(sin(radians(lat - plat) / 2), 2)
                       + cos(radians(plat)) * cos(radians(lat))
                         * pow(sin(radians(lon - plon) / 2), 2)
                   )) AS km,
                   greatest(epoch(ts) - epoch(pts), 60) / 3600.0 AS hours
            FROM s WHERE pts IS NOT NULL
        )
        SELECT account, tenant, ptenant, pts, ts, pip, ip, pasn, pcountry, asn, country, km, hours
        FROM d WHERE km >= $min_km AND km / hours >= $min_speed AND hours <= $max_hours
        ORDER BY account, ts
        """,
        {"min_km": p["min_km"], "min_speed": p["min_speed_kmh"], "max_hours": p["max_hours"]},
    ).fetchall()
    # Hops of one account that follow each other (out and back) are one incident.
    trips: list[list[tuple[Any, ...]]] = []
    for row in rows:
        if (
            trips
            and trips[-1][-1][0] == row[0]
            and row[3] <= trips[-1][-1][4] + timedelta(hours=float(p["max_hours"]))
        ):
            trips[-1].append(row)
        else:
            trips.append([row])
    findings = []
    for trip in trips:
        account, pts, pasn, pcountry = trip[0][0], trip[0][3], trip[0][7], trip[0][8]
        route = [f"{pcountry} (AS{pasn})"] + [f"{hop[10]} (AS{hop[9]})" for hop in trip]
        findings.append(
            finding(
                detector="impossible_travel",
                title="Impossible travel: " + " then ".join(route),
                severity="high",
                technique="T1078",
                tenants=[t for hop in trip for t in (hop[1], hop[2])],
                entity_field="user.name",
                entity=account,
                first_seen=pts,
                last_seen=trip[-1][4],
                evidence={
                    "hops": [
                        {
                            "from": f"{h[8]} AS{h[7]}",
                            "to": f"{h[10]} AS{h[9]}",
                            "distance_km": round(h[11]),
                            "minutes": round(h[12] * 60, 1),
                            "speed_kmh": round(h[11] / h[12]),
                            "sources": [h[5], h[6]],
                        }
                        for h in trip
                    ]
                },
                pseudonyms=[s for h in trip for s in (h[5], h[6])],
            )
        )
    return findings


def failure_then_success(
    con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """ATT&CK T1110 then T1078: a run of failed passwords, then a success from the same source.

    Fires when a source that failed at least ``min_failures`` times on an account
    within ``window_minutes`` then logs in to it successfully within the same
    window: the guessing worked. People who mistype once or twice are below any
    sensible threshold; a forgotten password followed by a reset is not, and is
    the main known false positive (raise ``min_failures`` where resets are common).
    """
    rows = con.execute(
        """
        WITH s AS (
            SELECT account, ip, ts, tenant,
                   count(*) FILTER (outcome = 'failure') OVER (
                       PARTITION BY tenant, account, ip ORDER BY ts
                       RANGE BETWEEN INTERVAL (CAST($w AS INTEGER)) MINUTE PRECEDING
                             AND CURRENT ROW
                   ) AS failures,
                   min(ts) FILTER (outcome = 'failure') OVER (
                       PARTITION BY tenant, account, ip ORDER BY ts
                       RANGE BETWEEN INTERVAL (CAST($w AS INTEGER)) MINUTE PRECEDING
                             AND CURRENT ROW
                   ) AS first_failure,
                   outcome
            FROM auth
        )
        SELECT account, ip, tenant, min(first_failure), min(ts), max(failures)
        FROM s WHERE outcome = 'success' AND failures >= $min_failures
        GROUP BY account, ip, tenant ORDER BY account, min(ts)
        """,
        {"w": int(p["window_minutes"]), "min_failures": p["min_failures"]},
    ).fetchall()
    return [
        finding(
            detector="failure_then_success",
            title=f"{failures} failed passwords, then a successful login from the same source",
            severity="high",
            technique="T1110",
            tenants=[tenant],
            entity_field="user.name",
            entity=account,
            first_seen=first,
            last_seen=success,
            evidence={"failures": failures, "source": ip, "success_at": success.isoformat()},
            pseudonyms=[ip],
        )
        for account, ip, tenant, first, success, failures in rows
    ]


#: per tenant, source and hour, the sources that failed on two accounts or more and
#: almost never succeeded (at most ``$ratio`` of their attempts)
_STUFFERS = """
    SELECT tenant, ip, time_bucket(INTERVAL 1 HOUR, ts) AS w,
           count(DISTINCT account) FILTER (outcome = 'failure') AS failed_accounts
    FROM auth GROUP BY tenant, ip, w
    HAVING count(DISTINCT account) FILTER (outcome = 'failure') >= 2
       AND count(*) FILTER (outcome = 'success') <= $ratio * count(*)
"""


def credential_stuffing(
    con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """ATT&CK T1110.004: leaked credentials tried from many sources, a few accounts each.

    No single source stands out (each tries a handful of accounts, so neither
    spraying nor brute force fires); what stands out is, in one hour at one
    tenant, at least ``min_sources`` sources that each failed on two or more
    accounts and almost never succeeded (success ratio at most
    ``max_success_ratio``), on ``min_accounts`` accounts in all. The finding is
    the tenant's login service under attack; its evidence lists the sources.
    A school NAT address carries many accounts but mostly successes.
    """
    windows = con.execute(
        f"""
        WITH s AS ({_STUFFERS})
        SELECT tenant, w FROM s GROUP BY tenant, w
        HAVING count(*) >= $min_sources AND sum(failed_accounts) >= $min_accounts
        """,
        {
            "ratio": p["max_success_ratio"],
            "min_sources": p["min_sources"],
            "min_accounts": p["min_accounts"],
        },
    ).fetchall()
    findings = []
    for tenant, start, end in merge_windows(windows, width=timedelta(hours=1)):
        sources, accounts, failures, successes, first, last = fetch_one(
            con,
            f"""
            WITH s AS ({_STUFFERS})
            SELECT list(DISTINCT ip), list(DISTINCT account), count(*) FILTER (outcome = 'failure'),
                   count(*) FILTER (outcome = 'success'), min(ts), max(ts)
            FROM auth WHERE tenant = $t AND ts >= $s AND ts < $e
              AND ip IN (SELECT ip FROM s WHERE tenant = $t AND w >= $s AND w < $e)
            """,
            {"t": tenant, "s": start, "e": end, "ratio": p["max_success_ratio"]},
        )
        findings.append(
            finding(
                detector="credential_stuffing",
                title=f"Credential stuffing: {len(sources)} sources, {len(accounts)} accounts",
                severity="high" if successes else "medium",
                technique="T1110.004",
                tenants=[tenant],
                entity_field="service.tenant",
                entity=tenant,
                first_seen=first,
                last_seen=last,
                evidence={
                    "sources": sorted(sources)[:50],
                    "distinct_sources": len(sources),
                    "distinct_accounts": len(accounts),
                    "failures": failures,
                    "successes": successes,
                },
                pseudonyms=sorted(sources)[:50] + sorted(accounts)[:20],
                entity_is_pseudonym=False,
            )
        )
    return findings


def new_country(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1078: a clean login from a country this account has never logged in from.

    Fires on an account's first successful login from a country absent from its
    history, when the history has at least ``min_history`` successful logins
    spread over at least a day, the previous login was at least
    ``min_gap_hours`` earlier (a faster hop is impossible travel's), and the
    source made no failed attempt in the hour before (guessing is for the
    brute-force detections): valid credentials used quietly from abroad. Known
    false positives: travel, and VPNs that exit abroad; list the countries
    members travel to in ``ignore_countries``, or an account's VPN exit in the
    contract's allow-list.
    """
    rows = con.execute(
        """
        WITH s AS (
            SELECT account, tenant, ts, ip, country, asn,
                   row_number() OVER (PARTITION BY account ORDER BY ts) - 1 AS prior,
                   row_number() OVER (PARTITION BY account, country ORDER BY ts) AS nth_here,
                   min(ts) OVER (PARTITION BY account) AS first_ts,
                   lag(ts) OVER (PARTITION BY account ORDER BY ts) AS previous_ts,
                   list(DISTINCT country) OVER (
                       PARTITION BY account ORDER BY ts
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ) AS known
            FROM auth WHERE outcome = 'success' AND country IS NOT NULL
        )
        SELECT account, tenant, ts, ip, country, asn, prior, known, previous_ts
        FROM s
        WHERE nth_here = 1 AND prior >= $min_history
          AND ts - first_ts >= INTERVAL 1 DAY
          AND ts - previous_ts >= to_hours(CAST($gap AS BIGINT))
          AND NOT list_contains($ignore, country)
          AND NOT EXISTS (
              SELECT 1 FROM auth f
              WHERE f.ip = s.ip AND f.outcome = 'failure'
                AND f.ts BETWEEN s.ts - INTERVAL 1 HOUR AND s.ts
          )
        ORDER BY account, ts
        """,
        {
            "min_history": p["min_history"],
            "gap": p["min_gap_hours"],
            "ignore": list(p["ignore_countries"]),
        },
    ).fetchall()
    return [
        finding(
            detector="new_country",
            title=f"Login from {country}, a country this account never logged in from",
            severity="medium",
            technique="T1078",
            tenants=[tenant],
            entity_field="user.name",
            entity=account,
            first_seen=ts,
            last_seen=ts,
            evidence={
                "country": country,
                "as_number": asn,
                "known_countries": sorted(c for c in known if c),
                "earlier_logins": prior,
                "previous_login": previous.isoformat(),
                "sources": [ip],
            },
            pseudonyms=[ip],
        )
        for account, tenant, ts, ip, country, asn, prior, known, previous in rows
    ]
