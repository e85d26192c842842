"""Network detections over flows: vertical and horizontal port scans."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import duckdb

from confiance.detect.finding import fetch_one, finding, merge_windows


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
    findings = []
    for src, start, end in merge_windows(windows, width=timedelta(minutes=width)):
        tenants, hosts, ports, probes, first, last = fetch_one(
            con,
            """
            SELECT list(DISTINCT tenant), count(DISTINCT dst), count(DISTINCT dport), count(*),
                   min(ts), max(ts)
            FROM flows WHERE src = $src AND ts >= $s AND ts < $e
              AND packets <= 2 AND flags LIKE '%S%' AND flags NOT LIKE '%A%'
            """,
            {"src": src, "s": start, "e": end},
        )
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
