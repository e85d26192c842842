"""Crypto-PAn prefix-preserving address pseudonyms (Xu, Fan, Ammar, Moon, 2002).

Two addresses share a k-bit prefix iff their pseudonyms do. Bit i of the
output is bit i of the address XOR the top bit of AES-128 over (the first i
bits of the address, then the remaining bits of a secret pad). The AES calls
for one bit position are made for every address at once (ECB over all the
blocks), so an array of addresses costs 32 (IPv4) or 128 (IPv6) AES calls.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from confiance.errors import PseudonymError

KEY_BYTES = 32


class CryptoPan:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise PseudonymError("Crypto-PAn key must be 32 bytes")
        self._cipher = Cipher(algorithms.AES(key[:16]), modes.ECB())  # noqa: S305 - one block per PRF call
        pad = self._encrypt(key[16:])
        self._pad = np.frombuffer(pad, dtype=np.uint8)

    def __repr__(self) -> str:
        return "CryptoPan(<key hidden>)"

    def _encrypt(self, blocks: bytes) -> bytes:
        encryptor = self._cipher.encryptor()
        return encryptor.update(blocks) + encryptor.finalize()

    def _anonymise(self, addresses: np.ndarray, bits: int) -> np.ndarray:
        """``addresses``: (n, 16) uint8 blocks, address in the first bits/8 bytes."""
        n = addresses.shape[0]
        address_bits = np.unpackbits(addresses, axis=1)[:, :bits]
        pad_bits = np.unpackbits(self._pad)
        result = np.zeros((n, bits), dtype=np.uint8)
        blocks = np.empty((n, 128), dtype=np.uint8)
        for i in range(bits):
            blocks[:, :i] = address_bits[:, :i]
            blocks[:, i:] = pad_bits[i:]
            cipher = np.frombuffer(
                self._encrypt(np.packbits(blocks, axis=1).tobytes()), dtype=np.uint8
            ).reshape(n, 16)
            result[:, i] = cipher[:, 0] >> 7
        return np.packbits(address_bits ^ result, axis=1)

    def ipv4(self, addresses: np.ndarray) -> np.ndarray:
        """Pseudonyms of IPv4 addresses given as uint32 (network order value)."""
        blocks = np.zeros((addresses.shape[0], 16), dtype=np.uint8)
        blocks[:, :4] = addresses.astype(">u4").view(np.uint8).reshape(-1, 4)
        out = self._anonymise(blocks, 32)
        return out.view(">u4").reshape(-1).astype(np.uint32)

    def ipv6(self, addresses: np.ndarray) -> np.ndarray:
        """Pseudonyms of IPv6 addresses given as an (n, 16) uint8 array."""
        return self._anonymise(np.ascontiguousarray(addresses, dtype=np.uint8), 128)
