"""Mail detections: a member's domain spoofed (DMARC), phishing into its mailboxes.

Both read the run's e-mail events: DMARC aggregate report records (how many
messages one source sent as a member's domain, and whether SPF or DKIM
passed aligned) and Postfix deliveries, rejections and header checks.
Addresses are pseudonyms; sender domains are in clear, which is what lets
a look-alike of a member's own domain be recognised.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import duckdb

from confiance.detect.dns import suffix_list
from confiance.detect.finding import fetch_one, finding

#: attachment types that run code or smuggle it past filters when opened
RISKY_EXTENSIONS = (
    "exe", "scr", "com", "pif", "bat", "cmd", "cpl", "msi", "msp", "hta", "js", "jse", "vbs",
    "vbe", "wsf", "wsh", "ps1", "lnk", "jar", "iso", "img", "vhd", "vhdx", "one", "docm",
    "xlsm", "pptm", "html", "htm", "svg",
)  # fmt: skip

#: Latin look-alikes of Cyrillic and Greek letters (IDN homographs), and ASCII
#: sequences that read as one letter at a glance; folded the same way on both sides
_HOMOGLYPHS = str.maketrans(
    {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "і": "i", "ј": "j",
     "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a", "ν": "v", "ρ": "p", "0": "o", "1": "l",
     "l": "i", "|": "i"}
)  # fmt: skip
_SEQUENCES = (("rn", "m"), ("vv", "w"), ("cl", "d"))


@functools.cache
def _skeleton(label: str) -> str:
    """What a label looks like: accents dropped, homoglyphs folded."""
    if label.startswith("xn--"):
        try:
            label = label.encode("ascii").decode("idna")
        except UnicodeError:
            return label
    text = "".join(
        c for c in unicodedata.normalize("NFKD", label.lower()) if not unicodedata.combining(c)
    )
    for sequence, letter in _SEQUENCES:
        text = text.replace(sequence, letter)
    return text.translate(_HOMOGLYPHS)


@functools.cache
def _split(domain: str) -> tuple[str, str]:
    """(registered domain, its label left of the public suffix)."""
    registered = suffix_list().privatesuffix(domain) or domain
    return registered, registered.split(".", 1)[0]


def imitation(domain: str, own: Iterable[str], *, min_combo_length: int = 10) -> str | None:
    """How ``domain`` imitates one of ``own`` (``homoglyph``, ``typo``, ``combo``), or None.

    A member's own domains and their subdomains imitate nothing. ``combo``
    (the whole label of an own domain inside another name, as in
    ``ac-normandie.fr-securite.com``) counts only for labels of at least
    ``min_combo_length`` characters: a short or generic label (``normandie``)
    is part of many honest names.
    """
    from rapidfuzz.distance import OSA

    domain = domain.lower().rstrip(".")
    registered, label = _split(domain)
    mine = {_split(d.lower())[0] for d in own}
    if registered in mine:
        return None
    for own_registered in sorted(mine):
        own_label = own_registered.split(".", 1)[0]
        if _skeleton(label) == _skeleton(own_label):
            return "homoglyph"
        if len(own_label) >= 6 and OSA.distance(label, own_label) <= 1:
            return "typo"
        if len(own_label) >= min_combo_length and own_label in domain:
            return "combo"
    return None


def spoofed_sender(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1566 / T1656: mail sent as a member's domain by a source that is not theirs.

    From DMARC aggregate reports: per source, domain and report day, at least
    ``min_messages`` messages of which at least ``min_failure_ratio`` failed
    DMARC (neither SPF nor DKIM passed aligned). High when the receivers
    delivered them anyway (the domain's policy is ``none``). Known false
    positives: a service sending for the member that was never added to its
    SPF record or given a DKIM key (steady, small volumes, day after day), and
    forwarders that break DKIM; allow their addresses.
    """
    rows = con.execute(
        """
        SELECT ip, sender_domain, time_bucket(INTERVAL 1 DAY, ts) AS day,
               sum(messages) AS total,
               sum(messages) FILTER (outcome = 'failure') AS failed
        FROM mail WHERE dataset = 'dmarc-aggregate' AND ip IS NOT NULL
        GROUP BY ip, sender_domain, day
        HAVING sum(messages) FILTER (outcome = 'failure') >= $min_messages
           AND sum(messages) FILTER (outcome = 'failure') >= $ratio * sum(messages)
        ORDER BY ip, sender_domain, day
        """,
        {"min_messages": int(p["min_messages"]), "ratio": float(p["min_failure_ratio"])},
    ).fetchall()
    findings = []
    for ip, domain, day, total, failed in rows:
        tenants, delivered, dispositions, spf, dkim = fetch_one(
            con,
            """
            SELECT list(DISTINCT tenant), sum(messages) FILTER (action = 'none'),
                   list(DISTINCT action), list(DISTINCT spf), list(DISTINCT dkim)
            FROM mail WHERE dataset = 'dmarc-aggregate' AND ip = $ip
              AND sender_domain = $domain AND time_bucket(INTERVAL 1 DAY, ts) = $day
              AND outcome = 'failure'
            """,
            {"ip": ip, "domain": domain, "day": day},
        )
        delivered = int(delivered or 0)
        findings.append(
            finding(
                detector="spoofed_sender",
                title=f"{failed} messages sent as {domain} failing SPF and DKIM"
                + (f", {delivered} delivered" if delivered else ", all held by receivers"),
                severity="high" if delivered else "medium",
                technique="T1566",
                tenants=tenants,
                entity_field="source.ip",
                entity=ip,
                first_seen=day,
                # an aggregate report covers its day: that is all we know of the times
                last_seen=day + timedelta(days=1) - timedelta(seconds=1),
                evidence={
                    "domain": domain,
                    "messages": int(total),
                    "failed": int(failed),
                    "delivered": delivered,
                    "dispositions": sorted(d for d in dispositions if d),
                    "spf": sorted(s for s in spf if s),
                    "dkim": sorted(d for d in dkim if d),
                },
                pseudonyms=[],
            )
        )
    return findings


