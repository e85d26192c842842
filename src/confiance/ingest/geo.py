"""Geolocation of source addresses, generalised to city level at ingest.

Production deployments load the operator's GeoIP/ASN database; the embedded
default ships :data:`DEMO_GEO`, a small table of the prefixes the synthetic
generator uses, so the demo works offline.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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
    """Longest-prefix match of IPv4/IPv6 addresses to places."""

    def __init__(self, prefixes: dict[str, Place]) -> None:
        self._nets = sorted(
            ((ipaddress.ip_network(p), place) for p, place in prefixes.items()),
            key=lambda item: -item[0].prefixlen,
        )

    def lookup(self, address: str) -> Place | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for net, place in self._nets:
            if ip.version == net.version and ip in net:
                return place
        return None

    def columns(self, addresses: pa.Array | pa.ChunkedArray) -> dict[str, pa.Array]:
        """Country, centroid and AS columns for an address column (one lookup per distinct)."""
        if isinstance(addresses, pa.ChunkedArray):
            addresses = addresses.combine_chunks()
        distinct = pc.unique(addresses).drop_null()
        places = [self.lookup(a) for a in distinct.to_pylist()]
        index = pc.index_in(addresses, value_set=distinct)

        def column(values: list[object], kind: pa.DataType) -> pa.Array:
            return pc.take(pa.array(values, kind), index)

        return {
            "source.geo.country_iso_code": column([p and p.country for p in places], pa.string()),
            "source.geo.location.lat": column([p and p.lat for p in places], pa.float64()),
            "source.geo.location.lon": column([p and p.lon for p in places], pa.float64()),
            "source.as.number": column([p and p.asn for p in places], pa.int64()),
            "source.as.organization.name": column([p and p.as_name for p in places], pa.string()),
        }


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
