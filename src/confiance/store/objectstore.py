"""Put, read, scrub, repair and move objects over a set of nodes.

An object is cut into segments (4 MiB by default); each segment is
erasure-coded into k data + m parity fragments, and fragment ``i`` of every
segment goes, concatenated, into one blob on the ``i``-th placed node. The
manifest records each segment fragment's SHA-256, so a bad segment costs only
itself: reads decode that segment from other fragments, repair rebuilds only
the damaged segments.

Keys on a node: ``objects/<id[:2]>/<id>.<index>`` for fragments and
``manifests/<id>/<manifest digest>`` for sealed manifests, so a moved
object's new manifest never overwrites the one the catalogue still names.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from confiance.errors import StoreError
from confiance.store.codec import DEFAULT_BACKEND, Codec
from confiance.store.manifest import (
    FragmentRecord,
    Manifest,
    ManifestKeys,
    open_manifest,
    seal_manifest,
)
from confiance.store.node import Blob, Node, NodeUnavailable
from confiance.store.placement import NodeLabels, ResidencyPolicy, choose_target, place

logger = logging.getLogger(__name__)

#: segment size: large enough for the codec to run at memory speed, small
#: enough that a bit flip costs one segment and memory stays bounded
DEFAULT_SEGMENT_SIZE = 4 * 2**20
#: bytes of an object's fragments that scrub, repair and move hold at once: they
#: read by ranges of whole segments, and rebuilt fragments go to a spool file
DEFAULT_WINDOW_BYTES = 64 * 2**20


@functools.cache
def _executor() -> ThreadPoolExecutor:
    """Node I/O runs in threads (file and socket I/O and SHA-256 release the GIL)."""
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="confiance-store")


def fragment_key(object_id: str, index: int) -> str:
    return f"objects/{object_id[:2]}/{object_id}.{index}"


def manifest_key(object_id: str, digest: str) -> str:
    return f"manifests/{object_id}/{digest}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


@dataclass(frozen=True)
class Encoded:
    """An object's fragment blobs, by index, and the hash of every segment fragment."""

    blobs: tuple[list[bytes], ...]  # fragment i as its segments, never joined in memory
    hashes: tuple[tuple[str, ...], ...]
    fragment_sizes: tuple[int, ...]
    length: int


@dataclass(frozen=True)
class ScrubReport:
    object_id: str
    missing: tuple[int, ...]
    corrupt: tuple[int, ...]
    unreachable: tuple[int, ...]
    needed: int
    bad_segments: int = 0  # corrupt segment fragments, over all fragments
    manifest_copies: int = 0  # nodes holding this exact manifest

    @property
    def healthy(self) -> bool:
        return not (self.missing or self.corrupt or self.unreachable)


@dataclass(frozen=True)
class RepairResult:
    before: ScrubReport
    after: ScrubReport
    manifest: Manifest  # a new manifest (and digest) when a fragment moved
    moved: tuple[tuple[int, str, str], ...] = ()  # (index, from node, to node)
    unplaced: tuple[int, ...] = ()  # fragments with no eligible node to go to
    rebuilt_segments: int = 0


@dataclass(frozen=True)
class ObjectStatus:
    object_id: str
    present: int
    needed: int
    total: int
    nodes: tuple[str, ...] = ()  # where its fragments are placed, by index


@dataclass(frozen=True)
class SweepReport:
    """Blobs no manifest refers to: a crashed write, a moved fragment, an old manifest."""

    removed: int
    bytes: int
    kept_recent: int  # unknown blobs younger than the grace period (a write under way)
    by_node: Mapping[str, int] = field(default_factory=dict)


