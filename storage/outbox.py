"""The outbox: durable delivery rows, claimed with a lease, their outcomes recorded in bulk.

See :class:`storage.models.DeliveryStatus` for the lifecycle.  Every function here runs in the
caller's transaction and never commits.  The worker commits a claim *before* it makes any
HTTP call, so a claim is a short transaction; a crash leaves claimed rows ``sending`` with a
lease that expires, and the next claim takes them back.

A lease is identified by (owner, attempts): each claim increments ``attempts``, so a result
is applied only while the row still carries the lease it was sent under.  A late result for a
row another worker has reclaimed since is ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage import sqlite_driver
from storage.models import (
    Channel,
    ChatIdentity,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    Person,
    utcnow,
)
from storage.redact import safe_text

DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
CHATS: Table = ChatIdentity.__table__  # type: ignore[attr-defined]
PEOPLE: Table = Person.__table__  # type: ignore[attr-defined]
NOTICES: Table = Notice.__table__  # type: ignore[attr-defined]

ERROR_MAX = 500
CHUNK = 500  # ids per IN (...) list
STOPPED = "stopped"
NOT_LINKED = "never_linked"
WITHDRAWN = "withdrawn"  # the person withdrew their consent (or was erased): quiet kinds only
# Set in a session's ``info`` once it queued deliveries: whoever commits it wakes the worker.
WRITTEN = "outbox_written"


def mark_written(session: AsyncSession, count: int) -> int:
    """Every path that inserts deliveries calls this with how many it inserted: once the
    session commits, the unit of work (or the scheduler) wakes the delivery worker."""
    if count:
        session.info[WRITTEN] = True
    return count


FINAL = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNREACHABLE})
_QUIET_KINDS = (  # what /stop stops
    DeliveryKind.NOTICE,
    DeliveryKind.INVITATION,
    DeliveryKind.REMINDER,
    DeliveryKind.DIGEST,
)


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _error(text: str | None) -> str | None:
    """A delivery's error as stored: scrubbed of message texts, quoted values and numbers
    (:func:`storage.redact.safe_text`), whoever formatted it."""
    return safe_text(text, limit=ERROR_MAX)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


# -- enqueue ------------------------------------------------------------------------------------


async def enqueue(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert delivery rows; a row whose (notice_id, person_id) exists already is skipped.

    Each row is a mapping of ``deliveries`` columns (at least ``text``; usually ``notice_id``,
    ``person_id``, ``chat_id``, ``external_id``, ``ack_button``, ``kind``, ``available_at``).
    A queued row for a chat known to be unreachable (blocked the bot), stopped (for notices
    and reminders), or without a chat at all is written ``unreachable`` at once, with the
    reason in ``error``.  Returns how many rows were inserted.
    """
    if not rows:
        return 0
    now = utcnow()
    chat_ids = sorted({int(r["chat_id"]) for r in rows if r.get("chat_id") is not None})
    unreachable: dict[int, str] = {}
    stopped: set[int] = set()
    for chunk in _chunks(chat_ids):
        lookup = select(
            CHATS.c.id, CHATS.c.unreachable_at, CHATS.c.unreachable_reason, CHATS.c.stopped
        ).where(
            CHATS.c.id.in_(chunk),
            or_(CHATS.c.unreachable_at.is_not(None), CHATS.c.stopped.is_(True)),
        )
        for chat_id, unreachable_at, why, is_stopped in (await session.execute(lookup)).all():
            if unreachable_at is not None:
                unreachable[chat_id] = why or "unreachable"
            if is_stopped:
                stopped.add(chat_id)
    person_ids = sorted({int(r["person_id"]) for r in rows if r.get("person_id") is not None})
    withdrawn: set[int] = set()
    for chunk in _chunks(person_ids):
        gone = select(PEOPLE.c.id).where(
            PEOPLE.c.id.in_(chunk),
            or_(PEOPLE.c.consent_withdrawn_at.is_not(None), PEOPLE.c.erased_at.is_not(None)),
        )
        withdrawn.update(int(pid) for pid in (await session.execute(gone)).scalars())
    values: list[dict[str, Any]] = []
    for row in rows:
        value: dict[str, Any] = {
            "kind": DeliveryKind.NOTICE,
            "channel": None,
            "ack_button": False,
            "status": DeliveryStatus.QUEUED,
            "attempts": 0,
            "available_at": now,
            "created_at": now,
            "notice_id": None,
            "run_id": None,
            "person_id": None,
            "chat_id": None,
            "external_id": None,
            "error": None,
            **row,
        }
        if value["chat_id"] is not None and value["channel"] is None:
            raise ValueError("a delivery to a chat takes the chat's channel")
        if value["status"] == DeliveryStatus.QUEUED:
            chat_id = value["chat_id"]
            reason: str | None = None
            if value["person_id"] in withdrawn and DeliveryKind(value["kind"]) in _QUIET_KINDS:
                reason = WITHDRAWN
            elif chat_id is None or not value["external_id"]:
                reason = NOT_LINKED
            elif chat_id in unreachable:
                reason = unreachable[chat_id]
            elif chat_id in stopped and DeliveryKind(value["kind"]) in _QUIET_KINDS:
                reason = STOPPED
            if reason is not None:
                value["status"] = DeliveryStatus.UNREACHABLE
                value["error"] = reason
        values.append(value)
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    stmt = (
        insert(DELIVERIES)
        .on_conflict_do_nothing(
            index_elements=["notice_id", "person_id"],
            index_where=DELIVERIES.c.notice_id.is_not(None),
        )
        .returning(DELIVERIES.c.id)
    )
    inserted = 0
    for chunk in _chunks(values, 2000):
        # executemany with RETURNING ("insertmanyvalues"): rowcount is not reliable here
        inserted += len((await session.execute(stmt, list(chunk))).all())
    return mark_written(session, inserted)


