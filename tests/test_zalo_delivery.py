"""The outbox on Zalo rows: one DeliveryWorker serving Telegram (the fake Bot API) and Zalo (the
fake Zalo Bot API) routes each row to its own channel under that channel's limits, maps Zalo's
refusals to the worker's rules, cuts long texts to Zalo's 2000 characters, and keeps the
duplicate guarantee (a recorded send is never repeated; a crash repeats at most ``concurrency``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from aiogram import Bot
from aiohttp import web
from sqlalchemy import bindparam, func, select, update
from sqlmodel import col

from bot.app import telegram_sender
from bot.channels.telegram import make_bot
from bot.channels.zalo.api import TEXT_LIMIT, ZaloBotClient
from bot.channels.zalo.outbox import render_for
from bot.channels.zalo.sender import ZaloSender
from bot.delivery.channel import Sender
from bot.delivery.ratelimit import RateLimiter
from bot.delivery.worker import DeliverySettings, DeliveryWorker
from storage import outbox
from storage.db import Database
from storage.models import Channel, ChatIdentity, Delivery, DeliveryStatus
from tests.fakebotapi import FakeBotAPI, close_bot
from tests.fakezalo import FakeZaloAPI, FakeZaloUser
from tests.flow import settings_for
from tests.test_delivery_support import (
    Recipient,
    delivery_rows,
    max_in_window,
    seed_notice,
    seed_recipients,
)

ACK_LINE = '👉 Đọc xong, thầy/cô gõ "đã nắm" để xác nhận.'
FAST = DeliverySettings(
    global_rate=None,
    per_chat_rate=None,
    concurrency=8,
    lease_seconds=30,
    max_attempts=3,
    backoff_base=0.05,
    idle_seconds=0.2,
)


# -- set-up -------------------------------------------------------------------------------------


class ClockedZalo(FakeZaloAPI):
    """The fake Zalo Bot API, also noting when each request arrived (monotonic clock, as
    FakeBotAPI's ``ApiCall.at``), and calling ``on_delivered`` when a text has reached its
    user (before the answer goes back)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str]] = []  # (time, method)
        self.on_delivered: Callable[[], None] | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrivals.append((time.monotonic(), request.match_info["method"]))
        return await super()._handle(request)

    async def _send_message(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        result = await super()._send_message(params, request)
        if self.on_delivered is not None:
            self.on_delivered()
        return result

    def times_of(self, method: str) -> list[float]:
        return [at for at, name in self.arrivals if name == method]


def zalo_id(n: int) -> str:
    """A Zalo user id (20 hex digits, as Zalo's look)."""
    return f"{0xE4EA2CD5 + n:020x}"


async def move_to_zalo(db: Database, recipients: Sequence[Recipient]) -> list[Recipient]:
    """Make these recipients' linked chats Zalo chats (string ids, see `zalo_id`)."""
    moved = [Recipient(r.person_id, r.chat_id, zalo_id(n)) for n, r in enumerate(recipients)]
    if not moved:
        return moved
    table = ChatIdentity.__table__  # type: ignore[attr-defined]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_chat"))
        .values(channel=Channel.ZALO, external_id=bindparam("b_external"))
    )
    async with db.session(write=True) as session:
        await session.execute(
            statement, [{"b_chat": r.chat_id, "b_external": r.external_id} for r in moved]
        )
    return moved


def is_zalo(recipient: Recipient) -> bool:
    return not recipient.external_id.isdigit()


async def seed_mixed(
    db: Database, count: int, *, zalo_every: int = 2, unit_code: str = "U-MIXED"
) -> tuple[list[Recipient], list[Recipient]]:
    """``count`` members with linked chats: every ``zalo_every``-th on Zalo, the rest on
    Telegram.  Returns (everyone in row order, the Zalo ones)."""
    everyone = await seed_recipients(db, count, unit_code=unit_code)
    picked = [r for i, r in enumerate(everyone) if i % zalo_every == zalo_every - 1]
    moved = {r.chat_id: r for r in await move_to_zalo(db, picked)}
    everyone = [moved.get(r.chat_id, r) for r in everyone]
    return everyone, [r for r in everyone if is_zalo(r)]


