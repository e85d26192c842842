"""Threshold OPRF: t-of-n evaluators give the plain OPRF output; fewer give nothing."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

import pytest
from tests.conftest import VECTORS

from confiance.errors import PseudonymError
from confiance.pseudonym import oprf
from confiance.pseudonym.threshold import (
    DailyVolumeExceeded,
    Evaluator,
    EvaluatorUnavailable,
    lagrange_at_zero,
    split_key,
    threshold_prf,
)

BASE = next(
    s
    for s in json.loads((VECTORS / "oprf" / "oprf-ristretto255-sha512.json").read_text())
    if s["mode"] == 0
)
KEY = bytes.fromhex(BASE["skSm"])


def _evaluators(key: bytes = KEY, declared: int = 10_000) -> list[Evaluator]:
    shares = split_key(key, threshold=2, indices=[1, 2, 3])
    return [
        Evaluator(name, i, shares[i], {"academie": declared})
        for name, i in (("academie", 1), ("region", 2), ("reseau", 3))
    ]


@pytest.mark.parametrize("pair", [(0, 1), (0, 2), (1, 2), (2, 0)])
def test_any_two_of_three_give_the_rfc_output(pair: tuple[int, int]) -> None:
    evaluators = _evaluators()
    chosen = [evaluators[i] for i in pair]
    inputs = [bytes.fromhex(v["Input"]) for v in BASE["vectors"]]
    outputs = threshold_prf("academie", inputs, chosen, threshold=2)
    assert [o.hex() for o in outputs] == [v["Output"] for v in BASE["vectors"]]


def test_one_share_alone_is_not_the_key() -> None:
    shares = split_key(KEY, threshold=2, indices=[1, 2, 3])
    assert all(share != KEY for share in shares.values())
    single = [Evaluator("academie", 1, shares[1], {"t": 10})]
    with pytest.raises(EvaluatorUnavailable, match="only 1 of the 2 evaluators"):
        threshold_prf("t", [b"x"], single, threshold=2)
    # Interpolating a single share "as if" the threshold were 1 gives a wrong key.
    wrong = oprf.finalize(b"x", *_blind_eval(b"x", shares[1]))
    right = oprf.finalize(b"x", *_blind_eval(b"x", KEY))
    assert wrong != right


def _blind_eval(data: bytes, key: bytes) -> tuple[bytes, bytes]:
    blind_scalar, blinded = oprf.blind(data)
    return blind_scalar, oprf.blind_evaluate(key, blinded)


def test_lagrange_coefficients_sum_to_one_in_the_exponent() -> None:
    import pysodium

    total = bytes(32)
    for i in (1, 3):
        total = pysodium.crypto_core_ristretto255_scalar_add(total, lagrange_at_zero(i, [1, 3]))
    assert total == (1).to_bytes(32, "little")


def test_an_evaluator_that_is_down_is_named_and_never_replaced_by_a_weaker_pseudonym() -> None:
    class Down:
        name, index = "region", 2

        def evaluate(self, tenant: str, blinded: Sequence[bytes]) -> list[bytes]:
            raise EvaluatorUnavailable("evaluator region: connection refused")

    evaluators = _evaluators()
    outputs = threshold_prf("academie", [b"a"], [Down(), evaluators[0], evaluators[2]], threshold=2)
    assert len(outputs) == 1
    with pytest.raises(EvaluatorUnavailable, match="evaluator region: connection refused"):
        threshold_prf("academie", [b"a"], [Down(), evaluators[0]], threshold=2)


def test_the_daily_brake_refuses_and_counts() -> None:
    counted: list[tuple[str, str, int]] = []
    evaluator = _evaluators(declared=3)[0]
    evaluator.on_count = lambda tenant, day, n: counted.append((tenant, day, n))
    evaluator.today = lambda: datetime.date(2026, 9, 14)
    blinded = [oprf.blind(bytes([i]))[1] for i in range(3)]
    evaluator.evaluate("academie", blinded[:2])
    with pytest.raises(
        DailyVolumeExceeded, match="asked for 4 evaluations on 2026-09-14, beyond the 3 it declared"
    ):
        evaluator.evaluate("academie", blinded[:2])
    evaluator.evaluate("academie", blinded[:1])
    assert counted == [("academie", "2026-09-14", 2), ("academie", "2026-09-14", 3)]
    evaluator.today = lambda: datetime.date(2026, 9, 15)
    evaluator.evaluate("academie", blinded)
    with pytest.raises(PseudonymError, match="tenant 'lycees' declared no volume"):
        evaluator.evaluate("lycees", blinded)


def test_split_refusals() -> None:
    with pytest.raises(PseudonymError, match="cannot split 4-of-3"):
        split_key(KEY, threshold=4, indices=[1, 2, 3])
    with pytest.raises(PseudonymError, match="scalar out of range"):
        split_key(bytes(32), threshold=2, indices=[1, 2, 3])
