"""The webhook under bad input and load, the inbox's retention, and the replies' pacing: every
call within the limits, a member's reply before a broadcast's next message."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from sqlalchemy import func, select
from sqlmodel import col

from bot.app import App, build_app
from storage import inbox
from storage.db import Database
from storage.models import Channel, InboxUpdate
from tests.fakebotapi import FakeBotAPI, close_bot
from tests.flow import RunningBot, seed_sample, settings_for
from tests.test_delivery_support import (
    enqueue_notice,
    max_in_window,
    seed_notice,
    seed_recipients,
)

SECRET = "s3cret-token"
_ids = itertools.count(800_000_001)


def message(user_id: int, text: str, *, update_id: int | None = None) -> dict[str, object]:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text)}] if text[0] == "/" else []
    return {
        "update_id": next(_ids) if update_id is None else update_id,
        "message": {
            "message_id": next(_ids),
            "date": 1_790_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "GV"},
            "from": {"id": user_id, "is_bot": False, "first_name": "GV"},
            "text": text,
            **({"entities": entities} if entities else {}),
        },
    }


@asynccontextmanager
async def webhook(api: FakeBotAPI, db: Database, port: int) -> AsyncIterator[tuple[App, str]]:
    """The bot in webhook mode (as ``serve`` runs it with WEBHOOK_URL set)."""
    app = await build_app(settings_for(api, db), token=api.token, db=db)
    api.track(app.dispatcher)
    api.add_busy_check(app.runner.busy)
    runner = web.AppRunner(app.runner.webhook_app(path="/tg", secret=SECRET))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield app, f"http://127.0.0.1:{port}/tg"
    finally:
        await runner.cleanup()
        await close_bot(app.bot)


async def post(url: str, body: str | bytes) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as reply,
    ):
        return reply.status


async def count(db: Database) -> int:
    async with db.session() as session:
        return int(
            (await session.execute(select(func.count()).select_from(InboxUpdate))).scalar_one()
        )


async def test_webhook_answers_400_to_what_is_not_an_update(
    api: FakeBotAPI, sqlite_db: Database, unused_tcp_port: int
) -> None:
    api.user(id=9501, first_name="Lan")
    async with webhook(api, sqlite_db, unused_tcp_port) as (_app, url):
        bad = [
            "not json",
            "[]",
            '"update"',
            '{"message": {}}',
            '{"update_id": true}',  # a boolean is not an integer, though Python says so
            '{"update_id": 1.5}',
            '{"update_id": "7"}',
            '{"update_id": -1}',
            '{"update_id": 18446744073709551616}',  # 2**64: past a 64-bit integer
            '{"update_id": 9223372036854775808}',  # 2**63: past a signed one
            '{"update_id": 5, "message": ' + "[" * 100 + "]" * 100 + "}",  # nested too deep
            "[" * 100_000 + "]" * 100_000,  # deeper than Python's parser goes
        ]
        statuses = [await post(url, body) for body in bad]
        assert statuses == [400] * len(bad)
        assert await count(sqlite_db) == 0
        assert await post(url, json.dumps(message(9501, "/help"))) == 200
        await api.wait_idle()
        assert await count(sqlite_db) == 1
        assert "Hướng dẫn sử dụng" in api.messages(9501)[-1].text


async def test_webhook_poison_is_set_aside_and_the_next_update_handled(
    api: FakeBotAPI, sqlite_db: Database, unused_tcp_port: int
) -> None:
    await seed_sample(sqlite_db)
    api.user(id=9502, first_name="Minh")
    async with webhook(api, sqlite_db, unused_tcp_port) as (_app, url):
        for n in range(200):
            body = {"update_id": 600_000 + n, "message": f"rác {n}"}
            assert await post(url, json.dumps(body)) == 200
        assert await post(url, json.dumps(message(9502, "/help"))) == 200
        await api.wait_idle(timeout=20)
        assert "Hướng dẫn sử dụng" in api.messages(9502)[-1].text
        async with sqlite_db.session() as session:
            aside = await inbox.set_aside_updates(session, limit=1000)
        assert len(aside) == 200
        # The reply's "sent" mark is written a quarter of a second later, with others.
        async with asyncio.timeout(5):
            while True:
                async with sqlite_db.session() as session:
                    counts = await inbox.counts(session, channel=Channel.TELEGRAM)
                if counts["unreplied"] == 0:
                    break
                await asyncio.sleep(0.05)
        assert counts == {"waiting": 0, "set_aside": 200, "unreplied": 0}


async def test_a_burst_through_the_webhook_on_sqlite_loses_nothing(
    api: FakeBotAPI, sqlite_db: Database, unused_tcp_port: int
) -> None:
    """1,000 updates from 200 members at once, 40 connections at a time (Telegram's
    default max_connections): every request answered 200, no attempt failed, every member
    answered five times."""
    members = await seed_recipients(sqlite_db, 200)
    for member in members:
        api.user(id=member.tg_id, first_name="GV")
    async with webhook(api, sqlite_db, unused_tcp_port) as (app, url):
        bodies = [json.dumps(message(m.tg_id, "/help")) for _ in range(5) for m in members]
        gate = asyncio.Semaphore(40)

        async def deliver(body: str) -> int:
            async with gate:
                return await post(url, body)

        statuses = await asyncio.gather(*(deliver(b) for b in bodies))
        assert statuses == [200] * 1000
        await api.wait_idle(timeout=60)
        async with sqlite_db.session() as session:
            failed = (
                await session.execute(
                    select(func.count()).where(
                        (col(InboxUpdate.attempts) > 0) | col(InboxUpdate.failed_at).is_not(None)
                    )
                )
            ).scalar_one()
        assert failed == 0
        assert app.runner.stats.handled == 1000 and app.runner.stats.retried == 0
        for member in members:
            texts = [m.text for m in api.messages(member.tg_id)]
            assert len(texts) == 5 and all("Hướng dẫn sử dụng" in t for t in texts)


async def test_replies_keep_the_per_chat_limit_and_go_before_a_broadcast(
    api: FakeBotAPI, sqlite_db: Database
) -> None:
    """Production limits, slowed down: 10 messages a second, one a second per chat.  A
    broadcast of 60 is going out (6 s) when a member sends three messages at once."""
    recipients = await seed_recipients(sqlite_db, 60)
    settings = settings_for(api, sqlite_db).model_copy(
        update={"delivery_rate": 10.0, "delivery_per_chat_rate": 1.0}
    )
    running = RunningBot(api, sqlite_db, settings)
    await running.start()
    try:
        notice = await seed_notice(sqlite_db)
        await enqueue_notice(sqlite_db, notice, recipients)
        assert running.app is not None
        running.app.worker.notify()
        await asyncio.sleep(0.5)
        member = api.user(id=9601, first_name="Hạnh")
        for _ in range(3):
            await member.send("/help")
        async with asyncio.timeout(20):
            while len(member.messages()) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        replies = [c for c in api.calls_of("sendMessage") if c.params["chat_id"] == 9601]
        broadcast = [c for c in api.calls_of("sendMessage") if c.params["chat_id"] != 9601]
        # One a second in the member's chat, on the server's clock (a little slack for it).
        gaps = [b.at - a.at for a, b in itertools.pairwise(replies)]
        assert all(gap >= 0.95 for gap in gaps), gaps
        # The first reply did not queue behind the broadcast's waiting sends (the worker's 16
        # in flight: about 21 would have gone first); it took the next slot, about half a
        # second (5 messages) into the broadcast.
        sent_before = len([c for c in broadcast if c.at < replies[0].at])
        assert sent_before <= 10, sent_before
        async with asyncio.timeout(20):
            while len(api.calls_of("sendMessage")) < 63:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        everything = sorted(c.at for c in api.calls_of("sendMessage"))
        assert max_in_window(everything) <= 10
    finally:
        await running.stop()
