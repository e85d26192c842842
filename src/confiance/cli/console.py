"""What every command shares: the consoles, error reporting and exit codes, the home."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console

from confiance.consortium import Home
from confiance.errors import (
    AccessDenied,
    ConfianceError,
    ConfigError,
    ContractError,
    KeyReleaseDenied,
)

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

EXIT_ERROR, EXIT_USAGE, EXIT_DENIED = 1, 2, 3


def exit_code(exc: ConfianceError) -> int:
    if isinstance(exc, AccessDenied | KeyReleaseDenied):
        return EXIT_DENIED
    if isinstance(exc, ConfigError | ContractError):
        return EXIT_USAGE
    return EXIT_ERROR


@contextmanager
def errors() -> Iterator[None]:
    """Report a ConfianceError as one line on stderr and exit with its code."""
    try:
        yield
    except ConfianceError as exc:
        err.print(f"[bold red]error:[/] {exc}", markup=True)
        sys.exit(exit_code(exc))


def home_of(ctx: click.Context) -> Home:
    home: Home = ctx.obj["home"]
    return home


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=1, default=str))
