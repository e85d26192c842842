"""Arrow schema of a normalised event, and the per-field privacy policy."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from confiance.errors import SchemaError


class OcsfClass(enum.IntEnum):
    """OCSF 1.x event classes used for routing and export."""

    AUTHENTICATION = 3002
    NETWORK_ACTIVITY = 4001
    HTTP_ACTIVITY = 4002
    DNS_ACTIVITY = 4003
    EMAIL_ACTIVITY = 4009


class FieldTreatment(enum.Enum):
    """What ingestion does to a field before the event leaves its owner."""

    KEEP = "keep"
    PSEUDONYMISE_ACCOUNT = "pseudonymise-account"
    PSEUDONYMISE_IP = "pseudonymise-ip"
    PSEUDONYMISE_IF_IP = "pseudonymise-if-ip-literal"
    PSEUDONYMISE_MAC = "pseudonymise-mac"
    PSEUDONYMISE_EMAIL = "pseudonymise-email"
    GENERALISED = "generalised"
    #: kept, but only analyses of a protection-of-minors contract ever see it
    RESTRICTED = "restricted-to-protection-of-minors"


_TS = pa.timestamp("us", tz="UTC")

#: Every normalised event table has exactly these columns, in this order.
EVENT_SCHEMA = pa.schema(
    [
        pa.field("@timestamp", _TS, nullable=False),
        pa.field("tenant", pa.string(), nullable=False),
        pa.field("event.dataset", pa.string(), nullable=False),
        pa.field("event.category", pa.string()),
        pa.field("event.action", pa.string()),
        pa.field("event.outcome", pa.string()),
        pa.field("ocsf.class_uid", pa.int32(), nullable=False),
        pa.field("service.name", pa.string()),
        pa.field("user.name", pa.string()),
        pa.field("source.ip", pa.string()),
        pa.field("source.port", pa.int32()),
        pa.field("source.mac", pa.string()),
        pa.field("source.geo.country_iso_code", pa.string()),
        pa.field("source.geo.location.lat", pa.float64()),
        pa.field("source.geo.location.lon", pa.float64()),
        pa.field("source.as.number", pa.int64()),
        pa.field("source.as.organization.name", pa.string()),
        pa.field("destination.ip", pa.string()),
        pa.field("destination.port", pa.int32()),
        pa.field("network.transport", pa.string()),
        pa.field("network.packets", pa.int64()),
        pa.field("source.bytes", pa.int64()),
        pa.field("destination.bytes", pa.int64()),
        pa.field("event.duration", pa.int64()),
        pa.field("http.request.method", pa.string()),
        pa.field("http.response.status_code", pa.int32()),
        pa.field("url.domain", pa.string()),
        pa.field("url.path", pa.string()),
        pa.field("url.search_terms", pa.string()),
        pa.field("dns.question.name", pa.string()),
        pa.field("dns.question.type", pa.string()),
        pa.field("user_agent.original", pa.string()),
        pa.field("email.from.address", pa.string()),
        pa.field("email.to.address", pa.string()),
        # the domain of the sender's address (DMARC's RFC5322.From), kept in
        # clear: look-alikes of a member's domain are found on it
        pa.field("email.from.domain", pa.string()),
        pa.field("email.attachments.file.extension", pa.string()),
        # SPF and DKIM results as DMARC evaluated them (aligned), OCSF email_auth
        pa.field("email.auth.spf", pa.string()),
        pa.field("email.auth.dkim", pa.string()),
        # how many occurrences the row stands for (OCSF ``count``); null means one
        pa.field("event.count", pa.int64()),
        # the DNS answer code (NOERROR, NXDOMAIN, SERVFAIL …) where the log has it
        pa.field("dns.response_code", pa.string()),
        # the firewall rule that logged the packet (its log prefix)
        pa.field("rule.name", pa.string()),
    ]
)

#: Privacy treatment per field; anything absent here is kept as is (see
#: docs/schema.md). Query strings are never carried (only ``url.path``),
#: because they often hold identifiers. Geolocation is generalised to the
#: country and the autonomous system before the source address is
#: pseudonymised: the coordinates are the country's centroid, never a city.
FIELD_POLICY: Mapping[str, FieldTreatment] = {
    "user.name": FieldTreatment.PSEUDONYMISE_ACCOUNT,
    "source.ip": FieldTreatment.PSEUDONYMISE_IP,
    "destination.ip": FieldTreatment.PSEUDONYMISE_IP,
    "url.domain": FieldTreatment.PSEUDONYMISE_IF_IP,
    "url.search_terms": FieldTreatment.RESTRICTED,
    "source.mac": FieldTreatment.PSEUDONYMISE_MAC,
    "email.from.address": FieldTreatment.PSEUDONYMISE_EMAIL,
    "email.to.address": FieldTreatment.PSEUDONYMISE_EMAIL,
    "source.geo.country_iso_code": FieldTreatment.GENERALISED,
    "source.geo.location.lat": FieldTreatment.GENERALISED,
    "source.geo.location.lon": FieldTreatment.GENERALISED,
    "source.as.number": FieldTreatment.GENERALISED,
    "source.as.organization.name": FieldTreatment.GENERALISED,
}


#: Columns whose values come from a small vocabulary (a tenant, a dataset, an
#: outcome, a method, a user agent …): read from Parquet as dictionaries, each
#: value held once per chunk instead of once per event (a quarter less memory
#: for a pool of events; DuckDB and Arrow compute read them as they are).
DICTIONARY_COLUMNS = (
    "tenant",
    "event.dataset",
    "event.category",
    "event.action",
    "event.outcome",
    "service.name",
    "source.geo.country_iso_code",
    "source.as.organization.name",
    "network.transport",
    "http.request.method",
    "dns.question.type",
    "user_agent.original",
    "email.attachments.file.extension",
    "email.auth.spf",
    "email.auth.dkim",
    "dns.response_code",
    "rule.name",
)


def read_events(data: bytes | pa.Buffer) -> pa.Table:
    """A Parquet file of events (or any table), its vocabulary columns as dictionaries
    (a column the file lacks is passed over)."""
    return pq.read_table(pa.BufferReader(data), read_dictionary=list(DICTIONARY_COLUMNS))


def return_freed_memory() -> None:
    """Have Arrow allocate with the C library's ``malloc`` in this process from now on.

    Its large buffers are then mapped and given back to the system when freed,
    where Arrow's default allocator (mimalloc) keeps what decoding the datasets
    freed: measured on 10M events (``bench/detect.py``), 0.6 GB less resident
    once read and a peak 0.6 GB lower, at the same speed. For processes that
    hold a pool of events (the runtime's worker).
    """
    pa.set_memory_pool(pa.system_memory_pool())


def empty_table() -> pa.Table:
    """A table with the event schema and no rows."""
    return EVENT_SCHEMA.empty_table()


def conform(table: pa.Table) -> pa.Table:
    """Return ``table`` with exactly the schema's columns, types and order.

    Missing optional columns are filled with nulls; unknown columns are an
    error (a parser that emits a field the schema lacks is a bug, not data
    to drop silently).
    """
    unknown = sorted(set(table.column_names) - set(EVENT_SCHEMA.names))
    if unknown:
        raise SchemaError(f"columns not in the event schema: {', '.join(unknown)}")
    columns = []
    for field in EVENT_SCHEMA:
        if field.name in table.column_names:
            column = table.column(field.name)
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(f"field {field.name}: cannot cast to {field.type}") from exc
            if not field.nullable and column.null_count:
                raise SchemaError(f"field {field.name}: {column.null_count} null value(s)")
        elif field.nullable:
            column = pa.nulls(table.num_rows, field.type)
        else:
            raise SchemaError(f"field {field.name}: required column missing")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)
