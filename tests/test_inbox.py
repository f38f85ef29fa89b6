"""At-least-once delivery: every update is stored before it is confirmed, handled once."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from bot.app import build_app
from storage import inbox
from storage.db import Database
from storage.models import Channel, Consent, InboxUpdate
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, link, settings_for


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_redelivered_update_is_handled_once(api: FakeBotAPI, bot: RunningBot) -> None:
    user = api.user(id=9001, first_name="Kim", phone="0901537826")
    await user.send("/start")
    await api.wait_idle()
    update_id = await user.click(user.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    sent_before = len(api.calls_of("sendMessage"))
    api.redeliver(update_id)  # Telegram delivers the same update again
    await api.wait_idle()
    assert len(api.calls_of("sendMessage")) == sent_before
    assert await count(bot.db, Consent) == 1


async def test_same_button_pressed_twice_records_once(api: FakeBotAPI, bot: RunningBot) -> None:
    user = api.user(id=9002, first_name="Yến", phone="0842190377")
    await user.send("/start")
    await api.wait_idle()
    consent = user.last_message()
    data = consent.data_of("✅ Tôi đồng ý")
    await user.press_raw(data, consent)
    await user.press_raw(data, consent)
    await api.wait_idle()
    assert await count(bot.db, Consent) == 1


async def test_update_received_before_a_crash_is_handled_after_restart(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    user = api.user(id=9003, first_name="Hiền", phone="0889402615")
    await link(api, user)
    await bot.stop()
    # The process stored the update (and so confirmed it) but died before handling it.
    app = await build_app(settings_for(api, bot.db), token=api.token, db=bot.db)
    payload = {
        "update_id": 424242,
        "message": {
            "message_id": 77,
            "date": 1_790_000_000,
            "chat": {"id": 9003, "type": "private", "first_name": "Hiền"},
            "from": {"id": 9003, "is_bot": False, "first_name": "Hiền"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    assert await app.runner.ingest([payload]) == 1
    assert await app.runner.ingest([payload]) == 0  # the same update twice is stored once
    await app.bot.session.close()
    before = len(api.calls_of("sendMessage"))
    await bot.start()
    await api.wait_idle()
    replies = api.calls_of("sendMessage")[before:]
    assert len(replies) == 1
    assert "Hướng dẫn sử dụng" in replies[0].params["text"]
    async with bot.db.session() as session:
        left = await inbox.pending_after(session, channel=Channel.TELEGRAM, after_id=0, limit=10)
    assert left == []


async def test_webhook_checks_the_secret_and_stores_before_answering(
    api: FakeBotAPI, bot: RunningBot, unused_tcp_port: int
) -> None:
    await bot.stop()
    app = await build_app(settings_for(api, bot.db), token=api.token, db=bot.db)
    api.track(app.dispatcher)
    api.add_busy_check(app.runner.busy)  # wait_idle waits for this runner's lanes too
    runner = web.AppRunner(app.runner.webhook_app(path="/tg", secret="s3cret-token"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    url = f"http://127.0.0.1:{unused_tcp_port}/tg"
    try:
        user = api.user(id=9004, first_name="Châu")
        update = {
            "update_id": 515151,
            "message": {
                "message_id": 5,
                "date": 1_790_000_000,
                "chat": {"id": 9004, "type": "private", "first_name": "Châu"},
                "from": {"id": 9004, "is_bot": False, "first_name": "Châu"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        assert await api.post_webhook(url, "wrong", update) == 401
        assert await api.post_webhook(url, None, update) == 401
        async with aiohttp.ClientSession() as http:
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            async with http.post(url, data="not json", headers=headers) as response:
                assert response.status == 400
        assert await count(bot.db, InboxUpdate) == 0
        assert await api.post_webhook(url, "s3cret-token", update) == 200
        assert await api.post_webhook(url, "s3cret-token", update) == 200  # redelivered
        await asyncio.sleep(0)
        await api.wait_idle()
        assert await count(bot.db, InboxUpdate) == 1
        consent_texts = [m.text for m in user.messages() if "91/2025/QH15" in m.text]
        assert len(consent_texts) == 1
    finally:
        await runner.cleanup()
        await app.bot.session.close()


async def test_blocking_the_bot_marks_the_chat_unreachable_at_once(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    from storage.models import ChatIdentity

    user = api.user(id=9005, first_name="Diễm", phone="0328146759")
    await link(api, user)
    sent_before = len(api.calls_of("sendMessage"))
    user.block_bot()
    await api.wait_idle()
    async with bot.db.session() as session:
        chat = (await session.execute(select(ChatIdentity))).scalars().one()
        assert chat.unreachable_at is not None
        assert chat.unreachable_reason == "blocked"
    assert len(api.calls_of("sendMessage")) == sent_before  # nothing said to a blocked chat
    user.unblock_bot()
    await api.wait_idle()
    async with bot.db.session() as session:
        chat = (await session.execute(select(ChatIdentity))).scalars().one()
        assert chat.unreachable_at is None


async def test_an_update_is_handled_once_set_aside_once_and_replayed_back_in_line(
    db: Database,
) -> None:
    async with db.session() as session:
        assert (
            await inbox.store_updates(
                session, channel=Channel.TELEGRAM, updates=[(1, "{}"), (2, "{}"), (1, "{}")]
            )
            == 2
        )
    async with db.session() as session:
        first, second = await inbox.pending_after(
            session, channel=Channel.TELEGRAM, after_id=0, limit=10
        )
        assert await inbox.mark_handled(session, inbox_id=first.id, replies='[{"kind":"x"}]')
        assert not await inbox.mark_handled(session, inbox_id=first.id, replies=None)
        assert await inbox.record_attempt(session, inbox_id=second.id, error="E: one") == 1
        assert await inbox.record_attempt(session, inbox_id=first.id, error="E") == 0  # handled
        assert await inbox.set_aside(session, inbox_id=second.id, error="E: two", replies=None)
        assert not await inbox.set_aside(session, inbox_id=second.id, error="E", replies=None)
    async with db.session() as session:
        assert await inbox.counts(session, channel=Channel.TELEGRAM) == {
            "waiting": 0,
            "set_aside": 1,
            "unreplied": 1,  # the first one's reply is not out yet
        }
        (unreplied,) = await inbox.unreplied(session, channel=Channel.TELEGRAM)
        assert unreplied.id == first.id and unreplied.replies == '[{"kind":"x"}]'
        await inbox.mark_replied(session, ids=[first.id])
        (aside,) = await inbox.set_aside_updates(session)
        assert (aside.id, aside.attempts, aside.error) == (second.id, 2, "E: two")
        assert await inbox.replay(session, inbox_id=second.id)
    async with db.session() as session:
        assert await inbox.counts(session, channel=Channel.TELEGRAM) == {
            "waiting": 1,
            "set_aside": 0,
            "unreplied": 0,
        }
        # once out, a reply is not kept (what a member was told waits for no purge)
        row = await session.get(InboxUpdate, first.id)
        assert row is not None and row.replied_at is not None and row.replies is None
        assert await inbox.pending_ids(session, channel=Channel.TELEGRAM, up_to=second.id) == [
            second.id
        ]
