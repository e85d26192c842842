"""One error tree for the whole platform.

Crypto failures are deliberately uninformative; configuration, contract and
parse errors carry a precise location. No message ever contains a secret.
"""

from __future__ import annotations


class ConfianceError(Exception):
    """Base of every error confiance raises on purpose."""


class ConfigError(ConfianceError):
    """The home, its configuration or a command-line argument is wrong."""


class SchemaError(ConfianceError):
    """An event table does not match the normalised schema."""


class IngestError(ConfianceError):
    """A file cannot be ingested at all (not a log, unknown format)."""


class PseudonymError(ConfianceError):
    """Pseudonymisation or re-identification failed or was refused."""


class KeyStoreError(ConfianceError):
    """A keystore cannot be opened or a key cannot be unwrapped."""


class StoreError(ConfianceError):
    """An object cannot be written or read back intact."""


class LedgerError(ConfianceError):
    """The ledger is malformed or does not verify."""


class LedgerVerificationError(LedgerError):
    """The ledger failed verification; ``index`` names the first bad entry."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ContractError(ConfianceError):
    """A contract is malformed, unsigned, or forbids what was asked."""


class AttestationError(ConfianceError):
    """Attestation evidence does not satisfy the policy."""


class KeyReleaseDenied(ConfianceError):
    """A key service refused to release a key; the reason is in the message."""


class RuntimeJobError(ConfianceError):
    """The confidential runtime could not complete a job."""


class SealError(ConfianceError):
    """A sealed result cannot be opened (wrong key or tampered)."""


class DetectError(ConfianceError):
    """A detection input (URL, list, lexicon, model) is unusable."""


class AlertError(ConfianceError):
    """An alert cannot be found, opened or acted upon."""


class AccessDenied(ConfianceError):
    """An actor asked for something the contract does not allow it."""
