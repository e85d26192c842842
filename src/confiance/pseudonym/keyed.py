"""Keyed-hash pseudonyms (HMAC-SHA256), typed by the kind of identifier."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import ipaddress
import unicodedata
from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from confiance.errors import PseudonymError


class IdentifierKind(enum.Enum):
    """Kinds of identifier; each has its own pseudonym domain and prefix."""

    ACCOUNT = "account"
    IP = "ip"

    @property
    def prefix(self) -> str:
        return {"account": "u_", "ip": "h_"}[self.value]


def normalise(kind: IdentifierKind, value: str) -> str:
    """Canonical form, so the same person or address gives one pseudonym everywhere."""
    if kind is IdentifierKind.ACCOUNT:
        return unicodedata.normalize("NFC", value.strip()).casefold()
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        raise PseudonymError(f"not an IP address: {len(value)}-character value") from None


class PseudonymService(Protocol):
    """The party that holds the pseudonym key and evaluates it for owners."""

    def pseudonymise(self, kind: IdentifierKind, values: Sequence[str]) -> list[str]:
        """Pseudonyms of already-normalised identifiers, in order."""
        ...


class KeyedPseudonymService:
    """In-process pseudonym service holding the consortium HMAC key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise PseudonymError("pseudonym key must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "KeyedPseudonymService(<key hidden>)"

    def pseudonymise(self, kind: IdentifierKind, values: Sequence[str]) -> list[str]:
        domain = kind.value.encode() + b"\x00"
        out = []
        for value in values:
            digest = hmac.new(self._key, domain + value.encode(), hashlib.sha256).digest()
            out.append(kind.prefix + base64.b32encode(digest[:15]).decode().lower())
        return out


class Pseudonymiser:
    """Owner-side: normalises, asks the service once per distinct value, caches.

    ``mapping`` accumulates pseudonym → identifier for the owner's
    re-identification table; it never leaves the owner.
    """

    def __init__(self, service: PseudonymService) -> None:
        self._service = service
        self._cache: dict[tuple[IdentifierKind, str], str] = {}
        self.mapping: dict[str, str] = {}

    def column(self, kind: IdentifierKind, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Pseudonymise an Arrow string column; nulls stay null."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        distinct = pc.unique(values).drop_null()
        raw = distinct.to_pylist()
        normalised = [normalise(kind, v) for v in raw]
        missing = sorted({n for n in normalised if (kind, n) not in self._cache})
        if missing:
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
