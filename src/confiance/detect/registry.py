"""The detectors a contract may name, with their default parameters."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from confiance.contracts import ContractClass
from confiance.detect import (
    anomaly,
    authentication,
    dns,
    incidents,
    intel,
    mail,
    network,
    sigma,
    web,
)
from confiance.detect.minors import detectors
from confiance.errors import ConfigError
from confiance.runtime.measurement import code_digest


@dataclass(frozen=True)
class Detector:
    name: str
    function: Callable[..., list[dict[str, Any]]]
    technique: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: the contract class its use requires (checked by the runtime before any key release)
    contract_class: ContractClass = ContractClass.STANDARD
    #: results only the contract's named reviewers may receive
    reviewed: bool = False
    #: takes reference tables (e.g. an authority's list), not only events
    uses_references: bool = False
    #: takes the run's events as an Arrow table (it runs them in its own engine)
    uses_events: bool = False
    #: takes the findings of the run's other analyses (it runs after them)
    uses_findings: bool = False
    #: in the default joint-SOC contract (an opt-in analysis is named on purpose)
    default: bool = True
    #: modules of data (a lexicon) its digest covers besides its code
    data_modules: tuple[str, ...] = ()
    #: a directory of rule files (package-relative) its digest covers too
    rule_dir: str = ""

    @property
    def module_path(self) -> Path:
        return _module_file(self.function.__module__)

    @property
    def data_paths(self) -> tuple[Path, ...]:
        paths = [_module_file(name) for name in self.data_modules]
        if self.rule_dir:
            # the rule files, and what they are compiled to (the SQL that actually runs)
            paths += sorted((_PACKAGE / self.rule_dir).rglob("*.yml"))
            paths += sorted((_PACKAGE / self.rule_dir).rglob("*.json"))
        return tuple(paths)


def _module_file(name: str) -> Path:
    module = sys.modules[name]
    assert module.__file__ is not None
    return Path(module.__file__)


_MINORS = ContractClass.PROTECTION_OF_MINORS
_PACKAGE = Path(__file__).resolve().parent.parent


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
        Detector(
            "failure_then_success",
            authentication.failure_then_success,
            "T1110",
            {"min_failures": 8, "window_minutes": 30},
        ),
        Detector(
            "credential_stuffing",
            authentication.credential_stuffing,
            "T1110.004",
            {"min_sources": 10, "min_accounts": 30, "max_success_ratio": 0.1},
        ),
        Detector(
            "new_country",
            authentication.new_country,
            "T1078",
            {"min_history": 3, "min_gap_hours": 6, "ignore_countries": []},
        ),
        Detector(
            "unusual_hour",
            authentication.unusual_hour,
            "T1078",
            {
                "min_history": 10,
                "min_days": 3,
                "min_deviation": 2.5,
                "min_gap_hours": 3,
                "max_tenant_share": 0.01,
                "time_zone": "Europe/Paris",
            },
        ),
        Detector(
            "concurrent_sessions",
            authentication.concurrent_sessions,
            "T1078",
            {"min_km": 500, "min_switches": 3, "window_minutes": 60},
        ),
        Detector("port_scan", network.port_scan, "T1046", {"min_targets": 50, "window_minutes": 5}),
        Detector(
            "syn_flood",
            network.syn_flood,
            "T1498.001",
            {"min_probes": 500, "min_sources": 20},
        ),
        Detector(
            "beaconing",
            network.beaconing,
            "T1071",
            {
                "min_connections": 20,
                "min_duration_minutes": 30,
                "min_score": 0.8,
                "transports": ["tcp", "udp"],
                "ignore_ports": [53, 123, 5353, 5355],
            },
        ),
        Detector(
            "large_outbound",
            network.large_outbound,
            "T1048",
            {"min_bytes": 1_000_000_000, "factor": 20},
        ),
        Detector("web_attack", web.web_attack, "T1190", {"min_requests": 10}),
        Detector(
            "web_error_rate",
            web.web_error_rate,
            "T1595.003",
            {
                "min_requests": 30,
                "min_error_ratio": 0.8,
                "min_server_errors": 50,
                "min_server_error_ratio": 0.3,
                "factor": 10,
                "window_minutes": 10,
            },
        ),
        Detector(
            "dns_tunnelling",
            dns.dns_tunnelling,
            "T1071.004",
            {"min_names": 100, "min_label_length": 30, "min_entropy": 3.5},
        ),
        Detector("dga", dns.dga, "T1568.002", {"min_domains": 25}),
        Detector(
            "newly_seen_domain",
            dns.newly_seen_domain,
            "T1583.001",
            {
                "baseline_days": dns.BASELINE_DAYS,
                "min_queries": 3,
                "ignore_suffixes": ["in-addr.arpa", "ip6.arpa", "local", "localhost"],
            },
        ),
        Detector(
            "spoofed_sender",
            mail.spoofed_sender,
            "T1566",
            {"min_messages": 20, "min_failure_ratio": 0.9},
        ),
        Detector(
            "phishing_mail",
            mail.phishing_mail,
            "T1566",
            {"own_domains": [], "min_risky_attachments": 1, "min_combo_length": 10},
        ),
        Detector(
            "threat_intel",
            intel.threat_intel,
            "T1071",
            {"severity": "high"},
            uses_references=True,
        ),
        Detector(
            "sigma",
            sigma.sigma_rules,
            "",  # each rule names its own techniques
            {"min_level": "low", "exclude": [], "engine": "duckdb"},
            uses_events=True,
            rule_dir=sigma.RULE_DIR,
        ),
        Detector(
            anomaly.DETECTOR,
            anomaly.anomalies,
            "",  # behaviour out of the ordinary, no technique of its own
            {"min_score": 0.6, "max_share": 0.002, "min_deviation": 4.0, "feedback_radius": 1.0},
            uses_references=True,
            uses_findings=True,
            default=False,  # its precision on the synthetic week is low: opt in
        ),
        Detector(
            incidents.DETECTOR,
            incidents.correlate,
            "",  # an incident carries its findings' techniques
            {"max_gap_hours": 24, "min_tenants": 2, "follow_hours": 24},
            uses_findings=True,
        ),
        Detector(
            "blocklist_access",
            detectors.blocklist_access,
            detectors.TECHNIQUE,
            {"severity": "critical"},
            contract_class=_MINORS,
            uses_references=True,
            data_modules=("confiance.detect.minors.blocklist", "confiance.detect.minors.urls"),
        ),
        Detector(
            "search_signals",
            detectors.search_signals,
            detectors.TECHNIQUE,
            {"min_severity": "medium", "model_path": ""},
            contract_class=_MINORS,
            reviewed=True,
            uses_references=True,
            data_modules=(
                "confiance.detect.minors.lexicon",
                "confiance.detect.minors.lexicon_fr",
                "confiance.detect.minors.classifier",
            ),
        ),
    )
}


def detector(name: str) -> Detector:
    try:
        return DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})") from None


def detector_code_digest(name: str) -> str:
    """Digest of the module holding a detector: what a contract pins."""
    found = detector(name)
    return code_digest(found.module_path, *found.data_paths)


def detectors_of(
    contract_class: ContractClass = ContractClass.STANDARD, *, opt_in: bool = False
) -> list[str]:
    """Names of the detectors a contract of that class runs by default (registry
    order); with ``opt_in``, also those a contract must name on purpose."""
    return [
        n
        for n, d in DETECTORS.items()
        if d.contract_class is contract_class and (d.default or opt_in)
    ]


def class_requirements() -> tuple[dict[str, ContractClass], set[str]]:
    """Detectors that need a contract class, and those whose results only reviewers get."""
    required: dict[str, ContractClass] = {
        n: d.contract_class
        for n, d in DETECTORS.items()
        if d.contract_class is not ContractClass.STANDARD
    }
    return required, {n for n, d in DETECTORS.items() if d.reviewed}


def default_parameters() -> dict[str, dict[str, Any]]:
    return {name: dict(d.defaults) for name, d in DETECTORS.items()}


#: parameters every detector takes: entity values (as the run sees them) never
#: reported, and reported nowhere within a window ("VALUE@START/END", ISO 8601:
#: the scanner's address during the pentest week)
ALLOW = "allow"
SUPPRESS = "suppress"
#: a tenant's own thresholds ({tenant: {parameter: value}}): its events are
#: analysed apart with them (a school whose NAT carries every login needs a
#: higher spraying threshold than a ministry)
PER_TENANT = "per_tenant"
_COMMON = (ALLOW, SUPPRESS)


@dataclass(frozen=True)
class Suppression:
    value: str
    start: datetime
    end: datetime

    def covers(self, finding: Mapping[str, Any]) -> bool:
        """The finding is this entity's and lies wholly within the window (a finding
        that runs past it may hold what the window was not meant to hide)."""
        return (
            finding["entity"]["value"] == self.value
            and datetime.fromisoformat(finding["first_seen"]) >= self.start
            and datetime.fromisoformat(finding["last_seen"]) <= self.end
        )


def _suppression(name: str, entry: str) -> Suppression:
    value, _, window = entry.rpartition("@")
    start, _, end = window.partition("/")
    begin: datetime | None
    until: datetime | None
    try:
        begin, until = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError:
        begin = until = None
    if not value or begin is None or until is None or until <= begin:
        raise ConfigError(
            f"analysis {name}: {SUPPRESS} entry {entry!r} is not VALUE@START/END "
            "(ISO 8601 times, START before END)"
        )
    if begin.tzinfo is None or until.tzinfo is None:
        raise ConfigError(f"analysis {name}: {SUPPRESS} entry {entry!r}: give a time zone")
    return Suppression(value, begin, until)


def _check_per_tenant(name: str, found: Detector, per_tenant: Any) -> None:
    if not per_tenant:
        return
    if found.uses_findings:
        raise ConfigError(
            f"analysis {name}: {PER_TENANT} does not apply to an analysis of findings"
        )
    if not isinstance(per_tenant, Mapping):
        raise ConfigError(f"analysis {name}: {PER_TENANT} maps tenants to parameters")
    for tenant, overrides in per_tenant.items():
        if not isinstance(overrides, Mapping) or not overrides:
            raise ConfigError(f"analysis {name}: {PER_TENANT}.{tenant} must set parameters")
        unknown = sorted(set(overrides) - set(found.defaults))
        if unknown:
            raise ConfigError(
                f"analysis {name}: {PER_TENANT}.{tenant}: unknown parameter(s) "
                f"{', '.join(unknown)} (known: {', '.join(found.defaults)})"
            )


def suppressions(name: str, given: Mapping[str, Any]) -> list[Suppression]:
    return [_suppression(name, entry) for entry in given.get(SUPPRESS, [])]


def parameters_for(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The detector's defaults overridden by ``given``; a name it does not know is refused.

    A misspelt threshold silently falling back to its default would be a
    detection the contract's signatories believe runs and does not.
    """
    found = detector(name)
    unknown = sorted(set(given) - set(found.defaults) - {*_COMMON, PER_TENANT})
    if unknown:
        raise ConfigError(
            f"analysis {name}: unknown parameter(s) {', '.join(unknown)} "
            f"(known: {', '.join([*found.defaults, *_COMMON, PER_TENANT])})"
        )
    _check_per_tenant(name, found, given.get(PER_TENANT, {}))
    for key in _COMMON:
        listed = given.get(key, [])
        if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
            raise ConfigError(f"analysis {name}: parameter {key} must be a list of strings")
    suppressions(name, given)  # refused now, before any key is released, if malformed
    return dict(found.defaults) | dict(given)
