"""Closed years: a year's indicator tallies frozen into ``indicator_snapshots``.

Closing is the admin's act after the union's yearly review (``bot.services.years``): the
year's tallies are brought up to date, then copied, and from then on every report of that
year reads the copy (``bot.indicators.compute``), so that nothing done to the facts later (a
late answer, a case's new status, a withdrawal, an erasure, the retention purge) changes the
figures that were reported to the superior union.  Functions are keyword-only after the
session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import rowcount
from storage.tables import closed_years, indicator_snapshots, indicator_tallies

_COUNTS = ("n1", "n2", "n3", "n4", "n5", "n6")


@dataclass(frozen=True)
class ClosedYearInfo:
    """A closed year: when (``closed_at``, UTC; ``closed_on``, the local day it was closed,
    which the reports print) and by whom (None: from the command line)."""

    year: int
    closed_at: dt.datetime
    closed_on: dt.date
    closed_by: int | None


def _info(row: Sequence[Any]) -> ClosedYearInfo:
    year, closed_at, closed_on, closed_by = row
    return ClosedYearInfo(
        year=int(year),
        closed_at=closed_at,
        closed_on=closed_on,
        closed_by=None if closed_by is None else int(closed_by),
    )


_COLUMNS = (
    closed_years.c.year,
    closed_years.c.closed_at,
    closed_years.c.closed_on,
    closed_years.c.closed_by,
)


async def closed_year(session: AsyncSession, *, year: int) -> ClosedYearInfo | None:
    """The year's closing, or None while it is open (one lookup by primary key: every
    report asks)."""
    row = (await session.execute(select(*_COLUMNS).where(closed_years.c.year == year))).first()
    return None if row is None else _info(tuple(row))


async def closed(session: AsyncSession) -> list[ClosedYearInfo]:
    """Every closed year, the latest first."""
    stmt = select(*_COLUMNS).order_by(closed_years.c.year.desc())
    return [_info(tuple(row)) for row in (await session.execute(stmt)).all()]


async def mark_closed(
    session: AsyncSession,
    *,
    year: int,
    closed_at: dt.datetime,
    closed_on: dt.date,
    closed_by: int | None,
) -> bool:
    """Mark the year closed, first of everything a closing writes; False when it was closed
    already.  ``ON CONFLICT DO NOTHING`` on the primary key: a second closing at the same
    moment (the chat and the command line) waits for the first to commit on PostgreSQL, then
    finds the row and is refused like any later one, instead of failing on the key."""
    dialect = session.get_bind().dialect.name
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert_(closed_years)
        .values(year=year, closed_at=closed_at, closed_on=closed_on, closed_by=closed_by)
        .on_conflict_do_nothing(index_elements=[closed_years.c.year])
    )
    return rowcount(await session.execute(stmt)) == 1


async def freeze(session: AsyncSession, *, year: int, sources: Sequence[str]) -> int:
    """Copy the year's tallies of ``sources`` into the snapshot (one ``INSERT … SELECT``);
    returns the number of rows copied.  The year's tallies are then deleted: its reports read
    the snapshot from then on.  The caller marked the year closed (:func:`mark_closed`) and
    brought the tallies up to date first, in the same transaction."""
    t = indicator_tallies
    rows = select(literal(year), t.c.unit_id, t.c.source, *[t.c[name] for name in _COUNTS]).where(
        t.c.year == year, t.c.source.in_(bindparam("sources", expanding=True))
    )
    await session.execute(
        insert(indicator_snapshots).from_select(["year", "unit_id", "source", *_COUNTS], rows),
        {"sources": list(sources)},
    )
    # Nothing reads a closed year's tallies again: the table keeps the open years only.
    await session.execute(delete(indicator_tallies).where(indicator_tallies.c.year == year))
    count = (
        select(func.count())
        .select_from(indicator_snapshots)
        .where(indicator_snapshots.c.year == year)
    )
    return int((await session.execute(count)).scalar_one())
