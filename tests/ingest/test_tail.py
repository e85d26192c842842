"""Following log files: growth, partial lines, rotation by rename (also while
stopped), truncation in place, and resuming from a persisted position — no
line read twice, none lost."""

from __future__ import annotations

import os
from pathlib import Path

from confiance.ingest.tail import FileTail, TailPosition


def _drain(tail: FileTail, max_bytes: int = 1 << 20) -> bytes:
    out = b""
    while (chunk := tail.read(max_bytes)) is not None:
        out += chunk.data
    return out


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def test_only_whole_lines_are_handed_out(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    tail = FileTail(log)
    assert tail.read(1024) is None  # not there yet
    log.write_bytes(b"one\ntwo\nthr")
    assert _drain(tail) == b"one\ntwo\n"
    _append(log, b"ee\n")
    assert _drain(tail) == b"three\n"


def test_rotation_by_rename_reads_the_old_file_to_its_end_first(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"a\n")
    tail = FileTail(log)
    assert _drain(tail) == b"a\n"
    _append(log, b"b\nlast without newline")
    log.rename(tmp_path / "auth.log.1")
    log.write_bytes(b"c\n")
    assert _drain(tail) == b"b\nlast without newline\nc\n"
    assert tail.rotations == 1


def test_truncation_in_place_starts_again_at_the_beginning(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"x" * 50 + b"\n")
    tail = FileTail(log)
    assert _drain(tail) == b"x" * 50 + b"\n"
    log.write_bytes(b"after\n")  # copytruncate, then a new line
    assert _drain(tail) == b"after\n"
    # truncated and written past the old offset before we looked again
    log.write_bytes(b"y" * 80 + b"\n")
    assert _drain(tail) == b"y" * 80 + b"\n"
    assert tail.truncations == 2


def test_a_restart_resumes_at_the_persisted_position(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"1\n2\n")
    first = FileTail(log)
    chunk = first.read(1 << 20)
    assert chunk is not None and chunk.data == b"1\n2\n"
    saved = TailPosition.from_json(chunk.position.to_json())
    first.close()
    _append(log, b"3\n")
    assert _drain(FileTail(log, saved)) == b"3\n"


def test_a_rotation_while_stopped_is_followed_through_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"1\n")
    first = FileTail(log)
    chunk = first.read(1 << 20)
    assert chunk is not None
    first.close()
    _append(log, b"2\n")
    os.rename(log, tmp_path / "auth.log.1")
    log.write_bytes(b"3\n")
    assert _drain(FileTail(log, chunk.position)) == b"2\n3\n"


def test_a_rotated_file_gone_while_stopped_is_counted_and_the_new_one_read(
    tmp_path: Path,
) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"1\n")
    first = FileTail(log)
    chunk = first.read(1 << 20)
    assert chunk is not None
    first.close()
    log.unlink()
    log.write_bytes(b"new file, other content\n")
    tail = FileTail(log, chunk.position)
    assert tail.lost_files == 1
    assert _drain(tail) == b"new file, other content\n"


def test_an_inode_reused_by_another_file_is_not_taken_for_the_old_one(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"old content\n")
    tail = FileTail(log)
    chunk = tail.read(1 << 20)
    assert chunk is not None
    stolen = TailPosition(
        chunk.position.device,
        chunk.position.inode,
        chunk.position.offset,
        "0" * 64,  # same inode, another file's head
        chunk.position.fingerprint_length,
    )
    assert _drain(FileTail(log, stolen)) == b"old content\n"


def test_a_line_longer_than_a_read_is_handed_out_in_pieces(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"z" * 250 + b"\nok\n")
    tail = FileTail(log)
    pieces = []
    while (chunk := tail.read(100)) is not None:
        pieces.append(chunk.data)
    assert b"".join(pieces).replace(b"\n", b"") == b"z" * 250 + b"ok"
    assert pieces[-1].endswith(b"ok\n")


def test_lines_read_after_a_rename_are_named_by_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"a\n")
    tail = FileTail(log)
    assert tail.read(1024) is not None
    _append(log, b"b\n")
    log.rename(tmp_path / "auth.log.1")
    log.write_bytes(b"c\n")
    chunks = []
    while (chunk := tail.read(1024)) is not None:
        chunks.append((chunk.path.name, chunk.first_line, chunk.data))
    assert chunks == [("auth.log.1", 2, b"b\n"), ("auth.log", 1, b"c\n")]
