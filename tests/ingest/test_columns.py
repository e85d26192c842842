"""Vectorised conversions: integers read in one cast when a column is plain
numbers, with exactly the same result as the digit-by-digit rule otherwise."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.columns import local_stamp, local_time, to_int
from confiance.ingest.parsers import ParseContext

CONTEXT = ParseContext(tenant="t", service="svc", geo=DEMO_GEO)


def _reference(value: str | None, bits: int) -> int | None:
    if value is None or not re.fullmatch(r"[0-9]{1,18}", value):
        return None
    number = int(value)
    return number if number <= 2 ** (bits - 1) - 1 else None


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet="0123456789-+x ", max_size=21),
            st.integers(min_value=0, max_value=10**19).map(str),
        ),
        max_size=30,
    )
)
def test_to_int_matches_the_digit_rule_for_any_strings(values: list[str | None]) -> None:
    array = pa.array(values, pa.string())
    for kind, bits in ((pa.int64(), 64), (pa.int32(), 32)):
        assert to_int(array, kind).to_pylist() == [_reference(v, bits) for v in values]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1)).map(
                lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
            ),
            st.text(alphabet="0123456789-: T+Z", min_size=19, max_size=19),
        ),
        max_size=20,
    )
)
def test_times_read_alike_by_arrow_iso_reader_and_strptime(values: list[str | None]) -> None:
    """19-character times go through Arrow's ISO 8601 reader when every one
    reads; the result is the one strptime gives (its fallback)."""
    stamps = pa.array(values, pa.string())
    expected = pc.strptime(
        pc.replace_substring(stamps, "T", " "),
        format="%Y-%m-%d %H:%M:%S",
        unit="us",
        error_is_null=True,
    )
    utc = pa.timestamp("us", tz="UTC")
    expected_utc = pc.if_else(
        pc.is_valid(expected),
        pc.cast(local_time(expected, CONTEXT), utc),
        pa.scalar(None, utc),
    )
    assert local_stamp(stamps, None, CONTEXT).to_pylist() == expected_utc.to_pylist()


def test_a_port_too_large_for_its_column_is_quarantined_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(
        "ts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt\n"
        "2026-11-22 10:15:32,2026-11-22 10:15:33,0.4,10.3.14.22,10.3.0.1,99999999999,443,TCP,"
        "....S.,1,44\n"
        "2026-11-22 10:15:32,2026-11-22 10:15:33,0.4,10.3.14.22,10.3.0.1,51514,443,TCP,"
        "....S.,1,44\n"
    )
    context = ParseContext(tenant="t", service="s", geo=DEMO_GEO, now=datetime.now(UTC))
    parsed = parse_file(path, format="nfdump-csv", context=context)
    assert parsed.table.num_rows == 1
    assert [(q.line, q.reason) for q in parsed.quarantined] == [
        (2, "field source.port: not a port")
    ]
