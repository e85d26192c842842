"""The authentication detections look at few events first: the accounts and sources
that could fire. These tests hold the shortcuts to what the detections promise."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from confiance.detect import authentication, jobs
from confiance.detect.finding import fetch_spans, listed
from confiance.events import EVENT_SCHEMA

T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
WINDOW, NEEDED = 10, 3

#: (minute, second, account, source, success): logins of two accounts from two sources
LOGINS = st.lists(
    st.tuples(
        st.integers(0, 40),
        st.sampled_from([0, 1, 59]),
        st.sampled_from(["anne", "paul"]),
        st.sampled_from(["192.0.2.1", "192.0.2.2"]),
        st.sampled_from([False, False, True]),  # mostly failures: runs that fire
    ),
    min_size=10,
    max_size=40,
)

#: two failures before a bucket's edge, one after, then the success: fires
ACROSS_AN_EDGE = [(m, 0, "anne", "192.0.2.1", m == 11) for m in (8, 9, 10, 11)]


def _expected(logins: list[tuple[int, int, str, str, bool]]) -> set[tuple[Any, ...]]:
    """failure_then_success as its documentation says: a success after at least NEEDED
    failures from its source on its account, since the source's last success there,
    within WINDOW minutes; one finding per account and source (its first such success,
    its earliest failure counted, its most failures)."""
    fired: dict[tuple[str, str], list[tuple[dt.datetime, dt.datetime, int]]] = {}
    groups: dict[tuple[str, str], list[tuple[dt.datetime, bool]]] = {}
    for minute, second, account, ip, ok in logins:
        at = T0 + dt.timedelta(minutes=minute, seconds=second)
        groups.setdefault((account, ip), []).append((at, ok))
    for key, events in groups.items():
        run: list[dt.datetime] = []
        for at, ok in sorted(events):  # a failure before a success at the same instant
            if not ok:
                run.append(at)
                continue
            counted = [t for t in run if t >= at - dt.timedelta(minutes=WINDOW)]
            if len(counted) >= NEEDED:
                fired.setdefault(key, []).append((min(counted), at, len(counted)))
            run = []
    return {
        (
            account,
            ip,
            min(f for f, _, _ in hits),
            min(s for _, s, _ in hits),
            max(n for *_, n in hits),
        )
        for (account, ip), hits in fired.items()
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LOGINS)
@example(ACROSS_AN_EDGE)
def test_failure_then_success_finds_what_its_definition_says(logins: list[Any]) -> None:
    """Only the pairs of successive window-wide buckets holding enough failures are read
    in full: failures straddling a bucket's edge, runs cut by a success in the bucket
    before, and failures at a success's instant must all count as the plain definition
    counts them."""
    rows = [
        {
            "@timestamp": T0 + dt.timedelta(minutes=minute, seconds=second),
            "tenant": "academie",
            "event.dataset": "keycloak-json",
            "ocsf.class_uid": 3002,
            "event.category": "authentication",
            "event.outcome": "success" if ok else "failure",
            "user.name": account,
            "source.ip": ip,
        }
        for minute, second, account, ip, ok in logins
    ]
    found = jobs.run(
        pa.Table.from_pylist(rows, schema=EVENT_SCHEMA),
        analyses=["failure_then_success"],
        parameters={"failure_then_success": {"window_minutes": WINDOW, "min_failures": NEEDED}},
    )
    assert {
        (
            f["entity"]["value"],
            f["evidence"]["source"],
            dt.datetime.fromisoformat(f["first_seen"]),
            dt.datetime.fromisoformat(f["last_seen"]),
            f["evidence"]["failures"],
        )
        for f in found
    } == _expected(logins)


POINTS = st.tuples(st.floats(-90, 90), st.floats(-180, 180))


@settings(max_examples=300, deadline=None)
@given(st.lists(POINTS, min_size=1, max_size=6), st.integers(1, 20_000))
def test_the_spread_bound_is_never_below_a_distance_it_bounds(
    places: list[tuple[float, float]], km: int
) -> None:
    """Impossible travel and concurrent sessions read only the accounts whose places
    span ``min_km`` by the bound R·Δφ + R·Δλ: an account it leaves out has no two
    places ``min_km`` apart by the haversine distance the detections use."""
    con = duckdb.connect()
    con.register(
        "p",
        pa.table(
            {
                "account": ["a"] * len(places),
                "lat": [lat for lat, _ in places],
                "lon": [lon for _, lon in places],
            }
        ),
    )
    kept = con.execute(authentication._SPREAD.format(rows="p"), {"min_km": km}).fetchall()
    farthest = con.execute(
        "SELECT max(" + authentication._KM + ") FROM p a, "
        "(SELECT lat AS plat, lon AS plon FROM p) b"
    ).fetchall()[0][0]
    if farthest >= km:
        assert kept == [("a",)]


def test_spans_read_in_one_query_read_as_one_query_each() -> None:
    """fetch_spans gives each span the row its own aggregate query gives: nulls kept
    in its lists, and a count of 0 and null lists for a span without rows."""
    con = duckdb.connect()
    start = dt.datetime(2026, 11, 2, 10)
    con.execute("CREATE TABLE t (ts TIMESTAMP, k VARCHAR, v VARCHAR)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?)",
        [(start + dt.timedelta(minutes=m), k, v) for m, k, v in
         [(0, "a", "x"), (5, "a", None), (7, "a", "x"), (50, "a", "y"), (3, "b", "z")]],
    )  # fmt: skip
    spans = [("a", start, start + dt.timedelta(minutes=10)), ("c", start, start)]
    spans.append(("b", start, start + dt.timedelta(hours=1)))
    alone = [
        con.execute(
            "SELECT list(DISTINCT v), count(ts), min(ts) FROM t WHERE k = $k AND ts >= $s "
            "AND ts < $e",
            {"k": k, "s": s, "e": e},
        ).fetchall()[0]
        for k, s, e in spans
    ]
    together = fetch_spans(
        con,
        f"SELECT sp.n, {listed('x.v')}, count(x.ts), min(x.ts) FROM spans sp "
        "LEFT JOIN t x ON x.k = sp.entity AND x.ts >= sp.s AND x.ts < sp.e GROUP BY sp.n",
        spans,
    )
    assert [(sorted(v, key=str) if v else v, n, m) for v, n, m in together] == [
        (sorted(v, key=str) if v else v, n, m) for v, n, m in alone
    ]
    assert together[1] == (None, 0, None)
