"""What changed between two versions of a contract, in what the parties sign."""

from __future__ import annotations

import difflib
from typing import Any

from confiance.contracts.model import Contract


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out |= _flatten(item, f"{prefix}[{index}]")
        return out
    return {prefix: value}


def changes(old: Contract, new: Contract) -> list[dict[str, Any]]:
    """Every signed field that differs, by dotted path: added, removed or changed."""
    before, after = _flatten(old.canonical()), _flatten(new.canonical())
    found = []
    for field in sorted(before.keys() | after.keys()):
        if before.get(field, ...) != after.get(field, ...):
            found.append(
                {
                    "field": field,
                    "old": before.get(field),
                    "new": after.get(field),
                    "change": "added"
                    if field not in before
                    else "removed"
                    if field not in after
                    else "changed",
                }
            )
    return found


def unified(old: Contract, new: Contract, *, old_name: str, new_name: str) -> str:
    """A unified diff of the two documents as YAML (empty when nothing signed changed)."""
    return "\n".join(
        difflib.unified_diff(
            old.to_yaml().splitlines(),
            new.to_yaml().splitlines(),
            fromfile=old_name,
            tofile=new_name,
            lineterm="",
        )
    )
