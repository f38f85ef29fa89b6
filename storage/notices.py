"""Notices: the audience query, notice rows, delivery counts, acknowledgements.

The audience of a notice is ONE select over ``people`` joined to their unit (subtrees by the
materialized path), narrowed by the public flag of the person's CĐCS, membership and a tag, with
the person's linked chat on the channel LEFT JOINed: so people who never linked a chat, stopped
notices or blocked the bot come back too, and are written as ``unreachable`` deliveries (and
counted) rather than silently dropped.

Deliveries of a notice are written in bulk (``ON CONFLICT DO NOTHING`` on (notice, person): a
second enqueue is harmless).  Counts are one GROUP BY over ``deliveries``.  Functions are
keyword-only after the session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.chats import NEVER_LINKED, STOPPED, latest_linked_chat, localized, newest_chat_of
from storage.db import rowcount
from storage.models import (
    Channel,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    UnitKind,
)
from storage.outbox import mark_written
from storage.tables import chats, deliveries, notices, people, units
from surveys.names import name_key  # the one order of people's names

# Why a recipient cannot be written to; stored as the delivery's error.
BLOCKED = "blocked"
CANCELLED = "cancelled"  # the error of queued rows of a notice cancelled before they were sent

INSERT_CHUNK = 2000
# How many levels above a person's unit the CĐCS is looked for: the tree is province → district
# → CĐCS → tổ, and a tổ may sit under another tổ; three levels cover it with room to spare.
_CDCS_LEVELS = 3


# --------------------------------------------------------------------------- the audience


@dataclass(frozen=True)
class Recipient:
    """One person of an audience and their newest linked chat (if any), on its channel."""

    person_id: int
    full_name: str
    unit_id: int
    unit_name: str
    is_member: bool
    chat_id: int | None
    channel: Channel | None
    external_id: str | None
    locale: str | None
    linked: bool
    stopped: bool
    unreachable: bool  # the platform said so (blocked the bot, deactivated)

    @property
    def reason(self) -> str | None:
        """None when a message can be sent; else never_linked, blocked or stopped."""
        if not self.linked:
            return NEVER_LINKED
        if self.unreachable:
            return BLOCKED
        if self.stopped:
            return STOPPED
        return None


@dataclass(frozen=True)
class AudienceFilter:
    """The audience in storage terms: subtree paths instead of unit ids."""

    paths: tuple[str, ...]
    public: bool | None = None
    members_only: bool = False
    tag: str | None = None


def minimal_paths(paths: Iterable[str]) -> tuple[str, ...]:
    """The paths without those inside another one (a unit and its district: the district)."""
    kept: list[str] = []
    for path in sorted(set(paths), key=lambda p: (len(p), p)):
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return tuple(sorted(kept))


def _cdcs_public(unit: Any) -> tuple[ColumnElement[bool], list[tuple[Any, Any]]]:
    """The public flag of the nearest CĐCS ancestor-or-self of ``unit``, else the unit's own
    flag, and the parent joins it needs."""
    joins: list[tuple[Any, Any]] = []
    whens: list[tuple[ColumnElement[bool], Any]] = [
        (unit.c.kind == UnitKind.GRASSROOTS, unit.c.is_public)
    ]
    child = unit
    for level in range(1, _CDCS_LEVELS + 1):
        parent = units.alias(f"ancestor{level}")
        joins.append((parent, parent.c.id == child.c.parent_id))
        whens.append((parent.c.kind == UnitKind.GRASSROOTS, parent.c.is_public))
        child = parent
    return case(*whens, else_=unit.c.is_public), joins


def _audience_select(audience: AudienceFilter) -> Select[Any]:
    """The audience as one SELECT: the people of the subtrees after the filters, each with
    their newest linked chat, on whichever channel (none when never linked).

    With current planner statistics this is hash joins throughout (about 40 ms for 30,000
    people on PostgreSQL).  Right after a bulk roster import, before autovacuum has analyzed
    the tables, PostgreSQL may misplan it: run ``ANALYZE`` after a large import."""
    unit = units.alias("person_unit")
    latest = latest_linked_chat()
    source: Any = people.join(unit, unit.c.id == people.c.unit_id)
    # Who withdrew their consent or was erased is in no audience: not written to, and not
    # counted in the preview as someone to reach (issue 16).
    conditions: list[ColumnElement[bool]] = [
        people.c.consent_withdrawn_at.is_(None),
        people.c.erased_at.is_(None),
    ]
    paths = minimal_paths(audience.paths)
    if not paths:
        conditions.append(false())
    else:
        conditions.append(or_(*(unit.c.path.startswith(p, autoescape=True) for p in paths)))
    if audience.public is not None:
        flag, joins = _cdcs_public(unit)
        for table, on in joins:
            source = source.outerjoin(table, on)
        conditions.append(flag.is_(True) if audience.public else flag.is_(False))
    if audience.members_only:
        conditions.append(people.c.is_member.is_(True))
    if audience.tag:
        tags = literal(",") + func.lower(func.replace(people.c.tags, ", ", ",")) + literal(",")
        conditions.append(tags.contains(f",{audience.tag.strip().lower()},", autoescape=True))
    source = source.outerjoin(latest, latest.c.person_id == people.c.id).outerjoin(
        chats, chats.c.id == latest.c.chat_id
    )
    return (
        select(
            people.c.id.label("person_id"),
            people.c.full_name.label("full_name"),
            unit.c.id.label("unit_id"),
            unit.c.name.label("unit_name"),
            people.c.is_member.label("is_member"),
            chats.c.id.label("chat_id"),
            chats.c.channel.label("channel"),
            chats.c.external_id.label("external_id"),
            chats.c.locale.label("locale"),
            chats.c.stopped.label("stopped"),
            chats.c.unreachable_at.label("unreachable_at"),
        )
        .select_from(source)
        .where(*conditions)
    )


async def audience_recipients(
    session: AsyncSession, *, audience: AudienceFilter
) -> list[Recipient]:
    """Every person of the audience, by person id (one query)."""
    stmt = _audience_select(audience).order_by(people.c.id)
    rows = (await session.execute(stmt)).all()
    return [
        Recipient(
            person_id=int(pid),
            full_name=str(name),
            unit_id=int(unit_id),
            unit_name=str(unit_name),
            is_member=bool(member),
            chat_id=None if chat_id is None else int(chat_id),
            channel=None if channel is None else Channel(channel),
            external_id=None if external_id is None else str(external_id),
            locale=None if locale is None else str(locale),
            linked=chat_id is not None,
            stopped=bool(stopped),
            unreachable=unreachable_at is not None,
        )
        for (
            pid,
            name,
            unit_id,
            unit_name,
            member,
            chat_id,
            channel,
            external_id,
            locale,
            stopped,
            unreachable_at,
        ) in rows
    ]


@dataclass(frozen=True)
class AudienceCounts:
    """How many people an audience holds, and why some cannot be written to."""

    reachable: int = 0
    never_linked: int = 0
    stopped: int = 0
    blocked: int = 0

    @property
    def unreachable(self) -> int:
        return self.never_linked + self.stopped + self.blocked

    @property
    def total(self) -> int:
        return self.reachable + self.unreachable


async def audience_counts(session: AsyncSession, *, audience: AudienceFilter) -> AudienceCounts:
    """The counts of :func:`audience_recipients` without fetching the people (one query)."""
    base = _audience_select(audience).subquery("audience")
    chat_id, stopped, unreachable_at = base.c.chat_id, base.c.stopped, base.c.unreachable_at
    never = chat_id.is_(None)
    blocked = and_(chat_id.is_not(None), unreachable_at.is_not(None))
    stop = and_(chat_id.is_not(None), unreachable_at.is_(None), stopped.is_(True))
    ok = and_(chat_id.is_not(None), unreachable_at.is_(None), stopped.is_(False))

    def count_if(cond: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = (
        await session.execute(
            select(count_if(ok), count_if(never), count_if(stop), count_if(blocked))
        )
    ).one()
    return AudienceCounts(*(int(v) for v in row))


# --------------------------------------------------------------------------- notices


async def create_notice(
    session: AsyncSession,
    *,
    author_id: int | None,
    scope_unit_id: int,
    title: str,
    body: str,
    audience: str,
    period_year: int,
    send_at: dt.datetime | None = None,
    attachment_kind: str | None = None,
    attachment_ref: str | None = None,
    compose_step: str | None = None,
) -> Notice:
    notice = Notice(
        author_id=author_id,
        scope_unit_id=scope_unit_id,
        title=title,
        body=body,
        audience=audience,
        period_year=period_year,
        send_at=send_at,
        attachment_kind=attachment_kind,
        attachment_ref=attachment_ref,
        compose_step=compose_step,
    )
    session.add(notice)
    await session.flush()
    return notice


async def get_notice(session: AsyncSession, *, notice_id: int) -> Notice | None:
    return await session.get(Notice, notice_id)


async def mark_queued(
    session: AsyncSession, *, notice_id: int, queued_at: dt.datetime, period_year: int
) -> bool:
    """draft → queued, atomically: False when the notice is no longer a draft (a second
    confirmation, or a cancellation in between)."""
    result = await session.execute(
        update(notices)
        .where(notices.c.id == notice_id, notices.c.status == NoticeStatus.DRAFT)
        .values(
            status=NoticeStatus.QUEUED,
            queued_at=queued_at,
            period_year=period_year,
            compose_step=None,
        )
    )
    changed = rowcount(result) == 1
    if changed:
        notice = await session.get(Notice, notice_id)
        if notice is not None:
            await session.refresh(notice)
    return changed


async def cancel_notice(session: AsyncSession, *, notice_id: int) -> int | None:
    """draft or queued → cancelled; the deliveries still queued become failed with the error
    ``cancelled`` (rows already claimed by the worker are in flight and finish normally).

    Returns how many deliveries were withdrawn, or None when the notice was already cancelled.
    """
    result = await session.execute(
        update(notices)
        .where(
            notices.c.id == notice_id,
            notices.c.status.in_([NoticeStatus.DRAFT, NoticeStatus.QUEUED]),
        )
        .values(status=NoticeStatus.CANCELLED, compose_step=None)
    )
    if rowcount(result) != 1:
        return None
    withdrawn = await session.execute(
        update(deliveries)
        .where(
            deliveries.c.notice_id == notice_id,
            deliveries.c.status == DeliveryStatus.QUEUED,
        )
        .values(status=DeliveryStatus.FAILED, error=CANCELLED)
    )
    own = select(deliveries.c.id).where(deliveries.c.notice_id == notice_id)
    await session.execute(  # its reminders still waiting go too (not counted: not the notice)
        update(deliveries)
        .where(
            deliveries.c.reminds_id.in_(own.scalar_subquery()),
            deliveries.c.status == DeliveryStatus.QUEUED,
        )
        .values(status=DeliveryStatus.FAILED, error=CANCELLED)
    )
    notice = await session.get(Notice, notice_id)
    if notice is not None:
        await session.refresh(notice)
    return rowcount(withdrawn)


# --------------------------------------------------------------------------- deliveries


def delivery_row(
    *,
    notice_id: int | None,
    person_id: int | None,
    chat_id: int | None,
    channel: Channel | None,
    external_id: str | None,
    text: str,
    status: DeliveryStatus,
    available_at: dt.datetime,
    created_at: dt.datetime,
    error: str | None = None,
    ack_button: bool = True,
    kind: DeliveryKind = DeliveryKind.NOTICE,
) -> dict[str, Any]:
    """A row for :func:`insert_deliveries`, with every column the insert needs."""
    return {
        "kind": kind,
        "notice_id": notice_id,
        "person_id": person_id,
        "chat_id": chat_id,
        "channel": channel,
        "external_id": external_id,
        "text": text,
        "ack_button": ack_button,
        "status": status,
        "attempts": 0,
        "available_at": available_at,
        "error": error,
        "created_at": created_at,
    }


async def insert_deliveries(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk insert of delivery rows (see :func:`delivery_row`); a row whose (notice, person)
    exists already is skipped."""
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(deliveries).on_conflict_do_nothing(
        index_elements=["notice_id", "person_id"], index_where=deliveries.c.notice_id.is_not(None)
    )
    for start in range(0, len(rows), INSERT_CHUNK):
        await session.execute(stmt, [dict(r) for r in rows[start : start + INSERT_CHUNK]])
    mark_written(session, len(rows))


