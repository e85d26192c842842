"""Keyed list matching: the verdict of the plain Safe Browsing check, never the list in clear."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from confiance.detect.minors import KeyedBlocklist, expressions
from confiance.errors import DetectError

LIST = [
    "# made-up, harmless list for tests",
    "interdit.example",
    "http://partage.example/album/photos/",
    "ok.example/page.html?id=3",
    "http://10.0.0.7/depot/",
]


@pytest.fixture(scope="module")
def keyed() -> tuple[KeyedBlocklist, list]:
    return KeyedBlocklist.prepare(LIST, where="liste.txt")


def test_matches_domains_paths_queries_and_obfuscations(keyed) -> None:
    blocklist, index = keyed
    urls = pa.array(
        [
            "http://www.interdit.example/x",  # subdomain of a listed domain
            "http://partage.example/album/photos/1.jpg",  # under a listed path
            "http://partage.example/album/",  # a parent of the listed path: no
            "https://ok.example/page.html?id=3",  # exact with query
            "ok.example/page.html",  # without the listed query: no
            None,
            "HTTP://WWW.INTERDIT.EXAMPLE.",  # case and trailing dot
            "http://%69nterdit.example/",  # percent-escaped host
            "http://interdit.example.evil.com/",  # look-alike: no
            "interdit.example:443",  # CONNECT line of a proxy
            "http://167772167/depot/a",  # an IP in decimal form
        ]
    )
    rows = [hit.row for hit in blocklist.match(urls)]
    assert rows == [0, 1, 3, 6, 7, 9, 10]
    ids = {e.line: e.entry_id for e in index}
    assert {hit.entry_id for hit in blocklist.match(urls[:1])} == {ids[2]}


def test_the_keyed_list_holds_no_entry_in_clear(keyed) -> None:
    blocklist, _ = keyed
    table = blocklist.to_table()
    flat = str(table.to_pydict()) + str(table.schema.metadata)
    for word in ("interdit", "partage", "album", "ok.example", "10.0.0.7"):
        assert word not in flat
    assert repr(blocklist) == "KeyedBlocklist(entries=4)"


def test_a_table_round_trip_gives_the_same_hits(keyed) -> None:
    blocklist, _ = keyed
    urls = pa.chunked_array([["http://interdit.example/", "http://a.example/"]])
    again = KeyedBlocklist.from_table(blocklist.to_table())
    assert again.match(urls) == blocklist.match(urls)


def test_another_key_gives_other_ids() -> None:
    _, first = KeyedBlocklist.prepare(LIST, where="l")
    _, second = KeyedBlocklist.prepare(LIST, where="l")
    assert {e.entry_id for e in first}.isdisjoint({e.entry_id for e in second})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["# only a comment", ""], "liste.txt: no entries"),
        (["interdit.example", "http:///nohost"], "liste.txt:2: entry has no host"),
    ],
)
def test_bad_lists_are_refused_with_their_line(lines, message) -> None:
    with pytest.raises(DetectError, match=message):
        KeyedBlocklist.prepare(lines, where="liste.txt")


def test_a_table_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(DetectError, match="not a confiance-blocklist/1 table"):
        KeyedBlocklist.from_table(pa.table({"entry": [1]}))


_HOSTS = st.sampled_from(["interdit.example", "www.interdit.example", "a.example", "WWW.A.Example"])
_PATHS = st.sampled_from(["", "/", "/album/photos/x", "/page.html?id=3", "/%2e%2e/x", "/a//b"])


_SCHEMES = st.sampled_from(["", "http://", "https://"])


@settings(max_examples=200)
@given(st.lists(st.tuples(_SCHEMES, _HOSTS, _PATHS), max_size=20))
def test_fast_path_gives_the_same_verdict_as_the_full_check(urls) -> None:
    blocklist, index = KeyedBlocklist.prepare(LIST, where="l", key=b"k" * 32)
    listed = {e.expression for e in index}
    texts = [f"{s}{h}{p}" for s, h, p in urls]
    expected = [i for i, url in enumerate(texts) if listed & set(expressions(url))]
    assert [hit.row for hit in blocklist.match(pa.array(texts, pa.string()))] == expected
