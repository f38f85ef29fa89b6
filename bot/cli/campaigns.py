"""``congdoan campaign``: launch a survey campaign and follow campaigns up from the terminal.

``launch`` takes everything the chat launcher does and more: the audience in the notices'
syntax, an opening time, the reminder offsets, the last-day morning, the per-person cap and
the recurrence.  ``list`` prints the campaigns of a scope with their response rates.  Messages
are English (operators); errors exit 2 with one line.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.campaigns import service as campaigns
from bot.campaigns.schedule import QuietHours, Recurrence, ReminderPolicy
from bot.cli.common import settings_or_exit
from bot.cli_errors import operator_error, run_command
from bot.notices import service as notices
from bot.notices.audience import AudienceError, parse_audience
from bot.services.actors import operator_actor
from bot.services.composer import parse_local_time
from bot.services.conversation import Conversation, SurveyRegistry
from bot.texts import format_datetime, format_percent
from storage.db import Database
from storage.migrate import check_up_to_date

campaign_app = typer.Typer(help="Survey campaigns: launch, list.", no_args_is_help=True)
out = Console()

_OFFSET = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class OptionError(ValueError):
    pass


def parse_offsets(text: str) -> tuple[dt.timedelta, ...]:
    """``3d,1d,6h`` → reminders that long before closing; ``none`` → no offsets."""
    if text.strip().lower() == "none":
        return ()
    offsets: list[dt.timedelta] = []
    for part in text.split(","):
        match = _OFFSET.match(part)
        if match is None or int(match.group(1)) == 0:
            raise OptionError(
                f"--reminders: {part.strip()!r} is not a positive offset like 3d, 12h or 30m"
            )
        offsets.append(dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))}))
    return tuple(dict.fromkeys(offsets))


def parse_morning(text: str) -> dt.time | None:
    if text.strip().lower() == "none":
        return None
    try:
        return dt.time.fromisoformat(text.strip())
    except ValueError:
        raise OptionError(f"--morning: {text!r} is not a time HH:MM (or none)") from None


_WHY = {
    campaigns.LaunchOutcome.UNKNOWN_SURVEY: "no launchable survey with that key",
    campaigns.LaunchOutcome.FORBIDDEN: "the audience is outside the scope of the officer",
    campaigns.LaunchOutcome.BAD_TIMES: "the closing time must be after the opening and ahead",
    campaigns.LaunchOutcome.ALREADY: "this survey is already open for that unit and period",
    campaigns.LaunchOutcome.EMPTY: "nobody to ask in that audience",
}


@campaign_app.command("launch")
def launch_command(
    survey: Annotated[str, typer.Option(help="The survey's key, e.g. activity_participation.")],
    closes: Annotated[str, typer.Option(help="Closing time, local 'dd/mm/yyyy hh:mm'.")],
    opens: Annotated[
        str | None, typer.Option(help="Opening time, local 'dd/mm/yyyy hh:mm' (default: now).")
    ] = None,
    audience: Annotated[
        str, typer.Option(help="e.g. 'unit=DL-THPT-BTX;public;members;tag=gvcn' (default: all)")
    ] = "all",
    reminders: Annotated[
        str, typer.Option(help="Reminder offsets before closing, e.g. '3d,1d' or 'none'.")
    ] = "3d,1d",
    morning: Annotated[
        str, typer.Option(help="A reminder at this local time on the last day, or 'none'.")
    ] = "08:00",
    max_reminders: Annotated[
        int | None,
        typer.Option("--max", min=0, max=20, help="Reminders per person (default: REMINDER_MAX)."),
    ] = None,
    repeat: Annotated[
        Recurrence, typer.Option(help="Repeat the campaign each period.")
    ] = Recurrence.NONE,
    as_phone: Annotated[
        str | None, typer.Option("--as", help="Phone of the launching officer (default: an admin).")
    ] = None,
    skip_asked: Annotated[
        bool,
        typer.Option(
            help="Launch to those no other open run of the survey asks (they answer once, "
            "in that run)."
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Check and count; launch nothing.")] = False,
) -> None:
    """Launch a survey campaign: invitations now (or at opening), reminders before closing."""
    settings = settings_or_exit()
    tz = settings.tz
    try:
        spec = parse_audience(audience)
        offsets = parse_offsets(reminders)
        last_morning = parse_morning(morning)
    except (AudienceError, OptionError) as exc:
        raise operator_error(str(exc)) from None
    closes_at = parse_local_time(closes, tz)
    if closes_at is None:
        raise operator_error(f"--closes {closes!r} is not a time as dd/mm/yyyy hh:mm")
    opens_at = parse_local_time(opens, tz) if opens else None
    if opens and opens_at is None:
        raise operator_error(f"--opens {opens!r} is not a time as dd/mm/yyyy hh:mm")
    start, end = settings.quiet
    policy = ReminderPolicy(
        offsets=offsets,
        last_day_morning=last_morning,
        max_per_person=settings.reminder_max if max_reminders is None else max_reminders,
        quiet=QuietHours(start=start, end=end),
    )

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            registry = SurveyRegistry()
            async with db.session() as session:
                await registry.sync(session)
                actor = await operator_actor(session, phone=as_phone)
                if actor is None:
                    raise operator_error(
                        f"no officer or admin with phone {as_phone!r} in the roster"
                        if as_phone
                        else "the roster has no admin: import one, or pass --as PHONE"
                    )
                try:
                    resolved = await notices.resolve_audience(session, actor=actor, spec=spec)
                except AudienceError as exc:
                    raise operator_error(str(exc)) from None
                launchable = {d.key: d for d in Conversation(registry, tz=tz).launchable()}
                known = survey in launchable
                result = await campaigns.launch(
                    session,
                    actor=actor,
                    plan=campaigns.Plan(
                        key=survey,
                        closes_at=closes_at,
                        audience=resolved,
                        opens_at=opens_at,
                        policy=policy,
                        recurrence=repeat,
                        skip_asked=skip_asked,
                    ),
                    definitions=launchable,
                    definition_id=await registry.row_id(session, survey) if known else None,
                    tz=tz,
                    default_locale=settings.locale,
                )
                unit = "CĐCS" if result.per_unit else "people"
                if result.outcome == campaigns.LaunchOutcome.OVERLAP:
                    runs = "; ".join(
                        f"#{e.run_id} for {e.unit_name} until {format_datetime(e.closes_at)}: "
                        f"{e.count}"
                        for e in result.elsewhere
                    )
                    then = (
                        f"pass --skip-asked to launch to the other {result.others}"
                        if result.others
                        else "all of them are asked already: nothing to launch"
                    )
                    raise operator_error(
                        f"campaign not launched: {result.asked_elsewhere} {unit} of the audience "
                        f"are asked in another open run of this survey ({runs}); {then}"
                    )
                if result.outcome != campaigns.LaunchOutcome.LAUNCHED:
                    hint = "" if known else f" (known: {', '.join(sorted(launchable))})"
                    raise operator_error(f"campaign not launched: {_WHY[result.outcome]}{hint}")
                assert result.opens_at is not None and result.closes_at is not None
                who = "CĐCS officers" if result.per_unit else "people"
                out.print(
                    f"Campaign #{result.run_id} «{result.title}» for {result.scope_name}: "
                    f"{result.targets} {who}, {result.invited} invitations to send, "
                    f"{result.targets - result.invited} unreachable; open "
                    f"{format_datetime(result.opens_at)} → {format_datetime(result.closes_at)}.",
                    highlight=False,
                )
                if result.units_without_officer:
                    out.print(
                        f"Warning: {result.units_without_officer} CĐCS have no officer in the "
                        "roster and are not asked.",
                        highlight=False,
                    )
                planned = ", ".join(format_datetime(t) for t in result.reminders) or "none"
                out.print(f"Reminders: {planned}.", highlight=False)
                if result.asked_elsewhere:
                    out.print(
                        f"Left out: {result.asked_elsewhere} {unit} asked in another open run "
                        "of this survey (they answer there).",
                        highlight=False,
                    )
                if dry_run:
                    await session.rollback()
                    out.print("Dry run: nothing launched.")
                return 0
        finally:
            await db.dispose()

    run_command(run())


@campaign_app.command("list")
def list_command(
    as_phone: Annotated[
        str | None, typer.Option("--as", help="Phone of an officer: their scope (default: all).")
    ] = None,
) -> None:
    """The campaigns of a scope, newest first, with their response rates."""
    settings = settings_or_exit()

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            async with db.session() as session:
                actor = await operator_actor(session, phone=as_phone)
                if actor is None:
                    raise operator_error("no officer or admin to list the campaigns of")
                rows = await campaigns.campaigns_for(session, actor=actor, tz=settings.tz, limit=50)
            table = Table("#", "survey", "unit", "status", "closes", "answered", "rate")
            for c in rows:
                answered = (
                    f"{c.units_done}/{c.units} units" if c.per_unit else f"{c.done}/{c.targets}"
                )
                table.add_row(
                    str(c.run_id),
                    c.title,
                    c.scope_name,
                    str(c.status),
                    format_datetime(c.closes_at),
                    answered,
                    format_percent(c.rate),
                )
            out.print(table if rows else "No campaigns yet.")
            return 0
        finally:
            await db.dispose()

    run_command(run())