@dataclass(frozen=True)
class NoticeCounts:
    """Live counts of a notice's deliveries."""

    recipients: int = 0
    pending: int = 0  # queued or being sent (a scheduled notice's rows wait here)
    sent: int = 0
    failed: int = 0  # permanent errors, retries exhausted
    cancelled: int = 0  # withdrawn by a cancellation before they were sent
    unreachable: int = 0  # never linked, stopped, blocked the bot, deactivated
    acknowledged: int = 0


_COUNT_NAMES = ("recipients", "pending", "sent", "failed", "cancelled", "unreachable", "acks")


def count_columns() -> list[Any]:
    """The columns of :class:`NoticeCounts` over ``deliveries`` (one notice's rows, or a
    group of them: the dashboard counts them by unit too), read back by :func:`counts_of`."""
    status, error = deliveries.c.status, deliveries.c.error

    def count_if(cond: ColumnElement[bool], name: str) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0).label(name)

    is_cancelled = and_(status == DeliveryStatus.FAILED, error == CANCELLED)
    return [
        func.count().label("recipients"),
        count_if(status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]), "pending"),
        count_if(status == DeliveryStatus.SENT, "sent"),
        count_if(and_(status == DeliveryStatus.FAILED, or_(error.is_(None), error != CANCELLED)),
                 "failed"),
        count_if(is_cancelled, "cancelled"),
        count_if(status == DeliveryStatus.UNREACHABLE, "unreachable"),
        func.count(deliveries.c.acknowledged_at).label("acks"),
    ]  # fmt: skip


