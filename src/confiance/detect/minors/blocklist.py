"""Matching URLs against an authority's list without the list existing in clear.

The authority (a tenant of its own) turns its list of URLs and domains into
*keyed* hashes on its own machine: each entry's Safe Browsing expression is
hashed with keyed BLAKE2b (RFC 7693) under a fresh random key, and so is the entry's
host. Only those hashes and the key, inside the authority's encrypted
dataset, reach the platform; they are opened in the runtime under the
authority's contract alone. Neither a school nor the operator ever holds the
list; a recipient of a hit learns only the entry's keyed id, which the
authority alone can map back to its line.

Matching is columnar: the host of every URL is extracted with one Arrow
regular expression, each *distinct* host is hashed once, and only URLs whose
host (or a parent domain) carries an entry are canonicalised in full and
checked expression by expression. URLs the fast pattern cannot vouch for
(escapes or unusual characters in the host) always take the full path, so
the shortcut never hides a hit.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from confiance.detect.minors.urls import canonical_host, canonicalize, expressions, host_suffixes
from confiance.errors import DetectError

KEY_BYTES = 32
FORMAT = "confiance-blocklist/1"
_FAST_HOST = r"^(?i:https?://)?(?P<host>[A-Za-z0-9.-]+)(?::[0-9]{1,5})?(?:[/?#]|$)"


def _keyed(key: bytes, domain: bytes, value: str) -> int:
    """64-bit keyed hash: BLAKE2b in its keyed (MAC) mode, RFC 7693."""
    digest = hashlib.blake2b(domain + value.encode("ascii"), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _sorted(values: Iterable[int]) -> np.ndarray:
    return np.unique(np.fromiter(values, dtype=np.uint64))


def _contains(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    if haystack.size == 0 or needles.size == 0:
        return np.zeros(needles.size, dtype=bool)
    found = np.searchsorted(haystack, needles)
    found[found == haystack.size] = 0
    return np.asarray(haystack[found] == needles)


@dataclass(frozen=True)
class ListEntry:
    """One line of the authority's clear list, with the keyed id hits will carry."""

    line: int
    expression: str
    entry_id: str


@dataclass(frozen=True)
class Hit:
    """URL number ``row`` of the batch matched the entry with keyed id ``entry_id``."""

    row: int
    entry_id: str


