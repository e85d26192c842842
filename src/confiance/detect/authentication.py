"""Authentication detections: spraying, brute force, stuffing, compromise, travel, habits.

All run as DuckDB SQL over the view ``auth`` built by :mod:`confiance.detect.jobs`
(authentication events of every tenant, pseudonymised).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from confiance.detect.finding import fetch_one, fetch_spans, finding, listed, merge_windows
from confiance.errors import ConfigError

#: great-circle distance in km between (plat, plon) and (lat, lon), haversine formula
_KM = """2 * 6371 * asin(sqrt(
    pow(sin(radians(lat - plat) / 2), 2)
    + cos(radians(plat)) * cos(radians(lat)) * pow(sin(radians(lon - plon) / 2), 2)
))"""


#: accounts whose places (``lat``, ``lon`` of the rows of ``{rows}``) lie at least
#: ``$min_km`` apart by an upper bound of the great-circle distance: along a meridian,
#: then along a parallel, which is no shorter than the great circle (R·Δφ + R·Δλ)
_SPREAD = """
    SELECT account FROM {rows} GROUP BY account
    HAVING 6371 * (radians(max(lat) - min(lat)) + radians(max(lon) - min(lon))) >= $min_km
"""


def _failed(
    con: duckdb.DuckDBPyConnection, spans: list[tuple[str, datetime, datetime]], by: str, other: str
) -> list[tuple[Any, ...]]:
    """Each span's failed logins of its entity (``by``: ``ip`` or ``account``): their
    tenants, the ``other`` they name, how many, the first and the last."""
    return fetch_spans(
        con,
        f"""
        SELECT sp.n, {listed("x.tenant")}, {listed("x." + other)}, count(x.ts), min(x.ts),
               max(x.ts)
        FROM spans sp LEFT JOIN auth x ON x.{by} = sp.entity AND x.outcome = 'failure'
                                      AND x.ts >= sp.s AND x.ts < sp.e
        GROUP BY sp.n
        """,
        spans,
    )


def password_spraying(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1110.003: one source, failures on many accounts, few tries each.

    Fires per source and hour when at least ``min_accounts`` distinct accounts
    failed, failures are at least ``min_failure_ratio`` of attempts, and there
    are at most ``max_tries_per_account`` failures per account. A school's NAT
    address carries hundreds of legitimate logins and a low failure ratio.
    """
    windows = con.execute(
        """
        WITH f AS (
            -- the source-hours whose failures alone qualify (few): only they are counted whole
            SELECT ip, time_bucket(INTERVAL 1 HOUR, ts) AS w, count(*) AS failures
            FROM auth WHERE outcome = 'failure' GROUP BY ip, w
            HAVING count(DISTINCT account) >= $min_accounts
               AND count(*) <= $tries * count(DISTINCT account)
        )
        SELECT f.ip, f.w
        FROM f JOIN auth a ON a.ip = f.ip AND time_bucket(INTERVAL 1 HOUR, a.ts) = f.w
        GROUP BY f.ip, f.w, f.failures HAVING f.failures >= $ratio * count(*)
        """,
        {
            "min_accounts": p["min_accounts"],
            "ratio": p["min_failure_ratio"],
            "tries": p["max_tries_per_account"],
        },
    ).fetchall()
    spans = merge_windows(windows, width=timedelta(hours=1))
    details = _failed(con, spans, "ip", "account")
    findings = []
    for (ip, _, _), (tenants, accounts, failures, first, last) in zip(spans, details, strict=True):
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
    spans = merge_windows(windows, width=timedelta(minutes=width))
    details = _failed(con, spans, "account", "ip")
    findings = []
    for (account, _, _), (tenants, sources, failures, first, last) in zip(
        spans, details, strict=True
    ):
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
        f"""
        WITH located AS (SELECT * FROM auth WHERE outcome = 'success' AND lat IS NOT NULL),
        far AS ({_SPREAD.format(rows="located")}),
        s AS (
            SELECT account, tenant, ts, ip, lat, lon, asn, country,
                   lag(ts) OVER w AS pts, lag(ip) OVER w AS pip, lag(lat) OVER w AS plat,
                   lag(lon) OVER w AS plon, lag(asn) OVER w AS pasn,
                   lag(country) OVER w AS pcountry, lag(tenant) OVER w AS ptenant
            FROM located WHERE account IN (SELECT account FROM far)
            WINDOW w AS (PARTITION BY account ORDER BY ts, ip, tenant)
        ), d AS (
            SELECT *, {_KM} AS km,
                   greatest(epoch(ts) - epoch(pts), 60) / 3600.0 AS hours
            FROM s WHERE pts IS NOT NULL
        )
        SELECT account, tenant, ptenant, pts, ts, pip, ip, pasn, pcountry, asn, country, km, hours
        FROM d WHERE km >= $min_km AND km / hours >= $min_speed AND hours <= $max_hours
        ORDER BY account, ts, ip, tenant
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

    Fires when a source that failed at least ``min_failures`` times in a row on
    an account (no success in between) within ``window_minutes`` then logs in
    to it successfully within the same window: the guessing worked. Someone
    who forgot the password twice in an afternoon logged in between the two
    runs and is counted twice short. People who mistype once or twice are below any
    sensible threshold; a forgotten password followed by a reset is not, and is
    the main known false positive (raise ``min_failures`` where resets are common).
    """
    width = f"INTERVAL {int(p['window_minutes'])} MINUTE"
    rows = con.execute(
        f"""
        WITH f AS (
            SELECT tenant, account, ip, time_bucket({width}, ts) AS b, count(*) AS n
            FROM auth WHERE outcome = 'failure' GROUP BY ALL
        ), near AS (
            -- a window's failures lie in two successive buckets of its width: only the
            -- pairs of buckets with enough failures, and their logins, can fire
            SELECT DISTINCT tenant, account, ip, unnest([b, b + {width}]) AS b
            FROM (
                SELECT coalesce(x.tenant, y.tenant) AS tenant,
                       coalesce(x.account, y.account) AS account, coalesce(x.ip, y.ip) AS ip,
                       coalesce(x.b, y.b - {width}) AS b
                FROM f x FULL JOIN f y
                  ON y.tenant = x.tenant AND y.account = x.account AND y.ip = x.ip
                 AND y.b = x.b + {width}
                WHERE coalesce(x.n, 0) + coalesce(y.n, 0) >= $min_failures
            )
        ), r AS (
            -- the failures of one run: those since the source's last success on the account
            SELECT account, ip, ts, tenant, outcome,
                   count(*) FILTER (outcome = 'success') OVER (
                       PARTITION BY tenant, account, ip ORDER BY ts, outcome
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
                   ) AS run
            FROM auth a
            SEMI JOIN near n ON n.tenant = a.tenant AND n.account = a.account AND n.ip = a.ip
                            AND n.b = time_bucket({width}, a.ts)
        ), s AS (
            SELECT account, ip, ts, tenant,
                   count(*) FILTER (outcome = 'failure') OVER w AS failures,
                   min(ts) FILTER (outcome = 'failure') OVER w AS first_failure,
                   outcome
            FROM r
            WINDOW w AS (
                PARTITION BY tenant, account, ip, run ORDER BY ts
                RANGE BETWEEN {width} PRECEDING AND CURRENT ROW
            )
        )
        SELECT account, ip, tenant, min(first_failure), min(ts), max(failures)
        FROM s WHERE outcome = 'success' AND failures >= $min_failures
        GROUP BY account, ip, tenant ORDER BY account, min(ts)
        """,
        {"min_failures": p["min_failures"]},
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
    WITH f AS (
        -- the source-hours that failed on two accounts (few): only they are counted whole
        SELECT tenant, ip, time_bucket(INTERVAL 1 HOUR, ts) AS w,
               count(DISTINCT account) AS failed_accounts
        FROM auth WHERE outcome = 'failure' GROUP BY tenant, ip, w
        HAVING count(DISTINCT account) >= 2
    )
    SELECT f.tenant, f.ip, f.w, f.failed_accounts
    FROM f JOIN auth a ON a.tenant = f.tenant AND a.ip = f.ip
                      AND time_bucket(INTERVAL 1 HOUR, a.ts) = f.w
    GROUP BY ALL HAVING count(*) FILTER (a.outcome = 'success') <= $ratio * count(*)
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
                   row_number() OVER (PARTITION BY account ORDER BY ts, ip) - 1 AS prior,
                   row_number() OVER (PARTITION BY account, country ORDER BY ts, ip) AS nth_here,
                   min(ts) OVER (PARTITION BY account) AS first_ts,
                   lag(ts) OVER (PARTITION BY account ORDER BY ts, ip) AS previous_ts
            FROM auth WHERE outcome = 'success' AND country IS NOT NULL
              -- a first login from a country that is not the account's first: two countries
              AND account IN (
                  SELECT account FROM auth WHERE outcome = 'success' AND country IS NOT NULL
                  GROUP BY account HAVING count(DISTINCT country) >= 2
              )
        ), firsts AS (
            -- each account's first login from each country: the few rows "known" reads
            SELECT account, country, prior FROM s WHERE nth_here = 1
        ), c AS (
            SELECT * FROM s
            WHERE nth_here = 1 AND prior >= $min_history
              AND ts - first_ts >= INTERVAL 1 DAY
              AND ts - previous_ts >= to_hours(CAST($gap AS BIGINT))
              AND NOT list_contains($ignore, country)
              AND NOT EXISTS (
                  SELECT 1 FROM auth f
                  WHERE f.ip = s.ip AND f.outcome = 'failure'
                    AND f.ts BETWEEN s.ts - INTERVAL 1 HOUR AND s.ts
              )
        )
        SELECT c.account, c.tenant, c.ts, c.ip, c.country, c.asn, c.prior,
               list(DISTINCT f.country) AS known, c.previous_ts
        FROM c JOIN firsts f ON f.account = c.account AND f.prior < c.prior
        GROUP BY ALL
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


