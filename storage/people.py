"""Queries over the roster (units and people) used by onboarding and access checks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import ChatStage, Person, Role, Unit, UnitKind, WorkStatus, utcnow
from storage.tables import chats, people


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


def path_ids(path: str) -> list[int]:
    """The unit ids on a unit's path, the root first and the unit last (``/1/5/12/``)."""
    return [int(part) for part in path.strip("/").split("/") if part]


async def union_bodies_above(session: AsyncSession, *, unit: Unit) -> list[Unit]:
    """The union bodies that answer for ``unit``, nearest first: its CĐCS, the district
    union, the province (a tổ has no officers of its own)."""
    ids = path_ids(unit.path)
    bodies = (UnitKind.GRASSROOTS, UnitKind.DISTRICT, UnitKind.PROVINCE)
    stmt = select(Unit).where(col(Unit.id).in_(ids), col(Unit.kind).in_(bodies))
    by_id = {u.id: u for u in (await session.execute(stmt)).scalars()}
    return [by_id[i] for i in reversed(ids) if i in by_id]


@dataclass(frozen=True)
class Officer:
    """An officer or admin who can be written to: their newest linked chat, on any channel."""

    person_id: int
    chat_id: int
    channel: Any
    external_id: str
    locale: str


async def reachable_officers(
    session: AsyncSession, *, unit_ids: Sequence[int]
) -> dict[int, list[Officer]]:
    """The officers and admins with a linked chat whose office (``officer_unit_id``, else
    their own unit) is one of ``unit_ids``, by that unit.  An officer who withdrew their
    consent is written to no more, work included: their unit counts as having nobody, so what
    would have gone to them goes up a level."""
    if not unit_ids:
        return {}
    p, c = people.c, chats.c
    office = func.coalesce(p.officer_unit_id, p.unit_id)
    linked = chats.alias("linked")
    newest = (
        select(func.max(linked.c.id))
        .where(linked.c.person_id == p.id, linked.c.stage == ChatStage.LINKED)
        .correlate(people)
        .scalar_subquery()
    )
    stmt = (
        select(office, p.id, c.id, c.channel, c.external_id, c.locale)
        .select_from(people.join(chats, c.id == newest))
        .where(
            p.role.in_([Role.OFFICER, Role.ADMIN]),
            office.in_(list(unit_ids)),
            p.consent_withdrawn_at.is_(None),
        )
        .order_by(p.id)
    )
    found: dict[int, list[Officer]] = {}
    for unit_id, person_id, chat_id, channel, external_id, locale in (
        await session.execute(stmt)
    ).all():
        found.setdefault(int(unit_id), []).append(
            Officer(int(person_id), int(chat_id), channel, str(external_id), str(locale))
        )
    return found


async def officers_for_unit(session: AsyncSession, *, unit: Unit) -> list[Person]:
    """Officers and admins whose responsibility covers ``unit`` (its own or an ancestor's)."""
    ancestor_ids = path_ids(unit.path)
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
