"""The SYN flood detection: many unanswered attempts at one service from many
sources; one loud source, or answered connections, are not a flood."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from confiance.detect import jobs
from confiance.events import OcsfClass, conform

START = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)


def _flow(second: float, src: str, flags: str = "....S.", packets: int = 1) -> dict[str, Any]:
    return {
        "@timestamp": START + timedelta(seconds=second),
        "tenant": "reseau",
        "event.dataset": "nfdump-csv",
        "ocsf.class_uid": int(OcsfClass.NETWORK_ACTIVITY),
        "event.action": flags,
        "source.ip": src,
        "destination.ip": "n4_target",
        "destination.port": 443,
        "network.transport": "tcp",
        "network.packets": packets,
    }


def _run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return jobs.run(conform(pa.Table.from_pylist(rows)), analyses=["syn_flood"], parameters={})


def test_a_distributed_flood_names_its_target_and_sources() -> None:
    rows = [_flow(i * 0.05, f"n4_bot{i % 40}") for i in range(800)]
    (found,) = _run(rows)
    assert (found["entity"]["field"], found["entity"]["value"]) == ("destination.ip", "n4_target")
    assert found["evidence"]["distinct_sources"] == 40
    assert found["evidence"]["attempts"] == 800
    assert len(found["evidence"]["sources"]) == 40
    assert found["attack_technique"] == "T1498.001"


def test_one_loud_source_or_answered_connections_are_not_a_flood() -> None:
    assert _run([_flow(i * 0.05, "n4_one") for i in range(800)]) == []
    answered = [_flow(i * 0.05, f"n4_c{i % 40}", flags=".AP.SF", packets=12) for i in range(800)]
    assert _run(answered) == []
    slow = [_flow(i * 10, f"n4_bot{i % 40}") for i in range(800)]  # spread over hours
    assert _run(slow) == []
