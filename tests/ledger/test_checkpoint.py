"""C2SP signed notes and checkpoints against the published examples."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.conftest import VECTORS

from confiance.errors import LedgerError
from confiance.ledger import Checkpoint, NoteSigner, NoteVerifier
from confiance.ledger.checkpoint import open_note, sign_note

EXAMPLES = json.loads((VECTORS / "signed-note" / "signed-note-examples.json").read_text())


def _verifiers(vkeys: list[str]) -> list[NoteVerifier]:
    return [NoteVerifier.from_vkey(v) for v in vkeys]


@pytest.mark.parametrize("case", EXAMPLES["valid_notes"], ids=lambda c: c["id"])
def test_published_valid_notes_verify(case: dict) -> None:
    text, verified = open_note(case["note"], _verifiers(case["verify_with"]))
    want = sorted(v.split("+")[0] for v in case["expect"]["verified"])
    assert sorted(verified) == [w.split(" ")[0] for w in want]
    assert case["note"].startswith(text)
    if "checkpoint" in case["expect"]:
        checkpoint = Checkpoint.parse("\n".join(text.split("\n")[:3]) + "\n")
        expected = case["expect"]["checkpoint"]
        assert (checkpoint.origin, checkpoint.size) == (expected["origin"], expected["size"])
        assert base64.b64encode(checkpoint.root).decode() == expected["root_hash_base64"]


@pytest.mark.parametrize("case", EXAMPLES["invalid_notes"], ids=lambda c: c["id"])
def test_published_invalid_notes_are_refused(case: dict) -> None:
    note = bytes.fromhex(case["note_hex"]) if "note_hex" in case else case["note"]
    verifiers = []
    for vkey in case["verify_with"]:
        try:
            verifiers.append(NoteVerifier.from_vkey(vkey))
        except LedgerError:
            continue  # non-Ed25519 keys: we accept none of them
    if not verifiers:  # "no known key": verify with a key that signed nothing here
        enoch = next(k for k in EXAMPLES["keys"] if k["name"] == "EnochRoot")
        verifiers = [NoteVerifier.from_vkey(enoch["vkey"])]
    with pytest.raises(LedgerError):
        open_note(note, verifiers)


BAD_VKEYS = [
    c for c in EXAMPLES["invalid_vkeys"] if not c["why"].startswith("not invalid as a vkey")
]


@pytest.mark.parametrize("case", BAD_VKEYS, ids=lambda c: c["why"])
def test_published_bad_verifier_keys_are_refused(case: dict) -> None:
    with pytest.raises(LedgerError):
        NoteVerifier.from_vkey(case["vkey"])


def test_signing_reproduces_the_published_note_byte_for_byte() -> None:
    # Ed25519 is deterministic: x/mod's PeterNeumann skey must give the same note.
    key = next(k for k in EXAMPLES["keys"] if k["name"] == "PeterNeumann")
    seed = base64.b64decode(key["skey"].split("+", 4)[4])[1:]  # base64 may hold "+"
    signer = NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))
    case = next(c for c in EXAMPLES["valid_notes"] if c["id"] == "xmod-peter")
    assert sign_note(case["text"], [signer]) == case["note"]
    assert NoteVerifier("PeterNeumann", signer.key.public_key()).vkey() == key["vkey"]


def test_checkpoint_round_trip_and_malformed_bodies() -> None:
    checkpoint = Checkpoint("example.org/log", 42, bytes(range(32)))
    assert Checkpoint.parse(checkpoint.text()) == checkpoint
    for bad in (
        "",
        "origin\n1\n",
        "origin\n01\nAAAA\n",
        "origin\nx\nAAAA\n",
        "origin\n1\nnot base64!\n",
        "origin\n1\nAAAA\n",
    ):
        with pytest.raises(LedgerError, match="malformed checkpoint"):
            Checkpoint.parse(bad)
