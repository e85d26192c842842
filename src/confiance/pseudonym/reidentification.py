"""The owner's table pseudonym → identifier, encrypted under its KEK."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from confiance.errors import PseudonymError
from confiance.keys import KeyStore, decrypt_blob, encrypt_blob, new_dek, zero

_FORMAT = "confiance-reid/1"


class ReidentificationTable:
    """Only the owning tenant can open it; nobody else ever receives it."""

    def __init__(self, path: Path, keystore: KeyStore) -> None:
        self._path = path
        self._keystore = keystore
        self._context = f"{_FORMAT}|{keystore.owner}".encode()
        self._entries: dict[str, str] = self._load()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ReidentificationTable(owner={self._keystore.owner!r}, entries={len(self)})"

    def _load(self) -> dict[str, str]:
        if not self._path.exists():
            return {}
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
            wrapped = base64.b64decode(document["wrapped_key"])
            blob = base64.b64decode(document["blob"])
        except (ValueError, KeyError) as exc:
            raise PseudonymError(f"re-identification table {self._path}: malformed") from exc
        dek = self._keystore.unwrap_key(wrapped, context=self._context)
        try:
            entries: dict[str, str] = json.loads(decrypt_blob(blob, dek, aad=self._context))
        finally:
            zero(dek)
        return entries

    def update(self, mapping: Mapping[str, str]) -> None:
        """Add pseudonym → identifier pairs and save the table, re-encrypted."""
        self._entries.update(mapping)
        dek = new_dek()
        try:
            blob = encrypt_blob(json.dumps(self._entries).encode(), dek, aad=self._context)
            wrapped = self._keystore.wrap_key(dek, context=self._context)
        finally:
            zero(dek)
        document = {
            "format": _FORMAT,
            "owner": self._keystore.owner,
            "wrapped_key": base64.b64encode(wrapped).decode(),
            "blob": base64.b64encode(blob).decode(),
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self._path)

    def entries(self) -> dict[str, str]:
        """Every pseudonym → identifier pair (the owner's own cache of pseudonyms)."""
        return dict(self._entries)

    def resolve(self, pseudonyms: Iterable[str]) -> dict[str, str]:
        """Identifiers for the pseudonyms this owner contributed; others are absent."""
        return {p: self._entries[p] for p in pseudonyms if p in self._entries}
