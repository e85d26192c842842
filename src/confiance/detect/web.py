"""Web detections over server access logs: scanners, exploitation attempts, error rates.

Query strings are never carried (they hold identifiers), so the patterns look
at the path, the method and the user agent; injections that live only in the
query string are out of reach, and the user guide says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import duckdb

from confiance.detect.finding import fetch_one, fetch_spans, finding, listed, merge_windows

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


def _classified(columns: str, requests: str = "access") -> str:
    """``requests`` (``access`` or a query over it) with ``columns`` and ``kind``: what
    their decoded path or user agent shows (traversal, injection, probe, scanner), or
    null. Each distinct (path, agent) pair is classified once: a portal's requests
    repeat a few pages."""
    picked = ", ".join(f"a.{c.strip()}" for c in columns.split(","))
    return f"""
        SELECT {picked}, k.kind
        FROM {requests} a LEFT JOIN (
            SELECT path, sent, {_kind_sql()} AS kind
            FROM (SELECT path, agent AS sent, lower(url_decode(coalesce(path, ''))) AS p,
                         lower(coalesce(agent, '')) AS agent
                  FROM (SELECT DISTINCT path, agent FROM {requests}))
        ) k ON a.path IS NOT DISTINCT FROM k.path AND a.agent IS NOT DISTINCT FROM k.sent
    """


def web_attack(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1190 / T1595.002: a source scanning or attacking a web server.

    Each request is classified by its path (traversal, injection, known probe
    paths of exposed admin pages and leaked files) or by a scanner's user
    agent. A source fires when it sends at least ``min_requests`` such requests
    within an hour. The vulnerability scanner a tenant runs itself is the main
    known false positive: put its address on the ``allow`` list.
    """
    windows = con.execute(
        f"""
        WITH r AS ({_classified("ip, ts")})
        SELECT ip, time_bucket(INTERVAL 1 HOUR, ts) AS w FROM r WHERE kind IS NOT NULL
        GROUP BY ip, w HAVING count(*) >= $min_requests
        """,
        {"min_requests": int(p["min_requests"])},
    ).fetchall()
    spans = merge_windows(windows, width=timedelta(hours=1))
    # the requests of each span, numbered by span
    within = (
        "(SELECT sp.n, w.* FROM spans sp "
        "JOIN access w ON w.ip = sp.entity AND w.ts >= sp.s AND w.ts < sp.e)"
    )
    details = fetch_spans(
        con,
        f"""
        WITH x AS ({_classified("n, tenant, ts, status, path", within)})
        SELECT sp.n, {listed("x.tenant")}, count(x.ts), count(x.kind), {listed("x.kind")},
               count(x.ts) FILTER (x.status >= 400),
               list(DISTINCT x.path) FILTER (x.kind IS NOT NULL), min(x.ts), max(x.ts)
        FROM spans sp LEFT JOIN x ON x.n = sp.n
        GROUP BY sp.n
        """,
        spans,
    )
    findings = []
    for (ip, _, _), row in zip(spans, details, strict=True):
        tenants, requests, hits, kinds_seen, errors, paths, first, last = row
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


#: a client error, less those a login form or a proxy answers as part of its job
#: (401, 403, 407: the authentication detections read those)
_CLIENT_ERROR = "status BETWEEN 400 AND 499 AND status NOT IN (401, 403, 407)"


