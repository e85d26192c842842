"""The job the runtime runs: pooled events in, findings out.

Loaded by name inside the runtime process (``confiance.detect.jobs``), so the
runtime package never imports detection code statically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from confiance.contracts import Contract, ContractClass
from confiance.detect import engine
from confiance.detect.registry import (
    ALLOW,
    PER_TENANT,
    SUPPRESS,
    class_requirements,
    detector,
    parameters_for,
    suppressions,
)
from confiance.events import EVENT_SCHEMA, FIELD_POLICY, FieldTreatment


def _table(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Create a table of the pool and compress it at once (a checkpoint): about an
    eighth of its raw size, and one table at a time held uncompressed."""
    con.execute(sql)
    con.execute(f"CHECKPOINT {engine.POOL}")


def _connect(events: pa.Table) -> duckdb.DuckDBPyConnection:
    con = engine.connect(pooled=True)
    if events.num_rows == 0:
        events = EVENT_SCHEMA.empty_table()
    # the events' times as naive UTC (the same 64-bit values, no copy): the tables keep
    # them so, and DuckDB converts no time zone per row
    index = events.schema.get_field_index("@timestamp")
    naive = events["@timestamp"].cast(pa.timestamp("us"))
    con.register("events", events.set_column(index, "@timestamp", naive))
    con.execute("SET TimeZone = 'UTC'")
    _table(
        con,
        """
        CREATE TABLE auth AS
        SELECT "@timestamp" AS ts, tenant, "user.name" AS account,
               "source.ip" AS ip,
               "event.outcome" AS outcome, "source.geo.location.lat" AS lat,
               "source.geo.location.lon" AS lon, "source.as.number" AS asn,
               "source.geo.country_iso_code" AS country
        FROM events
        WHERE "event.category" = 'authentication' AND "user.name" IS NOT NULL
          AND "source.ip" IS NOT NULL
        """,
    )
    _table(
        con,
        """
        CREATE TABLE flows AS
        SELECT "@timestamp" AS ts, tenant, "source.ip" AS src,
               "destination.ip" AS dst,
               "destination.port" AS dport, "network.packets" AS packets,
               coalesce("event.action", '') AS flags, lower("network.transport") AS proto,
               "source.bytes" AS bytes
        FROM events WHERE "ocsf.class_uid" = 4001 AND "source.ip" IS NOT NULL
        """,
    )
    # read by threat intelligence alone, once per distinct name: a view, not a table
    con.execute(
        """
        CREATE VIEW web AS
        SELECT "@timestamp" AS ts, tenant, "user.name" AS account,
               "source.ip" AS ip, "url.domain" AS domain, "url.path" AS path,
               "url.search_terms" AS terms
        FROM events WHERE "url.domain" IS NOT NULL
        UNION ALL
        SELECT "@timestamp", tenant, "user.name", "source.ip",
               "dns.question.name", '/', NULL
        FROM events WHERE "dns.question.name" IS NOT NULL
        """
    )
    _table(
        con,
        """
        CREATE TABLE access AS
        SELECT "@timestamp" AS ts, tenant, "source.ip" AS ip,
               "http.request.method" AS method, "url.path" AS path,
               "http.response.status_code" AS status, "user_agent.original" AS agent
        FROM events
        WHERE "ocsf.class_uid" = 4002 AND "event.dataset" <> 'squid' AND "source.ip" IS NOT NULL
        """,
    )
    _table(
        con,
        """
        CREATE TABLE dns AS
        SELECT "@timestamp" AS ts, tenant, "source.ip" AS ip,
               lower("dns.question.name") AS qname, "dns.question.type" AS qtype
        FROM events WHERE "dns.question.name" IS NOT NULL AND "source.ip" IS NOT NULL
        """,
    )
    _table(
        con,
        """
        CREATE TABLE mail AS
        SELECT "@timestamp" AS ts, tenant, "event.dataset" AS dataset,
               "source.ip" AS ip, "event.action" AS action, "event.outcome" AS outcome,
               lower("email.from.domain") AS sender_domain, "email.to.address" AS recipient,
               lower("email.attachments.file.extension") AS extension,
               "email.auth.spf" AS spf, "email.auth.dkim" AS dkim,
               coalesce("event.count", 1) AS messages
        FROM events WHERE "ocsf.class_uid" = 4009
        """,
    )
    # The tables hold naive UTC timestamps (DuckDB would need pytz for aware ones), as
    # does the events view.
    return con


