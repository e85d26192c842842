"""Crypto-PAn against the reference pairs, and prefix preservation."""

from __future__ import annotations

import ipaddress
import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import VECTORS

from confiance.pseudonym.cryptopan import CryptoPan

REFERENCE = json.loads((VECTORS / "cryptopan" / "cryptopan-ipv4.json").read_text())
KEY = bytes(REFERENCE["key"])


def _v4(pairs: list[list[str]]) -> tuple[np.ndarray, list[str]]:
    raw = np.array([int(ipaddress.IPv4Address(a)) for a, _ in pairs], dtype=np.uint32)
    return raw, [b for _, b in pairs]


def test_the_reference_trace_pairs() -> None:
    pan = CryptoPan(KEY)
    pairs = REFERENCE["pairs"] + REFERENCE["extra_ipv4_pairs"]["pairs"]
    assert len(pairs) == 73
    raw, want = _v4(pairs)
    got = [str(ipaddress.IPv4Address(int(x))) for x in pan.ipv4(raw)]
    assert got == want
    assert got[0] == "135.242.180.132"  # 128.11.68.132, the canonical example


def test_ipv6_pairs_and_the_other_key() -> None:
    pan = CryptoPan(KEY)
    pairs = REFERENCE["ipv6"]["pairs"]
    raw = np.array([list(ipaddress.IPv6Address(a).packed) for a, _ in pairs], dtype=np.uint8)
    got = [ipaddress.IPv6Address(bytes(row)) for row in pan.ipv6(raw)]
    assert got == [ipaddress.IPv6Address(b) for _, b in pairs]
    other = REFERENCE["other_key_examples"]
    pan = CryptoPan(other["key_ascii"].encode())
    raw4, want4 = _v4([other["pairs"][0]])
    assert str(ipaddress.IPv4Address(int(pan.ipv4(raw4)[0]))) == want4[0]


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_shared_prefixes_are_preserved_exactly(a: int, b: int) -> None:
    pan = CryptoPan(KEY)
    x, y = (int(v) for v in pan.ipv4(np.array([a, b], dtype=np.uint32)))

    def common(u: int, v: int) -> int:
        return 32 - (u ^ v).bit_length()

    assert common(x, y) == common(a, b)
