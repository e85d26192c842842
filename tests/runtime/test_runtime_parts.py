"""Attestation evidence, sealing, and the key service's refusals."""

from __future__ import annotations

import base64
import os
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tests.contracts.test_contract import document

from confiance.contracts import Contract, sign_contract
from confiance.errors import AttestationError, KeyReleaseDenied, SealError
from confiance.keys import SoftwareKeyStore
from confiance.runtime import (
    DatasetKey,
    KeyService,
    SimulatedAttester,
    SimulatedVerifier,
    open_sealed,
    seal,
)
from confiance.runtime.keyrelease import dek_info

MEASUREMENT = "sha256:" + "b" * 64


def _raw(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_seal_opens_only_for_its_recipient_and_context() -> None:
    alice, bob = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    sealed = seal(b"alert", alice.public_key(), info=b"run-1|alice")
    assert open_sealed(sealed, alice, info=b"run-1|alice") == b"alert"
    assert seal(b"alert", _raw(alice), info=b"x") != seal(b"alert", _raw(alice), info=b"x")
    for key, info, blob in (
        (bob, b"run-1|alice", sealed),
        (alice, b"run-1|bob", sealed),
        (alice, b"run-1|alice", sealed[:-1] + bytes([sealed[-1] ^ 1])),
    ):
        with pytest.raises(SealError, match="cannot open sealed result"):
            open_sealed(blob, key, info=info)


def test_simulated_evidence_checks() -> None:
    attestation = Ed25519PrivateKey.generate()
    verifier = SimulatedVerifier(attestation.public_key())
    nonce, eph = os.urandom(32), _raw(X25519PrivateKey.generate())
    evidence = SimulatedAttester(attestation).attest(
        measurement=MEASUREMENT, nonce=nonce, public_key=eph
    )
    assert evidence.backend == "SIMULATED"
    verifier.verify(evidence, nonce=nonce, measurement=MEASUREMENT)
    with pytest.raises(AttestationError, match="replayed or stale"):
        verifier.verify(evidence, nonce=os.urandom(32), measurement=MEASUREMENT)
    with pytest.raises(AttestationError, match="differs from the contract's"):
        verifier.verify(evidence, nonce=nonce, measurement="sha256:" + "c" * 64)
    forged = SimulatedAttester(Ed25519PrivateKey.generate()).attest(
        measurement=MEASUREMENT, nonce=nonce, public_key=eph
    )
    with pytest.raises(AttestationError, match="signature does not verify"):
        verifier.verify(forged, nonce=nonce, measurement=MEASUREMENT)
    receipt = {"run": "r1", "outputs": []}
    signature = SimulatedAttester(attestation).sign_receipt(receipt)
    verifier.verify_receipt(receipt, signature)
    with pytest.raises(AttestationError, match="receipt signature"):
        verifier.verify_receipt(receipt | {"run": "r2"}, signature)


class _Setup:
    def __init__(self, tmp_path: object) -> None:
        from pathlib import Path

        root = Path(str(tmp_path))
        self.contract = Contract.model_validate(document() | {"runtime_measurement": MEASUREMENT})
        self.keystores = {
            t: SoftwareKeyStore.create(root / f"{t}.json", owner=t, passphrase="p")
            for t in ("academie", "region")
        }
        self.signatures = {
            t: sign_contract(self.contract, tenant=t, key=k.signing_key())
            for t, k in self.keystores.items()
        }
        self.public = {t: k.signing_key().public_key() for t, k in self.keystores.items()}
        self.attestation = Ed25519PrivateKey.generate()
        self.ephemeral = X25519PrivateKey.generate()
        self.nonce = os.urandom(32)
        self.evidence = SimulatedAttester(self.attestation).attest(
            measurement=MEASUREMENT, nonce=self.nonce, public_key=_raw(self.ephemeral)
        )
        self.ledger: list[tuple[str, dict]] = []
        dek = b"\x07" * 32
        self.dataset = DatasetKey("d1", "academie", "sso", b"")
        self.dataset = DatasetKey(
            "d1",
            "academie",
            "sso",
            self.keystores["academie"].wrap_key(dek, context=self.dataset.wrap_context()),
        )

    def service(self, tenant: str = "academie", today: date = date(2026, 6, 1)) -> KeyService:
        return KeyService(
            tenant=tenant,
            keystore=self.keystores[tenant],
            verifier=SimulatedVerifier(self.attestation.public_key()),
            signing_keys=self.public,
            ledger=lambda kind, body: self.ledger.append((kind, dict(body))),
            today=lambda: today,
        )

    def release(self, service: KeyService, **changes: object) -> dict[str, bytes]:
        arguments: dict = {
            "contract": self.contract,
            "signatures": self.signatures,
            "evidence": self.evidence,
            "nonce": self.nonce,
            "run_id": "run-1",
            "datasets": [self.dataset],
        } | changes
        return service.release(**arguments)


def test_key_release_seals_the_dek_to_the_runtime_and_logs_first(tmp_path: object) -> None:
    setup = _Setup(tmp_path)
    released = setup.release(setup.service())
    dek = open_sealed(released["d1"], setup.ephemeral, info=dek_info("run-1", "d1"))
    assert dek == b"\x07" * 32
    assert setup.ledger[0][0] == "key.released"
    assert setup.ledger[0][1]["datasets"] == ["d1"] and "\x07" not in str(setup.ledger)


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("unsigned", "not signed by region"),
        ("expired", "expired on 2027-01-01"),
        ("not yet", "not valid before 2026-01-01"),
        ("stale nonce", "replayed or stale"),
        ("measurement", "differs from the contract's"),
        ("other tenant's keys", "belongs to academie, not region"),
        ("outside contract", "is outside contract soc-commun"),
        ("no dataset", "no dataset requested"),
        ("not an owner", "lycees is not a data owner"),
    ],
)
def test_every_denial_is_explained_and_logged(
    tmp_path: object, scenario: str, message: str
) -> None:
    setup = _Setup(tmp_path)
    service, changes = setup.service(), {}
    if scenario == "unsigned":
        changes = {"signatures": {"academie": setup.signatures["academie"]}}
    elif scenario == "expired":
        service = setup.service(today=date(2027, 1, 2))
    elif scenario == "not yet":
        service = setup.service(today=date(2025, 12, 31))
    elif scenario == "stale nonce":
        changes = {"nonce": os.urandom(32)}
    elif scenario == "measurement":
        changes = {
            "evidence": SimulatedAttester(setup.attestation).attest(
                measurement="sha256:" + "0" * 64,
                nonce=setup.nonce,
                public_key=_raw(setup.ephemeral),
            )
        }
    elif scenario == "other tenant's keys":
        service = setup.service("region")
    elif scenario == "outside contract":
        changes = {"datasets": [DatasetKey("d2", "academie", "proxy", setup.dataset.wrapped_dek)]}
    elif scenario == "no dataset":
        changes = {"datasets": []}
    elif scenario == "not an owner":
        setup.keystores["lycees"] = setup.keystores["academie"]
        service = setup.service("lycees")
    with pytest.raises(KeyReleaseDenied, match=message):
        setup.release(service, **changes)
    assert [kind for kind, _ in setup.ledger] == ["key.denied"]
    assert message.split(" ", maxsplit=1)[0] in setup.ledger[0][1]["reason"]
    assert base64.b64encode(b"\x07" * 32).decode() not in str(setup.ledger)


