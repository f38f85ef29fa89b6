"""The officers' batched announcement of new work: what waits for them, and what each was last
told of (``officer_news``).

Functions are keyword-only after the session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import (
    Case,
    CaseStatus,
    OfficerNews,
    PendingLink,
    PendingStatus,
    Unit,
    UnitKind,
)
from storage.tables import cases, pending_links


class WorkKind(StrEnum):
    CASE = "case"  # a hardship or legal case reported, not urgent, no officer opened it yet
    LINK = "link"  # a chat asking to be linked, waiting for an officer to confirm it


@dataclass(frozen=True)
class Work:
    kind: WorkKind
    id: int
    unit: Unit | None  # where it belongs (a link request may name no unit)


async def waiting_work(session: AsyncSession) -> list[Work]:
    """Cases (not urgent: those are alerted at once) still as reported that no officer has
    opened, and link requests still pending; by id.  All of them, however old: the
    announcement's "đang chờ" counts must be true (the backlog is what officers have not
    looked at, which seeing a case in /cases or deciding a request ends)."""
    found: list[Work] = []
    case_rows = await session.execute(
        select(cases.c.id, Unit)
        .join(Unit, col(Unit.id) == col(Case.unit_id))
        .where(
            col(Case.urgent).is_(False),
            col(Case.status) == CaseStatus.REPORTED,
            col(Case.opened_at).is_(None),
        )
        .order_by(col(Case.id))
    )
    found.extend(Work(WorkKind.CASE, int(case_id), unit) for case_id, unit in case_rows.all())
    link_rows = await session.execute(
        select(pending_links.c.id, Unit)
        .outerjoin(Unit, col(Unit.id) == col(PendingLink.unit_id))
        .where(col(PendingLink.status) == PendingStatus.PENDING)
        .order_by(col(PendingLink.id))
    )
    found.extend(Work(WorkKind.LINK, int(link_id), unit) for link_id, unit in link_rows.all())
    return found


async def provinces(session: AsyncSession) -> list[Unit]:
    """The province unit(s): who answers for a link request that names no unit."""
    stmt = select(Unit).where(col(Unit.kind) == UnitKind.PROVINCE).order_by(col(Unit.id))
    return list((await session.execute(stmt)).scalars())


async def watermarks(session: AsyncSession, *, person_ids: Sequence[int]) -> dict[int, OfficerNews]:
    if not person_ids:
        return {}
    stmt = select(OfficerNews).where(col(OfficerNews.person_id).in_(list(person_ids)))
    return {row.person_id: row for row in (await session.execute(stmt)).scalars()}


async def record(
    session: AsyncSession,
    *,
    known: OfficerNews | None,
    person_id: int,
    last_case_id: int,
    last_pending_id: int,
    at: dt.datetime,
) -> None:
    """That the officer was told of everything up to these ids at ``at``."""
    row = known or OfficerNews(person_id=person_id)
    row.last_case_id = max(row.last_case_id, last_case_id)
    row.last_pending_id = max(row.last_pending_id, last_pending_id)
    row.announced_at = at
    session.add(row)
    await session.flush()
