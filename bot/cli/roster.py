"""``congdoan roster ...``: import the roster from Excel/CSV files, write the template.

Operator-facing, in English.  Exit codes: 0 done; 1 bad rows (nothing imported unless
``--skip-bad``; a dry run with bad rows also exits 1); 2 the files or the set-up cannot be used
(missing or unreadable file, unrecognised headers, bad setting, database that cannot be opened,
database schema out of date), with one line on stderr.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from types import TracebackType
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from bot.roster import ImportReport, RosterFileError, import_roster, write_template
from bot.settings import SettingsError, load_settings
from storage.db import Database
from storage.migrate import SchemaOutOfDate, check_up_to_date

roster_app = typer.Typer(
    name="roster",
    help="Import the roster (units and people) from .xlsx/.csv files.",
    no_args_is_help=True,
)

# Show a progress bar when writing to a terminal, or for files at least this large.
PROGRESS_THRESHOLD = 5000
SHOWN_ERRORS = 50
SHOWN_CHANGES = 20


class RichProgress:
    """A :class:`bot.roster.ProgressSink` drawing a rich bar, started only when worth it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def stage(self, description: str, total: int) -> None:
        if self.progress is None:
            if not (self.console.is_terminal or total >= PROGRESS_THRESHOLD):
                return
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(escape(description), total=total or None)

    def advance(self, amount: int = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, amount)

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` on stderr as one line; the caller raises what this returns."""
    Console(stderr=True).print(escape(message), soft_wrap=True, highlight=False)
    return typer.Exit(code)


async def _run_import(
    database_url: str,
    files: list[Path],
    *,
    today: dt.date,
    dry_run: bool,
    skip_bad: bool,
    console: Console,
) -> ImportReport:
    db = Database(database_url)
    try:
        await check_up_to_date(db)
        with RichProgress(console) as progress:
            async with db.session() as session:
                return await import_roster(
                    session,
                    files,
                    today=today,
                    dry_run=dry_run,
                    skip_bad=skip_bad,
                    progress=progress,
                )
    finally:
        await db.dispose()


def _summary(report: ImportReport) -> Table:
    title = "Roster import (dry run: nothing written)" if report.dry_run else "Roster import"
    table = Table(title=title)
    table.add_column("")
    for column in ("Created", "Updated", "Unchanged", "Bad rows"):
        table.add_column(column, justify="right")
    for name, counts in (("Units", report.units), ("People", report.people)):
        table.add_row(
            name,
            str(counts.created),
            str(counts.updated),
            str(counts.unchanged),
            str(counts.rejected),
        )
    return table


def _print_report(console: Console, report: ImportReport) -> None:
    for warning in report.warnings:
        console.print(f"Warning: {escape(warning)}", soft_wrap=True, highlight=False)
    if report.errors:
        console.print(f"{len(report.errors)} bad row(s):", highlight=False)
        for error in report.errors[:SHOWN_ERRORS]:
            console.print(f"  {escape(str(error))}", soft_wrap=True, highlight=False)
        if len(report.errors) > SHOWN_ERRORS:
            console.print(f"  ... and {len(report.errors) - SHOWN_ERRORS} more", highlight=False)
    if report.dry_run and report.changes:
        console.print("Changes that would be made:", highlight=False)
        for change in report.changes[:SHOWN_CHANGES]:
            console.print(f"  {escape(str(change))}", soft_wrap=True, highlight=False)
        if len(report.changes) > SHOWN_CHANGES:
            console.print(f"  ... and {len(report.changes) - SHOWN_CHANGES} more", highlight=False)
    console.print(_summary(report))
    bad = len(report.errors)
    if report.rejected:
        console.print(
            f"Nothing was imported: {bad} bad row(s). Fix them and import again, or import "
            "the good rows only with --skip-bad.",
            soft_wrap=True,
            highlight=False,
        )
    elif report.dry_run:
        hint = " (with --skip-bad; without it nothing would be imported)" if bad else ""
        console.print(f"Dry run: nothing was written{hint}.", soft_wrap=True, highlight=False)
    elif bad:
        console.print(f"Imported the good rows; skipped {bad} bad row(s).", highlight=False)
    else:
        console.print("Import done.", highlight=False)


@roster_app.command("import")
def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="Roster files: .xlsx (units and/or people sheets) or .csv")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good rows even if some rows are bad.")
    ] = False,
) -> None:
    """Import units and people; re-importing the same files changes nothing."""
    console = Console()
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    for path in files:
        if not path.is_file():
            raise _fail(f"{path}: file not found")
    try:
        report = asyncio.run(
            _run_import(
                settings.database_url,
                files,
                today=dt.datetime.now(settings.tz).date(),
                dry_run=dry_run,
                skip_bad=skip_bad,
                console=console,
            )
        )
    except RosterFileError as exc:
        raise _fail(str(exc)) from None
    except SchemaOutOfDate:
        raise _fail("Database schema is out of date; run: congdoan db upgrade") from None
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(f"Database error: {first}") from None
    _print_report(console, report)
    if report.errors and not (skip_bad and not report.dry_run):
        raise typer.Exit(1)


@roster_app.command("template")
def template_command(
    path: Annotated[Path, typer.Argument(help="Where to write the .xlsx template")],
) -> None:
    """Write an .xlsx template with a units sheet and a people sheet."""
    console = Console()
    if path.suffix.lower() != ".xlsx":
        raise _fail(f"{path}: the template is an .xlsx file; give a name ending in .xlsx")
    try:
        write_template(path)
    except OSError as exc:
        raise _fail(f"{path}: cannot write it ({exc.strerror or exc})") from None
    console.print(f"Template written to {escape(str(path))}", soft_wrap=True, highlight=False)
