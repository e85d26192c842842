"""Scoring findings against ground truth: precision and recall per attack type."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from confiance.detect.synthetic import Attack

_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Score:
    detector: str
    attacks: int
    detected: int
    findings: int
    true_positives: int

    @property
    def recall(self) -> float:
        return self.detected / self.attacks if self.attacks else 1.0

    @property
    def precision(self) -> float:
        return self.true_positives / self.findings if self.findings else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


#: detectors that hunt no attack type of their own (Sigma rules, the anomaly model):
#: a finding of theirs is right when it names any attack
CORROBORATING = frozenset({"sigma", "anomaly"})
#: detectors that say an account is in the wrong hands: a finding of theirs is also
#: right when it names an account another injected attack took over, then (the
#: password guessed at 03:50 is a login at an unusual hour too)
ACCOUNT_SIGNALS = frozenset(
    {"unusual_hour", "new_country", "concurrent_sessions", "impossible_travel"}
)


def _matches(finding: Mapping[str, Any], attack: Attack, entity: str) -> bool:
    if finding["entity"]["value"] != entity:
        return False
    first = datetime.fromisoformat(finding["first_seen"])
    last = datetime.fromisoformat(finding["last_seen"])
    return first <= datetime.fromisoformat(attack.end) + _SLACK and last >= (
        datetime.fromisoformat(attack.start) - _SLACK
    )


def score_findings(
    findings: Sequence[Mapping[str, Any]],
    attacks: Sequence[Attack],
    *,
    pseudonym: Callable[[str, str], str],
) -> dict[str, Score]:
    """Per detector type: how many attacks were found, how many findings were right.

    ``pseudonym(kind, value)`` maps a ground-truth identifier to its pseudonym,
    since findings only ever carry pseudonyms.
    """
    entities = {
        a.id: a.entity
        if a.entity_kind in ("tenant", "domain")
        else pseudonym(a.entity_kind, a.entity)
        for a in attacks
    }
    types = sorted({a.type for a in attacks} | {str(f["detector"]) for f in findings})
    scores = {}
    for kind in types:
        kind_attacks = [a for a in attacks if a.type == kind]
        kind_findings = [f for f in findings if f["detector"] == kind]
        # a rule set that hunts no attack type of its own is right when it names any attack
        truth = attacks if kind in CORROBORATING else kind_attacks
        if kind in ACCOUNT_SIGNALS:
            truth = [a for a in attacks if a.type == kind or a.entity_kind == "account"]
        detected = sum(
            1 for a in kind_attacks if any(_matches(f, a, entities[a.id]) for f in kind_findings)
        )
        true_positives = sum(
            1 for f in kind_findings if any(_matches(f, a, entities[a.id]) for a in truth)
        )
        scores[kind] = Score(kind, len(kind_attacks), detected, len(kind_findings), true_positives)
    return scores
