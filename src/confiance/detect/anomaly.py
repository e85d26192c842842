"""Unsupervised anomaly scoring per entity and day, with explanations and feedback.

Rules catch what someone wrote down; this catches what no one did. Each
entity-day is a feature vector: an account's logins (attempts, failures,
sources, countries, networks, night-time share, networks new to it), a host's
flows (flows, destinations, ports, bytes sent, unanswered probes). Per tenant
and kind of entity, an Isolation Forest (scikit-learn) learns what that
tenant's ordinary days look like: a school's pupils and a region's agents do
not behave alike, so baselines are per tenant. The model is seeded: the same
events give the same scores, run after run.

An entity-day fires when its anomaly score is at least ``min_score``, it is
among the ``max_share`` most anomalous of its tenant, and at least one
feature deviates from the entity's own baseline (its other days; the tenant's
when it has too few) by ``min_deviation`` robust standard deviations. An
entity-day that a rule finding of the same run already names (the account,
or a source it logged in from) is left to that finding: the model adds what
the rules miss, not a second alert. The explanation lists the features that
deviate most, with value and baseline.

Feedback: the vectors of alerts an analyst judged benign arrive as the
reference table ``anomaly_feedback`` (columns ``kind``, ``tenant`` and the
features); an entity-day close to one of them (within ``feedback_radius`` in
the scaled feature space) has its score halved, so similar behaviour stops
firing without silencing the entity.

Work is partitioned by tenant (and the windows by day), so it can be spread
over workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from confiance.detect.finding import finding, finding_sources

DETECTOR = "anomaly"
FEEDBACK_TABLE = "anomaly_feedback"
_MIN_ROWS = 50  # fewer entity-days than this: no model, no finding
_MIN_HISTORY = 3  # an entity's own baseline needs this many other days

ACCOUNT_FEATURES = (
    "attempts",
    "failures",
    "failure_ratio",
    "sources",
    "countries",
    "networks",
    "new_networks",
    "night_share",
)
HOST_FEATURES = ("flows", "destinations", "ports", "bytes_sent", "probe_share")

_ACCOUNTS = """
WITH a AS (
    SELECT tenant, account AS entity, ts, ip, country, asn, outcome,
           CAST(ts AS DATE) AS day,
           hour(timezone('Europe/Paris', timezone('UTC', ts))) AS local_hour
    FROM auth
), firsts AS (
    SELECT tenant, entity, asn, min(day) AS first_day FROM a WHERE asn IS NOT NULL
    GROUP BY ALL
), starts AS (
    SELECT tenant, entity, min(day) AS since FROM a GROUP BY ALL
)
SELECT a.tenant, a.entity, a.day,
       count(*) AS attempts,
       count(*) FILTER (outcome = 'failure') AS failures,
       count(*) FILTER (outcome = 'failure') / count(*) AS failure_ratio,
       count(DISTINCT ip) AS sources,
       count(DISTINCT country) AS countries,
       count(DISTINCT asn) AS networks,
       (SELECT count(*) FROM firsts f JOIN starts s USING (tenant, entity)
        WHERE f.tenant = a.tenant AND f.entity = a.entity AND f.first_day = a.day
          AND f.first_day > s.since) AS new_networks,
       count(*) FILTER (local_hour < 6) / count(*) AS night_share,
       min(ts) AS first_seen, max(ts) AS last_seen, list(DISTINCT ip) AS seen_sources
FROM a GROUP BY a.tenant, a.entity, a.day
ORDER BY a.tenant, a.entity, a.day
"""

_HOSTS = """
SELECT tenant, src AS entity, CAST(ts AS DATE) AS day,
       count(*) AS flows,
       count(DISTINCT dst) AS destinations,
       count(DISTINCT dport) AS ports,
       coalesce(sum(bytes), 0) AS bytes_sent,
       count(*) FILTER (packets <= 2 AND flags LIKE '%S%' AND flags NOT LIKE '%A%') / count(*)
           AS probe_share,
       min(ts) AS first_seen, max(ts) AS last_seen, [src] AS seen_sources
FROM flows GROUP BY ALL
ORDER BY tenant, entity, day
"""

#: features compared on a log scale (counts and volumes)
_LOG = {"attempts", "failures", "sources", "flows", "destinations", "ports", "bytes_sent"}


def _matrix(table: pa.Table, features: tuple[str, ...]) -> np.ndarray:
    columns = []
    for name in features:
        values = np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=float)
        values = np.nan_to_num(values)
        columns.append(np.log1p(values) if name in _LOG else values)
    return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))


#: the smallest scale a feature's spread is given, so that on a column that never
#: moves (most accounts never fail) one more failure is not an infinite deviation:
#: half a unit on the log scale, one for small counts, a tenth for shares
_FLOOR = {"failure_ratio": 0.1, "night_share": 0.1, "probe_share": 0.1}


def _floors(features: tuple[str, ...]) -> np.ndarray:
    return np.array([0.5 if f in _LOG else _FLOOR.get(f, 1.0) for f in features])


def _robust(values: np.ndarray, floors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD-based scale per column, the scale floored."""
    median = np.median(values, axis=0)
    scale = 1.4826 * np.median(np.abs(values - median), axis=0)
    return median, np.maximum(scale, floors)


