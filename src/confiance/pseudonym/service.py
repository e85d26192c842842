"""The owner's pseudonym service over the threshold OPRF and Crypto-PAn.

Accounts (and any identifier without structure) get OPRF pseudonyms: the same
value gives the same pseudonym at every tenant, evaluators never see it, and
nobody holds the key. Addresses get Crypto-PAn pseudonyms, prefix-preserving,
under a key that is itself a threshold-OPRF output on a fixed label.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence

import numpy as np

from confiance.errors import PseudonymError
from confiance.pseudonym.cryptopan import CryptoPan
from confiance.pseudonym.keyed import IdentifierKind
from confiance.pseudonym.threshold import EvaluatorClient, threshold_prf

CRYPTOPAN_LABEL = b"confiance/crypto-pan/v1"


def format_ipv4(value: int) -> str:
    return f"n4_{value:08x}"


def format_ipv6(value: bytes) -> str:
    return "n6_" + value.hex()


class ThresholdPseudonymService:
    """What an owner calls during ingestion; reaches t of the n evaluators."""

    def __init__(
        self, *, tenant: str, evaluators: Sequence[EvaluatorClient], threshold: int
    ) -> None:
        if not evaluators:
            raise PseudonymError("no OPRF evaluator configured")
        self.tenant = tenant
        self._evaluators = list(evaluators)
        self._threshold = threshold
        self._cryptopan: CryptoPan | None = None

    def __repr__(self) -> str:
        return f"ThresholdPseudonymService(tenant={self.tenant!r}, t={self._threshold})"

    def _prf(self, inputs: Sequence[bytes]) -> list[bytes]:
        return threshold_prf(self.tenant, inputs, self._evaluators, threshold=self._threshold)

    def pseudonymise(self, kind: IdentifierKind, values: Sequence[str]) -> list[str]:
        if not values:
            return []
        if kind is IdentifierKind.IP:
            return self._addresses(values)
        domain = kind.value.encode() + b"\x00"
        outputs = self._prf([domain + v.encode() for v in values])
        return [kind.prefix + base64.b32encode(o[:15]).decode().lower() for o in outputs]

    def _addresses(self, values: Sequence[str]) -> list[str]:
        if self._cryptopan is None:
            (output,) = self._prf([CRYPTOPAN_LABEL])
            self._cryptopan = CryptoPan(output[:32])
        parsed = [ipaddress.ip_address(v) for v in values]
        v4 = [i for i, a in enumerate(parsed) if a.version == 4]
        v6 = [i for i, a in enumerate(parsed) if a.version == 6]
        result = [""] * len(values)
        if v4:
            raw = np.array([int(parsed[i]) for i in v4], dtype=np.uint32)
            for i, value in zip(v4, self._cryptopan.ipv4(raw), strict=True):
                result[i] = format_ipv4(int(value))
        if v6:
            raw6 = np.array([list(parsed[i].packed) for i in v6], dtype=np.uint8)
            for i, row in zip(v6, self._cryptopan.ipv6(raw6), strict=True):
                result[i] = format_ipv6(bytes(row))
        return result
