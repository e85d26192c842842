"""A witness: cosigns a checkpoint only if it extends the last one it cosigned.

C2SP tlog-witness semantics (``add-checkpoint``): the request carries the old
size, a consistency proof and the new checkpoint; errors carry the HTTP status
the specification names. The witness also remembers the root of every size it
cosigned, so two different signed checkpoints of one size (a split view) are
detected and kept as evidence.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confiance.errors import LedgerError, LedgerVerificationError
from confiance.ledger.checkpoint import Checkpoint, NoteVerifier, open_note, split_note
from confiance.ledger.cosignature import Cosigner
from confiance.ledger.merkle import EMPTY_ROOT, verify_consistency

MAX_PROOF_LINES = 63


class WitnessError(LedgerError):
    """A refusal; ``status`` is the HTTP status C2SP tlog-witness assigns to it."""

    def __init__(self, message: str, *, status: int, latest_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.latest_size = latest_size


def format_request(old: int, proof: Sequence[bytes], note: str) -> str:
    lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
    return "\n".join(lines) + "\n\n" + note


def parse_request(body: str) -> tuple[int, list[bytes], str]:
    head, sep, note = body.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise WitnessError("malformed add-checkpoint request", status=400)
    size_text = lines[0][4:]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise WitnessError("malformed old size", status=400)
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessError("too many consistency proof lines", status=400)
    try:
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except binascii.Error:
        raise WitnessError("malformed consistency proof line", status=400) from None
    return int(size_text), proof, note


@dataclass
class Witness:
    """One tenant's witness, with its state in a JSON file it alone writes."""

    cosigner: Cosigner
    state_path: Path
    logs: Mapping[str, Sequence[NoteVerifier]]

    def add_checkpoint(self, body: str) -> str:
        """Handle an ``add-checkpoint`` request body; returns cosignature lines."""
        old, proof, note = parse_request(body)
        return self.add(old=old, proof=proof, note=note)

    def add(self, *, old: int, proof: Sequence[bytes], note: str) -> str:
        text, _ = split_note(note)
        origin = text.split("\n", 1)[0]
        verifiers = self.logs.get(origin)
        if not verifiers:
            raise WitnessError(f"unknown log origin {origin!r}", status=404)
        try:
            open_note(note, list(verifiers))
        except LedgerError as exc:
            raise WitnessError(f"checkpoint not signed by the log: {exc}", status=403) from None
        checkpoint = Checkpoint.parse(text)
        if old > checkpoint.size:
            raise WitnessError(
                f"old size {old} exceeds checkpoint size {checkpoint.size}", status=400
            )
        if checkpoint.size == 0 and not checkpoint.matches(EMPTY_ROOT):
            raise WitnessError("a checkpoint of size 0 must have the empty root", status=422)
        with self._locked() as state:
            log = state.setdefault(origin, {"size": 0, "root": "", "seen": {}, "split_views": []})
            seen = log["seen"].get(str(checkpoint.size))
            if seen is not None and seen["root"] != base64.b64encode(checkpoint.root).decode():
                log["split_views"].append({"first": seen["note"], "second": note})
                self._save(state)
                raise WitnessError(
                    f"split view: a different checkpoint of size {checkpoint.size} was cosigned "
                    "before; both are kept as evidence",
                    status=422,
                )
            if old != log["size"]:
                raise WitnessError(
                    f"old size {old} is not the last cosigned size {log['size']}",
                    status=409,
                    latest_size=int(log["size"]),
                )
            if old == 0:
                if proof:
                    raise WitnessError("no proof is expected from size 0", status=422)
            else:
                try:
                    verify_consistency(
                        old=old,
                        new=checkpoint.size,
                        old_root=base64.b64decode(log["root"]),
                        new_root=checkpoint.root,
                        proof=proof,
                    )
                except LedgerVerificationError as exc:
                    raise WitnessError(
                        f"not consistent with the last cosigned checkpoint: {exc}", status=422
                    ) from None
            log["size"] = checkpoint.size
            log["root"] = base64.b64encode(checkpoint.root).decode()
            log["seen"][str(checkpoint.size)] = {"root": log["root"], "note": note}
            self._save(state)
        return self.cosigner.cosign(text)

    def split_views(self, origin: str) -> list[dict[str, str]]:
        with self._locked() as state:
            views: list[dict[str, str]] = state.get(origin, {}).get("split_views", [])
            return views

    def last_size(self, origin: str) -> int:
        with self._locked() as state:
            return int(state.get(origin, {}).get("size", 0))

    class _Lock:
        def __init__(self, witness: Witness) -> None:
            self.witness = witness

        def __enter__(self) -> dict[str, Any]:
            path = self.witness.state_path
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(path.with_suffix(".lock"), "w", encoding="utf-8")
            fcntl.flock(self.handle, fcntl.LOCK_EX)
            if path.exists():
                loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                return loaded
            return {}

        def __exit__(self, *exc: object) -> None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()

    def _locked(self) -> Witness._Lock:
        return Witness._Lock(self)

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self.state_path)
