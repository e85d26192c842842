"""Witnesses (C2SP tlog-witness semantics) and cosignatures (C2SP tlog-cosignature v1)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.conftest import VECTORS

from confiance.errors import LedgerError
from confiance.ledger import (
    CosignatureVerifier,
    Cosigner,
    Ledger,
    NoteSigner,
    NoteVerifier,
    Witness,
    WitnessError,
    verify_cosignatures,
)
from confiance.ledger.checkpoint import sign_note
from confiance.ledger.cosignature import cosignature_timestamp
from confiance.ledger.witness import format_request, parse_request

ORIGIN = "test.example/ledger"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Ledger, NoteSigner, Witness, CosignatureVerifier]:
    operator = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    ledger = Ledger(tmp_path / "ledger", origin=ORIGIN)
    ledger.create()
    cosigner = Cosigner("w1.example", Ed25519PrivateKey.generate(), clock=lambda: 1679315147)
    witness = Witness(
        cosigner=cosigner,
        state_path=tmp_path / "w1.json",
        logs={ORIGIN: [NoteVerifier(ORIGIN, operator.key.public_key())]},
    )
    return ledger, operator, witness, CosignatureVerifier("w1.example", cosigner.key.public_key())


def _grow(ledger: Ledger, operator: NoteSigner, n: int) -> None:
    key = Ed25519PrivateKey.generate()
    for i in range(n):
        ledger.record(kind="k", actor="a", body={"i": i}, signer=key, operator=operator)


def test_cosigns_only_consistent_extensions(setup: tuple) -> None:
    ledger, operator, witness, verifier = setup
    _grow(ledger, operator, 5)
    line = witness.add_checkpoint(format_request(0, [], ledger.checkpoint()))
    assert verify_cosignatures(ledger.checkpoint() + line, [verifier]) == {"w1.example": 1679315147}
    _grow(ledger, operator, 4)
    _, proof = ledger.consistency_proof(5, 9)
    line = witness.add(old=5, proof=proof, note=ledger.checkpoint())
    assert witness.last_size(ORIGIN) == 9
    with pytest.raises(WitnessError, match="not the last cosigned size 9") as info:
        witness.add(old=5, proof=proof, note=ledger.checkpoint())
    assert (info.value.status, info.value.latest_size) == (409, 9)


def test_refuses_an_inconsistent_checkpoint(setup: tuple, tmp_path: Path) -> None:
    ledger, operator, witness, _ = setup
    _grow(ledger, operator, 5)
    witness.add(old=0, proof=[], note=ledger.checkpoint())
    forked = Ledger(tmp_path / "fork", origin=ORIGIN)  # same operator key, rewritten history
    forked.create()
    _grow(forked, operator, 8)
    _, proof = forked.consistency_proof(5, 8)
    with pytest.raises(WitnessError, match="not consistent with the last cosigned") as info:
        witness.add(old=5, proof=proof, note=forked.checkpoint())
    assert info.value.status == 422
    assert witness.last_size(ORIGIN) == 5


def test_detects_and_keeps_a_split_view(setup: tuple, tmp_path: Path) -> None:
    ledger, operator, witness, _ = setup
    _grow(ledger, operator, 5)
    witness.add(old=0, proof=[], note=ledger.checkpoint())
    forked = Ledger(tmp_path / "fork", origin=ORIGIN)
    forked.create()
    _grow(forked, operator, 5)
    with pytest.raises(WitnessError, match="split view") as info:
        witness.add(old=5, proof=[], note=forked.checkpoint())
    assert info.value.status == 422
    (evidence,) = witness.split_views(ORIGIN)
    assert evidence == {"first": ledger.checkpoint(), "second": forked.checkpoint()}
    state = json.loads((tmp_path / "w1.json").read_text())
    assert state[ORIGIN]["split_views"]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("unknown origin", 404),
        ("unsigned", 403),
        ("old too big", 400),
        ("proof from zero", 422),
        ("bad empty root", 422),
        ("garbage", 400),
    ],
)
def test_refusals_carry_the_specified_status(setup: tuple, case: str, status: int) -> None:
    ledger, operator, witness, _ = setup
    _grow(ledger, operator, 3)
    note = ledger.checkpoint()
    body = format_request(0, [], note)
    if case == "unknown origin":
        body = format_request(
            0,
            [],
            sign_note(
                "other.example\n3\n" + note.split("\n")[2] + "\n",
                [NoteSigner("other.example", operator.key)],
            ),
        )
    elif case == "unsigned":
        body = format_request(
            0,
            [],
            sign_note(
                note.split("\n\n")[0] + "\n", [NoteSigner(ORIGIN, Ed25519PrivateKey.generate())]
            ),
        )
    elif case == "old too big":
        body = format_request(7, [], note)
    elif case == "proof from zero":
        body = format_request(0, [b"\x00" * 32], note)
    elif case == "bad empty root":
        body = format_request(
            0, [], sign_note(f"{ORIGIN}\n0\n{base64.b64encode(bytes(32)).decode()}\n", [operator])
        )
    elif case == "garbage":
        body = "hello"
    with pytest.raises(WitnessError) as info:
        witness.add_checkpoint(body)
    assert info.value.status == status


def test_request_format_round_trip() -> None:
    proof = [bytes(range(32)), bytes(32)]
    note = "o\n1\nAAAA\n\n— o x\n"
    assert parse_request(format_request(12, proof, note)) == (12, proof, note)
    with pytest.raises(WitnessError, match="malformed old size"):
        parse_request("old 012\n\n" + note)


def test_the_c2sp_cosignature_layout() -> None:
    # The C2SP example cosignature: key id, then the timestamp of its "time" line.
    examples = json.loads((VECTORS / "signed-note" / "signed-note-examples.json").read_text())
    cosigned = next(
        e
        for e in examples["format_examples_without_keys"]["examples"]
        if e["id"] == "c2sp-cosigned-checkpoint"
    )
    line = next(x for x in cosigned["note"].splitlines() if x.startswith("— witness.example.com"))
    blob = base64.b64decode(line.split(" ")[2])
    assert cosignature_timestamp(blob) == 1679315147


def test_cosigner_keys_and_bad_cosignatures() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = CosignatureVerifier("w.example", key.public_key())
    assert CosignatureVerifier.from_vkey(verifier.vkey()) == verifier
    note = f"{ORIGIN}\n1\n{base64.b64encode(bytes(32)).decode()}\n\n— {ORIGIN} AAAAAAA=\n"
    line = Cosigner("w.example", key).cosign(note.split("\n\n", maxsplit=1)[0] + "\n")
    forged = line[:-10] + ("A" if line[-10] != "A" else "B") + line[-9:]
    with pytest.raises(LedgerError, match=r"invalid cosignature by w\.example"):
        verify_cosignatures(note + forged, [verifier])
    with pytest.raises(LedgerError, match=r"cosignature/v1 key is not of type 0x04"):
        CosignatureVerifier.from_vkey(NoteVerifier("w.example", key.public_key()).vkey())
