"""The ledger file: append, verify, and every kind of tampering named."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confiance.errors import LedgerError, LedgerVerificationError
from confiance.ledger import Ledger, NoteSigner, NoteVerifier

ORIGIN = "test.example/ledger"


@pytest.fixture
def parties() -> dict[str, Ed25519PrivateKey]:
    return {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "op")}


def _ledger(tmp_path: Path, parties: dict[str, Ed25519PrivateKey], n: int = 6) -> Ledger:
    ledger = Ledger(tmp_path / "ledger", origin=ORIGIN)
    ledger.create()
    operator = NoteSigner(ORIGIN, parties["op"])
    for i in range(n):
        actor = "alice" if i % 2 else "bob"
        ledger.append(
            kind="test", actor=actor, body={"i": i}, signer=parties[actor], operator=operator
        )
    return ledger


def _verify(ledger: Ledger, parties: dict[str, Ed25519PrivateKey]) -> None:
    ledger.verify(
        actor_keys={k: v.public_key() for k, v in parties.items()},
        operator=NoteVerifier(ORIGIN, parties["op"].public_key()),
    )


def _lines(ledger: Ledger) -> list[bytes]:
    return (ledger.directory / "entries.jsonl").read_bytes().split(b"\n")[:-1]


def _write(ledger: Ledger, lines: list[bytes]) -> None:
    (ledger.directory / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def test_a_fresh_ledger_verifies(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _verify(ledger, parties)
    assert [e.index for e in ledger.entries()] == list(range(6))
    with pytest.raises(LedgerError, match="already exists"):
        ledger.create()


def test_modified_entry_is_named(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    lines = _lines(ledger)
    lines[3] = lines[3].replace(b'"i":3', b'"i":9')
    _write(ledger, lines)
    with pytest.raises(LedgerVerificationError, match="entry 3: signature of alice"):
        _verify(ledger, parties)


def test_deleted_entry_is_named(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    lines = _lines(ledger)
    del lines[2]
    _write(ledger, lines)
    with pytest.raises(LedgerVerificationError, match="entry 2: records index 3"):
        _verify(ledger, parties)


def test_reordered_entries_are_named(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    lines = _lines(ledger)
    lines[1], lines[4] = lines[4], lines[1]
    _write(ledger, lines)
    with pytest.raises(LedgerVerificationError, match="entry 1:"):
        _verify(ledger, parties)


def test_truncation_is_detected_by_the_checkpoints(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    _write(ledger, _lines(ledger)[:4])
    with pytest.raises(LedgerVerificationError, match="entry 4: missing") as info:
        _verify(ledger, parties)
    assert info.value.index == 4


def test_a_forged_entry_with_a_valid_signature_but_no_checkpoint(
    tmp_path: Path, parties: dict
) -> None:
    ledger = _ledger(tmp_path, parties)
    other = _ledger(tmp_path / "other", parties, n=7)
    _write(ledger, [*_lines(ledger), _lines(other)[6]])
    with pytest.raises(LedgerVerificationError, match="entry 6: not covered"):
        _verify(ledger, parties)


def test_a_substituted_signed_entry_breaks_the_checkpoint(tmp_path: Path, parties: dict) -> None:
    # An actor re-signs a different entry at the same index: only the tree shows it.
    ledger = _ledger(tmp_path, parties)
    other = Ledger(tmp_path / "other", origin=ORIGIN)
    other.create()
    operator = NoteSigner(ORIGIN, parties["op"])
    for i in range(3):
        other.append(
            kind="test",
            actor="alice" if i % 2 else "bob",
            body={"i": i if i != 2 else 99},
            signer=parties["alice" if i % 2 else "bob"],
            operator=operator,
        )
    lines = _lines(ledger)
    lines[2] = _lines(other)[2]
    _write(ledger, lines)
    with pytest.raises(LedgerVerificationError, match="entry 2: does not match the signed"):
        _verify(ledger, parties)


def test_unknown_actor_and_forged_checkpoint(tmp_path: Path, parties: dict) -> None:
    ledger = _ledger(tmp_path, parties)
    with pytest.raises(LedgerVerificationError, match="unknown actor"):
        ledger.verify(
            actor_keys={"alice": parties["alice"].public_key()},
            operator=NoteVerifier(ORIGIN, parties["op"].public_key()),
        )
    with pytest.raises(LedgerVerificationError, match="checkpoint"):
        ledger.verify(
            actor_keys={k: v.public_key() for k, v in parties.items()},
            operator=NoteVerifier(ORIGIN, Ed25519PrivateKey.generate().public_key()),
        )
