"""Receipts: one entry, checkable offline with public keys only."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from confiance.errors import LedgerVerificationError
from confiance.ledger import (
    CosignatureVerifier,
    Cosigner,
    Entry,
    Ledger,
    NoteSigner,
    NoteVerifier,
    Trust,
    Witness,
    export_receipt,
    verify_receipt,
)
from confiance.ledger.receipt import from_compact, load_receipt, to_compact

ORIGIN = "test.example/ledger"


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Ledger, Trust, NoteSigner]:
    operator = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    actor = Ed25519PrivateKey.generate()
    ledger = Ledger(tmp_path / "ledger", origin=ORIGIN)
    ledger.create()
    for i in range(37):
        ledger.record(
            kind="dataset.ingested",
            actor="academie",
            body={"i": i},
            signer=actor,
            operator=operator,
        )
    witnesses = []
    for name in ("w1", "w2"):
        cosigner = Cosigner(name, Ed25519PrivateKey.generate())
        witness = Witness(
            cosigner=cosigner,
            state_path=tmp_path / f"{name}.json",
            logs={ORIGIN: [NoteVerifier(ORIGIN, operator.key.public_key())]},
        )
        ledger.add_cosignatures(37, witness.add(old=0, proof=[], note=ledger.checkpoint()))
        witnesses.append(CosignatureVerifier(name, cosigner.key.public_key()))
    trust = Trust(
        log=NoteVerifier(ORIGIN, operator.key.public_key()),
        actors={"academie": actor.public_key()},
        witnesses=witnesses,
        threshold=2,
    )
    return ledger, trust, operator


def test_a_receipt_verifies_offline_and_survives_the_compact_form(signed: tuple) -> None:
    ledger, trust, _ = signed
    receipt = export_receipt(ledger, 17)
    assert verify_receipt(receipt, trust=trust).body == {"i": 17}
    compact = to_compact(receipt)
    assert len(compact) < 2900  # fits a version-40 QR code in byte mode
    assert from_compact(compact) == receipt and load_receipt(compact) == receipt


def test_any_flipped_bit_fails(signed: tuple) -> None:
    ledger, trust, _ = signed
    receipt = export_receipt(ledger, 5)
    for field in ("entry", "checkpoint"):
        text = receipt[field]
        for position in range(0, len(text), max(1, len(text) // 25)):
            bad = copy.deepcopy(receipt)
            bad[field] = text[:position] + chr(ord(text[position]) ^ 1) + text[position + 1 :]
            with pytest.raises(LedgerVerificationError):
                verify_receipt(bad, trust=trust)
    bad = copy.deepcopy(receipt)
    bad["proof"][0] = bad["proof"][0].replace(
        bad["proof"][0][3], "A" if bad["proof"][0][3] != "A" else "B", 1
    )
    with pytest.raises(LedgerVerificationError):
        verify_receipt(bad, trust=trust)
    bad = copy.deepcopy(receipt) | {"index": 6}
    with pytest.raises(LedgerVerificationError):
        verify_receipt(bad, trust=trust)


def test_too_few_cosignatures_or_untrusted_keys(signed: tuple) -> None:
    ledger, trust, _ = signed
    receipt = export_receipt(ledger, 0)
    with pytest.raises(LedgerVerificationError, match=r"2 trusted witness.*3 required"):
        verify_receipt(receipt, trust=Trust(trust.log, trust.actors, trust.witnesses, 3))
    with pytest.raises(LedgerVerificationError, match="actor 'academie' is not trusted"):
        verify_receipt(receipt, trust=Trust(trust.log, {}, trust.witnesses, 2))
    other_log = NoteVerifier(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(LedgerVerificationError, match="checkpoint"):
        verify_receipt(receipt, trust=Trust(other_log, trust.actors, trust.witnesses, 2))
    with pytest.raises(LedgerVerificationError, match="malformed"):
        verify_receipt({"format": "confiance-receipt/1"}, trust=trust)
    with pytest.raises(LedgerVerificationError, match="compact"):
        from_compact("CFR1:!!!")


def test_the_receipt_rests_on_the_latest_final_checkpoint(signed: tuple) -> None:
    ledger, trust, operator = signed
    final = ledger.checkpoint()
    ledger.record(
        kind="later",
        actor="academie",
        body={},
        signer=Ed25519PrivateKey.generate(),
        operator=operator,
    )
    assert ledger.checkpoint() != final  # the newest checkpoint has no cosignature yet
    receipt = export_receipt(ledger, 3, trust=trust)
    assert receipt["checkpoint"] == final
    verify_receipt(receipt, trust=trust)
    assert export_receipt(ledger, 3)["checkpoint"] == ledger.checkpoint()  # no policy: newest


def test_a_receipt_of_an_entry_signed_in_a_batch(signed: tuple, tmp_path: Path) -> None:
    ledger, trust, operator = signed
    key = Ed25519PrivateKey.generate()
    batch = Entry.sign_batch([("agent.batch", "agent", {"n": n}) for n in range(100)], key=key)
    ledger.append(batch, actor_keys={"agent": key.public_key()}, operator=operator)
    trust = Trust(log=trust.log, actors=trust.actors | {"agent": key.public_key()})
    receipt = export_receipt(ledger, 37 + 42)
    assert verify_receipt(receipt, trust=trust).body == {"n": 42}
    assert len(to_compact(receipt)) < 2900  # the batch path still fits a QR code
