"""Closing a year: its indicator figures frozen, as they were reported after the yearly review.

An admin closes a past year (``congdoan year close 2025``).  The year's tallies are first
brought up to date for every unit and every source the catalog reads (as a report refreshes
its stale units), then copied into the snapshot in the same transaction, and the year is
marked closed; an audit row records who did it.  From then on every report of that year reads
the snapshot (:mod:`bot.indicators.compute`): a late answer, a case's new status, a
withdrawal of consent, an erasure or the retention purge no longer moves its figures.

There is no reopening.  A closed year's figures are those reported to the superior union, and
the purge may since have deleted the facts they were counted from: recounting them would give
other, poorer figures with nothing to say so.  Closing is asked for explicitly (the command
line confirms) and refused for the current year, whose figures are still moving.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.indicators.catalog import Catalog
from bot.indicators.compute import tallied_families
from storage import audit
from storage import indicators as q
from storage import years as year_store
from storage.audit import Via
from storage.models import AuditAction
from storage.years import ClosedYearInfo


class CloseOutcome(StrEnum):
    """What a request to close a year did (the command line and the chat say which)."""

    CLOSED = "closed"
    NOT_PAST = "not_past"  # the current year, or a later one: its figures still move
    ALREADY_CLOSED = "already_closed"


@dataclass(frozen=True)
class Closing:
    """What closing a year did: ``closed`` is the new closing, or the earlier one when the
    year was closed already; ``rows``: the snapshot's rows (units × sources); ``recounted``:
    the units whose tallies were recomputed first."""

    outcome: CloseOutcome
    year: int
    closed: ClosedYearInfo | None = None
    rows: int = 0
    recounted: int = 0


async def close_year(
    session: AsyncSession,
    *,
    year: int,
    catalog: Catalog,
    now: dt.datetime,
    tz: dt.tzinfo,
    actor_id: int | None,
    via: Via,
) -> Closing:
    """Freeze ``year``'s figures (see the module's docstring).  ``now`` (aware) in ``tz``,
    the union's zone, decides which year is current and the day the reports print.  Writes;
    the caller commits."""
    today = now.astimezone(tz).date()
    if year >= today.year:
        return Closing(CloseOutcome.NOT_PAST, year)
    closed_at = now.astimezone(dt.UTC)
    if not await year_store.mark_closed(
        session, year=year, closed_at=closed_at, closed_on=today, closed_by=actor_id
    ):
        earlier = await year_store.closed_year(session, year=year)
        return Closing(CloseOutcome.ALREADY_CLOSED, year, earlier)
    families = tallied_families(catalog)
    await q.plan_for_reports(session)
    recounted = 0
    for scope in await q.top_scopes(session):
        refreshed = await q.refresh_tallies(session, scope=scope, year=year, families=families)
        recounted += refreshed.computed
    rows = await year_store.freeze(session, year=year, sources=q.tally_sources(families))
    await audit.record(
        session,
        AuditAction.YEAR_CLOSED,
        via=via,
        actor_id=actor_id,
        detail={"year": year, "rows": rows},
        at=closed_at,
    )
    info = ClosedYearInfo(year=year, closed_at=closed_at, closed_on=today, closed_by=actor_id)
    return Closing(CloseOutcome.CLOSED, year, info, rows, recounted)


async def closed_years(session: AsyncSession) -> list[ClosedYearInfo]:
    """Every closed year, the latest first."""
    return await year_store.closed(session)