def web_error_rate(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ATT&CK T1595.003 / T1499: error rates far from what a web server usually answers.

    Two signals. A *client* that, within an hour, sends at least
    ``min_requests`` requests that no pattern of ``web_attack`` recognises and
    gets a client error (4xx, less 401/403/407, which are the login
    detections') for at least ``min_error_ratio`` of them is guessing paths
    from a word list (forced browsing with an ordinary user agent). A *server*
    (the tenant's portal) that answers at least ``min_server_errors`` server
    errors (5xx) in ``window_minutes``, at least ``min_server_error_ratio`` of
    its answers and ``factor`` times its median ratio over the run, is failing
    under an attack (application-layer flooding, an exploit crashing it) or an
    outage worth a look. Browsers asking for icons the site lacks stay far below.
    Known false positives: a broken link crawled by a search engine, a
    maintenance window (suppress it).
    """
    windows = con.execute(
        f"""
        WITH r AS ({_classified("ip, ts, status")})
        SELECT ip, time_bucket(INTERVAL 1 HOUR, ts) AS w FROM r WHERE kind IS NULL
        GROUP BY ip, w
        HAVING count(*) >= $min_requests
           AND count(*) FILTER ({_CLIENT_ERROR}) >= $ratio * count(*)
        """,
        {"min_requests": int(p["min_requests"]), "ratio": float(p["min_error_ratio"])},
    ).fetchall()
    findings = []
    for ip, start, end in merge_windows(windows, width=timedelta(hours=1)):
        tenants, requests, errors, statuses, paths, first, last = fetch_one(
            con,
            f"""
            SELECT list(DISTINCT tenant), count(*),
                   count(*) FILTER ({_CLIENT_ERROR}),
                   list(DISTINCT status), list(DISTINCT path), min(ts), max(ts)
            FROM access WHERE ip = $ip AND ts >= $s AND ts < $e
            """,
            {"ip": ip, "s": start, "e": end},
        )
        findings.append(
            finding(
                detector="web_error_rate",
                title=f"Forced browsing: {errors} of {requests} requests answered by client errors",
                severity="medium",
                technique="T1595.003",
                tenants=tenants,
                entity_field="source.ip",
                entity=ip,
                first_seen=first,
                last_seen=last,
                evidence={
                    "requests": requests,
                    "client_errors": errors,
                    "statuses": sorted(s for s in statuses if s is not None),
                    "distinct_paths": len(paths),
                    "paths_sample": sorted(p for p in paths if p)[:20],
                },
                pseudonyms=[],
            )
        )
    return findings + _server_errors(con, p)


def _server_errors(con: duckdb.DuckDBPyConnection, p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The server signal of :func:`web_error_rate`: a tenant's portal failing."""
    width = int(p["window_minutes"])
    windows = con.execute(
        f"""
        WITH w AS (
            SELECT tenant, time_bucket(INTERVAL {width} MINUTE, ts) AS w, count(*) AS requests,
                   count(*) FILTER (status >= 500) AS errors
            FROM access GROUP BY tenant, w
        ), usual AS (
            SELECT tenant, median(errors / requests) AS ratio FROM w GROUP BY tenant
        )
        SELECT tenant, w FROM w JOIN usual USING (tenant)
        WHERE errors >= $min_errors AND errors >= $ratio * requests
          AND errors >= $factor * usual.ratio * requests
        """,
        {
            "min_errors": int(p["min_server_errors"]),
            "ratio": float(p["min_server_error_ratio"]),
            "factor": float(p["factor"]),
        },
    ).fetchall()
    findings = []
    for tenant, start, end in merge_windows(windows, width=timedelta(minutes=width)):
        requests, errors, statuses, clients, first, last = fetch_one(
            con,
            """
            SELECT count(*), count(*) FILTER (status >= 500),
                   list(DISTINCT status) FILTER (status >= 500),
                   count(DISTINCT ip) FILTER (status >= 500), min(ts), max(ts)
            FROM access WHERE tenant = $t AND ts >= $s AND ts < $e
            """,
            {"t": tenant, "s": start, "e": end},
        )
        top = [
            ip
            for ip, _ in con.execute(
                """
                SELECT ip, count(*) AS n FROM access
                WHERE tenant = $t AND ts >= $s AND ts < $e AND status >= 500
                GROUP BY ip ORDER BY n DESC, ip LIMIT 50
                """,
                {"t": tenant, "s": start, "e": end},
            ).fetchall()
        ]
        findings.append(
            finding(
                detector="web_error_rate",
                title=f"Web server failing: {errors} of {requests} requests answered 5xx",
                severity="medium",
                technique="T1499",
                tenants=[tenant],
                entity_field="service.tenant",
                entity=tenant,
                first_seen=first,
                last_seen=last,
                evidence={
                    "requests": requests,
                    "server_errors": errors,
                    "statuses": sorted(statuses),
                    "distinct_clients_with_errors": clients,
                    # the clients answered most 5xx: a flood's sources, or the busiest users
                    "sources": top,
                },
                pseudonyms=top,
                entity_is_pseudonym=False,
            )
        )
    return findings
