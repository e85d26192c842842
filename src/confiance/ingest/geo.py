"""Geolocation of source addresses, generalised to city level at ingest.

Production deployments load the operator's GeoIP/ASN database; the embedded
default ships :data:`DEMO_GEO`, a small table of the prefixes the synthetic
generator uses, so the demo works offline.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Place:
    """What ingestion keeps of a location: country and autonomous system.

    ``lat``/``lon`` are the centroid of the country, so distances between
    countries remain measurable while no city or street can be inferred.
    """

    country: str
    asn: int
    as_name: str
    lat: float
    lon: float


#: Approximate geographic centroids of the countries in use.
CENTROIDS = {
    "FR": (46.6, 2.4),
    "NG": (9.1, 8.7),
    "RU": (61.5, 105.3),
    "BR": (-14.2, -51.9),
    "VN": (14.1, 108.3),
}


def _place(country: str, asn: int, as_name: str) -> Place:
    lat, lon = CENTROIDS[country]
    return Place(country, asn, as_name, lat, lon)


class GeoTable:
    """Longest-prefix match of IPv4/IPv6 addresses to places.

    The prefixes are flattened once into disjoint address intervals, each with
    the place of the longest prefix covering it; IPv4 addresses of a whole
    column are then matched by one binary search (no Python per address).
    IPv6 addresses, rare in these logs, are matched one distinct value at a time.
    """

    def __init__(self, prefixes: dict[str, Place]) -> None:
        nets = [(ipaddress.ip_network(p), place) for p, place in prefixes.items()]
        self._places: list[Place] = []
        self._v6 = sorted(
            ((n, self._index(place)) for n, place in nets if n.version == 6),
            key=lambda i: -i[0].prefixlen,
        )
        starts, ends, index = _flatten(
            [
                (int(n.network_address), int(n.broadcast_address), self._index(place))
                for n, place in nets
                if n.version == 4
            ]
        )
        self._starts = np.array(starts, dtype=np.int64)
        self._ends = np.array(ends, dtype=np.int64)
        self._index_of = np.array(index, dtype=np.int64)

    def _index(self, place: Place) -> int:
        self._places.append(place)
        return len(self._places) - 1

    def _indices(self, addresses: pa.Array) -> pa.Array:
        """Index into ``_places`` of each address's place, or null."""
        v4 = ipv4_to_int(addresses)
        found = pa.nulls(len(addresses), pa.int64())
        if len(self._starts) and v4.null_count < len(v4):
            ints = v4.to_numpy(zero_copy_only=False)
            known = ~np.isnan(ints) if ints.dtype.kind == "f" else np.ones(len(ints), bool)
            values = np.where(known, ints, -1).astype(np.int64)
            slot = np.searchsorted(self._starts, values, side="right") - 1
            inside = known & (slot >= 0)
            inside[inside] = values[inside] <= self._ends[slot[inside]]
            found = pa.array(
                np.where(inside, self._index_of[np.maximum(slot, 0)], 0),
                pa.int64(),
                mask=~inside,
            )
        if self._v6:
            six = pc.and_(pc.is_null(v4), pc.match_substring(addresses, ":"))
            if pc.any(six).as_py():
                distinct = pc.unique(addresses.filter(six)).drop_null()
                places = [self._lookup_v6(a) for a in distinct.to_pylist()]
                v6 = pc.take(pa.array(places, pa.int64()), pc.index_in(addresses, distinct))
                found = pc.coalesce(found, v6)
        return found

    def _lookup_v6(self, address: str) -> int | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for net, index in self._v6:
            if ip.version == 6 and ip in net:
                return index
        return None

    def columns(self, addresses: pa.Array | pa.ChunkedArray) -> dict[str, pa.Array]:
        """Country, centroid and AS columns for an address column (looked up once
        per distinct address; a dictionary-encoded column is taken as it is)."""
        if isinstance(addresses, pa.ChunkedArray):
            addresses = addresses.combine_chunks()
        if not isinstance(addresses, pa.DictionaryArray):
            addresses = pc.dictionary_encode(addresses)
        index = pc.take(self._indices(addresses.dictionary), addresses.indices)
        places = self._places

        def column(values: list[object], kind: pa.DataType) -> pa.Array:
            return pc.take(pa.array(values, kind), index)

        return {
            "source.geo.country_iso_code": column([p.country for p in places], pa.string()),
            "source.geo.location.lat": column([p.lat for p in places], pa.float64()),
            "source.geo.location.lon": column([p.lon for p in places], pa.float64()),
            "source.as.number": column([p.asn for p in places], pa.int64()),
            "source.as.organization.name": column([p.as_name for p in places], pa.string()),
        }


