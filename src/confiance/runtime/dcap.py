"""Intel SGX and TDX DCAP quotes, verified for real with an explicit policy.

dcap-qvl checks the quote's signature chain to Intel's root, the PCK and root
CRLs (revocation), and the TCB info and QE identity collateral with their
signatures and validity windows at the time given (freshness). On top of it,
this module applies our policy — nothing is accepted silently:

* the TCB status must be one the policy lists (default: ``UpToDate`` only);
* debug enclaves and TDs are refused unless the policy says otherwise;
* the measurements (MRTD and RTMRs, or MRENCLAVE and MRSIGNER) must equal the
  pinned values;
* the report data must equal what binds the run's nonce and the runtime's
  ephemeral key (:func:`report_data_for`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dcap_qvl

from confiance.errors import AttestationError

_REPORT_DATA_DOMAIN = b"confiance-report-data/1\n"


def report_data_for(nonce: bytes, public_key: bytes) -> bytes:
    """The 64 bytes a runtime puts in its quote to bind a run's nonce and its key."""
    return hashlib.sha512(_REPORT_DATA_DOMAIN + nonce + public_key).digest()


def is_debug(kind: str, attributes: str) -> bool:
    """Debug flag: TD_ATTRIBUTES bit 0 (TDX) or ATTRIBUTES.FLAGS bit 1 (SGX)."""
    first = bytes.fromhex(attributes)[0]
    return bool(first & 0x01) if kind == "TDX" else bool(first & 0x02)


@dataclass(frozen=True)
class DcapPolicy:
    """What a key service accepts. Measurements are hex, as in the quote."""

    measurements: Mapping[str, str]
    accepted_statuses: frozenset[str] = frozenset({"UpToDate"})
    allow_debug: bool = False

    def __post_init__(self) -> None:
        if not self.measurements:
            raise AttestationError("a DCAP policy must pin at least one measurement")


@dataclass(frozen=True)
class DcapResult:
    tee: str
    status: str
    advisories: tuple[str, ...]
    measurements: dict[str, str] = field(default_factory=dict)


def _collateral(collateral: str | Mapping[str, Any]) -> Any:
    text = collateral if isinstance(collateral, str) else json.dumps(dict(collateral))
    try:
        return dcap_qvl.QuoteCollateralV3.from_json(text)
    except (ValueError, TypeError) as exc:
        raise AttestationError("DCAP collateral is malformed") from exc


def verify_quote(
    quote: bytes,
    collateral: str | Mapping[str, Any],
    *,
    policy: DcapPolicy,
    expected_report_data: bytes,
    now: int,
) -> DcapResult:
    """Raise :class:`AttestationError` with the reason unless the quote satisfies ``policy``."""
    try:
        verified = dcap_qvl.verify(quote, _collateral(collateral), now)
    except ValueError as exc:
        raise AttestationError(f"DCAP quote rejected: {exc}") from None
    document = json.loads(verified.to_json())
    status = str(document["status"])
    advisories = tuple(str(a) for a in document.get("advisory_ids", []))
    if status not in policy.accepted_statuses:
        raise AttestationError(
            f"TCB status {status} is not accepted by the policy"
            + (f" (advisories {', '.join(advisories)})" if advisories else "")
        )
    ((variant, report),) = document["report"].items()
    kind = "SGX" if variant == "SgxEnclave" else "TDX"
    attributes = report["attributes"] if kind == "SGX" else report["td_attributes"]
    if is_debug(kind, attributes) and not policy.allow_debug:
        raise AttestationError(f"{kind} report is in debug mode, which the policy refuses")
    for name, pinned in policy.measurements.items():
        actual = report.get(name)
        if actual is None:
            raise AttestationError(f"{kind} report has no measurement {name}")
        if not hmac.compare_digest(str(actual).lower(), pinned.lower()):
            raise AttestationError(
                f"{kind} measurement {name} {actual} differs from the pinned {pinned}"
            )
    if not hmac.compare_digest(bytes.fromhex(report["report_data"]), expected_report_data):
        raise AttestationError(
            "report data does not bind this run's nonce and the runtime's key (replayed or stale)"
        )
    measured = {k: str(v) for k, v in report.items() if k.startswith(("mr_", "rt_mr"))}
    return DcapResult(kind, status, advisories, measured)
