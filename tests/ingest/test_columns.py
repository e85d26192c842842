"""Vectorised conversions: integers read in one cast when a column is plain
numbers, with exactly the same result as the digit-by-digit rule otherwise."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from confiance.ingest import DEMO_GEO, parse_file
from confiance.ingest.columns import to_int
from confiance.ingest.parsers import ParseContext


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
