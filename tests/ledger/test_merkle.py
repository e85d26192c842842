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
from confiance.ledger import inclusion_proof, leaf_hash, node_hash, root_hash, verify_inclusion

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
