"""Protection-of-minors costs, side by side in one run.

* the French lexicon baseline over search queries (a realistic mix: about 2 %
  of queries carry a signal), one core, against the naive approach of
  searching each pattern on its own;
* list matching of proxy URLs against a 1,000,000-entry keyed list (made-up
  entries): the columnar matcher against the naive per-URL check (canonicalise,
  build every expression, hash each, look it up), and the memory it takes.

    python bench/minors.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow as pa

from confiance.detect.minors import (
    KeyedBlocklist,
    LexiconClassifier,
    expressions,
    lexicon_fr,
    normalise,
)
from confiance.detect.minors.blocklist import ListEntry, _keyed
from confiance.errors import DetectError
from machine import describe

BENIGN = (
    "pronote connexion",
    "horaires bus lycee",
    "recette crepes",
    "brevet maths sujet 2025",
    "traduction anglais francais",
    "meteo rouen demain",
    "fortnite mise a jour",
    "exposé sur la révolution française",
    "paroles angèle",
    "stage de 3e idées",
    "comment réviser le bac de français",
    "calculatrice en ligne",
    "ent normandie",
    "film ce soir",
    "match psg",
    "chaussures nike promo",
    "comment faire un cv",
)
SIGNALS = (
    "je veux mourir",
    "comment se suicider",
    "je suis harcelée au collège",
    "comment fabriquer une bombe",
    "jveux plus vivre",
    "suicide toi",
)


def _queries(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        if rng.random() < 0.02:
            out.append(rng.choice(SIGNALS))
        else:
            out.append(f"{rng.choice(BENIGN)} {rng.randint(1, 999)}")
    return out


def lexicon_rate(queries: list[str]) -> tuple[float, int]:
    classifier = LexiconClassifier()
    start = time.perf_counter()
    found = classifier.classify(queries)
    return len(queries) / (time.perf_counter() - start), sum(1 for f in found if f)


def alternation_rate(queries: list[str]) -> float:
    """The obvious alternative: every pattern in one large alternation."""
    combined = re.compile("|".join(f"(?:{p[5]})" for p in lexicon_fr.PATTERNS))
    start = time.perf_counter()
    for query in queries:
        combined.search(normalise(query))
    return len(queries) / (time.perf_counter() - start)


def normalise_rate(queries: list[str]) -> float:
    """The bound: normalising the text and nothing else."""
    start = time.perf_counter()
    for query in queries:
        normalise(query)
    return len(queries) / (time.perf_counter() - start)


def _list(n: int) -> list[str]:
    return [
        f"http://depot{i}.example/galerie/{i % 97}/" if i % 3 else f"site{i}.example"
        for i in range(n)
    ]


def _urls(n: int, rng: random.Random, listed_hosts: int) -> list[str]:
    hosts = [f"www.site{i}.fr" for i in range(100_000)]
    weights = [1 / (i + 1) for i in range(len(hosts))]  # Zipf-like popularity
    chosen = rng.choices(hosts, weights=weights, k=n)
    urls = []
    for i, host in enumerate(chosen):
        roll = rng.random()
        if roll < 0.001:  # a listed entry
            j = rng.randrange(listed_hosts)
            urls.append(
                f"http://depot{j}.example/galerie/{j % 97}/img{i}.jpg"
                if j % 3
                else f"https://site{j}.example/x"
            )
        elif roll < 0.011:  # escapes and odd hosts: the full path
            urls.append(f"http://{host}%2F/a%20b/{i}")
        elif roll < 0.3:
            urls.append(f"{host}:443")  # CONNECT
        else:
            urls.append(f"http://{host}/page/{i % 5000}.html?id={i % 100}")
    return urls


def naive_match_rate(key: bytes, index: list[ListEntry], urls: list[str]) -> float:
    """The per-URL check: canonicalise, build every expression, hash each, look it up."""
    listed = {int(entry.entry_id, 16) for entry in index}
    start = time.perf_counter()
    for url in urls:
        try:
            found = expressions(url)
        except DetectError:
            continue
        any(_keyed(key, b"e|", expression) in listed for expression in found)
    return len(urls) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer URLs and queries (< 60 s)")
    args = parser.parse_args()
    rng = random.Random(7)
    n_queries = 200_000 if args.quick else 1_000_000
    n_urls = 1_000_000 if args.quick else 5_000_000
    n_list = 1_000_000

    queries = _queries(n_queries, rng)
    lex_rate, flagged = lexicon_rate(queries)
    naive_lex = alternation_rate(queries[:50_000])
    bound = normalise_rate(queries[:50_000])

    lines = _list(n_list)
    start = time.perf_counter()
    key = bytes(range(32))
    blocklist, index = KeyedBlocklist.prepare(lines, where="bench", key=key)
    prepare_s = time.perf_counter() - start
    urls = _urls(n_urls, rng, n_list)
    array = pa.array(urls, pa.string())
    del urls
    start = time.perf_counter()
    hits = blocklist.match(array)
    match_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    naive_rate = naive_match_rate(key, index, array.slice(0, 50_000).to_pylist())

    figures = {
        "lexicon_queries_per_s": round(lex_rate),
        "lexicon_alternation_queries_per_s": round(naive_lex),
        "normalise_only_queries_per_s": round(bound),
        "lexicon_flagged": flagged,
        "queries": n_queries,
        "blocklist_entries": len(blocklist),
        "blocklist_bytes": blocklist.nbytes,
        "blocklist_prepare_s": round(prepare_s, 1),
        "urls": n_urls,
        "blocklist_hits": len(hits),
        "blocklist_urls_per_s": round(n_urls / match_s),
        "naive_urls_per_s": round(naive_rate),
        "blocklist_peak_rss_mb": round(peak_mb),
    }
    print(f"machine: {json.dumps(describe())}")
    print(
        f"lexicon:   {lex_rate:12,.0f} queries/s   (one big alternation: {naive_lex:,.0f}/s; "
        f"normalising alone: {bound:,.0f}/s)"
    )
    print(
        f"blocklist: {n_urls / match_s:12,.0f} URLs/s against {len(blocklist):,} entries "
        f"({blocklist.nbytes / 2**20:.0f} MiB of keyed hashes; prepared in {prepare_s:.1f} s)"
    )
    print(
        f"           naive per-URL check: {naive_rate:,.0f} URLs/s; hits {len(hits):,}; "
        f"peak RSS of the run {peak_mb:,.0f} MB"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
