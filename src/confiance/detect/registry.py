"""The detectors a contract may name, with their default parameters."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from confiance.detect import authentication, network
from confiance.errors import ConfigError
from confiance.runtime.measurement import code_digest

DetectorFunction = Callable[[duckdb.DuckDBPyConnection, Mapping[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Detector:
    name: str
    function: DetectorFunction
    technique: str
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module_path(self) -> Path:
        module = sys.modules[self.function.__module__]
        assert module.__file__ is not None
        return Path(module.__file__)


DETECTORS: dict[str, Detector] = {
    d.name: d
    for d in (
        Detector(
            "password_spraying",
            authentication.password_spraying,
            "T1110.003",
            {"min_accounts": 20, "min_failure_ratio": 0.8, "max_tries_per_account": 3},
        ),
        Detector(
            "brute_force",
            authentication.brute_force,
            "T1110.001",
            {"min_failures": 20, "window_minutes": 10},
        ),
        Detector(
            "impossible_travel",
            authentication.impossible_travel,
            "T1078",
            {"min_km": 500, "min_speed_kmh": 900, "max_hours": 6},
        ),
        Detector("port_scan", network.port_scan, "T1046", {"min_targets": 50, "window_minutes": 5}),
    )
}


def detector(name: str) -> Detector:
    try:
        return DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})") from None


def detector_code_digest(name: str) -> str:
    """Digest of the module holding a detector: what a contract pins."""
    return code_digest(detector(name).module_path)


def default_parameters() -> dict[str, dict[str, Any]]:
    return {name: dict(d.defaults) for name, d in DETECTORS.items()}
