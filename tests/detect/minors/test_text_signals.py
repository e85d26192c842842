"""The French lexicon baseline, the search-query extraction and the model interface."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from confiance.detect.minors import (
    LexiconClassifier,
    TransformerClassifier,
    extract_search_terms,
    load_classifier,
    normalise,
)
from confiance.detect.minors.evaluation import evaluate, load_labelled
from confiance.errors import DetectError

DATA = Path(__file__).parents[2] / "data/minors"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("je veux mourir", [("distress", "distress.want-to-die")]),
        ("jveux mouriiiir", [("distress", "distress.want-to-die")]),
        ("comment se suicider sans douleur", [("distress", "distress.method")]),
        ("je ne veux pas mourir", []),
        ("j'ai pas envie de mourir", []),
        ("je vais mourir de rire mdr", []),
        ("3114 numéro prévention suicide", []),
        ("paroles je veux mourir chanson", []),
        ("comment fabriquer une bombe", [("radicalisation", "radical.explosive")]),
        ("comment fabriquer une bombe de bain", []),
        ("suicide toi", [("harassment", "harass.incite-suicide")]),
        ("ma mère va me tuer", []),
    ],
)
def test_lexicon_signals_with_negation_and_context(text, expected) -> None:
    found = LexiconClassifier().classify_one(text)
    assert [(s.signal_class, s.reason) for s in found] == expected
    assert all(s.excerpt in normalise(text) for s in found)


def test_normalise_folds_accents_sms_and_repeats() -> None:
    assert normalise("J'SUIS à BOUT!!! chui tro nul") == "je suis a bout je suis tro nul"


def test_a_reviewers_dismissal_suppresses_the_pattern() -> None:
    classifier = LexiconClassifier(suppressed=["distress.want-to-die"])
    assert classifier.classify_one("je veux mourir") == []


def test_search_terms_of_the_major_engines_only() -> None:
    urls = pa.array(
        [
            "https://www.google.fr/search?q=je+veux+mourir&client=firefox",
            "http://www.bing.com/search?q=comment%20fabriquer",
            "https://duckduckgo.com/?q=3114&t=h_",
            "https://search.yahoo.com/search?p=pronote",
            "https://yandex.ru/search/?text=test",
            "https://www.qwant.com/?q=r%C3%A9vision+brevet",
            "http://www.education.gouv.fr/?q=x",
            None,
            "https://www.google.com/maps?q=paris",
        ]
    )
    assert extract_search_terms(urls).to_pylist() == [
        "je veux mourir",
        "comment fabriquer",
        "3114",
        "pronote",
        "test",
        "révision brevet",
        None,
        None,
        None,
    ]


def test_held_out_test_set_scores(tmp_path) -> None:
    report = evaluate(LexiconClassifier(), load_labelled(DATA / "test.tsv"))
    assert report["texts"] == 100
    for figures in report["classes"].values():
        assert figures["true_positives"] + figures["false_negatives"] >= 15
        assert figures["recall"] is not None and figures["precision"] is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text\n", ":1: header must be label, kind, text"),
        ("label\tkind\ttext\nmaybe\tpositive\tx\n", ":2: field label: 'maybe'"),
        ("label\tkind\ttext\nnone\tother\n", ":2: expected 3 tab-separated fields"),
        ("label\tkind\ttext\n", "no labelled rows"),
    ],
)
def test_bad_labelled_files_name_line_and_field(tmp_path, content, message) -> None:
    path = tmp_path / "set.tsv"
    path.write_text(content)
    with pytest.raises(DetectError, match=message):
        load_labelled(path)


def _model_dir(tmp_path: Path, labels: dict[str, str]) -> Path:
    model = tmp_path / "camembert-signaux"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"id2label": labels}))
    return model


def test_a_local_model_has_the_same_output_contract(tmp_path) -> None:
    model = _model_dir(tmp_path, {"0": "none", "1": "distress", "2": "harassment"})

    def load(path: Path):
        assert path == model

        def run(texts):
            return [
                [{"label": "distress", "score": 0.93}, {"label": "none", "score": 0.07}]
                if "mourir" in t
                else [{"label": "none", "score": 0.99}]
                for t in texts
            ]

        return run

    classifier = TransformerClassifier(model, load=load)
    signals = classifier.classify(["je veux mourir", "bonjour"])
    assert [(s.signal_class, s.severity, s.confidence, s.reason) for s in signals[0]] == [
        ("distress", "critical", 0.93, "model:camembert-signaux")
    ]
    assert signals[1] == []


def test_models_are_never_downloaded(tmp_path) -> None:
    with pytest.raises(DetectError, match="not a local model directory"):
        load_classifier(Path("camembert-base"))
    with pytest.raises(DetectError, match="labels \\['positive'\\] are not signal classes"):
        TransformerClassifier(_model_dir(tmp_path, {"0": "positive"}), load=lambda p: None)  # type: ignore[arg-type,return-value]
    assert load_classifier().name == "lexicon-fr"
