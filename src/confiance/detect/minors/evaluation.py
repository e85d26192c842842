"""Precision and recall of a text classifier on a labelled French test set."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confiance.detect.minors.classifier import TextClassifier
from confiance.detect.minors.lexicon import CLASSES
from confiance.errors import DetectError

LABELS = (*CLASSES, "none")


@dataclass(frozen=True)
class LabelledText:
    line: int
    label: str
    kind: str
    text: str


def load_labelled(path: Path) -> list[LabelledText]:
    """Rows of a ``label<TAB>kind<TAB>text`` file; errors name the file, line and field."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise DetectError(f"{path}: no such file") from None
    rows: list[LabelledText] = []
    with handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != ["label", "kind", "text"]:
            raise DetectError(f"{path}:1: header must be label, kind, text")
        for number, row in enumerate(reader, start=2):
            if len(row) != 3:
                raise DetectError(f"{path}:{number}: expected 3 tab-separated fields")
            label, kind, text = row
            if label not in LABELS:
                raise DetectError(f"{path}:{number}: field label: {label!r} is not one of {LABELS}")
            if not text.strip():
                raise DetectError(f"{path}:{number}: field text: empty")
            rows.append(LabelledText(number, label, kind, text))
    if not rows:
        raise DetectError(f"{path}: no labelled rows")
    return rows


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def evaluate(classifier: TextClassifier, rows: Sequence[LabelledText]) -> dict[str, Any]:
    """Per class: precision, recall, F1 and counts; false positives by kind of hard negative."""
    predicted = classifier.classify([row.text for row in rows])
    per_class: dict[str, Any] = {}
    false_positives: dict[str, int] = {}
    for cls in CLASSES:
        tp = fp = fn = 0
        for row, signals in zip(rows, predicted, strict=True):
            flagged = any(s.signal_class == cls for s in signals)
            if flagged and row.label == cls:
                tp += 1
            elif flagged:
                fp += 1
                false_positives[row.kind] = false_positives.get(row.kind, 0) + 1
            elif row.label == cls:
                fn += 1
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = (
            round(2 * precision * recall / (precision + recall), 4) if precision and recall else 0.0
        )
        per_class[cls] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "true_positives": tp,
            "false_positives": fp,
            "false_negatives": fn,
        }
    return {
        "classifier": classifier.name,
        "texts": len(rows),
        "classes": per_class,
        "false_positives_by_kind": dict(sorted(false_positives.items())),
    }
