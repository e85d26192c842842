"""Web access logs: the combined, common and vhost_combined layouts read by
default, and any Apache LogFormat or Nginx log_format given as an option."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from confiance.errors import IngestError
from confiance.ingest import DEMO_GEO
from confiance.ingest.parsers import PARSERS, ParseContext, check_options
from confiance.ingest.weblog import compile_log_format


def _parse(lines: list[str], **options: str) -> tuple[list[dict[str, object]], list]:
    context = ParseContext(tenant="t", service="web", geo=DEMO_GEO, options=options)
    table, bad = PARSERS["apache-combined"].parse(pa.array(lines), context=context)
    return table.to_pylist(), bad


def test_common_combined_and_vhost_combined_by_default() -> None:
    rows, bad = _parse(
        [
            '195.83.12.7 - - [14/Sep/2026:08:02:11 +0200] "GET /index.html HTTP/1.1" 200 2326',
            "ent.ac-normandie.fr:443 195.83.12.7 - marie [14/Sep/2026:08:02:12 +0200] "
            '"POST /auth/login?next=/x HTTP/2.0" 302 0 "-" "Mozilla/5.0"',
            '2001:db8::7 - - [14/Sep/2026:08:02:13 +0200] "GET / HTTP/1.1" 404 12 "-" "curl"',
        ]
    )
    assert bad == []
    assert [r["url.domain"] for r in rows] == [None, "ent.ac-normandie.fr", None]
    assert [r["user_agent.original"] for r in rows] == [None, "Mozilla/5.0", "curl"]
    assert rows[1]["url.path"] == "/auth/login"  # never the query
    assert rows[1]["event.category"] == "authentication"
    assert rows[0]["@timestamp"] == datetime(2026, 9, 14, 6, 2, 11, tzinfo=UTC)


def test_an_apache_logformat_with_duration_and_vhost() -> None:
    layout = '%v %a %l %u %t "%r" %>s %b %D "%{Referer}i" "%{User-Agent}i" %{X-Request-Id}i'
    rows, bad = _parse(
        [
            "portail.region.fr 10.3.14.22 - - [22/Nov/2026:10:15:32 +0100] "
            '"GET /aides HTTP/1.1" 200 5120 1532 "-" "Firefox/128.0" abc-123',
            "not this layout",
        ],
        log_format=layout,
    )
    assert [(r["url.domain"], r["event.duration"], r["destination.bytes"]) for r in rows] == [
        ("portail.region.fr", 1_532_000, 5120)
    ]
    assert bad == [(1, "does not match the apache-combined format")]


def test_an_nginx_log_format_with_iso_times() -> None:
    layout = (
        '$remote_addr - $remote_user [$time_iso8601] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" $request_time $host'
    )
    rows, bad = _parse(
        [
            '193.48.10.4 - lea [2026-11-22T10:15:32+01:00] "GET /cours HTTP/1.1" 200 10 "-" '
            '"Mozilla/5.0" 0.125 ent.ac-normandie.fr'
        ],
        log_format=layout,
    )
    assert bad == []
    (row,) = rows
    assert row["@timestamp"] == datetime(2026, 11, 22, 9, 15, 32, tzinfo=UTC)
    assert (row["user.name"], row["event.duration"], row["url.domain"]) == (
        "lea",
        125_000_000,
        "ent.ac-normandie.fr",
    )


def test_named_layouts_compile() -> None:
    for name in ("combined", "common", "vhost_combined", "nginx"):
        assert compile_log_format(name).startswith("^")


@pytest.mark.parametrize(
    ("fmt", "options", "message"),
    [
        ("apache-combined", {"log_format": "%h %>s"}, "lacks the client address, the time"),
        ("apache-combined", {"logformat": "%h"}, "unknown option 'logformat' \\(it takes: log_"),
        ("squid", {"log_format": "x"}, "format squid: unknown option 'log_format' \\(it takes: n"),
        ("shibboleth-audit", {"log_format": "%T %u"}, "not a \\|-separated Shibboleth"),
    ],
)
def test_bad_options_are_refused(fmt: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(IngestError, match=message):
        check_options(fmt, options)
