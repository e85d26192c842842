"""Where an object's fragments go: labels, residency policies, spreading.

Each node carries labels (datacenter, operator, jurisdiction such as ``FR`` or
``FR-NOR``) and a capacity weight. A tenant's residency policy lists the
jurisdictions its data may live in (``FR`` admits ``FR-NOR``). Placement picks
among the nodes the policy admits by weighted rendezvous hashing of the object
id, taking one node per datacenter before any datacenter gets a second
fragment. If the policy admits too few nodes, the write fails: data never goes
elsewhere.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from confiance.errors import StoreError


@dataclass(frozen=True)
class NodeLabels:
    datacenter: str
    operator: str
    jurisdiction: str
    weight: float = 1.0


@dataclass(frozen=True)
class ResidencyPolicy:
    """``jurisdiction in [...]``; an empty list would allow nothing and is refused."""

    jurisdictions: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.jurisdictions:
            raise StoreError("a residency policy must name at least one jurisdiction")

    def allows(self, labels: NodeLabels) -> bool:
        return any(
            labels.jurisdiction == j or labels.jurisdiction.startswith(j + "-")
            for j in self.jurisdictions
        )

    def describe(self) -> str:
        return f"jurisdiction in [{', '.join(self.jurisdictions)}]"


def _score(object_id: str, node: str, weight: float) -> float:
    digest = hashlib.sha256(f"{object_id}|{node}".encode()).digest()
    uniform = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 1)
    return -weight / math.log(uniform)  # weighted rendezvous hashing


def place(
    object_id: str,
    labels: Mapping[str, NodeLabels],
    count: int,
    *,
    policy: ResidencyPolicy | None = None,
    owner: str = "the owner",
) -> list[str]:
    """``count`` distinct node names for the fragments of ``object_id``, in order."""
    eligible = [n for n, lab in labels.items() if policy is None or policy.allows(lab)]
    if len(eligible) < count:
        rule = policy.describe() if policy is not None else "no policy"
        raise StoreError(
            f"residency policy of {owner} ({rule}) admits {len(eligible)} node(s); "
            f"{count} are needed: nothing was written"
        )
    ranked = sorted(eligible, key=lambda n: -_score(object_id, n, labels[n].weight))
    chosen: list[str] = []
    datacenters: set[str] = set()
    for name in ranked:  # one per datacenter first
        if labels[name].datacenter not in datacenters:
            chosen.append(name)
            datacenters.add(labels[name].datacenter)
    chosen += [n for n in ranked if n not in chosen]
    return chosen[:count]


def choose_target(
    object_id: str,
    labels: Mapping[str, NodeLabels],
    *,
    taken: set[str],
    policy: ResidencyPolicy | None = None,
) -> str | None:
    """A node for one more fragment of ``object_id``, or ``None`` if none is eligible.

    ``labels`` holds the candidate nodes (reachable, not draining); ``taken``
    the nodes that already hold one of its fragments. A datacenter without a
    fragment of the object comes first, then rendezvous order.
    """
    used = {labels[n].datacenter for n in taken if n in labels}
    eligible = [
        n for n, lab in labels.items() if n not in taken and (policy is None or policy.allows(lab))
    ]
    if not eligible:
        return None
    return min(
        eligible,
        key=lambda n: (labels[n].datacenter in used, -_score(object_id, n, labels[n].weight)),
    )
