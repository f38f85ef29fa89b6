"""The inbox: every incoming update is stored before the platform is told it was received.

See :class:`storage.models.InboxUpdate` for a row's life.  Every function here runs in the
caller's transaction and never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Channel, InboxUpdate, utcnow
from storage.redact import safe_text

INBOX: Table = InboxUpdate.__table__  # type: ignore[attr-defined]
ERROR_MAX = 2000
CHUNK = 500


@dataclass(frozen=True)
class Stored:
    """An update as the runner reads it back."""

    id: int
    update_id: int
    payload: str
    attempts: int = 0
    replies: str | None = None  # for an update handled but not yet answered


@dataclass(frozen=True)
class SetAside:
    """An update set aside as poison, for an operator."""

    id: int
    update_id: int
    attempts: int
    error: str | None
    received_at: dt.datetime
    failed_at: dt.datetime
    payload: str


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def store_updates(
    session: AsyncSession,
    *,
    channel: Channel,
    updates: Sequence[tuple[int, str]] | Sequence[tuple[int, str, str]],
) -> int:
    """Insert (update_id, payload) pairs, or (update_id, payload, key) triples when the
    platform's id of an update is not its order number (Zalo's message ids); an update already
    stored under the same key is ignored.

    Returns how many were new.
    """
    if not updates:
        return 0
    now = utcnow()
    rows = [
        {
            "channel": channel,
            "update_id": item[0],
            "update_key": item[2] if len(item) > 2 else str(item[0]),
            "payload": item[1],
            "attempts": 0,
            "received_at": now,
        }
        for item in updates
    ]
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    stmt = (
        insert(INBOX)
        .on_conflict_do_nothing(index_elements=["channel", "update_key"])
        .returning(INBOX.c.id)
    )
    stored = 0
    for start in range(0, len(rows), CHUNK):
        stored += len((await session.execute(stmt, rows[start : start + CHUNK])).all())
    return stored


def _pending() -> list[ColumnElement[bool]]:
    c = INBOX.c
    return [c.handled_at.is_(None), c.failed_at.is_(None)]


async def pending_after(
    session: AsyncSession, *, channel: Channel, after_id: int, limit: int
) -> list[Stored]:
    """Updates waiting to be handled whose row id is above ``after_id``, in arrival order."""
    c = INBOX.c
    stmt = (
        select(c.id, c.update_id, c.payload, c.attempts)
        .where(c.channel == channel, c.id > after_id, *_pending())
        .order_by(c.id)
        .limit(limit)
    )
    return [Stored(r.id, r.update_id, r.payload, r.attempts) for r in await session.execute(stmt)]


async def pending_ids(session: AsyncSession, *, channel: Channel, up_to: int) -> list[int]:
    """The ids of updates waiting at or below ``up_to`` (an update an operator replayed)."""
    c = INBOX.c
    stmt = select(c.id).where(c.channel == channel, c.id <= up_to, *_pending()).order_by(c.id)
    return list((await session.execute(stmt)).scalars())


async def load(session: AsyncSession, *, ids: Sequence[int]) -> list[Stored]:
    """Waiting updates by id, in arrival order."""
    c = INBOX.c
    out: list[Stored] = []
    for start in range(0, len(ids), CHUNK):
        stmt = (
            select(c.id, c.update_id, c.payload, c.attempts)
            .where(c.id.in_(list(ids[start : start + CHUNK])), *_pending())
            .order_by(c.id)
        )
        out += [
            Stored(r.id, r.update_id, r.payload, r.attempts) for r in await session.execute(stmt)
        ]
    return out


async def unreplied(session: AsyncSession, *, channel: Channel, limit: int = 1000) -> list[Stored]:
    """Updates handled (or set aside with an apology) whose replies were not all sent: a
    crash came between the commit and the send."""
    c = INBOX.c
    stmt = (
        select(c.id, c.update_id, c.payload, c.attempts, c.replies)
        .where(
            c.channel == channel,
            c.handled_at.is_not(None) | c.failed_at.is_not(None),
            c.replied_at.is_(None),
        )
        .order_by(c.id)
        .limit(limit)
    )
    return [
        Stored(r.id, r.update_id, r.payload, r.attempts, r.replies)
        for r in await session.execute(stmt)
    ]


async def mark_handled(session: AsyncSession, *, inbox_id: int, replies: str | None) -> bool:
    """Mark an update handled, with the replies to send, inside the transaction of its
    effects (the last statement before the commit, so that the write lock is taken late).

    An update with nothing to answer is replied at once.  Returns False when the update was
    handled (or set aside) already: then the caller rolls back and does nothing.
    """
    now = utcnow()
    c = INBOX.c
    stmt = (
        update(INBOX)
        .where(c.id == inbox_id, *_pending())
        .values(handled_at=now, replies=replies, replied_at=None if replies else now)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def record_attempt(session: AsyncSession, *, inbox_id: int, error: str) -> int:
    """Count a failed attempt and keep its error; returns the attempts so far."""
    c = INBOX.c
    stmt = (
        update(INBOX)
        .where(c.id == inbox_id, *_pending())
        .values(attempts=c.attempts + 1, error=safe_text(error, limit=ERROR_MAX))
        .returning(c.attempts)
    )
    row = (await session.execute(stmt)).first()
    return int(row[0]) if row is not None else 0


async def set_aside(
    session: AsyncSession, *, inbox_id: int, error: str, replies: str | None
) -> bool:
    """Set a failing update aside (poison), with its error and the apology to send."""
    now = utcnow()
    c = INBOX.c
    stmt = (
        update(INBOX)
        .where(c.id == inbox_id, *_pending())
        .values(
            failed_at=now,
            attempts=c.attempts + 1,
            error=safe_text(error, limit=ERROR_MAX),
            replies=replies,
            replied_at=None if replies else now,
        )
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def mark_replied(session: AsyncSession, *, ids: Sequence[int]) -> None:
    """Every reply of these updates was sent or given up.  The replies themselves are dropped:
    sent, they are of no more use, and they hold what members were told (their own data, even
    a whole /dulieu file) that would otherwise wait for the retention purge."""
    now = utcnow()
    c = INBOX.c
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        await session.execute(
            update(INBOX)
            .where(c.id.in_(chunk), c.replied_at.is_(None))
            .values(replied_at=now, replies=None)
        )


async def set_aside_updates(
    session: AsyncSession,
    *,
    channel: Channel | None = None,
    limit: int = 100,
    inbox_id: int | None = None,
) -> list[SetAside]:
    """Updates set aside as poison (or the one with ``inbox_id``), the latest first."""
    c = INBOX.c
    stmt = select(
        c.id, c.update_id, c.attempts, c.error, c.received_at, c.failed_at, c.payload
    ).where(c.failed_at.is_not(None))
    if channel is not None:
        stmt = stmt.where(c.channel == channel)
    if inbox_id is not None:
        stmt = stmt.where(c.id == inbox_id)
    stmt = stmt.order_by(c.failed_at.desc(), c.id.desc()).limit(limit)
    return [
        SetAside(r.id, r.update_id, r.attempts, r.error, r.received_at, r.failed_at, r.payload)
        for r in await session.execute(stmt)
    ]


async def replay(session: AsyncSession, *, inbox_id: int) -> bool:
    """Put a set-aside update back in line, its attempts reset; False if it is not set aside."""
    c = INBOX.c
    stmt = (
        update(INBOX)
        .where(c.id == inbox_id, c.failed_at.is_not(None), c.handled_at.is_(None))
        .values(failed_at=None, attempts=0, error=None, replies=None, replied_at=None)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def counts(session: AsyncSession, *, channel: Channel) -> dict[str, int]:
    """How many updates are waiting, set aside, and handled with replies not yet out."""
    c = INBOX.c
    stmt = select(
        func.count().filter(c.handled_at.is_(None), c.failed_at.is_(None)),
        func.count().filter(c.failed_at.is_not(None)),
        func.count().filter(c.handled_at.is_not(None), c.replied_at.is_(None)),
    ).where(c.channel == channel)
    waiting, set_aside_, unanswered = (await session.execute(stmt)).one()
    return {"waiting": waiting, "set_aside": set_aside_, "unreplied": unanswered}