def rows_for(
    notice_id: int, recipients: Sequence[Recipient], **kwargs: Any
) -> list[dict[str, object]]:
    """The delivery rows of a notice, each on its chat's channel."""
    rows = delivery_rows(notice_id, recipients, **kwargs)
    for row, recipient in zip(rows, recipients, strict=True):
        if is_zalo(recipient):
            row["channel"] = Channel.ZALO
    return rows


async def enqueue(
    db: Database, notice_id: int, recipients: Sequence[Recipient], **kwargs: Any
) -> int:
    async with db.session(write=True) as session:
        return await outbox.enqueue(session, rows=rows_for(notice_id, recipients, **kwargs))


def users_for(
    api: FakeBotAPI, zalo: FakeZaloAPI, recipients: Sequence[Recipient]
) -> dict[str, FakeZaloUser]:
    """The fake users of the recipients; returns the Zalo ones by id."""
    out: dict[str, FakeZaloUser] = {}
    for r in recipients:
        if is_zalo(r):
            out[r.external_id] = zalo.user(r.external_id, f"GV {r.person_id}")
        else:
            api.user(id=r.tg_id, first_name="GV")
    return out


class Channels:
    """A worker as ``build_app`` makes it: the Telegram sender and limiter for the rows of no
    other channel, Zalo's own sender and limiter for Zalo rows."""

    def __init__(
        self,
        db: Database,
        api: FakeBotAPI,
        bot: Bot,
        client: ZaloBotClient,
        settings: DeliverySettings = FAST,
        *,
        telegram_rate: float | None = None,
        zalo_rate: float | None = None,
        per_chat_rate: float | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.telegram: Sender = telegram_sender(bot, settings_for(api, db))
        self.zalo = ZaloSender(client, render_for("vi"), backoff=0.05)
        self.telegram_rate = telegram_rate
        self.zalo_rate = zalo_rate
        self.per_chat_rate = per_chat_rate
        self.telegram_limiter = self.zalo_limiter = RateLimiter(None, None)

    def worker(self, owner: str = "t") -> DeliveryWorker:
        self.telegram_limiter = RateLimiter(self.telegram_rate, self.per_chat_rate)
        self.zalo_limiter = RateLimiter(self.zalo_rate, self.per_chat_rate)
        return DeliveryWorker(
            self.db,
            self.telegram,
            self.settings,
            owner=owner,
            limiter=self.telegram_limiter,
            channels={Channel.ZALO: (self.zalo, self.zalo_limiter)},
        )


@pytest.fixture
async def zalo() -> AsyncIterator[ClockedZalo]:
    server = ClockedZalo()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client(zalo: ClockedZalo) -> AsyncIterator[ZaloBotClient]:
    client = ZaloBotClient(zalo.token, zalo.url, timeout=2)
    yield client
    await client.close()


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api.token, api.base_url)
    yield bot
    await close_bot(bot)


def telegram_sends(api: FakeBotAPI) -> Counter[object]:
    return Counter(c.params["chat_id"] for c in api.calls_of("sendMessage") if c.ok)


def zalo_sends(zalo: FakeZaloAPI) -> Counter[str]:
    return Counter(c.params["chat_id"] for c in zalo.calls_of("sendMessage") if c.ok)


async def statuses(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(col(Delivery.status), func.count()).group_by(col(Delivery.status))
        )
        return {DeliveryStatus(s).value: n for s, n in rows.all()}