def admit(contract: Contract) -> None:
    """Refuse, before any key is released, analyses the contract's class does not allow
    and parameters no analysis takes."""
    required, reviewed = class_requirements()
    contract.check_class(required, reviewed=reviewed)
    for analysis in contract.analyses:
        parameters_for(analysis.detector, analysis.parameters)


def _restricted_fields_withheld(events: pa.Table, analyses: Sequence[str]) -> pa.Table:
    """Blank restricted columns unless an analysis of a contract class that allows them runs."""
    if any(detector(name).contract_class is not ContractClass.STANDARD for name in analyses):
        return events
    for name, treatment in FIELD_POLICY.items():
        if treatment is FieldTreatment.RESTRICTED and name in events.column_names:
            index = events.column_names.index(name)
            field = events.schema.field(index)
            events = events.set_column(index, field, pa.nulls(events.num_rows, field.type))
    return events


def run(
    events: pa.Table,
    *,
    analyses: Sequence[str],
    parameters: Mapping[str, Any],
    references: Mapping[str, pa.Table] | None = None,
) -> list[dict[str, Any]]:
    """Run each named detector with its parameters; findings in a stable order.

    ``references`` are the non-event tables of the run (an authority's list),
    by name; only detectors that declare they use them receive them.
    """
    checked = {name: parameters_for(name, parameters.get(name, {})) for name in analyses}
    events = _restricted_fields_withheld(events, analyses)
    con = _connect(events)
    # per tenant with thresholds of its own: its events and their connection, made once
    apart: dict[str, tuple[duckdb.DuckDBPyConnection, pa.Table]] = {}
    findings: list[dict[str, Any]] = []
    # analyses that correlate the others' findings run last
    ordered = sorted(analyses, key=lambda name: detector(name).uses_findings)
    try:
        for name in ordered:
            found, params = detector(name), checked[name]
            allow = set(params.pop(ALLOW, []))
            windows = suppressions(name, {SUPPRESS: params.pop(SUPPRESS, [])})
            per_tenant: Mapping[str, Mapping[str, Any]] = params.pop(PER_TENANT, {})
            extra: dict[str, Any] = {}
            if found.uses_references:
                extra["references"] = references or {}
            if found.uses_findings:
                extra["findings"] = list(findings)
            # the tenants with thresholds of their own are analysed apart, the rest together
            runs: list[tuple[duckdb.DuckDBPyConnection, pa.Table, Mapping[str, Any]]] = []
            rest: duckdb.DuckDBPyConnection | None = None
            if per_tenant:
                tenants = pa.array(sorted(per_tenant), pa.string())
                others = events.filter(pc.invert(pc.is_in(events["tenant"], tenants)))
                rest = _connect(others)
                runs.append((rest, others, params))
                for tenant, overrides in sorted(per_tenant.items()):
                    if tenant not in apart:
                        mine = events.filter(pc.equal(events["tenant"], tenant))
                        apart[tenant] = (_connect(mine), mine)
                    connection, mine = apart[tenant]
                    runs.append((connection, mine, {**params, **overrides}))
            else:
                runs.append((con, events, params))
            try:
                for connection, table, chosen in runs:
                    if found.uses_events:
                        extra["events"] = table
                    found_now = found.function(connection, dict(chosen), **extra)
                    findings.extend(
                        f
                        for f in found_now
                        if f["entity"]["value"] not in allow
                        and not any(w.covers(f) for w in windows)
                    )
            finally:
                if rest is not None:
                    rest.close()
    finally:
        con.close()
        for connection, _ in apart.values():
            connection.close()
    return sorted(findings, key=lambda f: (f["first_seen"], f["detector"], f["id"]))
