"""Text classifiers for protection-of-minors signals: one output contract, two kinds.

The lexicon baseline works offline out of the box. An operator may instead
point to a fine-tuned transformer (e.g. a CamemBERT) in a local directory;
it is loaded from that directory only, with the Hugging Face libraries
forced offline, so nothing is ever downloaded at run time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from confiance.detect.minors.lexicon import CLASSES, LexiconClassifier, Signal
from confiance.errors import DetectError

#: labels a model may use for "nothing to report"
NEUTRAL_LABELS = frozenset({"none", "neutral", "negative", "other", "label_none"})

ModelFunction = Callable[[list[str]], list[list[Mapping[str, Any]]]]


class TextClassifier(Protocol):
    """Turns texts into signals; every implementation keeps this output contract."""

    name: str

    def classify(self, texts: Sequence[str]) -> list[list[Signal]]: ...


def _severity(score: float) -> str:
    if score >= 0.9:
        return "critical"
    return "high" if score >= 0.75 else "medium"


def _transformers_pipeline(path: Path) -> ModelFunction:  # pragma: no cover - needs a model
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from transformers import pipeline  # type: ignore[import-not-found]
    except ImportError:
        raise DetectError(
            "a transformer model needs the 'transformers' package "
            "(pip install 'confiance[models]'); the lexicon baseline needs nothing"
        ) from None
    classify = pipeline(
        "text-classification",
        model=str(path),
        tokenizer=str(path),
        top_k=None,
        model_kwargs={"local_files_only": True},
    )

    def run(texts: list[str]) -> list[list[Mapping[str, Any]]]:
        return [list(result) for result in classify(texts, truncation=True)]

    return run


class TransformerClassifier:
    """A sequence classifier loaded from a local directory given by the operator."""

    def __init__(
        self,
        path: Path,
        *,
        threshold: float = 0.5,
        load: Callable[[Path], ModelFunction] = _transformers_pipeline,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise DetectError("threshold must be between 0 and 1")
        config_path = path / "config.json"
        if not path.is_dir() or not config_path.is_file():
            raise DetectError(
                f"{path}: not a local model directory (no config.json); models are never downloaded"
            )
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            labels = [str(label).lower() for label in dict(config["id2label"]).values()]
        except (ValueError, KeyError, TypeError):
            raise DetectError(f"{config_path}: no id2label mapping") from None
        unknown = [
            label for label in labels if label not in CLASSES and label not in NEUTRAL_LABELS
        ]
        if unknown:
            raise DetectError(
                f"{config_path}: labels {unknown} are not signal classes {list(CLASSES)} "
                "or a neutral label"
            )
        self.name = f"model:{path.name}"
        self._threshold = threshold
        self._model = load(path)

    def classify(self, texts: Sequence[str]) -> list[list[Signal]]:
        results = self._model(list(texts))
        signals: list[list[Signal]] = []
        for text, scores in zip(texts, results, strict=True):
            found = []
            for score in scores:
                label, value = str(score["label"]).lower(), float(score["score"])
                if label in CLASSES and value >= self._threshold:
                    found.append(
                        Signal(label, _severity(value), round(value, 3), self.name, text[:200])
                    )
            signals.append(sorted(found, key=lambda s: CLASSES.index(s.signal_class)))
        return signals


def load_classifier(model: Path | None = None, *, suppressed: Sequence[str] = ()) -> TextClassifier:
    """The lexicon baseline, or the operator's local model when a path is given."""
    if model is None:
        return LexiconClassifier(suppressed=suppressed)
    return TransformerClassifier(model)
