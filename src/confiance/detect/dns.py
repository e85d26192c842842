"""DNS detections: tunnelling in query names, generated domains, newly seen domains.

Names are split at the registered domain with the Public Suffix List (the
``publicsuffixlist`` package, which ships the list: nothing is fetched), so
``r4---sn-25glenez.googlevideo.com`` is a long label under ``googlevideo.com``
and ``bbc.co.uk`` is one domain, not a subdomain of ``co.uk``. Features are
computed once per distinct name, not per query.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import duckdb
import pyarrow as pa

from confiance.detect.finding import fetch_spans, finding, listed, merge_windows

_VOWELS = set("aeiouy")
#: days at the start of a run that make newly_seen_domain's memory (its default)
BASELINE_DAYS = 2


@functools.cache
def suffix_list() -> Any:
    """The bundled Public Suffix List, loaded once."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text``, in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _names(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Per distinct query name: its registered domain, the label left of it (the
    subdomain), and the features the detections read."""
    psl = suffix_list()
    names = [row[0] for row in con.execute("SELECT DISTINCT qname FROM dns").fetchall()]
    rows: dict[str, list[Any]] = {
        k: [] for k in ("qname", "registered", "sub_length", "sub_entropy", "sld_random")
    }
    for name in names:
        registered = psl.privatesuffix(name) if name else None
        sub = name[: -len(registered) - 1] if registered and name != registered else ""
        sld = registered.split(".", 1)[0] if registered else ""
        letters = [c for c in sld if c.isalpha()]
        vowels = sum(1 for c in letters if c in _VOWELS) / len(letters) if letters else 1.0
        random_looking = len(sld) >= 10 and entropy(sld) >= 2.5 and vowels <= 0.3
        rows["qname"].append(name)
        rows["registered"].append(registered)
        rows["sub_length"].append(len(sub.replace(".", "")))
        rows["sub_entropy"].append(entropy(sub.replace(".", "")))
        rows["sld_random"].append(random_looking)
    return pa.table(rows)


def _ensure_names(con: duckdb.DuckDBPyConnection) -> None:
    """The per-name table ``names``, built once per run whichever detection asks first."""
    if not con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = 'names' AND temporary"
    ).fetchall():
        con.register("computed_names", _names(con))
        con.execute("CREATE TEMP TABLE names AS SELECT * FROM computed_names")
        con.unregister("computed_names")


def dns_tunnelling(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1071.004 / T1048.003: data carried in the names of DNS queries.

    Per client, registered domain and hour: at least ``min_names`` distinct
    names whose subdomains are long (``min_label_length`` characters on
    average) and random (``min_entropy`` bits per character on average), as
    iodine, dnscat2 and exfiltration kits write them. Video CDNs, whose host
    names look random, ask for a handful of names an hour; anti-virus and
    telemetry services that encode lookups in names are the known false
    positives: allow-list their domain's clients or raise ``min_names``.
    """
    _ensure_names(con)
    windows = con.execute(
        """
        WITH wide AS (
            -- the domains with min_names distinct names in the whole run: only they can fire
            SELECT * FROM names WHERE registered IN (
                SELECT registered FROM names WHERE registered IS NOT NULL
                GROUP BY registered HAVING count(*) >= $min_names
            )
        )
        SELECT d.ip, time_bucket(INTERVAL 1 HOUR, d.ts) AS w
        FROM dns d JOIN wide n USING (qname)
        GROUP BY d.ip, n.registered, w
        HAVING count(DISTINCT d.qname) >= $min_names
           AND avg(n.sub_length) >= $min_length AND avg(n.sub_entropy) >= $min_entropy
        """,
        {
            "min_names": int(p["min_names"]),
            "min_length": float(p["min_label_length"]),
            "min_entropy": float(p["min_entropy"]),
        },
    ).fetchall()
    spans = merge_windows(windows, width=timedelta(hours=1))
    details = fetch_spans(
        con,
        f"""
        SELECT sp.n, {listed("x.tenant")}, {listed("x.registered")},
               count(DISTINCT x.qname), count(x.ts), {listed("x.qtype")}, min(x.ts), max(x.ts)
        FROM spans sp LEFT JOIN (
            SELECT d.*, n.registered FROM dns d JOIN names n USING (qname)
            WHERE n.sub_length >= $min_length
        ) x ON x.ip = sp.entity AND x.ts >= sp.s AND x.ts < sp.e
        GROUP BY sp.n
        """,
        spans,
        {"min_length": float(p["min_label_length"])},
    )
    findings = []
    for (ip, _, _), (tenants, domains, names, queries, types, first, last) in zip(
        spans, details, strict=True
    ):
        findings.append(
            finding(
                detector="dns_tunnelling",
                title=f"DNS tunnelling: {names} random names under {', '.join(sorted(domains))}",
                severity="high",
                technique="T1071.004",
                tenants=tenants,
                entity_field="source.ip",
                entity=ip,
                first_seen=first,
                last_seen=last,
                evidence={
                    "domains": sorted(domains)[:5],
                    "distinct_names": names,
                    "queries": queries,
                    "query_types": sorted(t for t in types if t),
                },
                pseudonyms=[],
            )
        )
    return findings


