"""The vectorised longest-prefix match agrees with ipaddress, address by address."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from confiance.ingest.columns import valid_ips
from confiance.ingest.geo import GeoTable, Place, ipv4_to_int

_PLACE = [Place("FR", n, f"AS{n}", 46.6, 2.4) for n in range(40)]


def _reference(prefixes: dict[str, Place], address: str) -> Place | None:
    ip = ipaddress.ip_address(address)
    best: tuple[int, Place] | None = None
    for prefix, place in prefixes.items():
        net = ipaddress.ip_network(prefix)
        if net.version == ip.version and ip in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, place)
    return best[1] if best else None


@settings(max_examples=200, deadline=None)
@given(
    nets=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=12
    ),
    probes=st.lists(st.integers(0, 2**32 - 1), max_size=20),
)
def test_nested_and_disjoint_prefixes_match_like_ipaddress(
    nets: list[tuple[int, int]], probes: list[int]
) -> None:
    prefixes = {
        str(ipaddress.ip_network((address, length), strict=False)): _PLACE[i]
        for i, (address, length) in enumerate(nets)
    }
    table = GeoTable(prefixes)
    # probe each prefix's edges as well as random addresses
    edges = []
    for prefix in prefixes:
        net = ipaddress.ip_network(prefix)
        edges += [int(net.network_address), int(net.broadcast_address)]
        edges += [
            max(0, int(net.network_address) - 1),
            min(2**32 - 1, int(net.broadcast_address) + 1),
        ]
    addresses = [str(ipaddress.IPv4Address(a)) for a in probes + edges]
    countries = table.columns(pa.array(addresses, pa.string()))["source.as.number"].to_pylist()
    for address, asn in zip(addresses, countries, strict=True):
        expected = _reference(prefixes, address)
        assert asn == (expected.asn if expected else None), address


def test_addresses_are_checked_without_leading_zeros_or_overflow() -> None:
    values = [
        "10.0.0.1",
        "255.255.255.255",
        "256.0.0.1",
        "01.2.3.4",
        "1.2.3",
        "::1",
        "fe80::1%eth0",
        "2001:db8::1",
        "",
        None,
        "1.2.3.4 ",
        "::ffff:1.2.3.4",
    ]
    expected = []
    for v in values:
        try:
            ipaddress.ip_address(v)  # type: ignore[arg-type]
            expected.append(True)
        except ValueError:
            expected.append(False)
    got = valid_ips(pa.array(values, pa.string())).to_pylist()
    assert [bool(g) for g in got] == expected
    # a dictionary-encoded column is checked once per distinct value, alike
    encoded = pc.dictionary_encode(pa.array(values + values[::-1], pa.string()))
    assert [bool(g) for g in valid_ips(encoded).to_pylist()] == expected + expected[::-1]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.ip_addresses(v=4).map(str),
            st.text(alphabet="0123456789.x:", max_size=17),
        ),
        max_size=40,
    )
)
def test_ipv4_to_int_is_the_address_as_a_number_or_null(values: list[str | None]) -> None:
    expected = []
    for v in values:
        try:
            expected.append(int(ipaddress.IPv4Address(v)))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            expected.append(None)
    assert ipv4_to_int(pa.array(values, pa.string())).to_pylist() == expected
