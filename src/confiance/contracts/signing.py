"""Multi-party signatures over the canonical (RFC 8785) form of a contract."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from confiance.contracts.model import Contract
from confiance.errors import ContractError

_DOMAIN = b"confiance-contract/1\n"
_REVOKE = b"confiance-contract-revocation/1\n"


def _signing_bytes(contract: Contract) -> bytes:
    encoded: bytes = rfc8785.dumps(contract.canonical())
    return _DOMAIN + encoded


def contract_digest(contract: Contract) -> str:
    """``sha256:<hex>`` of the canonical form: what the ledger records."""
    return "sha256:" + hashlib.sha256(_signing_bytes(contract)).hexdigest()


def sign_contract(contract: Contract, *, tenant: str, key: Ed25519PrivateKey) -> bytes:
    if tenant not in contract.data_owners:
        raise ContractError(f"contract {contract.id}: {tenant} is not a data owner of it")
    return key.sign(_signing_bytes(contract))


def verify_signature(
    contract: Contract, *, tenant: str, signature: bytes, key: Ed25519PublicKey
) -> None:
    try:
        key.verify(signature, _signing_bytes(contract))
    except InvalidSignature:
        raise ContractError(
            f"contract {contract.id}: signature of {tenant} does not match this version"
        ) from None


def check_fully_signed(
    contract: Contract,
    *,
    signatures: Mapping[str, bytes],
    keys: Mapping[str, Ed25519PublicKey],
) -> None:
    """Raise unless every data owner named has a valid signature."""
    for tenant in contract.data_owners:
        signature = signatures.get(tenant)
        if signature is None:
            raise ContractError(f"contract {contract.id}: not signed by {tenant}")
        key = keys.get(tenant)
        if key is None:
            raise ContractError(f"contract {contract.id}: no public key known for {tenant}")
        verify_signature(contract, tenant=tenant, signature=signature, key=key)


def sign_revocation(contract: Contract, *, tenant: str, key: Ed25519PrivateKey) -> bytes:
    """An owner's signed withdrawal from this version of the contract."""
    if tenant not in contract.data_owners:
        raise ContractError(f"contract {contract.id}: {tenant} is not a data owner of it")
    return key.sign(_REVOKE + contract_digest(contract).encode())


def check_not_revoked(
    contract: Contract,
    *,
    revocations: Mapping[str, bytes],
    keys: Mapping[str, Ed25519PublicKey],
) -> None:
    """Raise if any owner validly withdrew; an unverifiable revocation also stops use."""
    for tenant, signature in sorted(revocations.items()):
        key = keys.get(tenant)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(signature, _REVOKE + contract_digest(contract).encode())
        except InvalidSignature:
            raise ContractError(
                f"contract {contract.id}: a revocation attributed to {tenant} does not verify"
            ) from None
        raise ContractError(f"contract {contract.id}: revoked by {tenant}")


def contract_state(
    contract: Contract,
    *,
    signatures: Mapping[str, bytes],
    revocations: Mapping[str, bytes],
    keys: Mapping[str, Ed25519PublicKey],
    today: date,
) -> str:
    """draft | active | revoked | expired | not yet valid."""
    if revocations:
        return "revoked by " + ", ".join(sorted(revocations))
    if today > contract.valid_until:
        return "expired"
    if today < contract.valid_from:
        return "not yet valid"
    try:
        check_fully_signed(contract, signatures=signatures, keys=keys)
    except ContractError:
        return "draft"
    return "active"
