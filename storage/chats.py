"""Chat identities, consent records and the queue of chats waiting for an officer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import (
    Channel,
    ChatIdentity,
    ChatStage,
    Consent,
    ConsentDecision,
    DeliveryStatus,
    PendingLink,
    PendingStatus,
    Person,
    Unit,
    utcnow,
)


def preference(chat: Any) -> list[Any]:
    """The order of a person's linked chats, the one written to first: the chat chosen with
    /kenh, else the one last written from, else the newest."""
    return [
        chat.c.chosen_at.desc().nulls_last(),
        chat.c.used_at.desc().nulls_last(),
        chat.c.id.desc(),
    ]


def consenting(person_id: Any) -> ColumnElement[bool]:
    """The person ``person_id`` (a column) has not withdrawn their consent nor been erased:
    the one condition that keeps every outbound message from those who did (issue 16)."""
    people = Person.__table__  # type: ignore[attr-defined]
    return ~(
        select(people.c.id)
        .where(
            people.c.id == person_id,
            or_(people.c.consent_withdrawn_at.is_not(None), people.c.erased_at.is_not(None)),
        )
        .exists()
    )


def latest_linked_chat() -> Any:
    """A subquery (person_id, chat_id): each person's linked chat that messages go to,
    whatever its channel (:func:`preference`); the chat every outbound message to the person
    goes to (join it, LEFT for "maybe none").  The channel is the chat's: a member on both
    Telegram and Zalo is written to once, on the one they chose or last used.  A person who
    withdrew their consent has none (:func:`consenting`)."""
    linked = ChatIdentity.__table__.alias("linked_chat")  # type: ignore[attr-defined]
    ranked = (
        select(
            linked.c.person_id,
            linked.c.id.label("chat_id"),
            func.row_number()
            .over(partition_by=linked.c.person_id, order_by=preference(linked))
            .label("rank"),
        )
        .where(
            linked.c.stage == ChatStage.LINKED,
            linked.c.person_id.is_not(None),
            consenting(linked.c.person_id),
        )
        .subquery("ranked_chat")
    )
    return (
        select(ranked.c.person_id, ranked.c.chat_id)
        .where(ranked.c.rank == 1)
        .subquery("latest_chat")
    )


async def choose_chat(session: AsyncSession, *, chat: ChatIdentity) -> bool:
    """/kenh: messages to the person go to ``chat`` from now on; False if it was chosen
    already."""
    if chat.person_id is None:
        return False
    if chat.chosen_at is not None:
        return False
    now = utcnow()
    table = ChatIdentity.__table__  # type: ignore[attr-defined]
    await session.execute(
        update(table)
        .where(table.c.person_id == chat.person_id, table.c.id != chat.id)
        .values(chosen_at=None)
    )
    chat.chosen_at = now
    chat.used_at = now
    return True


# Why a message cannot be written to someone; stored as the delivery's error.
NEVER_LINKED = "never_linked"
STOPPED = "stopped"
WITHDRAWN = "withdrawn"  # the person withdrew their consent (or was erased)


@dataclass(frozen=True)
class Recipient:
    """The columns a set-based outbox insert (INSERT … SELECT) takes from each person's newest
    linked chat: see :func:`newest_chat_of`."""

    source: FromClause  # ``from_`` LEFT JOINed to the chat
    chat_id: Any
    channel: Any  # the chat's; NULL without a chat
    external_id: Any
    locale: Any
    status: Any  # 'queued', or 'unreachable' with ``reason``
    reason: Any  # withdrawn, never_linked, the chat's unreachable reason, stopped, or NULL


def newest_chat_of(from_: FromClause, person_id: Any) -> Recipient:
    """Each row of ``from_`` with its person's newest linked chat (any channel), looked up
    by person (an index search per row) rather than joined from the aggregate of every chat:
    PostgreSQL estimates freshly stamped rows at one, and once re-aggregated all chats per row
    (150 s for one campaign run, measured by benchmarks/reminders.py)."""
    chats = ChatIdentity.__table__  # type: ignore[attr-defined]
    linked = chats.alias("linked_chat")
    newest = (
        select(linked.c.id)
        .where(
            linked.c.person_id == person_id,
            linked.c.stage == ChatStage.LINKED,
        )
        .order_by(*preference(linked))
        .limit(1)
        .correlate(from_)
        .scalar_subquery()
    )
    c = chats.c
    withdrawn = ~consenting(person_id)
    unusable: ColumnElement[bool] = or_(
        withdrawn, c.id.is_(None), c.unreachable_at.is_not(None), c.stopped.is_(True)
    )
    return Recipient(
        source=from_.outerjoin(chats, c.id == newest),
        chat_id=c.id,
        channel=c.channel,
        external_id=c.external_id,
        locale=c.locale,
        status=case(
            (unusable, literal(DeliveryStatus.UNREACHABLE.value)),
            else_=literal(DeliveryStatus.QUEUED.value),
        ),
        reason=case(
            (withdrawn, literal(WITHDRAWN)),
            (c.id.is_(None), literal(NEVER_LINKED)),
            (c.unreachable_at.is_not(None), func.coalesce(c.unreachable_reason, "blocked")),
            (c.stopped.is_(True), literal(STOPPED)),
            else_=None,
        ),
    )


def localized(texts: dict[str, str] | Any, default_locale: str, locale: Any) -> Any:
    """A SQL expression choosing each row's text by its chat's ``locale`` (``texts``: locale →
    text; ``default_locale`` must be a key, used for every other locale and for no chat)."""
    default = texts[default_locale]
    others = [(locale == loc, text) for loc, text in texts.items() if loc != default_locale]
    return case(*others, else_=literal(default)) if others else literal(default)


async def get_chat(
    session: AsyncSession, *, channel: Channel, external_id: str
) -> ChatIdentity | None:
    stmt = select(ChatIdentity).where(
        col(ChatIdentity.channel) == channel, col(ChatIdentity.external_id) == external_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def chat_with_person(
    session: AsyncSession, *, channel: Channel, external_id: str
) -> tuple[ChatIdentity, Person | None, Unit | None] | None:
    """A chat with its linked person and their unit, in one statement (every update asks)."""
    stmt = (
        select(ChatIdentity, Person, Unit)
        .outerjoin(Person, col(Person.id) == col(ChatIdentity.person_id))
        .outerjoin(Unit, col(Unit.id) == col(Person.unit_id))
        .where(col(ChatIdentity.channel) == channel, col(ChatIdentity.external_id) == external_id)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1], row[2])


async def get_or_create_chat(
    session: AsyncSession, *, channel: Channel, external_id: str, locale: str
) -> ChatIdentity:
    chat = await get_chat(session, channel=channel, external_id=external_id)
    if chat is None:
        chat = ChatIdentity(channel=channel, external_id=external_id, locale=locale)
        session.add(chat)
        await session.flush()
    return chat


async def chats_of_person(session: AsyncSession, *, person_id: int) -> list[ChatIdentity]:
    stmt = select(ChatIdentity).where(col(ChatIdentity.person_id) == person_id)
    return list((await session.execute(stmt)).scalars())


async def record_consent(
    session: AsyncSession,
    *,
    chat: ChatIdentity,
    decision: ConsentDecision,
    text_version: str,
) -> Consent:
    consent = Consent(
        channel=chat.channel,
        external_id=chat.external_id,
        person_id=chat.person_id,
        decision=decision,
        text_version=text_version,
    )
    session.add(consent)
    await session.flush()
    return consent


async def latest_consent(session: AsyncSession, *, chat: ChatIdentity) -> Consent | None:
    stmt = (
        select(Consent)
        .where(col(Consent.channel) == chat.channel)
        .where(col(Consent.external_id) == chat.external_id)
        .order_by(col(Consent.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def attach_consents(session: AsyncSession, *, chat: ChatIdentity, person_id: int) -> None:
    """Once a chat is linked, its consent records name the person too."""
    stmt = select(Consent).where(
        col(Consent.channel) == chat.channel,
        col(Consent.external_id) == chat.external_id,
        col(Consent.person_id).is_(None),
    )
    for consent in (await session.execute(stmt)).scalars():
        consent.person_id = person_id


async def open_pending_for_chat(session: AsyncSession, *, chat_id: int) -> PendingLink | None:
    stmt = select(PendingLink).where(
        col(PendingLink.chat_id) == chat_id, col(PendingLink.status) == PendingStatus.PENDING
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def queue_pending(
    session: AsyncSession,
    *,
    chat: ChatIdentity,
    full_name: str,
    phone: str | None,
    unit_id: int | None,
) -> PendingLink:
    """Queue a chat for an officer; a chat has at most one open request (it is updated)."""
    assert chat.id is not None
    pending = await open_pending_for_chat(session, chat_id=chat.id)
    if pending is None:
        pending = PendingLink(chat_id=chat.id, full_name=full_name, phone=phone, unit_id=unit_id)
        session.add(pending)
    else:
        pending.full_name = full_name
        pending.phone = phone or pending.phone
        pending.unit_id = unit_id if unit_id is not None else pending.unit_id
    await session.flush()
    return pending


async def pending_in_scope(
    session: AsyncSession, *, path: str, include_unassigned: bool, limit: int | None = None
) -> list[tuple[PendingLink, Unit | None]]:
    """Open requests for units under ``path`` (and those with no unit, for admins), oldest
    first: at most ``limit`` of them (all when None)."""
    stmt = (
        select(PendingLink, Unit)
        .join(Unit, col(Unit.id) == col(PendingLink.unit_id), isouter=True)
        .where(col(PendingLink.status) == PendingStatus.PENDING)
        .order_by(col(PendingLink.created_at), col(PendingLink.id))
        .limit(limit)
    )
    if include_unassigned:
        stmt = stmt.where((col(Unit.path).startswith(path)) | (col(PendingLink.unit_id).is_(None)))
    else:
        stmt = stmt.where(col(Unit.path).startswith(path))
    rows = (await session.execute(stmt)).all()
    return [(row[0], row[1]) for row in rows]


async def resolve_pending(
    session: AsyncSession,
    *,
    pending: PendingLink,
    status: PendingStatus,
    resolved_by: int | None,
    person_id: int | None,
) -> None:
    pending.status = status
    pending.resolved_by = resolved_by
    pending.person_id = person_id
    pending.resolved_at = utcnow()
    await session.flush()
