"""Intel DCAP quotes (SGX and TDX) with their collateral, verified offline at a fixed time.

Times and expected results are those of the shared vectors' README
(dcap-qvl's own tests): 2025-07-01T00:00:00Z suits both the SGX and TDX pairs.
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import VECTORS

from confiance.errors import AttestationError
from confiance.runtime.dcap import DcapPolicy, is_debug, report_data_for, verify_quote

ATTESTATION = VECTORS / "attestation"
FIELDS = json.loads((ATTESTATION / "quote-fields.json").read_text())["quotes"]
VALID_TIME = 1751328000  # 2025-07-01T00:00:00Z
TODAY = 1795305600  # 2026-11-22: long after every collateral window


def _load(name: str) -> tuple[bytes, str]:
    return (ATTESTATION / name).read_bytes(), (ATTESTATION / f"{name}_collateral.json").read_text()


def _tdx_policy(**changes: object) -> DcapPolicy:
    report = FIELDS["tdx_quote"]["report"]
    pinned = {name: report[name] for name in ("mr_td", "rt_mr0", "rt_mr1", "rt_mr2", "rt_mr3")}
    return DcapPolicy(**({"measurements": pinned} | changes))  # type: ignore[arg-type]


def _report_data(name: str) -> bytes:
    return bytes.fromhex(FIELDS[name]["report"]["report_data"])


def test_a_tdx_quote_up_to_date_with_pinned_measurements() -> None:
    quote, collateral = _load("tdx_quote")
    result = verify_quote(
        quote,
        collateral,
        policy=_tdx_policy(),
        expected_report_data=_report_data("tdx_quote"),
        now=VALID_TIME,
    )
    assert (result.tee, result.status, result.advisories) == ("TDX", "UpToDate", ())
    assert result.measurements["mr_td"] == FIELDS["tdx_quote"]["report"]["mr_td"]


def test_an_sgx_quote_whose_tcb_needs_hardening_is_refused_unless_accepted() -> None:
    quote, collateral = _load("sgx_quote")
    report = FIELDS["sgx_quote"]["report"]
    policy = DcapPolicy({"mr_enclave": report["mr_enclave"], "mr_signer": report["mr_signer"]})
    with pytest.raises(
        AttestationError,
        match=r"TCB status ConfigurationAndSWHardeningNeeded is "
        r"not accepted by the policy \(advisories INTEL-SA-00289, INTEL-SA-00615\)",
    ):
        verify_quote(
            quote,
            collateral,
            policy=policy,
            expected_report_data=_report_data("sgx_quote"),
            now=VALID_TIME,
        )
    lenient = DcapPolicy(
        policy.measurements,
        accepted_statuses=frozenset({"UpToDate", "ConfigurationAndSWHardeningNeeded"}),
    )
    result = verify_quote(
        quote,
        collateral,
        policy=lenient,
        expected_report_data=_report_data("sgx_quote"),
        now=VALID_TIME,
    )
    assert result.tee == "SGX" and result.advisories == ("INTEL-SA-00289", "INTEL-SA-00615")


def test_an_out_of_date_platform_is_never_silently_accepted() -> None:
    quote, collateral = _load("tdx_quote_outdated")
    with pytest.raises(AttestationError, match="No matching TCB level found"):
        verify_quote(
            quote, collateral, policy=_tdx_policy(), expected_report_data=bytes(64), now=1774003274
        )


@pytest.mark.parametrize(
    ("now", "reason"),
    [(VALID_TIME - 10**7, "issue date is in the future"), (TODAY, "(?i)expired")],
    ids=["collateral-not-yet-valid", "collateral-stale"],
)
def test_collateral_freshness_is_enforced(now: int, reason: str) -> None:
    quote, collateral = _load("tdx_quote")
    with pytest.raises(AttestationError, match=reason):
        verify_quote(
            quote,
            collateral,
            policy=_tdx_policy(),
            expected_report_data=_report_data("tdx_quote"),
            now=now,
        )


def test_a_different_measurement_or_an_unbound_report_is_refused() -> None:
    quote, collateral = _load("tdx_quote")
    wrong = _tdx_policy(measurements={"mr_td": "00" * 48})
    with pytest.raises(AttestationError, match=r"measurement mr_td .* differs from the pinned"):
        verify_quote(
            quote,
            collateral,
            policy=wrong,
            expected_report_data=_report_data("tdx_quote"),
            now=VALID_TIME,
        )
    fresh = report_data_for(b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(AttestationError, match="does not bind this run's nonce"):
        verify_quote(
            quote, collateral, policy=_tdx_policy(), expected_report_data=fresh, now=VALID_TIME
        )


def test_a_tampered_quote_or_collateral_is_refused() -> None:
    quote, collateral = _load("tdx_quote")
    tampered = bytearray(quote)
    tampered[200] ^= 1  # inside the TD report, covered by the quote signature
    with pytest.raises(AttestationError, match="DCAP quote rejected"):
        verify_quote(
            bytes(tampered),
            collateral,
            policy=_tdx_policy(),
            expected_report_data=_report_data("tdx_quote"),
            now=VALID_TIME,
        )
    document = json.loads(collateral)
    document["tcb_info"] = document["tcb_info"].replace('"UpToDate"', '"UpToDatX"', 1)
    with pytest.raises(AttestationError):
        verify_quote(
            quote,
            document,
            policy=_tdx_policy(),
            expected_report_data=_report_data("tdx_quote"),
            now=VALID_TIME,
        )
    with pytest.raises(AttestationError, match="collateral is malformed"):
        verify_quote(
            quote, "{}", policy=_tdx_policy(), expected_report_data=bytes(64), now=VALID_TIME
        )


def test_debug_flags_and_empty_policies() -> None:
    assert is_debug("TDX", "0100000000000000") and not is_debug("TDX", "0000001000000000")
    assert is_debug("SGX", "0700000000000000e7") and not is_debug("SGX", "0500000000000000e7")
    with pytest.raises(AttestationError, match="must pin at least one measurement"):
        DcapPolicy({})
