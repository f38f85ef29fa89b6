"""``congdoan db``: the database schema (Alembic migrations)."""

from __future__ import annotations

import asyncio

import typer

from bot.cli.common import settings_or_exit
from storage.db import Database
from storage.migrate import current_revision, head_revision, upgrade

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or bring its schema up to date."""
    settings = settings_or_exit()

    async def run() -> tuple[str | None, str]:
        db = Database(settings.database_url)
        try:
            return await upgrade(db)
        finally:
            await db.dispose()

    before, after = asyncio.run(run())
    if before == after:
        typer.echo(f"Database already at {after}.")
    else:
        typer.echo(f"Database upgraded: {before or 'empty'} → {after}.")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and of the code."""
    settings = settings_or_exit()

    async def run() -> str | None:
        db = Database(settings.database_url)
        try:
            return await current_revision(db)
        finally:
            await db.dispose()

    typer.echo(f"database: {asyncio.run(run()) or 'empty'}; code: {head_revision()}")
