"""Admins assign roles: who is an officer, and for which unit."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.services.actors import Actor
from storage import people
from storage.models import Person, Role, Unit, utcnow
from surveys.phone import normalize_phone


class RoleOutcome(StrEnum):
    SET = "set"
    USAGE = "usage"
    NO_PERSON = "no_person"
    NO_UNIT = "no_unit"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class RoleChange:
    outcome: RoleOutcome
    person: Person | None = None
    role: Role | None = None


async def set_role(
    session: AsyncSession, *, actor: Actor, phone: str, role: str, unit_code: str | None
) -> RoleChange:
    if not actor.is_admin:
        return RoleChange(RoleOutcome.FORBIDDEN)
    normalized = normalize_phone(phone)
    if normalized is None or role not in {r.value for r in Role}:
        return RoleChange(RoleOutcome.USAGE)
    person = await people.person_by_phone(session, phone=normalized)
    if person is None:
        return RoleChange(RoleOutcome.NO_PERSON)
    new_role = Role(role)
    scope_id: int | None = None
    if new_role == Role.OFFICER:
        if unit_code:
            unit = (
                await session.execute(select(Unit).where(col(Unit.code) == unit_code))
            ).scalar_one_or_none()
            if unit is None:
                return RoleChange(RoleOutcome.NO_UNIT)
            scope_id = unit.id
        else:
            scope_id = person.unit_id
    person.role = new_role
    person.officer_unit_id = scope_id
    person.updated_at = utcnow()
    await session.flush()
    return RoleChange(RoleOutcome.SET, person, new_role)
