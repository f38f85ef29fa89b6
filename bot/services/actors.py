"""Who is talking: the chat, the roster person behind it (once linked), and their rights."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from storage import chats, people
from storage.models import Channel, ChatIdentity, ChatStage, Person, Role, Unit
from surveys.normalize import fold


@dataclass
class Actor:
    """The sender of an update, loaded once per update by the chat layer."""

    chat: ChatIdentity
    person: Person | None = None
    unit: Unit | None = None
    scope: Unit | None = None  # the unit an officer or admin answers for

    @property
    def linked(self) -> bool:
        return self.person is not None and self.chat.stage == ChatStage.LINKED

    @property
    def role(self) -> Role | None:
        return self.person.role if self.linked and self.person is not None else None

    @property
    def is_officer(self) -> bool:
        return self.role in (Role.OFFICER, Role.ADMIN) and self.scope is not None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN and self.scope is not None

    @property
    def locale(self) -> str:
        return self.chat.locale

    @property
    def chat_id(self) -> int:
        assert self.chat.id is not None
        return self.chat.id

    def can_see(self, unit: Unit) -> bool:
        """An officer sees their unit's subtree; an admin sees everything."""
        if self.is_admin:
            return True
        return self.is_officer and self.scope is not None and unit.path.startswith(self.scope.path)


async def load_actor(
    session: AsyncSession, *, channel: Channel, external_id: str, locale: str
) -> Actor:
    chat = await chats.get_or_create_chat(
        session, channel=channel, external_id=external_id, locale=locale
    )
    actor = Actor(chat=chat)
    if chat.person_id is not None:
        actor.person = await people.get_person(session, person_id=chat.person_id)
    if actor.person is not None:
        actor.unit = await people.get_unit(session, unit_id=actor.person.unit_id)
        if actor.person.role == Role.ADMIN:
            actor.scope = await people.root_unit(session)
        elif actor.person.role == Role.OFFICER:
            scope_id = actor.person.officer_unit_id or actor.person.unit_id
            actor.scope = await people.get_unit(session, unit_id=scope_id)
    return actor


async def resolve_scope(session: AsyncSession, *, actor: Actor, text: str | None) -> Unit | None:
    """The unit named by ``text`` (code or part of the name) within what ``actor`` may see.

    Without text, the actor's own scope.  None when nothing visible matches.
    """
    if actor.scope is None:
        return None
    if not text:
        return actor.scope
    within = "/" if actor.is_admin else actor.scope.path
    return await find_unit(session, text=text, within_path=within)


async def find_unit(session: AsyncSession, *, text: str, within_path: str = "/") -> Unit | None:
    """A unit of a subtree named by its code, or by its name or part of it.

    Matching ignores case and Vietnamese diacritics ("da lat" finds "Đà Lạt"); an exact code
    or name wins over a partial name, and a higher unit over a lower one.
    """
    needle = fold(text)
    if not needle:
        return None
    units = [
        (u, fold(u.code), fold(u.name))
        for u in await people.units_in_subtree(session, path=within_path)
    ]
    for rank in range(3):
        found = [
            u for u, code, name in units if (code == needle, name == needle, needle in name)[rank]
        ]
        if found:
            return min(found, key=lambda u: (u.path.count("/"), u.path))
    return None
