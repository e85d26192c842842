"""The job the runtime runs: pooled events in, findings out.

Loaded by name inside the runtime process (``confiance.detect.jobs``), so the
runtime package never imports detection code statically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from confiance.detect.registry import detector
from confiance.events import EVENT_SCHEMA


def _connect(events: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    if events.num_rows == 0:
        events = EVENT_SCHEMA.empty_table()
    con.register("events", events)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        """
        CREATE TEMP VIEW auth AS
        SELECT timezone('UTC', "@timestamp") AS ts, tenant, "user.name" AS account,
               "source.ip" AS ip,
               "event.outcome" AS outcome, "source.geo.location.lat" AS lat,
               "source.geo.location.lon" AS lon, "source.as.number" AS asn,
               "source.geo.country_iso_code" AS country
        FROM events
        WHERE "event.category" = 'authentication' AND "user.name" IS NOT NULL
          AND "source.ip" IS NOT NULL
        """
    )
    con.execute(
        """
        CREATE TEMP VIEW flows AS
        SELECT timezone('UTC', "@timestamp") AS ts, tenant, "source.ip" AS src,
               "destination.ip" AS dst,
               "destination.port" AS dport, "network.packets" AS packets,
               coalesce("event.action", '') AS flags
        FROM events WHERE "ocsf.class_uid" = 4001 AND "source.ip" IS NOT NULL
        """
    )
    # Views expose naive UTC timestamps (DuckDB would need pytz for aware ones).
    return con


def run(
    events: pa.Table,
    *,
    analyses: Sequence[str],
    parameters: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Run each named detector with its parameters; findings in a stable order."""
    con = _connect(events)
    findings: list[dict[str, Any]] = []
    try:
        for name in analyses:
            found = detector(name)
            params = dict(found.defaults) | dict(parameters.get(name, {}))
            findings.extend(found.function(con, params))
    finally:
        con.close()
    return sorted(findings, key=lambda f: (f["first_seen"], f["detector"], f["id"]))