@dataclass
class _Material:
    """What was read of a window of an object's segments: slices of its fragment blobs,
    and which segment fragments are intact."""

    spans: dict[int, tuple[int, int]]  # segment number -> (offset, size) in the slices
    blobs: dict[int, bytes] = field(default_factory=dict)
    intact: dict[int, set[int]] = field(default_factory=dict)  # index -> segment numbers
    missing: list[int] = field(default_factory=list)
    corrupt: list[int] = field(default_factory=list)
    unreachable: list[int] = field(default_factory=list)

    def part(self, index: int, number: int) -> bytes:
        offset, size = self.spans[number]
        return self.blobs[index][offset : offset + size]

    def holders(self, number: int, *, but: int | None = None) -> list[int]:
        """Indexes whose fragment of segment ``number`` is intact (but ``but``), data first."""
        return [i for i in sorted(self.intact) if number in self.intact[i] and i != but]

    def segment(self, number: int, count: int) -> list[tuple[int, bytes]]:
        """Up to ``count`` intact fragments of segment ``number`` with their index, data first."""
        return [(index, self.part(index, number)) for index in self.holders(number)[:count]]


@dataclass
class _Survey:
    """An object's fragments checked window after window (what scrub and repair decide on)."""

    intact: dict[int, set[int]] = field(default_factory=dict)
    missing: set[int] = field(default_factory=set)
    corrupt: set[int] = field(default_factory=set)
    unreachable: set[int] = field(default_factory=set)
    bad_segments: int = 0


