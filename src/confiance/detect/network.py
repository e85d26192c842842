"""Network detections over flows: port scans, beaconing, unusually large outbound transfers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import duckdb

from confiance.detect.finding import fetch_one, fetch_spans, finding, listed, merge_windows


def port_scan(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1046: one source probing many ports of a host, or one port of many hosts.

    Only unanswered probes count (SYN without ACK, at most two packets), so a
    busy proxy talking to many web servers is not a scan.
    """
    width = int(p["window_minutes"])
    windows = con.execute(
        f"""
        WITH probes AS (
            SELECT * FROM flows WHERE packets <= 2 AND flags LIKE '%S%' AND flags NOT LIKE '%A%'
        )
        SELECT src, time_bucket(INTERVAL {width} MINUTE, ts) AS w FROM probes
        GROUP BY src, dst, w HAVING count(DISTINCT dport) >= $min_targets
        UNION
        SELECT src, time_bucket(INTERVAL {width} MINUTE, ts) AS w FROM probes
        GROUP BY src, dport, w HAVING count(DISTINCT dst) >= $min_targets
        """,
        {"min_targets": p["min_targets"]},
    ).fetchall()
    spans = merge_windows(windows, width=timedelta(minutes=width))
    details = fetch_spans(
        con,
        f"""
        SELECT sp.n, {listed("x.tenant")},
               count(DISTINCT x.dst), count(DISTINCT x.dport), count(x.ts), min(x.ts), max(x.ts)
        FROM spans sp LEFT JOIN flows x
          ON x.src = sp.entity AND x.ts >= sp.s AND x.ts < sp.e
         AND x.packets <= 2 AND x.flags LIKE '%S%' AND x.flags NOT LIKE '%A%'
        GROUP BY sp.n
        """,
        spans,
    )
    findings = []
    for (src, _, _), (tenants, hosts, ports, probes, first, last) in zip(
        spans, details, strict=True
    ):
        kind = "vertical" if hosts == 1 else "horizontal" if ports == 1 else "mixed"
        findings.append(
            finding(
                detector="port_scan",
                title=f"Port scan ({kind}): {hosts} host(s), {ports} port(s)",
                severity="medium",
                technique="T1046",
                tenants=tenants,
                entity_field="source.ip",
                entity=src,
                first_seen=first,
                last_seen=last,
                evidence={"kind": kind, "hosts": hosts, "ports": ports, "probes": probes},
                pseudonyms=[],
            )
        )
    return findings


#: sources a flood's finding lists (a botnet may have hundreds of thousands)
_MAX_SOURCES = 1000


