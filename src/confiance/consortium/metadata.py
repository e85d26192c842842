"""SQLite metadata of the embedded default: datasets, signatures, runs, results.

Holds identifiers of objects and ciphertexts only: never a plaintext, a key
or a personal identifier.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, source TEXT NOT NULL, day TEXT NOT NULL,
    rows INTEGER NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
    manifest_digest TEXT NOT NULL, wrapped_dek BLOB NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, source TEXT NOT NULL,
    lines INTEGER NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signatures (
    contract TEXT NOT NULL, digest TEXT NOT NULL, tenant TEXT NOT NULL,
    signature BLOB NOT NULL, PRIMARY KEY (contract, digest, tenant)
);
CREATE TABLE IF NOT EXISTS revocations (
    contract TEXT NOT NULL, digest TEXT NOT NULL, tenant TEXT NOT NULL,
    signature BLOB NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (contract, digest, tenant)
);
CREATE TABLE IF NOT EXISTS scrubs (
    time TEXT NOT NULL, action TEXT NOT NULL, objects INTEGER NOT NULL,
    missing INTEGER NOT NULL, corrupt INTEGER NOT NULL, unreachable INTEGER NOT NULL,
    repaired INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS node_scrubs (
    node TEXT PRIMARY KEY, time TEXT NOT NULL, fragments INTEGER NOT NULL, bad INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, contract TEXT NOT NULL, started TEXT NOT NULL, status TEXT NOT NULL,
    attestation TEXT, measurement TEXT, events INTEGER, findings INTEGER, reason TEXT
);
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL, recipient TEXT NOT NULL, result TEXT NOT NULL, detector TEXT NOT NULL,
    ciphertext BLOB NOT NULL, PRIMARY KEY (run, recipient, result)
);
-- the protection-of-minors review queue (consortium.safeguarding)
CREATE TABLE IF NOT EXISTS reviews (
    contract TEXT NOT NULL, run TEXT NOT NULL, recipient TEXT NOT NULL, result TEXT NOT NULL,
    status TEXT NOT NULL, reviewer TEXT, decided TEXT,
    PRIMARY KEY (contract, run, recipient, result)
);
CREATE TABLE IF NOT EXISTS suppressions (
    tenant TEXT NOT NULL, pattern TEXT NOT NULL, by TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (tenant, pattern)
);
"""


class Metadata:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path)
        try:
            with con:
                yield con
        finally:
            con.close()

    def create(self) -> None:
        with self.connect() as con:
            con.executescript(_SCHEMA)
