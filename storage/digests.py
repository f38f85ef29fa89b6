"""The officers' weekly digest: who is due one this week, and that it was written.

A digest is due to every officer and admin who keeps ``people.weekly_digest`` on, has a linked
chat (on any channel: their newest is written to) and has no ``digests_sent`` row for the ISO
week (``2026-W49``).  Writing the ``digests_sent`` row is the claim: unique on (person, week),
so however often the scheduler ticks, and whatever the batch size, each officer gets one digest
a week.

Functions are keyword-only after the session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaigns import not_completed  # the one rule of "completed" for a campaign target
from storage.chats import latest_linked_chat
from storage.models import Channel, Role
from storage.tables import chats, people, runs, targets, units
from storage.tables import digests_sent as sent


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


@dataclass(frozen=True)
class DueOfficer:
    """An officer (or admin) due this week's digest, with their newest linked chat."""

    person_id: int
    chat_id: int
    channel: Channel
    external_id: str
    locale: str | None


async def officers_due(
    session: AsyncSession,
    *,
    week: str,
    limit: int,
) -> list[DueOfficer]:
    """Officers and admins with ``weekly_digest`` on and a linked chat (their newest, on its
    channel) who have no digest recorded for ``week``: at most ``limit``, by person id."""
    latest = latest_linked_chat()
    already = exists().where(sent.c.person_id == people.c.id, sent.c.week == week).correlate(people)
    stmt = (
        select(people.c.id, chats.c.id, chats.c.channel, chats.c.external_id, chats.c.locale)
        .select_from(
            people.join(latest, latest.c.person_id == people.c.id).join(
                chats, chats.c.id == latest.c.chat_id
            )
        )
        .where(
            people.c.role.in_([Role.OFFICER, Role.ADMIN]),
            people.c.weekly_digest.is_(True),
            ~already,
        )
        .order_by(people.c.id)
        .limit(limit)
    )
    return [
        DueOfficer(int(pid), int(cid), Channel(ch), str(ext), None if loc is None else str(loc))
        for pid, cid, ch, ext, loc in (await session.execute(stmt)).all()
    ]


async def mark_sent(session: AsyncSession, *, person_id: int, week: str, at: dt.datetime) -> bool:
    """Record that ``person_id``'s digest for ``week`` was written.  False when it already was
    (by an earlier pass, or a concurrent one): the caller then writes nothing."""
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    stmt = (
        insert(sent)
        .values(person_id=person_id, week=week, sent_at=at)
        .on_conflict_do_nothing(index_elements=["person_id", "week"])
        .returning(sent.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def weeks_sent(session: AsyncSession, *, person_id: int) -> list[str]:
    """The weeks a digest was recorded for ``person_id``, oldest first."""
    stmt = select(sent.c.week).where(sent.c.person_id == person_id).order_by(sent.c.week)
    return [str(w) for w in (await session.scalars(stmt)).all()]


async def pending_counts_in_subtree(
    session: AsyncSession, *, run_ids: Sequence[int], path: str
) -> dict[str, int]:
    """How many targets of any of ``run_ids`` inside the subtree ``path`` have not completed
    (distinct people), keyed by the path of the unit they answer for (one GROUP BY); the
    counterpart of :func:`storage.campaigns.pending_in_subtree`, whose names are capped."""
    if not run_ids:
        return {}
    unit = units.alias("target_unit")
    stmt: Any = (
        select(unit.c.path, func.count(distinct(targets.c.person_id)))
        .select_from(
            targets.join(runs, runs.c.id == targets.c.run_id).join(
                unit, unit.c.id == targets.c.unit_id
            )
        )
        .where(
            targets.c.run_id.in_(list(run_ids)),
            unit.c.path.startswith(path, autoescape=True),
            not_completed(runs.c.per_unit),
        )
        .group_by(unit.c.path)
    )
    return {str(p): int(n) for p, n in (await session.execute(stmt)).all()}
