"""Roster queries for the bulk import: load everything once, then write in batches.

The importer (``bot/roster.py``) reads all units and people into memory with two queries, works
out what changes, and writes with executemany statements: never one query per row.  Nothing
here commits: the caller owns the transaction, so an import is all or nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Gender, Person, Role, Unit, UnitKind, WorkStatus

BATCH = 1000


class UnitRecord(NamedTuple):
    id: int
    code: str
    name: str
    kind: UnitKind
    parent_id: int | None
    path: str
    is_public: bool
    staff_count: int
    invite_code: str | None


class PersonRecord(NamedTuple):
    id: int
    full_name: str
    phone: str | None
    staff_code: str | None
    unit_id: int
    is_member: bool
    gender: Gender
    role: Role
    officer_unit_id: int | None
    tags: str
    work_status: WorkStatus
    left_on: dt.date | None


async def all_units(session: AsyncSession) -> list[UnitRecord]:
    """Every unit, as plain tuples (ordered by id)."""
    stmt = select(
        col(Unit.id),
        col(Unit.code),
        col(Unit.name),
        col(Unit.kind),
        col(Unit.parent_id),
        col(Unit.path),
        col(Unit.is_public),
        col(Unit.staff_count),
        col(Unit.invite_code),
    ).order_by(col(Unit.id))
    result = await session.execute(stmt)
    return [UnitRecord._make(row) for row in result.all()]


async def all_people(session: AsyncSession) -> list[PersonRecord]:
    """Every person, as plain tuples (ordered by id): one query, no ORM objects."""
    stmt = select(
        col(Person.id),
        col(Person.full_name),
        col(Person.phone),
        col(Person.staff_code),
        col(Person.unit_id),
        col(Person.is_member),
        col(Person.gender),
        col(Person.role),
        col(Person.officer_unit_id),
        col(Person.tags),
        col(Person.work_status),
        col(Person.left_on),
    ).order_by(col(Person.id))
    result = await session.execute(stmt)
    return [PersonRecord._make(row) for row in result.all()]


async def insert_units(
    session: AsyncSession, *, rows: Sequence[Mapping[str, Any]], now: dt.datetime
) -> dict[str, int]:
    """Insert units (dicts of Unit columns without id); returns code → new id."""
    if not rows:
        return {}
    values = [{**row, "created_at": now, "updated_at": now} for row in rows]
    ids: dict[str, int] = {}
    for start in range(0, len(values), BATCH):
        result = await session.execute(
            insert(Unit).returning(col(Unit.id), col(Unit.code)), values[start : start + BATCH]
        )
        ids.update({code: cast(int, unit_id) for unit_id, code in result.all()})
    return ids


async def update_units(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk update units by primary key; each dict holds ``id`` and the columns to set."""
    for start in range(0, len(rows), BATCH):
        await session.execute(update(Unit), list(rows[start : start + BATCH]))


async def insert_people(
    session: AsyncSession, *, rows: Sequence[Mapping[str, Any]], now: dt.datetime
) -> None:
    """Insert people (dicts of Person columns without id) in batches of executemany."""
    for start in range(0, len(rows), BATCH):
        batch = [
            {**row, "created_at": now, "updated_at": now} for row in rows[start : start + BATCH]
        ]
        await session.execute(insert(Person), batch)


async def update_people(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk update people by primary key; each dict holds ``id`` and the columns to set."""
    for start in range(0, len(rows), BATCH):
        await session.execute(update(Person), list(rows[start : start + BATCH]))


async def refresh_statistics(session: AsyncSession) -> None:
    """Update the query planner's statistics of the roster tables after a large write."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        await session.execute(text("ANALYZE units"))
        await session.execute(text("ANALYZE people"))
    elif dialect == "sqlite":
        await session.execute(text("ANALYZE"))
