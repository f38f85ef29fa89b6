"""``congdoan notice send``: broadcast a notice from a file, as an officer or admin would in chat.

The file is Markdown-like text: the first line ``# Title`` is the title, the rest the body
(Telegram HTML, with ``{{ ten }}`` and ``{{ don_vi }}`` for each recipient's name and unit).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.campaigns.schedule import QuietHours
from bot.cli.common import settings_or_exit
from bot.cli_errors import operator_error, run_command
from bot.notices import service as notices
from bot.notices.audience import AudienceError, parse_audience
from bot.services.actors import operator_actor
from bot.services.composer import parse_local_time
from storage.db import Database
from storage.migrate import check_up_to_date

notice_app = typer.Typer(help="Notices: broadcast from a file.", no_args_is_help=True)
out = Console()


class NoticeFileError(ValueError):
    pass


def read_notice_file(path: Path) -> tuple[str, str]:
    """(title, body) from a notice file: ``# Title`` on the first non-empty line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NoticeFileError(f"cannot read {path}: {exc}") from None
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("#"):
        raise NoticeFileError(f"{path}: the first line must be the title, as '# Title'")
    title = lines[0].lstrip("#").strip()
    body = "\n".join(lines[1:]).strip()
    if not title or not body:
        raise NoticeFileError(f"{path}: a notice needs a title line and a body")
    return title, body


@notice_app.command("send")
def send_command(
    file: Annotated[Path, typer.Option("--file", help="The notice: '# Title', then the body.")],
    audience: Annotated[
        str,
        typer.Option(help="e.g. 'unit=DL-THPT-BTX;public;members;tag=gvcn' (default: all)"),
    ] = "all",
    at: Annotated[
        str | None, typer.Option(help="Send at this local time, 'dd/mm/yyyy hh:mm'.")
    ] = None,
    as_phone: Annotated[
        str | None, typer.Option("--as", help="Phone of the sending officer (default: an admin).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check and count; send nothing.")] = False,
) -> None:
    """Check a notice, count its recipients and queue it for delivery."""
    settings = settings_or_exit()
    try:
        title, body = read_notice_file(file)
        spec = parse_audience(audience)
    except (NoticeFileError, AudienceError) as exc:
        raise operator_error(str(exc)) from None
    send_at = parse_local_time(at, settings.tz) if at else None
    if at and (send_at is None or send_at <= dt.datetime.now(settings.tz)):
        raise operator_error(f"--at {at!r} is not a future time as dd/mm/yyyy hh:mm")

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            async with db.session() as session:
                actor = await operator_actor(session, phone=as_phone)
                if actor is None:
                    raise operator_error(
                        f"no officer or admin with phone {as_phone!r} in the roster"
                        if as_phone
                        else "the roster has no admin: import one, or pass --as PHONE"
                    )
                try:
                    resolved = await notices.resolve_audience(session, actor=actor, spec=spec)
                    draft = await notices.create_draft(
                        session,
                        actor=actor,
                        title=title,
                        body=body,
                        audience=resolved,
                        send_at=send_at,
                        tz=settings.tz,
                    )
                except (AudienceError, notices.NoticeError) as exc:
                    raise operator_error(str(exc)) from None
                preview = await notices.preview(session, actor=actor, notice=draft, tz=settings.tz)
                if preview.error is not None:
                    raise operator_error(preview.error.english())
                if preview.problems:
                    first = preview.problems[0]
                    raise operator_error(
                        f"{file}: not valid Telegram HTML ({first.code} {first.detail!r} at "
                        f"line {first.line}, column {first.column} of the rendered notice)"
                    )
                counts = preview.counts
                out.print(
                    f"{title!r}: {counts.total} recipients, {counts.reachable} reachable, "
                    f"{counts.unreachable} unreachable (never linked {counts.never_linked}, "
                    f"stopped {counts.stopped}, blocked {counts.blocked})",
                    highlight=False,
                )
                if dry_run:
                    await session.rollback()
                    out.print("Dry run: nothing queued.")
                    return 0
                assert draft.id is not None
                start, end = settings.quiet
                confirmed = await notices.confirm(
                    session,
                    actor=actor,
                    notice_id=draft.id,
                    now=dt.datetime.now(dt.UTC),
                    tz=settings.tz,
                    default_locale=settings.locale,
                    quiet=QuietHours(start=start, end=end),
                )
                if confirmed.outcome != notices.ConfirmOutcome.QUEUED:
                    raise operator_error(f"notice not queued: {confirmed.outcome.value}")
                when = f"at {at}" if at else "now"
                out.print(
                    f"Notice #{draft.id} queued {when}: {confirmed.queued} to send, "
                    f"{confirmed.unreachable} unreachable. The bot (congdoan serve) or a "
                    "worker (congdoan deliver) sends it.",
                    highlight=False,
                )
                return 0
        finally:
            await db.dispose()

    run_command(run())
