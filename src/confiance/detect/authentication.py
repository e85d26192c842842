"""Authentication detections: password spraying, brute force, impossible travel.

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
