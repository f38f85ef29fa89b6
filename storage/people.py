"""Queries over the roster (units and people) used by onboarding and access checks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import Person, Role, Unit, UnitKind, WorkStatus, utcnow


async def person_by_phone(session: AsyncSession, *, phone: str) -> Person | None:
    return (
        await session.execute(select(Person).where(col(Person.phone) == phone))
    ).scalar_one_or_none()


async def get_person(session: AsyncSession, *, person_id: int) -> Person | None:
    return await session.get(Person, person_id)


async def get_unit(session: AsyncSession, *, unit_id: int) -> Unit | None:
    return await session.get(Unit, unit_id)


async def unit_by_invite(session: AsyncSession, *, code: str) -> Unit | None:
    return (
        await session.execute(select(Unit).where(col(Unit.invite_code) == code))
    ).scalar_one_or_none()


async def root_unit(session: AsyncSession) -> Unit | None:
    """The top of the tree (the provincial union)."""
    stmt = select(Unit).where(col(Unit.parent_id).is_(None)).order_by(col(Unit.id)).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def units_in_subtree(
    session: AsyncSession, *, path: str, kinds: tuple[UnitKind, ...] | None = None
) -> list[Unit]:
    stmt = select(Unit).where(col(Unit.path).startswith(path)).order_by(col(Unit.path))
    if kinds:
        stmt = stmt.where(col(Unit.kind).in_(kinds))
    return list((await session.execute(stmt)).scalars())


async def officers_for_unit(session: AsyncSession, *, unit: Unit) -> list[Person]:
    """Officers and admins whose responsibility covers ``unit`` (its own or an ancestor's)."""
    ancestor_ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    stmt = (
        select(Person)
        .where(col(Person.role).in_((Role.OFFICER, Role.ADMIN)))
        .where(col(Person.officer_unit_id).in_(ancestor_ids))
        .order_by(col(Person.id))
    )
    return list((await session.execute(stmt)).scalars())


async def admins(session: AsyncSession) -> list[Person]:
    stmt = select(Person).where(col(Person.role) == Role.ADMIN).order_by(col(Person.id))
    return list((await session.execute(stmt)).scalars())


async def set_work_status(
    session: AsyncSession, *, person: Person, status: WorkStatus, left_on: dt.date | None
) -> None:
    """Record that a person left the sector on ``left_on`` (or, active, is back): no commit."""
    person.work_status = status
    person.left_on = left_on
    person.updated_at = utcnow()
    await session.flush()
