"""Geolocation of source addresses, generalised to city level at ingest.

Production deployments load the operator's GeoIP/ASN database; the embedded
default ships :data:`DEMO_GEO`, a small table of documentation-style prefixes
used by the synthetic generator, so the demo works offline.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Place:
    country: str
    city: str
    lat: float
    lon: float


class GeoTable:
    """Longest-prefix match of IPv4/IPv6 addresses to places."""

    def __init__(self, prefixes: dict[str, Place]) -> None:
        self._nets = sorted(
            ((ipaddress.ip_network(p), place) for p, place in prefixes.items()),
            key=lambda item: -item[0].prefixlen,
        )

    @property
    def prefixes(self) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Place]]:
        return list(self._nets)

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
        """Country, city, lat, lon columns for an address column (one lookup per distinct)."""
        if isinstance(addresses, pa.ChunkedArray):
            addresses = addresses.combine_chunks()
        distinct = pc.unique(addresses).drop_null()
        places = [self.lookup(a) for a in distinct.to_pylist()]
        index = pc.index_in(addresses, value_set=distinct)

        def column(values: list[object], kind: pa.DataType) -> pa.Array:
            return pc.take(pa.array(values, kind), index)

        return {
            "source.geo.country_iso_code": column([p and p.country for p in places], pa.string()),
            "source.geo.city_name": column([p and p.city for p in places], pa.string()),
            "source.geo.location.lat": column([p and p.lat for p in places], pa.float64()),
            "source.geo.location.lon": column([p and p.lon for p in places], pa.float64()),
        }


DEMO_GEO = GeoTable(
    {
        "10.0.0.0/8": Place("FR", "Rouen", 49.44, 1.10),  # school internal networks
        "172.16.0.0/12": Place("FR", "Rouen", 49.44, 1.10),  # regional data centre
        "193.48.0.0/16": Place("FR", "Rouen", 49.44, 1.10),  # school NAT addresses
        "195.83.0.0/16": Place("FR", "Caen", 49.18, -0.37),  # administration
        "86.192.0.0/12": Place("FR", "Rouen", 49.44, 1.10),  # home broadband
        "90.0.0.0/12": Place("FR", "Caen", 49.18, -0.37),
        "92.128.0.0/12": Place("FR", "Le Havre", 49.49, 0.11),
        "78.192.0.0/12": Place("FR", "Paris", 48.86, 2.35),
        "37.160.0.0/12": Place("FR", "Lyon", 45.76, 4.84),
        "51.68.0.0/16": Place("FR", "Roubaix", 50.69, 3.18),  # hosting
        "41.58.0.0/16": Place("NG", "Lagos", 6.52, 3.38),
        "95.165.0.0/16": Place("RU", "Moscow", 55.76, 37.62),
        "177.32.0.0/12": Place("BR", "Sao Paulo", -23.55, -46.63),
        "113.160.0.0/12": Place("VN", "Hanoi", 21.03, 105.85),
        "2001:db8::/32": Place("FR", "Rouen", 49.44, 1.10),
    }
)
