"""Erasure-coded store: any m losses survive, corruption never yields wrong bytes."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confiance.errors import StoreError
from confiance.store import Codec, LocalDirectoryNode, Manifest, ObjectStore


def _store(root: Path, k: int = 4, m: int = 2) -> ObjectStore:
    nodes = []
    for i in range(k + m):
        (root / f"n{i}").mkdir(parents=True, exist_ok=True)
        nodes.append(LocalDirectoryNode(f"n{i}", root / f"n{i}"))
    return ObjectStore(nodes, k=k, m=m)


def _fragment(store: ObjectStore, object_id: str, index: int) -> Path:
    """Where fragment ``index`` is placed (placement is deterministic for an object id)."""
    from confiance.store import place

    name = place(object_id, store.labels, store.k + store.m)[index]
    node = next(n for n in store.nodes if n.name == name)
    assert isinstance(node, LocalDirectoryNode)
    return node.root / "objects" / object_id[:2] / f"{object_id}.{index}"


def test_every_choice_of_two_lost_fragments_reads_back(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = bytes(range(256)) * 999
    manifest = store.put("ab" * 16, data)
    for lost in itertools.combinations(range(6), 2):
        saved = {i: _fragment(store, "ab" * 16, i).read_bytes() for i in lost}
        for i in lost:
            _fragment(store, "ab" * 16, i).unlink()
        assert store.get("ab" * 16, manifest_digest=manifest.digest()) == data
        for i, fragment in saved.items():
            _fragment(store, "ab" * 16, i).write_bytes(fragment)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=50_000),
    faults=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["delete", "flip", "truncate"])),
        max_size=2,
        unique_by=lambda f: f[0],
    ),
)
def test_up_to_m_faults_of_any_kind_read_back_identical(
    tmp_path: Path, data: bytes, faults: list[tuple[int, str]]
) -> None:
    store = _store(tmp_path / hashlib.sha256(data).hexdigest()[:8] / str(len(faults)))
    object_id = hashlib.sha256(data + bytes(len(faults))).hexdigest()[:32]
    manifest = store.put(object_id, data)
    for index, kind in faults:
        path = _fragment(store, object_id, index)
        fragment = bytearray(path.read_bytes())
        if kind == "delete":
            path.unlink()
        elif kind == "flip":
            fragment[len(fragment) - 1] ^= 0x80
            path.write_bytes(bytes(fragment))
        else:
            path.write_bytes(bytes(fragment[: len(fragment) // 2]))
    assert store.get(object_id, manifest_digest=manifest.digest()) == data


def test_three_faults_give_a_clear_error_naming_the_object(tmp_path: Path) -> None:
    store = _store(tmp_path)
    manifest = store.put("cd" * 16, b"x" * 10_000)
    for index in (0, 2, 5):
        path = _fragment(store, "cd" * 16, index)
        corrupted = bytearray(path.read_bytes())
        corrupted[100] ^= 1
        path.write_bytes(bytes(corrupted))
    with pytest.raises(StoreError, match=f"object {'cd' * 16}: unreadable, 3 intact fragment"):
        store.get("cd" * 16, manifest_digest=manifest.digest())


def test_a_manifest_that_does_not_match_its_digest_is_not_used(tmp_path: Path) -> None:
    store = _store(tmp_path)
    manifest = store.put("ef" * 16, b"payload")
    with pytest.raises(StoreError, match="no intact manifest"):
        store.get("ef" * 16, manifest_digest="0" * 64)
    raw = Manifest.from_bytes(manifest.to_bytes(), where="test")
    assert raw == manifest


def test_a_missing_node_directory_is_unreachable_not_recreated(tmp_path: Path) -> None:
    store = _store(tmp_path)
    node = store.nodes[0]
    assert isinstance(node, LocalDirectoryNode)
    node.root.rmdir()
    with pytest.raises(StoreError, match="n0: unreachable"):
        store.put("01" * 16, b"data")
    assert not node.root.exists()


def test_codec_and_store_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="k and m must be positive"):
        Codec(k=0, m=2)
    with pytest.raises(StoreError, match="needs 6 nodes, 2 configured"):
        ObjectStore(
            [LocalDirectoryNode("a", tmp_path), LocalDirectoryNode("b", tmp_path)], k=4, m=2
        )
    with pytest.raises(StoreError, match="invalid key"):
        LocalDirectoryNode("a", tmp_path).get("../escape")
    with pytest.raises(StoreError, match="manifest x: malformed"):
        Manifest.from_bytes(b"{}", where="x")


def test_repair_rebuilds_any_two_damaged_fragments_exactly(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = bytes(range(256)) * 777
    manifest = store.put("12" * 16, data)
    originals = {i: _fragment(store, "12" * 16, i).read_bytes() for i in range(6)}
    for damaged in itertools.combinations(range(6), 2):
        for i in damaged:
            path = _fragment(store, "12" * 16, i)
            if i % 2:
                path.unlink()
            else:
                path.write_bytes(b"rot" + originals[i][3:])
        report = store.scrub("12" * 16, manifest_digest=manifest.digest())
        assert sorted(report.missing + report.corrupt) == list(damaged)
        assert store.repair("12" * 16, manifest_digest=manifest.digest()).healthy
        assert all(_fragment(store, "12" * 16, i).read_bytes() == originals[i] for i in range(6))
    for i in (0, 1, 2):
        _fragment(store, "12" * 16, i).unlink()
    with pytest.raises(StoreError, match=f"object {'12' * 16}: cannot be repaired, 3 intact"):
        store.repair("12" * 16, manifest_digest=manifest.digest())


def test_placement_honours_residency_and_spreads_over_datacenters(tmp_path: Path) -> None:
    from confiance.store import NodeLabels, ResidencyPolicy, place

    nodes, labels = [], {}
    layout = [
        ("rouen-a", "rouen", "FR-NOR"),
        ("rouen-b", "rouen", "FR-NOR"),
        ("caen", "caen", "FR-NOR"),
        ("paris", "paris", "FR-IDF"),
        ("lyon", "lyon", "FR-ARA"),
        ("lille", "lille", "FR-HDF"),
        ("frankfurt", "frankfurt", "DE"),
        ("dublin", "dublin", "IE"),
    ]
    for name, datacenter, jurisdiction in layout:
        (tmp_path / name).mkdir()
        nodes.append(LocalDirectoryNode(name, tmp_path / name))
        labels[name] = NodeLabels(datacenter, "op", jurisdiction)
    store = ObjectStore(nodes, k=4, m=2, labels=labels)
    france = ResidencyPolicy(("FR",))
    used: set[str] = set()
    for i in range(40):
        manifest = store.put(f"{i:032x}", b"x" * 1000, policy=france, owner="academie")
        chosen = [r.node for r in manifest.fragments]
        used |= set(chosen)
        assert all(labels[n].jurisdiction.startswith("FR") for n in chosen)
        assert len({labels[n].datacenter for n in chosen}) == 5  # 5 French datacenters for 6
        assert store.get(f"{i:032x}", manifest_digest=manifest.digest()) == b"x" * 1000
    assert used == {n for n, *_ in layout if n not in ("frankfurt", "dublin")}
    with pytest.raises(
        StoreError,
        match=r"residency policy of region \(jurisdiction in "
        r"\[FR-NOR\]\) admits 3 node\(s\); 6 are needed: nothing was written",
    ):
        store.put("ff" * 16, b"y", policy=ResidencyPolicy(("FR-NOR",)), owner="region")
    assert not [p for n, *_ in layout for p in (tmp_path / n).rglob("ff" * 16 + "*")]
    with pytest.raises(StoreError, match="at least one jurisdiction"):
        ResidencyPolicy(())
    assert place("ab", labels, 6) == place("ab", labels, 6)  # deterministic
