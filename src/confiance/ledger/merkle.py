"""RFC 9162 (RFC 6962) Merkle tree hashing, inclusion proofs and their check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from confiance.errors import LedgerVerificationError

HASH_BYTES = 32


def leaf_hash(data: bytes) -> bytes:
    """MTH of a single entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of a list of leaf hashes (RFC 9162 section 2.1.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    # Bottom-up: combine full pairs; an odd node is carried up unchanged, which
    # gives the same tree as the recursive definition's left-heavy split.
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of ``leaves`` (RFC 9162 2.1.3.1)."""
    if not 0 <= index < len(leaves):
        raise LedgerVerificationError(f"no leaf {index} in a tree of {len(leaves)}", index=index)
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root_hash(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root_hash(leaves[:k])]


def verify_inclusion(
    *, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise unless ``proof`` shows ``leaf`` at ``index`` in the tree ``root`` of ``size``.

    The algorithm of RFC 9162 section 2.1.3.2.
    """
    if index >= size or index < 0:
        raise LedgerVerificationError(f"index {index} outside tree of size {size}", index=index)
    if len(leaf) != HASH_BYTES or len(root) != HASH_BYTES:
        raise LedgerVerificationError("leaf and root must be SHA-256 hashes", index=index)
    if any(len(p) != HASH_BYTES for p in proof):
        raise LedgerVerificationError("inclusion proof holds a malformed hash", index=index)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise LedgerVerificationError("inclusion proof too long", index=index)
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LedgerVerificationError("inclusion proof too short", index=index)
    if not hmac.compare_digest(r, root):
        raise LedgerVerificationError("inclusion proof does not lead to the root", index=index)
