"""What the command line's subcommands share: the one-line error (English, exit code 2), the
errors every command may meet made such a line in one place, and running a command's coroutine.

Every command of ``congdoan`` runs inside :class:`OperatorGroup`: a database that cannot be
opened or reached (:class:`~storage.db.DatabaseUnavailable`) or whose schema is behind the code
(:class:`~storage.migrate.SchemaOutOfDate`) ends the command with one line on stderr, whichever
command met it.  A bad ``DATABASE_URL`` is refused earlier, with the settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from storage.db import DatabaseUnavailable
from storage.migrate import SchemaOutOfDate


def operator_error(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the caller raises what this returns."""
    Console(stderr=True).print(
        f"[red]error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )
    return typer.Exit(2)


def schema_hint(exc: SchemaOutOfDate) -> str:
    return (
        f"the database schema is out of date ({exc.current or 'empty'}, the code needs "
        f"{exc.head}); run: congdoan db upgrade"
    )


@contextmanager
def operator_errors() -> Iterator[None]:
    """Turn the errors any command may meet into one line and exit code 2."""
    try:
        yield
    except DatabaseUnavailable as exc:
        raise operator_error(f"{exc} (check DATABASE_URL)") from None
    except SchemaOutOfDate as exc:
        raise operator_error(schema_hint(exc)) from None


class OperatorGroup(TyperGroup):
    """A command group whose subcommands, at any depth, run inside :func:`operator_errors`."""

    def invoke(self, ctx: Any) -> Any:  # ctx: the click context of this group
        with operator_errors():
            return super().invoke(ctx)


class OperatorCommand(TyperCommand):
    """A lone command (``python -m bot.delivery``) run inside :func:`operator_errors`."""

    def invoke(self, ctx: Any) -> Any:
        with operator_errors():
            return super().invoke(ctx)


def run_command(main: Coroutine[Any, Any, int]) -> NoReturn:
    """Run a command's coroutine and exit with the code it returns."""
    with operator_errors():
        code = asyncio.run(main)
    raise typer.Exit(code)
