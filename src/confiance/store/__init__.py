"""Encrypted objects erasure-coded k+m over n independent storage nodes.

Any m nodes can be lost with nothing lost. Each segment fragment's SHA-256 is
checked before decoding, so a read returns the original bytes or raises,
never wrong data.
"""

from confiance.store.codec import Codec
from confiance.store.manifest import FragmentRecord, Manifest, ManifestKeys
from confiance.store.node import (
    NODE_KINDS,
    BlobInfo,
    LocalDirectoryNode,
    Node,
    NodeUnavailable,
    node_from_config,
)
from confiance.store.objectstore import (
    DEFAULT_SEGMENT_SIZE,
    ObjectStatus,
    ObjectStore,
    RepairResult,
    ScrubReport,
    SweepReport,
)
from confiance.store.placement import NodeLabels, ResidencyPolicy, choose_target, place

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "NODE_KINDS",
    "BlobInfo",
    "Codec",
    "FragmentRecord",
    "LocalDirectoryNode",
    "Manifest",
    "ManifestKeys",
    "Node",
    "NodeLabels",
    "NodeUnavailable",
    "ObjectStatus",
    "ObjectStore",
    "RepairResult",
    "ResidencyPolicy",
    "ScrubReport",
    "SweepReport",
    "choose_target",
    "node_from_config",
    "place",
]
