"""Each data owner's key service: releases data keys only to an attested runtime.

A key leaves its owner only if the contract names the owner's dataset, is
within its validity dates and is signed by every data owner; the runtime's
evidence is bound to this run's nonce and its measurement equals the one the
contract pins. The release is written to the ledger *before* any key leaves;
every denial is written too, with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from confiance.contracts import Contract, check_fully_signed, check_not_revoked, contract_digest
from confiance.errors import AttestationError, ContractError, KeyReleaseDenied
from confiance.keys import KeyStore, zero
from confiance.runtime.attestation import Evidence, EvidenceVerifier
from confiance.runtime.seal import seal

logger = logging.getLogger(__name__)


def _today() -> date:
    return datetime.now(UTC).date()


def dek_info(run_id: str, dataset_id: str) -> bytes:
    """HPKE ``info`` binding a released key to its run and dataset."""
    return f"confiance-dek/1|{run_id}|{dataset_id}".encode()


@dataclass(frozen=True)
class DatasetKey:
    """A dataset as its owner's metadata records it, with its KEK-wrapped DEK."""

    dataset_id: str
    tenant: str
    source: str
    wrapped_dek: bytes
    day: date | None = None

    def wrap_context(self) -> bytes:
        return f"confiance-dek/1|{self.tenant}|{self.dataset_id}".encode()


LedgerWriter = Callable[[str, Mapping[str, Any]], None]


class KeyService:
    """One tenant's key service."""

    def __init__(
        self,
        *,
        tenant: str,
        keystore: KeyStore,
        verifier: EvidenceVerifier,
        signing_keys: Mapping[str, Ed25519PublicKey],
        ledger: LedgerWriter,
        today: Callable[[], date] = _today,
    ) -> None:
        self.tenant = tenant
        self._keystore = keystore
        self._verifier = verifier
        self._signing_keys = signing_keys
        self._ledger = ledger
        self._today = today

    def _deny(self, contract: Contract, run_id: str, reason: str) -> KeyReleaseDenied:
        self._ledger("key.denied", {"run": run_id, "contract": contract.id, "reason": reason})
        logger.warning("key release denied by %s for run %s: %s", self.tenant, run_id, reason)
        return KeyReleaseDenied(f"key release refused by {self.tenant}: {reason}")

    def release(
        self,
        *,
        contract: Contract,
        signatures: Mapping[str, bytes],
        revocations: Mapping[str, bytes] | None = None,
        evidence: Evidence,
        nonce: bytes,
        run_id: str,
        datasets: Sequence[DatasetKey],
    ) -> dict[str, bytes]:
        """DEKs of ``datasets`` sealed to the runtime's ephemeral key, by dataset id."""
        if not datasets:
            raise self._deny(contract, run_id, "no dataset requested")
        if self.tenant not in contract.data_owners:
            raise self._deny(
                contract, run_id, f"{self.tenant} is not a data owner of {contract.id}"
            )
        today = self._today()
        if today < contract.valid_from:
            raise self._deny(
                contract,
                run_id,
                f"contract {contract.id} is not valid before {contract.valid_from}",
            )
        if today > contract.valid_until:
            raise self._deny(
                contract, run_id, f"contract {contract.id} expired on {contract.valid_until}"
            )
        try:
            check_fully_signed(contract, signatures=signatures, keys=self._signing_keys)
            check_not_revoked(contract, revocations=revocations or {}, keys=self._signing_keys)
        except ContractError as exc:
            raise self._deny(contract, run_id, str(exc)) from None
        try:
            self._verifier.verify(evidence, nonce=nonce, measurement=contract.runtime_measurement)
        except AttestationError as exc:
            raise self._deny(contract, run_id, f"attestation: {exc}") from None
        for dataset in datasets:
            if dataset.tenant != self.tenant:
                raise self._deny(
                    contract,
                    run_id,
                    f"dataset {dataset.dataset_id} belongs to {dataset.tenant}, not {self.tenant}",
                )
            covered = (
                any(
                    d.tenant == dataset.tenant and d.source == dataset.source
                    for d in contract.datasets
                )
                if dataset.day is None
                else contract.covers(dataset.tenant, dataset.source, dataset.day)
            )
            if not covered:
                raise self._deny(
                    contract,
                    run_id,
                    f"dataset {dataset.dataset_id} ({dataset.source}) is outside contract "
                    f"{contract.id}",
                )
        self._ledger(
            "key.released",
            {
                "run": run_id,
                "contract": contract.id,
                "contract_digest": contract_digest(contract),
                "measurement": evidence.measurement,
                "attestation": evidence.backend,
                "datasets": sorted(d.dataset_id for d in datasets),
            },
        )
        released: dict[str, bytes] = {}
        for dataset in datasets:
            dek = self._keystore.unwrap_key(dataset.wrapped_dek, context=dataset.wrap_context())
            try:
                released[dataset.dataset_id] = seal(
                    bytes(dek), evidence.public_key, info=dek_info(run_id, dataset.dataset_id)
                )
            finally:
                zero(dek)
        return released
