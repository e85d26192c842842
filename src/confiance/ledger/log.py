"""The ledger: signed entries in append-only SQLite, with signed checkpoints.

An entry is a statement ``{actor, body, id, kind, time}`` signed by its actor
(Ed25519, over RFC 8785 canonical JSON with a domain prefix); its position in
the log is its index. The leaf hash of an entry is the RFC 9162 leaf hash of
its canonical line. Every append (one entry or a batch) ends with a C2SP
checkpoint signed by the log operator, to which witnesses add cosignatures.

An actor that writes many statements at once (an agent shipping batches) may
sign them as a *batch*: one Ed25519 signature over the RFC 9162 root of the
batch's statements. Each entry then carries that signature, the root and its
own inclusion path within the batch, so it is still checkable on its own (a
receipt needs nothing more), while the log verifies one signature per batch.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from confiance.errors import LedgerError, LedgerVerificationError
from confiance.ledger.checkpoint import Checkpoint, NoteSigner, NoteVerifier, open_note, sign_note
from confiance.ledger.cosignature import CosignatureVerifier, verify_cosignatures
from confiance.ledger.merkle import (
    EMPTY_ROOT,
    inclusion_proofs,
    leaf_hash,
    node_hash,
    path_in,
    tree_levels,
    verify_consistency,
    verify_inclusion,
)
from confiance.ledger.timestamp import verify_timestamp
from confiance.ledger.tree import SCHEMA as TREE_SCHEMA
from confiance.ledger.tree import TreeStore

_SIG_DOMAIN = b"confiance-ledger-entry/1\n"
_BATCH_DOMAIN = b"confiance-ledger-batch/1\n"
_MAX_BATCH = 1 << 20
_DB = "ledger.sqlite"
_CHUNK = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TRIGGER IF NOT EXISTS entries_append_only_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_append_only_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS timestamps (size INTEGER PRIMARY KEY, token BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_SAFE_INT = 2**53 - 1


def _plain(document: Any) -> bool:
    """True when orjson writes exactly RFC 8785's bytes for ``document``.

    That holds for ASCII member names (RFC 8785 sorts names by UTF-16 code
    units; for ASCII that is byte order, orjson's), strings, integers within
    ±(2^53 − 1), booleans and null, nested in objects and arrays: string
    escaping is the same (a test compares with ``rfc8785`` on generated
    documents), and no number needs ES6 formatting. Exact types only, so no
    subclass with its own serialisation slips through.
    """
    kind = type(document)
    if kind is str or kind is bool or document is None:
        return True
    if kind is int:
        return bool(-_SAFE_INT <= document <= _SAFE_INT)
    if kind is dict:
        for name, value in document.items():
            if type(name) is not str or not name.isascii():
                return False
            kind = type(value)
            if kind is str:
                continue
            if kind is int:
                if -_SAFE_INT <= value <= _SAFE_INT:
                    continue
                return False
            if not _plain(value):
                return False
        return True
    if kind is list or kind is tuple:
        return all(map(_plain, document))
    return False


def canonical_json(document: Any) -> bytes:
    """RFC 8785 canonical JSON; orjson writes it when that is exact (8x faster)."""
    try:
        if _plain(document):
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, RecursionError):
        pass  # a lone surrogate or nesting too deep: let rfc8785 decide
    try:
        encoded: bytes = rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, RecursionError) as exc:
        # e.g. an integer beyond ±(2^53 − 1), which JSON cannot carry exactly
        raise LedgerError(f"entry body cannot be canonicalised (RFC 8785): {exc}") from None
    return encoded


def _raw(value: bytes | str | memoryview) -> bytes:
    """Stored entry bytes (a tampered row may come back as TEXT)."""
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


@functools.lru_cache(maxsize=4096)
def _b64(value: bytes) -> bytes:
    """Base64 of a hash or signature; a batch's entries share most of theirs."""
    return binascii.b2a_base64(value, newline=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BatchProof:
    """Where an entry sits in the batch its actor signed as a whole."""

    position: int
    size: int
    root: bytes
    path: tuple[bytes, ...]

    def message(self) -> bytes:
        """What the actor signed: the batch's size and Merkle root."""
        return _BATCH_DOMAIN + self.size.to_bytes(8, "big") + self.root

    def member(self) -> bytes:
        """Canonical JSON of the entry's ``batch`` member (keys in RFC 8785 order)."""
        path = b'","'.join(map(_b64, self.path))
        return b"".join(
            (
                b'{"path":["' + path + b'"]' if self.path else b'{"path":[]',
                b',"position":%d,"root":"' % self.position,
                _b64(self.root),
                b'","size":%d}' % self.size,
            )
        )

    @classmethod
    def parse(cls, document: Any) -> BatchProof:
        if not isinstance(document, dict) or set(document) != {"path", "position", "root", "size"}:
            raise ValueError("batch")
        position, size = document["position"], document["size"]
        if not (type(position) is int and type(size) is int):
            raise ValueError("batch")
        if not 0 <= position < size <= _MAX_BATCH:
            raise ValueError("batch")
        return cls(
            position,
            size,
            base64.b64decode(document["root"], validate=True),
            tuple(base64.b64decode(p, validate=True) for p in document["path"]),
        )


@dataclass(frozen=True)
class Entry:
    """One signed ledger statement: who did what, with digests and pseudonyms only."""

    id: str
    time: str
    kind: str
    actor: str
    body: Mapping[str, Any]
    signature: bytes
    index: int | None = field(default=None, compare=False)
    #: set when the actor signed the entry as part of a batch
    batch: BatchProof | None = None

    def statement(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "body": dict(self.body),
            "id": self.id,
            "kind": self.kind,
            "time": self.time,
        }

    def signed_bytes(self) -> bytes:
        return _SIG_DOMAIN + canonical_json(self.statement())

    def line(self) -> bytes:
        """Canonical JSON of the statement with its ``sig`` member.

        Top-level keys are fixed, so ``sig`` sorts just before ``time``, the last
        member: the line is the signed statement with ``sig`` spliced in (one
        canonicalisation per entry instead of two; a test checks it equals
        ``rfc8785.dumps`` of the whole entry).
        """
        return self._line(self.signed_bytes())

    def _line(self, signed: bytes) -> bytes:
        statement = memoryview(signed)[len(_SIG_DOMAIN) :]
        time = signed.rindex(b',"time":') - len(_SIG_DOMAIN)
        sig = (b',"sig":"', _b64(self.signature), b'"')
        if self.batch is None:
            return b"".join((statement[:time], *sig, statement[time:]))
        # "batch" sorts right after "actor", the first member; an actor name
        # cannot hold an unescaped quote, so the first ',"body":' is the boundary
        body = signed.index(b',"body":') - len(_SIG_DOMAIN)
        return b"".join(
            (
                statement[:body],
                b',"batch":',
                self.batch.member(),
                statement[body:time],
                *sig,
                statement[time:],
            )
        )

    def leaf(self) -> bytes:
        return leaf_hash(self.line())

    def verify(
        self, key: Ed25519PublicKey, *, verified: set[tuple[str, bytes, bytes]] | None = None
    ) -> None:
        """Raise unless the actor's key signed this entry (alone, or its batch).

        ``verified`` caches the batch signatures already checked, so a log
        verifies one signature per batch rather than one per entry.
        """
        self.check_signature(key, self.signed_bytes(), verified=verified)

    def check_signature(
        self,
        key: Ed25519PublicKey,
        signed: bytes,
        *,
        verified: set[tuple[str, bytes, bytes]] | None = None,
        path_checked: bool = False,
    ) -> None:
        """:meth:`verify` with the entry's signed bytes already computed.

        ``path_checked`` says the caller already proved the entry's batch path
        (see :func:`_check_whole_batches`).
        """
        message = signed
        if self.batch is not None and not path_checked:
            try:
                verify_inclusion(
                    index=self.batch.position,
                    size=self.batch.size,
                    leaf=leaf_hash(signed),
                    proof=self.batch.path,
                    root=self.batch.root,
                )
            except LedgerVerificationError:
                raise LedgerVerificationError(
                    f"entry {self.index}: not in the batch {self.actor} signed", index=self.index
                ) from None
        if self.batch is not None:
            message = self.batch.message()
            cached = (self.actor, message, self.signature)
            if verified is not None and cached in verified:
                return
        try:
            key.verify(self.signature, message)
        except InvalidSignature:
            raise LedgerVerificationError(
                f"entry {self.index}: signature of {self.actor} does not verify", index=self.index
            ) from None
        if self.batch is not None and verified is not None:
            verified.add((self.actor, message, self.signature))

    @classmethod
    def sign(
        cls,
        *,
        kind: str,
        actor: str,
        body: Mapping[str, Any],
        key: Ed25519PrivateKey,
        clock: Callable[[], datetime] = _utcnow,
    ) -> Entry:
        """An actor's signed statement, ready to be appended."""
        unsigned = cls(
            id=uuid.uuid4().hex,
            time=clock().astimezone(UTC).isoformat(timespec="microseconds"),
            kind=kind,
            actor=actor,
            body=dict(body),
            signature=b"",
        )
        return cls(
            unsigned.id,
            unsigned.time,
            kind,
            actor,
            unsigned.body,
            key.sign(unsigned.signed_bytes()),
        )

    @classmethod
    def sign_batch(
        cls,
        statements: Sequence[tuple[str, str, Mapping[str, Any]]],
        *,
        key: Ed25519PrivateKey,
        clock: Callable[[], datetime] = _utcnow,
    ) -> list[Entry]:
        """Sign many ``(kind, actor, body)`` statements of one actor with one signature."""
        if not statements:
            raise LedgerError("an empty batch cannot be signed")
        if len(statements) > _MAX_BATCH:
            raise LedgerError(f"a batch holds at most {_MAX_BATCH} statements")
        if len({actor for _, actor, _ in statements}) != 1:
            raise LedgerError("a batch is signed by one actor")
        time = clock().astimezone(UTC).isoformat(timespec="microseconds")
        unsigned = [
            cls(uuid.uuid4().hex, time, kind, actor, dict(body), b"")
            for kind, actor, body in statements
        ]
        root, paths = inclusion_proofs([leaf_hash(e.signed_bytes()) for e in unsigned])
        size = len(unsigned)
        signature = key.sign(BatchProof(0, size, root, ()).message())
        return [
            cls(
                e.id,
                e.time,
                e.kind,
                e.actor,
                e.body,
                signature,
                batch=BatchProof(i, size, root, tuple(paths[i])),
            )
            for i, e in enumerate(unsigned)
        ]

    @classmethod
    def parse(cls, raw: bytes, index: int) -> Entry:
        """Parse a stored line; it must be canonical, or it was altered."""
        try:
            document = json.loads(raw)
            entry = cls(
                id=str(document["id"]),
                time=str(document["time"]),
                kind=str(document["kind"]),
                actor=str(document["actor"]),
                body=dict(document["body"]),
                signature=base64.b64decode(document["sig"], validate=True),
                index=index,
                batch=BatchProof.parse(document["batch"]) if "batch" in document else None,
            )
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise LedgerVerificationError(
                f"entry {index}: not a well-formed entry", index=index
            ) from None
        members = {"actor", "body", "id", "kind", "sig", "time"}
        if entry.batch is not None:
            members.add("batch")
        if entry.line() != raw or set(document) != members:
            raise LedgerVerificationError(f"entry {index}: not in canonical form", index=index)
        return entry


def _check_whole_batches(entries: Sequence[Entry], signed: Sequence[bytes]) -> set[int]:
    """Positions (in ``entries``) of entries whose batch path is proven, batch by batch.

    When every entry of a signed batch is present, the batch tree is rebuilt
    once from their statements and each entry's path compared with it: n
    hashes for the batch instead of n log n. Entries of incomplete batches,
    or whose path differs, are left to the per-entry check (which refuses a
    wrong path).
    """
    groups: dict[tuple[str, bytes, int, bytes], dict[int, int]] = {}
    for position, entry in enumerate(entries):
        if entry.batch is not None:
            key = (entry.actor, entry.batch.root, entry.batch.size, entry.signature)
            groups.setdefault(key, {})[entry.batch.position] = position
    checked: set[int] = set()
    for (_, root, size, _), members in groups.items():
        if len(members) != size:
            continue
        order = [members[i] for i in range(size)]
        levels = tree_levels([leaf_hash(signed[p]) for p in order])
        if not hmac.compare_digest(levels[-1][0], root):
            continue
        for at, position in enumerate(order):
            batch = entries[position].batch
            assert batch is not None
            if batch.path == tuple(path_in(levels, at)):
                checked.add(position)
    return checked


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    checkpoints: int
    root: bytes
    cosigned_by: tuple[str, ...] = ()
    final: bool | None = None
    timestamps: int = 0


class Ledger:
    """Append-only, signed, checkpointed; SQLite serialises writers."""

    def __init__(self, directory: Path, *, origin: str) -> None:
        self.directory = directory
        self.origin = origin

    @property
    def path(self) -> Path:
        return self.directory / _DB

    def create(self) -> None:
        """Make an empty ledger; refuses to touch an existing one."""
        if self.path.exists():
            raise LedgerError(f"ledger {self.directory}: already exists")
        self.directory.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path)
        try:
            with con:
                con.executescript(_SCHEMA + TREE_SCHEMA)
                con.execute("INSERT INTO settings VALUES ('origin', ?)", (self.origin,))
        finally:
            con.close()

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            raise LedgerError(f"ledger {self.directory}: not found (run `confiance init`)")
        con = sqlite3.connect(self.path, isolation_level=None)
        try:
            if write:
                con.execute("BEGIN IMMEDIATE")
            yield con
            if write:
                con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if write and con.in_transaction:
                con.execute("ROLLBACK")
            raise LedgerError(f"ledger {self.directory}: store unreadable ({exc})") from None
        except BaseException:
            if write and con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    # -- writing ---------------------------------------------------------
    def append(
        self,
        entries: Sequence[Entry],
        *,
        actor_keys: Mapping[str, Ed25519PublicKey],
        operator: NoteSigner,
    ) -> list[int]:
        """Verify each actor's signature, append the batch, sign one checkpoint."""
        if not entries:
            raise LedgerError("nothing to append")
        verified: set[tuple[str, bytes, bytes]] = set()
        signed = [entry.signed_bytes() for entry in entries]
        checked = _check_whole_batches(entries, signed)
        lines = []
        for position, entry in enumerate(entries):
            key = actor_keys.get(entry.actor)
            if key is None:
                raise LedgerError(f"entry by unknown actor {entry.actor!r} refused")
            try:
                entry.check_signature(
                    key, signed[position], verified=verified, path_checked=position in checked
                )
            except LedgerVerificationError:
                raise LedgerError(f"entry by {entry.actor}: signature does not verify") from None
            lines.append(entry._line(signed[position]))
        with self._connect(write=True) as con:
            tree = TreeStore(con)
            first = tree.size
            con.executemany(
                "INSERT INTO entries (idx, data) VALUES (?, ?)",
                [(first + i, line) for i, line in enumerate(lines)],
            )
            tree.append([leaf_hash(line) for line in lines])
            checkpoint = Checkpoint(self.origin, tree.size, tree.root())
            con.execute(
                "INSERT INTO checkpoints (size, note) VALUES (?, ?)",
                (tree.size, sign_note(checkpoint.text(), [operator])),
            )
        return list(range(first, first + len(entries)))

    def record(
        self,
        *,
        kind: str,
        actor: str,
        body: Mapping[str, Any],
        signer: Ed25519PrivateKey,
        operator: NoteSigner,
    ) -> Entry:
        """Sign and append one statement (the actor and the log in one process)."""
        entry = Entry.sign(kind=kind, actor=actor, body=body, key=signer)
        (index,) = self.append([entry], actor_keys={actor: signer.public_key()}, operator=operator)
        return Entry(
            entry.id, entry.time, entry.kind, entry.actor, entry.body, entry.signature, index
        )

    def add_cosignatures(self, size: int, lines: str) -> None:
        """Attach cosignature lines (already verified by the caller) to a checkpoint."""
        with self._connect(write=True) as con:
            row = con.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
            if row is None:
                raise LedgerError(f"no checkpoint of size {size}")
            note = str(row[0])
            new = "".join(line + "\n" for line in lines.splitlines() if line not in note)
            con.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (note + new, size))

    def add_timestamp(self, size: int, token: bytes) -> None:
        with self._connect(write=True) as con:
            con.execute("INSERT OR REPLACE INTO timestamps VALUES (?, ?)", (size, token))

    # -- reading ---------------------------------------------------------
    @property
    def size(self) -> int:
        with self._connect() as con:
            return TreeStore(con).size

    def entry(self, index: int) -> Entry:
        with self._connect() as con:
            row = con.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise LedgerError(f"no entry {index}")
        return Entry.parse(_raw(row[0]), index)

    def entries(self, start: int = 0) -> list[Entry]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT idx, data FROM entries WHERE idx >= ? ORDER BY idx", (start,)
            ).fetchall()
        return [Entry.parse(_raw(data), int(idx)) for idx, data in rows]

    def checkpoint(self, size: int | None = None) -> str:
        """The signed checkpoint note of ``size`` (latest by default), cosignatures included."""
        with self._connect() as con:
            if size is None:
                row = con.execute(
                    "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1"
                ).fetchone()
            else:
                row = con.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
        if row is None:
            raise LedgerError(
                "no checkpoint yet" if size is None else f"no checkpoint of size {size}"
            )
        return str(row[0])

    def checkpoints(self, *, min_size: int = 0) -> list[str]:
        """Signed checkpoint notes of at least ``min_size`` entries, newest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT note FROM checkpoints WHERE size >= ? ORDER BY size DESC", (min_size,)
            ).fetchall()
        return [str(row[0]) for row in rows]

    def timestamp(self, size: int) -> bytes | None:
        with self._connect() as con:
            row = con.execute("SELECT token FROM timestamps WHERE size = ?", (size,)).fetchone()
        return None if row is None else bytes(row[0])

    @staticmethod
    def _tree_of(con: sqlite3.Connection, size: int | None) -> tuple[TreeStore, int]:
        """The stored tree and a size it holds (its own size by default)."""
        tree = TreeStore(con)
        size = tree.size if size is None else size
        if size > tree.size:
            raise LedgerError(f"the ledger holds {tree.size} entries, not {size}")
        return tree, size

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[int, list[bytes]]:
        with self._connect() as con:
            tree, size = self._tree_of(con, size)
            return size, tree.inclusion(index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> tuple[int, list[bytes]]:
        with self._connect() as con:
            tree, new = self._tree_of(con, new)
            return new, tree.consistency(old, new)

    def root(self, size: int | None = None) -> bytes:
        with self._connect() as con:
            return TreeStore(con).root(size)

    # -- verification ----------------------------------------------------
    def verify(
        self,
        *,
        actor_keys: Mapping[str, Ed25519PublicKey],
        operator: NoteVerifier,
        witnesses: Sequence[CosignatureVerifier] = (),
        threshold: int = 0,
        tsa_roots: Sequence[x509.Certificate] = (),
    ) -> VerifyReport:
        """Check every entry, the stored tree, every signed checkpoint and time-stamp.

        Raises :class:`LedgerVerificationError` naming the first bad entry.
        """
        checkpoints = self._signed_checkpoints(operator)
        sizes = iter(sorted(checkpoints))
        next_size = next(sizes, None)
        frontier: list[tuple[int, bytes]] = []  # (subtree size, hash): compact range
        verified: set[tuple[str, bytes, bytes]] = set()
        previous = 0
        count = 0
        with self._connect() as con:
            cursor = con.execute("SELECT idx, data FROM entries ORDER BY idx")
            while rows := cursor.fetchmany(_CHUNK):
                leaves = []
                for idx, data in rows:
                    if idx != count:
                        raise LedgerVerificationError(f"entry {count}: missing", index=count)
                    entry = Entry.parse(_raw(data), count)
                    key = actor_keys.get(entry.actor)
                    if key is None:
                        raise LedgerVerificationError(
                            f"entry {count}: unknown actor {entry.actor!r}", index=count
                        )
                    entry.verify(key, verified=verified)
                    leaf = leaf_hash(_raw(data))
                    leaves.append(leaf)
                    _push(frontier, leaf)
                    count += 1
                    while next_size is not None and next_size == count:
                        if not checkpoints[next_size].matches(_fold(frontier)):
                            raise LedgerVerificationError(
                                f"entry {previous}: does not match the signed checkpoint of "
                                f"size {next_size}",
                                index=previous,
                            )
                        previous, next_size = next_size, next(sizes, None)
                self._check_stored_leaves(con, rows[0][0], leaves)
            self._check_stored_levels(con, count)
        if next_size is not None:
            raise LedgerVerificationError(
                f"entry {count}: missing — a checkpoint signs {next_size} entries, the ledger "
                f"holds {count}",
                index=count,
            )
        if count and previous != count:
            raise LedgerVerificationError(
                f"entry {previous}: not covered by any signed checkpoint", index=previous
            )
        cosigned: tuple[str, ...] = ()
        final = None
        if count and witnesses:
            try:
                cosigned = tuple(
                    sorted(verify_cosignatures(self.checkpoint(count), list(witnesses)))
                )
            except LedgerError as exc:
                raise LedgerVerificationError(f"checkpoint of size {count}: {exc}") from None
            final = len(cosigned) >= threshold
        stamped = self._check_timestamps(checkpoints, tsa_roots)
        root = _fold(frontier) if frontier else EMPTY_ROOT
        return VerifyReport(count, len(checkpoints), root, cosigned, final, stamped)

    def _check_timestamps(
        self, checkpoints: Mapping[int, Checkpoint], roots: Sequence[x509.Certificate]
    ) -> int:
        with self._connect() as con:
            rows = con.execute("SELECT size, token FROM timestamps ORDER BY size").fetchall()
        for size, token in rows:
            checkpoint = checkpoints.get(int(size))
            if checkpoint is None:
                raise LedgerVerificationError(f"time-stamp of size {size}: no such checkpoint")
            try:
                verify_timestamp(_raw(token), checkpoint.text().encode(), roots=roots)
            except LedgerError as exc:
                raise LedgerVerificationError(f"checkpoint of size {size}: {exc}") from None
        return len(rows)

    def _signed_checkpoints(self, operator: NoteVerifier) -> dict[int, Checkpoint]:
        with self._connect() as con:
            rows = con.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()
        checkpoints = {}
        for size, note in rows:
            try:
                text, _ = open_note(str(note), [operator])
                checkpoint = Checkpoint.parse(text)
            except LedgerError as exc:
                raise LedgerVerificationError(f"checkpoint of size {size}: {exc}") from None
            if checkpoint.origin != self.origin or checkpoint.size != size:
                raise LedgerVerificationError(f"checkpoint of size {size}: wrong origin or size")
            checkpoints[size] = checkpoint
        return checkpoints

    @staticmethod
    def _check_stored_leaves(con: sqlite3.Connection, first: int, leaves: list[bytes]) -> None:
        stored = con.execute(
            "SELECT idx, hash FROM nodes WHERE level = 0 AND idx >= ? AND idx < ? ORDER BY idx",
            (first, first + len(leaves)),
        ).fetchall()
        for offset, leaf in enumerate(leaves):
            if offset >= len(stored) or bytes(stored[offset][1]) != leaf:
                index = first + offset
                raise LedgerVerificationError(
                    f"entry {index}: the stored tree does not hold its leaf hash", index=index
                )

    @staticmethod
    def _check_stored_levels(con: sqlite3.Connection, size: int) -> None:
        level = 1
        while size >> level:
            cursor = con.execute(
                "SELECT c.idx, c.hash, l.hash, r.hash FROM nodes c "
                "LEFT JOIN nodes l ON l.level = c.level - 1 AND l.idx = 2 * c.idx "
                "LEFT JOIN nodes r ON r.level = c.level - 1 AND r.idx = 2 * c.idx + 1 "
                "WHERE c.level = ? ORDER BY c.idx",
                (level,),
            )
            expected = 0
            while rows := cursor.fetchmany(_CHUNK):
                for idx, parent, left, right in rows:
                    if (
                        idx != expected
                        or left is None
                        or right is None
                        or bytes(parent) != (node_hash(bytes(left), bytes(right)))
                    ):
                        index = int(idx) << level
                        raise LedgerVerificationError(
                            f"entry {index}: stored tree node ({level}, {idx}) is wrong",
                            index=index,
                        )
                    expected += 1
            if expected != size >> level:
                raise LedgerVerificationError(f"stored tree level {level} is incomplete")
            level += 1

    def verify_against(self, saved_note: str, *, operator: NoteVerifier) -> Checkpoint:
        """Prove that nothing before a checkpoint saved earlier has changed.

        Checks the saved checkpoint's signature, detects a split view (another
        checkpoint of the same size), then verifies a consistency proof from
        the saved tree to the current signed tree.
        """
        text, _ = open_note(saved_note, [operator])
        saved = Checkpoint.parse(text)
        if saved.origin != self.origin:
            raise LedgerVerificationError("the saved checkpoint is of another log")
        current = Checkpoint.parse(open_note(self.checkpoint(), [operator])[0])
        with self._connect() as con:
            row = con.execute(
                "SELECT note FROM checkpoints WHERE size = ?", (saved.size,)
            ).fetchone()
        if row is not None:
            stored = Checkpoint.parse(open_note(str(row[0]), [operator])[0])
            if not stored.matches(saved.root):
                raise SplitViewError(saved_note, str(row[0]))
        if saved.size > current.size:
            raise LedgerVerificationError(
                f"entry {current.size}: missing — the saved checkpoint has {saved.size} entries",
                index=current.size,
            )
        _, proof = self.consistency_proof(saved.size, current.size)
        if saved.size == 0:
            return saved
        try:
            verify_consistency(
                old=saved.size,
                new=current.size,
                old_root=saved.root,
                new_root=current.root,
                proof=proof,
            )
        except LedgerVerificationError:
            raise LedgerVerificationError(
                f"the ledger is not an extension of the saved checkpoint of size {saved.size}: "
                "entries before it were changed"
            ) from None
        return saved


class SplitViewError(LedgerVerificationError):
    """Two different checkpoints of the same size signed by the log: proof of misbehaviour."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__("split view: two different signed checkpoints of the same size")
        self.evidence = (first, second)


def _push(frontier: list[tuple[int, bytes]], leaf: bytes) -> None:
    """Add a leaf to a compact range (perfect subtrees, largest first)."""
    size, value = 1, leaf
    while frontier and frontier[-1][0] == size:
        _, left = frontier.pop()
        value = node_hash(left, value)
        size *= 2
    frontier.append((size, value))


def _fold(frontier: list[tuple[int, bytes]]) -> bytes:
    """Root of the tree whose compact range is ``frontier``."""
    value = frontier[-1][1]
    for _, left in reversed(frontier[:-1]):
        value = node_hash(left, value)
    return value
