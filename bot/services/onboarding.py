"""Onboarding: consent, linking a chat to the roster, the queue for officers, /stop.

Returns plain outcomes; the chat layer picks the template.  Never commits: the caller's unit of
work does, before any reply is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import casework
from bot.services.actors import Actor, find_unit
from bot.texts import render
from storage import audit, chats, outbox, people
from storage.models import (
    AuditAction,
    Channel,
    ChatIdentity,
    ChatStage,
    Consent,
    ConsentDecision,
    DeliveryKind,
    PendingLink,
    PendingStatus,
    Person,
    Unit,
    utcnow,
)
from surveys.names import name_key
from surveys.normalize import fold
from surveys.phone import normalize_phone

#: Version of the consent text in ``bot/templates/consent.txt``; bump it when the text changes,
#: so that every recorded decision names the text the person saw.
CONSENT_VERSION = "2026.12-1"
#: The same text for a Zalo chat: it also names the Zalo account id the union writes to.
ZALO_CONSENT_VERSION = "2026.12-zalo-2"


def consent_version(channel: Channel) -> str:
    """The version of the consent text a chat of ``channel`` is shown."""
    return ZALO_CONSENT_VERSION if channel == Channel.ZALO else CONSENT_VERSION


class StartOutcome(StrEnum):
    ASK_CONSENT = "ask_consent"
    ASK_CONTACT = "ask_contact"
    PENDING = "pending"
    WELCOME_BACK = "welcome_back"


@dataclass(frozen=True)
class Start:
    outcome: StartOutcome
    invite_unit: Unit | None = None
    bad_invite: bool = False
    resumed: bool = False  # notices were stopped and are on again


async def start(session: AsyncSession, *, actor: Actor, payload: str | None) -> Start:
    """``/start`` with an optional deep-link payload (a unit's invite code)."""
    chat = actor.chat
    invite_unit: Unit | None = None
    bad_invite = False
    if payload:
        invite_unit = await people.unit_by_invite(session, code=payload.strip())
        bad_invite = invite_unit is None
        if invite_unit is not None and not actor.linked:
            chat.invite_unit_id = invite_unit.id
    resumed = chat.stopped
    chat.stopped = False
    chat.unreachable_at = None  # whoever writes to the bot can be written to
    chat.unreachable_reason = None
    chat.updated_at = utcnow()
    if actor.linked:
        return Start(StartOutcome.WELCOME_BACK, invite_unit, bad_invite, resumed)
    if chat.stage == ChatStage.PENDING:
        return Start(StartOutcome.PENDING, invite_unit, bad_invite, resumed)
    if chat.stage == ChatStage.CONTACT:
        return Start(StartOutcome.ASK_CONTACT, invite_unit, bad_invite, resumed)
    chat.stage = ChatStage.CONSENT
    return Start(StartOutcome.ASK_CONSENT, invite_unit, bad_invite, resumed)


class ConsentOutcome(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ALREADY = "already"  # a second press of the same button, or consent given before


async def latest_decision(session: AsyncSession, *, actor: Actor) -> Consent | None:
    """The chat's latest decision on the consent text (what ``/privacy`` reminds of)."""
    return await chats.latest_consent(session, chat=actor.chat)


async def decide_consent(
    session: AsyncSession, *, actor: Actor, accepted: bool, version: str
) -> ConsentOutcome:
    """Record the decision on the consent text of ``version``.

    Declining stores the refusal and nothing else.  A press on a button of an old text version is
    treated as a fresh request to read the current text (the caller shows it again).
    """
    chat = actor.chat
    if chat.stage not in (ChatStage.CONSENT, ChatStage.NEW, ChatStage.DECLINED):
        return ConsentOutcome.ALREADY
    if version != consent_version(chat.channel):
        chat.stage = ChatStage.CONSENT
        return ConsentOutcome.ALREADY
    decision = ConsentDecision.ACCEPTED if accepted else ConsentDecision.DECLINED
    await chats.record_consent(session, chat=chat, decision=decision, text_version=version)
    if accepted:
        chat.stage = ChatStage.CONTACT
        return ConsentOutcome.ACCEPTED
    chat.stage = ChatStage.DECLINED
    chat.invite_unit_id = None
    return ConsentOutcome.DECLINED


class LinkOutcome(StrEnum):
    LINKED = "linked"
    QUEUED = "queued"
    CODE_TAKEN = "code_taken"  # a unit's invite code typed: now the name and phone
    NEED_DETAILS = "need_details"  # typed details without a phone number or a full name
    NOT_OWN_CONTACT = "not_own_contact"
    BAD_PHONE = "bad_phone"
    NO_CONSENT = "no_consent"
    ALREADY_LINKED = "already_linked"


@dataclass(frozen=True)
class Link:
    outcome: LinkOutcome
    person: Person | None = None
    unit: Unit | None = None
    pending: PendingLink | None = None


async def link_by_contact(
    session: AsyncSession, *, actor: Actor, phone: str, own_contact: bool, name: str
) -> Link:
    """The member shared a phone contact: link the chat to the roster person with that number."""
    chat = actor.chat
    if actor.linked:
        return Link(LinkOutcome.ALREADY_LINKED, actor.person, actor.unit)
    if chat.stage not in (ChatStage.CONTACT, ChatStage.PENDING):
        return Link(LinkOutcome.NO_CONSENT)
    if not own_contact:
        return Link(LinkOutcome.NOT_OWN_CONTACT)
    normalized = normalize_phone(phone)
    if normalized is None:
        return Link(LinkOutcome.BAD_PHONE)
    person = await people.person_by_phone(session, phone=normalized)
    if person is not None:
        unit = await people.get_unit(session, unit_id=person.unit_id)
        await _link_itself(session, actor=actor, person=person, by="contact")
        return Link(LinkOutcome.LINKED, person, unit)
    pending = await chats.queue_pending(
        session, chat=chat, full_name=name, phone=normalized, unit_id=chat.invite_unit_id
    )
    chat.stage = ChatStage.PENDING
    return Link(LinkOutcome.QUEUED, unit=await invite_unit(session, actor=actor), pending=pending)


async def queue_by_name(session: AsyncSession, *, actor: Actor, full_name: str) -> Link:
    """No contact shared: the member typed their full name; an officer must confirm."""
    chat = actor.chat
    if chat.stage not in (ChatStage.CONTACT, ChatStage.PENDING):
        return Link(LinkOutcome.NO_CONSENT)
    name = " ".join(full_name.split())[:255]
    pending = await chats.queue_pending(
        session, chat=chat, full_name=name, phone=None, unit_id=chat.invite_unit_id
    )
    chat.stage = ChatStage.PENDING
    return Link(LinkOutcome.QUEUED, unit=await invite_unit(session, actor=actor), pending=pending)


_PHONE_IN_TEXT = re.compile(r"(?:\+?84|0)(?:[\s.\-]?\d){8,10}")


async def link_by_details(session: AsyncSession, *, actor: Actor, text: str) -> Link:
    """A chat without a contact button (Zalo) typed a unit's invite code, or the member's
    full name and phone number.

    Linked at once only when all three agree: the chat came with an invite code (``/start
    CODE`` or typed), the phone is a roster person's, and that person's name (diacritics and
    case aside) is the typed one and their unit is in the invite's unit.  Anything else is
    queued for the officers of the invite's unit (the province's admins without one), as a
    typed name is on Telegram: the phone alone is not proof of who types it.
    """
    chat = actor.chat
    if actor.linked:
        return Link(LinkOutcome.ALREADY_LINKED, actor.person, actor.unit)
    if chat.stage not in (ChatStage.CONTACT, ChatStage.PENDING):
        return Link(LinkOutcome.NO_CONSENT)
    typed = " ".join(text.split())
    if typed and " " not in typed and not typed.isdigit() and len(typed) <= 64:
        unit = await people.unit_by_invite(session, code=typed)
        if unit is not None:
            chat.invite_unit_id = unit.id
            chat.updated_at = utcnow()
            return Link(LinkOutcome.CODE_TAKEN, unit=unit)
    found = _PHONE_IN_TEXT.search(typed)
    phone = normalize_phone(found.group(0)) if found else None
    name = " ".join(_PHONE_IN_TEXT.sub(" ", typed).replace(",", " ").split()).strip(" -.:;")
    if phone is None or len(name.split()) < 2 or any(c.isdigit() for c in name) or len(name) > 120:
        return Link(LinkOutcome.NEED_DETAILS, unit=await invite_unit(session, actor=actor))
    invited = await invite_unit(session, actor=actor)
    person = await people.person_by_phone(session, phone=phone)
    if person is not None and invited is not None and fold(person.full_name) == fold(name):
        unit = await people.get_unit(session, unit_id=person.unit_id)
        if unit is not None and unit.path.startswith(invited.path):
            await _link_itself(session, actor=actor, person=person, by="details")
            return Link(LinkOutcome.LINKED, person, unit)
    pending = await chats.queue_pending(
        session, chat=chat, full_name=name[:255], phone=phone, unit_id=chat.invite_unit_id
    )
    chat.stage = ChatStage.PENDING
    return Link(LinkOutcome.QUEUED, unit=invited, pending=pending)


async def invite_unit(session: AsyncSession, *, actor: Actor) -> Unit | None:
    """The unit whose invite link this chat opened, while it is not linked yet."""
    unit_id = actor.chat.invite_unit_id
    return await people.get_unit(session, unit_id=unit_id) if unit_id is not None else None


async def _link_itself(
    session: AsyncSession, *, actor: Actor, person: Person, by: Literal["contact", "details"]
) -> None:
    """The chat proved whose it is: link it, and close its request if it had queued one.

    The trail records the link as the bot's own (``via`` system, no actor), with how it was
    proved: a chat tied to a person is what every later message to them rests on."""
    await _link(session, chat=actor.chat, person=person)
    await audit.record(
        session,
        AuditAction.LINK_CONFIRMED,
        via="system",
        person_id=person.id,
        unit_id=person.unit_id,
        detail={"by": by},
    )
    pending = await chats.open_pending_for_chat(session, chat_id=actor.chat_id)
    if pending is not None:
        await chats.resolve_pending(
            session,
            pending=pending,
            status=PendingStatus.CONFIRMED,
            resolved_by=None,
            person_id=person.id,
        )


async def _link(session: AsyncSession, *, chat: ChatIdentity, person: Person) -> None:
    assert person.id is not None
    chat.person_id = person.id
    chat.stage = ChatStage.LINKED
    chat.invite_unit_id = None
    chat.updated_at = chat.used_at = utcnow()
    await chats.attach_consents(session, chat=chat, person_id=person.id)
    await session.flush()
    # A colleague named in a report is told, now they can be written to, that it concerns them.
    await casework.tell_subjects(session, person_id=person.id)


@dataclass(frozen=True)
class PendingItem:
    pending: PendingLink
    unit: Unit | None


#: How many link requests ``/pending`` shows at a time.
PENDING_SHOWN = 20


async def pending_for(
    session: AsyncSession, *, actor: Actor, limit: int | None = None
) -> list[PendingItem]:
    """Open link requests an officer may resolve (admins also see those with no unit): the
    ``limit`` oldest (all when None), so that no request waits behind newer ones, listed in
    Vietnamese name order (:func:`surveys.names.name_key`)."""
    if actor.scope is None:
        return []
    rows = await chats.pending_in_scope(
        session, path=actor.scope.path, include_unassigned=actor.is_admin, limit=limit
    )
    items = [PendingItem(p, u) for p, u in rows]
    return sorted(items, key=lambda item: name_key(item.pending.full_name))


class ResolveAction(StrEnum):
    MEMBER = "member"
    STAFF = "staff"  # confirmed, but not a union member
    REJECT = "reject"


class ResolveOutcome(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    GONE = "gone"  # already resolved, or not found
    FORBIDDEN = "forbidden"
    NEEDS_UNIT = "needs_unit"
    PHONE_TAKEN = "phone_taken"


@dataclass(frozen=True)
class Resolution:
    outcome: ResolveOutcome
    chat: ChatIdentity | None = None
    person: Person | None = None
    unit: Unit | None = None


async def resolve(
    session: AsyncSession,
    *,
    actor: Actor,
    pending_id: int,
    action: ResolveAction,
    via: audit.Via = "chat",
) -> Resolution:
    """An officer confirms (adding the person to their unit's roster) or rejects a request."""
    if not actor.is_officer or actor.person is None:
        return Resolution(ResolveOutcome.FORBIDDEN)
    pending = await session.get(PendingLink, pending_id)
    if pending is None or pending.status != PendingStatus.PENDING:
        return Resolution(ResolveOutcome.GONE)
    unit = (
        await people.get_unit(session, unit_id=pending.unit_id)
        if pending.unit_id is not None
        else None
    )
    if unit is None and not actor.is_admin:
        return Resolution(ResolveOutcome.FORBIDDEN)
    if unit is not None and not actor.can_see(unit):
        return Resolution(ResolveOutcome.FORBIDDEN)
    chat = await session.get(ChatIdentity, pending.chat_id)
    if chat is None:
        return Resolution(ResolveOutcome.GONE)
    if action == ResolveAction.REJECT:
        await chats.resolve_pending(
            session,
            pending=pending,
            status=PendingStatus.REJECTED,
            resolved_by=actor.person.id,
            person_id=None,
        )
        chat.stage = ChatStage.CONTACT
        await audit.record(
            session,
            AuditAction.LINK_REJECTED,
            via=via,
            actor_id=actor.person.id,
            unit_id=unit.id if unit is not None else None,
            detail={"pending": pending_id},
        )
        return Resolution(ResolveOutcome.REJECTED, chat=chat, unit=unit)
    if unit is None:
        return Resolution(ResolveOutcome.NEEDS_UNIT)
    existing = await people.person_by_phone(session, phone=pending.phone) if pending.phone else None
    if existing is not None:
        # The roster gained this number since the request (e.g. a later import): link to it.
        existing_unit = await people.get_unit(session, unit_id=existing.unit_id)
        if existing_unit is None or not actor.can_see(existing_unit):
            return Resolution(ResolveOutcome.PHONE_TAKEN, chat=chat, unit=unit)
        await _link(session, chat=chat, person=existing)
        await chats.resolve_pending(
            session,
            pending=pending,
            status=PendingStatus.CONFIRMED,
            resolved_by=actor.person.id,
            person_id=existing.id,
        )
        await _record_confirmed(
            session, actor=actor, pending_id=pending_id, person=existing, added=False, via=via
        )
        return Resolution(ResolveOutcome.CONFIRMED, chat=chat, person=existing, unit=existing_unit)
    assert unit.id is not None
    person = Person(
        full_name=pending.full_name,
        phone=pending.phone,
        unit_id=unit.id,
        is_member=action == ResolveAction.MEMBER,
    )
    session.add(person)
    await session.flush()
    await _link(session, chat=chat, person=person)
    await chats.resolve_pending(
        session,
        pending=pending,
        status=PendingStatus.CONFIRMED,
        resolved_by=actor.person.id,
        person_id=person.id,
    )
    await _record_confirmed(
        session, actor=actor, pending_id=pending_id, person=person, added=True, via=via
    )
    return Resolution(ResolveOutcome.CONFIRMED, chat=chat, person=person, unit=unit)


async def _record_confirmed(
    session: AsyncSession,
    *,
    actor: Actor,
    pending_id: int,
    person: Person,
    added: bool,
    via: audit.Via = "chat",
) -> None:
    """An officer tied a chat to a person (``added``: a person new to the roster)."""
    await audit.record(
        session,
        AuditAction.LINK_CONFIRMED,
        via=via,
        actor_id=actor.person.id if actor.person is not None else None,
        person_id=person.id,
        unit_id=person.unit_id,
        detail={"pending": pending_id, "added": added},
    )


async def tell_decision(session: AsyncSession, *, resolution: Resolution) -> bool:
    """Tell the chat that asked to be linked what an officer decided, on that chat (whatever
    its channel, in its locale), through the outbox.  Returns whether a message was queued."""
    chat = resolution.chat
    if (
        chat is None
        or chat.id is None
        or resolution.outcome
        not in (
            ResolveOutcome.CONFIRMED,
            ResolveOutcome.REJECTED,
        )
    ):
        return False
    text = render(
        "member/pending_decided.txt",
        chat.locale,
        confirmed=resolution.outcome == ResolveOutcome.CONFIRMED,
        person=resolution.person,
        unit=resolution.unit,
    )
    row = {
        "kind": DeliveryKind.MESSAGE,
        "person_id": resolution.person.id if resolution.person is not None else None,
        "chat_id": chat.id,
        "channel": chat.channel,
        "external_id": chat.external_id,
        "text": text,
    }
    return await outbox.enqueue(session, rows=[row]) == 1


async def assign_unit(
    session: AsyncSession, *, actor: Actor, pending_id: int, unit_text: str
) -> tuple[PendingItem | None, bool]:
    """Give a request that came without an invite link its unit, so it can be confirmed.

    Returns (the request, whether the unit was found); (None, False) when the request is gone or
    not the actor's to handle.
    """
    if not actor.is_officer or actor.scope is None:
        return None, False
    pending = await session.get(PendingLink, pending_id)
    if pending is None or pending.status != PendingStatus.PENDING:
        return None, False
    current = (
        await people.get_unit(session, unit_id=pending.unit_id)
        if pending.unit_id is not None
        else None
    )
    if (current is None and not actor.is_admin) or (
        current is not None and not actor.can_see(current)
    ):
        return None, False
    within = "/" if actor.is_admin else actor.scope.path
    unit = await find_unit(session, text=unit_text, within_path=within)
    if unit is None:
        return PendingItem(pending, current), False
    pending.unit_id = unit.id
    await session.flush()
    return PendingItem(pending, unit), True


async def stop(session: AsyncSession, *, actor: Actor) -> bool:
    """No more notices or reminders until /start; returns False if already stopped."""
    if actor.chat.stopped:
        return False
    actor.chat.stopped = True
    actor.chat.updated_at = utcnow()
    await session.flush()
    return True