def _zone(name: str) -> str:
    """An IANA time zone name, refused with the parameter named if unknown."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"time_zone: {name!r} is not an IANA time zone") from exc
    return name


def unusual_hour(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1078: a successful login at an hour this account never works at.

    Each account's earlier successful logins give its working hours as a
    circular distribution over the day, in local time (``time_zone``): a mean
    hour and a spread. A login fires when the account has at least
    ``min_history`` earlier logins over at least ``min_days`` days, the login's
    hour is at least ``min_deviation`` spreads from the mean, and no earlier
    login lies within ``min_gap_hours`` of it, and the hour is a quiet one for
    the account's tenant (at most ``max_tenant_share`` of its logins fall in
    that clock hour): a day worker's 18:30 is not worth an analyst's time, a
    day worker's 03:00 is. Teachers who correct papers at night have nights in
    their history and do not fire; an account whose hours are spread over the
    whole day never fires (its spread is too wide). Known false positives: a
    deadline night, a trip abroad in another time zone.
    """
    zone = _zone(str(p["time_zone"]))
    rows = con.execute(
        """
        WITH minutes AS (
            -- the zone's offset read once per minute of the run, not once per login; a
            -- minute whose offset changes within it (none in today's zones) is read per login
            SELECT m, epoch_us(timezone($zone, timezone('UTC', m))) - epoch_us(m) AS shift,
                   epoch_us(timezone($zone, timezone('UTC', m + INTERVAL 1 MINUTE
                                                         - INTERVAL 1 MICROSECOND)))
                   - epoch_us(m + INTERVAL 1 MINUTE - INTERVAL 1 MICROSECOND) AS shift_end
            FROM (SELECT DISTINCT time_bucket(INTERVAL 1 MINUTE, ts) AS m
                  FROM auth WHERE outcome = 'success')
        ), s AS (
            SELECT l.account, l.tenant, l.ts, l.ip, l.country,
                   time_bucket(INTERVAL 1 DAY, l.ts) AS day,
                   (CASE WHEN o.shift = o.shift_end THEN epoch_us(l.ts) + o.shift
                         ELSE epoch_us(timezone($zone, timezone('UTC', l.ts))) END
                    % 86400000000) / 3600000000.0 AS hour
            FROM auth l JOIN minutes o ON o.m = time_bucket(INTERVAL 1 MINUTE, l.ts)
            WHERE l.outcome = 'success'
        ), quiet AS (
            SELECT tenant, floor(hour) AS clock,
                   count(*) / sum(count(*)) OVER (PARTITION BY tenant) AS share
            FROM s GROUP BY tenant, clock
        ), c AS (
            -- the logins in an hour quiet for their tenant: the only ones that can fire
            SELECT s.* FROM s JOIN quiet q ON q.tenant = s.tenant AND q.clock = floor(s.hour)
            WHERE q.share <= $tenant_share
        ), daily AS (
            SELECT account, day, count(*) AS n, min(ts) AS since,
                   sum(cos(radians(hour * 15))) AS x, sum(sin(radians(hour * 15))) AS y
            FROM s WHERE account IN (SELECT account FROM c) GROUP BY account, day
        ), before AS (
            -- for each day of an account, its logins of the days before
            SELECT account, day, sum(n) OVER w AS n, min(since) OVER w AS since,
                   sum(x) OVER w AS x, sum(y) OVER w AS y
            FROM daily
            WINDOW w AS (PARTITION BY account ORDER BY day
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ), same AS (
            -- for each candidate, the account's logins earlier the same day
            SELECT c.account, c.ts, c.ip, count(e.ts) AS n, min(e.ts) AS since,
                   sum(cos(radians(e.hour * 15))) AS x, sum(sin(radians(e.hour * 15))) AS y
            FROM (SELECT DISTINCT account, day, ts, ip FROM c) c
            LEFT JOIN s e ON e.account = c.account AND e.day = c.day
                         AND (e.ts < c.ts OR (e.ts = c.ts AND e.ip < c.ip))
            GROUP BY c.account, c.ts, c.ip
        ), h AS (
            -- each candidate's earlier logins: the days before, then that day's
            SELECT c.*, coalesce(b.n, 0) + t.n AS n, least(b.since, t.since) AS since,
                   (coalesce(b.x, 0) + coalesce(t.x, 0)) / (coalesce(b.n, 0) + t.n) AS cosine,
                   (coalesce(b.y, 0) + coalesce(t.y, 0)) / (coalesce(b.n, 0) + t.n) AS sine
            FROM c JOIN same t USING (account, ts, ip)
            LEFT JOIN before b ON b.account = c.account AND b.day = c.day
        ), d AS (
            SELECT *, (degrees(atan2(sine, cosine)) / 15 + 24) % 24 AS mean_hour,
                   degrees(sqrt(-2 * ln(greatest(sqrt(cosine ** 2 + sine ** 2), 1e-9)))) / 15
                   AS spread
            FROM h WHERE n >= $min_history AND ts - since >= to_days(CAST($days AS INTEGER))
        ), candidates AS (
            SELECT *, least(abs(hour - mean_hour), 24 - abs(hour - mean_hour)) AS off
            FROM d
        )
        SELECT c.account, c.tenant, c.ts, c.ip, c.country, c.hour, c.mean_hour, c.spread, c.n,
               q.share
        FROM candidates c JOIN quiet q ON q.tenant = c.tenant AND q.clock = floor(c.hour)
        WHERE off >= $deviation * spread AND off >= $gap AND q.share <= $tenant_share
          AND NOT EXISTS (
              SELECT 1 FROM s e
              WHERE e.account = c.account AND e.ts < c.ts
                AND least(abs(e.hour - c.hour), 24 - abs(e.hour - c.hour)) < $gap
          )
        -- one login logged twice (a dataset ingested again) is one finding
        QUALIFY row_number() OVER (PARTITION BY c.account, c.ts ORDER BY c.ip) = 1
        ORDER BY account, ts
        """,
        {
            "zone": zone,
            "min_history": p["min_history"],
            "days": p["min_days"],
            "deviation": p["min_deviation"],
            "gap": p["min_gap_hours"],
            "tenant_share": p["max_tenant_share"],
        },
    ).fetchall()
    return [
        finding(
            detector="unusual_hour",
            title=f"Login at {_clock(hour)} ({zone}), an hour this account never works at",
            severity="low",
            technique="T1078",
            tenants=[tenant],
            entity_field="user.name",
            entity=account,
            first_seen=ts,
            last_seen=ts,
            evidence={
                "local_time": _clock(hour),
                "usual_hour": _clock(mean_hour),
                "spread_hours": round(spread, 1),
                "earlier_logins": n,
                "tenant_share_of_hour": round(share, 4),
                "country": country,
                "sources": [ip],
            },
            pseudonyms=[ip],
        )
        for account, tenant, ts, ip, country, hour, mean_hour, spread, n, share in rows
    ]