def _counts_subquery() -> Any:
    return (
        select(deliveries.c.notice_id, *count_columns())
        .where(deliveries.c.notice_id.is_not(None))
        .group_by(deliveries.c.notice_id)
        .subquery("notice_counts")
    )


def counts_of(row: Sequence[Any]) -> NoticeCounts:
    """The :class:`NoticeCounts` of a row of :func:`count_columns`."""
    values = [int(v or 0) for v in row]
    return NoticeCounts(*values)


async def notice_counts(session: AsyncSession, *, notice_id: int) -> NoticeCounts:
    row = (
        await session.execute(select(*count_columns()).where(deliveries.c.notice_id == notice_id))
    ).one()
    return counts_of(tuple(row))


@dataclass(frozen=True)
class NoticeRow:
    """A notice, the name of its scope unit and its author, and its live counts."""

    notice: Notice
    scope_name: str
    author_name: str | None
    counts: NoticeCounts


async def notices_in_scope(
    session: AsyncSession,
    *,
    path: str,
    author_id: int | None = None,
    include_cancelled: bool = True,
    limit: int = 20,
) -> list[NoticeRow]:
    """Notices whose scope unit lies in the subtree ``path`` (or written by ``author_id``),
    newest first, with their counts (one query)."""
    counts = _counts_subquery()
    scope = units.alias("notice_scope")
    author = people.alias("notice_author")
    where: ColumnElement[bool] = scope.c.path.startswith(path, autoescape=True)
    if author_id is not None:
        where = or_(where, notices.c.author_id == author_id)
    stmt = (
        select(
            notices.c.id,
            scope.c.name,
            author.c.full_name,
            *(func.coalesce(counts.c[name], 0) for name in _COUNT_NAMES),
        )
        .select_from(
            notices.join(scope, scope.c.id == notices.c.scope_unit_id)
            .outerjoin(author, author.c.id == notices.c.author_id)
            .outerjoin(counts, counts.c.notice_id == notices.c.id)
        )
        .where(where)
        .order_by(notices.c.id.desc())
        .limit(limit)
    )
    if not include_cancelled:
        stmt = stmt.where(notices.c.status != NoticeStatus.CANCELLED)
    rows = (await session.execute(stmt)).all()
    ids = [int(r[0]) for r in rows]
    loaded = {
        n.id: n
        for n in (await session.execute(select(Notice).where(notices.c.id.in_(ids)))).scalars()
    }
    return [
        NoticeRow(
            notice=loaded[int(r[0])],
            scope_name=str(r[1]),
            author_name=None if r[2] is None else str(r[2]),
            counts=counts_of(tuple(r[3:])),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class UnitPending:
    """The people of one unit who have not done something yet: acknowledged a notice, answered
    a campaign (names capped, count exact)."""

    unit_id: int
    unit_name: str
    count: int
    names: tuple[str, ...] = field(default=())  # at most ``names_per_unit`` of them


async def not_acknowledged(
    session: AsyncSession, *, notice_id: int, names_per_unit: int | None = None
) -> list[UnitPending]:
    """Who received the notice (status sent) and has not acknowledged it, by unit name then
    person name (Vietnamese order); each unit lists at most ``names_per_unit`` names (the first
    in that order) but counts them all."""
    unit = units.alias("pending_unit")
    stmt = (
        select(unit.c.id, unit.c.name, people.c.full_name)
        .select_from(
            deliveries.join(people, people.c.id == deliveries.c.person_id).join(
                unit, unit.c.id == people.c.unit_id
            )
        )
        .where(
            deliveries.c.notice_id == notice_id,
            deliveries.c.status == DeliveryStatus.SENT,
            deliveries.c.acknowledged_at.is_(None),
        )
        .order_by(unit.c.name, unit.c.id)
    )
    return group_by_unit((await session.execute(stmt)).all(), names_per_unit)


def group_by_unit(
    rows: Iterable[Sequence[Any]], names_per_unit: int | None = None
) -> list[UnitPending]:
    """(unit id, unit name, person name) rows, grouped by unit, as one :class:`UnitPending`
    per unit: every person counted, at most ``names_per_unit`` named, the first in Vietnamese
    name order (:func:`surveys.names.name_key`; sorted here, not in SQL, so that SQLite and
    PostgreSQL agree and the cap keeps the right names)."""
    groups: list[tuple[int, str, list[str]]] = []
    for unit_id, unit_name, name in rows:
        if not groups or groups[-1][0] != unit_id:
            groups.append((int(unit_id), str(unit_name), []))
        groups[-1][2].append(str(name))
    return [
        UnitPending(uid, uname, len(names), tuple(sorted(names, key=name_key)[:names_per_unit]))
        for uid, uname, names in groups
    ]


@dataclass(frozen=True)
class Acknowledged:
    """The outcome of an "Đã nắm" press: ``outcome`` is acknowledged, already or not_found."""

    outcome: str
    notice_id: int | None = None


ACKNOWLEDGED = "acknowledged"
ALREADY = "already"
NOT_FOUND = "not_found"


async def acknowledge(
    session: AsyncSession, *, delivery_id: int, person_id: int, now: dt.datetime
) -> Acknowledged:
    """Record that ``person_id`` acknowledged the delivery, once.

    A delivery of someone else, or no delivery at all (a forged or mangled button), is
    ``not_found`` and changes nothing; a second press is ``already``.  The notice's age does not
    matter.  Any status is accepted: a member may press the button before the worker has recorded
    the send.
    """
    owned = and_(deliveries.c.id == delivery_id, deliveries.c.person_id == person_id)
    result = await session.execute(
        update(deliveries)
        .where(owned, deliveries.c.acknowledged_at.is_(None))
        .values(acknowledged_at=now)
    )
    row = (await session.execute(select(deliveries.c.notice_id).where(owned))).first()
    if row is None:
        return Acknowledged(NOT_FOUND)
    await session.execute(  # reminders of it still waiting are pointless now
        update(deliveries)
        .where(deliveries.c.reminds_id == delivery_id, deliveries.c.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.FAILED, error=ACKNOWLEDGED)
    )
    notice_id = None if row[0] is None else int(row[0])
    return Acknowledged(ACKNOWLEDGED if rowcount(result) == 1 else ALREADY, notice_id)


async def newest_unacknowledged(session: AsyncSession, *, person_id: int) -> int | None:
    """The person's newest notice delivery with a "Đã nắm" button not yet acknowledged (what
    "đã nắm" typed on a channel without buttons acknowledges), or None."""
    stmt = (
        select(deliveries.c.id)
        .where(
            deliveries.c.person_id == person_id,
            deliveries.c.kind == DeliveryKind.NOTICE,
            deliveries.c.ack_button.is_(True),
            deliveries.c.acknowledged_at.is_(None),
            deliveries.c.status == DeliveryStatus.SENT,
        )
        .order_by(deliveries.c.sent_at.desc(), deliveries.c.id.desc())
        .limit(1)
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    return None if found is None else int(found)


# --------------------------------------------------------------------------- reminders


@dataclass(frozen=True)
class AckReminderBatch:
    """Reminders of notices not acknowledged, written by one pass or one officer's press."""

    headers: Mapping[str, str]  # locale → the line put above the notice's own text
    default_locale: str
    now: dt.datetime  # the rows' created_at: what one pass or press wrote is found by it
    max_per_delivery: int  # reminders (automatic and by hand) per person per notice
    available_at: dt.datetime | None = None  # None: now


async def remind_unacknowledged(
    session: AsyncSession,
    *,
    notice_ids: Sequence[int],
    batch: AckReminderBatch,
    not_since: dt.datetime,
    sent_before: dt.datetime | None = None,
) -> int:
    """One reminder to everyone a notice of ``notice_ids`` was delivered to (status sent,
    with the "Đã nắm" button) who has not acknowledged it, has had fewer than
    ``max_per_delivery`` reminders of it and none since ``not_since``; with ``sent_before``
    only deliveries sent before it.  One INSERT … SELECT: each reminder is the notice's text
    under the header, points at the delivery (``reminds_id``: its button acknowledges that
    row) and goes to the person's newest linked chat (``unreachable`` with the reason when
    there is none).  Returns how many were written."""
    if not notice_ids:
        return 0
    original = deliveries.alias("original")
    o = original.c
    r = deliveries.alias("earlier_reminder")  # found through the index on reminds_id
    reminded = (
        select(func.count())
        .select_from(r)
        .where(r.c.reminds_id == o.id)
        .correlate(original)
        .scalar_subquery()
    )
    recent = (
        select(r.c.id)
        .where(r.c.reminds_id == o.id, r.c.created_at >= not_since)
        .correlate(original)
        .exists()
    )
    conditions = [
        o.notice_id.is_not(None),  # with acknowledged_at IS NULL: ix_deliveries_unacknowledged
        o.notice_id.in_(list(notice_ids)),
        o.kind == DeliveryKind.NOTICE,
        # "sent" as the time it was sent, not the status: a status term made SQLite walk every
        # sent delivery ever (ix_deliveries_due) instead of this notice's unacknowledged ones.
        o.sent_at.is_not(None),
        o.acknowledged_at.is_(None),
        o.ack_button.is_(True),
        o.person_id.is_not(None),
        ~recent,
        reminded < batch.max_per_delivery,
    ]
    if sent_before is not None:
        conditions.append(o.sent_at <= sent_before)
    to = newest_chat_of(original, o.person_id)
    header = localized(dict(batch.headers), batch.default_locale, to.locale)
    rows = (
        select(
            literal(DeliveryKind.REMINDER.value),
            o.id,
            o.person_id,
            to.chat_id,
            to.channel,
            to.external_id,
            header + o.text,
            literal(True),
            to.status,
            literal(0),
            literal(batch.available_at or batch.now, type_=deliveries.c.available_at.type),
            to.reason,
            literal(batch.now, type_=deliveries.c.created_at.type),
        )
        .select_from(to.source)
        .where(*conditions)
        .order_by(o.person_id)
    )
    columns = [
        "kind",
        "reminds_id",
        "person_id",
        "chat_id",
        "channel",
        "external_id",
        "text",
        "ack_button",
        "status",
        "attempts",
        "available_at",
        "error",
        "created_at",
    ]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    written = rowcount(await session.execute(insert(deliveries).from_select(columns, rows)))
    return mark_written(session, written)


async def ack_reminders_written(
    session: AsyncSession, *, notice_id: int, at: dt.datetime
) -> tuple[int, int]:
    """(queued, unreachable): the notice's reminders written at ``at`` (one press or pass)."""
    original = deliveries.alias("original")
    rows = (
        await session.execute(
            select(deliveries.c.status, func.count())
            .select_from(deliveries.join(original, original.c.id == deliveries.c.reminds_id))
            .where(original.c.notice_id == notice_id, deliveries.c.created_at == at)
            .group_by(deliveries.c.status)
        )
    ).all()
    by_status = {str(status): int(n) for status, n in rows}
    return by_status.get(DeliveryStatus.QUEUED.value, 0), by_status.get(
        DeliveryStatus.UNREACHABLE.value, 0
    )


async def notices_sent_since(session: AsyncSession, *, since: dt.datetime) -> list[int]:
    """Queued notices whose sending time (scheduled, or when confirmed) is at or after
    ``since``: those whose members the automatic reminders still chase."""
    moment = func.coalesce(notices.c.send_at, notices.c.queued_at)
    stmt = (
        select(notices.c.id)
        .where(notices.c.status == NoticeStatus.QUEUED, moment >= since)
        .order_by(notices.c.id)
    )
    return [int(r[0]) for r in (await session.execute(stmt)).all()]
