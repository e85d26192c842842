"""URL canonicalisation and expressions against Google Safe Browsing's published examples."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from confiance.detect.minors import canonicalize, expressions
from confiance.errors import DetectError

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors/safe-browsing/urls-hashing.json").read_text()
)


@pytest.mark.parametrize("case", VECTORS["canonicalization"], ids=lambda c: c["input_bytes"][:40])
def test_canonicalization_matches_the_published_examples(case: dict[str, str]) -> None:
    raw = codecs.escape_decode(case["input_bytes"].encode())[0]
    assert str(canonicalize(raw)) == case["canonical"]


@pytest.mark.parametrize("case", VECTORS["expressions"], ids=lambda c: c["input"])
def test_expressions_match_the_published_examples(case: dict[str, object]) -> None:
    assert sorted(expressions(str(case["input"]))) == sorted(case["expressions"])  # type: ignore[arg-type]


def test_international_names_become_punycode() -> None:
    assert canonicalize("http://www.bücher.example/Livres").host == "www.xn--bcher-kva.example"


def test_a_url_without_host_is_refused() -> None:
    with pytest.raises(DetectError, match="no host"):
        canonicalize("http:///path")


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        found = expressions(data)
    except DetectError:
        return
    assert 1 <= len(found) <= 30
    assert all(e.isascii() and "#" not in e for e in found)