def _flatten(nets: list[tuple[int, int, int]]) -> tuple[list[int], list[int], list[int]]:
    """Disjoint intervals (starts, ends, value) from nested or disjoint prefixes,
    each interval taking the value of the longest prefix that covers it."""
    starts: list[int] = []
    ends: list[int] = []
    values: list[int] = []

    def emit(a: int, b: int, value: int) -> None:
        if a <= b:
            starts.append(a)
            ends.append(b)
            values.append(value)

    stack: list[tuple[int, int]] = []  # (end, value) of the prefixes open at the cursor
    cursor = 0
    for start, end, value in sorted(nets, key=lambda n: (n[0], -n[1])):
        while stack and stack[-1][0] < start:
            closing, inner = stack.pop()
            emit(cursor, closing, inner)
            cursor = closing + 1
        if stack:
            emit(cursor, start - 1, stack[-1][1])
        stack.append((end, value))
        cursor = start
    while stack:
        closing, inner = stack.pop()
        emit(cursor, closing, inner)
        cursor = closing + 1
    return starts, ends, values


_OCTET = r"25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d"
#: a dotted-quad IPv4 address, for a plain yes/no
IPV4_SHAPE = "^" + r"\.".join(f"(?:{_OCTET})" for _ in "abcd") + "$"
_WEIGHTS = np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)


def ipv4_to_int(addresses: pa.Array) -> pa.Array:
    """Dotted-quad IPv4 addresses as integers (null where not one), vectorised:
    the shape is checked by one pattern, then the good ones are split on their
    dots (several times faster than capturing the four octets)."""
    shaped = np.asarray(pc.fill_null(pc.match_substring_regex(addresses, IPV4_SHAPE), False))
    octets = pc.split_pattern(addresses.filter(pa.array(shaped)), ".").flatten()
    values = np.zeros(len(addresses), dtype=np.int64)
    values[shaped] = np.asarray(pc.cast(octets, pa.int64())).reshape(-1, 4) @ _WEIGHTS
    return pa.array(values, pa.int64(), mask=~shaped)


# Real autonomous systems of the kinds of networks seen in the demo.
DEMO_GEO = GeoTable(
    {
        "10.0.0.0/8": _place("FR", 2200, "RENATER"),  # school internal networks
        "172.16.0.0/12": _place("FR", 2200, "RENATER"),  # regional data centre
        "193.48.0.0/16": _place("FR", 2200, "RENATER"),  # school NAT addresses
        "195.83.0.0/16": _place("FR", 2200, "RENATER"),  # administration
        "86.192.0.0/12": _place("FR", 3215, "Orange"),  # home broadband
        "90.0.0.0/12": _place("FR", 3215, "Orange"),
        "92.128.0.0/12": _place("FR", 15557, "SFR"),
        "78.192.0.0/12": _place("FR", 12322, "Free"),
        "37.160.0.0/12": _place("FR", 5410, "Bouygues Telecom"),
        "51.68.0.0/16": _place("FR", 16276, "OVH"),  # hosting
        "41.58.0.0/16": _place("NG", 29465, "MTN Nigeria"),
        "95.165.0.0/16": _place("RU", 12389, "Rostelecom"),
        "177.32.0.0/12": _place("BR", 26599, "Telefonica Brasil"),
        "113.160.0.0/12": _place("VN", 45899, "VNPT"),
        "2001:db8::/32": _place("FR", 2200, "RENATER"),
    }
)
