"""Normalised events as OCSF 1.1.0 event objects, for export to a SIEM or data
lake that speaks OCSF.

Every row keeps its class (``ocsf.class_uid``); the category, activity and
``type_uid`` (class × 100 + activity) follow the OCSF definitions of the five
classes we ingest. Fields OCSF has no place for go under ``unmapped`` with
their ECS names, so nothing is silently dropped. Identifiers stay what they
are in the table (pseudonyms once ingested): the export marks it in
``metadata.labels``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from confiance.events.schema import OcsfClass

OCSF_VERSION = "1.1.0"

_CATEGORY = {
    OcsfClass.AUTHENTICATION: 3,  # Identity & Access Management
    OcsfClass.NETWORK_ACTIVITY: 4,
    OcsfClass.HTTP_ACTIVITY: 4,
    OcsfClass.DNS_ACTIVITY: 4,
    OcsfClass.EMAIL_ACTIVITY: 4,
}
_CLASS_NAME = {
    OcsfClass.AUTHENTICATION: "Authentication",
    OcsfClass.NETWORK_ACTIVITY: "Network Activity",
    OcsfClass.HTTP_ACTIVITY: "HTTP Activity",
    OcsfClass.DNS_ACTIVITY: "DNS Activity",
    OcsfClass.EMAIL_ACTIVITY: "Email Activity",
}
#: HTTP Activity's activity_id is the request method
_HTTP_METHODS = {
    "CONNECT": 1,
    "DELETE": 2,
    "GET": 3,
    "HEAD": 4,
    "OPTIONS": 5,
    "POST": 6,
    "PUT": 7,
    "TRACE": 8,
}
_STATUS = {"success": (1, "Success"), "failure": (2, "Failure")}
#: the ECS columns each OCSF attribute is made of (the rest goes to ``unmapped``)
_MAPPED = {
    "@timestamp",
    "tenant",
    "event.dataset",
    "event.category",
    "event.action",
    "event.outcome",
    "ocsf.class_uid",
    "service.name",
    "user.name",
    "source.ip",
    "source.port",
    "source.geo.country_iso_code",
    "source.as.number",
    "source.as.organization.name",
    "destination.ip",
    "destination.port",
    "network.transport",
    "network.packets",
    "source.bytes",
    "destination.bytes",
    "event.duration",
    "http.request.method",
    "http.response.status_code",
    "url.domain",
    "url.path",
    "dns.question.name",
    "dns.question.type",
    "dns.response_code",
    "user_agent.original",
    "email.from.address",
    "email.to.address",
}


def _activity(ocsf: OcsfClass, row: Mapping[str, Any]) -> tuple[int, str]:
    action = row.get("event.action") or ""
    if ocsf is OcsfClass.HTTP_ACTIVITY:
        method = str(row.get("http.request.method") or "").upper()
        return (_HTTP_METHODS[method], method.title()) if method in _HTTP_METHODS else (99, method)
    if ocsf is OcsfClass.DNS_ACTIVITY:
        reply = action == "dns-reply" or row.get("dns.response_code") is not None
        return (2, "Response") if reply else (1, "Query")
    if ocsf is OcsfClass.AUTHENTICATION:
        logoff = "logout" in action.lower() or "logoff" in action.lower()
        return (2, "Logoff") if logoff else (1, "Logon")
    if ocsf is OcsfClass.EMAIL_ACTIVITY:
        return (2, "Receive")
    return (6, "Traffic")


def _endpoint(row: Mapping[str, Any], side: str) -> dict[str, Any] | None:
    endpoint: dict[str, Any] = {}
    if row.get(f"{side}.ip") is not None:
        endpoint["ip"] = row[f"{side}.ip"]
    if row.get(f"{side}.port") is not None:
        endpoint["port"] = row[f"{side}.port"]
    if side == "source":
        if row.get("source.geo.country_iso_code"):
            endpoint["location"] = {"country": row["source.geo.country_iso_code"]}
        if row.get("source.as.number") is not None:
            endpoint["autonomous_system"] = {
                "number": row["source.as.number"],
                "name": row.get("source.as.organization.name"),
            }
    if side == "destination" and row.get("url.domain"):
        endpoint["hostname"] = row["url.domain"]
    return endpoint or None


def to_ocsf(row: Mapping[str, Any]) -> dict[str, Any]:
    """One normalised event (a row as a dict) as an OCSF event object."""
    ocsf = OcsfClass(int(row["ocsf.class_uid"]))
    activity_id, activity_name = _activity(ocsf, row)
    when: datetime = row["@timestamp"]
    status_id, status = _STATUS.get(str(row.get("event.outcome")), (0, "Unknown"))
    event: dict[str, Any] = {
        "class_uid": int(ocsf),
        "class_name": _CLASS_NAME[ocsf],
        "category_uid": _CATEGORY[ocsf],
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": int(ocsf) * 100 + activity_id,
        "time": int(when.timestamp() * 1000),
        "severity_id": 1,  # Informational: an event, not a finding
        "status_id": status_id,
        "status": status,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "confiance", "vendor_name": "confiance"},
            "log_name": row["event.dataset"],
            "tenant_uid": row["tenant"],
            "labels": ["pseudonymised"],
        },
    }
    if row.get("event.action"):
        event["raw_data_action"] = row["event.action"]
    for side, key in (("source", "src_endpoint"), ("destination", "dst_endpoint")):
        endpoint = _endpoint(row, side)
        if endpoint:
            event[key] = endpoint
    if row.get("user.name"):
        event["user"] = {"name": row["user.name"]}
    if row.get("service.name"):
        event["service"] = {"name": row["service.name"]}
    if row.get("event.duration") is not None:
        event["duration"] = int(row["event.duration"]) // 1_000_000  # ns → ms
    traffic = {
        key: row[column]
        for key, column in (
            ("packets", "network.packets"),
            ("bytes_out", "source.bytes"),
            ("bytes_in", "destination.bytes"),
        )
        if row.get(column) is not None
    }
    if traffic:
        event["traffic"] = traffic
    if row.get("network.transport"):
        event["connection_info"] = {"protocol_name": row["network.transport"]}
    if ocsf is OcsfClass.HTTP_ACTIVITY:
        parts = (("hostname", "url.domain"), ("path", "url.path"))
        url = {key: row[column] for key, column in parts if row.get(column)}
        request: dict[str, Any] = {"http_method": row.get("http.request.method"), "url": url}
        if row.get("user_agent.original"):
            request["user_agent"] = row["user_agent.original"]
        event["http_request"] = request
        if row.get("http.response.status_code") is not None:
            event["http_response"] = {"code": row["http.response.status_code"]}
    elif row.get("user_agent.original"):
        event["http_request"] = {"user_agent": row["user_agent.original"]}
    if ocsf is OcsfClass.DNS_ACTIVITY:
        event["query"] = {
            "hostname": row.get("dns.question.name"),
            "type": row.get("dns.question.type"),
        }
        if row.get("dns.response_code"):
            event["rcode"] = row["dns.response_code"]
    if ocsf is OcsfClass.EMAIL_ACTIVITY:
        email: dict[str, Any] = {}
        if row.get("email.from.address"):
            email["from"] = row["email.from.address"]
        if row.get("email.to.address"):
            email["to"] = [row["email.to.address"]]
        event["email"] = email
    unmapped = {
        k: v.isoformat() if isinstance(v, datetime) else v
        for k, v in row.items()
        if k not in _MAPPED and v is not None
    }
    if unmapped:
        event["unmapped"] = unmapped
    return event


def iter_ocsf(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The events of a normalised table as OCSF objects, batch by batch."""
    for batch in table.to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            yield to_ocsf(row)
