"""Put and get whole objects over a set of nodes."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from confiance.errors import StoreError
from confiance.store.codec import DEFAULT_BACKEND, Codec
from confiance.store.manifest import FragmentRecord, Manifest
from confiance.store.node import Node, NodeUnavailable
from confiance.store.placement import NodeLabels, ResidencyPolicy, place

logger = logging.getLogger(__name__)


def _fragment_key(object_id: str, index: int) -> str:
    return f"objects/{object_id[:2]}/{object_id}.{index}"


def _manifest_key(object_id: str) -> str:
    return f"manifests/{object_id}.json"


@dataclass(frozen=True)
class ScrubReport:
    object_id: str
    missing: tuple[int, ...]
    corrupt: tuple[int, ...]
    unreachable: tuple[int, ...]
    needed: int

    @property
    def healthy(self) -> bool:
        return not (self.missing or self.corrupt or self.unreachable)


@dataclass(frozen=True)
class ObjectStatus:
    object_id: str
    present: int
    needed: int
    total: int
    nodes: tuple[str, ...] = ()  # where its fragments are placed, by index


class ObjectStore:
    """Erasure-coded object store; a write reaches every node or fails.

    Manifests are small and replicated on every node, so they survive the
    same failures as the fragments they describe.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        *,
        k: int,
        m: int,
        backend: str = DEFAULT_BACKEND,
        labels: Mapping[str, NodeLabels] | None = None,
    ):
        if len(nodes) < k + m:
            raise StoreError(f"store: {k}+{m} needs {k + m} nodes, {len(nodes)} configured")
        if len({n.name for n in nodes}) != len(nodes):
            raise StoreError("store: node names must be unique")
        self.nodes = list(nodes)
        self.codec = Codec(k=k, m=m, backend=backend)
        self._by_name = {n.name: n for n in nodes}
        self.labels = (
            dict(labels)
            if labels is not None
            else {
                n.name: NodeLabels(datacenter=n.name, operator="", jurisdiction="") for n in nodes
            }
        )

    @property
    def k(self) -> int:
        return self.codec.k

    @property
    def m(self) -> int:
        return self.codec.m

    def put(
        self,
        object_id: str,
        data: bytes,
        *,
        policy: ResidencyPolicy | None = None,
        owner: str = "the owner",
    ) -> Manifest:
        """Encode, write one fragment per chosen node, then the manifest on each of them.

        Nodes are chosen by :func:`~confiance.store.placement.place` under the
        owner's residency policy; a policy that admits too few nodes fails the
        write before anything is written.
        """
        chosen = place(object_id, self.labels, self.k + self.m, policy=policy, owner=owner)
        fragments = self.codec.encode(data)
        records = []
        for index, (fragment, name) in enumerate(zip(fragments, chosen, strict=True)):
            node = self._by_name[name]
            node.put(_fragment_key(object_id, index), fragment)
            records.append(
                FragmentRecord(
                    index=index,
                    node=node.name,
                    size=len(fragment),
                    sha256=hashlib.sha256(fragment).hexdigest(),
                )
            )
        manifest = Manifest(
            object_id=object_id,
            backend=self.codec.backend,
            k=self.k,
            m=self.m,
            length=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            fragments=tuple(records),
        )
        raw = manifest.to_bytes()
        for name in chosen:  # the manifest lives where its fragments do, m+1 copies at least
            self._by_name[name].put(_manifest_key(object_id), raw)
        return manifest

    def manifest(self, object_id: str, *, digest: str) -> Manifest:
        """The manifest whose SHA-256 is ``digest``, from any node that holds it."""
        for node in self.nodes:
            try:
                raw = node.get(_manifest_key(object_id))
            except NodeUnavailable:
                continue
            if raw is not None and hmac.compare_digest(hashlib.sha256(raw).hexdigest(), digest):
                return Manifest.from_bytes(raw, where=f"{node.name}:{object_id}")
        raise StoreError(f"object {object_id}: no intact manifest on any reachable node")

    def get(self, object_id: str, *, manifest_digest: str) -> bytes:
        """The original bytes, or :class:`StoreError` naming the object."""
        manifest = self.manifest(object_id, digest=manifest_digest)
        good: list[bytes] = []
        for record in sorted(manifest.fragments, key=lambda r: r.index):
            fragment = self._fetch(object_id, record)
            if fragment is not None:
                good.append(fragment)
            if len(good) == manifest.k:
                break
        if len(good) < manifest.k:
            raise StoreError(
                f"object {object_id}: unreadable, {len(good)} intact fragment(s) "
                f"of {manifest.k} needed"
            )
        data = self.codec.decode(good)
        if len(data) != manifest.length or not hmac.compare_digest(
            hashlib.sha256(data).hexdigest(), manifest.sha256
        ):
            raise StoreError(f"object {object_id}: decoded bytes do not match the manifest")
        return data

    def _fetch(self, object_id: str, record: FragmentRecord) -> bytes | None:
        node = self._by_name.get(record.node)
        if node is None:
            return None
        try:
            fragment = node.get(_fragment_key(object_id, record.index))
        except NodeUnavailable:
            logger.warning("node %s unreachable for %s", record.node, object_id)
            return None
        if fragment is None:
            return None
        if not hmac.compare_digest(hashlib.sha256(fragment).hexdigest(), record.sha256):
            logger.warning("fragment %d of %s on %s is corrupt", record.index, object_id, node.name)
            return None
        return fragment

    def scrub(self, object_id: str, *, manifest_digest: str) -> ScrubReport:
        """Check every fragment of an object against its manifest hash."""
        manifest = self.manifest(object_id, digest=manifest_digest)
        missing, corrupt, unreachable = [], [], []
        for record in manifest.fragments:
            node = self._by_name.get(record.node)
            try:
                fragment = (
                    None if node is None else node.get(_fragment_key(object_id, record.index))
                )
            except NodeUnavailable:
                unreachable.append(record.index)
                continue
            if fragment is None:
                missing.append(record.index)
            elif not hmac.compare_digest(hashlib.sha256(fragment).hexdigest(), record.sha256):
                corrupt.append(record.index)
        return ScrubReport(
            object_id, tuple(missing), tuple(corrupt), tuple(unreachable), manifest.k
        )

    def repair(self, object_id: str, *, manifest_digest: str) -> ScrubReport:
        """Rebuild missing or corrupt fragments onto their (reachable) nodes.

        Fragments of unreachable nodes are left for when the node is back or
        replaced; the report says which. Raises if fewer than k are intact.
        """
        report = self.scrub(object_id, manifest_digest=manifest_digest)
        damaged = [*report.missing, *report.corrupt]
        if not damaged:
            return report
        manifest = self.manifest(object_id, digest=manifest_digest)
        intact = [
            fragment
            for record in manifest.fragments
            if (fragment := self._fetch(object_id, record)) is not None
        ]
        if len(intact) < manifest.k:
            raise StoreError(
                f"object {object_id}: cannot be repaired, {len(intact)} intact fragment(s) "
                f"of {manifest.k} needed"
            )
        by_index = {r.index: r for r in manifest.fragments}
        for index in damaged:
            # one index per call: the codec does not promise the order of several
            (fragment,) = self.codec.reconstruct(intact[: manifest.k], [index])
            record = by_index[index]
            if not hmac.compare_digest(hashlib.sha256(fragment).hexdigest(), record.sha256):
                raise StoreError(f"object {object_id}: rebuilt fragment {index} does not match")
            self._by_name[record.node].put(_fragment_key(object_id, index), fragment)
        if not report.unreachable:
            for node in (self._by_name[r.node] for r in manifest.fragments):  # lost copies too
                try:
                    if node.get(_manifest_key(object_id)) is None:
                        node.put(_manifest_key(object_id), manifest.to_bytes())
                except NodeUnavailable:
                    continue
        return self.scrub(object_id, manifest_digest=manifest_digest)

    def status(self, object_id: str, *, manifest_digest: str) -> ObjectStatus:
        manifest = self.manifest(object_id, digest=manifest_digest)
        present = sum(1 for r in manifest.fragments if self._fetch(object_id, r) is not None)
        return ObjectStatus(
            object_id,
            present,
            manifest.k,
            len(manifest.fragments),
            tuple(r.node for r in manifest.fragments),
        )
