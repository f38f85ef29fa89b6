"""Urgent cases reach someone: the alert at once, and the escalation when nobody opens the case.

A hardship or legal report answered "Cần hỗ trợ khẩn cấp: Có" is pushed, in the transaction
that stores it, to the officers of the case's CĐCS through the outbox (a MESSAGE delivery:
quiet hours and ``/stop`` do not hold it back).  A CĐCS with no officer who can be written to
passes it to the next level up at once.  When no officer has opened the case (seen it in
``/cases`` or changed its status) within ``URGENT_ESCALATE_AFTER`` hours, the scheduler
alerts the next level up (the district union's officers; the province's when the district has
none) once, and records it in ``escalated_at``.

Who is written to is decided by the roster (officers and admins, by the unit of their office);
each is written on their own newest linked chat, in its channel and locale.  The body an alert
was passed up to is recorded in ``escalated_to_unit_id``: its officers may then see the case's
details (:mod:`bot.services.casework`).

An alert names no one and quotes nothing the reporter wrote: the kind of case, its number, its
unit and when it was reported.  Its text lands in a phone's notification preview and in the
outbox table, and whether a queued message was read is unknown; the details are one command
away (``/cases``), where each officer's view of them is recorded in the audit trail and counts
as the case being opened (which is what stops the escalation).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import render
from storage import cases, outbox, people
from storage.models import Case, DeliveryKind, Unit
from storage.people import Officer


@dataclass(frozen=True)
class UrgentPolicy:
    """From the settings: how long an urgent case may wait unopened before the next level up
    is alerted."""

    escalate_after: dt.timedelta


async def first_reachable(
    session: AsyncSession, chain: Sequence[Unit]
) -> tuple[Unit | None, list[Officer]]:
    """The first body of ``chain`` with an officer who can be written to, and those officers."""
    officers = await people.reachable_officers(
        session, unit_ids=[u.id for u in chain if u.id is not None]
    )
    for body in chain:
        if officers.get(body.id or 0):
            return body, officers[body.id or 0]
    return None, []


def _place(unit: Unit, cdcs: Unit) -> str:
    """Where the case is: its unit, and its CĐCS when the unit is a tổ of it."""
    return unit.name if unit.id == cdcs.id else f"{unit.name}, {cdcs.name}"


def _deliveries(
    officers: Sequence[Officer], *, template: str, **context: Any
) -> list[dict[str, Any]]:
    """One MESSAGE delivery per officer, on their chat, in their chat's locale."""
    return [
        {
            "kind": DeliveryKind.MESSAGE,
            "person_id": o.person_id,
            "chat_id": o.chat_id,
            "channel": o.channel,
            "external_id": o.external_id,
            "text": render(template, o.locale, **context),
        }
        for o in officers
    ]


async def alert_urgent(
    session: AsyncSession,
    *,
    case: Case,
    unit: Unit,
    tz: dt.tzinfo,
    escalate_after: dt.timedelta,
) -> int:
    """Queue the alert of a new urgent case (in the caller's transaction); returns how many
    officers it is queued to.  A CĐCS with nobody to write to passes it up at once."""
    chain = await people.union_bodies_above(session, unit=unit)
    body, officers = await first_reachable(session, chain)
    if body is None:
        return 0
    cdcs = chain[0] if chain else unit
    escalated = body.id != cdcs.id
    rows = _deliveries(
        officers,
        template="officer/urgent_alert.txt",
        case=case,
        place=_place(unit, cdcs),
        first=cdcs,
        escalated=escalated,
        when=case.created_at.astimezone(tz),
        hours=escalate_after.total_seconds() / 3600,
    )
    if escalated:
        case.escalated_at = case.created_at  # nobody below to open it: nothing left to escalate
        case.escalated_to_unit_id = body.id  # whose officers may see it now
    return await outbox.enqueue(session, rows=rows)


async def escalation_pass(
    session: AsyncSession,
    *,
    now: dt.datetime,
    escalate_after: dt.timedelta,
    tz: dt.tzinfo,
) -> int:
    """Alert the next level up about each urgent case nobody opened within ``escalate_after``
    (once per case); returns how many cases were escalated."""
    escalated = 0
    for case, unit in await cases.urgent_unopened(session, reported_before=now - escalate_after):
        chain = await people.union_bodies_above(session, unit=unit)
        # Above the CĐCS (the first body of the chain), the nearest body with someone to write.
        body, officers = await first_reachable(session, chain[1:])
        case.escalated_at = now
        if body is None:
            continue
        case.escalated_to_unit_id = body.id  # whose officers may see it now
        rows = _deliveries(
            officers,
            template="officer/urgent_escalated.txt",
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
