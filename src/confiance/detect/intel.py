"""Threat intelligence: indicators from MISP or STIX 2.1 feeds, matched inside the runtime.

A member imports a feed it subscribes to (a CERT's MISP export, a STIX bundle
from its ISAC). Addresses in the feed are pseudonymised exactly as the logs
are (prefix-preserving Crypto-PAn under the consortium key), so they match the
pooled events without anyone seeing the other's addresses in clear; domain
names are not pseudonymised in the pool (except address literals), so they
match as they are. The feed travels as a reference dataset of its member,
named in the contract like any dataset.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from confiance.detect.finding import finding
from confiance.errors import ConfigError

REFERENCE = "threat-intel"
#: MISP attribute types we match, and what they are
_MISP_TYPES = {
    "ip-dst": "ip",
    "ip-src": "ip",
    "ip-dst|port": "ip",
    "ip-src|port": "ip",
    "domain": "domain",
    "hostname": "domain",
    "domain|ip": "domain",
    "url": "url",
}
#: STIX 2.1 pattern object paths we match
_STIX_PATHS = {
    ("ipv4-addr", "value"): "ip",
    ("ipv6-addr", "value"): "ip",
    ("domain-name", "value"): "domain",
    ("url", "value"): "url",
}


@dataclass(frozen=True)
class Indicator:
    kind: str  # "ip" or "domain"
    value: str
    label: str


def _normalised(kind: str, value: str) -> Indicator | None:
    value = value.strip()
    if kind == "url":
        from urllib.parse import urlsplit

        host = urlsplit(value if "://" in value else f"http://{value}").hostname or ""
        kind, value = "domain", host
    if kind == "ip":
        try:  # a single address, or a network of one (STIX writes 198.51.100.1/32)
            network = ipaddress.ip_network(value.split("|")[0], strict=True)
        except ValueError:
            return None
        if network.num_addresses != 1:
            return None  # wider networks are not matched yet (see the user guide)
        return Indicator("ip", str(network.network_address), "")
    value = value.split("|")[0].lower().rstrip(".")
    try:  # an address literal in a domain field is an address
        return Indicator("ip", str(ipaddress.ip_address(value)), "")
    except ValueError:
        pass
    return Indicator("domain", value, "") if value and " " not in value else None


def _misp(document: Any, where: str) -> Iterator[tuple[str, str, str]]:
    events = document
    if isinstance(document, Mapping) and "response" in document:
        events = document["response"]
    if isinstance(events, Mapping):
        events = [events]
    if not isinstance(events, list):
        raise ConfigError(f"{where}: not a MISP export (an Event, a list of them, or a response)")
    for item in events:
        event = item.get("Event", item) if isinstance(item, Mapping) else None
        if not isinstance(event, Mapping):
            raise ConfigError(f"{where}: not a MISP event: {str(item)[:60]}")
        label = str(event.get("info", ""))
        attributes = list(event.get("Attribute", []))
        for obj in event.get("Object", []) or []:
            attributes += list(obj.get("Attribute", []) or [])
        for attribute in attributes:
            kind = _MISP_TYPES.get(str(attribute.get("type", "")))
            if kind and attribute.get("to_ids", True) not in (False, "0", 0):
                yield kind, str(attribute.get("value", "")), label


def _stix(document: Mapping[str, Any], where: str) -> Iterator[tuple[str, str, str]]:
    from stix2patterns.v21.pattern import Pattern

    for obj in document.get("objects", []):
        if obj.get("type") != "indicator" or obj.get("pattern_type", "stix") != "stix":
            continue
        try:
            comparisons = Pattern(obj["pattern"]).inspect().comparisons
        except Exception as exc:  # the library raises its own parse errors
            raise ConfigError(f"{where}: indicator {obj.get('id')}: bad pattern ({exc})") from None
        label = str(obj.get("name") or obj.get("description") or "")
        for object_type, tests in comparisons.items():
            for path, operator, value in tests:
                kind = _STIX_PATHS.get((object_type, path[0] if path else ""))
                if kind and operator == "=":
                    yield kind, str(value).strip("'"), label


def load_feed(path: Path) -> list[Indicator]:
    """Indicators of a MISP JSON export or a STIX 2.1 bundle, normalised, deduplicated."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON ({exc})") from None
    is_stix = isinstance(document, Mapping) and document.get("type") == "bundle"
    raw = _stix(document, str(path)) if is_stix else _misp(document, str(path))
    found: dict[tuple[str, str], Indicator] = {}
    for kind, value, label in raw:
        indicator = _normalised(kind, value)
        if indicator is not None:
            found.setdefault(
                (indicator.kind, indicator.value), Indicator(indicator.kind, indicator.value, label)
            )
    if not found:
        raise ConfigError(f"{path}: no address or domain indicator in the feed")
    return sorted(found.values(), key=lambda i: (i.kind, i.value))


