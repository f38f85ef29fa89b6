"""Urgent cases reach someone: the alert at once, and the escalation when nobody opens the case.

A hardship or legal report answered "Cần hỗ trợ khẩn cấp: Có" is pushed, in the transaction
that stores it, to the officers of the case's CĐCS through the outbox (a MESSAGE delivery:
quiet hours and ``/stop`` do not hold it back).  A CĐCS with no officer who can be written to
passes it to the next level up at once.  When no officer has opened the case (seen it in
``/cases`` or changed its status) within ``URGENT_ESCALATE_AFTER`` hours, the scheduler
alerts the next level up (the district union's officers; the province's when the district has
none) once, and records it in ``escalated_at``.

Who is written to is decided by the roster (officers and admins, by the unit of their office);
each is written on their own newest linked chat, in its channel and locale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.texts import render
from storage import outbox
from storage.models import Case, CaseStatus, ChatStage, DeliveryKind, Role, Unit, UnitKind
from storage.tables import cases as CASES
from storage.tables import chats, people


@dataclass(frozen=True)
class UrgentPolicy:
    """From the settings: how long an urgent case may wait unopened before the next level up
    is alerted, and the locale of an officer whose chat has none."""

    escalate_after: dt.timedelta
    default_locale: str


@dataclass(frozen=True)
class Officer:
    person_id: int
    chat_id: int | None
    channel: Any
    external_id: str | None
    locale: str | None


def ancestors(unit: Unit) -> list[int]:
    """The ids on ``unit``'s path, the root first and ``unit`` last (``/1/5/12/``)."""
    return [int(part) for part in unit.path.strip("/").split("/") if part]


async def officers_of(
    session: AsyncSession, *, unit_ids: Sequence[int]
) -> dict[int, list[Officer]]:
    """The officers and admins whose office (``officer_unit_id``, else their own unit) is one
    of ``unit_ids``, by that unit, each with their newest linked chat (none: not writable)."""
    if not unit_ids:
        return {}
    p, c = people.c, chats.c
    office = func.coalesce(p.officer_unit_id, p.unit_id)
    linked = chats.alias("linked")
    newest = (
        select(func.max(linked.c.id))
        .where(linked.c.person_id == p.id, linked.c.stage == ChatStage.LINKED)
        .correlate(people)
        .scalar_subquery()
    )
    stmt = (
        select(office, p.id, c.id, c.channel, c.external_id, c.locale)
        .select_from(people.outerjoin(chats, c.id == newest))
        .where(p.role.in_([Role.OFFICER, Role.ADMIN]), office.in_(list(unit_ids)))
        .order_by(p.id)
    )
    found: dict[int, list[Officer]] = {}
    for unit_id, person_id, chat_id, channel, external_id, locale in (
        await session.execute(stmt)
    ).all():
        found.setdefault(int(unit_id), []).append(
            Officer(int(person_id), chat_id, channel, external_id, locale)
        )
    return found


def _writable(officers: Sequence[Officer]) -> list[Officer]:
    return [o for o in officers if o.chat_id is not None]


async def _chain(session: AsyncSession, unit: Unit) -> list[Unit]:
    """The union bodies above and at ``unit`` that can answer for it, nearest first: its CĐCS,
    the district union, the province (a tổ has no officers of its own)."""
    ids = ancestors(unit)
    rows = (await session.execute(select(Unit).where(col(Unit.id).in_(ids)))).scalars().all()
    by_id = {u.id: u for u in rows}
    bodies = (UnitKind.GRASSROOTS, UnitKind.DISTRICT, UnitKind.PROVINCE)
    return [by_id[i] for i in reversed(ids) if i in by_id and by_id[i].kind in bodies]


