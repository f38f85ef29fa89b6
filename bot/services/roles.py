"""Admins assign roles: who is an officer, and for which unit."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.services.actors import Actor, load_actor
from bot.texts import label, render
from storage import audit, campaigns, chats, outbox, people
from storage.models import AuditAction, ChatStage, DeliveryKind, Person, Role, Unit, utcnow
from surveys.phone import normalize_phone

_ROLE_WORDS = frozenset(r.value for r in Role)


class RoleOutcome(StrEnum):
    SET = "set"
    USAGE = "usage"
    NO_PERSON = "no_person"
    NO_UNIT = "no_unit"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class RoleRequest:
    """``/role PHONE ROLE [UNIT-CODE]``, split."""

    phone: str
    role: str
    unit_code: str | None = None


@dataclass(frozen=True)
class RoleChange:
    outcome: RoleOutcome
    person: Person | None = None
    role: Role | None = None
    #: The unit an officer now answers for.
    scope: Unit | None = None
    #: The changed person as each of their linked chats sees them now: who to tell, and
    #: whose command menu to refresh.
    reached: tuple[Actor, ...] = ()


def parse_role_args(text: str | None) -> RoleRequest | None:
    """The arguments of ``/role``: the phone as people write it and as the bot prints it, in
    groups ("0345 271 908") or not, then the role word, then perhaps a unit code.  The words
    before the first role word are the phone.  None when there is no phone or no role word,
    or more than a unit code after it."""
    words = (text or "").split()
    for index, word in enumerate(words):
        if index > 0 and word.lower() in _ROLE_WORDS:
            rest = words[index + 1 :]
            if len(rest) > 1:
                return None
            return RoleRequest(" ".join(words[:index]), word.lower(), rest[0] if rest else None)
    return None


async def set_role(
    session: AsyncSession, *, actor: Actor, phone: str, role: str, unit_code: str | None
) -> RoleChange:
    if not actor.is_admin:
        return RoleChange(RoleOutcome.FORBIDDEN)
    normalized = normalize_phone(phone)
    if normalized is None or role not in _ROLE_WORDS:
        return RoleChange(RoleOutcome.USAGE)
    person = await people.person_by_phone(session, phone=normalized)
    if person is None or person.id is None:
        return RoleChange(RoleOutcome.NO_PERSON)
    new_role = Role(role)
    scope: Unit | None = None
    if new_role == Role.OFFICER:
        if unit_code:
            scope = (
                await session.execute(select(Unit).where(col(Unit.code) == unit_code))
            ).scalar_one_or_none()
            if scope is None:
                return RoleChange(RoleOutcome.NO_UNIT)
        else:
            scope = await people.get_unit(session, unit_id=person.unit_id)
    before = (person.role, person.officer_unit_id)
    person.role = new_role
    person.officer_unit_id = scope.id if scope is not None else None
    person.updated_at = utcnow()
    await session.flush()
    if before != (person.role, person.officer_unit_id):
        await audit.record(
            session,
            AuditAction.ROLE_CHANGED,
            via="chat",
            actor_id=actor.person.id if actor.person is not None else None,
            person_id=person.id,
            unit_id=person.officer_unit_id,
            detail={"from": before[0].value, "to": new_role.value, "unit": person.officer_unit_id},
        )
    reached = []
    for chat in await chats.chats_of_person(session, person_id=person.id):
        if chat.stage == ChatStage.LINKED and chat.channel == actor.chat.channel:
            reached.append(
                await load_actor(
                    session, channel=chat.channel, external_id=chat.external_id, locale=chat.locale
                )
            )
    return RoleChange(RoleOutcome.SET, person, new_role, scope, tuple(reached))


async def tell_new_role(session: AsyncSession, *, change: RoleChange, actor: Actor) -> bool:
    """Tell the person of their new role on their own newest linked chat, whatever its channel
    (through the outbox, in that chat's locale); not when it is the admin's own chat (they
    read the answer).  Returns whether a message was queued."""
    person = change.person
    if change.outcome != RoleOutcome.SET or person is None or person.id is None:
        return False
    newest = (await campaigns.linked_chats(session, person_ids=[person.id])).get(person.id)
    if newest is None or newest.chat_id == actor.chat.id:
        return False
    locale = newest.locale or actor.locale
    role = change.role.value if change.role else ""
    text = render(
        "member/role_changed.txt",
        locale,
        role=label("role_name", locale, role=role),
        scope=change.scope,
    )
    row = {
        "kind": DeliveryKind.MESSAGE,
        "person_id": person.id,
        "chat_id": newest.chat_id,
        "channel": newest.channel,
        "external_id": newest.external_id,
        "text": text,
    }
    return await outbox.enqueue(session, rows=[row]) == 1
