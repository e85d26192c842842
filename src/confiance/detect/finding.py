"""Findings: what a detector reports, as plain JSON-ready records."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa


def finding(
    *,
    detector: str,
    title: str,
    severity: str,
    technique: str,
    tenants: Sequence[str],
    entity_field: str,
    entity: str,
    first_seen: datetime,
    last_seen: datetime,
    evidence: dict[str, Any],
    pseudonyms: Sequence[str],
    entity_is_pseudonym: bool = True,
) -> dict[str, Any]:
    """One finding; its id is stable for the same detector, entity and start.

    Naive times are UTC (the detection views work in naive UTC). An entity that
    is no pseudonym (a tenant, a domain) is not listed among the pseudonyms.
    """
    if first_seen.tzinfo is None:
        first_seen = first_seen.replace(tzinfo=UTC)
    if last_seen.tzinfo is None:
        last_seen = last_seen.replace(tzinfo=UTC)
    key = f"{detector}|{entity}|{first_seen.isoformat()}".encode()
    return {
        "id": hashlib.sha256(key).hexdigest()[:16],
        "detector": detector,
        "title": title,
        "severity": severity,
        "attack_technique": technique,
        "tenants": sorted(set(tenants)),
        "entity": {"field": entity_field, "value": entity},
        "first_seen": first_seen.isoformat(),
        "last_seen": last_seen.isoformat(),
        "evidence": evidence,
        "pseudonyms": sorted(set(pseudonyms) | ({entity} if entity_is_pseudonym else set())),
    }


def fetch_one(
    con: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, Any]
) -> tuple[Any, ...]:
    """The single row of an aggregate query (which always returns one)."""
    cursor = con.execute(sql, parameters)
    row = cursor.fetchone()
    cursor.fetchall()  # finish the result, or the connection refuses other work
    assert row is not None
    return tuple(row)


def fetch_spans(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    spans: Sequence[tuple[str, datetime, datetime]],
    parameters: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """One aggregate row per span, from one query instead of one query per span.

    ``sql`` reads the spans as the table ``spans`` (``n``, ``entity``, ``s``, ``e``),
    left-joins each to its rows (so a span without rows keeps its row, as a
    query of its own would give one) and groups by ``n``, which it returns first.
    """
    if not spans:
        return []
    con.register(
        "spans",
        pa.table(
            {
                "n": pa.array(range(len(spans)), pa.int64()),
                "entity": pa.array([e for e, _, _ in spans], pa.string()),
                "s": pa.array([s for _, s, _ in spans], pa.timestamp("us")),
                "e": pa.array([e for _, _, e in spans], pa.timestamp("us")),
            }
        ),
    )
    try:
        found = {row[0]: tuple(row[1:]) for row in con.execute(sql, parameters or {}).fetchall()}
    finally:
        con.unregister("spans")
    return [found[n] for n in range(len(spans))]


def listed(column: str) -> str:
    """In a :func:`fetch_spans` query whose span rows are ``x`` (with a time ``x.ts``):
    the distinct values of ``column`` over a span's rows, nulls included, and null for a
    span without rows, as ``list(DISTINCT column)`` gives over those rows alone."""
    return f"CASE WHEN count(x.ts) > 0 THEN list(DISTINCT {column}) END"


def merge_windows(
    rows: Sequence[tuple[str, datetime]], *, width: timedelta
) -> list[tuple[str, datetime, datetime]]:
    """Merge firing windows of one entity that touch into (entity, start, end) spans.

    Repeated firings of one campaign become one finding, not one per window.
    """
    spans: list[tuple[str, datetime, datetime]] = []
    for entity, start in sorted(rows):
        end = start + width
        if spans and spans[-1][0] == entity and start <= spans[-1][2]:
            spans[-1] = (entity, spans[-1][1], max(end, spans[-1][2]))
        else:
            spans.append((entity, start, end))
    return spans


def finding_sources(finding: Mapping[str, Any]) -> set[str]:
    """The source addresses a finding names: its entity, or those its evidence lists."""
    found: set[str] = set()
    if finding["entity"]["field"] in ("source.ip", "client_ip", "src_ip"):
        found.add(str(finding["entity"]["value"]))
    evidence = finding.get("evidence", {})
    found.update(str(s) for s in evidence.get("sources", []))
    if isinstance(evidence.get("source"), str):
        found.add(evidence["source"])
    hops = evidence.get("hops", [])
    home = hops[0].get("from") if hops else None
    for hop in hops:  # the places the account was taken to, not the way back home
        if home is None or hop.get("to") != home:
            found.update(str(s) for s in hop.get("sources", [])[-1:])
    return found
