"""``congdoan year``: close a year, freezing its indicator figures; list the closed years.

Closing is for after the union's yearly review: from then on every report of that year (chat,
command line, exports) reads the figures as they were at closing, whatever later changes to
the facts (late answers, case statuses, withdrawals, erasures, the retention purge).  It
cannot be undone (see :mod:`bot.services.years`), so it asks for confirmation.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from bot.cli.common import settings_or_exit
from bot.cli_errors import operator_error, run_command
from bot.indicators.catalog import load_catalog
from bot.services import years
from storage.db import Database
from storage.migrate import check_up_to_date

year_app = typer.Typer(
    help="Years: close a past year to freeze its indicator figures.", no_args_is_help=True
)


def _day(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def _not_past(year: int, tz: dt.tzinfo) -> typer.Exit:
    this_year = dt.datetime.now(tz).year
    return operator_error(
        f"cannot close {year}: only a past year can be closed (this is {this_year}, "
        "whose figures are still moving)"
    )


@year_app.command("close")
def close_command(
    year: Annotated[int, typer.Argument(help="The year to close, e.g. 2025.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Freeze a past year's indicator figures: its reports read them from then on."""
    settings = settings_or_exit()
    if year >= dt.datetime.now(settings.tz).year:
        raise _not_past(year, settings.tz)  # before asking to confirm what cannot be done
    if not yes:
        typer.confirm(
            f"Close {year}? Its indicator figures are frozen as they are now, for every report "
            "from then on; this cannot be undone.",
            abort=True,
        )

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            async with db.session(write=True) as session:
                closing = await years.close_year(
                    session,
                    year=year,
                    catalog=load_catalog(),
                    now=dt.datetime.now(dt.UTC),
                    tz=settings.tz,
                    actor_id=None,
                    via="cli",
                )
        finally:
            await db.dispose()
        if closing.outcome is years.CloseOutcome.NOT_PAST:  # a new year began meanwhile
            raise _not_past(year, settings.tz)
        if closing.outcome is years.CloseOutcome.ALREADY_CLOSED:
            assert closing.closed is not None
            raise operator_error(
                f"{year} is already closed (on {_day(closing.closed.closed_on)}): its figures "
                "stay as they were frozen"
            )
        assert closing.closed is not None
        typer.echo(
            f"Year {year} closed on {_day(closing.closed.closed_on)}: {closing.rows} counts "
            f"frozen ({closing.recounted} units recounted first). Its reports read them from "
            "now on."
        )
        return 0

    run_command(run())


@year_app.command("list")
def list_command() -> None:
    """The closed years, and when (local time) and by whom each was closed."""
    settings = settings_or_exit()

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            async with db.session() as session:
                closed = await years.closed_years(session)
        finally:
            await db.dispose()
        if not closed:
            typer.echo("No year is closed yet.")
            return 0
        for item in closed:
            when = item.closed_at.astimezone(settings.tz).strftime("%H:%M %d/%m/%Y")
            who = (
                "from the command line"
                if item.closed_by is None
                else f"by person #{item.closed_by}"
            )
            typer.echo(f"{item.year}: closed at {when} {who}")
        return 0

    run_command(run())
