"""RFC 9497 OPRF(ristretto255, SHA-512) against the published test vectors."""

from __future__ import annotations

import json

import pytest
from tests.conftest import VECTORS

from confiance.errors import PseudonymError
from confiance.pseudonym import oprf

SUITES = json.loads((VECTORS / "oprf" / "oprf-ristretto255-sha512.json").read_text())
BASE = next(s for s in SUITES if s["mode"] == 0)


def test_the_context_string_matches_the_published_dst() -> None:
    assert bytes.fromhex(BASE["groupDST"]) == b"HashToGroup-" + oprf.CONTEXT


def test_derive_key_pair() -> None:
    key = oprf.derive_key(bytes.fromhex(BASE["seed"]), bytes.fromhex(BASE["keyInfo"]))
    assert key.hex() == BASE["skSm"]


@pytest.mark.parametrize("vector", BASE["vectors"], ids=lambda v: v["Input"][:8])
def test_oprf_mode_vectors(vector: dict) -> None:
    key = bytes.fromhex(BASE["skSm"])
    data = bytes.fromhex(vector["Input"])
    blind_scalar, blinded = oprf.blind(data, blind_scalar=bytes.fromhex(vector["Blind"]))
    assert blinded.hex() == vector["BlindedElement"]
    evaluated = oprf.blind_evaluate(key, blinded)
    assert evaluated.hex() == vector["EvaluationElement"]
    assert oprf.finalize(data, blind_scalar, evaluated).hex() == vector["Output"]


def test_expand_message_xmd_rfc9380_sha512_vector() -> None:
    # RFC 9380 appendix K.3, expand_message_xmd(SHA-512), msg "", len 0x20.
    dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    assert oprf.expand_message_xmd(b"", dst, 0x20).hex() == (
        "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"
    )


@pytest.mark.parametrize(
    "encoding",
    [
        bytes(32),  # identity
        bytes([0xFF] * 32),  # not canonical
        bytes.fromhex("ed" + "ff" * 30 + "7f"),  # p - 2 style non-canonical field element
        b"\x01" + bytes(31),  # odd "negative" encoding
        b"short",
    ],
    ids=["identity", "all-ff", "non-canonical", "negative", "short"],
)
def test_crafted_elements_are_refused(encoding: bytes) -> None:
    with pytest.raises(PseudonymError, match="invalid group element"):
        oprf.blind_evaluate(bytes.fromhex(BASE["skSm"]), encoding)


def test_out_of_range_scalars_are_refused() -> None:
    order = bytes.fromhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
    for scalar in (bytes(32), order, bytes([0xFF] * 32), b"\x01"):
        with pytest.raises(PseudonymError):
            oprf.check_scalar(scalar)
    assert oprf.check_scalar(bytes.fromhex(BASE["skSm"]))
