"""What the command line's subcommands share: the one-line error (English, exit code 2) and
running a command's coroutine with the schema check's error made such a line."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from storage.migrate import SchemaOutOfDate


def operator_error(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises what this returns."""
    Console(stderr=True).print(
        f"[red]error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    return typer.Exit(2)


def run_command(main: Coroutine[Any, Any, int]) -> NoReturn:
    """Run a command's coroutine and exit with the code it returns."""
    try:
        code = asyncio.run(main)
    except SchemaOutOfDate:
        raise operator_error(
            "the database schema is out of date; run: congdoan db upgrade"
        ) from None
    raise typer.Exit(code)