def reference_table(
    indicators: list[Indicator], *, feed: str, pseudonymise_ip: Callable[[str], str], created: str
) -> pa.Table:
    """The feed as it travels: addresses pseudonymised like the logs, domains as they are."""
    table = pa.table(
        {
            "kind": [i.kind for i in indicators],
            "value": [pseudonymise_ip(i.value) if i.kind == "ip" else i.value for i in indicators],
            "label": [i.label for i in indicators],
            "feed": [feed] * len(indicators),
        }
    )
    return table.replace_schema_metadata(
        {b"confiance.reference": REFERENCE.encode(), b"created": created.encode()}
    )


def threat_intel(
    con: duckdb.DuckDBPyConnection, p: Mapping[str, Any], *, references: Mapping[str, pa.Table]
) -> list[dict[str, Any]]:
    """ATT&CK T1071 / T1595: a host talking to a listed address or domain, or a listed
    address reaching our services. One finding per indicator and local host."""
    feed = references.get(REFERENCE)
    if feed is None or feed.num_rows == 0:
        return []
    con.register("intel", feed)
    try:
        rows = con.execute(
            """
            WITH ip AS (SELECT value, any_value(label) AS label FROM intel WHERE kind = 'ip'
                        GROUP BY value),
                 dom AS (SELECT value, any_value(label) AS label FROM intel WHERE kind = 'domain'
                         GROUP BY value),
                 -- the names visited or resolved that are a listed domain or under one,
                 -- matched once per distinct name
                 listed AS (SELECT n.name, dom.value, dom.label
                            FROM (SELECT DISTINCT lower(domain) AS name FROM web) n
                            JOIN dom ON n.name = dom.value OR ends_with(n.name, '.' || dom.value)),
            hits AS (
                SELECT 'outbound' AS direction, f.src AS host, f.dst AS indicator, ip.label,
                       f.tenant, f.ts FROM flows f JOIN ip ON f.dst = ip.value
                UNION ALL
                SELECT 'inbound', f.src, f.src, ip.label, f.tenant, f.ts
                FROM flows f JOIN ip ON f.src = ip.value
                UNION ALL
                SELECT 'inbound', a.ip, a.ip, ip.label, a.tenant, a.ts
                FROM auth a JOIN ip ON a.ip = ip.value
                UNION ALL
                SELECT 'inbound', w.ip, w.ip, ip.label, w.tenant, w.ts
                FROM access w JOIN ip ON w.ip = ip.value
                UNION ALL
                SELECT 'lookup', w.ip, l.value, l.label, w.tenant, w.ts
                FROM web w JOIN listed l ON lower(w.domain) = l.name
            )
            SELECT direction, host, indicator, any_value(label), list(DISTINCT tenant), count(*),
                   min(ts), max(ts)
            FROM hits WHERE host IS NOT NULL
            GROUP BY direction, host, indicator ORDER BY min(ts), host
            """
        ).fetchall()
    finally:
        con.unregister("intel")
    findings = []
    for direction, host, indicator, label, tenants, count, first, last in rows:
        what = {
            "outbound": f"contacted a listed address ({label})"
            if label
            else "contacted a listed address",
            "inbound": "a listed address reached our services",
            "lookup": f"visited or resolved a listed domain {indicator}",
        }[direction]
        findings.append(
            finding(
                detector="threat_intel",
                title=f"Threat intelligence: {what}",
                severity=str(p["severity"]),
                technique="T1595" if direction == "inbound" else "T1071",
                tenants=tenants,
                entity_field="source.ip",
                entity=host,
                first_seen=first,
                last_seen=last,
                evidence={
                    "direction": direction,
                    "indicator": indicator,
                    "label": label,
                    "events": count,
                },
                pseudonyms=[indicator] if direction != "lookup" else [],
            )
        )
    return findings