# -- claim --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery row, with what sending it needs."""

    id: int
    kind: DeliveryKind
    notice_id: int | None
    person_id: int | None
    chat_id: int | None
    channel: Channel
    external_id: str | None
    text: str
    ack_button: bool
    attempts: int  # including this claim: the lease's fencing token
    lease_expires_at: dt.datetime
    attachment_kind: str | None = None
    attachment_ref: str | None = None
    skip_reason: str | None = None  # the chat is known unreachable or stopped: do not send
    run_id: int | None = None  # a campaign's invitation or reminder
    reminds_id: int | None = None  # a notice's reminder: the delivery its button acknowledges
    locale: str | None = None  # the chat's: the language of what the channel adds (buttons)


class LeaseArgs(TypedDict):
    """What a claim leases (:func:`lease_due`): to whom, at what time, until when, how many
    rows at most; ``max_attempts`` claims before a row whose lease expired is failed instead;
    the rows of ``channels`` only (all but them with ``exclude``)."""

    owner: str
    now: dt.datetime
    lease_until: dt.datetime
    limit: int
    max_attempts: NotRequired[int | None]
    channels: NotRequired[Sequence[Channel] | None]
    exclude: NotRequired[bool]


@dataclass(frozen=True)
class _Lease:
    fail: Any  # fails the rows whose lease expired max_attempts times
    claims: tuple[Any, ...]  # expired leases, then queued rows: UPDATE … RETURNING id


_LEASES: dict[tuple[tuple[Channel, ...] | None, bool], _Lease] = {}