async def _first_writable(
    session: AsyncSession, chain: Sequence[Unit]
) -> tuple[Unit | None, list[Officer]]:
    """The first body of ``chain`` with an officer who can be written to, and those officers."""
    officers = await officers_of(session, unit_ids=[u.id for u in chain if u.id is not None])
    for body in chain:
        assert body.id is not None
        writable = _writable(officers.get(body.id, []))
        if writable:
            return body, writable
    return None, []


def _place(unit: Unit, cdcs: Unit) -> str:
    """Where the case is: its unit, and its CĐCS when the unit is a tổ of it."""
    return unit.name if unit.id == cdcs.id else f"{unit.name}, {cdcs.name}"


def _deliveries(
    officers: Sequence[Officer], *, template: str, default_locale: str, **context: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for officer in officers:
        locale = officer.locale or default_locale
        rows.append(
            {
                "kind": DeliveryKind.MESSAGE,
                "person_id": officer.person_id,
                "chat_id": officer.chat_id,
                "channel": officer.channel,
                "external_id": officer.external_id,
                "text": render(template, locale, **context),
            }
        )
    return rows


async def alert_urgent(
    session: AsyncSession,
    *,
    case: Case,
    unit: Unit,
    tz: dt.tzinfo,
    default_locale: str,
    escalate_after: dt.timedelta,
) -> int:
    """Queue the alert of a new urgent case (in the caller's transaction); returns how many
    officers it is queued to.  A CĐCS with nobody to write to passes it up at once."""
    chain = await _chain(session, unit)
    body, officers = await _first_writable(session, chain)
    if body is None:
        return 0
    escalated = bool(chain) and body.id != chain[0].id
    rows = _deliveries(
        officers,
        template="officer/urgent_alert.txt",
        default_locale=default_locale,
        case=case,
        place=_place(unit, chain[0] if chain else unit),
        first=chain[0] if chain else unit,
        escalated=escalated,
        when=case.created_at.astimezone(tz),
        hours=escalate_after.total_seconds() / 3600,
    )
    if escalated:
        case.escalated_at = case.created_at  # nobody below to open it: nothing left to escalate
    return await outbox.enqueue(session, rows=rows)


async def escalation_pass(
    session: AsyncSession,
    *,
    now: dt.datetime,
    escalate_after: dt.timedelta,
    tz: dt.tzinfo,
    default_locale: str,
) -> int:
    """Alert the next level up about each urgent case nobody opened within ``escalate_after``
    (once per case); returns how many cases were escalated."""
    waiting = (
        select(Case, Unit)
        .join(Unit, col(Unit.id) == col(Case.unit_id))
        .where(
            col(Case.urgent).is_(True),
            col(Case.opened_at).is_(None),
            col(Case.escalated_at).is_(None),
            col(Case.status) == CaseStatus.REPORTED,
            col(Case.created_at) <= now - escalate_after,
        )
        .order_by(col(Case.id))
        .limit(200)
    )
    escalated = 0
    for case, unit in (await session.execute(waiting)).all():
        chain = await _chain(session, unit)
        # Above the CĐCS (the first body of the chain), the nearest body with someone to write.
        body, officers = await _first_writable(session, chain[1:])
        case.escalated_at = now
        if body is None:
            continue
        rows = _deliveries(
            officers,
            template="officer/urgent_escalated.txt",
            default_locale=default_locale,
            case=case,
            place=_place(unit, chain[0] if chain else unit),
            first=chain[0] if chain else unit,
            when=case.created_at.astimezone(tz),
            hours=escalate_after.total_seconds() / 3600,
        )
        await outbox.enqueue(session, rows=rows)
        escalated += 1
    await session.flush()
    return escalated


async def mark_opened(session: AsyncSession, *, case_ids: Sequence[int], now: dt.datetime) -> None:
    """An officer saw these cases (their card in ``/cases``, or a change of status)."""
    if not case_ids:
        return
    await session.execute(
        update(CASES)
        .where(CASES.c.id.in_(list(case_ids)), CASES.c.opened_at.is_(None))
        .values(opened_at=now)
    )
