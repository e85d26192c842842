"""Data-use contracts: what may be computed on whose data, for whom, and why."""

from confiance.contracts.model import (
    CLASS_LIMITS,
    Analysis,
    Contract,
    ContractClass,
    Dataset,
    LegalBasis,
    OutputConstraints,
    Party,
    Recipient,
    RecipientScope,
    Safeguarding,
    SealingSuite,
)
from confiance.contracts.signing import (
    check_fully_signed,
    check_not_revoked,
    contract_digest,
    contract_state,
    sign_contract,
    sign_revocation,
    verify_signature,
)

__all__ = [
    "CLASS_LIMITS",
    "Analysis",
    "Contract",
    "ContractClass",
    "Dataset",
    "LegalBasis",
    "OutputConstraints",
    "Party",
    "Recipient",
    "RecipientScope",
    "Safeguarding",
    "SealingSuite",
    "check_fully_signed",
    "check_not_revoked",
    "contract_digest",
    "contract_state",
    "sign_contract",
    "sign_revocation",
    "verify_signature",
]