class ObjectStore:
    """Erasure-coded object store over independent nodes.

    A write is visible (returns a manifest) once ``write_quorum`` nodes (k+1
    by default) hold their fragment and a copy of the manifest; fragments of
    nodes that failed are left for ``repair``. Manifests are sealed with
    ``manifest_keys`` (the platform operator's keystore); a store without it
    can still read an object whose manifest it is given (the runtime).
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        *,
        k: int,
        m: int,
        backend: str = DEFAULT_BACKEND,
        labels: Mapping[str, NodeLabels] | None = None,
        manifest_keys: ManifestKeys | None = None,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        write_quorum: int | None = None,
        draining: Collection[str] = (),
        hedge_after: float = 0.5,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
    ):
        if len({n.name for n in nodes}) != len(nodes):
            raise StoreError("store: node names must be unique")
        if segment_size < 1:
            raise StoreError("store: the segment size must be positive")
        self.nodes = list(nodes)
        self.codec = Codec(k=k, m=m, backend=backend)
        if len(self.nodes) < k + m:
            raise StoreError(f"store: {k}+{m} needs {k + m} nodes, {len(nodes)} configured")
        self.write_quorum = min(k + m, k + 1) if write_quorum is None else write_quorum
        if not k <= self.write_quorum <= k + m:
            raise StoreError(f"store: write quorum must be between {k} and {k + m}")
        self.segment_size = segment_size
        self.draining = frozenset(draining)
        self.hedge_after = hedge_after
        self.window_bytes = window_bytes
        self._keys = manifest_keys
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

    def _active_labels(self) -> dict[str, NodeLabels]:
        return {n: lab for n, lab in self.labels.items() if n not in self.draining}

    # -- encoding -----------------------------------------------------------------

    def encode(self, data: bytes) -> Encoded:
        """Segment, encode and hash ``data`` (the CPU part of a write)."""
        n, size = self.k + self.m, self.segment_size
        parts: list[list[bytes]] = [[] for _ in range(n)]
        hashes: list[list[str]] = [[] for _ in range(n)]
        sizes = []
        for offset in range(0, len(data), size):
            fragments = self.codec.encode(data[offset : offset + size])
            sizes.append(len(fragments[0]))
            for index, fragment in enumerate(fragments):
                parts[index].append(fragment)
                hashes[index].append(_sha256(fragment))
        return Encoded(
            blobs=tuple(parts),
            hashes=tuple(tuple(h) for h in hashes),
            fragment_sizes=tuple(sizes),
            length=len(data),
        )

    def decode(self, manifest: Manifest, material: _Material) -> bytes:
        """The object from intact (hash-checked) segment fragments."""
        out = []
        for number in range(len(manifest.fragment_sizes)):
            chosen = material.segment(number, manifest.k)
            if len(chosen) < manifest.k:
                raise StoreError(
                    f"object {manifest.object_id}: unreadable, segment {number} has {len(chosen)} "
                    f"intact fragment(s) of {manifest.k} needed"
                )
            out.append(self.codec.decode([part for _, part in chosen]))
        data = b"".join(out)
        if len(data) != manifest.length:
            raise StoreError(f"object {manifest.object_id}: decoded length does not match")
        return data

    # -- writing ------------------------------------------------------------------

    def put(
        self,
        object_id: str,
        data: bytes,
        *,
        policy: ResidencyPolicy | None = None,
        owner: str = "the owner",
        attributes: Mapping[str, str] | None = None,
    ) -> Manifest:
        """Encode, write one fragment blob per placed node, then the manifest on each.

        Nodes are chosen by :func:`~confiance.store.placement.place` under the
        owner's residency policy; a policy that admits too few nodes fails the
        write before anything is written. Fewer than ``write_quorum``
        acknowledgements fail it too, and what was written is removed.
        """
        keys = self._require_keys()
        chosen = place(
            object_id, self._active_labels(), self.k + self.m, policy=policy, owner=owner
        )
        encoded = self.encode(data)
        manifest = Manifest(
            object_id=object_id,
            backend=self.codec.backend,
            k=self.k,
            m=self.m,
            segment_size=self.segment_size,
            length=encoded.length,
            fragment_sizes=encoded.fragment_sizes,
            fragments=tuple(
                FragmentRecord(index=i, node=name, hashes=encoded.hashes[i])
                for i, name in enumerate(chosen)
            ),
            attributes=dict(attributes or {}),
        )
        written = self._put_all(
            [(name, fragment_key(object_id, i), encoded.blobs[i]) for i, name in enumerate(chosen)]
        )
        sealed = seal_manifest(manifest, keys)
        key = manifest_key(object_id, manifest.digest())
        copies = self._put_all([(name, key, sealed) for name in chosen if name in written])
        if len(copies) < self.write_quorum:
            self._delete_quietly(
                [(name, fragment_key(object_id, i)) for i, name in enumerate(chosen)]
                + [(name, key) for name in chosen]
            )
            raise StoreError(
                f"object {object_id}: write quorum not reached, {len(copies)} of "
                f"{len(chosen)} nodes acknowledged, {self.write_quorum} needed; "
                "nothing was made visible"
            )
        if len(copies) < len(chosen):
            logger.warning(
                "object %s written degraded: %d of %d nodes", object_id, len(copies), len(chosen)
            )
        return manifest

    def _put_all(self, writes: Iterable[tuple[str, str, Blob]]) -> set[str]:
        """Write in parallel; the names of the nodes that acknowledged."""
        futures = {
            _executor().submit(self._by_name[name].put, key, blob): name
            for name, key, blob in writes
        }
        done = set()
        for future, name in futures.items():
            try:
                future.result()
                done.add(name)
            except StoreError as exc:
                logger.warning("write to node %s failed: %s", name, exc)
        return done

    def _delete_quietly(self, keys: Iterable[tuple[str, str]]) -> None:
        for name, key in keys:
            try:
                self._by_name[name].delete(key)
            except StoreError:
                continue  # left for the orphan sweep

    def _require_keys(self) -> ManifestKeys:
        if self._keys is None:
            raise StoreError("store: manifests cannot be sealed or opened without the operator key")
        return self._keys

    def write_manifest(self, manifest: Manifest) -> int:
        """Seal ``manifest`` onto every reachable node of its fragments; the copies made."""
        sealed = seal_manifest(manifest, self._require_keys())
        key = manifest_key(manifest.object_id, manifest.digest())
        holders = {f.node for f in manifest.fragments if f.node in self._by_name}
        return len(self._put_all([(name, key, sealed) for name in holders]))

    # -- reading ------------------------------------------------------------------

    def manifest(self, object_id: str, *, digest: str) -> Manifest:
        """The manifest whose SHA-256 is ``digest``, from any node that holds it."""
        keys = self._require_keys()
        for node in self.nodes:
            try:
                sealed = node.get(manifest_key(object_id, digest))
            except NodeUnavailable:
                continue
            if sealed is None:
                continue
            try:
                manifest = open_manifest(
                    sealed, keys, object_id=object_id, where=f"{node.name}:{object_id}"
                )
            except StoreError as exc:
                logger.warning("%s", exc)
                continue
            if _same(manifest.digest(), digest):
                return manifest
        raise StoreError(f"object {object_id}: no intact manifest on any reachable node")

    def get(self, object_id: str, *, manifest_digest: str) -> bytes:
        """The original bytes, or :class:`StoreError` naming the object."""
        return self.read(self.manifest(object_id, digest=manifest_digest))

    def read(self, manifest: Manifest) -> bytes:
        """The object a (trusted) manifest describes, from the fastest k nodes.

        Data fragments are asked first; a missing, corrupt or unreachable one
        brings in a parity fragment, and so does a node slower than
        ``hedge_after`` seconds.
        """
        order = sorted(manifest.fragments, key=lambda f: f.index)
        material = _Material(dict(enumerate(manifest.offsets())))
        pending: dict[Future[tuple[bytes | None, str]], FragmentRecord] = {}
        spare = list(order)

        def launch(count: int) -> None:
            for _ in range(min(count, len(spare))):
                record = spare.pop(0)
                pending[_executor().submit(self._fetch, manifest, record)] = record

        launch(manifest.k)
        while True:
            if self._readable(manifest, material):
                break
            if not pending:
                if not spare:
                    break
                launch(1)
                continue
            done, _ = wait(pending, timeout=self.hedge_after, return_when=FIRST_COMPLETED)
            if not done:
                launch(len(spare))  # hedge: someone is slow, ask everyone left
                continue
            for future in done:
                record = pending.pop(future)
                blob, state = future.result()
                self._take(material, record, blob, state, end=manifest.fragment_size)
                if state != "ok":
                    launch(1)
        return self.decode(manifest, material)

    @staticmethod
    def _readable(manifest: Manifest, material: _Material) -> bool:
        return all(
            sum(1 for segments in material.intact.values() if number in segments) >= manifest.k
            for number in range(len(manifest.fragment_sizes))
        )

    def _fetch(
        self, manifest: Manifest, record: FragmentRecord, span: tuple[int, int] | None = None
    ) -> tuple[bytes | None, str]:
        """A fragment blob, or ``span`` (start, length) of it: (bytes, "ok"), or a state."""
        node = self._by_name.get(record.node)
        if node is None:
            return None, "unreachable"
        key = fragment_key(manifest.object_id, record.index)
        try:
            blob = node.get(key) if span is None else node.get_range(key, *span)
        except NodeUnavailable:
            logger.warning("node %s unreachable for %s", record.node, manifest.object_id)
            return None, "unreachable"
        return blob, "ok" if blob is not None else "missing"

    @staticmethod
    def _take(
        material: _Material,
        record: FragmentRecord,
        blob: bytes | None,
        state: str,
        *,
        end: int | None = None,
    ) -> None:
        """File what was read of a fragment; ``end``: where the blob must end, when the
        read reached past it (a blob longer than its manifest says is corrupt)."""
        if state == "unreachable":
            material.unreachable.append(record.index)
            return
        if blob is None:
            material.missing.append(record.index)
            return
        good = set()
        for number, (offset, size) in material.spans.items():
            part = blob[offset : offset + size]
            if len(part) == size and _same(_sha256(part), record.hashes[number]):
                good.add(number)
        too_long = end is not None and len(blob) > end
        if len(good) < len(material.spans) or too_long:
            logger.warning(
                "fragment %d on %s is corrupt (%d of %d segments intact%s)",
                record.index,
                record.node,
                len(good),
                len(material.spans),
                ", blob too long" if too_long else "",
            )
            material.corrupt.append(record.index)
        if good or not material.spans:
            material.blobs[record.index] = blob
            material.intact[record.index] = good

    def _windows(self, manifest: Manifest) -> Iterator[range]:
        """Consecutive ranges of segment numbers whose fragments fit in ``window_bytes``."""
        count = len(manifest.fragment_sizes)
        if not count:
            yield range(0)  # an empty object: its fragments must still exist, empty
            return
        widest = (manifest.k + manifest.m) * max(manifest.fragment_sizes)
        step = max(1, self.window_bytes // max(1, widest))
        for first in range(0, count, step):
            yield range(first, min(count, first + step))

    def _gather(self, manifest: Manifest, numbers: range, indexes: Collection[int]) -> _Material:
        """Segments ``numbers`` of fragments ``indexes``, read in
        parallel by range and checked; the last window also reads one byte past the
        blob's end, so a blob longer than its manifest is seen."""
        offsets = manifest.offsets()
        start = offsets[numbers[0]][0] if numbers else 0
        stop = offsets[numbers[-1]][0] + offsets[numbers[-1]][1] if numbers else 0
        last = not numbers or numbers[-1] == len(offsets) - 1
        material = _Material({n: (offsets[n][0] - start, offsets[n][1]) for n in numbers})
        records = [f for f in manifest.fragments if f.index in indexes]
        span = (start, stop - start + (1 if last else 0))
        futures = [
            (_executor().submit(self._fetch, manifest, record, span), record) for record in records
        ]
        for future, record in futures:
            blob, state = future.result()
            self._take(material, record, blob, state, end=stop - start if last else None)
        return material

    def _survey(self, manifest: Manifest) -> _Survey:
        """Every fragment checked, one window of segments at a time."""
        survey = _Survey()
        for numbers in self._windows(manifest):
            left = {f.index for f in manifest.fragments} - survey.missing - survey.unreachable
            material = self._gather(manifest, numbers, left)
            survey.missing.update(material.missing)
            survey.unreachable.update(material.unreachable)
            survey.corrupt.update(material.corrupt)
            for index, good in material.intact.items():
                survey.intact.setdefault(index, set()).update(good)
            survey.bad_segments += sum(
                len(numbers) - len(material.intact.get(i, ())) for i in material.corrupt
            )
        return survey

    def _copies(self, manifest: Manifest) -> int:
        key = manifest_key(manifest.object_id, manifest.digest())
        count = 0
        for name in {f.node for f in manifest.fragments}:
            node = self._by_name.get(name)
            try:
                if node is not None and node.get(key) is not None:
                    count += 1
            except NodeUnavailable:
                continue
        return count

    # -- health -------------------------------------------------------------------

    def scrub(self, manifest: Manifest) -> ScrubReport:
        """Check every segment of every fragment against the manifest's hashes."""
        return self._report(manifest, self._survey(manifest))

    def _report(self, manifest: Manifest, survey: _Survey) -> ScrubReport:
        return ScrubReport(
            manifest.object_id,
            tuple(sorted(survey.missing)),
            tuple(sorted(survey.corrupt)),
            tuple(sorted(survey.unreachable)),
            manifest.k,
            survey.bad_segments,
            self._copies(manifest),
        )

    def status(self, manifest: Manifest) -> ObjectStatus:
        survey = self._survey(manifest)
        present = sum(
            1
            for f in manifest.fragments
            if f.index not in survey.corrupt | survey.missing | survey.unreachable
        )
        return ObjectStatus(
            manifest.object_id, present, manifest.k, len(manifest.fragments), manifest.nodes()
        )

    def reachable(self) -> dict[str, bool]:
        state = {}
        for node in self.nodes:
            try:
                node.check()
                state[node.name] = True
            except NodeUnavailable:
                state[node.name] = False
        return state

    def repair(
        self,
        manifest: Manifest,
        *,
        policy: ResidencyPolicy | None = None,
        relocate_unreachable: bool = True,
        reachable: Mapping[str, bool] | None = None,
    ) -> RepairResult:
        """Rebuild missing or corrupt fragments, only their damaged segments.

        A fragment whose node is gone, draining, unknown or no longer allowed
        by the residency policy is rebuilt onto another eligible node (one
        whose datacenter holds no fragment of the object comes first); with
        ``relocate_unreachable=False`` fragments of unreachable nodes wait for
        their node. Raises if a segment has fewer than k intact fragments.
        """
        reachable = dict(reachable) if reachable is not None else self.reachable()
        survey = self._survey(manifest)
        before = self._report(manifest, survey)
        targets: dict[int, str] = {}
        unplaced: list[int] = []
        taken = {f.node for f in manifest.fragments}
        candidates = {n: lab for n, lab in self._active_labels().items() if reachable.get(n, False)}
        for record in sorted(manifest.fragments, key=lambda f: f.index):
            node_ok = record.node in candidates and (
                policy is None or policy.allows(self.labels[record.node])
            )
            damaged = record.index in survey.missing | survey.corrupt
            if node_ok:
                if damaged:
                    targets[record.index] = record.node
                continue
            if record.index in survey.unreachable and not relocate_unreachable:
                continue
            target = choose_target(
                manifest.object_id, candidates, taken=taken - {record.node}, policy=policy
            )
            if target is None:
                unplaced.append(record.index)
                continue
            taken = (taken - {record.node}) | {target}
            targets[record.index] = target
        rebuilt = 0
        new = manifest.moved({i: t for i, t in targets.items() if t != manifest.record(i).node})
        if targets:
            rebuilt = self._rewrite(manifest, targets, survey)
        copies = before.manifest_copies
        if new != manifest or copies < len({f.node for f in manifest.fragments}):
            self.write_manifest(new)
        moved = tuple(
            (i, manifest.record(i).node, t)
            for i, t in sorted(targets.items())
            if t != manifest.record(i).node
        )
        return RepairResult(
            before, self.scrub(new), new, moved, tuple(unplaced), rebuilt_segments=rebuilt
        )

    def move(self, manifest: Manifest, targets: Mapping[int, str]) -> Manifest:
        """Copy fragments to other nodes (drain, rebalance); the new manifest, sealed on nodes.

        The old copies stay until :meth:`collect` runs, after the caller has
        recorded the new manifest: a crash in between loses nothing.
        """
        for index, target in targets.items():
            if target not in self._by_name:
                raise StoreError(f"object {manifest.object_id}: unknown node {target}")
            if target in {f.node for f in manifest.fragments if f.index != index}:
                raise StoreError(
                    f"object {manifest.object_id}: node {target} already holds a fragment"
                )
        self._rewrite(manifest, dict(targets))
        new = manifest.moved(targets)
        self.write_manifest(new)
        return new

    def _rewrite(
        self, manifest: Manifest, targets: dict[int, str], survey: _Survey | None = None
    ) -> int:
        """Write fragment blobs of ``targets`` (index -> node), window by window.

        Intact segments of a fragment are copied; damaged ones rebuilt from k
        others. What is read follows ``survey`` (a move has none and expects its
        fragments intact); a segment found damaged since is read from every other
        fragment. Each rebuilt segment is checked against the manifest; the blobs
        are spooled to temporary files (fragments of ciphertext) and streamed to
        their nodes. Returns the number of rebuilt segments.
        """
        known = survey or _Survey()
        usable = sorted(
            f.index for f in manifest.fragments if f.index not in known.missing | known.unreachable
        )
        rebuilt = 0
        with contextlib.ExitStack() as stack:
            spools = {
                index: stack.enter_context(tempfile.TemporaryFile(prefix="confiance-repair-"))
                for index in targets
            }
            for numbers in self._windows(manifest):
                wanted = self._plan(manifest, targets, numbers, usable, survey)
                material = self._gather(manifest, numbers, wanted)
                if not self._complete(manifest, material, targets, numbers):
                    material = self._gather(manifest, numbers, usable)  # changed since: read all
                for index in sorted(targets):
                    for number in numbers:
                        if number in material.intact.get(index, ()):
                            spools[index].write(material.part(index, number))
                            continue
                        spools[index].write(self._rebuilt(manifest, material, index, number))
                        rebuilt += 1
            writes: list[tuple[str, str, Blob]] = []
            for index, target in sorted(targets.items()):
                spools[index].seek(0)
                writes.append((target, fragment_key(manifest.object_id, index), spools[index]))
            done = self._put_all(writes)
        failed = sorted({t for t, _, _ in writes} - done)
        if failed:
            raise StoreError(
                f"object {manifest.object_id}: node(s) {', '.join(failed)} refused the rebuilt "
                "fragments"
            )
        return rebuilt

    @staticmethod
    def _plan(
        manifest: Manifest,
        targets: Mapping[int, str],
        numbers: range,
        usable: Sequence[int],
        survey: _Survey | None,
    ) -> set[int]:
        """Fragments to read for a window: each target's own where it is intact, and
        k intact others for each segment to rebuild."""
        wanted: set[int] = set()
        for index in targets:
            for number in numbers:
                if index in usable and (survey is None or number in survey.intact.get(index, ())):
                    wanted.add(index)
                    continue
                sources = [
                    i
                    for i in usable
                    if i != index and (survey is None or number in survey.intact.get(i, ()))
                ]
                wanted.update(sources[: manifest.k])
        return wanted

    @staticmethod
    def _complete(
        manifest: Manifest, material: _Material, targets: Mapping[int, str], numbers: range
    ) -> bool:
        """Whether every segment of every target is intact or has k intact others."""
        return all(
            number in material.intact.get(index, ())
            or len(material.holders(number, but=index)) >= manifest.k
            for index in targets
            for number in numbers
        )

    def _rebuilt(self, manifest: Manifest, material: _Material, index: int, number: int) -> bytes:
        """Segment ``number`` of fragment ``index`` from k others, checked against the manifest."""
        chosen = material.holders(number, but=index)[: manifest.k]
        sources = [material.part(i, number) for i in chosen]
        if len(sources) < manifest.k:
            raise StoreError(
                f"object {manifest.object_id}: cannot be repaired, segment {number} has "
                f"{len(sources)} intact fragment(s) of {manifest.k} needed"
            )
        # one index per call: the codec does not promise the order of several
        (fragment,) = self.codec.reconstruct(sources, [index])
        if not _same(_sha256(fragment), manifest.record(index).hashes[number]):
            raise StoreError(
                f"object {manifest.object_id}: rebuilt fragment {index} segment "
                f"{number} does not match its manifest"
            )
        return fragment

    def rebalance_targets(
        self, manifest: Manifest, *, policy: ResidencyPolicy | None = None
    ) -> dict[int, str]:
        """Moves that bring an object to where placement would put it now.

        Fragments on nodes of the ideal set stay; the others go to the ideal
        nodes holding nothing of the object: as few moves as possible.
        """
        ideal = place(
            manifest.object_id, self._active_labels(), manifest.k + manifest.m, policy=policy
        )
        current = manifest.nodes()
        free = [n for n in ideal if n not in current]
        moves = {}
        for index, name in enumerate(current):
            if name not in ideal and free:
                moves[index] = free.pop(0)
        return moves

    # -- garbage ------------------------------------------------------------------

    def collect(self, manifest: Manifest) -> int:
        """Remove this object's blobs that ``manifest`` no longer refers to; the count."""
        removed = 0
        prefixes = (
            f"objects/{manifest.object_id[:2]}/{manifest.object_id}.",
            f"manifests/{manifest.object_id}/",
        )
        for node in self.nodes:
            try:
                for blob in [b for prefix in prefixes for b in node.list(prefix)]:
                    if not _referenced(manifest, node.name, blob.key):
                        node.delete(blob.key)
                        removed += 1
            except NodeUnavailable:
                continue
        return removed

    def sweep(
        self,
        manifests: Mapping[str, Manifest],
        *,
        grace_seconds: float,
        now: float,
    ) -> SweepReport:
        """Remove blobs that belong to no recorded object, or that its manifest does not name.

        ``manifests`` is the catalogue (object id -> current manifest). A blob
        of an unknown object younger than ``grace_seconds`` may be a write
        under way and is kept.
        """
        removed = size = recent = 0
        by_node: dict[str, int] = {}
        for node in self.nodes:
            try:
                for blob in list(node.list("")):
                    object_id = _object_of(blob.key)
                    manifest = manifests.get(object_id) if object_id else None
                    if manifest is not None:
                        if _referenced(manifest, node.name, blob.key):
                            continue
                    elif now - blob.modified < grace_seconds:
                        recent += 1
                        continue
                    node.delete(blob.key)
                    removed += 1
                    size += blob.size
                    by_node[node.name] = by_node.get(node.name, 0) + 1
            except NodeUnavailable:
                continue
        return SweepReport(removed, size, recent, by_node)


def _object_of(key: str) -> str | None:
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == "objects":
        return parts[2].split(".", 1)[0]
    if len(parts) == 3 and parts[0] == "manifests":
        return parts[1]
    return None


def _referenced(manifest: Manifest, node: str, key: str) -> bool:
    if key == manifest_key(manifest.object_id, manifest.digest()):
        return node in manifest.nodes()
    return any(
        f.node == node and key == fragment_key(manifest.object_id, f.index)
        for f in manifest.fragments
    )
