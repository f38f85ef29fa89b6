"""Correction requests (name, phone, unit) a member makes and an officer decides.

A request whose ``new_value`` is still empty (and names no new unit) is the member's choice of
a field, waiting for the value they type next: the conversation state of a correction lives in
this table, with no column on the chat.  Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.chats import preference
from storage.db import rowcount
from storage.models import (
    ChatIdentity,
    ChatStage,
    CorrectionRequest,
    CorrectionStatus,
    Person,
    Unit,
    utcnow,
)
from storage.tables import chats, correction_requests


def _waiting() -> list[object]:
    return [
        col(CorrectionRequest.status) == CorrectionStatus.PENDING,
        col(CorrectionRequest.new_value) == "",
        col(CorrectionRequest.new_unit_id).is_(None),
    ]


async def waiting_for(session: AsyncSession, *, person_id: int) -> CorrectionRequest | None:
    """The person's newest request that waits for its value (none: not in a correction)."""
    stmt = (
        select(CorrectionRequest)
        .where(col(CorrectionRequest.person_id) == person_id, *_waiting())  # type: ignore[arg-type]
        .order_by(col(CorrectionRequest.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def drop_waiting(session: AsyncSession, *, person_id: int) -> int:
    """Forget the person's requests still waiting for a value (given up, or started anew)."""
    t = correction_requests.c
    result = await session.execute(
        delete(correction_requests).where(
            t.person_id == person_id,
            t.status == CorrectionStatus.PENDING.value,
            t.new_value == "",
            t.new_unit_id.is_(None),
        )
    )
    return rowcount(result)


async def add(
    session: AsyncSession, *, person_id: int, field: str, old_value: str, unit_id: int
) -> CorrectionRequest:
    """A request for ``field``, waiting for its value."""
    request = CorrectionRequest(
        person_id=person_id, field=field, old_value=old_value[:255], unit_id=unit_id
    )
    session.add(request)
    await session.flush()
    return request


@dataclass(frozen=True)
class PendingCorrection:
    """A request waiting for an officer, with the member and the unit they are in now."""

    request: CorrectionRequest
    person: Person
    unit: Unit  # the member's unit now
    body: Unit  # the union body whose officers decide (``request.unit_id``)


async def pending_in_scope(
    session: AsyncSession, *, path: str, limit: int | None = None
) -> list[PendingCorrection]:
    """Requests with their value, not decided yet, whose deciding body is under ``path``;
    the oldest first."""
    body = Unit.__table__.alias("body")  # type: ignore[attr-defined]
    stmt = (
        select(CorrectionRequest, Person, Unit, body.c.id)
        .join(Person, col(Person.id) == col(CorrectionRequest.person_id))
        .join(Unit, col(Unit.id) == col(Person.unit_id))
        .join(body, body.c.id == col(CorrectionRequest.unit_id))
        .where(
            col(CorrectionRequest.status) == CorrectionStatus.PENDING,
            (col(CorrectionRequest.new_value) != "")
            | col(CorrectionRequest.new_unit_id).is_not(None),
            body.c.path.startswith(path),
        )
        .order_by(col(CorrectionRequest.created_at), col(CorrectionRequest.id))
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    bodies = {
        u.id: u
        for u in (
            await session.execute(select(Unit).where(col(Unit.id).in_({r[3] for r in rows})))
        ).scalars()
    }
    return [PendingCorrection(r[0], r[1], r[2], bodies[r[3]]) for r in rows]


async def decide(
    session: AsyncSession,
    *,
    request_id: int,
    status: CorrectionStatus,
    decided_by: int,
    at: dt.datetime | None = None,
) -> bool:
    """Mark a request decided, if it still waits: False when someone decided it first (two
    presses at once: only one wins, whatever the database)."""
    t = correction_requests.c
    result = await session.execute(
        update(correction_requests)
        .where(
            and_(
                t.id == request_id,
                t.status == CorrectionStatus.PENDING.value,
                (t.new_value != "") | t.new_unit_id.is_not(None),
            )
        )
        .values(status=status.value, decided_by=decided_by, decided_at=at or utcnow())
    )
    return rowcount(result) == 1


async def chat_of(session: AsyncSession, *, person_id: int) -> ChatIdentity | None:
    """The person's chat that messages go to (the one chosen with /kenh, else last used)."""
    stmt = (
        select(ChatIdentity)
        .where(
            col(ChatIdentity.person_id) == person_id, col(ChatIdentity.stage) == ChatStage.LINKED
        )
        .order_by(*preference(chats))
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
