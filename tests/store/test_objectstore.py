"""Erasure-coded store: any m losses survive, corruption never yields wrong bytes."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import VECTORS
from tests.store.helpers import FixedKeys, fragment_path, local_store

from confiance.errors import StoreError
from confiance.store import (
    Codec,
    FragmentRecord,
    LocalDirectoryNode,
    Manifest,
    NodeLabels,
    ObjectStore,
    ResidencyPolicy,
    place,
)
from confiance.store.manifest import open_manifest, seal_manifest

ID = "ab" * 16


def test_every_choice_of_two_lost_fragments_reads_back(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    data = bytes(range(256)) * 999  # 62 segments of 4 KiB
    manifest = store.put(ID, data)
    assert len(manifest.fragment_sizes) == 63
    for lost in itertools.combinations(range(6), 2):
        saved = {i: fragment_path(store, ID, i).read_bytes() for i in lost}
        for i in lost:
            fragment_path(store, ID, i).unlink()
        assert store.get(ID, manifest_digest=manifest.digest()) == data
        for i, fragment in saved.items():
            fragment_path(store, ID, i).write_bytes(fragment)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=50_000),
    faults=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["delete", "flip", "truncate", "node"])),
        max_size=2,
        unique_by=lambda f: f[0],
    ),
)
def test_up_to_m_faults_of_any_kind_read_back_identical(
    tmp_path: Path, data: bytes, faults: list[tuple[int, str]]
) -> None:
    store = local_store(tmp_path / hashlib.sha256(data).hexdigest()[:8] / str(len(faults)))
    object_id = hashlib.sha256(data + bytes(len(faults))).hexdigest()[:32]
    manifest = store.put(object_id, data)
    for index, kind in faults:
        path = fragment_path(store, object_id, index)
        fragment = bytearray(path.read_bytes())
        if kind == "delete":
            path.unlink()
        elif kind == "node":  # the whole datacenter is gone
            shutil.rmtree(path.parents[2])
        elif kind == "flip":  # an empty fragment gains a byte instead
            path.write_bytes(
                bytes(fragment[:-1] + bytes([fragment[-1] ^ 0x80]) if fragment else b"!")
            )
        else:
            path.write_bytes(bytes(fragment[: len(fragment) // 2]))
    assert store.get(object_id, manifest_digest=manifest.digest()) == data


def test_a_bad_segment_costs_only_itself(tmp_path: Path) -> None:
    """Every fragment damaged, each in another segment: still readable, and repair
    rebuilds those six segments only."""
    store = local_store(tmp_path)
    data = os.urandom(40_000)  # 10 segments
    manifest = store.put(ID, data)
    spans = manifest.offsets()
    for index in range(6):
        path = fragment_path(store, ID, index)
        blob = bytearray(path.read_bytes())
        blob[spans[index][0] + 100] ^= 1  # fragment i rots in segment i
        path.write_bytes(bytes(blob))
    assert store.get(ID, manifest_digest=manifest.digest()) == data
    report = store.scrub(manifest)
    assert report.corrupt == (0, 1, 2, 3, 4, 5) and report.bad_segments == 6
    result = store.repair(manifest)
    assert result.rebuilt_segments == 6 and result.after.healthy and result.manifest == manifest


def test_three_faults_give_a_clear_error_naming_the_object(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    manifest = store.put("cd" * 16, b"x" * 10_000)
    for index in (0, 2, 5):
        path = fragment_path(store, "cd" * 16, index)
        corrupted = bytearray(path.read_bytes())
        corrupted[100] ^= 1  # segment 0 of three fragments
        path.write_bytes(bytes(corrupted))
    with pytest.raises(
        StoreError,
        match=f"object {'cd' * 16}: unreadable, segment 0 has 3 intact fragment\\(s\\) of 4",
    ):
        store.get("cd" * 16, manifest_digest=manifest.digest())


def test_manifests_are_sealed_on_the_nodes(tmp_path: Path) -> None:
    keys = FixedKeys()
    store = local_store(tmp_path, keys=keys)
    manifest = store.put(ID, b"payload", attributes={"tenant": "lycee-hugo", "day": "2026-11-02"})
    copies = list(tmp_path.rglob(f"manifests/{ID}/*"))
    assert len(copies) == 6 and all(p.name == manifest.digest() for p in copies)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"lycee-hugo" not in path.read_bytes()  # attributes never in clear
    sealed = copies[0].read_bytes()
    assert open_manifest(sealed, keys, object_id=ID, where="t").attributes["tenant"] == "lycee-hugo"
    with pytest.raises(StoreError, match="manifest t: cannot be opened"):
        open_manifest(sealed, FixedKeys(), object_id=ID, where="t")
    with pytest.raises(StoreError, match=f"not a sealed manifest of {'cd' * 16}"):
        open_manifest(sealed, keys, object_id="cd" * 16, where="t")
    # another store's key cannot open them: no manifest, no read
    other = local_store(tmp_path, keys=FixedKeys())
    with pytest.raises(StoreError, match="no intact manifest on any reachable node"):
        other.get(ID, manifest_digest=manifest.digest())
    with pytest.raises(StoreError, match="no intact manifest"):
        store.get(ID, manifest_digest="0" * 64)
    assert Manifest.from_bytes(manifest.to_bytes(), where="t") == manifest
    # the runtime reads with the manifest it is given, without the key
    keyless = ObjectStore(store.nodes, k=4, m=2)
    assert keyless.read(manifest) == b"payload"
    with pytest.raises(StoreError, match="without the operator key"):
        keyless.put("ef" * 16, b"x")


def test_golden_fragments_pin_the_codec_and_the_manifest_format() -> None:
    vectors = json.loads((VECTORS / "store" / "liberasurecode-fragments.json").read_text())
    data = bytes((i * 7 + 3) % 251 for i in range(10_000))
    assert hashlib.sha256(data).hexdigest() == vectors["input_sha256"]
    for case in vectors["cases"]:
        codec = Codec(k=case["k"], m=case["m"], backend=case["backend"])
        fragments = codec.encode(data)
        assert len(fragments[0]) == case["fragment_size"]
        assert [hashlib.sha256(f).hexdigest() for f in fragments] == case["fragments_sha256"]
        assert fragments[case["k"]][:160].hex() == case["parity_0_head_hex"]
    nodes = [LocalDirectoryNode(f"n{i}", Path("/nonexistent")) for i in range(6)]
    store = ObjectStore(nodes, k=4, m=2, segment_size=4096)
    encoded = store.encode(data)
    manifest = Manifest(
        object_id=ID,
        backend="isa_l_rs_cauchy",
        k=4,
        m=2,
        segment_size=4096,
        length=len(data),
        fragment_sizes=encoded.fragment_sizes,
        fragments=tuple(FragmentRecord(i, f"n{i}", encoded.hashes[i]) for i in range(6)),
        attributes={"tenant": "t"},
    )
    assert manifest.digest() == vectors["manifest_v2_sha256"]


def test_malformed_manifests_are_refused_with_their_place() -> None:
    with pytest.raises(StoreError, match="manifest x: malformed"):
        Manifest.from_bytes(b"{}", where="x")
    with pytest.raises(StoreError, match="manifest x: unsupported format 'confiance-manifest/1'"):
        Manifest.from_bytes(b'{"format": "confiance-manifest/1"}', where="x")
    good = json.loads(
        b'{"format":"confiance-manifest/2","object":"o","codec":{"library":"liberasurecode",'
        b'"backend":"isa_l_rs_cauchy","k":1,"m":1,"segment_size":10},"length":5,'
        b'"hash":"sha256","segments":[81],"fragments":['
        b'{"index":0,"node":"a","sha256":["' + b"1" * 64 + b'"]},'
        b'{"index":1,"node":"b","sha256":["' + b"2" * 64 + b'"]}],"attributes":{}}'
    )
    assert Manifest.from_bytes(json.dumps(good).encode(), where="x").length == 5
    for field, value, message in [
        ("length", 50, "2 segments|1 segments for its length"),
        ("fragments", [], "not indexes 0..1"),
        ("segments", ["x"], "malformed"),
    ]:
        bad = dict(good, **{field: value})
        with pytest.raises(StoreError, match=message):
            Manifest.from_bytes(json.dumps(bad).encode(), where="x")


def test_write_quorum_tolerates_one_lost_node_and_refuses_three(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    down = fragment_path(store, ID, 0).parents[2]
    down.rename(tmp_path / "away")
    manifest = store.put(ID, b"d" * 20_000)  # 5 of 6 acknowledged: k+1 = quorum
    assert store.get(ID, manifest_digest=manifest.digest()) == b"d" * 20_000
    assert store.scrub(manifest).unreachable == (0,)
    for node in [p for p in sorted(tmp_path.glob("n*"))][:2]:
        node.rename(tmp_path / f"away-{node.name}")
    with pytest.raises(StoreError, match=f"object {'cd' * 16}: write quorum not reached, 3 of 6"):
        store.put("cd" * 16, b"e" * 20_000)
    assert not [p for p in tmp_path.rglob("*") if "cdcdcd" in str(p)]  # nothing left behind
    with pytest.raises(StoreError, match="write quorum must be between 4 and 6"):
        local_store(tmp_path / "q", write_quorum=3)


def test_repair_rebuilds_any_two_damaged_fragments_exactly(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    data = bytes(range(256)) * 777
    manifest = store.put("12" * 16, data)
    originals = {i: fragment_path(store, "12" * 16, i).read_bytes() for i in range(6)}
    for damaged in itertools.combinations(range(6), 2):
        for i in damaged:
            path = fragment_path(store, "12" * 16, i)
            if i % 2:
                path.unlink()
            else:
                path.write_bytes(b"rot" + originals[i][3:])
        report = store.scrub(manifest)
        assert sorted(report.missing + report.corrupt) == list(damaged)
        result = store.repair(manifest)
        assert result.after.healthy and not result.moved
        assert all(
            fragment_path(store, "12" * 16, i).read_bytes() == originals[i] for i in range(6)
        )
    for i in (0, 1, 2):
        fragment_path(store, "12" * 16, i).unlink()
    with pytest.raises(
        StoreError, match=f"object {'12' * 16}: cannot be repaired, segment 0 has 3 intact"
    ):
        store.repair(manifest)


def _layout(tmp_path: Path, rows: list[tuple[str, str, str]]) -> ObjectStore:
    nodes, labels = [], {}
    for name, datacenter, jurisdiction in rows:
        (tmp_path / name).mkdir()
        nodes.append(LocalDirectoryNode(name, tmp_path / name))
        labels[name] = NodeLabels(datacenter, "op", jurisdiction)
    return ObjectStore(nodes, k=4, m=2, labels=labels, manifest_keys=FixedKeys(), segment_size=4096)


FRANCE_AND_MORE = [
    ("rouen-a", "rouen", "FR-NOR"),
    ("rouen-b", "rouen", "FR-NOR"),
    ("caen", "caen", "FR-NOR"),
    ("paris", "paris", "FR-IDF"),
    ("lyon", "lyon", "FR-ARA"),
    ("lille", "lille", "FR-HDF"),
    ("frankfurt", "frankfurt", "DE"),
    ("dublin", "dublin", "IE"),
]


def test_a_lost_node_is_rebuilt_elsewhere_within_the_residency_policy(tmp_path: Path) -> None:
    store = _layout(tmp_path, [*FRANCE_AND_MORE, ("nantes", "nantes", "FR-PDL")])
    france = ResidencyPolicy(("FR",))
    data = os.urandom(30_000)
    manifest = store.put(ID, data, policy=france)
    french = {n for n, lab in store.labels.items() if lab.jurisdiction.startswith("FR")}
    (spare,) = french - set(manifest.nodes())
    lost = next(n for n in manifest.nodes() if n != "rouen-a" and n != "rouen-b")
    shutil.rmtree(tmp_path / lost)
    result = store.repair(manifest, policy=france)
    assert result.moved == ((manifest.nodes().index(lost), lost, spare),)
    assert result.after.healthy and result.manifest.digest() != manifest.digest()
    assert store.get(ID, manifest_digest=result.manifest.digest()) == data
    # the old manifest still opens until the catalogue moves on; collect drops it
    assert store.get(ID, manifest_digest=manifest.digest()) == data
    store.collect(result.manifest)
    with pytest.raises(StoreError, match="no intact manifest"):
        store.get(ID, manifest_digest=manifest.digest())
    # a second loss: only German and Irish nodes are left free, the policy forbids them
    second = next(n for n in result.manifest.nodes() if n not in ("rouen-a", "rouen-b"))
    shutil.rmtree(tmp_path / second)
    again = store.repair(result.manifest, policy=france)
    assert again.unplaced == (result.manifest.nodes().index(second),) and not again.moved
    assert not list((tmp_path / "frankfurt").rglob("*")) and not list(
        (tmp_path / "dublin").rglob("*")
    )
    waiting = store.repair(result.manifest, policy=france, relocate_unreachable=False)
    assert waiting.after.unreachable and not waiting.moved and not waiting.unplaced


def test_move_rebalance_and_orphan_sweep(tmp_path: Path) -> None:
    store = _layout(tmp_path, FRANCE_AND_MORE[:6])
    manifest = store.put(ID, b"m" * 9_000)
    assert store.rebalance_targets(manifest) == {}
    (tmp_path / "nantes").mkdir()
    bigger = ObjectStore(
        [*store.nodes, LocalDirectoryNode("nantes", tmp_path / "nantes")],
        k=4,
        m=2,
        labels={**store.labels, "nantes": NodeLabels("nantes", "op", "FR-PDL", weight=50.0)},
        manifest_keys=store._keys,
        segment_size=4096,
    )
    moves = bigger.rebalance_targets(manifest)
    assert list(moves.values()) == ["nantes"]  # one move, onto the new heavy node
    moved = bigger.move(manifest, moves)
    assert bigger.get(ID, manifest_digest=moved.digest()) == b"m" * 9_000
    assert bigger.collect(moved) == 1 + 6  # the old fragment, the 6 old manifest copies
    assert bigger.rebalance_targets(moved) == {}
    with pytest.raises(StoreError, match="already holds a fragment"):
        bigger.move(moved, {0: moved.nodes()[1]})
    # a write that crashed before its manifest: fragments no catalogue names
    orphan = tmp_path / "paris" / "objects" / "ff" / f"{'ff' * 16}.0"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half a write")
    recent = bigger.sweep({ID: moved}, grace_seconds=3600, now=time.time())
    assert recent.removed == 0 and recent.kept_recent == 1 and orphan.exists()
    swept = bigger.sweep({ID: moved}, grace_seconds=3600, now=time.time() + 7200)
    assert swept.removed == 1 and not orphan.exists()
    assert bigger.get(ID, manifest_digest=moved.digest()) == b"m" * 9_000


def test_a_missing_node_directory_is_unreachable_not_recreated(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    node = store.nodes[0]
    assert isinstance(node, LocalDirectoryNode)
    node.root.rmdir()
    assert not store.reachable()["n0"]
    store.put("01" * 16, b"data")  # degraded, within quorum
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
    from confiance.store import node_from_config

    with pytest.raises(StoreError, match="node 'x': unknown kind 'tape'"):
        node_from_config({"name": "x", "kind": "tape"}, base=tmp_path)
    with pytest.raises(StoreError, match="node 'x': field path missing"):
        node_from_config({"name": "x"}, base=tmp_path)
    sealed = seal_manifest(local_store(tmp_path / "s").put(ID, b""), FixedKeys())
    with pytest.raises(StoreError, match="manifest w: malformed"):
        open_manifest(sealed[:-5], FixedKeys(), object_id=ID, where="w")


def test_the_empty_object_round_trips(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    manifest = store.put(ID, b"")
    assert manifest.fragment_sizes == () and store.get(ID, manifest_digest=manifest.digest()) == b""
    assert store.scrub(manifest).healthy


def test_placement_honours_residency_and_spreads_over_datacenters(tmp_path: Path) -> None:
    store = _layout(tmp_path, FRANCE_AND_MORE)
    labels = store.labels
    france = ResidencyPolicy(("FR",))
    used: set[str] = set()
    for i in range(40):
        manifest = store.put(f"{i:032x}", b"x" * 1000, policy=france, owner="academie")
        chosen = manifest.nodes()
        used |= set(chosen)
        assert all(labels[n].jurisdiction.startswith("FR") for n in chosen)
        assert len({labels[n].datacenter for n in chosen}) == 5  # 5 French datacenters for 6
        assert store.get(f"{i:032x}", manifest_digest=manifest.digest()) == b"x" * 1000
    assert used == {n for n, *_ in FRANCE_AND_MORE if n not in ("frankfurt", "dublin")}
    with pytest.raises(
        StoreError,
        match=r"residency policy of region \(jurisdiction in "
        r"\[FR-NOR\]\) admits 3 node\(s\); 6 are needed: nothing was written",
    ):
        store.put("ff" * 16, b"y", policy=ResidencyPolicy(("FR-NOR",)), owner="region")
    assert not [p for n, *_ in FRANCE_AND_MORE for p in (tmp_path / n).rglob("ff" * 16 + "*")]
    with pytest.raises(StoreError, match="at least one jurisdiction"):
        ResidencyPolicy(())
    assert place("ab", labels, 6) == place("ab", labels, 6)  # deterministic