def _feedback_matrix(
    references: Mapping[str, pa.Table], kind: str, tenant: str, features: tuple[str, ...]
) -> np.ndarray:
    table = references.get(FEEDBACK_TABLE)
    if table is None or table.num_rows == 0 or not set(features) <= set(table.column_names):
        return np.empty((0, len(features)))
    rows = table.filter(pc.and_(pc.equal(table["kind"], kind), pc.equal(table["tenant"], tenant)))
    return _matrix(rows, features)


def _explained(findings: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every entity, pseudonym and source the run's rule findings already name."""
    named: set[str] = set()
    for f in findings:
        named.add(str(f["entity"]["value"]))
        named.update(str(v) for v in f["pseudonyms"])
        named.update(finding_sources(f))
    return named


def anomalies(
    con: duckdb.DuckDBPyConnection,
    p: Mapping[str, Any],
    *,
    references: Mapping[str, pa.Table],
    findings: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Entity-days an Isolation Forest per tenant finds out of the ordinary, explained,
    less those a rule finding of the run already names (one alert, not two)."""
    from sklearn.ensemble import IsolationForest

    explained = _explained(findings)
    results = []
    for kind, sql, features, field in (
        ("account", _ACCOUNTS, ACCOUNT_FEATURES, "user.name"),
        ("host", _HOSTS, HOST_FEATURES, "source.ip"),
    ):
        everything = con.sql(sql).to_arrow_table()
        for tenant in sorted(set(everything["tenant"].to_pylist())):
            rows = everything.filter(pc.equal(everything["tenant"], tenant))
            if rows.num_rows < _MIN_ROWS:
                continue
            x = _matrix(rows, features)
            center, scale = _robust(x, _floors(features))
            scaled = (x - center) / scale
            model = IsolationForest(n_estimators=200, random_state=0).fit(scaled)
            scores = -model.score_samples(scaled)
            benign = (_feedback_matrix(references, kind, tenant, features) - center) / scale
            if len(benign):
                distance = np.min(
                    np.linalg.norm(scaled[:, None, :] - benign[None, :, :], axis=2), axis=1
                )
                scores = np.where(distance <= float(p["feedback_radius"]), scores / 2, scores)
            cutoff = np.quantile(scores, 1 - float(p["max_share"]))
            entities = rows["entity"].to_pylist()
            seen = rows["seen_sources"].to_pylist()
            for i in np.flatnonzero((scores >= float(p["min_score"])) & (scores >= cutoff)):
                if entities[i] in explained or explained.intersection(seen[i] or ()):
                    continue
                explanation = _explain(x, int(i), entities, features)
                if not explanation or abs(explanation[0]["deviation"]) < float(p["min_deviation"]):
                    continue
                results.append(
                    _finding(
                        rows,
                        int(i),
                        kind,
                        field,
                        tenant,
                        float(scores[i]),
                        explanation,
                        features,
                        x,
                    )
                )
    return results


def _explain(
    x: np.ndarray, i: int, entities: list[Any], features: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The features of row ``i`` furthest from the entity's own other days (or the tenant's)."""
    others = [j for j, e in enumerate(entities) if e == entities[i] and j != i]
    own = len(others) >= _MIN_HISTORY
    history = x[others] if own else np.delete(x, i, axis=0)
    center, scale = _robust(history, _floors(features))
    deviation = (x[i] - center) / scale
    order = np.argsort(-np.abs(deviation))[:3]
    return [
        {
            "feature": features[k],
            "deviation": round(float(deviation[k]), 1),
            "baseline": "entity" if own else "tenant",
            "value": round(float(np.expm1(x[i, k]) if features[k] in _LOG else x[i, k]), 3),
            "usual": round(float(np.expm1(center[k]) if features[k] in _LOG else center[k]), 3),
        }
        for k in order
    ]


def _finding(
    rows: pa.Table,
    i: int,
    kind: str,
    field: str,
    tenant: str,
    score: float,
    explanation: list[dict[str, Any]],
    features: tuple[str, ...],
    x: np.ndarray,
) -> dict[str, Any]:
    entity = str(rows["entity"][i].as_py())
    first: datetime = rows["first_seen"][i].as_py()
    last: datetime = rows["last_seen"][i].as_py()
    top = explanation[0]
    sources = sorted(str(s) for s in (rows["seen_sources"][i].as_py() or []))[:20]
    return finding(
        detector=DETECTOR,
        title=f"Unusual day for this {kind}: {top['feature']} {top['value']} "
        f"(usually {top['usual']})",
        severity="medium" if score >= 0.7 else "low",
        technique="",
        tenants=[tenant],
        entity_field=field,
        entity=entity,
        first_seen=first,
        last_seen=last,
        evidence={
            "kind": kind,
            "score": round(score, 3),
            "day": str(rows["day"][i].as_py()),
            "explanation": explanation,
            # what an analyst sends back as feedback when the day was benign
            "features": {
                name: round(float(np.expm1(x[i, k]) if name in _LOG else x[i, k]), 4)
                for k, name in enumerate(features)
            },
            "sources": sources if kind == "account" else [],
        },
        pseudonyms=sources,
    )
