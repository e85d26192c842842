"""A configured source's format options reach its parser."""

from __future__ import annotations

import pytest

from confiance.consortium import Home, operations
from confiance.errors import IngestError


def test_a_configured_source_is_read_with_its_log_format(home: Home) -> None:
    log = home.root / "inputs" / "portail-custom.log"
    log.write_text(
        'portail.region.fr 10.3.14.22 [22/Nov/2026:10:15:32 +0100] "GET /aides HTTP/1.1" 200 51\n'
    )
    source = {
        "source": "portail-custom",
        "format": "apache-combined",
        "file": "inputs/portail-custom.log",
        "options": {"log_format": '%v %h %t "%r" %>s %b'},
    }
    home.config["sources"]["region"] = [source]
    report = operations.ingest_tenant(home, "region")
    assert (report.lines, report.events, report.quarantined) == (1, 1, 0)
    source["options"] = {"log_format": "%h"}
    with pytest.raises(IngestError, match="lacks the client address"):
        operations.ingest_tenant(home, "region")
