"""Threshold OPRF: the key is Shamir-shared t-of-n; owners combine t evaluations.

Evaluator i holds ``k_i = f(i)`` for a random polynomial ``f`` of degree t-1
with ``f(0) = k``. For a blinded element ``B``, evaluator i returns
``k_i·B``; the owner computes ``k·B = Σ λ_i·(k_i·B)`` with Lagrange
coefficients at 0, and folds the unblinding into them: it multiplies each
partial by ``λ_i·r⁻¹`` and adds, which yields ``k·H(x)`` directly. Fewer
than t shares reveal nothing about ``k``. All arithmetic is libsodium's.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pysodium

from confiance.errors import PseudonymError
from confiance.pseudonym import oprf

logger = logging.getLogger(__name__)


def _scalar(value: int) -> bytes:
    return value.to_bytes(oprf.SCALAR_BYTES, "little")


def split_key(key: bytes, *, threshold: int, indices: Sequence[int]) -> dict[int, bytes]:
    """Shamir shares of ``key`` for evaluators numbered ``indices`` (1-based)."""
    if not 1 <= threshold <= len(indices) or len(set(indices)) != len(indices):
        raise PseudonymError(f"cannot split {threshold}-of-{len(indices)}")
    if any(not 0 < i < 256 for i in indices):
        raise PseudonymError("evaluator indices are 1..255")
    coefficients = [oprf.check_scalar(key)] + [oprf.random_scalar() for _ in range(threshold - 1)]
    shares = {}
    for index in indices:
        x, value, power = _scalar(index), bytes(oprf.SCALAR_BYTES), _scalar(1)
        for coefficient in coefficients:
            term = pysodium.crypto_core_ristretto255_scalar_mul(coefficient, power)
            value = pysodium.crypto_core_ristretto255_scalar_add(value, term)
            power = pysodium.crypto_core_ristretto255_scalar_mul(power, x)
        shares[index] = value
    return shares


def lagrange_at_zero(index: int, indices: Sequence[int]) -> bytes:
    """λ_index = Π_{j≠index} j / (j − index), mod the group order."""
    numerator, denominator = _scalar(1), _scalar(1)
    for j in indices:
        if j == index:
            continue
        numerator = pysodium.crypto_core_ristretto255_scalar_mul(numerator, _scalar(j))
        difference = pysodium.crypto_core_ristretto255_scalar_sub(_scalar(j), _scalar(index))
        denominator = pysodium.crypto_core_ristretto255_scalar_mul(denominator, difference)
    result: bytes = pysodium.crypto_core_ristretto255_scalar_mul(
        numerator, oprf.invert(denominator)
    )
    return result


class DailyVolumeExceeded(PseudonymError):
    """A tenant asked for more evaluations today than it declared."""


class Counts(Protocol):
    """Where an evaluator keeps its per-requester, per-day counts."""

    def get(self, requester: str, day: str) -> int: ...

    def set(self, requester: str, day: str, count: int) -> None: ...


class MemoryCounts:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def get(self, requester: str, day: str) -> int:
        return self._counts.get((requester, day), 0)

    def set(self, requester: str, day: str, count: int) -> None:
        self._counts[(requester, day)] = count


class FileCounts:
    """Counts in a JSON file, so the brake holds across processes and restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, dict[str, int]]:
        if not self.path.exists():
            return {}
        loaded: dict[str, dict[str, int]] = json.loads(self.path.read_text(encoding="utf-8"))
        return loaded

    def get(self, requester: str, day: str) -> int:
        return int(self._load().get(requester, {}).get(day, 0))

    def set(self, requester: str, day: str, count: int) -> None:
        counts = self._load()
        counts.setdefault(requester, {})[day] = count
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(counts), encoding="utf-8")
        tmp.replace(self.path)


@dataclass
class Evaluator:
    """One consortium member's share of the key, with its brake on dictionary attacks."""

    name: str
    index: int
    share: bytes = field(repr=False)
    declared: Mapping[str, int]
    counts: Counts = field(default_factory=MemoryCounts)
    on_count: Callable[[str, str, int], None] | None = None
    today: Callable[[], datetime.date] = lambda: datetime.datetime.now(datetime.UTC).date()

    def evaluate(self, tenant: str, blinded: Sequence[bytes]) -> list[bytes]:
        """``share·B`` for each blinded element, after checking the tenant's volume."""
        limit = self.declared.get(tenant)
        if limit is None:
            raise PseudonymError(f"evaluator {self.name}: tenant {tenant!r} declared no volume")
        day = self.today().isoformat()
        used = self.counts.get(tenant, day)
        if used + len(blinded) > limit:
            raise DailyVolumeExceeded(
                f"evaluator {self.name}: tenant {tenant} asked for {used + len(blinded)} "
                f"evaluations on {day}, beyond the {limit} it declared; refused"
            )
        results = [oprf.blind_evaluate(self.share, element) for element in blinded]
        self.counts.set(tenant, day, used + len(blinded))
        if self.on_count is not None:
            self.on_count(tenant, day, used + len(blinded))
        return results


class EvaluatorClient(Protocol):
    """How an owner reaches an evaluator: in process or over the network."""

    name: str
    index: int

    def evaluate(self, tenant: str, blinded: Sequence[bytes]) -> list[bytes]: ...


class EvaluatorUnavailable(PseudonymError):
    """An evaluator could not be reached; the owner stops, never falls back."""


def threshold_prf(
    tenant: str,
    inputs: Sequence[bytes],
    evaluators: Sequence[EvaluatorClient],
    *,
    threshold: int,
) -> list[bytes]:
    """OPRF outputs of ``inputs`` using the first ``threshold`` evaluators that answer."""
    if not inputs:
        return []
    blinds, blinded = zip(*(oprf.blind(x) for x in inputs), strict=True)
    partials: dict[int, list[bytes]] = {}
    failures = []
    for evaluator in evaluators:
        if len(partials) == threshold:
            break
        try:
            partials[evaluator.index] = evaluator.evaluate(tenant, list(blinded))
        except EvaluatorUnavailable as exc:
            failures.append(str(exc))
            logger.warning("%s", exc)
    if len(partials) < threshold:
        down = "; ".join(failures) or "not enough evaluators configured"
        raise EvaluatorUnavailable(
            f"only {len(partials)} of the {threshold} evaluators needed answered ({down})"
        )
    indices = sorted(partials)
    lambdas = {i: lagrange_at_zero(i, indices) for i in indices}
    outputs = []
    for n, (data, blind_scalar) in enumerate(zip(inputs, blinds, strict=True)):
        inverse = oprf.invert(blind_scalar)
        total: bytes | None = None
        for i in indices:
            factor = pysodium.crypto_core_ristretto255_scalar_mul(lambdas[i], inverse)
            term = oprf.scalarmult(factor, oprf.check_element(partials[i][n]))
            total = term if total is None else pysodium.crypto_core_ristretto255_add(total, term)
        assert total is not None
        outputs.append(oprf.finalize_unblinded(data, total))
    return outputs
