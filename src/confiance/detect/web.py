"""Web detections over server access logs: scanners and exploitation attempts.

Query strings are never carried (they hold identifiers), so the patterns look
at the path, the method and the user agent; injections that live only in the
query string are out of reach, and the user guide says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import duckdb

from confiance.detect.finding import fetch_one, finding, merge_windows

#: (kind, regular expression over the lower-cased, percent-decoded path)
PATH_PATTERNS: tuple[tuple[str, str], ...] = (
    ("traversal", r"\.\./|\.\.\\|/etc/(passwd|shadow)|win\.ini|/proc/self/"),
    ("injection", r"<script|javascript:|union(\s|\+|/\*.*\*/)+select|'\s*or\s*'?1'?\s*=\s*'?1"),
    (
        "probe",
        r"/\.env$|/\.git/|/\.svn/|/\.aws/|/\.ds_store|/wp-login\.php|/wp-admin|/xmlrpc\.php"
        r"|/phpmyadmin|/pma/|/cgi-bin/|/server-status|/actuator|/vendor/phpunit|/boaform"
        r"|/hnap1|/\.htaccess|/config\.php|/admin\.php|/shell|/solr/admin|/console/login"
        r"|/manager/html|/owa/auth|/remote/login|/\+cscoe\+",
    ),
)
#: user agents of well-known scanners (lower case)
SCANNER_AGENTS = (
    r"sqlmap|nikto|nmap|masscan|zgrab|nuclei|wpscan|dirbuster|gobuster|feroxbuster"
    r"|acunetix|nessus|openvas|whatweb|wfuzz|ffuf"
)


def _kind_sql() -> str:
    def quoted(rx: str) -> str:
        return "'" + rx.replace("'", "''") + "'"

    cases = " ".join(
        f"WHEN regexp_matches(p, {quoted(rx)}) THEN '{kind}'" for kind, rx in PATH_PATTERNS
    )
    return f"CASE {cases} WHEN regexp_matches(agent, '{SCANNER_AGENTS}') THEN 'scanner' END"


def web_attack(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1190 / T1595.002: a source scanning or attacking a web server.

    Each request is classified by its path (traversal, injection, known probe
    paths of exposed admin pages and leaked files) or by a scanner's user
    agent. A source fires when it sends at least ``min_requests`` such requests
    within an hour. The vulnerability scanner a tenant runs itself is the main
    known false positive: put its address on the ``allow`` list.
    """
    kinds = _kind_sql()
    windows = con.execute(
        f"""
        WITH r AS (
            SELECT ip, ts, {kinds} AS kind
            FROM (SELECT ip, ts, lower(url_decode(coalesce(path, ''))) AS p,
                         lower(coalesce(agent, '')) AS agent FROM access)
        )
        SELECT ip, time_bucket(INTERVAL 1 HOUR, ts) AS w FROM r WHERE kind IS NOT NULL
        GROUP BY ip, w HAVING count(*) >= $min_requests
        """,
        {"min_requests": int(p["min_requests"])},
    ).fetchall()
    findings = []
    for ip, start, end in merge_windows(windows, width=timedelta(hours=1)):
        tenants, requests, hits, kinds_seen, errors, paths, first, last = fetch_one(
            con,
            f"""
            WITH r AS (
                SELECT *, {kinds} AS kind
                FROM (SELECT tenant, ip, ts, status, path,
                             lower(url_decode(coalesce(path, ''))) AS p,
                             lower(coalesce(agent, '')) AS agent FROM access)
                WHERE ip = $ip AND ts >= $s AND ts < $e
            )
            SELECT list(DISTINCT tenant), count(*), count(kind), list(DISTINCT kind),
                   count(*) FILTER (status >= 400), list(DISTINCT path) FILTER (kind IS NOT NULL),
                   min(ts), max(ts)
            FROM r
            """,
            {"ip": ip, "s": start, "e": end},
        )
        found = sorted(k for k in kinds_seen if k is not None)
        exploit = bool({"traversal", "injection"} & set(found))
        findings.append(
            finding(
                detector="web_attack",
                title=("Exploitation attempts" if exploit else "Web scanning")
                + f" ({', '.join(found)}): {hits} of {requests} requests",
                severity="high" if exploit else "medium",
                technique="T1190" if exploit else "T1595.002",
                tenants=tenants,
                entity_field="source.ip",
                entity=ip,
                first_seen=first,
                last_seen=last,
                evidence={
                    "requests": requests,
                    "suspicious": hits,
                    "kinds": found,
                    "client_errors": errors,
                    "paths_sample": sorted(paths)[:20],
                },
                pseudonyms=[],
            )
        )
    return findings
