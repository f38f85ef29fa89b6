"""``congdoan inbox``: the updates the bot set aside, and replaying one.

An update is set aside when every attempt to handle it failed (a bug, or a fact the database
refuses) or when it cannot be read at all; the member got an apology.  ``failed`` lists them
with their error (never what the member typed: ``--payload ID`` shows one whole update, for
diagnosis); ``retry ID`` puts one back in line once the cause is mended, and the running bot
takes it within seconds (``InboxSettings.sweep_every``).
"""

from __future__ import annotations

import json
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from bot.cli_errors import operator_error, run_command
from bot.settings import SettingsError, load_settings
from bot.texts import format_datetime
from storage import inbox
from storage.db import Database
from storage.migrate import check_up_to_date

inbox_app = typer.Typer(help="Incoming updates set aside as failing.", no_args_is_help=True)
out = Console()

_KINDS = ("message", "edited_message", "callback_query", "my_chat_member")


def _describe(payload: str) -> tuple[str, str]:
    """(kind, sender id) of a stored update, without its content."""
    try:
        data = json.loads(payload)
    except ValueError:
        return "unreadable", ""
    if not isinstance(data, dict):
        return "unreadable", ""
    for kind in _KINDS:
        body = data.get(kind)
        if kind in data:
            sender = body.get("from") or body.get("chat") if isinstance(body, dict) else None
            ident = sender.get("id") if isinstance(sender, dict) else None
            return kind, str(ident) if ident is not None else ""
    return "other", ""


def _database() -> tuple[Database, ZoneInfo]:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise operator_error(str(exc)) from None
    return Database(settings.database_url), settings.tz


@inbox_app.command("failed")
def failed_command(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 50,
    payload: Annotated[
        int | None, typer.Option(help="Print the whole stored update with this ID.")
    ] = None,
) -> None:
    """List the updates set aside (latest first): ID, when, attempts, error."""
    db, tz = _database()

    async def main() -> int:
        try:
            await check_up_to_date(db)
            async with db.session() as session:
                rows = await inbox.set_aside_updates(session, limit=limit, inbox_id=payload)
        finally:
            await db.dispose()
        if payload is not None:
            if not rows:
                raise operator_error(f"no update set aside has ID {payload}")
            out.print_json(rows[0].payload)
            return 0
        if not rows:
            out.print("No update is set aside.")
            return 0
        out.print(f"Updates set aside ({len(rows)} shown, latest first; times in {tz.key}):")
        for row in rows:
            kind, sender = _describe(row.payload)
            source = f"{kind} from {sender}" if sender else kind
            out.print(
                f"  ID {row.id} · update {row.update_id} · {source} · received "
                f"{format_datetime(row.received_at.astimezone(tz))} · set aside "
                f"{format_datetime(row.failed_at.astimezone(tz))} after {row.attempts} "
                f"tries · {row.error or 'no error kept'}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        out.print("Replay one with: congdoan inbox retry ID", style="dim")
        return 0

    run_command(main())


@inbox_app.command("retry")
def retry_command(
    inbox_id: Annotated[int, typer.Argument(metavar="ID", help="The ID 'inbox failed' shows.")],
) -> None:
    """Put a set-aside update back in line; the running bot handles it within seconds."""
    db, _ = _database()

    async def main() -> int:
        try:
            await check_up_to_date(db)
            async with db.session(write=True) as session:
                done = await inbox.replay(session, inbox_id=inbox_id)
        finally:
            await db.dispose()
        if not done:
            raise operator_error(
                f"no update set aside has ID {inbox_id} (see: congdoan inbox failed)"
            )
        out.print(f"Update {inbox_id} is back in line; the running bot will handle it.")
        return 0

    run_command(main())
