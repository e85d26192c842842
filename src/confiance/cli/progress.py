"""A progress bar for `confiance ingest`: per file, bytes read and lines/s."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from confiance.ingest.reader import ParsedBatch


class _LinesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        lines = task.fields.get("lines", 0)
        elapsed = task.elapsed or 0.0
        rate = lines / elapsed if elapsed > 0 else 0.0
        return Text(f"{lines:,} lines  {rate:,.0f} lines/s", style="progress.data.speed")


class IngestProgress:
    """Shown on a terminal only; its elapsed time gives the summary's rate anyway."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            _LinesPerSecond(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.tasks: dict[Path, TaskID] = {}
        self.started = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> IngestProgress:
        self.started = time.perf_counter()
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.elapsed = time.perf_counter() - self.started
        self.progress.__exit__(kind, value, traceback)

    def batch(self, path: Path, batch: ParsedBatch) -> None:
        if path not in self.tasks:
            self.tasks[path] = self.progress.add_task(path.name, total=path.stat().st_size)
        self.progress.update(self.tasks[path], completed=batch.position, lines=batch.lines)
