"""Alerts out to other tools: a JSON document, a STIX 2.1 bundle, CEF lines for syslog.

Every identifier in an alert is a pseudonym, and an address pseudonym (from
Crypto-PAn) is a well-formed address that may belong to someone else: each
export says so in a field a machine reads (``x_confiance_pseudonym`` on STIX
observables, ``cs5`` in CEF, ``identifiers`` in JSON), so that no one blocks
or reports the address of a stranger. The attestation (``SIMULATED`` when no
hardware protected the runtime) travels with every alert.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import confiance
from confiance.alerts.model import Alert

FORMATS = ("json", "stix", "cef")

#: UUIDv5 namespace for the STIX ids of our objects (stable across exports)
_NAMESPACE = uuid.UUID("6f1c3a52-7d0e-5b8c-9a41-3c2f0e8d5b17")
_PSEUDONYMS = (
    "identifiers are pseudonyms: addresses are prefix-preserving Crypto-PAn pseudonyms "
    "(well-formed addresses that may belong to someone else), accounts are OPRF pseudonyms; "
    "their owner alone can resolve them (confiance reveal)"
)
#: CEF severity (0-10) per alert severity
_CEF_SEVERITY = {"info": 1, "low": 3, "medium": 5, "high": 8, "critical": 10}


def _stable_id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(_NAMESPACE, '|'.join(parts))}"


def to_json(alerts: Sequence[Alert], *, recipient: str) -> str:
    document = {
        "exported_at": datetime.now(UTC).isoformat(),
        "producer": f"confiance {confiance.__version__}",
        "recipient": recipient,
        "identifiers": _PSEUDONYMS,
        "alerts": [a.model_dump(mode="json") for a in alerts],
    }
    return json.dumps(document, indent=1, ensure_ascii=False)


def _technique_reference(technique: str) -> dict[str, str]:
    path = technique.replace(".", "/")
    return {
        "source_name": "mitre-attack",
        "external_id": technique,
        "url": f"https://attack.mitre.org/techniques/{path}/",
    }


def to_stix(alerts: Sequence[Alert]) -> str:
    """One STIX 2.1 bundle: per alert, a sighting of its ATT&CK technique.

    The sighting is *where* (the tenants' identities), *when* (first and last
    seen) and *what was observed* (an observed-data object referencing the
    entity as an IP address or user account observable, marked as a
    pseudonym). Ids are UUIDv5 of the alert, so re-exporting gives the same ids.
    """
    import stix2

    producer = stix2.Identity(
        id=_stable_id("identity", "producer", "confiance"),
        name="confiance",
        identity_class="system",
        description="Sovereign pooling of security logs; alerts from its attested runtime",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        modified=datetime(2026, 1, 1, tzinfo=UTC),
    )
    objects: dict[str, Any] = {producer.id: producer}
    for alert in alerts:
        where = []
        for tenant in alert.tenants:
            tenant_id = _stable_id("identity", "tenant", tenant)
            objects.setdefault(
                tenant_id,
                stix2.Identity(
                    id=tenant_id,
                    name=tenant,
                    identity_class="organization",
                    created_by_ref=producer.id,
                    created=producer.created,
                    modified=producer.modified,
                ),
            )
            where.append(tenant_id)
        techniques = [alert.attack_technique] if alert.attack_technique else []
        techniques += [t for t in alert.evidence.get("techniques", []) if t not in techniques]
        if techniques:
            pattern_id = _stable_id("attack-pattern", *techniques)
            pattern = stix2.AttackPattern(
                id=pattern_id,
                name=techniques[0],
                external_references=[_technique_reference(t) for t in techniques],
                created_by_ref=producer.id,
                created=producer.created,
                modified=producer.modified,
            )
        else:
            pattern_id = _stable_id("attack-pattern", alert.detector, alert.title)
            pattern = stix2.AttackPattern(
                id=pattern_id,
                name=alert.title,
                created_by_ref=producer.id,
                created=producer.created,
                modified=producer.modified,
            )
        objects.setdefault(pattern_id, pattern)
        observable = _observable(stix2, alert)
        refs = []
        if observable is not None:
            objects.setdefault(observable.id, observable)
            refs.append(observable.id)
        seen = alert.first_seen.astimezone(UTC)
        last = max(alert.last_seen.astimezone(UTC), seen)
        count = int(alert.evidence.get("events", 0) or 0) or 1
        observed = None
        if refs:
            observed = stix2.ObservedData(
                id=_stable_id("observed-data", alert.id, alert.run),
                first_observed=seen,
                last_observed=last,
                number_observed=count,
                object_refs=refs,
                created_by_ref=producer.id,
                created=seen,
                modified=seen,
            )
            objects[observed.id] = observed
        sighting = stix2.Sighting(
            id=_stable_id("sighting", alert.id, alert.run),
            sighting_of_ref=pattern_id,
            where_sighted_refs=where or [producer.id],
            observed_data_refs=[observed.id] if observed is not None else None,
            first_seen=seen,
            last_seen=last,
            count=count,
            description=alert.title,
            created_by_ref=producer.id,
            created=seen,
            modified=seen,
            external_references=[
                {"source_name": "confiance", "external_id": alert.id, "description": alert.detector}
            ],
            custom_properties={
                "x_confiance_detector": alert.detector,
                "x_confiance_severity": alert.severity,
                "x_confiance_contract": alert.contract,
                "x_confiance_run": alert.run,
                "x_confiance_attestation": alert.attestation,
            },
        )
        objects[sighting.id] = sighting
    bundle = stix2.Bundle(
        objects=list(objects.values()), id=_stable_id("bundle", *sorted(objects)), allow_custom=True
    )
    return str(bundle.serialize(pretty=True))


def _observable(stix2: Any, alert: Alert) -> Any:
    value = alert.entity.value
    if alert.entity.field in ("source.ip", "destination.ip", "client_ip"):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        kind = stix2.IPv4Address if address.version == 4 else stix2.IPv6Address
        return kind(value=value, custom_properties={"x_confiance_pseudonym": True})
    if alert.entity.field == "user.name":
        return stix2.UserAccount(user_id=value, custom_properties={"x_confiance_pseudonym": True})
    return None


def _cef_header(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _cef_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n").replace("\r", "\\r")


def to_cef(alerts: Sequence[Alert]) -> list[str]:
    """One ArcSight CEF line per alert, to ship over syslog (rsyslog, syslog-ng …)."""
    lines = []
    for alert in alerts:
        extension: list[tuple[str, str]] = [
            ("rt", str(int(alert.last_seen.timestamp() * 1000))),
            ("start", str(int(alert.first_seen.timestamp() * 1000))),
            ("end", str(int(alert.last_seen.timestamp() * 1000))),
            ("msg", alert.title),
            ("externalId", alert.id),
            ("cs1Label", "attackTechnique"),
            ("cs1", alert.attack_technique or ",".join(alert.evidence.get("techniques", []))),
            ("cs2Label", "tenants"),
            ("cs2", ",".join(alert.tenants)),
            ("cs3Label", "attestation"),
            ("cs3", alert.attestation),
            ("cs4Label", "contractRun"),
            ("cs4", f"{alert.contract}/{alert.run}"),
            ("cs5Label", "identifiers"),
            ("cs5", "pseudonyms"),
        ]
        if alert.entity.field in ("source.ip", "client_ip"):
            extension.append(("src", alert.entity.value))
        elif alert.entity.field == "user.name":
            extension.append(("suser", alert.entity.value))
        header = [
            "CEF:0",
            "confiance",
            "confiance",
            confiance.__version__,
            alert.detector,
            alert.title,
            str(_CEF_SEVERITY.get(alert.severity, 5)),
        ]
        lines.append(
            "|".join(_cef_header(h) for h in header)
            + "|"
            + " ".join(f"{k}={_cef_value(v)}" for k, v in extension)
        )
    return lines
