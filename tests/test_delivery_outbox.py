"""The outbox in the database (SQLite and PostgreSQL): enqueue, claim with leases, record."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.delivery.worker import DeliverySettings, DeliveryWorker
from storage import outbox
from storage.db import Database
from storage.models import ChatIdentity, Delivery, DeliveryKind, DeliveryStatus
from storage.outbox import Result
from tests.test_delivery_broadcast import CountingSender
from tests.test_delivery_support import (
    Recipient,
    claim_due,
    delivery_rows,
    enqueue_notice,
    seed_notice,
    seed_recipients,
)

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def rows_of(db: Database) -> list[Delivery]:
    async with db.session() as session:
        return list((await session.execute(select(Delivery).order_by(col(Delivery.id)))).scalars())


async def claim(db: Database, owner: str, now: dt.datetime, limit: int = 100) -> list[int]:
    async with db.session() as session:
        got = await claim_due(
            session, owner=owner, now=now, lease_until=now + LEASE, limit=limit, max_attempts=3
        )
    return [c.id for c in got]


async def record(
    db: Database, owner: str, now: dt.datetime, *results: Result, via: str = "session"
) -> None:
    """Outcomes recorded in a session (``outbox.record``), or as the worker records them
    (``Database.write_many``, or ``Database.writes`` holding its connection: on SQLite one
    trip, outside SQLAlchemy's execution)."""
    work = outbox.record_work(owner=owner, results=list(results), now=now)
    if via == "write_many":
        await db.write_many(work)
        return
    if via == "writes":
        async with db.writes() as write:
            await write(work)
        return
    async with db.session() as session:
        await outbox.record(session, owner=owner, results=list(results), now=now)


@pytest.fixture(params=["session", "write_many", "writes"])
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def setup(db: Database, people: int) -> tuple[int, list[Recipient]]:
    recipients = await seed_recipients(db, people)
    notice = await seed_notice(db)
    await enqueue_notice(db, notice, recipients, available_at=T0)
    return notice, recipients


async def test_enqueue_twice_is_harmless(db: Database) -> None:
    recipients = await seed_recipients(db, 4)
    notice = await seed_notice(db)
    assert await enqueue_notice(db, notice, recipients) == 4
    assert await enqueue_notice(db, notice, recipients) == 0
    assert await enqueue_notice(db, notice, recipients[:2] + recipients[:2]) == 0
    rows = await rows_of(db)
    assert len(rows) == 4
    assert {r.status for r in rows} == {DeliveryStatus.QUEUED}
    assert {r.person_id for r in rows} == {r.person_id for r in recipients}


async def test_enqueue_marks_known_unreachable_chats_at_once(db: Database) -> None:
    recipients = await seed_recipients(db, 4)
    blocked, stopped = recipients[0], recipients[1]
    async with db.session() as session:
        await session.execute(
            update(ChatIdentity)
            .where(col(ChatIdentity.id) == blocked.chat_id)
            .values(unreachable_at=T0, unreachable_reason="blocked")
        )
        await session.execute(
            update(ChatIdentity).where(col(ChatIdentity.id) == stopped.chat_id).values(stopped=True)
        )
    notice = await seed_notice(db)
    rows = delivery_rows(notice, recipients)
    rows[3]["chat_id"] = None  # a member who never linked a chat
    rows[3]["external_id"] = None
    message = delivery_rows(notice, [stopped])[0] | {
        "kind": DeliveryKind.MESSAGE,
        "notice_id": None,
    }
    async with db.session() as session:
        assert await outbox.enqueue(session, rows=[*rows, message]) == 5
    got = {(r.person_id, r.kind): (r.status, r.error) for r in await rows_of(db)}
    assert got == {
        (blocked.person_id, DeliveryKind.NOTICE): (DeliveryStatus.UNREACHABLE, "blocked"),
        (stopped.person_id, DeliveryKind.NOTICE): (DeliveryStatus.UNREACHABLE, "stopped"),
        (recipients[2].person_id, DeliveryKind.NOTICE): (DeliveryStatus.QUEUED, None),
        (recipients[3].person_id, DeliveryKind.NOTICE): (
            DeliveryStatus.UNREACHABLE,
            "never_linked",
        ),
        # /stop silences notices and reminders, not a direct message
        (stopped.person_id, DeliveryKind.MESSAGE): (DeliveryStatus.QUEUED, None),
    }


async def test_claim_leases_due_rows_oldest_first(db: Database) -> None:
    recipients = await seed_recipients(db, 5)
    notice = await seed_notice(db)
    rows = delivery_rows(notice, recipients)
    for i, row in enumerate(rows):
        row["available_at"] = at([3, 1, 2, 0, 100][i])
    async with db.session() as session:
        await outbox.enqueue(session, rows=rows)
    ids = [r.id for r in await rows_of(db)]
    assert await claim(db, "w1", at(10), limit=2) == [ids[3], ids[1]]
    assert await claim(db, "w2", at(10), limit=5) == [ids[2], ids[0]]
    assert await claim(db, "w3", at(10)) == []  # the last row is due at +100 s
    by_id = {r.id: r for r in await rows_of(db)}
    leased = by_id[ids[3]]
    assert (leased.status, leased.lease_owner, leased.attempts) == (DeliveryStatus.SENDING, "w1", 1)
    assert outbox.aware(leased.lease_expires_at or T0) == at(70)
    assert by_id[ids[4]].status == DeliveryStatus.QUEUED


async def test_claim_returns_what_sending_needs(db: Database) -> None:
    recipients = await seed_recipients(db, 1)
    notice = await seed_notice(db, attachment_kind="photo", attachment_ref="AgADfile")
    await enqueue_notice(db, notice, recipients, available_at=T0, text="Xin chào {n}")
    async with db.session() as session:
        [got] = await claim_due(session, owner="w", now=at(1), lease_until=at(61), limit=10)
    assert (got.text, got.external_id, got.ack_button, got.attempts) == (
        "Xin chào 0",
        recipients[0].external_id,
        True,
        1,
    )
    assert (got.attachment_kind, got.attachment_ref, got.skip_reason) == ("photo", "AgADfile", None)
    assert got.lease_expires_at == at(61)


async def test_claim_flags_chats_that_became_unreachable(db: Database) -> None:
    _, recipients = await setup(db, 2)
    async with db.session() as session:  # blocked after the enqueue (my_chat_member)
        await session.execute(
            update(ChatIdentity)
            .where(col(ChatIdentity.id) == recipients[1].chat_id)
            .values(unreachable_at=T0, unreachable_reason="blocked")
        )
        got = await claim_due(session, owner="w", now=at(1), lease_until=at(61), limit=10)
    assert [(c.person_id, c.skip_reason) for c in got] == [
        (recipients[0].person_id, None),
        (recipients[1].person_id, "blocked"),
    ]


async def test_concurrent_claimers_never_share_a_row(db: Database) -> None:
    await setup(db, 60)
    owners = [f"w{i}" for i in range(6)]
    got: dict[str, list[int]] = {o: [] for o in owners}

    async def claimer(owner: str) -> None:
        for _ in range(6):
            got[owner] += await claim(db, owner, at(5), limit=3)
            await asyncio.sleep(0)

    await asyncio.gather(*(claimer(o) for o in owners))
    every = [i for ids in got.values() for i in ids]
    assert len(every) == len(set(every)) == 60
    owner_of = {r.id: r.lease_owner for r in await rows_of(db)}
    assert all(owner_of[i] == o for o, ids in got.items() for i in ids)


@pytest.mark.postgres
async def test_postgres_claim_skips_rows_locked_by_an_open_claim(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serializes writers")
    await setup(db, 10)
    async with db.session() as first:
        a = await claim_due(first, owner="a", now=at(1), lease_until=at(61), limit=4)
        # The first claim's transaction is still open: its rows are locked, not yet committed.
        async with db.session() as second:
            b = await asyncio.wait_for(
                claim_due(second, owner="b", now=at(1), lease_until=at(61), limit=100),
                timeout=5,
            )
    assert len(a) == 4 and len(b) == 6
    assert not {c.id for c in a} & {c.id for c in b}


async def test_expired_leases_are_reclaimed(db: Database) -> None:
    await setup(db, 3)
    first = await claim(db, "dead", at(1))
    assert await claim(db, "alive", at(60)) == []  # leases run to +61 s
    assert await claim(db, "alive", at(62)) == first
    rows = await rows_of(db)
    assert {(r.lease_owner, r.attempts) for r in rows} == {("alive", 2)}


async def test_expired_leases_go_before_queued_rows(db: Database) -> None:
    """A row whose worker died is taken back before the queued rows, even older ones: it
    was claimed once already and has waited the longest for its message."""
    recipients = await seed_recipients(db, 3)
    notice = await seed_notice(db)
    rows = delivery_rows(notice, recipients)
    rows[0]["available_at"] = at(3)
    async with db.session() as session:
        await outbox.enqueue(session, rows=rows[:1])
    [leased] = await claim(db, "dead", at(4))  # its lease runs to +64 s
    for row in rows[1:]:
        row["available_at"] = T0  # older than the leased row
    async with db.session() as session:
        await outbox.enqueue(session, rows=rows[1:])
    queued = [r.id for r in await rows_of(db) if r.id != leased]
    assert await claim(db, "alive", at(70), limit=2) == [queued[0], leased]  # in due order
    assert await claim(db, "alive", at(70), limit=5) == [queued[1]]
    by_id = {r.id: r for r in await rows_of(db)}
    assert (by_id[leased].lease_owner, by_id[leased].attempts) == ("alive", 2)


async def test_the_workers_claim_commits_and_reads_the_same_rows(db: Database) -> None:
    """``lease_now`` (on SQLite one trip, its commit included) and ``claimed`` through a Core
    connection (on SQLite one trip, plain tuples) give what the session's path gives: the
    same rows, in due order, each field read alike (an attachment, a chat blocked since)."""
    recipients = await seed_recipients(db, 6)
    notice = await seed_notice(db, attachment_kind="photo", attachment_ref="AgADfile")
    await enqueue_notice(db, notice, recipients, available_at=T0, text="Xin chào {n}")
    async with db.session() as session:
        await session.execute(
            update(ChatIdentity)
            .where(col(ChatIdentity.id) == recipients[2].chat_id)
            .values(unreachable_at=T0, unreachable_reason="blocked")
        )
    async with db.connection(write=True) as conn:
        first = await outbox.lease_now(
            conn, owner="w", now=at(1), lease_until=at(61), limit=4, max_attempts=3
        )
    async with db.connection() as other:  # committed: seen from another connection
        seen = await other.execute(select(col(Delivery.id)).where(col(Delivery.lease_owner) == "w"))
        assert sorted(i for i in seen.scalars() if i is not None) == first
    async with db.connection() as conn:
        by_core = await outbox.claimed(conn, first)
    async with db.session() as session:
        by_session = await outbox.claimed(session, first)
    assert by_core == by_session
    assert [c.id for c in by_core] == first and len(first) == 4
    assert [c.skip_reason for c in by_core] == [None, None, "blocked", None]
    assert {(c.attachment_ref, c.lease_expires_at, c.attempts) for c in by_core} == {
        ("AgADfile", at(61), 1)
    }
    assert [c.text for c in by_core] == [f"Xin chào {n}" for n in range(4)]
    async with db.connection(write=True) as conn:
        rest = await outbox.lease_now(conn, owner="w", now=at(1), lease_until=at(61), limit=4)
    assert len(rest) == 2 and not set(rest) & set(first)


async def claim_statements(db: Database) -> list[tuple[str, Any]]:
    """The UPDATEs that lease a claim's 100 rows, with their parameters (as sent to the
    driver)."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sql = statement.upper()
        if sql.lstrip().startswith("UPDATE DELIVERIES SET STATUS") and "RETURNING" in sql:
            seen.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        assert len(await claim(db, "w", at(1))) == 100
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)
    return seen


async def test_a_claim_reads_only_the_rows_it_takes(db: Database) -> None:
    """A claim walks the due index in order and stops at its limit: no sort of the whole
    backlog (which a province notice's 30,000 rows made costly at every claim)."""
    await setup(db, 400)
    statements = await claim_statements(db)
    assert len(statements) == 2  # expired leases, then queued rows
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            for sql, params in statements:
                plan = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)).all()
                details = " | ".join(str(row[-1]) for row in plan)
                assert "ix_deliveries_due" in details and "TEMP B-TREE" not in details, details
        else:
            await conn.exec_driver_sql("ANALYZE deliveries")
            sql, params = statements[1]  # the queued rows: the backlog
            plan = (await conn.exec_driver_sql("EXPLAIN " + sql, params)).all()
            details = " | ".join(str(row[0]) for row in plan)
            assert "ix_deliveries_due" in details and "Sort" not in details, details


async def test_a_claim_leaves_the_write_lock_before_reading_its_rows(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's claim commits its lease, then reads what sending needs: the outcomes'
    writes (on SQLite behind the process's write lock) need not wait for that read."""
    await setup(db, 5)
    reading = asyncio.Event()
    go_on = asyncio.Event()
    read = outbox.claimed

    async def slow_read(conn: Any, ids: Any) -> list[outbox.Claimed]:
        reading.set()
        await go_on.wait()
        return await read(conn, ids)

    monkeypatch.setattr(outbox, "claimed", slow_read)
    worker = DeliveryWorker(db, CountingSender(), DeliverySettings(), owner="w")
    claiming = asyncio.create_task(worker._claim(None, False))
    await asyncio.wait_for(reading.wait(), 5)
    async with asyncio.timeout(5), db.session(write=True) as session:  # not stuck behind it
        await session.execute(update(Delivery).values(error="written meanwhile"))
    go_on.set()
    assert len(await claiming) == 5
    assert {r.error for r in await rows_of(db)} == {"written meanwhile"}


async def test_a_late_result_for_a_reclaimed_row_is_ignored(db: Database, via: str) -> None:
    await setup(db, 1)
    [row_id] = await claim(db, "slow", at(1))
    assert await claim(db, "fast", at(62)) == [row_id]
    await record(
        db, "slow", at(63), Result(row_id, 1, DeliveryStatus.SENT, platform_message_id="7"), via=via
    )
    [row] = await rows_of(db)
    assert (row.status, row.lease_owner, row.platform_message_id) == (
        DeliveryStatus.SENDING,
        "fast",
        None,
    )
    await record(
        db, "fast", at(64), Result(row_id, 2, DeliveryStatus.SENT, platform_message_id="9"), via=via
    )
    [row] = await rows_of(db)
    assert (row.status, row.lease_owner, row.platform_message_id) == (
        DeliveryStatus.SENT,
        None,
        "9",
    )
    assert outbox.aware(row.sent_at or T0) == at(64)
    # and a result arriving after the row is final changes nothing either
    await record(
        db, "slow", at(65), Result(row_id, 1, DeliveryStatus.FAILED, error="late"), via=via
    )
    [row] = await rows_of(db)
    assert (row.status, row.error) == (DeliveryStatus.SENT, None)


async def test_outcomes_are_recorded(db: Database, via: str) -> None:
    notice, recipients = await setup(db, 5)
    ids = await claim(db, "w", at(1))
    await record(
        db,
        "w",
        at(2),
        Result(ids[0], 1, DeliveryStatus.SENT, platform_message_id="101"),
        Result(ids[1], 1, DeliveryStatus.FAILED, error="Bad Request: message is too long"),
        Result(
            ids[2],
            1,
            DeliveryStatus.UNREACHABLE,
            error="Forbidden: bot was blocked by the user",
            chat_id=recipients[2].chat_id,
        ),
        Result(ids[3], 1, DeliveryStatus.QUEUED, error="500", available_at=at(30)),
        Result(ids[4], 1, DeliveryStatus.QUEUED, available_at=at(2), refund=True),
        via=via,
    )
    rows = {r.id: r for r in await rows_of(db)}
    assert [(rows[i].status, rows[i].attempts, rows[i].lease_owner) for i in ids] == [
        (DeliveryStatus.SENT, 1, None),
        (DeliveryStatus.FAILED, 1, None),
        (DeliveryStatus.UNREACHABLE, 1, None),
        (DeliveryStatus.QUEUED, 1, None),
        (DeliveryStatus.QUEUED, 0, None),  # handed back unsent: the attempt is not spent
    ]
    assert outbox.aware(rows[ids[3]].available_at) == at(30)
    async with db.session() as session:
        chat = await session.get(ChatIdentity, recipients[2].chat_id)
        assert chat is not None
        assert chat.unreachable_reason == "Forbidden: bot was blocked by the user"
        assert outbox.aware(chat.unreachable_at or T0) == at(2)
        assert await outbox.next_due(session) == at(2)
        assert await outbox.counts(session, notice_ids=[notice, 999]) == {
            notice: {
                "queued": 2,
                "sending": 0,
                "sent": 1,
                "failed": 1,
                "unreachable": 1,
                "acknowledged": 0,
            },
            999: {
                "queued": 0,
                "sending": 0,
                "sent": 0,
                "failed": 0,
                "unreachable": 0,
                "acknowledged": 0,
            },
        }
    # The next broadcast skips the blocked chat at once.
    second = await seed_notice(db, title="Lần hai")
    await enqueue_notice(db, second, recipients)
    async with db.session() as session:
        counts = await outbox.counts(session, notice_ids=[second])
    assert (counts[second]["queued"], counts[second]["unreachable"]) == (4, 1)


async def test_retry_waits_for_available_at_and_attempts_are_bounded(db: Database) -> None:
    await setup(db, 1)
    [row_id] = await claim(db, "w", at(1))
    await record(db, "w", at(2), Result(row_id, 1, DeliveryStatus.QUEUED, available_at=at(10)))
    assert await claim(db, "w", at(9)) == []
    assert await claim(db, "w", at(10)) == [row_id]
    # the worker dies twice more while sending: max_attempts=3 claims, then it fails
    assert await claim(db, "w2", at(71)) == [row_id]
    assert await claim(db, "w3", at(132)) == []
    [row] = await rows_of(db)
    assert (row.status, row.attempts, row.lease_owner) == (DeliveryStatus.FAILED, 3, None)
    assert row.error == "lease expired 3 times (worker crashed while sending)"


async def test_expire_leases_hands_back_a_dead_runs_rows(db: Database) -> None:
    await setup(db, 3)
    ids = await claim(db, "worker-1", at(1))
    async with db.session() as session:
        assert await outbox.expire_leases(session, owner="worker-1", now=at(5)) == 3
        assert await outbox.next_due(session) < at(5)  # type: ignore[operator]
    assert await claim(db, "worker-1", at(5)) == ids


async def test_a_late_result_of_the_same_workers_earlier_lease_is_ignored(db: Database) -> None:
    """The lease is (owner, attempt): a worker that reclaimed its own expired row does not
    apply the outcome of the earlier send to the new lease."""
    await setup(db, 1)
    [row_id] = await claim(db, "w", at(1))
    assert await claim(db, "w", at(62)) == [row_id]  # attempt 2, same owner
    await record(db, "w", at(63), Result(row_id, 1, DeliveryStatus.SENT, platform_message_id="1"))
    [row] = await rows_of(db)
    assert (row.status, row.attempts, row.platform_message_id) == (DeliveryStatus.SENDING, 2, None)


async def test_a_write_that_fails_leaves_nothing_of_itself(db: Database) -> None:
    """``write_many`` is one transaction: when its second statement fails, the outcome its
    first one applied is rolled back, and the database takes the next write as usual."""
    await setup(db, 2)
    first, second = await claim(db, "w", at(1))
    sent = outbox.record_work(
        owner="w",
        results=[Result(first, 1, DeliveryStatus.SENT, platform_message_id="5")],
        now=at(2),
    )
    duplicate = insert(Delivery).values(
        id=second, kind=DeliveryKind.NOTICE, text="x", status=DeliveryStatus.QUEUED
    )
    with pytest.raises(IntegrityError):
        await db.write_many([*sent, (duplicate, [{}])])
    assert [(r.status, r.platform_message_id) for r in await rows_of(db)] == [
        (DeliveryStatus.SENDING, None),
        (DeliveryStatus.SENDING, None),
    ]
    await db.write_many(sent)
    assert [r.status for r in await rows_of(db)] == [DeliveryStatus.SENT, DeliveryStatus.SENDING]


async def test_a_held_writer_survives_a_failed_write(db: Database) -> None:
    """The worker's writes share one connection: a write that fails is rolled back and the
    next one, on the same connection, is committed."""
    await setup(db, 2)
    first, second = await claim(db, "w", at(1))

    def sent(row_id: int) -> list[tuple[Any, list[dict[str, Any]]]]:
        result = Result(row_id, 1, DeliveryStatus.SENT, platform_message_id=str(row_id))
        return outbox.record_work(owner="w", results=[result], now=at(2))

    clash = insert(Delivery).values(
        id=first, kind=DeliveryKind.NOTICE, text="x", status=DeliveryStatus.QUEUED
    )
    async with db.writes() as write:
        with pytest.raises(IntegrityError):
            await write([*sent(first), (clash, [{}])])
        await write(sent(second))
    assert [(r.status, r.platform_message_id) for r in await rows_of(db)] == [
        (DeliveryStatus.SENDING, None),
        (DeliveryStatus.SENT, str(second)),
    ]


async def test_a_claim_of_no_channel_takes_nothing_and_all_but_none_takes_all(
    db: Database,
) -> None:
    await setup(db, 3)
    async with db.session() as session:
        none = await outbox.lease_due(
            session, owner="w", now=at(1), lease_until=at(61), limit=10, channels=[]
        )
        every = await outbox.lease_due(
            session, owner="w", now=at(1), lease_until=at(61), limit=10, channels=[], exclude=True
        )
    assert (len(none), len(every)) == (0, 3)
