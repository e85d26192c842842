"""RFC 9497 OPRF, mode 0 (base), suite ristretto255-SHA512, over libsodium.

Group operations are libsodium's ``crypto_core_ristretto255_*`` and
``crypto_scalarmult_ristretto255`` (through pysodium); nothing here does group
or field arithmetic itself. ``expand_message_xmd`` (RFC 9380, section 5.3.1)
is the hash-to-field expansion the suite specifies, built on SHA-512.
"""

from __future__ import annotations

import hashlib
import hmac

import pysodium

from confiance.errors import PseudonymError

IDENTIFIER = b"ristretto255-SHA512"
MODE_OPRF = 0
CONTEXT = b"OPRFV1-" + bytes([MODE_OPRF]) + b"-" + IDENTIFIER
ELEMENT_BYTES = 32
SCALAR_BYTES = 32
_ZERO = bytes(SCALAR_BYTES)
_B_IN_BYTES = 64  # SHA-512 output
_R_IN_BYTES = 128  # SHA-512 block


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def expand_message_xmd(message: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 expand_message_xmd with SHA-512."""
    if len(dst) > 255:
        raise PseudonymError("domain separation tag longer than 255 bytes")
    blocks = -(-length // _B_IN_BYTES)
    if blocks > 255 or length > 65535:
        raise PseudonymError("expand_message_xmd: requested length too large")
    dst_prime = dst + _i2osp(len(dst), 1)
    b0 = hashlib.sha512(
        bytes(_R_IN_BYTES) + message + _i2osp(length, 2) + b"\x00" + dst_prime
    ).digest()
    b = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, blocks + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, b[-1], strict=True))
        b.append(hashlib.sha512(mixed + _i2osp(i, 1) + dst_prime).digest())
    return b"".join(b)[:length]


def hash_to_group(data: bytes) -> bytes:
    uniform = expand_message_xmd(data, b"HashToGroup-" + CONTEXT, 64)
    element: bytes = pysodium.crypto_core_ristretto255_from_hash(uniform)
    return element


def hash_to_scalar(data: bytes, dst: bytes) -> bytes:
    scalar: bytes = pysodium.crypto_core_ristretto255_scalar_reduce(
        expand_message_xmd(data, dst, 64)
    )
    return scalar


def derive_key(seed: bytes, info: bytes) -> bytes:
    """DeriveKeyPair of RFC 9497 section 3.2.1: the private scalar."""
    if len(seed) != 32:
        raise PseudonymError("seed must be 32 bytes")
    derive_input = seed + _i2osp(len(info), 2) + info
    for counter in range(256):
        key = hash_to_scalar(derive_input + _i2osp(counter, 1), b"DeriveKeyPair" + CONTEXT)
        if not hmac.compare_digest(key, _ZERO):
            return key
    raise PseudonymError("DeriveKeyPairError")


def check_scalar(scalar: bytes) -> bytes:
    """A canonical, non-zero scalar, or an error."""
    if len(scalar) != SCALAR_BYTES:
        raise PseudonymError("scalar must be 32 bytes")
    reduced = pysodium.crypto_core_ristretto255_scalar_reduce(scalar + bytes(32))
    if not hmac.compare_digest(reduced, scalar) or hmac.compare_digest(scalar, _ZERO):
        raise PseudonymError("scalar out of range")
    return scalar


def check_element(element: bytes) -> bytes:
    """A canonical ristretto255 encoding of a point other than the identity."""
    if len(element) != ELEMENT_BYTES or hmac.compare_digest(element, bytes(ELEMENT_BYTES)):
        raise PseudonymError("invalid group element")
    if not pysodium.crypto_core_ristretto255_is_valid_point(element):
        raise PseudonymError("invalid group element")
    return element


def scalarmult(scalar: bytes, element: bytes) -> bytes:
    try:
        result: bytes = pysodium.crypto_scalarmult_ristretto255(scalar, element)
    except ValueError:
        raise PseudonymError("scalar multiplication gave the identity") from None
    return result


def random_scalar() -> bytes:
    scalar: bytes = pysodium.crypto_core_ristretto255_scalar_random()
    return scalar


def invert(scalar: bytes) -> bytes:
    inverse: bytes = pysodium.crypto_core_ristretto255_scalar_invert(scalar)
    return inverse


def blind(data: bytes, *, blind_scalar: bytes | None = None) -> tuple[bytes, bytes]:
    """Client Blind: (blind, blinded element). The blind is chosen here unless a
    test vector fixes it."""
    scalar = random_scalar() if blind_scalar is None else check_scalar(blind_scalar)
    element = hash_to_group(data)
    if hmac.compare_digest(element, bytes(ELEMENT_BYTES)):
        raise PseudonymError("InvalidInputError")
    return scalar, scalarmult(scalar, element)


def blind_evaluate(key: bytes, blinded: bytes) -> bytes:
    """Server BlindEvaluate on an element received from a client (checked first)."""
    return scalarmult(key, check_element(blinded))


def finalize(data: bytes, blind_scalar: bytes, evaluated: bytes) -> bytes:
    """Client Finalize: the 64-byte PRF output."""
    unblinded = scalarmult(invert(blind_scalar), check_element(evaluated))
    return finalize_unblinded(data, unblinded)


def finalize_unblinded(data: bytes, unblinded: bytes) -> bytes:
    return hashlib.sha512(
        _i2osp(len(data), 2) + data + _i2osp(len(unblinded), 2) + unblinded + b"Finalize"
    ).digest()