def test_the_hybrid_post_quantum_suite_seals_and_refuses_like_the_classic_one(
    tmp_path: object,
) -> None:
    from pathlib import Path

    from confiance.keys import SecretName
    from confiance.runtime.seal import SealSuite

    store = SoftwareKeyStore.create(
        Path(str(tmp_path)) / "soc.json",
        owner="soc",
        passphrase="p",
        secrets=(SecretName.RECIPIENT, SecretName.RECIPIENT_PQ),
    )
    public = base64.b64decode(store.public_keys()["recipient_hybrid"])
    assert len(public) == 1184 + 32
    hybrid = SealSuite.MLKEM768_X25519
    sealed = seal(b"alert", public, info=b"run|soc", suite=hybrid)
    assert open_sealed(sealed, store.recipient_hybrid_key(), info=b"run|soc", suite=hybrid) == (
        b"alert"
    )
    with pytest.raises(SealError):
        open_sealed(sealed, store.recipient_hybrid_key(), info=b"run|other", suite=hybrid)
    with pytest.raises(SealError):  # the classic key alone cannot open it
        open_sealed(sealed, store.recipient_key(), info=b"run|soc", suite=SealSuite.X25519)
    with pytest.raises(SealError, match="a mlkem768-x25519 recipient key is 1216 bytes"):
        seal(b"alert", public[:32], info=b"x", suite=hybrid)


def test_output_constraints_withhold_what_the_contract_forbids() -> None:
    from confiance.runtime.job import enforce_output_constraints

    contract = Contract.model_validate(
        document()
        | {"output_constraints": {"min_group_size": 5, "pseudonymised_fields": ["user.name"]}}
    )
    account = "u_" + "a" * 24
    findings = [
        {"id": "ok", "entity": {"field": "user.name", "value": account}, "pseudonyms": [account]},
        {"id": "small", "group_size": 3, "entity": {}, "pseudonyms": []},
        {"id": "big", "group_size": 5, "entity": {}, "pseudonyms": []},
        {"id": "clear", "entity": {"field": "user.name", "value": "lea.martin"}, "pseudonyms": []},
        {
            "id": "leak",
            "entity": {"field": "source.ip", "value": "n4_0a000001"},
            "pseudonyms": ["n4_0a000001", "10.0.0.1"],
        },
    ]
    released, withheld = enforce_output_constraints(contract, findings)
    assert [f["id"] for f in released] == ["ok", "big"]
    assert withheld == [
        {"result": "small", "reason": "group of 3 below the minimum of 5"},
        {"result": "clear", "reason": "field user.name is not pseudonymised"},
        {"result": "leak", "reason": "a listed identifier is not a pseudonym"},
    ]
    assert "lea.martin" not in str(withheld) and "10.0.0.1" not in str(withheld)


def test_a_dataset_outside_the_contracts_days_is_refused(tmp_path: object) -> None:
    from datetime import date as day

    setup = _Setup(tmp_path)
    limited = document()
    limited["datasets"] = [
        {
            "tenant": "academie",
            "source": "sso",
            "from_day": "2026-01-01",
            "until_day": "2026-01-31",
        },
        {"tenant": "region", "source": "web"},
    ]
    setup.contract = Contract.model_validate(limited | {"runtime_measurement": MEASUREMENT})
    setup.signatures = {
        t: sign_contract(setup.contract, tenant=t, key=k.signing_key())
        for t, k in setup.keystores.items()
    }
    inside = DatasetKey("d1", "academie", "sso", setup.dataset.wrapped_dek, day(2026, 1, 31))
    assert setup.release(setup.service(), datasets=[inside])
    outside = DatasetKey("d1", "academie", "sso", setup.dataset.wrapped_dek, day(2026, 2, 1))
    with pytest.raises(KeyReleaseDenied, match=r"dataset d1 \(sso\) is outside contract"):
        setup.release(setup.service(), datasets=[outside])
