"""The delivery worker with TelegramSender against the fake Bot API: a broadcast under injected
faults, waking on notify(), and a clean stop."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from sqlalchemy import func, select
from sqlmodel import col

from bot.channels.telegram import make_bot
from bot.channels.telegram_sender import TelegramSender
from bot.delivery.channel import Outbound, Pacer, SendOutcome
from bot.delivery.worker import DeliverySettings, DeliveryWorker
from storage import outbox
from storage.db import Database
from storage.models import ChatIdentity, Delivery, DeliveryStatus
from tests.fakebotapi import FakeBotAPI, close_bot
from tests.test_delivery_support import (
    Recipient,
    enqueue_notice,
    max_in_window,
    seed_notice,
    seed_recipients,
)

FAST = DeliverySettings(
    global_rate=200,
    per_chat_rate=1,
    concurrency=16,
    lease_seconds=30,
    max_attempts=3,
    backoff_base=0.05,
    idle_seconds=0.2,
)


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api.token, api.base_url)
    yield bot
    await close_bot(bot)


async def people(db: Database, api: FakeBotAPI, count: int) -> list[Recipient]:
    recipients = await seed_recipients(db, count)
    for r in recipients:
        api.user(id=r.tg_id, first_name="GV")
    return recipients


def ok_sends(api: FakeBotAPI) -> Counter[int]:
    return Counter(c.params["chat_id"] for c in api.calls_of("sendMessage") if c.ok)


async def sent_at_least(api: FakeBotAPI, count: int) -> None:
    async with asyncio.timeout(5):
        while True:
            if sum(ok_sends(api).values()) >= count:
                return
            await asyncio.sleep(0.01)


async def status_counts(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(col(Delivery.status), func.count()).group_by(col(Delivery.status))
        )
        return {DeliveryStatus(s).value: n for s, n in rows.all()}


async def test_a_broadcast_under_faults_delivers_everything_deliverable_once(
    db: Database, api: FakeBotAPI, bot: Bot
) -> None:
    recipients = await people(db, api, 300)
    notice = await seed_notice(db)
    await enqueue_notice(db, notice, recipients)
    chat = [r.tg_id for r in recipients]
    blocked = chat[0:10]
    for tg in blocked:
        api.block(tg)  # 403: bot was blocked by the user
    api.rate_limit(retry_after=1, times=3, method="sendMessage")  # 429 on the first three sends
    api.rate_limit(retry_after=1, chat_id=chat[20])
    for tg in chat[30:45]:
        api.server_error(chat_id=tg)  # one 500 each, then fine
    dead = chat[45:47]
    for tg in dead:
        api.server_error(chat_id=tg, times=10)  # 500 every time: retries run out
    for tg in chat[50:55]:
        api.slow(1.5, chat_id=tg)  # a timeout (the request is lost), then fine
    too_long = chat[60]
    api.fail_next(400, "Bad Request: message is too long", chat_id=too_long)

    worker = DeliveryWorker(db, TelegramSender(bot, timeout=1), FAST, owner="t")
    stats = await asyncio.wait_for(worker.drain(), timeout=30)

    # Everything deliverable is delivered, exactly once.
    undeliverable = {*blocked, *dead, too_long}
    delivered = ok_sends(api)
    assert {c: n for c, n in delivered.items() if n != 1} == {}
    assert set(delivered) == set(chat) - undeliverable
    assert (stats.sent, stats.unreachable, stats.failed) == (287, 10, 3)
    # The rest is reported.
    async with db.session() as session:
        counts = await outbox.counts(session, notice_ids=[notice])
        failed = dict(
            (
                await session.execute(
                    select(col(Delivery.external_id), col(Delivery.error)).where(
                        col(Delivery.status) == DeliveryStatus.FAILED
                    )
                )
            ).all()
        )
        marked = set(
            (
                await session.execute(
                    select(col(ChatIdentity.external_id)).where(
                        col(ChatIdentity.unreachable_at).is_not(None)
                    )
                )
            ).scalars()
        )
    assert counts[notice] == {
        "queued": 0,
        "sending": 0,
        "sent": 287,
        "failed": 3,
        "unreachable": 10,
        "acknowledged": 0,
    }
    assert failed == {
        str(dead[0]): "gave up after 3 attempts: TelegramServerError: Internal Server Error",
        str(dead[1]): "gave up after 3 attempts: TelegramServerError: Internal Server Error",
        str(too_long): "Bad Request: message is too long",
    }
    assert marked == {str(tg) for tg in blocked}
    # The limits held throughout, on the server's clock: every call counts, failed or not.
    calls = api.calls_of("sendMessage")
    assert max_in_window([c.at for c in calls]) <= 200
    by_chat: dict[int, list[float]] = {}
    for c in calls:
        by_chat.setdefault(c.params["chat_id"], []).append(c.at)
    gaps = [b - a for times in by_chat.values() for a, b in itertools.pairwise(sorted(times))]
    assert len(gaps) > 20  # retries did go to the same chats again
    assert min(gaps) >= 1.0
    # After a 429, only calls already in flight arrive within its retry_after.
    for rate_limited in (c for c in calls if c.status == 429):
        within = [c for c in calls if rate_limited.at < c.at < rate_limited.at + 1.0]
        assert len(within) <= FAST.concurrency


async def test_notify_wakes_a_running_worker(
    sqlite_db: Database, api: FakeBotAPI, bot: Bot
) -> None:
    db = sqlite_db
    recipients = await people(db, api, 6)
    settings = DeliverySettings(global_rate=None, per_chat_rate=None, idle_seconds=30)
    worker = DeliveryWorker(db, TelegramSender(bot), settings, owner="t")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.2)  # idle now, for 30 s
    first = await seed_notice(db)
    await enqueue_notice(db, first, recipients[:3])
    await asyncio.sleep(0.3)
    assert ok_sends(api) == {}  # not polled yet
    worker.notify()
    await sent_at_least(api, 3)
    second = await seed_notice(db, title="Lần hai")
    await enqueue_notice(db, second, recipients[3:])
    worker.notify()
    await sent_at_least(api, 6)
    stop.set()
    await asyncio.wait_for(task, timeout=3)
    assert await status_counts(db) == {"sent": 6}


async def test_a_stop_finishes_in_flight_sends_and_hands_back_the_rest(
    sqlite_db: Database, api: FakeBotAPI, bot: Bot
) -> None:
    db = sqlite_db
    recipients = await people(db, api, 100)
    await enqueue_notice(db, await seed_notice(db), recipients)
    settings = DeliverySettings(global_rate=40, per_chat_rate=1, concurrency=8)
    worker = DeliveryWorker(db, TelegramSender(bot), settings, owner="t")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await sent_at_least(api, 30)
    stop.set()
    await asyncio.wait_for(task, timeout=3)
    sent = sum(ok_sends(api).values())
    counts = await status_counts(db)
    assert 30 <= sent < 100
    assert counts == {"sent": sent, "queued": 100 - sent}  # nothing left "sending"
    async with db.session() as session:
        attempts = set(
            (
                await session.execute(
                    select(col(Delivery.attempts)).where(
                        col(Delivery.status) == DeliveryStatus.QUEUED
                    )
                )
            ).scalars()
        )
    assert attempts == {0}  # handed back unsent: no attempt spent
    # A new worker finishes the job.
    rest = await DeliveryWorker(db, TelegramSender(bot), FAST, owner="t2").drain()
    assert rest.sent == 100 - sent
    assert set(ok_sends(api).values()) == {1}


class CountingSender:
    """Answers every message at once (a yield to the loop, no network), counting the sends
    that succeeded, and at each one how many of them the worker has not recorded yet."""

    def __init__(self) -> None:
        self.worker: DeliveryWorker | None = None
        self.sent = 0
        self.unrecorded: list[int] = []

    async def send(self, message: Outbound, *, pacer: Pacer | None = None) -> SendOutcome:
        assert pacer is not None and self.worker is not None
        async with pacer.call():
            await asyncio.sleep(0)
        self.sent += 1
        self.unrecorded.append(self.sent - self.worker.stats.sent)
        return SendOutcome.sent(message.delivery_id)


@pytest.mark.parametrize(
    ("concurrency", "linger"), [(1, 0.0), (4, 0.0), (16, 0.0), (4, 0.002), (16, 0.002)]
)
async def test_no_more_sends_than_the_concurrency_are_ever_unrecorded(
    sqlite_db: Database, concurrency: int, linger: float
) -> None:
    """What bounds a crash's repeats: at every successful send, the messages sent and not yet
    committed as sent (this one included) number at most ``concurrency``; and the sends
    really do overlap up to that bound (the check is not idle).  With a linger too (the
    recorder waiting for more outcomes to share a write)."""
    db = sqlite_db
    recipients = await seed_recipients(db, 300)
    await enqueue_notice(db, await seed_notice(db), recipients)
    sender = CountingSender()
    settings = DeliverySettings(
        global_rate=None,
        per_chat_rate=None,
        concurrency=concurrency,
        batch_size=50,
        record_linger=linger,
    )
    worker = sender.worker = DeliveryWorker(db, sender, settings, owner="t")
    stats = await worker.drain()
    assert (stats.sent, sender.sent) == (300, 300)
    assert max(sender.unrecorded) == concurrency
    assert await status_counts(db) == {"sent": 300}


async def test_the_next_claim_is_made_once_half_of_a_batch_has_gone_out(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that no send slot waits for a claim.  100 rows in batches of 40, 4 at a time: the
    first claim before any send; the second when the 20th row starts (20 still to go); the
    third when the 60th starts (20 rows of the second batch left); the last (20 rows were
    left: it finds none) when the 90th starts.  Each row is sent once."""
    db = sqlite_db
    recipients = await seed_recipients(db, 100)
    await enqueue_notice(db, await seed_notice(db), recipients)
    sender = CountingSender()
    started: list[int] = []
    send = sender.send

    async def counted(message: Outbound, *, pacer: Pacer | None = None) -> SendOutcome:
        started.append(message.delivery_id)
        return await send(message, pacer=pacer)

    monkeypatch.setattr(sender, "send", counted)
    claims_at: list[int] = []
    claim = DeliveryWorker._claim

    async def noted(self: DeliveryWorker, *args: object) -> list[object]:
        claims_at.append(len(started))
        return list(await claim(self, *args))  # type: ignore[arg-type]

    monkeypatch.setattr(DeliveryWorker, "_claim", noted)
    settings = DeliverySettings(global_rate=None, per_chat_rate=None, concurrency=4, batch_size=40)
    worker = sender.worker = DeliveryWorker(db, sender, settings, owner="t")
    stats = await worker.drain()
    assert claims_at == [0, 20, 60, 90]
    assert (stats.sent, stats.batches, len(set(started))) == (100, 3, 100)
    assert await status_counts(db) == {"sent": 100}
