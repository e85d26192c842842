"""The offline French baseline: lexicon patterns with negation and context handling.

Every hit carries its reason (the pattern's id and the normalised words that
matched) so that a reviewer sees why a text was flagged. The baseline never
acts: its signals go to a human review queue.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from confiance.detect.minors import lexicon_fr

CLASSES = ("distress", "radicalisation", "harassment")
SEVERITIES = ("medium", "high", "critical")


@dataclass(frozen=True)
class Signal:
    """One reason to show a text to a reviewer; the same contract for every classifier."""

    signal_class: str
    severity: str
    confidence: float
    reason: str
    #: the normalised words that matched (evidence for the reviewer)
    excerpt: str


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xA0, 0x250):
        char = chr(code)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base != char:
            table[code] = base.lower()
    table.update({ord(c): " " for c in "'’`´‘\"“”«»-_.,;:!?()[]{}/\\|*+=<>~^#&@$€%"})
    table.update({ord("œ"): "oe", ord("æ"): "ae", ord("ß"): "ss"})
    return table


_FOLD = _fold_table()
_REPEATS = re.compile(r"(\w)\1{2,}")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower case, no accents, no punctuation, letters repeated 3+ times once, SMS expanded."""
    folded = _REPEATS.sub(r"\1", text.lower().translate(_FOLD))
    words = _SPACES.split(folded.strip())
    return " ".join(lexicon_fr.SMS.get(w, w) for w in words)


@dataclass(frozen=True)
class _Pattern:
    id: str
    signal_class: str
    severity: str
    confidence: float
    negatable: bool


class LexiconClassifier:
    """Scores texts with the curated French lexicon; no model, no network."""

    name = "lexicon-fr"

    def __init__(self, *, suppressed: Sequence[str] = ()) -> None:
        #: pattern ids a reviewer's dismissals switched off (for one tenant)
        self._suppressed = frozenset(suppressed)
        # one alternation of every active pattern answers "anything at all?"
        # for the many texts that hold nothing; only the rare rest is examined
        # pattern by pattern (severity, negation, context)
        active = [p for p in lexicon_fr.PATTERNS if p[0] not in self._suppressed]
        self._any = re.compile("|".join(f"(?:{p[5]})" for p in active) or r"(?!)")
        self._patterns = [
            (_Pattern(pid, cls, severity, confidence, negatable), re.compile(regex))
            for pid, cls, severity, confidence, negatable, regex in active
        ]
        self._contexts = [(cls, re.compile(regex)) for _, cls, regex in lexicon_fr.CONTEXTS]
        self._negations = frozenset(lexicon_fr.NEGATIONS)

    def _negated(self, text: str, start: int) -> bool:
        before = text[:start].split()[-2:]
        return any(word in self._negations for word in before)

    def classify_one(self, text: str) -> list[Signal]:
        normal = normalise(text)
        if not self._any.search(normal):
            return []
        found: dict[str, Signal] = {}
        blocked: set[str] | None = None
        for pattern, regex in self._patterns:
            current = found.get(pattern.signal_class)
            if current is not None and SEVERITIES.index(pattern.severity) <= SEVERITIES.index(
                current.severity
            ):
                continue
            for match in regex.finditer(normal):
                if pattern.negatable and self._negated(normal, match.start()):
                    continue
                if blocked is None:
                    blocked = {cls for cls, context in self._contexts if context.search(normal)}
                if "*" not in blocked and pattern.signal_class not in blocked:
                    found[pattern.signal_class] = Signal(
                        pattern.signal_class,
                        pattern.severity,
                        pattern.confidence,
                        pattern.id,
                        match.group(0),
                    )
                break
        return [found[c] for c in CLASSES if c in found]

    def classify(self, texts: Sequence[str]) -> list[list[Signal]]:
        return [self.classify_one(text) for text in texts]
