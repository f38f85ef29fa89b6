"""The audit trail made readable: each row with the people it names (the operator and the
admins may see who did what) and the unit's code, and as a workbook or a CSV.

Shared by ``congdoan audit`` (English, for the operator) and the admins' ``/audit`` (in the
admin's locale): the words of the headers, actions and "erased" are the caller's.  An erased
person is named by id only.  Names come from users (a typed name in a link request): a cell
never starts as a formula (:func:`bot.reports.export.safe_text`), and in a workbook holds no
control character a worksheet refuses (:func:`bot.reports.personal.cell_text`).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.reports.export import safe_text
from bot.services.actors import Actor
from bot.texts import label
from storage import audit
from storage.models import AuditAction, Person, Unit


@dataclass(frozen=True)
class Party:
    """A person an audit row names: ``name`` is None once they are erased."""

    id: int
    name: str | None


@dataclass(frozen=True)
class Entry:
    """One audit row as people read it."""

    id: int
    at: dt.datetime  # local time
    action: AuditAction
    via: str
    actor: Party | None
    person: Party | None
    case_id: int | None
    unit: str  # the unit's code; "" for none
    detail: str  # the detail as compact JSON; "" when empty


async def _parties(session: AsyncSession, ids: set[int]) -> dict[int, Party]:
    if not ids:
        return {}
    query = select(col(Person.id), col(Person.full_name), col(Person.erased_at)).where(
        col(Person.id).in_(ids)
    )
    return {
        person_id: Party(person_id, None if erased_at is not None else full_name)
        for person_id, full_name, erased_at in (await session.execute(query)).all()
        if person_id is not None
    }


async def _unit_codes(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    query = select(col(Unit.id), col(Unit.code)).where(col(Unit.id).in_(ids))
    found = (await session.execute(query)).all()
    return {unit_id: code for unit_id, code in found if unit_id is not None}


def _detail_text(detail: Mapping[str, object]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else ""


async def load_entries(
    session: AsyncSession,
    *,
    tz: dt.tzinfo,
    person_id: int | None = None,
    since: dt.datetime | None = None,
    actions: Sequence[AuditAction] = (),
) -> list[Entry]:
    """The trail, oldest first (by or about ``person_id``, from ``since`` on, of ``actions``),
    with the people named and the units' codes."""
    found = await audit.rows(session, person_id=person_id, since=since, actions=actions)
    people = await _parties(
        session, {i for r in found for i in (r.actor_id, r.person_id) if i is not None}
    )
    codes = await _unit_codes(session, {r.unit_id for r in found if r.unit_id is not None})

    def party(person: int | None) -> Party | None:
        return None if person is None else people.get(person, Party(person, None))

    return [
        Entry(
            id=r.id,
            at=r.at.astimezone(tz),  # stored in UTC, read back aware (UTCDateTime)
            action=r.action,
            via=r.via,
            actor=party(r.actor_id),
            person=party(r.person_id),
            case_id=r.case_id,
            unit=codes.get(r.unit_id, f"#{r.unit_id}") if r.unit_id is not None else "",
            detail=_detail_text(r.detail),
        )
        for r in found
    ]


#: How a row is shown: one text per column, the first the time.
Formatter = Callable[[Entry], Sequence[str]]


def to_xlsx(
    entries: Sequence[Entry], *, title: str, headers: Sequence[str], cells: Formatter
) -> bytes:
    """A workbook with one sheet, one row per entry: its id, its local time (a real date
    cell), then ``cells(entry)`` after the time."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from bot.reports.personal import cell_text

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(["#", *headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for entry in entries:
        texts = [cell_text(text) for text in cells(entry)[1:]]
        sheet.append([entry.id, entry.at.replace(tzinfo=None), *texts])
        sheet.cell(row=sheet.max_row, column=2).number_format = "yyyy-mm-dd hh:mm:ss"
    widths = (8, 20, 22, 10, 28, 28, 8, 14, 48)
    for index in range(1, len(headers) + 2):
        width = widths[index - 1] if index <= len(widths) else 20
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_csv(entries: Sequence[Entry], *, headers: Sequence[str], cells: Formatter) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["#", *headers])
    for entry in entries:
        writer.writerow([entry.id, *(safe_text(text) for text in cells(entry))])
    return out.getvalue()


#: The columns of the admins' workbook, by the name of their label (``audit_column``).
CHAT_COLUMNS = ("when", "action", "via", "actor", "person", "case", "unit", "detail")


@dataclass(frozen=True)
class AdminExport:
    data: bytes
    rows: int


async def admin_export(
    session: AsyncSession,
    *,
    actor: Actor,
    since: dt.date | None,
    tz: dt.tzinfo,
) -> AdminExport | None:
    """``/audit``: the trail from ``since`` (a local day; all of it when None) as a workbook
    in the admin's locale, recorded as an export of the trail; None for anyone but an admin.
    No file and no row when the trail is empty."""
    if not actor.is_admin or actor.person is None:
        return None
    start = dt.datetime.combine(since, dt.time(), tzinfo=tz) if since is not None else None
    entries = await load_entries(session, tz=tz, since=start)
    if not entries:
        return AdminExport(b"", 0)
    locale = actor.locale

    def party(who: Party | None) -> str:
        if who is None:
            return ""
        return (
            label("audit_erased", locale, id=who.id)
            if who.name is None
            else f"{who.name} #{who.id}"
        )

    def cells(entry: Entry) -> list[str]:
        return [
            entry.at.strftime("%d/%m/%Y %H:%M:%S"),
            label("audit_action", locale, act=entry.action.value),
            label("audit_via", locale, via=entry.via),
            party(entry.actor),
            party(entry.person),
            str(entry.case_id) if entry.case_id is not None else "",
            entry.unit,
            entry.detail,
        ]

    headers = [label("audit_column", locale, column=c) for c in CHAT_COLUMNS]
    title = label("audit_sheet", locale)
    # Building a workbook of many rows takes a moment of CPU: off the event loop.
    data = await asyncio.to_thread(to_xlsx, entries, title=title, headers=headers, cells=cells)
    await audit.record(
        session,
        AuditAction.REPORT_EXPORTED,
        via="chat",
        actor_id=actor.person.id,
        detail={"kind": "audit", "format": "xlsx", "rows": len(entries)},
    )
    return AdminExport(data, len(entries))
