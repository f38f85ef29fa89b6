"""``congdoan audit``: the audit trail for the operator (who did what with whose data, when).

The trail stores ids only (:mod:`storage.audit`); this command, run by the operator who holds
the database anyway, shows the names of the people rows next to their ids, so that "who saw
what" can be answered at once after a breach.  An erased person is shown as "(erased #id)".
Exporting the trail (``--xlsx`` / ``--csv``) is itself an export of personal data: it leaves
a REPORT_EXPORTED row.

Times are local (the settings' time zone).  Exit codes: 0 done; 1 no person has the phone
given; 2 a malformed option, a file that cannot be written, or the set-up cannot be used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import settings_or_exit
from bot.cli_errors import operator_error, run_command
from bot.settings import Settings
from storage import audit, people
from storage.audit import Detail
from storage.db import Database
from storage.migrate import check_up_to_date
from storage.models import AuditAction
from surveys.phone import normalize_phone

if TYPE_CHECKING:
    from bot.reports.audit import Entry, Party

COLUMNS = ("When", "Action", "Via", "Actor", "Person", "Case", "Unit", "Detail")


def _party(party: Party | None) -> str:
    if party is None:
        return ""
    return f"(erased #{party.id})" if party.name is None else f"{party.name} #{party.id}"


def cells(entry: Entry) -> tuple[str, ...]:
    """A row as the operator reads it (the command line acts as "operator")."""
    return (
        entry.at.strftime("%Y-%m-%d %H:%M:%S"),
        entry.action.value,
        entry.via,
        _party(entry.actor) or ("operator" if entry.via == "cli" else ""),
        _party(entry.person),
        f"#{entry.case_id}" if entry.case_id is not None else "",
        entry.unit,
        entry.detail,
    )


def parse_since(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """``DD/MM/YYYY`` or ``YYYY-MM-DD``: the start of that local day; None if neither."""
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
        return dt.datetime.combine(day, dt.time(), tzinfo=tz)
    return None


def parse_actions(texts: Sequence[str]) -> list[AuditAction] | str:
    """The actions named (case aside); the first unknown one as a string."""
    found: list[AuditAction] = []
    for text in texts:
        try:
            found.append(AuditAction(text.strip().lower()))
        except ValueError:
            return text
    return found


def _table(entries: Sequence[Entry]) -> Table:
    table = Table(title=f"Audit trail ({len(entries)} rows)")
    for name in COLUMNS:
        table.add_column(name, overflow="fold")
    for entry in entries:
        table.add_row(*(escape(cell) for cell in cells(entry)))
    return table


async def record_export(
    session: AsyncSession,
    *,
    unit_id: int | None = None,
    person_id: int | None = None,
    detail: Detail,
) -> None:
    """The operator exported personal data from the command line: a REPORT_EXPORTED row."""
    await audit.record(
        session,
        AuditAction.REPORT_EXPORTED,
        via="cli",
        unit_id=unit_id,
        person_id=person_id,
        detail=detail,
    )


async def record_cli_export(settings: Settings, *, unit_id: int | None, detail: Detail) -> None:
    """:func:`record_export` in a transaction of its own (for ``congdoan report``)."""
    db = Database(settings.database_url)
    try:
        async with db.session(write=True) as session:
            await record_export(session, unit_id=unit_id, detail=detail)
    finally:
        await db.dispose()


def audit_command(
    person: Annotated[
        str | None,
        typer.Option(
            metavar="PHONE", help="Only what was done by or about the person with this phone."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="From this local day on: DD/MM/YYYY or YYYY-MM-DD."),
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ACTION", help="Only this action (repeatable), e.g. role_changed, case_viewed."
        ),
    ] = None,
    xlsx: Annotated[
        Path | None, typer.Option("--xlsx", metavar="PATH", help="Write the rows to this .xlsx.")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", metavar="PATH", help="Write the rows to this .csv.")
    ] = None,
) -> None:
    """Print the audit trail: role changes, case views, link decisions, exports, imports,
    sends, withdrawals and erasures; or export it (the export is recorded too)."""
    settings = settings_or_exit()
    if xlsx is not None and csv_path is not None:
        raise operator_error("give --xlsx or --csv, not both")
    start = None
    if since is not None:
        start = parse_since(since, settings.tz)
        if start is None:
            raise operator_error(f"--since {since!r} is not a date as DD/MM/YYYY or YYYY-MM-DD")
    actions = parse_actions(action or [])
    if isinstance(actions, str):
        known = ", ".join(a.value for a in AuditAction)
        raise operator_error(f"--action {actions!r} is not one of: {known}")
    normalized = None
    if person is not None:
        normalized = normalize_phone(person)
        if normalized is None:
            raise operator_error(f"--person {person!r} is not a phone number")

    async def run() -> int:
        # Here, not at the top: openpyxl is slow to import, and ``congdoan --help`` imports
        # this module.
        from bot.reports.audit import load_entries, to_csv, to_xlsx

        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            async with db.session(write=xlsx is not None or csv_path is not None) as session:
                person_id = None
                if normalized is not None:
                    found = await people.person_by_phone(session, phone=normalized)
                    if found is None:
                        err = Console(stderr=True)
                        err.print(
                            f"[red]error:[/red] no person in the roster has the phone {person!r}",
                            markup=True,
                            highlight=False,
                            soft_wrap=True,
                        )
                        return 1
                    person_id = found.id
                entries = await load_entries(
                    session, tz=settings.tz, person_id=person_id, since=start, actions=actions
                )
                target = xlsx or csv_path
                if target is None:
                    Console().print(_table(entries))
                    return 0
                fmt = "xlsx" if xlsx is not None else "csv"
                try:
                    if fmt == "xlsx":
                        book = to_xlsx(entries, title="Audit", headers=COLUMNS, cells=cells)
                        target.write_bytes(book)
                    else:
                        text = to_csv(entries, headers=COLUMNS, cells=cells)
                        target.write_text(text, encoding="utf-8-sig")
                except OSError as exc:
                    raise operator_error(f"cannot write {target}: {exc.strerror or exc}") from None
                await record_export(
                    session,
                    person_id=person_id,
                    detail={"kind": "audit", "format": fmt, "rows": len(entries)},
                )
            typer.echo(f"wrote {target} ({len(entries)} rows)")  # once the export is recorded
            return 0
        finally:
            await db.dispose()

    run_command(run())
