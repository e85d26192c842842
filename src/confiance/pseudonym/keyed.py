"""Owner-side pseudonymisation: normalise, ask the service once per value, cache.

The service behind it is the threshold OPRF (:mod:`confiance.pseudonym.service`).
"""

from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from confiance.errors import PseudonymError


class IdentifierKind(enum.Enum):
    """Kinds of identifier; each has its own pseudonym domain and prefix."""

    ACCOUNT = "account"
    IP = "ip"
    MAC = "mac"
    EMAIL = "email"

    @property
    def prefix(self) -> str:
        return {"account": "u_", "ip": "n", "mac": "m_", "email": "e_"}[self.value]

    @classmethod
    def of(cls, pseudonym: str) -> IdentifierKind:
        """The kind of a pseudonym, from its prefix (``u_``, ``n4_``, ``n6_``)."""
        if pseudonym.startswith("u_"):
            return cls.ACCOUNT
        if pseudonym.startswith(("n4_", "n6_")):
            return cls.IP
        if pseudonym.startswith("m_"):
            return cls.MAC
        if pseudonym.startswith("e_"):
            return cls.EMAIL
        raise PseudonymError("not a pseudonym")


def normalise(kind: IdentifierKind, value: str) -> str:
    """Canonical form, so the same person or address gives one pseudonym everywhere."""
    if kind in (IdentifierKind.ACCOUNT, IdentifierKind.EMAIL):
        return unicodedata.normalize("NFC", value.strip()).casefold()
    if kind is IdentifierKind.MAC:
        digits = re.sub(r"[^0-9a-fA-F]", "", value)
        if len(digits) != 12:
            raise PseudonymError(f"not a MAC address: {len(value)}-character value")
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2)).lower()
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        raise PseudonymError(f"not an IP address: {len(value)}-character value") from None


class PseudonymService(Protocol):
    """The party that holds the pseudonym key and evaluates it for owners."""

    def pseudonymise(self, kind: IdentifierKind, values: Sequence[str]) -> list[str]:
        """Pseudonyms of already-normalised identifiers, in order."""
        ...


class Pseudonymiser:
    """Owner-side: normalises, asks the service once per distinct value, caches.

    ``mapping`` accumulates pseudonym → identifier for the owner's
    re-identification table; it never leaves the owner.
    """

    def __init__(
        self, service: PseudonymService, *, known: Mapping[str, str] | None = None
    ) -> None:
        """``known``: the owner's re-identification table, which is also its cache."""
        self._service = service
        self._cache: dict[tuple[IdentifierKind, str], str] = {
            (IdentifierKind.of(p), ident): p for p, ident in (known or {}).items()
        }
        self.mapping: dict[str, str] = {}
        self.evaluated = 0  # identifiers not in the cache, sent to the service

    def column(self, kind: IdentifierKind, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Pseudonymise an Arrow string column; nulls stay null."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        distinct = pc.unique(values).drop_null()
        raw = distinct.to_pylist()
        normalised = [normalise(kind, v) for v in raw]
        missing = sorted({n for n in normalised if (kind, n) not in self._cache})
        if missing:
            self.evaluated += len(missing)
            for ident, pseudo in zip(
                missing, self._service.pseudonymise(kind, missing), strict=True
            ):
                self._cache[(kind, ident)] = pseudo
                self.mapping[pseudo] = ident
        pseudonyms = pa.array([self._cache[(kind, n)] for n in normalised], pa.string())
        return pc.take(pseudonyms, pc.index_in(values, value_set=distinct))

    def one(self, kind: IdentifierKind, value: str) -> str:
        """Pseudonym of a single identifier (for evaluation and reveal checks)."""
        result = self.column(kind, pa.array([value], pa.string()))
        return str(result[0].as_py())
