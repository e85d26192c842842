"""The Merkle tree of the ledger, kept as stored levels in SQLite.

Every perfect subtree (level L, index i: the hash of leaves
[i * 2^L, (i + 1) * 2^L)) is stored once, when it becomes complete. Any root,
inclusion proof or consistency proof then needs O(log n) point reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from confiance.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof_from,
    inclusion_proof_from,
    node_hash,
    range_hash,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS nodes_append_only_update BEFORE UPDATE ON nodes
BEGIN SELECT RAISE(ABORT, 'ledger tree is append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_append_only_delete BEFORE DELETE ON nodes
BEGIN SELECT RAISE(ABORT, 'ledger tree is append-only'); END;
"""


class TreeStore:
    """Stored levels of one Merkle tree over a SQLite connection."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con
        self._cache: dict[tuple[int, int], bytes] = {}
        row = con.execute("SELECT max(idx) FROM nodes WHERE level = 0").fetchone()
        self.size = 0 if row is None or row[0] is None else int(row[0]) + 1
        # frontier[L]: hash of the last node of level L when it still waits for
        # its right sibling (that is, when it has an even index).
        self._frontier: dict[int, bytes] = {}
        level = 0
        while (self.size >> level) > 0:
            count = self.size >> level
            if count % 2 == 1:
                self._frontier[level] = self._node(level, count - 1)
            level += 1

    def _node(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self._con.execute(
            "SELECT hash FROM nodes WHERE level = ? AND idx = ?", key
        ).fetchone()
        if row is None:
            raise KeyError(key)
        value = bytes(row[0])
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = value
        return value

    def perfect(self, start: int, size: int) -> bytes:
        """Hash of the aligned perfect subtree [start, start + size)."""
        level = size.bit_length() - 1
        return self._node(level, start >> level)

    def append(self, leaves: Sequence[bytes]) -> None:
        """Add leaf hashes; stores every subtree they complete (same transaction)."""
        rows: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            index, level, value = self.size, 0, leaf
            rows.append((0, index, value))
            while index % 2 == 1:
                value = node_hash(self._frontier.pop(level), value)
                index >>= 1
                level += 1
                rows.append((level, index, value))
            self._frontier[level] = value
            self.size += 1
        self._con.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", rows)

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return EMPTY_ROOT if size == 0 else range_hash(0, size, self.perfect)

    def _source(self, start: int, size: int) -> bytes:
        return range_hash(start, size, self.perfect)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return inclusion_proof_from(index, size, self._source)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return consistency_proof_from(old, new, self._source)