def dga(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1568.002: a burst of algorithmically generated domain names.

    Per client and hour: at least ``min_domains`` distinct registered domains
    whose own label looks random (ten characters or more, entropy of 2.5 bits or
    more, at most 30 % vowels), as malware cycling through its generated names
    for a live command server asks. Names that are random but few (a CDN, a
    tracker) stay below the threshold; a host that resolves many such names
    legitimately (a security scanner, a mail filter checking links) is the
    known false positive.
    """
    _ensure_names(con)
    windows = con.execute(
        """
        SELECT d.ip, time_bucket(INTERVAL 1 HOUR, d.ts) AS w
        FROM dns d JOIN names n USING (qname) WHERE n.sld_random
        GROUP BY d.ip, w HAVING count(DISTINCT n.registered) >= $min_domains
        """,
        {"min_domains": int(p["min_domains"])},
    ).fetchall()
    spans = merge_windows(windows, width=timedelta(hours=1))
    details = fetch_spans(
        con,
        f"""
        SELECT sp.n, {listed("x.tenant")}, {listed("x.registered")}, min(x.ts), max(x.ts)
        FROM spans sp LEFT JOIN (
            SELECT d.*, n.registered FROM dns d JOIN names n USING (qname) WHERE n.sld_random
        ) x ON x.ip = sp.entity AND x.ts >= sp.s AND x.ts < sp.e
        GROUP BY sp.n
        """,
        spans,
    )
    findings = []
    for (ip, _, _), (tenants, domains, first, last) in zip(spans, details, strict=True):
        findings.append(
            finding(
                detector="dga",
                title=f"Generated domain names: {len(domains)} random-looking domains in a burst",
                severity="high",
                technique="T1568.002",
                tenants=tenants,
                entity_field="source.ip",
                entity=ip,
                first_seen=first,
                last_seen=last,
                evidence={"distinct_domains": len(domains), "sample": sorted(domains)[:10]},
                pseudonyms=[],
            )
        )
    return findings


def newly_seen_domain(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1583.001 / T1568: a registered domain no member resolved before.

    The first ``baseline_days`` days of the run are its memory of what the
    consortium's hosts resolve (pooled: a domain every school knows is not new
    at one of them). After that, a registered domain (Public Suffix List) first
    queried now, and then at least ``min_queries`` times, fires once, naming
    the clients that asked: phishing and malware domains are days old when
    they are used. Names under ``ignore_suffixes`` (reverse lookups, local
    zones) never fire; a domain queried once (a typo, one of a DGA's names,
    which the ``dga`` detection reads) stays below. Known false positives: a
    new service the members start using (allow-list its domain); a longer run
    gives a better memory.
    """
    _ensure_names(con)
    ignore = [s.lower().strip(".") for s in p["ignore_suffixes"]]
    rows = con.execute(
        """
        WITH q AS (
            SELECT d.ts, d.ip, d.tenant, d.qname, n.registered
            FROM dns d JOIN names n USING (qname)
            WHERE n.registered IS NOT NULL
              AND NOT list_bool_or(
                  list_transform($ignore, lambda x: n.registered = x OR n.registered LIKE '%.' || x)
              )
        ), start AS (SELECT min(ts) + to_days(CAST($days AS INTEGER)) AS after FROM dns)
        SELECT registered, min(ts), max(ts), count(*), list(DISTINCT ip), list(DISTINCT tenant),
               list(DISTINCT qname)
        FROM q GROUP BY registered
        HAVING min(ts) >= (SELECT after FROM start) AND count(*) >= $min_queries
        ORDER BY min(ts), registered
        """,
        {"ignore": ignore, "days": p["baseline_days"], "min_queries": int(p["min_queries"])},
    ).fetchall()
    return [
        finding(
            detector="newly_seen_domain",
            title=f"Newly seen domain {domain}: {queries} queries from {len(clients)} host(s)",
            severity="medium",
            technique="T1583.001",
            tenants=tenants,
            entity_field="dns.question.registered_domain",
            entity=domain,
            first_seen=first,
            last_seen=last,
            evidence={
                "queries": queries,
                "clients": sorted(clients)[:20],
                "distinct_clients": len(clients),
                "names_sample": sorted(names)[:10],
            },
            pseudonyms=sorted(clients)[:20],
            entity_is_pseudonym=False,
        )
        for domain, first, last, queries, clients, tenants, names in rows
    ]
