"""Attestation evidence and its verification.

``SIMULATED`` is the only backend here: a local Ed25519 key stands in for the
hardware's quoting key. It proves which code a runtime *claims* to run, bound
to a fresh nonce and to the runtime's ephemeral public key, but a host
administrator who holds that key can forge evidence. Hardware backends
(SGX/TDX DCAP, SEV-SNP) implement :class:`EvidenceVerifier`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any, Protocol

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from confiance.errors import AttestationError

SIMULATED = "SIMULATED"
_DOMAIN = b"confiance-evidence/1\n"
_RECEIPT_DOMAIN = b"confiance-run-receipt/1\n"


def _receipt_bytes(receipt: dict[str, Any]) -> bytes:
    encoded: bytes = rfc8785.dumps(receipt)
    return _RECEIPT_DOMAIN + encoded


@dataclass(frozen=True)
class Evidence:
    """What a runtime presents: backend, measurement, nonce, ephemeral key."""

    backend: str
    measurement: str
    nonce: bytes
    public_key: bytes  # the runtime's ephemeral X25519 key, raw 32 bytes
    signature: bytes

    def _claims(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "measurement": self.measurement,
            "nonce": base64.b64encode(self.nonce).decode(),
            "public_key": base64.b64encode(self.public_key).decode(),
        }

    def signed_bytes(self) -> bytes:
        encoded: bytes = rfc8785.dumps(self._claims())
        return _DOMAIN + encoded

    def to_json(self) -> dict[str, Any]:
        return self._claims() | {"signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Evidence:
        try:
            return cls(
                backend=str(document["backend"]),
                measurement=str(document["measurement"]),
                nonce=base64.b64decode(document["nonce"], validate=True),
                public_key=base64.b64decode(document["public_key"], validate=True),
                signature=base64.b64decode(document["signature"], validate=True),
            )
        except (KeyError, TypeError, binascii.Error):
            raise AttestationError("malformed evidence") from None


class SimulatedAttester:
    """Signs evidence with a local key. SIMULATED: no hardware root of trust."""

    backend = SIMULATED

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "SimulatedAttester(SIMULATED, <key hidden>)"

    def attest(self, *, measurement: str, nonce: bytes, public_key: bytes) -> Evidence:
        unsigned = Evidence(SIMULATED, measurement, nonce, public_key, b"")
        return Evidence(
            SIMULATED, measurement, nonce, public_key, self._key.sign(unsigned.signed_bytes())
        )

    def sign_receipt(self, receipt: dict[str, Any]) -> bytes:
        """Sign a run receipt with the attestation key (SIMULATED)."""
        return self._key.sign(_receipt_bytes(receipt))


class EvidenceVerifier(Protocol):
    backend: str

    def verify(self, evidence: Evidence, *, nonce: bytes, measurement: str) -> None:
        """Raise :class:`AttestationError` unless the evidence satisfies the policy."""
        ...


class SimulatedVerifier:
    """Checks simulated evidence against the trusted simulated attestation key."""

    backend = SIMULATED

    def __init__(self, trusted_key: Ed25519PublicKey) -> None:
        self._key = trusted_key

    def verify(self, evidence: Evidence, *, nonce: bytes, measurement: str) -> None:
        if evidence.backend != SIMULATED:
            raise AttestationError(f"evidence backend {evidence.backend!r} is not {SIMULATED}")
        try:
            self._key.verify(evidence.signature, evidence.signed_bytes())
        except InvalidSignature:
            raise AttestationError("evidence signature does not verify") from None
        if not hmac.compare_digest(evidence.nonce, nonce):
            raise AttestationError("evidence is not bound to this run's nonce (replayed or stale)")
        if not hmac.compare_digest(evidence.measurement.encode(), measurement.encode()):
            raise AttestationError(
                f"runtime measurement {evidence.measurement} differs from the contract's "
                f"{measurement}"
            )
        if len(evidence.public_key) != 32:
            raise AttestationError("evidence carries no valid ephemeral key")

    def verify_receipt(self, receipt: dict[str, Any], signature: bytes) -> None:
        try:
            self._key.verify(signature, _receipt_bytes(receipt))
        except InvalidSignature:
            raise AttestationError("run receipt signature does not verify") from None
