"""RFC 3161 tokens from a real (OpenSSL) time-stamp authority on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.ledger.tsa import running_tsa

from confiance.ledger.timestamp import (
    TimestampAuthority,
    TimestampError,
    load_roots,
    verify_timestamp,
)


@pytest.fixture(scope="module")
def tsa() -> Iterator[tuple[str, Path]]:
    with running_tsa() as running:
        yield running


def test_stamp_store_verify(tsa: tuple[str, Path]) -> None:
    url, root = tsa
    authority = TimestampAuthority(url, load_roots(root))
    body = b"confiance.example/ledger\n42\nAAAA\n"
    token = authority.stamp(body)
    when = verify_timestamp(token, body, roots=load_roots(root))
    assert abs(when.astimezone(UTC) - datetime.now(UTC)) < timedelta(minutes=2)
    with pytest.raises(TimestampError, match="does not verify"):
        verify_timestamp(token, body + b"x", roots=load_roots(root))
    flipped = bytearray(token)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(TimestampError):
        verify_timestamp(bytes(flipped), body, roots=load_roots(root))


def test_an_untrusted_authority_or_an_unreachable_one(
    tsa: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = tsa
    with (
        running_tsa() as (_, other_root),
        pytest.raises(TimestampError, match="reply does not verify"),
    ):
        TimestampAuthority(url, load_roots(other_root)).stamp(b"data")
    with pytest.raises(TimestampError, match="unreachable"):
        TimestampAuthority("http://127.0.0.1:9/tsa", load_roots(root), timeout_s=2).stamp(b"d")
    (tmp_path / "none.pem").write_text("not a certificate")
    with pytest.raises(TimestampError, match="no PEM certificate"):
        load_roots(tmp_path / "none.pem")
