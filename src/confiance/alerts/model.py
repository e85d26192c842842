"""The alert model, parsed from an opened sealed result."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from confiance.errors import AlertError
from confiance.runtime import open_sealed
from confiance.runtime.job import result_info
from confiance.runtime.seal import RecipientPrivateKey, SealSuite


class Entity(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str
    value: str


class Alert(BaseModel):
    """One finding as delivered to one recipient. Identifiers are pseudonyms."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    detector: str
    title: str
    severity: str
    attack_technique: str
    tenants: tuple[str, ...]
    entity: Entity
    first_seen: datetime
    last_seen: datetime
    evidence: dict[str, Any]
    pseudonyms: tuple[str, ...]
    contract: str
    run: str
    recipient: str
    attestation: str

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "detector": self.detector,
            "severity": self.severity,
            "title": self.title,
            "tenants": list(self.tenants),
            "entity": f"{self.entity.field}={self.entity.value}",
            "first_seen": self.first_seen.isoformat(),
            "run": self.run,
            "attestation": self.attestation,
        }


def open_alert(
    ciphertext: bytes,
    key: RecipientPrivateKey,
    *,
    contract: str,
    run: str,
    recipient: str,
    attestation: str,
    suite: SealSuite = SealSuite.X25519,
) -> Alert:
    """Open a sealed result with the recipient's key and parse it."""
    plaintext = open_sealed(
        ciphertext, key, info=result_info(contract, run, recipient), suite=suite
    )
    try:
        document = json.loads(plaintext)
        return Alert.model_validate(
            document
            | {"contract": contract, "run": run, "recipient": recipient, "attestation": attestation}
        )
    except (ValueError, ValidationError) as exc:
        raise AlertError(f"result {run}/{recipient}: not a valid alert") from exc
