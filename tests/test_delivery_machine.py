"""A hypothesis state machine over the outbox protocol, on SQLite.

Two workers enqueue, claim, send (ok, or a transient, permanent or unreachable failure), crash
(their in-memory claims are lost, the database is kept) while a fake clock moves leases to
expiry.  A model predicts every row's state; the invariants: nothing is lost (every enqueued
row exists once, in exactly one status), at most one live lease per row, final states stay
final, attempts stay bounded, and the database matches the model after every step.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select
from sqlmodel import col

from storage import outbox
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Delivery, DeliveryStatus
from storage.outbox import Result
from tests.test_delivery_support import (
    Recipient,
    claim_due,
    delivery_rows,
    seed_notice,
    seed_recipients,
)

T = TypeVar("T")
MAX_ATTEMPTS = 3
LEASE = dt.timedelta(seconds=60)
RETRY = dt.timedelta(seconds=10)
T0 = dt.datetime(2026, 5, 1, 7, 0, tzinfo=dt.UTC)
WORKERS = ("A", "B")
PEOPLE = 5
FINAL = {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNREACHABLE}


@dataclass(frozen=True)
class Row:
    status: DeliveryStatus
    attempts: int
    available_at: dt.datetime
    owner: str | None = None
    lease_until: dt.datetime | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class Held:
    """A claim in a worker's memory."""

    row_id: int
    attempt: int
    lease_until: dt.datetime
    person: int


class _Template:
    """One migrated, seeded SQLite file, copied for every example."""

    path: ClassVar[Path | None] = None
    notices: ClassVar[list[int]] = []
    recipients: ClassVar[list[Recipient]] = []

    @classmethod
    def get(cls) -> Path:
        if cls.path is None:
            directory = Path(tempfile.mkdtemp(prefix="outbox-machine-"))
            cls.path = directory / "template.db"

            async def build() -> None:
                db = Database(f"sqlite+aiosqlite:///{cls.path}")
                await upgrade(db)
                cls.recipients = await seed_recipients(db, PEOPLE)
                cls.notices = [await seed_notice(db, title=f"N{i}") for i in range(2)]
                await db.dispose()

            asyncio.run(build())
        return cls.path


class OutboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        template = _Template.get()
        self.directory = Path(tempfile.mkdtemp(prefix="outbox-example-"))
        path = self.directory / "outbox.db"
        shutil.copy(template, path)
        self.loop = asyncio.new_event_loop()
        self.db = Database(f"sqlite+aiosqlite:///{path}")
        self.now = T0
        self.rows: dict[int, Row] = {}
        self.keys: dict[tuple[int, int], int] = {}  # (notice index, person index) -> row id
        self.person_of: dict[int, int] = {}
        self.hands: dict[str, list[Held]] = {w: [] for w in WORKERS}
        self.unreachable_people: set[int] = set()
        self.finals: dict[int, Row] = {}

    def teardown(self) -> None:
        self.loop.run_until_complete(self.db.dispose())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    # -- rules --------------------------------------------------------------------------------

    @rule(notice=st.integers(0, 1), people=st.sets(st.integers(0, PEOPLE - 1), min_size=1))
    def enqueue(self, notice: int, people: set[int]) -> None:
        recipients = [_Template.recipients[p] for p in sorted(people)]
        rows = delivery_rows(_Template.notices[notice], recipients, available_at=self.now)

        async def go() -> list[tuple[int, int, int]]:
            async with self.db.session() as session:
                await outbox.enqueue(session, rows=rows)
                result = await session.execute(
                    select(col(Delivery.id), col(Delivery.notice_id), col(Delivery.person_id))
                )
                return [(i, n or 0, p or 0) for i, n, p in result.all() if i is not None]

        for row_id, notice_id, person_id in self.run(go()):
            key = (
                _Template.notices.index(notice_id),
                next(i for i, r in enumerate(_Template.recipients) if r.person_id == person_id),
            )
            if key in self.keys:
                assert self.keys[key] == row_id
                continue
            assert key[0] == notice and key[1] in people, "a row appeared that nobody enqueued"
            self.keys[key] = row_id
            self.person_of[row_id] = key[1]
            status = (
                DeliveryStatus.UNREACHABLE
                if key[1] in self.unreachable_people
                else DeliveryStatus.QUEUED
            )
            self.rows[row_id] = Row(status, 0, self.now)

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 4))
    def claim(self, worker: str, limit: int) -> None:
        for row_id, row in list(self.rows.items()):
            expired = row.status == DeliveryStatus.SENDING and row.lease_until < self.now  # type: ignore[operator]
            if expired and row.attempts >= MAX_ATTEMPTS:
                self.rows[row_id] = Row(DeliveryStatus.FAILED, row.attempts, row.available_at)
        due = sorted(
            (
                (row.available_at, row_id)
                for row_id, row in self.rows.items()
                if (row.status == DeliveryStatus.QUEUED and row.available_at <= self.now)
                or (row.status == DeliveryStatus.SENDING and row.lease_until < self.now)  # type: ignore[operator]
            )
        )
        expected = [row_id for _, row_id in due[:limit]]

        async def go() -> list[outbox.Claimed]:
            async with self.db.session() as session:
                return await claim_due(
                    session,
                    owner=worker,
                    now=self.now,
                    lease_until=self.now + LEASE,
                    limit=limit,
                    max_attempts=MAX_ATTEMPTS,
                )

        claimed = self.run(go())
        assert [c.id for c in claimed] == expected
        for c in claimed:
            row = self.rows[c.id]
            assert c.attempts == row.attempts + 1
            self.rows[c.id] = replace(
                row,
                status=DeliveryStatus.SENDING,
                attempts=row.attempts + 1,
                owner=worker,
                lease_until=self.now + LEASE,
            )
            self.hands[worker].append(
                Held(c.id, c.attempts, self.now + LEASE, self.person_of[c.id])
            )

    def _apply(self, worker: str, held: Held, result: Result, after: Row) -> None:
        async def go() -> None:
            async with self.db.session() as session:
                await outbox.record(session, owner=worker, results=[result], now=self.now)

        self.run(go())
        row = self.rows[held.row_id]
        if (
            row.status == DeliveryStatus.SENDING
            and row.owner == worker
            and row.attempts == held.attempt
        ):
            self.rows[held.row_id] = after
        # otherwise the row was reclaimed (or is final): the late result must change nothing

    def _take(self, worker: str, index: int) -> Held:
        hand = self.hands[worker]
        return hand.pop(index % len(hand))

    @precondition(lambda self: any(self.hands.values()))
    @rule(worker=st.sampled_from(WORKERS), index=st.integers(0, 10))
    def send_ok(self, worker: str, index: int) -> None:
        if not self.hands[worker]:
            return
        held = self._take(worker, index)
        mid = f"m{held.row_id}-{held.attempt}"
        after = Row(
            DeliveryStatus.SENT, held.attempt, self.rows[held.row_id].available_at, message_id=mid
        )
        self._apply(
            worker,
            held,
            Result(held.row_id, held.attempt, DeliveryStatus.SENT, platform_message_id=mid),
            after,
        )

    @precondition(lambda self: any(self.hands.values()))
    @rule(
        worker=st.sampled_from(WORKERS),
        index=st.integers(0, 10),
        kind=st.sampled_from(["transient", "permanent", "unreachable"]),
    )
    def send_fail(self, worker: str, index: int, kind: str) -> None:
        if not self.hands[worker]:
            return
        held = self._take(worker, index)
        available = self.rows[held.row_id].available_at
        if kind == "transient" and held.attempt < MAX_ATTEMPTS:
            retry_at = self.now + RETRY
            result = Result(
                held.row_id, held.attempt, DeliveryStatus.QUEUED, error="500", available_at=retry_at
            )
            after = Row(DeliveryStatus.QUEUED, held.attempt, retry_at)
        elif kind == "unreachable":
            chat = _Template.recipients[held.person].chat_id
            result = Result(
                held.row_id, held.attempt, DeliveryStatus.UNREACHABLE, error="blocked", chat_id=chat
            )
            after = Row(DeliveryStatus.UNREACHABLE, held.attempt, available)
            self.unreachable_people.add(held.person)  # the chat is marked, applied or not
        else:
            result = Result(held.row_id, held.attempt, DeliveryStatus.FAILED, error=kind)
            after = Row(DeliveryStatus.FAILED, held.attempt, available)
        self._apply(worker, held, result, after)

    @rule(worker=st.sampled_from(WORKERS))
    def crash(self, worker: str) -> None:
        self.hands[worker] = []

    @rule(seconds=st.sampled_from([1, 30, 61, 61, 200]))
    def advance(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def database_matches_model(self) -> None:
        async def go() -> list[Delivery]:
            async with self.db.session() as session:
                return list((await session.execute(select(Delivery))).scalars())

        stored = self.run(go())
        # nothing lost, nothing extra, one row per (notice, person)
        assert sorted(r.id for r in stored) == sorted(self.rows)  # type: ignore[type-var]
        assert len({(r.notice_id, r.person_id) for r in stored}) == len(stored)
        for r in stored:
            assert r.id is not None
            want = self.rows[r.id]
            got = Row(
                DeliveryStatus(r.status),
                r.attempts,
                outbox.aware(r.available_at),
                r.lease_owner,
                outbox.aware(r.lease_expires_at) if r.lease_expires_at else None,
                r.platform_message_id,
            )
            assert got == want, (r.id, got, want)
            assert r.attempts <= MAX_ATTEMPTS
            assert (r.lease_owner is not None) == (r.status == DeliveryStatus.SENDING)

    @invariant()
    def at_most_one_live_lease_per_row(self) -> None:
        live = [h.row_id for hand in self.hands.values() for h in hand if h.lease_until > self.now]
        assert len(live) == len(set(live))

    @invariant()
    def final_states_stay_final(self) -> None:
        for row_id, row in self.rows.items():
            if row_id in self.finals:
                assert row == self.finals[row_id]
            elif row.status in FINAL:
                self.finals[row_id] = row


OutboxMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOutboxMachine = OutboxMachine.TestCase
