"""Search queries typed into the major search engines, recovered from proxy URLs.

Only the searched words are kept (as ``url.search_terms``): the rest of a query
string is never carried, because it often holds identifiers.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pyarrow as pa
import pyarrow.compute as pc

#: registered domain (any country suffix) or host -> (path prefix, query parameter)
ENGINES: tuple[tuple[str, str, str], ...] = (
    (r"(?:www\.)?google\.[a-z.]+", "/search", "q"),
    (r"(?:www\.|cn\.)?bing\.com", "/search", "q"),
    (r"(?:html\.|lite\.)?duckduckgo\.com", "/", "q"),
    (r"(?:www\.|lite\.)?qwant\.com", "/", "q"),
    (r"(?:www\.)?ecosia\.org", "/search", "q"),
    (r"search\.lilo\.org", "/", "q"),
    (r"search\.brave\.com", "/search", "q"),
    (r"(?:[a-z]+\.)?search\.yahoo\.com", "/search", "p"),
    (r"(?:www\.)?yandex\.[a-z.]+", "/search", "text"),
    (r"(?:www\.)?startpage\.com", "/", "query"),
    (r"(?:www\.)?youtube\.com", "/results", "search_query"),
    (r"(?:www\.)?tiktok\.com", "/search", "q"),
)
_ENGINE = [(re.compile(f"^{host}$"), path, parameter) for host, path, parameter in ENGINES]
_ANY_ENGINE = "|".join(host for host, _, _ in ENGINES)
_URL = re.compile(
    r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?P<host>[^/:?#]+)(?::\d+)?(?P<path>[^?#]*)\?(?P<query>[^#]*)"
)
_MAX_QUERY = 512


def search_terms(url: str) -> str | None:
    """The words searched for, URL-decoded, if ``url`` is a search on a known engine."""
    found = _URL.match(url)
    if found is None:
        return None
    host = found["host"].lower()
    for pattern, path, parameter in _ENGINE:
        if pattern.match(host) and (found["path"] or "/").startswith(path):
            values = parse_qs(found["query"], keep_blank_values=False).get(parameter)
            if values:
                terms = " ".join(values[0].split())
                return terms[:_MAX_QUERY] or None
    return None


def extract_search_terms(urls: pa.Array) -> pa.Array:
    """:func:`search_terms` of each URL; only search-engine URLs are decoded one by one."""
    candidate = pc.match_substring_regex(
        urls, f"^(?i:[a-z][a-z0-9+.-]*://)?(?i:{_ANY_ENGINE})(?::[0-9]+)?/[^?#]*\\?"
    )
    picked = pc.fill_null(candidate, False)
    result: list[str | None] = [None] * len(urls)
    rows = pc.indices_nonzero(picked).to_pylist()
    for row, url in zip(rows, urls.take(pa.array(rows, pa.int64())).to_pylist(), strict=True):
        result[row] = search_terms(url)
    return pa.array(result, pa.string())
