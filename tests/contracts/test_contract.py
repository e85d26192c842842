"""Contracts: parsed with precise errors, signed by every owner, voided by any change."""

from __future__ import annotations

import base64
from datetime import date

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from confiance.contracts import Contract, check_fully_signed, contract_digest, sign_contract
from confiance.errors import ContractError

RECIPIENT = base64.b64encode(
    X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()


def document() -> dict:
    return {
        "id": "soc-commun",
        "version": 1,
        "purpose": "Joint detection of attacks on shared services.",
        "legal_basis": {"article": "GDPR Art. 6(1)(e)", "text": "Public interest task: security."},
        "parties": [
            {"tenant": "academie", "role": "data-owner"},
            {"tenant": "region", "role": "data-owner"},
        ],
        "datasets": [
            {"tenant": "academie", "source": "sso"},
            {"tenant": "region", "source": "web"},
        ],
        "analyses": [{"detector": "brute_force", "code_digest": "sha256:" + "a" * 64}],
        "runtime_measurement": "sha256:" + "b" * 64,
        "recipients": [
            {"name": "soc", "public_key": RECIPIENT, "scope": "all", "analyses": ["brute_force"]}
        ],
        "retention_days": 365,
        "valid_from": "2026-01-01",
        "valid_until": "2027-01-01",
    }


def test_yaml_round_trip_and_signatures() -> None:
    contract = Contract.from_yaml(yaml.safe_dump(document()), where="c.yaml")
    assert contract.valid_from == date(2026, 1, 1)
    assert Contract.from_yaml(contract.to_yaml(), where="again") == contract
    keys = {t: Ed25519PrivateKey.generate() for t in ("academie", "region")}
    sigs = {t: sign_contract(contract, tenant=t, key=k) for t, k in keys.items()}
    public = {t: k.public_key() for t, k in keys.items()}
    check_fully_signed(contract, signatures=sigs, keys=public)
    with pytest.raises(ContractError, match="not signed by region"):
        check_fully_signed(contract, signatures={"academie": sigs["academie"]}, keys=public)
    changed = document() | {"retention_days": 366}
    other = Contract.model_validate(changed)
    assert contract_digest(other) != contract_digest(contract)
    with pytest.raises(ContractError, match="signature of academie does not match this version"):
        check_fully_signed(other, signatures=sigs, keys=public)
    with pytest.raises(ContractError, match="lycees is not a data owner"):
        sign_contract(contract, tenant="lycees", key=keys["academie"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"recipients": []}, "field recipients: Tuple should have at least 1 item"),
        (
            {"analyses": [{"detector": "brute_force", "code_digest": "md5:1"}]},
            "field analyses.0.code_digest",
        ),
        ({"datasets": [{"tenant": "lycees", "source": "proxy"}]}, "lycees is not a data-owner"),
        ({"valid_until": "2025-01-01"}, "valid_until is before valid_from"),
        ({"surprise": 1}, "field surprise: Extra inputs are not permitted"),
        (
            {
                "recipients": [
                    {
                        "name": "soc",
                        "public_key": "AAAA",
                        "scope": "all",
                        "analyses": ["brute_force"],
                    }
                ]
            },
            "field recipients.0: Value error, public_key: a x25519 key is 32 bytes",
        ),
        (
            {
                "recipients": [
                    {
                        "name": "rssi",
                        "public_key": RECIPIENT,
                        "scope": "own-data",
                        "analyses": ["brute_force"],
                    }
                ]
            },
            "scope own-data needs a tenant",
        ),
    ],
)
def test_errors_name_the_file_and_field(change: dict, message: str) -> None:
    with pytest.raises(ContractError, match=f"c.yaml: .*{message}"):
        Contract.from_yaml(yaml.safe_dump(document() | change), where="c.yaml")


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(ContractError, match=r"c.yaml:2: not valid YAML"):
        Contract.from_yaml("id: x\n  bad: [\n", where="c.yaml")
    with pytest.raises(ContractError, match=r"c\.yaml: a contract is a YAML mapping"):
        Contract.from_yaml("- 1\n", where="c.yaml")
