"""Who is talking: the chat, the roster person behind it (once linked), and their rights."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from storage import chats, people
from storage.models import Channel, ChatIdentity, ChatStage, Person, Role, Unit
from surveys.normalize import fold
from surveys.phone import normalize_phone


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
    found = await chats.chat_with_person(session, channel=channel, external_id=external_id)
    if found is None:
        chat = await chats.get_or_create_chat(
            session, channel=channel, external_id=external_id, locale=locale
        )
        return Actor(chat=chat)
    chat, person, unit = found
    actor = Actor(chat=chat)
    if person is not None:
        actor.person, actor.unit = person, unit
        actor.scope = await scope_of(session, person=person)
    return actor


async def scope_of(session: AsyncSession, *, person: Person) -> Unit | None:
    """The unit a person answers for: the root unit for an admin, their office
    (``officer_unit_id``, else their own unit) for an officer, none for a member."""
    if person.role == Role.ADMIN:
        return await people.root_unit(session)
    if person.role == Role.OFFICER:
        return await people.get_unit(session, unit_id=person.officer_unit_id or person.unit_id)
    return None


async def _place(session: AsyncSession, actor: Actor, person: Person) -> None:
    """Fill in the person, their unit and, for officers and admins, their scope."""
    actor.person = person
    actor.unit = await people.get_unit(session, unit_id=person.unit_id)
    actor.scope = await scope_of(session, person=person)


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


async def web_actor(session: AsyncSession, *, person_id: int, locale: str) -> Actor | None:
    """The officer or admin behind a dashboard session, as they are now (a role taken away or
    an erasure ends what the session may do at its next request); None for anyone else.  The
    chat is a stand-in for the browser: it is not stored."""
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        return None
    if person.role not in (Role.OFFICER, Role.ADMIN):
        return None
    chat = ChatIdentity(
        channel=Channel.LOCAL,
        external_id="web",
        person_id=person.id,
        stage=ChatStage.LINKED,
        locale=locale,
    )
    actor = Actor(chat=chat)
    await _place(session, actor, person)
    return actor if actor.is_officer else None


async def operator_actor(session: AsyncSession, *, phone: str | None) -> Actor | None:
    """The officer or admin on whose behalf a command-line operation acts.

    By phone when given (an officer or admin of the roster), else the first admin.  The chat is
    a stand-in for the terminal: it is not stored.
    """
    person: Person | None
    if phone:
        normalized = normalize_phone(phone)
        person = await people.person_by_phone(session, phone=normalized) if normalized else None
    else:
        found = await people.admins(session)
        person = found[0] if found else None
    if person is None or person.role not in (Role.OFFICER, Role.ADMIN):
        return None
    chat = ChatIdentity(
        channel=Channel.LOCAL, external_id="cli", person_id=person.id, stage=ChatStage.LINKED
    )
    actor = Actor(chat=chat)
    await _place(session, actor, person)
    return actor
