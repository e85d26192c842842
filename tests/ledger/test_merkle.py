"""RFC 9162 / RFC 6962 hashing and inclusion proofs against published vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import VECTORS

from confiance.errors import LedgerVerificationError
from confiance.ledger import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

MERKLE = VECTORS / "merkle"


def test_rfc6962_known_hashes() -> None:
    cases = json.loads((MERKLE / "rfc6962-hashes.json").read_text())["cases"]
    assert len(cases) == 5
    for case in cases:
        want = case["want"]
        if "left_ascii" in case:
            got = node_hash(case["left_ascii"].encode(), case["right_ascii"].encode())
        elif "leaf_ascii" in case:
            got = leaf_hash(case["leaf_ascii"].encode())
        elif "leaf_hex" in case:
            got = leaf_hash(bytes.fromhex(case["leaf_hex"]))
        else:
            got = root_hash([])
        assert got.hex() == want, case["desc"]
        if "want_base64" in case:
            assert base64.b64encode(got).decode() == case["want_base64"]


def test_reference_tree_roots_and_proofs() -> None:
    ref = json.loads((MERKLE / "reference-tree-8-leaves.json").read_text())
    leaves = [leaf_hash(bytes.fromhex(h)) for h in ref["leaf_inputs_hex"]]
    roots = ref["root_hashes_by_tree_size"]["roots"]
    assert len(roots) == 9
    for size, want in enumerate(roots):
        assert root_hash(leaves[:size]).hex() == want
    for proof in ref["inclusion_proofs"]:
        index, size = proof["leaf_index"], proof["tree_size"]
        want = [bytes.fromhex(h) for h in proof["proof"]]
        assert inclusion_proof(index, leaves[:size]) == want
        verify_inclusion(
            index=index, size=size, leaf=leaves[index], proof=want, root=root_hash(leaves[:size])
        )


def _inclusion_cases() -> list[Path]:
    return sorted((MERKLE / "inclusion").rglob("*.json"))


@pytest.mark.parametrize("path", _inclusion_cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_inclusion_probes(path: Path) -> None:
    case = json.loads(path.read_text())

    def b64(value: str | None) -> bytes:
        return base64.b64decode(value or "")

    def check() -> None:
        verify_inclusion(
            index=case["leafIdx"],
            size=case["treeSize"],
            leaf=b64(case["leafHash"]),
            proof=[b64(p) for p in case["proof"] or []],
            root=b64(case["root"]),
        )

    if case["wantErr"]:
        with pytest.raises(LedgerVerificationError):
            check()
    else:
        check()


def test_all_98_inclusion_probes_are_present() -> None:
    assert len(_inclusion_cases()) == 98


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_every_leaf_is_provably_included(entries: list[bytes], data: st.DataObject) -> None:
    leaves = [leaf_hash(e) for e in entries]
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(index, leaves)
    verify_inclusion(
        index=index, size=len(leaves), leaf=leaves[index], proof=proof, root=root_hash(leaves)
    )
    if len(leaves) > 1:
        with pytest.raises(LedgerVerificationError):
            verify_inclusion(
                index=index,
                size=len(leaves),
                leaf=leaf_hash(b"forged"),
                proof=proof,
                root=root_hash(leaves),
            )


def _consistency_cases() -> list[Path]:
    return sorted((MERKLE / "consistency").rglob("*.json"))


@pytest.mark.parametrize("path", _consistency_cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_consistency_probes(path: Path) -> None:
    case = json.loads(path.read_text())

    def check() -> None:
        verify_consistency(
            old=case["size1"],
            new=case["size2"],
            old_root=base64.b64decode(case["root1"] or ""),
            new_root=base64.b64decode(case["root2"] or ""),
            proof=[base64.b64decode(p) for p in case["proof"] or []],
        )

    if case["wantErr"]:
        with pytest.raises(LedgerVerificationError):
            check()
    else:
        check()


def test_all_98_consistency_probes_are_present() -> None:
    assert len(_consistency_cases()) == 98


def test_reference_tree_consistency_proofs() -> None:
    ref = json.loads((MERKLE / "reference-tree-8-leaves.json").read_text())
    leaves = [leaf_hash(bytes.fromhex(h)) for h in ref["leaf_inputs_hex"]]
    assert ref["consistency_proofs"]
    for case in ref["consistency_proofs"]:
        old, new = case["size1"], case["size2"]
        want = [bytes.fromhex(h) for h in case["proof"]]
        assert consistency_proof(old, leaves[:new]) == want
        verify_consistency(
            old=old,
            new=new,
            old_root=root_hash(leaves[:old]),
            new_root=root_hash(leaves[:new]),
            proof=want,
        )


@given(st.integers(1, 80), st.data())
def test_every_prefix_is_provably_consistent(size: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    old = data.draw(st.integers(1, size))
    proof = consistency_proof(old, leaves)
    verify_consistency(
        old=old, new=size, old_root=root_hash(leaves[:old]), new_root=root_hash(leaves), proof=proof
    )
    if 0 < old < size:
        forged = [leaf_hash(b"x"), *leaves[1:]]
        with pytest.raises(LedgerVerificationError):
            verify_consistency(
                old=old,
                new=size,
                old_root=root_hash(forged[:old]),
                new_root=root_hash(leaves),
                proof=proof,
            )