class KeyedBlocklist:
    """An authority's list as keyed 64-bit hashes of expressions and of their hosts.

    Two different expressions share a 64-bit id with probability about
    n / 2**64 per lookup (5e-14 for a million entries): negligible, and a hit
    is in any case reviewed by a person before anything happens.
    """

    def __init__(self, *, key: bytes, entries: np.ndarray, hosts: np.ndarray) -> None:
        if len(key) != KEY_BYTES:
            raise DetectError(f"blocklist key must be {KEY_BYTES} bytes")
        if entries.size == 0:
            raise DetectError("blocklist is empty: an empty list would match nothing")
        self._key = key
        self._entries = np.sort(entries.astype(np.uint64))
        self._hosts = np.sort(hosts.astype(np.uint64))

    def __repr__(self) -> str:
        return f"KeyedBlocklist(entries={self._entries.size})"

    def __len__(self) -> int:
        return int(self._entries.size)

    @property
    def nbytes(self) -> int:
        return int(self._entries.nbytes + self._hosts.nbytes)

    @classmethod
    def prepare(
        cls, lines: Sequence[str], *, where: str, key: bytes | None = None
    ) -> tuple[KeyedBlocklist, list[ListEntry]]:
        """Build the keyed list from the authority's clear list (on the authority's side).

        One URL or domain per line; blank lines and ``#`` comments are
        skipped. Returns the keyed list and the authority's own index from
        keyed ids back to its lines, which never leaves the authority.
        """
        key = secrets.token_bytes(KEY_BYTES) if key is None else key
        index: list[ListEntry] = []
        hosts: set[int] = set()
        for number, raw in enumerate(lines, start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            try:
                canonical = canonicalize(text)
            except DetectError:
                raise DetectError(f"{where}:{number}: entry has no host") from None
            query = "" if canonical.query is None else "?" + canonical.query
            expression = f"{canonical.host}{canonical.path}{query}"
            entry = _keyed(key, b"e|", expression)
            hosts.add(_keyed(key, b"h|", canonical.host))
            index.append(ListEntry(number, expression, f"{entry:016x}"))
        if not index:
            raise DetectError(f"{where}: no entries")
        entries = _sorted(int(e.entry_id, 16) for e in index)
        return cls(key=key, entries=entries, hosts=_sorted(hosts)), index

    def to_table(self) -> pa.Table:
        """The keyed list as an Arrow table, the key in its metadata (encrypt it as a dataset)."""
        hosts = np.zeros(self._entries.size, dtype=np.uint64)
        hosts[: self._hosts.size] = self._hosts
        return pa.table(
            {"entry": self._entries, "host": hosts},
            metadata={
                b"format": FORMAT.encode(),
                b"confiance.reference": b"blocklist",
                b"created": datetime.now(UTC).isoformat().encode(),
                b"key": self._key.hex().encode(),
                b"hosts": str(self._hosts.size).encode(),
            },
        )

    @classmethod
    def from_table(cls, table: pa.Table) -> KeyedBlocklist:
        metadata = table.schema.metadata or {}
        if metadata.get(b"format") != FORMAT.encode():
            raise DetectError(f"not a {FORMAT} table")
        try:
            key = bytes.fromhex(metadata[b"key"].decode())
            n_hosts = int(metadata[b"hosts"])
            entries = table.column("entry").to_numpy()
            hosts = table.column("host").to_numpy()[:n_hosts]
        except (KeyError, ValueError) as exc:
            raise DetectError("blocklist table is malformed") from exc
        return cls(key=key, entries=entries, hosts=hosts)

    def _host_hits(self, hosts: pa.Array) -> np.ndarray:
        """For each distinct raw host: does it, or a parent domain, carry an entry?"""
        values = hosts.to_pylist()
        hashes: list[int] = []
        bounds = [0]
        for value in values:
            host, is_ip = canonical_host(value.encode("ascii"))
            name = host.decode("ascii")
            hashes.extend(_keyed(self._key, b"h|", s) for s in host_suffixes(name, is_ip=is_ip))
            bounds.append(len(hashes))
        found = _contains(self._hosts, np.array(hashes, dtype=np.uint64))
        return np.array(
            [bool(found[a:b].any()) for a, b in itertools.pairwise(bounds)],
            dtype=bool,
        )

    def match(self, urls: pa.Array | pa.ChunkedArray) -> list[Hit]:
        """Rows of ``urls`` that match an entry (nulls and host-less URLs never match)."""
        if isinstance(urls, pa.ChunkedArray):
            urls = urls.combine_chunks()
        urls = urls.cast(pa.string())
        parts = pc.extract_regex(urls, _FAST_HOST)
        fast = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        candidates = ~fast & np.asarray(urls.is_valid().to_numpy(zero_copy_only=False))
        if fast.any():
            encoded = pc.dictionary_encode(parts.field("host"))
            hit_hosts = self._host_hits(encoded.dictionary)
            indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
            candidates |= fast & hit_hosts[indices]
        rows = np.flatnonzero(candidates)
        if rows.size == 0:
            return []
        picked = urls.take(pa.array(rows)).to_pylist()
        owners: list[int] = []
        hashes: list[int] = []
        for row, url in zip(rows.tolist(), picked, strict=True):
            try:
                found = expressions(url)
            except DetectError:
                continue
            hashes.extend(_keyed(self._key, b"e|", e) for e in found)
            owners.extend([row] * len(found))
        keyed = np.array(hashes, dtype=np.uint64)
        matched = _contains(self._entries, keyed)
        hits: dict[int, str] = {}
        for position in np.flatnonzero(matched).tolist():
            hits.setdefault(owners[position], f"{int(keyed[position]):016x}")
        return [Hit(row, entry) for row, entry in sorted(hits.items())]
