"""Following a log file as it grows, across rotation, truncation and restarts.

A file is known by its device and inode and by a fingerprint of its first
bytes (an inode number is reused once a rotated file is deleted). Only whole
lines are handed out; the position after them is the caller's to persist once
what it was given is safe, so that after a restart no line is read twice or
lost:

* rotation by rename (logrotate's default): the old file, found again by
  its inode even under its new name, is read to its end before the new file
  is read from its start, also when the rotation happened while we were
  stopped;
* truncation in place (logrotate's ``copytruncate``): reading starts again at
  the beginning; lines written between our last read and the truncation
  cannot be recovered from a truncated file, and are counted as lost;
* a last line without its line feed is handed out only once its file has
  been rotated away.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

#: Bytes of a file's head that identify it alongside its inode.
FINGERPRINT_BYTES = 1024


@dataclass(frozen=True)
class TailPosition:
    """Where reading a file stands: its identity and the offset after the last whole line."""

    device: int
    inode: int
    offset: int
    #: SHA-256 of the first ``fingerprint_length`` bytes
    fingerprint: str
    fingerprint_length: int
    #: lines handed out of this file so far (numbers quarantined lines)
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "inode": self.inode,
            "offset": self.offset,
            "fingerprint": self.fingerprint,
            "fingerprint_length": self.fingerprint_length,
            "line": self.line,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TailPosition:
        return cls(
            int(data["device"]),
            int(data["inode"]),
            int(data["offset"]),
            str(data["fingerprint"]),
            int(data["fingerprint_length"]),
            int(data.get("line", 0)),
        )


@dataclass(frozen=True)
class TailChunk:
    """Whole lines of one file, and the position after them."""

    data: bytes
    position: TailPosition
    #: the file the lines came from (a rotated file's current name)
    path: Path
    #: the number of the chunk's first line in its file
    first_line: int


def _fingerprint(handle: IO[bytes], length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()


class FileTail:
    """Reads the whole lines appended to ``path`` since ``position``."""

    def __init__(self, path: Path, position: TailPosition | None = None) -> None:
        self.path = path
        self.position = position
        self._handle: IO[bytes] | None = None
        self._handle_path: Path | None = None
        #: rotated files that were gone (compressed, deleted) before we read their end
        self.lost_files = 0
        self.rotations = 0
        self.truncations = 0
        self._resume()

    # -- opening ----------------------------------------------------------------

    def _identify(self, path: Path, handle: IO[bytes]) -> TailPosition:
        stat = os.fstat(handle.fileno())
        length = min(FINGERPRINT_BYTES, stat.st_size)
        return TailPosition(stat.st_dev, stat.st_ino, 0, _fingerprint(handle, length), length)

    def _matches(self, handle: IO[bytes], position: TailPosition) -> bool:
        stat = os.fstat(handle.fileno())
        if (stat.st_dev, stat.st_ino) != (position.device, position.inode):
            return False
        if stat.st_size < position.fingerprint_length:
            return False
        return _fingerprint(handle, position.fingerprint_length) == position.fingerprint

    def _open(self, path: Path) -> IO[bytes] | None:
        try:
            return path.open("rb")
        except FileNotFoundError:
            return None

    def _resume(self) -> None:
        """Find the file the saved position belongs to: the path itself, or the
        rotated file that still has its inode (``auth.log.1``)."""
        if self.position is None:
            return
        for candidate in self._names():
            handle = self._open(candidate)
            if handle is None:
                continue
            if self._matches(handle, self.position):
                self._handle, self._handle_path = handle, candidate
                return
            handle.close()
        # rotated away and gone (compressed, deleted): what was left in it is lost
        self.lost_files += 1
        self.position = None

    def _start(self) -> bool:
        """Open ``path`` from its beginning; False if it does not exist yet."""
        handle = self._open(self.path)
        if handle is None:
            return False
        self._handle, self._handle_path = handle, self.path
        self.position = self._identify(self.path, handle)
        return True

    # -- reading -----------------------------------------------------------------

    def read(self, max_bytes: int) -> TailChunk | None:
        """Whole lines not yet handed out (at most about ``max_bytes``), or None
        when there are none for now. The caller persists ``chunk.position``."""
        if self._handle is None and not self._start():
            return None
        assert self._handle is not None and self.position is not None
        size = os.fstat(self._handle.fileno()).st_size
        if size < self.position.offset or not self._matches(self._handle, self.position):
            # truncated in place (and perhaps written again since)
            self.truncations += 1
            self._handle.close()
            self._start()
        chunk = self._read_whole_lines(max_bytes)
        if chunk is not None:
            return chunk
        # nothing new here: has the file been rotated?
        current = self._open(self.path)
        if current is None:
            return None  # rotated, its successor not created yet
        with current:
            stat = os.fstat(current.fileno())
        assert self._handle is not None and self.position is not None
        if (stat.st_dev, stat.st_ino) == (self.position.device, self.position.inode):
            return None
        # rotated: what is left of the old file, even without a final line feed
        rest = self._read_rest()
        old_path = self._handle_path
        first_line = self.position.line + 1
        self._handle.close()
        self.rotations += 1
        self._start()
        if rest:
            assert old_path is not None and self.position is not None
            return TailChunk(rest, self.position, old_path, first_line)
        return self._read_whole_lines(max_bytes)

    def _read_whole_lines(self, max_bytes: int) -> TailChunk | None:
        if self._handle is None or self.position is None:
            return None
        self._handle.seek(self.position.offset)
        data = self._handle.read(max_bytes)
        if not data:
            return None
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) < max_bytes:
                return None  # a line still being written
            # a line longer than a batch: handed out in pieces, each quarantined as too long
            taken = len(data)
            data += b"\n"
        else:
            data = data[: end + 1]
            taken = len(data)
        self._refresh_fingerprint()
        first_line = self.position.line + 1
        self.position = replace(
            self.position,
            offset=self.position.offset + taken,
            line=self.position.line + data.count(b"\n"),
        )
        self._handle_path = self._current_name()
        return TailChunk(data, self.position, self._handle_path, first_line)

    def _names(self) -> Iterator[Path]:
        """``path``, then the names its rotated files take (``auth.log.1`` …);
        the directory is listed only if ``path`` was not the one."""
        yield self.path
        if self.path.parent.is_dir():
            yield from sorted(self.path.parent.glob(glob.escape(self.path.name) + ".*"))

    def _current_name(self) -> Path:
        """The open file's name now: ``path``, or the name it was rotated to."""
        assert self._handle is not None and self._handle_path is not None
        stat = os.fstat(self._handle.fileno())
        for candidate in self._names():
            try:
                other = candidate.stat()
            except FileNotFoundError:
                continue
            if (other.st_dev, other.st_ino) == (stat.st_dev, stat.st_ino):
                return candidate
        return self._handle_path

    def _refresh_fingerprint(self) -> None:
        """A file shorter than the fingerprint when first seen is fingerprinted
        again as it grows."""
        assert self._handle is not None and self.position is not None
        if self.position.fingerprint_length < FINGERPRINT_BYTES:
            size = os.fstat(self._handle.fileno()).st_size
            length = min(FINGERPRINT_BYTES, size)
            if length > self.position.fingerprint_length:
                self.position = replace(
                    self.position,
                    fingerprint=_fingerprint(self._handle, length),
                    fingerprint_length=length,
                )

    def _read_rest(self) -> bytes:
        assert self._handle is not None and self.position is not None
        self._handle.seek(self.position.offset)
        rest = self._handle.read()
        if rest and not rest.endswith(b"\n"):
            rest += b"\n"
        return rest

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
