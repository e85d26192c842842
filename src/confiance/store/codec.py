"""Reed-Solomon codec over pyeclib (ISA-L, Cauchy matrix: MDS for any m)."""

from __future__ import annotations

from collections.abc import Sequence

from pyeclib.ec_iface import ECDriver

from confiance.errors import StoreError

#: Cauchy Reed-Solomon from Intel ISA-L; plain Vandermonde is not MDS above 4 parities.
DEFAULT_BACKEND = "isa_l_rs_cauchy"


class Codec:
    """Splits bytes into k data + m parity fragments and back."""

    def __init__(self, *, k: int, m: int, backend: str = DEFAULT_BACKEND) -> None:
        if k < 1 or m < 1:
            raise StoreError(f"codec: k and m must be positive (k={k}, m={m})")
        self.k, self.m, self.backend = k, m, backend
        try:
            self._driver = ECDriver(k=k, m=m, ec_type=backend)
        except Exception as exc:  # pyeclib raises its own hierarchy, translate once
            raise StoreError(f"codec: backend {backend} unavailable") from exc

    def encode(self, data: bytes) -> list[bytes]:
        """k + m fragments, index i at position i."""
        fragments: list[bytes] = self._driver.encode(data)
        return fragments

    def reconstruct(self, fragments: Sequence[bytes], missing: Sequence[int]) -> list[bytes]:
        """The fragments at indexes ``missing``, rebuilt from at least k intact ones."""
        try:
            rebuilt: list[bytes] = self._driver.reconstruct(list(fragments), list(missing))
        except Exception as exc:
            raise StoreError("codec: fragments do not reconstruct") from exc
        return rebuilt

    def decode(self, fragments: Sequence[bytes]) -> bytes:
        """Original bytes from any k fragments (already hash-checked by the caller)."""
        try:
            data: bytes = self._driver.decode(list(fragments))
        except Exception as exc:
            raise StoreError("codec: fragments do not decode") from exc
        return data
