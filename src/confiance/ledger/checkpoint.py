"""Checkpoints in the C2SP tlog-checkpoint format, signed as C2SP signed notes.

A note is its text, a blank line, then signature lines
``— <name> base64(key_id[4] || ed25519_signature)``, where the key id is
``SHA-256(name || 0x0A || 0x01 || public_key)[:4]``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from confiance.errors import LedgerError

_ED25519 = b"\x01"
_DASH = "\u2014 "


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + raw).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise LedgerError(f"invalid note key name {name!r}")


@dataclass(frozen=True)
class NoteSigner:
    name: str
    key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    def sign(self, text: str) -> str:
        """A signature line for ``text`` (which must end with a newline)."""
        sig = self.key.sign(text.encode())
        token = base64.b64encode(key_id(self.name, self.key.public_key()) + sig).decode()
        return f"{_DASH}{self.name} {token}\n"


def parse_vkey(
    vkey: str, *, algorithm: bytes, key_id_of: Callable[[str, Ed25519PublicKey], bytes], what: str
) -> tuple[str, Ed25519PublicKey]:
    """Parse ``name+hexid+base64(algorithm||key)`` and check the key id (C2SP vkey)."""
    try:
        name, hex_id, b64 = vkey.split("+", 2)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise LedgerError(f"malformed {what}") from exc
    if len(raw) != 33 or raw[:1] != algorithm:
        raise LedgerError(f"{what} is not of type 0x{algorithm.hex()} (Ed25519)")
    key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id_of(name, key).hex() != hex_id:
        raise LedgerError(f"{what} id does not match its key")
    return name, key


def format_vkey(
    name: str,
    key: Ed25519PublicKey,
    *,
    algorithm: bytes,
    key_id_of: Callable[[str, Ed25519PublicKey], bytes],
) -> str:
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{name}+{key_id_of(name, key).hex()}+{base64.b64encode(algorithm + raw).decode()}"


@dataclass(frozen=True)
class NoteVerifier:
    name: str
    key: Ed25519PublicKey

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a ``name+hexid+base64(0x01||key)`` verifier key."""
        return cls(*parse_vkey(vkey, algorithm=_ED25519, key_id_of=key_id, what="verifier key"))

    def vkey(self) -> str:
        return format_vkey(self.name, self.key, algorithm=_ED25519, key_id_of=key_id)


def sign_note(text: str, signers: list[NoteSigner]) -> str:
    if not text.endswith("\n"):
        raise LedgerError("note text must end with a newline")
    if not signers:
        raise LedgerError("a note needs at least one signer")
    return text + "\n" + "".join(s.sign(text) for s in signers)


def split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """Parse a signed note into its text and (key name, signature blob) pairs.

    C2SP signed-note: UTF-8 text without control characters other than
    newline, a blank line, then only well-formed signature lines.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise LedgerError("malformed note: not UTF-8") from None
    text, sep, sigblock = note.rpartition("\n\n")
    if not sep or not text or not sigblock.endswith("\n") or sigblock == "\n":
        raise LedgerError("malformed note")
    text += "\n"
    if any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in text):
        raise LedgerError("malformed note: control character in text")
    signatures = []
    for line in sigblock[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise LedgerError("malformed note: not a signature line")
        name, _, token = line[len(_DASH) :].partition(" ")
        if not name or " " in token or "+" in name:
            raise LedgerError("malformed note: signature line")
        try:
            blob = base64.b64decode(token, validate=True)
        except binascii.Error:
            raise LedgerError("malformed note: signature encoding") from None
        if len(blob) < 5:
            raise LedgerError("malformed note: signature too short")
        signatures.append((name, blob))
    return text, signatures


def open_note(note: str | bytes, verifiers: list[NoteVerifier]) -> tuple[str, list[str]]:
    """Return (text, names of the known keys whose signatures verify, once each).

    Signatures by unknown keys are ignored; a bad signature by a known key, or
    no signature by any known key, is an error.
    """
    if not verifiers:
        raise LedgerError("no verifier keys given")
    text, signatures = split_note(note)
    by_id = {(v.name, key_id(v.name, v.key)): v for v in verifiers}
    verified: list[str] = []
    for name, blob in signatures:
        verifier = by_id.get((name, blob[:4]))
        if verifier is None:
            continue  # a signature by a key we do not know: ignored, as C2SP says
        try:
            verifier.key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise LedgerError(f"invalid signature for key {name}") from None
        if name not in verified:
            verified.append(name)
    if not verified:
        raise LedgerError("no signature by a known key")
    return text, verified


@dataclass(frozen=True)
class Checkpoint:
    """``origin``, tree ``size`` and ``root``: the body of a tlog checkpoint."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise LedgerError("malformed checkpoint")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
            raise LedgerError("malformed checkpoint: origin or size")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as exc:
            raise LedgerError("malformed checkpoint: root") from exc
        if len(root) != 32:
            raise LedgerError("malformed checkpoint: root")
        return cls(origin, int(size_text), root)

    def matches(self, root: bytes) -> bool:
        return hmac.compare_digest(self.root, root)
