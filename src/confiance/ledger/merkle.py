"""RFC 9162 (RFC 6962) Merkle tree hashing, inclusion and consistency proofs.

Proofs are computed over a *subtree source*: a function giving the hash of the
leaves ``[start, start + size)``. A list of leaf hashes is one source; the
ledger's stored tree levels are another, which makes proofs O(log n) reads.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

from confiance.errors import LedgerError, LedgerVerificationError

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: hash of leaves [start, start + size); size >= 1
SubtreeSource = Callable[[int, int], bytes]


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


def list_source(leaves: Sequence[bytes]) -> SubtreeSource:
    """A subtree source over an in-memory list of leaf hashes."""

    def subtree(start: int, size: int) -> bytes:
        return root_hash(leaves[start : start + size])

    return subtree


def range_hash(start: int, size: int, perfect: SubtreeSource) -> bytes:
    """MTH of [start, start + size) from hashes of aligned perfect subtrees only."""
    if size & (size - 1) == 0 and start % size == 0:
        return perfect(start, size)
    k = _split(size)
    return node_hash(range_hash(start, k, perfect), range_hash(start + k, size - k, perfect))


def _path(index: int, start: int, size: int, source: SubtreeSource) -> list[bytes]:
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return [*_path(index, start, k, source), source(start + k, size - k)]
    return [*_path(index - k, start + k, size - k, source), source(start, k)]


def inclusion_proof_from(index: int, size: int, source: SubtreeSource) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of the first ``size`` leaves."""
    if not 0 <= index < size:
        raise LedgerVerificationError(f"no leaf {index} in a tree of {size}", index=index)
    return _path(index, 0, size, source)


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of ``leaves`` (RFC 9162 2.1.3.1)."""
    return inclusion_proof_from(index, len(leaves), list_source(leaves))


def _subproof(m: int, start: int, n: int, complete: bool, source: SubtreeSource) -> list[bytes]:
    if m == n:
        return [] if complete else [source(start, n)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, start, k, complete, source), source(start + k, n - k)]
    return [*_subproof(m - k, start + k, n - k, False, source), source(start, k)]


def consistency_proof_from(old: int, new: int, source: SubtreeSource) -> list[bytes]:
    """Proof that the tree of size ``old`` is a prefix of that of size ``new`` (2.1.4.1)."""
    if not 0 <= old <= new:
        raise LedgerVerificationError(f"no consistency proof from {old} to {new}")
    if old in (0, new):
        return []
    return _subproof(old, 0, new, True, source)


def consistency_proof(old: int, leaves: Sequence[bytes]) -> list[bytes]:
    return consistency_proof_from(old, len(leaves), list_source(leaves))


def tree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the RFC 9162 tree over ``leaves``, leaves first, root last.

    Pairs nodes level by level, carrying an unpaired last node up unchanged
    (which gives the RFC 9162 tree): n - 1 hashes in all.
    """
    if not leaves:
        raise LedgerError("no leaves")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = list(map(node_hash, below[0:-1:2], below[1::2]))
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels


def path_in(levels: Sequence[Sequence[bytes]], position: int) -> list[bytes]:
    """The inclusion proof of the leaf at ``position``, read off :func:`tree_levels`."""
    path = []
    for level in levels[:-1]:
        sibling = position ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        position >>= 1
    return path


def inclusion_proofs(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root and the inclusion proof of every leaf, from one pass over the tree.

    All n proofs cost n hashes instead of n log n.
    """
    levels = tree_levels(leaves)
    return levels[-1][0], [path_in(levels, position) for position in range(len(leaves))]


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


def verify_consistency(
    *, old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise unless ``proof`` shows tree ``old_root`` (size old) is a prefix of ``new_root``.

    RFC 9162 section 2.1.4.2, with the edge cases of transparency-dev/merkle:
    equal sizes need equal roots and no proof (size 0: the empty-tree root);
    a proof from the empty tree to a larger one proves nothing and is refused,
    so callers treat an old size of 0 themselves.
    """
    if not 0 <= old <= new:
        raise LedgerVerificationError(f"old size {old} is larger than new size {new}")
    if old == new:
        expected = EMPTY_ROOT if old == 0 else old_root
        if proof or not (
            hmac.compare_digest(old_root, expected) and hmac.compare_digest(new_root, expected)
        ):
            raise LedgerVerificationError("equal sizes need equal roots and an empty proof")
        return
    if old == 0:
        raise LedgerVerificationError("a consistency proof from the empty tree proves nothing")
    if len(old_root) != HASH_BYTES or len(new_root) != HASH_BYTES:
        raise LedgerVerificationError("roots must be SHA-256 hashes")
    if any(len(p) != HASH_BYTES for p in proof):
        raise LedgerVerificationError("consistency proof holds a malformed hash")
    if not proof:
        raise LedgerVerificationError("consistency proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise LedgerVerificationError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LedgerVerificationError("consistency proof too short")
    if not hmac.compare_digest(fr, old_root) or not hmac.compare_digest(sr, new_root):
        raise LedgerVerificationError("consistency proof does not lead to both roots")