def _lease_statements(channels: tuple[Channel, ...] | None, exclude: bool) -> _Lease:
    """A claim's statements for ``channels``/``exclude``, built once (their parameters named:
    ``b_now``, ``b_until``, ``b_owner``, ``b_limit``, ``b_max``)."""
    key = (channels, exclude)
    found = _LEASES.get(key)
    if found is not None:
        return found
    c = DELIVERIES.c
    now = bindparam("b_now", type_=c.available_at.type)
    fail = (
        update(DELIVERIES)
        .where(
            c.status == DeliveryStatus.SENDING,
            c.lease_expires_at < now,
            c.attempts >= bindparam("b_max", type_=Integer),
        )
        .values(
            status=DeliveryStatus.FAILED,
            error=bindparam("b_error", type_=c.error.type),
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    claims = []
    for due in (
        and_(c.status == DeliveryStatus.SENDING, c.lease_expires_at < now),
        and_(c.status == DeliveryStatus.QUEUED, c.available_at <= now),
    ):
        rows = (
            select(c.id)
            .where(due, _on(channels, exclude))
            .order_by(c.available_at, c.id)
            .limit(bindparam("b_limit", type_=Integer))
            .with_for_update(skip_locked=True)
        )
        claims.append(
            update(DELIVERIES)
            .where(c.id.in_(rows.scalar_subquery()))
            .values(
                status=DeliveryStatus.SENDING,
                lease_owner=bindparam("b_owner", type_=c.lease_owner.type),
                lease_expires_at=bindparam("b_until", type_=c.lease_expires_at.type),
                attempts=c.attempts + 1,
            )
            .returning(c.id)
        )
    found = _LEASES[key] = _Lease(fail, tuple(claims))
    return found


async def lease_due(
    session: AsyncSession | AsyncConnection, **lease: Unpack[LeaseArgs]
) -> list[int]:
    """Lease up to ``limit`` due rows to ``owner``; their ids, ascending.  Only rows of
    ``channels`` (all but them with ``exclude``), when given: each channel's rows are claimed
    and paced apart, so that a slow channel never holds up another.

    Due: sending with an expired lease (its worker died: these go first, oldest first), then
    queued and available, oldest first.  Each of the two is one UPDATE that walks
    ``ix_deliveries_due`` (status, available_at, id) in order: the first reads the rows being
    sent (a few claims' worth), the second only the rows it takes.  Neither sorts the backlog,
    as one query with an OR of both did (every due row of a 30,000-member notice, at every
    claim).  A row whose lease expired after ``max_attempts`` claims is failed instead of
    claimed again.  On PostgreSQL rows locked by a concurrent claim are skipped (``FOR UPDATE
    SKIP LOCKED``); on SQLite the UPDATEs hold the database's write lock.  The transaction is
    the caller's, who commits at once, then reads the rows with :func:`claimed`
    (:func:`lease_now` is this, committed).
    """
    statements, values, limit = _lease_of(lease)
    if values["b_max"] is not None:
        await session.execute(statements.fail, values)
    ids: list[int] = []
    for claim in statements.claims:
        if len(ids) >= limit:
            break
        ids += (await session.execute(claim, {**values, "b_limit": limit - len(ids)})).scalars()
    return sorted(ids)


def _lease_of(lease: LeaseArgs) -> tuple[_Lease, dict[str, Any], int]:
    """A claim's statements, their parameters, and its limit."""
    channels = lease.get("channels")
    statements = _lease_statements(
        tuple(channels) if channels is not None else None, lease.get("exclude", False)
    )
    max_attempts = lease.get("max_attempts")
    values = {
        "b_owner": lease["owner"],
        "b_now": lease["now"],
        "b_until": lease["lease_until"],
        "b_max": max_attempts,
        "b_error": f"lease expired {max_attempts} times (worker crashed while sending)",
    }
    return statements, values, lease["limit"]


async def lease_now(conn: AsyncConnection, **lease: Unpack[LeaseArgs]) -> list[int]:
    """:func:`lease_due` for the worker's claim, on a Core connection whose transaction has
    run nothing yet and which the caller commits at once (``Database.connection`` does at
    the block's end).  On SQLite (the one-trip driver) the statements and their commit are
    one trip to the database's thread, the ids read as plain tuples, and the caller's commit
    has nothing left to do: through SQLAlchemy a claim cost ~3.6 ms of CPU around SQLite's
    ~1.5 ms of work, all of it holding the write lock that the outcomes' writes wait for."""
    if not sqlite_driver.one_trip(conn):
        return await lease_due(conn, **lease)
    statements, values, limit = _lease_of(lease)
    dialect = conn.dialect
    fail = sqlite_driver.prepare(statements.fail, dialect) if values["b_max"] is not None else None
    claims = [sqlite_driver.prepare(claim, dialect) for claim in statements.claims]
    return await sqlite_driver.in_one_trip(
        conn,
        _lease_on_thread,
        (fail, claims, values, limit),
        what=[ready.sql for ready in claims],
    )


def _lease_on_thread(
    raw: sqlite3.Connection,
    args: tuple[sqlite_driver.Prepared | None, list[sqlite_driver.Prepared], dict[str, Any], int],
) -> list[int]:
    """On the database's thread: :func:`lease_due`'s statements, then the commit."""
    fail, claims, values, limit = args
    if fail is not None:
        raw.execute(fail.sql, fail.row(values))
    ids: list[int] = []
    for ready in claims:
        if len(ids) >= limit:
            break
        ids += [
            row[0]
            for row in raw.execute(ready.sql, ready.row({**values, "b_limit": limit - len(ids)}))
        ]
    raw.commit()
    return sorted(ids)


def _claimed_statement(by_json: bool) -> Any:
    """The read of leased rows with what sending them needs: by ``id IN (…)``, or on SQLite
    by ids given as one JSON array (``b_ids``), so that the statement is compiled once."""
    c, n, ch = DELIVERIES.c, NOTICES.c, CHATS.c
    if by_json:
        ids: Any = select(literal_column("value")).select_from(
            func.json_each(bindparam("b_ids", type_=String))
        )
        which = c.id.in_(ids.scalar_subquery())
    else:
        which = c.id.in_(bindparam("b_ids", expanding=True))
    return (
        select(
            c.id,
            c.kind,
            c.notice_id,
            c.person_id,
            c.chat_id,
            c.channel,
            c.external_id,
            c.text,
            c.ack_button,
            c.run_id,
            c.reminds_id,
            c.attempts,
            c.lease_expires_at,
            n.attachment_kind,
            n.attachment_ref,
            ch.unreachable_at.is_not(None).label("unreachable"),
            ch.unreachable_reason,
            ch.stopped,
            ch.locale,
            or_(PEOPLE.c.consent_withdrawn_at.is_not(None), PEOPLE.c.erased_at.is_not(None)).label(
                "withdrawn"
            ),
        )
        .select_from(
            DELIVERIES.outerjoin(NOTICES, n.id == c.notice_id)
            .outerjoin(CHATS, ch.id == c.chat_id)
            .outerjoin(PEOPLE, PEOPLE.c.id == c.person_id)
        )
        .where(which)
        .order_by(c.available_at, c.id)
    )


_CLAIMED = _claimed_statement(False)
_CLAIMED_JSON = _claimed_statement(True)


async def claimed(session: AsyncSession | AsyncConnection, ids: Sequence[int]) -> list[Claimed]:
    """What sending the leased rows ``ids`` needs, in the order they were due: a read, which
    may run after the lease's commit (on SQLite, outside the write lock; with the one-trip
    driver and a Core connection in one trip, the rows as plain tuples)."""
    if not ids:
        return []
    if isinstance(session, AsyncConnection) and sqlite_driver.one_trip(session):
        ready = sqlite_driver.prepare(_CLAIMED_JSON, session.dialect)
        rows: Iterable[Sequence[Any]] = await sqlite_driver.in_one_trip(
            session,
            _fetch_on_thread,
            (ready.sql, ready.row({"b_ids": json.dumps(list(ids))})),
            what=[ready.sql],
        )
    else:
        rows = (await session.execute(_CLAIMED, {"b_ids": list(ids)})).all()
    out: list[Claimed] = []
    for (
        id_,
        kind,
        notice_id,
        person_id,
        chat_id,
        channel,
        external_id,
        text_,
        ack_button,
        run_id,
        reminds_id,
        attempts,
        lease_expires_at,
        attachment_kind,
        attachment_ref,
        unreachable,
        unreachable_reason,
        stopped,
        locale,
        withdrawn,
    ) in rows:
        kind = DeliveryKind(kind)
        skip: str | None = None
        if withdrawn and kind in _QUIET_KINDS:
            skip = WITHDRAWN  # queued before the withdrawal was committed
        elif unreachable:
            skip = unreachable_reason or "unreachable"
        elif stopped and kind in _QUIET_KINDS:
            skip = STOPPED
        out.append(
            Claimed(
                id=id_,
                kind=kind,
                notice_id=notice_id,
                person_id=person_id,
                chat_id=chat_id,
                channel=Channel(channel),
                external_id=external_id,
                text=text_,
                ack_button=bool(ack_button),
                attempts=attempts,
                lease_expires_at=_timestamp(lease_expires_at),
                attachment_kind=attachment_kind,
                attachment_ref=attachment_ref,
                skip_reason=skip,
                run_id=run_id,
                reminds_id=reminds_id,
                locale=locale,
            )
        )
    return out


def _fetch_on_thread(raw: sqlite3.Connection, args: tuple[str, tuple[Any, ...]]) -> list[Any]:
    sql, values = args
    return raw.execute(sql, values).fetchall()


def _timestamp(value: dt.datetime | str) -> dt.datetime:
    """A timestamp as read: SQLAlchemy's (aware, or naive UTC) or SQLite's own text."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return aware(value)


async def expire_leases(session: AsyncSession, *, owner: str, now: dt.datetime) -> int:
    """End every lease ``owner`` holds (its previous run died): the next claim takes them."""
    c = DELIVERIES.c
    result = await session.execute(
        update(DELIVERIES)
        .where(c.status == DeliveryStatus.SENDING, c.lease_owner == owner)
        .values(lease_expires_at=now - dt.timedelta(microseconds=1))
    )
    return max(getattr(result, "rowcount", 0) or 0, 0)


# -- record -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """The outcome of one leased send, to apply if the row still carries that lease."""

    delivery_id: int
    attempt: int  # Claimed.attempts: the lease it was sent under
    status: DeliveryStatus  # SENT, FAILED, UNREACHABLE, or QUEUED (try again at available_at)
    platform_message_id: str | None = None
    error: str | None = None
    available_at: dt.datetime | None = None  # QUEUED: not before this
    refund: bool = False  # QUEUED without spending the attempt (nothing was sent)
    chat_id: int | None = None  # UNREACHABLE: the chat to mark unreachable


def _record_statements() -> dict[tuple[DeliveryStatus, bool], Any]:
    """The UPDATE for each kind of outcome, built once (executemany, one row per result).
    Each applies only while the row is still ``sending`` under the same lease."""
    c = DELIVERIES.c
    base = update(DELIVERIES).where(
        c.id == bindparam("b_id"),
        c.status == DeliveryStatus.SENDING,
        c.lease_owner == bindparam("b_owner"),
        c.attempts == bindparam("b_attempt"),
    )
    free: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    queued: dict[str, Any] = {
        "status": DeliveryStatus.QUEUED,
        "available_at": bindparam("b_at"),
        "error": bindparam("b_error"),
        **free,
    }
    return {
        (DeliveryStatus.SENT, False): base.values(
            status=DeliveryStatus.SENT,
            platform_message_id=bindparam("b_mid"),
            sent_at=bindparam("b_now"),
            error=None,
            **free,
        ),
        (DeliveryStatus.QUEUED, False): base.values(**queued),
        (DeliveryStatus.QUEUED, True): base.values(**queued, attempts=c.attempts - 1),
        (DeliveryStatus.FAILED, False): base.values(
            status=DeliveryStatus.FAILED, error=bindparam("b_error"), **free
        ),
        (DeliveryStatus.UNREACHABLE, False): base.values(
            status=DeliveryStatus.UNREACHABLE, error=bindparam("b_error"), **free
        ),
    }


_RECORD = _record_statements()
_MARK_UNREACHABLE = (
    update(CHATS)
    .where(CHATS.c.id == bindparam("b_chat"), CHATS.c.unreachable_at.is_(None))
    .values(
        unreachable_at=bindparam("b_now"),
        unreachable_reason=bindparam("b_reason"),
        updated_at=bindparam("b_now"),
    )
)


def record_work(
    *, owner: str, results: Sequence[Result], now: dt.datetime
) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The statements that apply ``results`` (see :func:`record`), each with its rows, for
    ``session.execute`` or :meth:`storage.db.Database.write_many`."""
    groups: dict[tuple[DeliveryStatus, bool], list[dict[str, Any]]] = defaultdict(list)
    chats: dict[int, str] = {}
    for r in results:
        params: dict[str, Any] = {"b_id": r.delivery_id, "b_attempt": r.attempt, "b_owner": owner}
        if r.status == DeliveryStatus.SENT:
            params["b_mid"] = r.platform_message_id
            params["b_now"] = now
        elif r.status == DeliveryStatus.QUEUED:
            params["b_at"] = r.available_at or now
            params["b_error"] = _error(r.error)
        elif r.status in (DeliveryStatus.FAILED, DeliveryStatus.UNREACHABLE):
            params["b_error"] = _error(r.error)
            if r.status == DeliveryStatus.UNREACHABLE and r.chat_id is not None:
                chats.setdefault(r.chat_id, (_error(r.error) or "unreachable")[:255])
        else:
            raise ValueError(f"cannot record a delivery as {r.status}")
        groups[(r.status, r.refund and r.status == DeliveryStatus.QUEUED)].append(params)
    work: list[tuple[Any, list[dict[str, Any]]]] = [
        (_RECORD[key], rows) for key, rows in groups.items()
    ]
    if chats:
        work.append(
            (
                _MARK_UNREACHABLE,
                [
                    {"b_chat": cid, "b_reason": reason, "b_now": now}
                    for cid, reason in chats.items()
                ],
            )
        )
    return work


async def record(
    session: AsyncSession | AsyncConnection,
    *,
    owner: str,
    results: Sequence[Result],
    now: dt.datetime | None = None,
) -> None:
    """Apply outcomes in bulk (one executemany per kind), each only to a row still leased
    by ``owner`` under the same attempt.  An unreachable outcome also marks the chat
    unreachable (when not marked already), so later enqueues skip it at once."""
    if not results:
        return
    for statement, rows in record_work(owner=owner, results=results, now=now or utcnow()):
        await session.execute(statement, rows)


# -- reading ------------------------------------------------------------------------------------


def _on(channels: Sequence[Channel] | None, exclude: bool) -> ColumnElement[bool]:
    c = DELIVERIES.c
    if channels is None:
        return true()
    if not channels:
        return true() if exclude else false()
    # Each channel a value of its own (no expanding IN): the claim's statements are compiled
    # once and run on SQLite as they are (sqlite_driver.prepare).
    if exclude:
        return or_(c.channel.is_(None), and_(*(c.channel != channel for channel in channels)))
    return or_(*(c.channel == channel for channel in channels))


async def next_due(
    session: AsyncSession, *, channels: Sequence[Channel] | None = None, exclude: bool = False
) -> dt.datetime | None:
    """When the next row becomes due (a queued row's available_at, or a lease's expiry);
    None when nothing is queued or sending.  ``channels``/``exclude`` as for lease_due."""
    c = DELIVERIES.c
    on = _on(channels, exclude)
    queued = (
        await session.execute(
            select(func.min(c.available_at)).where(c.status == DeliveryStatus.QUEUED, on)
        )
    ).scalar()
    leased = (
        await session.execute(
            select(func.min(c.lease_expires_at)).where(c.status == DeliveryStatus.SENDING, on)
        )
    ).scalar()
    times = [aware(t) for t in (queued, leased) if t is not None]
    return min(times) if times else None


async def counts(session: AsyncSession, *, notice_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per notice: the number of rows in each status (every status present, 0 if none) and
    ``acknowledged``; one GROUP BY query."""
    out: dict[int, dict[str, int]] = {
        nid: {**{s.value: 0 for s in DeliveryStatus}, "acknowledged": 0} for nid in notice_ids
    }
    if not notice_ids:
        return out
    c = DELIVERIES.c
    stmt = (
        select(c.notice_id, c.status, func.count(), func.count(c.acknowledged_at))
        .where(c.notice_id.in_(list(notice_ids)))
        .group_by(c.notice_id, c.status)
    )
    for notice_id, status, number, acknowledged in (await session.execute(stmt)).all():
        entry = out[notice_id]
        entry[DeliveryStatus(status).value] += number
        entry["acknowledged"] += acknowledged
    return out
