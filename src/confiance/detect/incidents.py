"""Cross-tenant correlation: the run's findings grouped into incidents, with a timeline.

The reason to pool. Pseudonyms are consortium-wide (an address or an account
has the same pseudonym at every tenant), so the runtime sees what no single
member can:

* one source behind findings at several tenants (a scan of the network
  operator, then a web attack on the region's portal, then spraying on the
  education authority's login page) is one campaign, one incident;
* an account taken over at one tenant (a run of failures then a success,
  impossible travel) and then logged into at another tenant soon after is an
  incident even if the second login alone looks normal.

Findings are linked when they name the same source address or the same
account within ``max_gap_hours`` of each other; a group becomes an incident
when it spans at least ``min_tenants`` tenants. Single-tenant groups stay the
findings they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from confiance.detect.finding import finding, finding_sources

DETECTOR = "incidents"
#: findings that say an account is in the wrong hands
COMPROMISE = ("failure_then_success", "impossible_travel", "concurrent_sessions")
_SEVERITY = ("info", "low", "medium", "high", "critical")


def _keys(f: Mapping[str, Any]) -> set[tuple[str, str]]:
    keys = {("source.ip", s) for s in finding_sources(f)}
    if f["entity"]["field"] == "user.name":
        keys.add(("user.name", str(f["entity"]["value"])))
    return keys


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _naive_utc(t: datetime) -> datetime:
    """The detection views hold naive UTC times."""
    return t.astimezone(UTC).replace(tzinfo=None)


class _Groups:
    """Union-find over finding indexes."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _follow_ups(
    con: duckdb.DuckDBPyConnection, f: Mapping[str, Any], hours: float
) -> list[dict[str, Any]]:
    """Successful logins of a compromised account at the tenants where it was not taken,
    from the source that took it (the owner's own logins elsewhere are not evidence;
    an intruder who changes address in between is missed, and the guide says so)."""
    sources = sorted(finding_sources(f))
    if not sources:
        return []
    rows = con.execute(
        """
        SELECT ts, tenant, ip FROM auth
        WHERE account = $a AND outcome = 'success'
          AND tenant NOT IN (SELECT unnest(CAST($t AS VARCHAR[])))
          AND ip IN (SELECT unnest(CAST($ips AS VARCHAR[])))
          AND ts >= $s AND ts <= $e ORDER BY ts
        """,
        {
            "a": f["entity"]["value"],
            "t": list(f["tenants"]),
            "ips": sources,
            "s": _naive_utc(_when(f["first_seen"])),
            "e": _naive_utc(_when(f["last_seen"]) + timedelta(hours=hours)),
        },
    ).fetchall()
    return [
        {
            "time": ts.isoformat() + "+00:00",
            "tenants": [tenant],
            "what": f"login as the compromised account at {tenant}",
            "source": ip,
        }
        for ts, tenant, ip in rows
    ]


def correlate(
    con: duckdb.DuckDBPyConnection, p: Mapping[str, Any], *, findings: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Incidents across tenants from the findings of the run's other analyses."""
    own = [f for f in findings if f["detector"] != DETECTOR]
    gap = timedelta(hours=float(p["max_gap_hours"]))
    groups = _Groups(len(own))
    by_key: dict[tuple[str, str], list[int]] = {}
    for i, f in enumerate(own):
        for key in _keys(f):
            by_key.setdefault(key, []).append(i)
    for members in by_key.values():
        members.sort(key=lambda i: _when(own[i]["first_seen"]))
        reach = _when(own[members[0]]["last_seen"])
        for a, b in itertools.pairwise(members):
            if _when(own[b]["first_seen"]) - reach <= gap:
                groups.join(a, b)
                reach = max(reach, _when(own[b]["last_seen"]))
            else:
                reach = _when(own[b]["last_seen"])
    components: dict[int, list[int]] = {}
    for i in range(len(own)):
        components.setdefault(groups.find(i), []).append(i)
    incidents = []
    for members in components.values():
        parts = [own[i] for i in members]
        follow = [
            event
            for f in parts
            if f["detector"] in COMPROMISE and f["entity"]["field"] == "user.name"
            for event in _follow_ups(con, f, float(p["follow_hours"]))
        ]
        tenants = sorted(
            {t for f in parts for t in f["tenants"]} | {e["tenants"][0] for e in follow}
        )
        # one finding that already spans tenants says so itself; an incident links several
        if len(tenants) < int(p["min_tenants"]) or (len(parts) < 2 and not follow):
            continue
        incidents.append(_incident(parts, follow, tenants))
    return incidents


def _incident(
    parts: Sequence[Mapping[str, Any]], follow: Sequence[dict[str, Any]], tenants: list[str]
) -> dict[str, Any]:
    timeline = sorted(
        [
            {
                "time": f["first_seen"],
                "tenants": list(f["tenants"]),
                "what": f["title"],
                "detector": f["detector"],
                "finding": f["id"],
            }
            for f in parts
        ]
        + list(follow),
        key=lambda e: _when(e["time"]),
    )
    counts: dict[tuple[str, str], int] = {}
    for f in parts:
        for key in _keys(f):
            counts[key] = counts.get(key, 0) + 1
    for event in follow:
        counts[("source.ip", event["source"])] = counts.get(("source.ip", event["source"]), 0) + 1
    shared = sorted((k for k, n in counts.items() if n > 1), key=lambda k: (-counts[k], k))
    taken = [
        f for f in parts if f["detector"] in COMPROMISE and f["entity"]["field"] == "user.name"
    ]
    if follow and taken:  # a take-over is about the account
        field, value = "user.name", str(taken[0]["entity"]["value"])
    else:
        field, value = shared[0] if shared else max(counts, key=lambda k: counts[k])
    worst = max(
        (_SEVERITY.index(f["severity"]) for f in parts if f["severity"] in _SEVERITY), default=3
    )
    taken_over = bool(follow)
    severity = "critical" if taken_over or len(tenants) >= 3 else _SEVERITY[max(worst, 3)]
    detectors = sorted({f["detector"] for f in parts})
    if taken_over:
        title = (
            f"Account taken over at {', '.join(sorted({t for f in parts for t in f['tenants']}))}, "
            f"then used at {', '.join(sorted({e['tenants'][0] for e in follow}))}"
        )
    else:
        title = f"One campaign across {len(tenants)} tenants: {', '.join(detectors)}"
    techniques = sorted({f["attack_technique"] for f in parts if f["attack_technique"]})
    return finding(
        detector=DETECTOR,
        title=title,
        severity=severity,
        technique=techniques[0] if techniques else "",
        tenants=tenants,
        entity_field=field,
        entity=value,
        first_seen=_when(timeline[0]["time"]),
        last_seen=max([_when(f["last_seen"]) for f in parts] + [_when(e["time"]) for e in follow]),
        evidence={
            "findings": sorted(f["id"] for f in parts),
            "detectors": detectors,
            "techniques": techniques,
            "timeline": timeline,
            "shared": [{"field": k[0], "value": k[1], "findings": counts[k]} for k in shared[:20]],
            "sources": sorted(
                {k[1] for k in shared if k[0] == "source.ip"} | {e["source"] for e in follow}
            )[:50],
        },
        pseudonyms=[k[1] for k in shared[:20]] + [e["source"] for e in follow],
    )
