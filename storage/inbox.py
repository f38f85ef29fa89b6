"""The inbox: every incoming update is stored before the platform is told it was received."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Channel, InboxUpdate, utcnow

MAX_ATTEMPTS = 3


async def store_updates(
    session: AsyncSession, *, channel: Channel, updates: Sequence[tuple[int, str]]
) -> int:
    """Insert (update_id, payload) pairs; an update already stored is ignored.

    Returns how many were new.
    """
    if not updates:
        return 0
    rows = [
        {
            "channel": channel,
            "update_id": uid,
            "payload": payload,
            "attempts": 0,
            "received_at": utcnow(),
        }
        for uid, payload in updates
    ]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(InboxUpdate)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["channel", "update_id"])
    )
    result = await session.execute(stmt)
    count: int = getattr(result, "rowcount", 0) or 0
    return count


async def pending_updates(
    session: AsyncSession, *, channel: Channel, limit: int = 100
) -> list[InboxUpdate]:
    """Updates received but not handled yet, oldest first."""
    stmt = (
        select(InboxUpdate)
        .where(col(InboxUpdate.channel) == channel)
        .where(col(InboxUpdate.handled_at).is_(None))
        .order_by(col(InboxUpdate.update_id))
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def claim_for_handling(session: AsyncSession, *, inbox_id: int) -> bool:
    """Mark an update handled, inside the transaction of its handling.

    Returns False when another worker had already handled it (then the caller does nothing).
    """
    stmt = (
        update(InboxUpdate)
        .where(col(InboxUpdate.id) == inbox_id)
        .where(col(InboxUpdate.handled_at).is_(None))
        .values(handled_at=utcnow())
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def record_failure(session: AsyncSession, *, inbox_id: int, error: str) -> bool:
    """Count a failed attempt; after MAX_ATTEMPTS the update is set aside as handled.

    Returns True when the update was set aside (it will not be tried again).
    """
    row = await session.get(InboxUpdate, inbox_id)
    if row is None:
        return True
    row.attempts += 1
    row.error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.handled_at = utcnow()
        return True
    return False


async def purge_handled(session: AsyncSession, *, older_than: dt.datetime) -> None:
    """Drop handled updates older than a cut-off (the inbox is not an archive)."""
    await session.execute(
        delete(InboxUpdate)
        .where(col(InboxUpdate.handled_at).is_not(None))
        .where(col(InboxUpdate.handled_at) < older_than)
    )
