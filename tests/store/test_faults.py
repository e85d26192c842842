"""The fault-injection run of issue 4, in full: 1,000 objects, every byte back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "store_faults.py"


@pytest.mark.slow
def test_random_faults_up_to_m_lose_nothing_and_repair_restores_health() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--objects", "1000", "--seed", "7"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["objects"] == 1000 and report["bytes"] > 0
    assert sum(report["faults"].values()) > 300  # a node lost, hundreds of fragment faults
    assert {"delete", "flip", "truncate", "node lost"} <= set(report["faults"])
    assert report["identical_with_faults"] == 1000
    assert report["over_m_errors_naming_object"] == report["over_m_sampled"] == 20
    assert report["fragments_moved"] > 0 and report["segments_rebuilt"] > 0
    assert report["healthy_after_repair"] == report["identical_after_repair"] == 1000
