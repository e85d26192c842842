"""Storage operations on a consortium: nodes added, lost, drained; orphans; the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.cli.test_cli import confiance

from confiance.consortium import Home, operations, storage
from confiance.errors import ConfigError, StoreError


def _readable(home: Home) -> int:
    """Rows of every tenant's stored events, read back through the store."""
    from confiance.consortium.home import TENANTS

    return sum(t.num_rows for tenant in TENANTS for t in operations.own_events(home, tenant))


def _kinds(home: Home) -> list[str]:
    return [e.kind for e in home.ledger().entries()]


def test_a_lost_datacenter_is_rebuilt_onto_a_new_node(home: Home, tmp_path: Path) -> None:
    rows = _readable(home)
    shutil.rmtree(home.root / "nodes" / "dc-dieppe")  # the datacenter is gone for good
    spare = tmp_path / "granville"
    spare.mkdir()
    result = confiance(
        "store", "add-node", "dc-granville", "--dir", str(spare),
        "--datacenter", "granville-1", "--jurisdiction", "FR-NOR", "--operator", "region-dc",
        home=home.root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "node dc-granville added" in result.stdout
    home = _fresh(home)  # the command changed config.yaml
    repaired = storage.scrub_store(home, repair=True)
    assert repaired["unreachable"] > 0 and repaired["moved"] == repaired["unreachable"]
    assert repaired["unreadable"] == [] and all(d["healthy_after"] for d in repaired["damaged"])
    status = storage.store_status(home)
    assert all(o["present"] == o["total"] for o in status["objects"])
    granville = next(n for n in status["nodes"] if n["node"] == "dc-granville")
    assert granville["fragments"] == repaired["moved"] and granville["last_scrub"] is not None
    assert _readable(home) == rows
    assert "store.moved" in _kinds(home) and "store.node-added" in _kinds(home)
    # the catalogue now names manifests that place nothing on the lost node
    for dataset in status["objects"]:
        manifest = home.object_store().manifest(
            dataset["dataset"], digest=_digest(home, dataset["dataset"])
        )
        assert "dc-dieppe" not in manifest.nodes()


def _fresh(home: Home) -> Home:
    home.close()
    return Home(home.root)


def _digest(home: Home, dataset: str) -> str:
    with home.meta.connect() as con:
        return str(
            con.execute("SELECT manifest_digest FROM datasets WHERE id = ?", (dataset,)).fetchone()[
                0
            ]
        )


def test_drain_moves_everything_off_then_removes_the_node(home: Home, tmp_path: Path) -> None:
    rows = _readable(home)
    with pytest.raises(ConfigError, match="no node named dc-nowhere"):
        storage.drain_node(home, "dc-nowhere")
    # six nodes for 4+2: nowhere to go, the node stays (draining) and nothing moves
    stuck = storage.drain_node(home, "dc-evreux")
    assert stuck["failed"] and not stuck["removed"] and stuck["fragments"] == 0
    (tmp_path / "bayeux").mkdir()
    storage.add_node(
        home, "dc-bayeux", path=str(tmp_path / "bayeux"), datacenter="bayeux-1",
        jurisdiction="FR-NOR",
    )  # fmt: skip
    result = confiance("store", "drain", "dc-evreux", "--json", home=home.root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["removed"] and report["fragments"] == report["objects"] > 0
    home = _fresh(home)
    assert "dc-evreux" not in [n["name"] for n in home.config["store"]["nodes"]]
    assert not [p for p in (home.root / "nodes" / "dc-evreux").rglob("*") if p.is_file()]
    assert _readable(home) == rows
    assert "store.node-removed" in _kinds(home)


def test_rebalance_uses_a_new_heavy_node_and_keeps_data_readable(
    home: Home, tmp_path: Path
) -> None:
    rows = _readable(home)
    (tmp_path / "cherbourg").mkdir()
    storage.add_node(
        home, "dc-cherbourg", path=str(tmp_path / "cherbourg"), datacenter="cherbourg-1",
        jurisdiction="FR-NOR", weight=4.0,
    )  # fmt: skip
    result = confiance("store", "rebalance", "--json", home=home.root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 0 < report["fragments"] == report["objects"]  # one move per object at most
    home = _fresh(home)
    assert storage.rebalance(home)["fragments"] == 0  # balanced: nothing more to move
    assert _readable(home) == rows
    held = next(n for n in storage.store_status(home)["nodes"] if n["node"] == "dc-cherbourg")
    assert held["fragments"] == report["fragments"]


def test_scrub_removes_orphans_of_a_crashed_write_after_the_grace_period(home: Home) -> None:
    orphan = home.root / "nodes" / "dc-caen" / "objects" / "ee" / f"{'ee' * 16}.3"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"a fragment whose manifest never came")
    kept = storage.scrub_store(home)
    assert kept["orphans_removed"] == 0 and kept["orphans_recent"] == 1 and orphan.exists()
    result = confiance("store", "scrub", "--grace", "0", home=home.root)
    assert result.returncode == 0, result.stderr
    assert "orphans: 1 removed (36 bytes)" in result.stdout and not orphan.exists()


def test_add_node_refuses_bad_requests_and_unreachable_nodes(home: Home, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a node named dc-rouen already exists"):
        storage.add_node(home, "dc-rouen", path="x", datacenter="d", jurisdiction="FR")
    with pytest.raises(ConfigError, match="either --dir PATH or --s3 URL --bucket B"):
        storage.add_node(home, "n", datacenter="d", jurisdiction="FR")
    with pytest.raises(ConfigError, match="--s3 needs --bucket"):
        storage.add_node(home, "n", s3="http://127.0.0.1:1", datacenter="d", jurisdiction="FR")
    with pytest.raises(StoreError, match="node n: unreachable"):
        storage.add_node(
            home, "n", path=str(tmp_path / "absent"), datacenter="d", jurisdiction="FR"
        )
    assert "n" not in [n["name"] for n in home.config["store"]["nodes"]]
    result = confiance("store", "add-node", "n", "--datacenter", "d", "--jurisdiction", "FR",
                       home=home.root)  # fmt: skip
    assert result.returncode != 0 and "either --dir PATH or --s3" in result.stderr
