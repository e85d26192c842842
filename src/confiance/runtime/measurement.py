"""Measurements: digests of the code that will see plaintext."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rfc8785


def code_digest(path: Path, *data: Path) -> str:
    """``sha256:<hex>`` of one source file (a detector's code), then of its data modules."""
    if not data:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256(b"confiance-code/1\n")
    for part in (path, *data):
        content = part.read_bytes()
        digest.update(len(part.name).to_bytes(4, "big") + part.name.encode())
        digest.update(len(content).to_bytes(8, "big") + content)
    return "sha256:" + digest.hexdigest()


def measure_image(package_root: Path, config: Mapping[str, Any]) -> str:
    """Digest of every Python file of the runtime image, then its configuration.

    The image is the ``confiance`` package directory the runtime loads its code
    from; one changed byte anywhere in it (runtime, detectors, codec glue)
    changes the measurement.
    """
    digest = hashlib.sha256(b"confiance-measurement/1\n")
    for path in sorted(package_root.rglob("*.py")):
        relative = path.relative_to(package_root).as_posix().encode()
        content = path.read_bytes()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        digest.update(len(content).to_bytes(8, "big") + content)
    digest.update(rfc8785.dumps(dict(config)))
    return "sha256:" + digest.hexdigest()
