"""Recognising a file's format from its first lines, for `confiance ingest`
without `--format`.

Every parser is tried on the file's head (decompressed); the one that reads the
most lines as events wins. A tie or a file no parser reads is an error that
names the file and the candidates: a wrong guess would quarantine a whole file
or, worse, read it into the wrong columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from confiance.errors import IngestError
from confiance.ingest.columns import ParseContext
from confiance.ingest.geo import DEMO_GEO
from confiance.ingest.parsers import PARSERS
from confiance.ingest.reader import parse_bytes, read_head
from confiance.ingest.syslog import SyslogMessages

#: Bytes of a file's head that recognition reads (after decompression).
HEAD_BYTES = 256 * 1024

_CONTEXT = ParseContext(tenant="recognition", service="recognition", geo=DEMO_GEO)


@dataclass(frozen=True)
class Score:
    format: str
    lines: int
    events: int
    ignored: int
    refused: int

    @property
    def value(self) -> float:
        """Share of the head's lines read as events; a line a format knows but
        ignores (another program's syslog line) counts a tenth."""
        return (self.events + 0.1 * self.ignored) / self.lines if self.lines else 0.0


def scores(path: Path) -> list[Score]:
    """How well each format reads the head of ``path``, best first."""
    head, whole = read_head(path, HEAD_BYTES)
    if b"\x00" in head[:4096]:
        raise IngestError(f"{path}: binary content, not a log")
    if not whole:
        head = head[: head.rfind(b"\n") + 1]
    results = []
    for name, parser in PARSERS.items():
        if parser.framing.document and not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            continue
        events = ignored = refused = lines = 0
        try:
            for batch in parse_bytes(head, path=path, format=name, context=_CONTEXT):
                events += batch.table.num_rows
                ignored += sum(batch.ignored.values())
                refused += len(batch.quarantined)
                lines = batch.lines
        except IngestError:
            continue
        if events:
            if parser.framing.document:
                lines = events + refused  # a report's records, not its XML lines
            results.append(Score(name, lines, events, ignored, refused))
    return sorted(results, key=lambda s: (-s.value, s.format))


def recognise(path: Path) -> str:
    """The format of ``path``; raises IngestError naming the file if it is unknown
    or ambiguous."""
    ranked = scores(path)
    # The syslog reader hands each program's lines to that program's parser:
    # it is chosen only for a file of several programs, where it reads more
    # events than any one of them.
    ranked = [
        s
        for s in ranked
        if not isinstance(PARSERS[s.format], SyslogMessages)
        or all(o.events < s.events for o in ranked if o.format != s.format)
    ]
    if not ranked or ranked[0].value < 0.05:
        raise IngestError(
            f"{path}: not a format confiance reads (tried {len(PARSERS)}; "
            "see `confiance formats`, or give --format)"
        )
    tied = [s.format for s in ranked if s.value == ranked[0].value]
    if len(tied) > 1:
        raise IngestError(f"{path}: could be {' or '.join(tied)}; give --format")
    return ranked[0].format
