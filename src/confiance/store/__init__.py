"""Encrypted objects erasure-coded k+m over n independent storage nodes.

Any m nodes can be lost with nothing lost. Each fragment's SHA-256 is checked
before decoding, so a read returns the original bytes or raises, never wrong
data.
"""

from confiance.store.codec import Codec
from confiance.store.manifest import FragmentRecord, Manifest
from confiance.store.node import LocalDirectoryNode, Node, NodeUnavailable
from confiance.store.objectstore import ObjectStatus, ObjectStore, ScrubReport
from confiance.store.placement import NodeLabels, ResidencyPolicy, place

__all__ = [
    "Codec",
    "FragmentRecord",
    "LocalDirectoryNode",
    "Manifest",
    "Node",
    "NodeLabels",
    "NodeUnavailable",
    "ObjectStatus",
    "ObjectStore",
    "ResidencyPolicy",
    "ScrubReport",
    "place",
]
