"""The audit trail: one append-only row per thing done to or with personal data.

A row names people, cases and units by id only, and its ``detail`` holds kinds and counts,
never a name, a phone or a text: the trail can be kept for years and shown to an auditor
without itself becoming a store of personal data.  Rows are never changed (a trigger refuses
it); the retention purge (:mod:`storage.retention`) is the only delete.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditAction, utcnow
from storage.tables import audit_events

#: How the thing was done: in a chat (``actor_id`` is the person), by the operator's command
#: line, or by the bot itself (the scheduler's purge).
Via = Literal["chat", "cli", "system", "web"]

Detail = Mapping[str, str | int | bool | Sequence[int] | None]


async def record(
    session: AsyncSession,
    action: AuditAction,
    *,
    via: Via,
    actor_id: int | None = None,
    person_id: int | None = None,
    case_id: int | None = None,
    unit_id: int | None = None,
    detail: Detail | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one row, in the caller's transaction: the trail and the act commit together."""
    await session.execute(
        insert(audit_events).values(
            at=at or utcnow(),
            action=action.value,
            via=via,
            actor_id=actor_id,
            person_id=person_id,
            case_id=case_id,
            unit_id=unit_id,
            detail=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True),
        )
    )


async def record_many(
    session: AsyncSession,
    action: AuditAction,
    *,
    via: Via,
    actor_id: int | None,
    case_ids: Sequence[int],
    subjects: Mapping[int, int | None] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """One row per case (a list of cases shown at once): each view is its own row, naming the
    case's subject (``subjects``: case id → person id) so that ``congdoan audit --person``
    finds who read about them."""
    if not case_ids:
        return
    when = at or utcnow()
    await session.execute(
        insert(audit_events),
        [
            {
                "at": when,
                "action": action.value,
                "via": via,
                "actor_id": actor_id,
                "case_id": case_id,
                "person_id": (subjects or {}).get(case_id),
                "detail": "{}",
            }
            for case_id in case_ids
        ],
    )


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    action: AuditAction
    via: str
    actor_id: int | None
    person_id: int | None
    case_id: int | None
    unit_id: int | None
    detail: dict[str, object]


async def rows(
    session: AsyncSession,
    *,
    person_id: int | None = None,
    since: dt.datetime | None = None,
    actions: Sequence[AuditAction] = (),
    limit: int | None = None,
) -> list[AuditRow]:
    """The trail, oldest first: everything done by or about ``person_id`` (as the actor or
    the subject), from ``since`` on."""
    t = audit_events.c
    query = select(audit_events).order_by(t.id)
    if person_id is not None:
        query = query.where((t.person_id == person_id) | (t.actor_id == person_id))
    if since is not None:
        query = query.where(t.at >= since)
    if actions:
        query = query.where(t.action.in_([a.value for a in actions]))
    if limit is not None:
        query = query.limit(limit)
    found = (await session.execute(query)).mappings().all()
    return [
        AuditRow(
            id=row["id"],
            at=row["at"],
            action=AuditAction(row["action"]),
            via=row["via"],
            actor_id=row["actor_id"],
            person_id=row["person_id"],
            case_id=row["case_id"],
            unit_id=row["unit_id"],
            detail=json.loads(row["detail"] or "{}"),
        )
        for row in found
    ]