def _clock(hour: float) -> str:
    minutes = round(hour * 60) % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def concurrent_sessions(
    con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """ATT&CK T1078 / T1550: one account active from two distant places at once.

    Every event that names an account and comes from a located address (a
    login, a page of the portal) is activity; failed attempts are not. A
    *switch* is a change between places at least ``min_km`` apart from one
    event of the account to its next. Travel makes one switch, a return trip
    two; an account that switches at least ``min_switches`` times within
    ``window_minutes`` (A, B, A, B) is used from both places at the same time:
    its session or password shared with, or stolen by, someone far away.
    Impossible travel reports the first hop; this reports that both stayed
    alive. Known false positives: a VPN that exits abroad switched on and off.
    """
    rows = con.execute(
        f"""
        WITH a AS (
            SELECT "user.name" AS account, tenant, "@timestamp" AS ts,
                   "source.ip" AS ip, "source.geo.country_iso_code" AS country,
                   "source.geo.location.lat" AS lat, "source.geo.location.lon" AS lon
            FROM events
            WHERE "user.name" IS NOT NULL AND "source.geo.location.lat" IS NOT NULL
              AND coalesce("event.outcome", '') <> 'failure'
        ), far AS ({_SPREAD.format(rows="a")}
        ), s AS (
            SELECT *, lag(lat) OVER w AS plat, lag(lon) OVER w AS plon, lag(ip) OVER w AS pip,
                   lag(country) OVER w AS pcountry, lag(tenant) OVER w AS ptenant
            FROM a WHERE account IN (SELECT account FROM far)
            WINDOW w AS (PARTITION BY account ORDER BY ts, ip, tenant)
        )
        SELECT account, ts, ptenant, tenant, pip, ip, pcountry, country
        FROM s
        WHERE plat IS NOT NULL AND (lat <> plat OR lon <> plon) AND {_KM} >= $min_km
        ORDER BY account, ts, ip, tenant
        """,
        {"min_km": p["min_km"]},
    ).fetchall()
    window = timedelta(minutes=float(p["window_minutes"]))
    needed = int(p["min_switches"])
    # runs of one account's switches, each within the window of the one before
    runs: list[list[tuple[Any, ...]]] = []
    for row in rows:
        if runs and runs[-1][-1][0] == row[0] and row[1] - runs[-1][-1][1] <= window:
            runs[-1].append(row)
        else:
            runs.append([row])
    findings = []
    for run in runs:
        if len(run) < needed:
            continue
        account, home = run[0][0], run[0][6]
        places = sorted({c for r in run for c in (r[6], r[7]) if c})
        # addresses of the place the account was first seen at, and of the others
        seen = {(r[4], r[6]) for r in run} | {(r[5], r[7]) for r in run}
        usual = sorted(ip for ip, country in seen if country == home)
        sources = sorted(ip for ip, country in seen if country != home)
        findings.append(
            finding(
                detector="concurrent_sessions",
                title=f"Account active from {' and '.join(places)} at the same time "
                f"({len(run)} switches)",
                severity="high",
                technique="T1078",
                tenants=[t for r in run for t in (r[2], r[3])],
                entity_field="user.name",
                entity=account,
                first_seen=run[0][1],
                last_seen=run[-1][1],
                evidence={
                    "switches": len(run),
                    "countries": places,
                    "usual_country": home,
                    "usual_sources": usual[:20],
                    "sources": sources[:20],
                    "timeline": [
                        {"at": r[1].isoformat(), "from": r[6], "to": r[7]} for r in run[:50]
                    ],
                },
                pseudonyms=usual[:20] + sources[:20],
            )
        )
    return findings
