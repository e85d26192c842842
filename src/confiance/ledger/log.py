"""The ledger itself: signed entries in an append-only file, checkpointed.

Each line of ``entries.jsonl`` is one entry in canonical JSON (RFC 8785),
signed by its actor. The leaf hash of an entry is the RFC 9162 leaf hash of
that exact line. After every append the operator signs a checkpoint of the new
tree, so verification can name the first entry that no longer matches.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from confiance.errors import LedgerError, LedgerVerificationError
from confiance.ledger.checkpoint import Checkpoint, NoteSigner, NoteVerifier, open_note, sign_note
from confiance.ledger.merkle import leaf_hash, root_hash

_SIG_DOMAIN = b"confiance-ledger-entry/1\n"
_ENTRIES = "entries.jsonl"
_CHECKPOINTS = "checkpoints"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Entry:
    """One ledger record: who did what, with digests and pseudonyms only."""

    index: int
    time: str
    kind: str
    actor: str
    body: Mapping[str, Any]
    signature: bytes

    def signed_part(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": self.time,
            "kind": self.kind,
            "actor": self.actor,
            "body": dict(self.body),
        }

    def line(self) -> bytes:
        document = self.signed_part() | {"sig": base64.b64encode(self.signature).decode()}
        encoded: bytes = rfc8785.dumps(document)
        return encoded


def _signing_bytes(part: Mapping[str, Any]) -> bytes:
    encoded: bytes = rfc8785.dumps(dict(part))
    return _SIG_DOMAIN + encoded


def _parse_line(raw: bytes, position: int) -> Entry:
    try:
        document = json.loads(raw)
        entry = Entry(
            index=int(document["index"]),
            time=str(document["time"]),
            kind=str(document["kind"]),
            actor=str(document["actor"]),
            body=dict(document["body"]),
            signature=base64.b64decode(document["sig"], validate=True),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise LedgerVerificationError(
            f"entry {position}: not a well-formed entry", index=position
        ) from None
    if entry.line() != raw:
        raise LedgerVerificationError(f"entry {position}: not in canonical form", index=position)
    if entry.index != position:
        raise LedgerVerificationError(
            f"entry {position}: records index {entry.index}", index=position
        )
    return entry


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    checkpoints: int
    size: int
    root: bytes


class Ledger:
    """Append-only, signed, checkpointed. One writer at a time (file lock)."""

    def __init__(
        self,
        directory: Path,
        *,
        origin: str,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.directory = directory
        self.origin = origin
        self._clock = clock

    @property
    def _entries_path(self) -> Path:
        return self.directory / _ENTRIES

    def create(self) -> None:
        """Make an empty ledger; refuses to touch an existing one."""
        if self._entries_path.exists():
            raise LedgerError(f"ledger {self.directory}: already exists")
        (self.directory / _CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        self._entries_path.touch()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._entries_path.exists():
            raise LedgerError(f"ledger {self.directory}: not found (run `confiance init`)")
        with open(self.directory / ".lock", "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _raw_lines(self) -> list[bytes]:
        data = self._entries_path.read_bytes()
        if data and not data.endswith(b"\n"):
            # A torn final line: report it as an entry that does not parse.
            return data.split(b"\n")
        return data.split(b"\n")[:-1] if data else []

    def append(
        self,
        *,
        kind: str,
        actor: str,
        body: Mapping[str, Any],
        signer: Ed25519PrivateKey,
        operator: NoteSigner,
    ) -> Entry:
        """Add one entry signed by ``signer`` and checkpoint the new tree."""
        with self._locked():
            lines = self._raw_lines()
            time = self._clock().astimezone(UTC).isoformat(timespec="microseconds")
            part = {
                "index": len(lines),
                "time": time,
                "kind": kind,
                "actor": actor,
                "body": dict(body),
            }
            entry = Entry(
                index=len(lines),
                time=time,
                kind=kind,
                actor=actor,
                body=dict(body),
                signature=signer.sign(_signing_bytes(part)),
            )
            line = entry.line()
            with open(self._entries_path, "ab") as handle:
                handle.write(line + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            leaves = [leaf_hash(raw) for raw in lines] + [leaf_hash(line)]
            self._write_checkpoint(
                Checkpoint(self.origin, len(leaves), root_hash(leaves)), operator
            )
            return entry

    def _write_checkpoint(self, checkpoint: Checkpoint, operator: NoteSigner) -> None:
        note = sign_note(checkpoint.text(), [operator])
        path = self.directory / _CHECKPOINTS / f"{checkpoint.size:012d}.note"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(note, encoding="utf-8")
        tmp.replace(path)

    def entries(self) -> list[Entry]:
        """Every entry, parsed (raises on the first malformed one)."""
        with self._locked():
            return [_parse_line(raw, i) for i, raw in enumerate(self._raw_lines())]

    def latest_checkpoint(self) -> str | None:
        notes = sorted((self.directory / _CHECKPOINTS).glob("*.note"))
        return notes[-1].read_text(encoding="utf-8") if notes else None

    def verify(
        self,
        *,
        actor_keys: Mapping[str, Ed25519PublicKey],
        operator: NoteVerifier,
    ) -> VerifyReport:
        """Check every entry's form and signature and every signed checkpoint.

        Raises :class:`LedgerVerificationError` naming the first bad entry.
        """
        with self._locked():
            lines = self._raw_lines()
        leaves = []
        for position, raw in enumerate(lines):
            entry = _parse_line(raw, position)
            key = actor_keys.get(entry.actor)
            if key is None:
                raise LedgerVerificationError(
                    f"entry {position}: unknown actor {entry.actor!r}", index=position
                )
            try:
                key.verify(entry.signature, _signing_bytes(entry.signed_part()))
            except InvalidSignature:
                raise LedgerVerificationError(
                    f"entry {position}: signature of {entry.actor} does not verify",
                    index=position,
                ) from None
            leaves.append(leaf_hash(raw))
        checkpoints = sorted((self.directory / _CHECKPOINTS).glob("*.note"))
        previous = 0
        root = root_hash(leaves)
        for path in checkpoints:
            try:
                text, _ = open_note(path.read_text(encoding="utf-8"), [operator])
                checkpoint = Checkpoint.parse(text)
            except LedgerError as exc:
                raise LedgerVerificationError(f"checkpoint {path.name}: {exc}") from None
            if checkpoint.origin != self.origin:
                raise LedgerVerificationError(f"checkpoint {path.name}: wrong origin")
            if checkpoint.size > len(leaves):
                raise LedgerVerificationError(
                    f"entry {len(leaves)}: missing — checkpoint signs {checkpoint.size} "
                    f"entries, the ledger holds {len(leaves)}",
                    index=len(leaves),
                )
            if not checkpoint.matches(root_hash(leaves[: checkpoint.size])):
                raise LedgerVerificationError(
                    f"entry {previous}: does not match the signed checkpoint of size "
                    f"{checkpoint.size}",
                    index=previous,
                )
            previous = checkpoint.size
        if leaves and previous != len(leaves):
            raise LedgerVerificationError(
                f"entry {previous}: not covered by any signed checkpoint", index=previous
            )
        return VerifyReport(len(leaves), len(checkpoints), len(leaves), root)
