"""Messages between the runtime host and the runtime process: JSON lines."""

from __future__ import annotations

import json
from typing import IO, Any

from confiance.errors import RuntimeJobError

MAX_MESSAGE = 512 * 1024 * 1024


def send(stream: IO[bytes], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    stream.flush()


def receive(stream: IO[bytes], *, expect: str) -> dict[str, Any]:
    line = stream.readline(MAX_MESSAGE)
    if not line:
        raise RuntimeJobError(f"runtime closed the channel while {expect!r} was expected")
    try:
        message = json.loads(line)
    except ValueError:
        raise RuntimeJobError(f"runtime sent a malformed message instead of {expect!r}") from None
    if not isinstance(message, dict):
        raise RuntimeJobError(f"runtime sent a malformed message instead of {expect!r}")
    if message.get("type") == "error":
        raise RuntimeJobError(f"runtime: {message.get('message', 'unknown error')}")
    if message.get("type") != expect:
        raise RuntimeJobError(f"runtime sent {message.get('type')!r} instead of {expect!r}")
    return message