def syn_flood(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1498.001: a flood of unanswered connection attempts at one service.

    Fires per destination address and port and minute with at least
    ``min_probes`` SYN-without-ACK flows of at most two packets from at least
    ``min_sources`` sources (one source is a scan or a broken client, not a
    flood): a SYN flood, distributed when the sources are many. The entity is
    the target; the sources are in the evidence (spoofed ones mean nothing).
    Known false positives: a service that is down while many clients retry;
    raise ``min_probes`` for very busy services.
    """
    windows = con.execute(
        """
        SELECT dst || ':' || CAST(dport AS VARCHAR), time_bucket(INTERVAL 1 MINUTE, ts) AS w
        FROM flows WHERE packets <= 2 AND flags LIKE '%S%' AND flags NOT LIKE '%A%'
        GROUP BY dst, dport, w
        HAVING count(*) >= $min_probes AND count(DISTINCT src) >= $min_sources
        """,
        {"min_probes": p["min_probes"], "min_sources": p["min_sources"]},
    ).fetchall()
    findings = []
    for target, start, end in merge_windows(windows, width=timedelta(minutes=1)):
        dst, _, port = str(target).rpartition(":")
        tenants, sources, probes, sample, first, last = fetch_one(
            con,
            """
            SELECT list(DISTINCT tenant), count(DISTINCT src), count(*),
                   list(DISTINCT src ORDER BY src)[1:$cap], min(ts), max(ts)
            FROM flows WHERE dst = $dst AND dport = $port AND ts >= $s AND ts < $e
              AND packets <= 2 AND flags LIKE '%S%' AND flags NOT LIKE '%A%'
            """,
            {"dst": dst, "port": int(port), "s": start, "e": end, "cap": _MAX_SOURCES},
        )
        findings.append(
            finding(
                detector="syn_flood",
                title=f"SYN flood on port {port}: {probes} attempts from {sources} sources",
                severity="high",
                technique="T1498.001",
                tenants=tenants,
                entity_field="destination.ip",
                entity=dst,
                first_seen=first,
                last_seen=last,
                evidence={
                    "port": int(port),
                    "attempts": probes,
                    "distinct_sources": sources,
                    "per_minute": round(probes / max(1.0, (last - first).total_seconds() / 60), 1),
                    # the sources (at most _MAX_SOURCES): a spoofed one names nobody
                    "sources": sample,
                },
                pseudonyms=sample,
            )
        )
    return findings


#: an interquartile range under this share of the median is regular whatever its skew
#: (at that scale the skew measures timestamp rounding, not behaviour)
_TIGHT = 0.05


def beaconing(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1071: a host calling the same destination and port at regular intervals.

    Per channel (source, destination, port) with at least ``min_connections``
    connections over at least ``min_duration_minutes``, a regularity score in
    [0, 1] in the manner of RITA's beacon analysis: the mean of how symmetric
    the intervals are (1 − |Bowley skewness|), how little they spread (1 −
    median absolute deviation / median) and, with half that weight, the same
    two for the bytes sent (a spread whose interquartile range is under 5 % of
    the median counts as symmetric: the skew of 297/299/303 s is rounding).
    A channel fires at ``min_score`` or more. Malware
    sleeping with a large random jitter escapes by design; regular legitimate
    traffic (DNS, NTP, monitoring agents) does not, hence ``ignore_ports`` and
    the ``allow`` list. One finding per source, listing its regular channels.
    """
    rows = con.execute(
        """
        WITH f AS (
            SELECT * FROM flows
            WHERE proto IN (SELECT unnest(CAST($transports AS VARCHAR[])))
              AND dport NOT IN (SELECT unnest(CAST($ignore AS INTEGER[])))
        ), channels AS (
            -- the channels with enough connections over enough time: only they are scored
            SELECT src, dst, dport FROM f GROUP BY src, dst, dport
            HAVING count(*) >= $min_connections
               AND epoch(max(ts)) - epoch(min(ts)) >= 60 * $min_minutes
        ), c AS (
            SELECT src, dst, dport, tenant, ts, coalesce(bytes, 0) AS size,
                   epoch(ts) - epoch(lag(ts) OVER (PARTITION BY src, dst, dport ORDER BY ts))
                       AS gap
            FROM f SEMI JOIN channels USING (src, dst, dport)
        ), s AS (
            SELECT src, dst, dport, list(DISTINCT tenant) AS tenants, count(*) AS n,
                   min(ts) AS first, max(ts) AS last,
                   quantile_cont(gap, [0.25, 0.5, 0.75]) AS g,
                   quantile_cont(size, [0.25, 0.5, 0.75]) AS b
            FROM c GROUP BY src, dst, dport
            HAVING count(*) >= $min_connections
               AND epoch(max(ts)) - epoch(min(ts)) >= 60 * $min_minutes
        ), d AS (
            SELECT s.src, s.dst, s.dport, median(abs(c.gap - s.g[2])) AS gap_mad,
                   median(abs(c.size - s.b[2])) AS size_mad
            FROM s JOIN c USING (src, dst, dport) WHERE c.gap IS NOT NULL
            GROUP BY s.src, s.dst, s.dport
        ), scored AS (
            SELECT s.*, d.gap_mad,
                   CASE WHEN g[3] - g[1] <= $tight * g[2] THEN 1
                        ELSE 1 - abs((g[1] + g[3] - 2 * g[2]) / (g[3] - g[1])) END AS gap_skew,
                   greatest(0, 1 - d.gap_mad / g[2]) AS gap_spread,
                   CASE WHEN b[3] - b[1] <= $tight * b[2] THEN 1
                        ELSE 1 - abs((b[1] + b[3] - 2 * b[2]) / (b[3] - b[1])) END AS size_skew,
                   CASE WHEN b[2] = 0 THEN 1 ELSE greatest(0, 1 - d.size_mad / b[2]) END
                       AS size_spread
            FROM s JOIN d USING (src, dst, dport) WHERE s.g[2] >= 1
        )
        SELECT src, dst, dport, tenants, n, first, last, g[2],
               (2 * gap_skew + 2 * gap_spread + size_skew + size_spread) / 6 AS score
        FROM scored ORDER BY src, first
        """,
        {
            "transports": list(p["transports"]),
            "ignore": [int(x) for x in p["ignore_ports"]],
            "min_connections": int(p["min_connections"]),
            "min_minutes": float(p["min_duration_minutes"]),
            "tight": _TIGHT,
        },
    ).fetchall()
    by_source: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        if row[8] >= float(p["min_score"]):
            by_source.setdefault(row[0], []).append(row)
    findings = []
    for src, channels in by_source.items():
        findings.append(
            finding(
                detector="beaconing",
                title=f"Beaconing: {len(channels)} regular channel(s), every "
                f"{round(channels[0][7])} s",
                severity="high",
                technique="T1071",
                tenants=[t for c in channels for t in c[3]],
                entity_field="source.ip",
                entity=src,
                first_seen=min(c[5] for c in channels),
                last_seen=max(c[6] for c in channels),
                evidence={
                    "channels": [
                        {
                            "destination": c[1],
                            "port": c[2],
                            "connections": c[4],
                            "median_interval_s": round(c[7], 1),
                            "score": round(c[8], 3),
                        }
                        for c in channels[:10]
                    ]
                },
                pseudonyms=[c[1] for c in channels[:10]],
            )
        )
    return findings


def large_outbound(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1048: a host sending far more in an hour than it usually does.

    Fires for a source and hour with at least ``min_bytes`` sent and at least
    ``factor`` times the source's own median hourly volume in the hours before
    it (the hour just before is left out, so a transfer that straddles two
    hours is not its own baseline; hours it sent nothing do not count; a host
    without history is held to ``min_bytes`` alone). Backups and large uploads a
    school schedules are the known false positives: put their hosts on the
    ``allow`` list or raise ``min_bytes``.
    """
    rows = con.execute(
        """
        WITH h AS (
            SELECT src, time_bucket(INTERVAL 1 HOUR, ts) AS w, sum(bytes) AS sent
            FROM flows WHERE bytes IS NOT NULL GROUP BY src, w
        ), b AS (
            -- the baseline of the few hours over min_bytes only: the source's hours
            -- up to two before (a running median over every hour cost ten times more)
            SELECT c.src, c.w, c.sent, median(p.sent) AS baseline, count(p.sent) AS history
            FROM (SELECT * FROM h WHERE sent >= $min_bytes) c
            LEFT JOIN h p ON p.src = c.src AND p.w <= c.w - INTERVAL 2 HOUR
            GROUP BY c.src, c.w, c.sent
        ), fired AS (
            SELECT * FROM b WHERE history = 0 OR sent >= $factor * baseline
        )
        -- the tenants of the hours that fire only
        SELECT f.src, f.w, f.sent, list(DISTINCT x.tenant), f.baseline, f.history
        FROM fired f JOIN flows x ON x.src = f.src AND x.bytes IS NOT NULL
                                 AND time_bucket(INTERVAL 1 HOUR, x.ts) = f.w
        GROUP BY f.src, f.w, f.sent, f.baseline, f.history
        ORDER BY f.src, f.w
        """,
        {"min_bytes": int(p["min_bytes"]), "factor": float(p["factor"])},
    ).fetchall()
    hours = [(src, w) for src, w, *_ in rows]
    details = {(r[0], r[1]): r for r in rows}
    findings = []
    merged = merge_windows(hours, width=timedelta(hours=1))
    reached = fetch_spans(
        con,
        f"""
        SELECT sp.n, {listed("x.dst")}, min(x.ts), max(x.ts)
        FROM spans sp LEFT JOIN flows x ON x.src = sp.entity AND x.ts >= sp.s AND x.ts < sp.e
        GROUP BY sp.n
        """,
        merged,
    )
    for (src, start, end), destinations in zip(merged, reached, strict=True):
        spans = [r for (s, w), r in details.items() if s == src and start <= w < end]
        sent = sum(int(r[2]) for r in spans)
        baseline = spans[0][4]
        usual = (
            f"{sent / max(float(baseline), 1.0):.0f}x the host's usual hour"
            if baseline is not None
            else "no earlier traffic from this host"
        )
        findings.append(
            finding(
                detector="large_outbound",
                title=f"Large outbound transfer: {sent / 1e9:.2f} GB ({usual})",
                severity="high",
                technique="T1048",
                tenants=[t for r in spans for t in r[3]],
                entity_field="source.ip",
                entity=src,
                first_seen=destinations[1],
                last_seen=destinations[2],
                evidence={
                    "bytes": sent,
                    "baseline_bytes_per_hour": None if baseline is None else float(baseline),
                    "hours_of_history": int(spans[0][5]),
                    "destinations": sorted(destinations[0])[:10],
                },
                pseudonyms=sorted(destinations[0])[:10],
            )
        )
    return findings
