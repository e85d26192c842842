"""Protection-of-minors analyses, run inside the runtime under a contract of that class.

Both report *signals for a person to review*, never decisions: a list hit or
a text signal is sealed to the recipients the contract names (the authority,
the school's head, its named reviewers) and waits in their review queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from confiance.detect.finding import finding
from confiance.detect.minors.blocklist import KeyedBlocklist
from confiance.detect.minors.classifier import load_classifier
from confiance.detect.minors.lexicon import SEVERITIES
from confiance.errors import DetectError

TECHNIQUE = "safeguarding"  # no ATT&CK technique: these are not attacks


def _entity(row: Mapping[str, Any]) -> tuple[str, str]:
    if row["account"] is not None:
        return "user.name", str(row["account"])
    return "source.ip", str(row["ip"])


def blocklist_access(
    con: duckdb.DuckDBPyConnection,
    p: Mapping[str, Any],
    *,
    references: Mapping[str, pa.Table],
) -> list[dict[str, Any]]:
    """Requests to a URL or domain on the authority's list, one finding per person and entry.

    The evidence names the list entry only by its keyed id (the authority maps
    it back to its line); the URL itself is not repeated, so a recipient at a
    school learns nothing of the list beyond the fact of a hit.
    """
    table = references.get("blocklist")
    if table is None:
        raise DetectError("blocklist_access needs the authority's list among the datasets")
    blocklist = KeyedBlocklist.from_table(table)
    web = con.sql(
        "SELECT ts, tenant, account, ip, domain || coalesce(path, '/') AS url FROM web"
    ).to_arrow_table()
    assert web is not None  # a SELECT always has a result
    hits = blocklist.match(web.column("url"))
    if not hits:
        return []
    rows = web.take(pa.array([h.row for h in hits], pa.int64())).to_pylist()
    grouped: dict[tuple[str, str, str, str], list[Any]] = {}
    for hit, row in zip(hits, rows, strict=True):
        field, value = _entity(row)
        grouped.setdefault((row["tenant"], field, value, hit.entry_id), []).append(row["ts"])
    found = []
    for (tenant, field, value, entry), times in sorted(grouped.items()):
        found.append(
            finding(
                detector="blocklist_access",
                title="Access to an entry of the authority's list",
                severity=str(p["severity"]),
                technique=TECHNIQUE,
                tenants=[tenant],
                entity_field=field,
                entity=value,
                first_seen=min(times),
                last_seen=max(times),
                evidence={"list_entry": entry, "requests": len(times), "review": "required"},
                pseudonyms=[value],
            )
        )
    return found


def search_signals(
    con: duckdb.DuckDBPyConnection,
    p: Mapping[str, Any],
    *,
    references: Mapping[str, pa.Table],
) -> list[dict[str, Any]]:
    """Distress, radicalisation and harassment signals in search queries, for human review."""
    model = str(p.get("model_path") or "")
    classifier = load_classifier(Path(model) if model else None)
    floor = SEVERITIES.index(str(p["min_severity"]))
    rows = con.execute(
        """
        SELECT tenant, account, ip, terms, min(ts) AS first, max(ts) AS last, count(*) AS n
        FROM web WHERE terms IS NOT NULL
        GROUP BY ALL ORDER BY tenant, account, ip, terms
        """
    ).fetchall()
    texts = sorted({row[3] for row in rows})
    signals = dict(zip(texts, classifier.classify(texts), strict=True))
    grouped: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for tenant, account, ip, terms, first, last, n in rows:
        field, value = _entity({"account": account, "ip": ip})
        for signal in signals[terms]:
            if SEVERITIES.index(signal.severity) < floor:
                continue
            key = (tenant, field, value, signal.signal_class)
            entry = grouped.setdefault(
                key, {"first": first, "last": last, "queries": [], "signals": [], "count": 0}
            )
            entry["first"], entry["last"] = min(entry["first"], first), max(entry["last"], last)
            entry["count"] += n
            entry["queries"].append(terms)
            entry["signals"].append(signal)
    found = []
    for (tenant, field, value, cls), entry in sorted(grouped.items()):
        strongest = max(
            entry["signals"], key=lambda s: (SEVERITIES.index(s.severity), s.confidence)
        )
        found.append(
            finding(
                detector="search_signals",
                title=f"Search queries that may signal {cls}",
                severity=strongest.severity,
                technique=TECHNIQUE,
                tenants=[tenant],
                entity_field=field,
                entity=value,
                first_seen=entry["first"],
                last_seen=entry["last"],
                evidence={
                    "signal_class": cls,
                    "confidence": strongest.confidence,
                    "reasons": sorted({s.reason for s in entry["signals"]}),
                    "excerpts": sorted({s.excerpt for s in entry["signals"]})[:5],
                    "queries": sorted(set(entry["queries"]))[:5],
                    "searches": entry["count"],
                    "classifier": classifier.name,
                    "review": "required",
                },
                pseudonyms=[value],
            )
        )
    return found
