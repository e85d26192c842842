"""Storage operations of the consortium: status, scrub, repair, nodes coming and going.

The catalogue (the ``datasets`` table) names each object's current manifest
by digest; whenever a fragment moves, the new manifest is sealed onto the
nodes first, the catalogue updated second and the old blobs removed last, so
a crash at any point leaves a readable object and, at worst, garbage that the
next scrub removes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confiance.consortium.home import OPERATOR, Home
from confiance.errors import ConfigError, StoreError
from confiance.store import Manifest, NodeUnavailable, ObjectStore, node_from_config

#: unknown blobs younger than this may belong to a write under way
DEFAULT_GRACE_SECONDS = 3600.0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class _Entry:
    dataset: str
    tenant: str
    source: str
    day: str
    digest: str


def _catalogue(home: Home) -> list[_Entry]:
    with home.meta.connect() as con:
        rows = con.execute(
            "SELECT id, tenant, source, day, manifest_digest FROM datasets ORDER BY tenant, day, id"
        ).fetchall()
    return [_Entry(*map(str, row)) for row in rows]


def _manifests(
    home: Home, store: ObjectStore
) -> Iterator[tuple[_Entry, Manifest | None, str | None]]:
    """Each catalogued object with its opened manifest, or why it has none."""
    for entry in _catalogue(home):
        try:
            yield entry, store.manifest(entry.dataset, digest=entry.digest), None
        except StoreError as exc:
            yield entry, None, str(exc)


def _commit(home: Home, store: ObjectStore, entry: _Entry, new: Manifest, why: str) -> None:
    """Point the catalogue at ``new`` (already sealed on its nodes), then drop the old blobs."""
    digest = new.digest()
    with home.meta.connect() as con:
        con.execute("UPDATE datasets SET manifest_digest = ? WHERE id = ?", (digest, entry.dataset))
    home.record(
        OPERATOR,
        "store.moved",
        {"dataset": entry.dataset, "manifest": digest, "nodes": list(new.nodes()), "why": why},
    )
    store.collect(new)


def store_status(home: Home) -> dict[str, Any]:
    """Per node: reachable, fragments, bytes, last scrub; per object: fragments present."""
    store = home.object_store()  # fails first on a directory that is not a home
    home.meta.create()  # a home made before node_scrubs existed gains it
    with home.meta.connect() as con:
        scrubbed = {
            row[0]: {"time": row[1], "fragments": row[2], "bad": row[3]}
            for row in con.execute("SELECT node, time, fragments, bad FROM node_scrubs")
        }
        last = con.execute("SELECT time, action FROM scrubs ORDER BY rowid DESC LIMIT 1").fetchone()
    nodes = []
    for entry, node in zip(home.config["store"]["nodes"], home.nodes(), strict=True):
        row: dict[str, Any] = {
            "node": node.name,
            "kind": entry.get("kind", "dir"),
            "datacenter": entry.get("datacenter"),
            "jurisdiction": entry.get("jurisdiction"),
            "operator": entry.get("operator", ""),
            "state": entry.get("state", "active"),
            "last_scrub": scrubbed.get(node.name),
        }
        try:
            blobs = list(node.list("objects/"))
            size = sum(b.size for b in blobs)
            nodes.append(row | {"reachable": True, "fragments": len(blobs), "bytes": size})
        except NodeUnavailable:
            nodes.append(row | {"reachable": False, "fragments": 0, "bytes": 0})
    objects = []
    placement: dict[str, dict[str, int]] = {}
    for entry, manifest, _ in _manifests(home, store):
        present = 0
        if manifest is not None:
            present = store.status(manifest).present
            where = placement.setdefault(entry.tenant, {})
            for name in manifest.nodes():
                where[name] = where.get(name, 0) + 1
        objects.append(
            {
                "dataset": entry.dataset,
                "tenant": entry.tenant,
                "source": entry.source,
                "day": entry.day,
                "present": present,
                "needed": store.k,
                "total": store.k + store.m,
            }
        )
    return {
        "nodes": nodes,
        "objects": objects,
        "k": store.k,
        "m": store.m,
        "placement": placement,
        "last_scrub": None if last is None else {"time": last[0], "action": last[1]},
    }


def scrub_store(
    home: Home,
    *,
    repair: bool = False,
    relocate_unreachable: bool = True,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> dict[str, Any]:
    """Check every segment of every fragment; remove orphans; with ``repair``, rebuild.

    Repair rebuilds only damaged segments, on the same node when it is
    healthy and eligible, otherwise on another node the tenant's residency
    policy admits (see :meth:`ObjectStore.repair`).
    """
    store = home.object_store()  # fails first on a directory that is not a home
    home.meta.create()  # a home made before node_scrubs existed gains it
    reachable = store.reachable()
    damaged: list[dict[str, Any]] = []
    totals = {
        "missing": 0,
        "corrupt": 0,
        "unreachable": 0,
        "bad_segments": 0,
        "repaired": 0,
        "rebuilt_segments": 0,
        "moved": 0,
    }
    unreadable = []
    current: dict[str, Manifest] = {}
    checked: dict[str, int] = {}
    bad: dict[str, int] = {}
    entries = 0
    for entry, manifest, reason in _manifests(home, store):
        entries += 1
        if manifest is None:
            unreadable.append({"dataset": entry.dataset, "reason": reason})
            continue
        current[entry.dataset] = manifest
        try:
            if repair:
                result = store.repair(
                    manifest,
                    policy=home.residency(entry.tenant),
                    relocate_unreachable=relocate_unreachable,
                    reachable=reachable,
                )
                before, after = result.before, result.after
                if result.manifest != manifest:
                    _commit(home, store, entry, result.manifest, "repair")
                    current[entry.dataset] = result.manifest
                totals["rebuilt_segments"] += result.rebuilt_segments
                totals["moved"] += len(result.moved)
            else:
                before = after = store.scrub(manifest)
        except StoreError as exc:
            unreadable.append({"dataset": entry.dataset, "reason": str(exc)})
            continue
        for record in manifest.fragments:
            checked[record.node] = checked.get(record.node, 0) + 1
            if record.index in (*before.missing, *before.corrupt):
                bad[record.node] = bad.get(record.node, 0) + 1
        totals["missing"] += len(before.missing)
        totals["corrupt"] += len(before.corrupt)
        totals["unreachable"] += len(before.unreachable)
        totals["bad_segments"] += before.bad_segments
        fixed = {*before.missing, *before.corrupt, *before.unreachable}
        left = {*after.missing, *after.corrupt, *after.unreachable}
        totals["repaired"] += len(fixed - left) if repair else 0
        if not before.healthy:
            damaged.append(
                {
                    "dataset": entry.dataset,
                    "missing": list(before.missing),
                    "corrupt": list(before.corrupt),
                    "unreachable": list(before.unreachable),
                    "bad_segments": before.bad_segments,
                    "healthy_after": after.healthy,
                }
            )
    orphans = store.sweep(current, grace_seconds=grace_seconds, now=time.time())
    action = "repair" if repair else "scrub"
    now = _now()
    with home.meta.connect() as con:
        con.execute(
            "INSERT INTO scrubs VALUES (?,?,?,?,?,?,?)",
            (
                now,
                action,
                entries,
                totals["missing"],
                totals["corrupt"],
                totals["unreachable"],
                totals["repaired"],
            ),
        )
        con.executemany(
            "INSERT OR REPLACE INTO node_scrubs VALUES (?,?,?,?)",
            [
                (name, now, checked.get(name, 0), bad.get(name, 0))
                for name, up in reachable.items()
                if up
            ],
        )
    summary = {
        "objects": entries,
        **totals,
        "orphans_removed": orphans.removed,
        "orphan_bytes": orphans.bytes,
        "orphans_recent": orphans.kept_recent,
    }
    home.record(OPERATOR, f"store.{action}", summary | {"unreadable": len(unreadable)})
    return summary | {"damaged": damaged, "unreadable": unreadable}


def add_node(
    home: Home,
    name: str,
    *,
    datacenter: str,
    jurisdiction: str,
    path: str | None = None,
    s3: str | None = None,
    bucket: str | None = None,
    operator: str = "",
    weight: float = 1.0,
    create_bucket: bool = False,
) -> dict[str, Any]:
    """Add a node (a local directory or an S3 bucket); it must answer before it is added."""
    config = home.config
    if any(n["name"] == name for n in config["store"]["nodes"]):
        raise ConfigError(f"store: a node named {name} already exists")
    if (path is None) == (s3 is None):
        raise ConfigError("store add-node: give either --dir PATH or --s3 URL --bucket B")
    if not datacenter or not jurisdiction:
        raise ConfigError("store add-node: --datacenter and --jurisdiction are required")
    if weight <= 0:
        raise ConfigError("store add-node: --weight must be positive")
    entry: dict[str, Any] = {
        "name": name,
        "datacenter": datacenter,
        "operator": operator,
        "jurisdiction": jurisdiction,
    }
    if weight != 1.0:
        entry["weight"] = weight
    if s3 is not None:
        if not bucket:
            raise ConfigError("store add-node: --s3 needs --bucket")
        entry |= {"kind": "s3", "endpoint": s3, "bucket": bucket}
    else:
        assert path is not None
        entry |= {"kind": "dir", "path": path}
    node = node_from_config(entry, base=home.root)
    if create_bucket and s3 is not None:
        from confiance.store.s3 import S3Node
        from confiance.store.s3 import create_bucket as make

        assert isinstance(node, S3Node)
        make(node)
    node.check()  # an unreachable node is not added
    config["store"]["nodes"].append(entry)
    home.save_config(config)
    home.record(OPERATOR, "store.node-added", {k: v for k, v in entry.items() if k != "path"})
    return entry


def _set_state(home: Home, name: str, state: str | None) -> None:
    config = home.config
    for entry in config["store"]["nodes"]:
        if entry["name"] == name:
            if state is None:
                entry.pop("state", None)
            else:
                entry["state"] = state
    home.save_config(config)


def drain_node(home: Home, name: str) -> dict[str, Any]:
    """Move every fragment off ``name``, then remove it from the configuration.

    The node stops receiving new fragments at once; its fragments go where
    :meth:`ObjectStore.repair` sends those of a draining node (copied while
    intact, rebuilt otherwise). If some fragment cannot go anywhere
    (residency, too few nodes), the node stays, draining.
    """
    if not any(n["name"] == name for n in home.config["store"]["nodes"]):
        raise ConfigError(f"store: no node named {name}")
    _set_state(home, name, "draining")
    store = home.object_store()
    reachable = store.reachable()
    moved = objects = 0
    failed = []
    for entry, manifest, reason in _manifests(home, store):
        if manifest is None:
            failed.append({"dataset": entry.dataset, "reason": reason})
            continue
        if name not in manifest.nodes():
            continue
        try:
            result = store.repair(
                manifest, policy=home.residency(entry.tenant), reachable=reachable
            )
        except StoreError as exc:
            failed.append({"dataset": entry.dataset, "reason": str(exc)})
            continue
        if result.manifest != manifest:
            _commit(home, store, entry, result.manifest, f"drain {name}")
            moved += len(result.moved)
            objects += 1
        if result.unplaced:
            failed.append(
                {
                    "dataset": entry.dataset,
                    "reason": f"no node admitted by the residency policy of {entry.tenant} "
                    f"is free for fragment(s) {', '.join(map(str, result.unplaced))}",
                }
            )
    report = {"objects": objects, "fragments": moved, "failed": failed}
    if not failed:
        config = home.config
        config["store"]["nodes"] = [n for n in config["store"]["nodes"] if n["name"] != name]
        home.save_config(config)
        home.record(OPERATOR, "store.node-removed", {"node": name, **report})
    return report | {"removed": not failed}


def rebalance(home: Home) -> dict[str, Any]:
    """Move fragments to where placement would put them now (after nodes were added)."""
    store = home.object_store()
    moved = objects = 0
    failed = []
    for entry, manifest, reason in _manifests(home, store):
        if manifest is None:
            failed.append({"dataset": entry.dataset, "reason": reason})
            continue
        try:
            targets = store.rebalance_targets(manifest, policy=home.residency(entry.tenant))
            if targets:
                _commit(home, store, entry, store.move(manifest, targets), "rebalance")
                moved += len(targets)
                objects += 1
        except StoreError as exc:
            failed.append({"dataset": entry.dataset, "reason": str(exc)})
    home.record(OPERATOR, "store.rebalanced", {"objects": objects, "fragments": moved})
    return {"objects": objects, "fragments": moved, "failed": failed}