def phishing_mail(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1566.001 / T1566.002: phishing mail into the members' mailboxes.

    Per sender domain, two signals from the mail server's log: the domain
    imitates one of the consortium's own (``own_domains``, and every domain
    the run's DMARC reports are about) by a homoglyph, a one-letter typo or by
    embedding it; or its messages carry attachments of a type that runs code
    (``RISKY_EXTENSIONS``: executables, scripts, disk images, macro documents,
    HTML and SVG). High when both, or when an imitation reached mailboxes;
    low when every message was rejected. Known false positives: a partner's
    honest domain one letter away from a member's (allow it), and software
    sent as ``.exe`` by a supplier.
    """
    own = set(p["own_domains"]) | {
        row[0]
        for row in con.execute(
            "SELECT DISTINCT sender_domain FROM mail "
            "WHERE dataset = 'dmarc-aggregate' AND sender_domain IS NOT NULL"
        ).fetchall()
    }
    risky = list(RISKY_EXTENSIONS)
    senders = con.execute(
        """
        SELECT sender_domain, count(*) FILTER (list_contains($risky, extension))
        FROM mail WHERE dataset <> 'dmarc-aggregate' AND sender_domain IS NOT NULL
        GROUP BY sender_domain ORDER BY sender_domain
        """,
        {"risky": risky},
    ).fetchall()
    combo = int(p["min_combo_length"])
    findings = []
    for domain, risky_count in senders:
        kind = imitation(domain, own, min_combo_length=combo) if own else None
        if kind is None and risky_count < int(p["min_risky_attachments"]):
            continue
        (
            tenants,
            messages,
            recipients,
            delivered,
            rejected,
            extensions,
            sources,
            first,
            last,
        ) = fetch_one(
            con,
            """
            SELECT list(DISTINCT tenant), count(*), count(DISTINCT recipient),
                   count(*) FILTER (action = 'sent'),
                   count(*) FILTER (outcome = 'failure' AND action <> 'bounced'),
                   coalesce(list(DISTINCT extension) FILTER (extension IS NOT NULL), []),
                   coalesce(list(DISTINCT ip) FILTER (ip IS NOT NULL), []), min(ts), max(ts)
            FROM mail WHERE dataset <> 'dmarc-aggregate' AND sender_domain = $domain
            """,
            {"domain": domain},
        )
        found_risky = sorted(e for e in extensions if e in RISKY_EXTENSIONS)
        signals = ([f"imitates a member's domain ({kind})"] if kind else []) + (
            [f"risky attachments ({', '.join('.' + e for e in found_risky)})"]
            if found_risky
            else []
        )
        if kind and (found_risky or delivered):
            severity = "high"
        elif rejected == messages:
            severity = "low"
        else:
            severity = "medium"
        findings.append(
            finding(
                detector="phishing_mail",
                title=f"Phishing from {domain}: " + " and ".join(signals),
                severity=severity,
                technique="T1566.001" if found_risky else "T1566.002",
                tenants=tenants,
                entity_field="email.from.domain",
                entity=domain,
                first_seen=first,
                last_seen=last,
                evidence={
                    "imitation": kind,
                    "messages": messages,
                    "recipients": recipients,
                    "delivered": delivered,
                    "rejected": rejected,
                    "extensions": sorted(extensions),
                    "sources": sorted(sources),
                },
                pseudonyms=sorted(sources),
                entity_is_pseudonym=False,
            )
        )
    return findings