async def row_of(db: Database, external_id: str, notice_id: int | None = None) -> Delivery:
    async with db.session() as session:
        query = select(Delivery).where(col(Delivery.external_id) == external_id)
        if notice_id is not None:
            query = query.where(col(Delivery.notice_id) == notice_id)
        return (await session.execute(query)).scalar_one()


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110  (polling the fakes' state)
            await asyncio.sleep(0.005)


# -- (a) routing ---------------------------------------------------------------------------------


async def test_one_worker_sends_each_row_once_on_its_own_channel(
    db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    everyone, on_zalo = await seed_mixed(db, 40)
    on_telegram = [r for r in everyone if not is_zalo(r)]
    users = users_for(api, zalo, everyone)
    notice = await seed_notice(db, title="Họp công đoàn")
    await enqueue(db, notice, everyone)  # "<b>Thông báo</b> số {n}", with the ack button
    no_ack = await seed_notice(db, title="Lịch nghỉ")
    await enqueue(
        db,
        no_ack,
        on_zalo,
        text='Lịch nghỉ <a href="https://congdoan.example.vn/lich">xem tại đây</a> & ghi nhớ',
        ack_button=False,
    )

    stats = await asyncio.wait_for(Channels(db, api, bot, client).worker().drain(), 15)

    assert (stats.sent, stats.failed, stats.unreachable) == (60, 0, 0)
    assert await statuses(db) == {"sent": 60}
    # Telegram: each of its chats once (integer ids only), HTML with the button.
    assert telegram_sends(api) == Counter({r.tg_id: 1 for r in on_telegram})
    for r in on_telegram:
        [message] = api.messages(r.tg_id)
        assert message.parse_mode == "HTML" and "<b>Thông báo</b>" in message.raw_text
        assert any("Đã nắm" in text for text in message.button_texts)
    # Zalo: each of its chats once per row, nothing else; plain text, the ack in words.
    assert zalo_sends(zalo) == Counter({r.external_id: 2 for r in on_zalo})
    # No call went to the other platform (it would have been refused: unknown chat).
    assert len(api.calls_of("sendMessage")) == 20 and len(zalo.calls) == 40
    row_number = {r.external_id: n for n, r in enumerate(everyone)}
    for external_id, user in users.items():
        n = row_number[external_id]
        assert sorted(user.received) == sorted(
            [
                f"Thông báo số {n}\n\n{ACK_LINE}",
                "Lịch nghỉ xem tại đây (https://congdoan.example.vn/lich) & ghi nhớ",
            ]
        )
        assert not any("<" in text or "&amp;" in text for text in user.received)
        async with db.session() as session:
            ids = set(
                (
                    await session.execute(
                        select(col(Delivery.platform_message_id)).where(
                            col(Delivery.external_id) == external_id
                        )
                    )
                ).scalars()
            )
        assert ids == set(user.message_ids)  # the Zalo message ids are recorded


# -- (b) Zalo's own rate ---------------------------------------------------------------------------


async def test_zalo_sends_keep_zalo_rate_and_telegram_keeps_its_own(
    sqlite_db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    """Zalo limited to 20/s, Telegram to 200/s; 60 rows each, the Telegram ones first (rows
    of both interleaved: the next test)."""
    db = sqlite_db
    everyone, on_zalo = await seed_mixed(db, 120)
    on_telegram = [r for r in everyone if not is_zalo(r)]
    users_for(api, zalo, everyone)
    notice = await seed_notice(db)
    await enqueue(db, notice, on_telegram + on_zalo)
    channels = Channels(
        db, api, bot, client, telegram_rate=200, zalo_rate=20, per_chat_rate=1, settings=FAST
    )

    stats = await asyncio.wait_for(channels.worker().drain(), 15)

    assert stats.sent == 120
    zalo_times = zalo.times_of("sendMessage")
    telegram_times = [c.at for c in api.calls_of("sendMessage")]
    assert len(zalo_times) == 60 and len(telegram_times) == 60
    # Never more than 20 Zalo sends in any 1-second window of the Zalo server's clock: 60 of
    # them cannot take less than 2.95 s.
    assert max_in_window(zalo_times) <= 20
    assert max(zalo_times) - min(zalo_times) >= 2.9
    # Telegram is paced by its own limiter, not Zalo's: its 60 sends are done while Zalo's are
    # not half through (an order, not a speed: a loaded machine slows both).
    last_telegram = max(telegram_times)
    assert sum(1 for t in zalo_times if t <= last_telegram) <= 40


async def test_a_slow_zalo_backlog_does_not_slow_telegram_rows(
    sqlite_db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    """Rows of both channels interleaved (as a notice to a mixed unit is enqueued), Zalo at
    20/s and Telegram at 200/s: Telegram's rows should not wait behind Zalo's pace."""
    db = sqlite_db
    everyone, _on_zalo = await seed_mixed(db, 120)
    users_for(api, zalo, everyone)
    await enqueue(db, await seed_notice(db), everyone)
    channels = Channels(
        db, api, bot, client, telegram_rate=200, zalo_rate=20, per_chat_rate=1, settings=FAST
    )

    stats = await asyncio.wait_for(channels.worker().drain(), 15)

    assert stats.sent == 120
    zalo_times = zalo.times_of("sendMessage")
    telegram_times = [c.at for c in api.calls_of("sendMessage")]
    assert max_in_window(zalo_times) <= 20
    # 60 Telegram sends at 200/s take 0.3 s; Zalo's 60 at 20/s take 3 s.  Rows waiting for
    # Zalo's limiter must not hold Telegram's: Telegram is done before Zalo is half through
    # (an order, not a speed: a loaded machine slows both).
    last_telegram = max(telegram_times)
    before = sum(1 for t in zalo_times if t <= last_telegram)
    assert before <= 40, f"{before} of Zalo's 60 sends came before Telegram's last: paced by Zalo"


# -- (c) faults on Zalo rows ---------------------------------------------------------------------


async def test_a_429_pauses_zalo_only_and_spends_no_attempt(
    sqlite_db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    db = sqlite_db
    everyone, [lan] = await seed_mixed(db, 7, zalo_every=7)
    users = users_for(api, zalo, everyone)
    zalo.fail_next("sendMessage", 429, "Too Many Requests", retry_after=1.0)
    channels = Channels(db, api, bot, client)
    worker = channels.worker()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        first = await seed_notice(db)
        await enqueue(db, first, [lan])
        worker.notify()
        await until(lambda: any(c.status == 429 for c in zalo.calls))
        refused_at = zalo.times_of("sendMessage")[0]
        # While Zalo is paused, Telegram rows go out at once.
        telegram_rows = [r for r in everyone if not is_zalo(r)]
        second = await seed_notice(db, title="Telegram")
        await enqueue(db, second, telegram_rows)
        worker.notify()
        await until(lambda: sum(telegram_sends(api).values()) == 6)
        await until(lambda: len(users[lan.external_id].received) == 1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)

    assert all(at < refused_at + 1.0 for at in (c.at for c in api.calls_of("sendMessage")))
    retried_at = zalo.times_of("sendMessage")[1]
    assert retried_at >= refused_at + 1.0  # the retry_after was waited out
    assert channels.telegram_limiter.paused_until == float("-inf")
    assert [c.status for c in zalo.calls_of("sendMessage")] == [429, 200]
    assert users[lan.external_id].received == [f"Thông báo số 0\n\n{ACK_LINE}"]
    row = await row_of(db, lan.external_id)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)  # the 429 cost no attempt


async def test_429s_beyond_max_retry_after_count_as_one_failed_attempt(
    sqlite_db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    db = sqlite_db
    _, [lan] = await seed_mixed(db, 1, zalo_every=1)
    user = zalo.user(lan.external_id, "Lan")
    await enqueue(db, await seed_notice(db), [lan])
    zalo.fail_next("sendMessage", 429, times=3, retry_after=0.05)
    settings = DeliverySettings(
        global_rate=None, per_chat_rate=None, max_retry_after=2, backoff_base=0.05
    )
    stats = await asyncio.wait_for(Channels(db, api, bot, client, settings).worker().drain(), 10)
    # Two 429s waited out within the claim; the third is a transient failure (one attempt),
    # and the next claim sends it.
    assert [c.status for c in zalo.calls_of("sendMessage")] == [429, 429, 429, 200]
    assert (stats.sent, stats.retried) == (1, 1)
    assert user.received == [f"Thông báo số 0\n\n{ACK_LINE}"]
    row = await row_of(db, lan.external_id)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)


async def test_a_5xx_is_retried_later_then_sent_once(
    db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    _, on_zalo = await seed_mixed(db, 3, zalo_every=1)
    users = users_for(api, zalo, on_zalo)
    await enqueue(db, await seed_notice(db), on_zalo)
    zalo.fail_next("sendMessage", 500, "Internal Server Error", times=2)
    zalo.fail_next("sendMessage", 502, "Bad Gateway", raw="<html>502 Bad Gateway</html>")
    stats = await asyncio.wait_for(Channels(db, api, bot, client).worker().drain(), 10)
    assert (stats.sent, stats.retried, stats.failed) == (3, 3, 0)
    assert sorted(c.status or 0 for c in zalo.calls_of("sendMessage")) == [
        200,
        200,
        200,
        500,
        500,
        502,
    ]
    for n, r in enumerate(on_zalo):
        assert users[r.external_id].received == [f"Thông báo số {n}\n\n{ACK_LINE}"]
        row = await row_of(db, r.external_id)
        assert (row.status, row.attempts, row.error) == (DeliveryStatus.SENT, 2, None)


async def test_a_user_who_blocked_the_bot_is_unreachable_and_not_sent_to_again(
    db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    _, on_zalo = await seed_mixed(db, 4, zalo_every=1)
    users = users_for(api, zalo, on_zalo)
    blocked = on_zalo[1]
    users[blocked.external_id].block()
    channels = Channels(db, api, bot, client)
    first = await seed_notice(db)
    await enqueue(db, first, on_zalo)
    stats = await asyncio.wait_for(channels.worker().drain(), 10)
    assert (stats.sent, stats.unreachable, stats.failed) == (3, 1, 0)
    row = await row_of(db, blocked.external_id, first)
    assert row.status == DeliveryStatus.UNREACHABLE and row.attempts == 1
    assert row.error == "User has blocked the bot"
    async with db.session() as session:
        chat = await session.get(ChatIdentity, blocked.chat_id)
    assert chat is not None and chat.unreachable_at is not None
    assert chat.unreachable_reason == "User has blocked the bot"
    calls_to_blocked = len(
        [c for c in zalo.calls_of("sendMessage") if c.params["chat_id"] == blocked.external_id]
    )
    assert calls_to_blocked == 1

    # A later notice: its row to the blocked chat is never sent (written unreachable at once).
    second = await seed_notice(db, title="Lần hai")
    await enqueue(db, second, on_zalo)
    later = await row_of(db, blocked.external_id, second)
    assert later.status == DeliveryStatus.UNREACHABLE and later.attempts == 0
    stats = await asyncio.wait_for(channels.worker().drain(), 10)
    assert (stats.sent, stats.unreachable) == (3, 0)
    assert (
        len([c for c in zalo.calls_of("sendMessage") if c.params["chat_id"] == blocked.external_id])
        == calls_to_blocked
    )
    assert users[blocked.external_id].received == []
    for r in on_zalo:
        if r != blocked:
            assert len(users[r.external_id].received) == 2


async def test_a_long_text_goes_in_parts_of_at_most_2000_in_order(
    db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    _, [lan, minh] = await seed_mixed(db, 2, zalo_every=1)
    users = users_for(api, zalo, [lan, minh])
    paragraphs = [
        f"<b>Mục {i:02d}</b>. " + "Nội dung hướng dẫn thực hiện chế độ cho đoàn viên. " * 4
        for i in range(1, 41)
    ]
    text = "\n\n".join(paragraphs)  # ~9,000 characters
    await enqueue(db, await seed_notice(db), [lan, minh], text=text)
    # One row at a time: Lan's second part fails twice (5xx), and the sender retries it.
    zalo.fail_next("sendMessage", 503, times=2, after=1)
    settings = DeliverySettings(global_rate=None, per_chat_rate=None, concurrency=1)
    channels = Channels(db, api, bot, client, settings)
    stats = await asyncio.wait_for(channels.worker().drain(), 10)
    assert (stats.sent, stats.failed) == (2, 0)
    for r in (lan, minh):
        user = users[r.external_id]
        parts = user.received
        assert len(parts) >= 5
        assert all(0 < len(part) <= TEXT_LIMIT for part in parts)
        numbers = [int(n) for n in re.findall(r"Mục (\d+)\.", "\n".join(parts))]
        assert numbers == list(range(1, 41))  # every paragraph, once, in order
        assert parts[-1].endswith(ACK_LINE)
        assert not any("<b>" in part for part in parts)
        row = await row_of(db, r.external_id)
        assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
        assert row.platform_message_id == user.message_ids[-1]
        assert len(user.message_ids) == len(parts)  # no part sent twice


# -- (d) duplicates --------------------------------------------------------------------------------


async def test_a_send_recorded_is_never_repeated_after_a_restart(
    sqlite_db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    db = sqlite_db
    everyone, on_zalo = await seed_mixed(db, 120)
    users_for(api, zalo, everyone)
    await enqueue(db, await seed_notice(db), everyone)
    channels = Channels(db, api, bot, client, telegram_rate=100, zalo_rate=40)
    worker = channels.worker(owner="w")
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await until(lambda: sum(zalo_sends(zalo).values()) >= 20)
    stop.set()
    await asyncio.wait_for(running, 5)
    before = await statuses(db)
    sent_before = sum(zalo_sends(zalo).values()) + sum(telegram_sends(api).values())
    assert before == {"sent": sent_before, "queued": 120 - sent_before}

    # The same worker restarted, then another one: each row sent once in all.
    rest = await asyncio.wait_for(channels.worker(owner="w").drain(), 15)
    assert rest.sent == 120 - sent_before
    again = await asyncio.wait_for(channels.worker(owner="other").drain(), 5)
    assert (again.claimed, again.sent) == (0, 0)
    assert zalo_sends(zalo) == Counter({r.external_id: 1 for r in on_zalo})
    assert set(telegram_sends(api).values()) == {1} and sum(telegram_sends(api).values()) == 60
    assert await statuses(db) == {"sent": 120}


async def test_a_crash_between_send_and_record_repeats_at_most_concurrency_rows(
    sqlite_db: Database,
    api: FakeBotAPI,
    zalo: ClockedZalo,
    bot: Bot,
    client: ZaloBotClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In-process version of tests/test_delivery_crash.py's SIGKILL, on Zalo rows: at the
    moment the fake delivers the 150th text, the worker "dies": from then on it writes nothing
    to the database and its tasks are cancelled (the sends in flight may land, as they would
    after a SIGKILL).  A restart under the same owner finishes the broadcast."""
    db = sqlite_db
    concurrency = 8
    _, on_zalo = await seed_mixed(db, 400, zalo_every=1)
    users = users_for(api, zalo, on_zalo)
    await enqueue(db, await seed_notice(db), on_zalo)
    settings = DeliverySettings(
        global_rate=None, per_chat_rate=None, concurrency=concurrency, lease_seconds=30
    )
    channels = Channels(db, api, bot, client, settings)
    first = channels.worker(owner="crash-test")

    dead = False
    writing = 0

    def guard(write: Callable[..., Any]) -> Callable[..., Any]:
        """``write`` until the crash; after it, the call never returns (nothing is written)."""

        async def guarded(*args: Any) -> Any:
            nonlocal writing
            if dead:
                await asyncio.Event().wait()
            writing += 1
            try:
                return await write(*args)
            finally:
                writing -= 1

        return guarded

    monkeypatch.setattr(first, "_record_now", guard(first._record_now))
    monkeypatch.setattr(first, "_claim", guard(first._claim))
    draining = asyncio.create_task(first.drain())

    def crash() -> None:
        nonlocal dead
        if dead or sum(len(u.received) for u in users.values()) < 150:
            return
        dead = True  # no await between the count and the kill
        draining.cancel()
        for task in list(first._tasks):
            task.cancel()

    zalo.on_delivered = crash
    await until(lambda: dead)
    # A write that was under way when it died commits or not as a whole; let it end, then
    # make sure the worker is gone (its loop, its sends, its recorder).
    await until(lambda: writing == 0)
    for _ in range(10):
        if draining.done():
            break
        draining.cancel()
        await asyncio.sleep(0.01)
    assert draining.done()
    for task in [*first._tasks, first._recorder]:
        if task is not None:
            task.cancel()
    await asyncio.sleep(0.2)  # requests already on the wire reach the fake
    await until(lambda: all(c.status is not None for c in zalo.calls))

    at_kill = sum(len(u.received) for u in users.values())
    before = await statuses(db)
    assert 150 <= at_kill < 400
    assert before["sending"] > 0  # killed holding claims
    assert at_kill - concurrency <= before["sent"] < at_kill  # the 150th is never recorded

    second = channels.worker(owner="crash-test")
    stats = await asyncio.wait_for(second.drain(), 15)
    copies = Counter({r: len(u.received) for r, u in users.items()})
    assert min(copies.values()) == 1  # nobody skipped
    twice = {r for r, n in copies.items() if n > 1}
    assert max(copies.values()) == 2
    # Exactly the sends that landed without their outcome recorded: at most the concurrency.
    assert len(twice) == at_kill - before["sent"]
    assert 1 <= len(twice) <= concurrency
    assert stats.sent == 400 - before["sent"]
    assert await statuses(db) == {"sent": 400}
