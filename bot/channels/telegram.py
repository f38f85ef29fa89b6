"""The Telegram channel: long polling and webhook, both through the inbox.

Telegram delivers updates at least once, and it takes an update as delivered as soon as the
next ``getUpdates`` asks past it (polling) or the webhook answers 200.  So every update is first
written to the inbox table and committed, and only then confirmed.  The inbox is drained in
update order; updates of different chats are handled concurrently, those of one chat in order.
A crash between receipt and handling leaves the row unhandled, and the next start handles it,
once (the row is marked handled in the transaction of its effects).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
from collections import defaultdict
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Update
from aiohttp import web

from storage import inbox
from storage.db import Database
from storage.models import Channel

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def make_bot(token: str, api_url: str, session: Any = None) -> Bot:
    """A Bot speaking HTML parse mode to ``api_url`` (the public API, a local server, a fake)."""
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


def _chat_key(payload: dict[str, Any]) -> str:
    for key in ("message", "edited_message", "callback_query", "my_chat_member"):
        body = payload.get(key)
        if isinstance(body, dict):
            sender = body.get("from") or body.get("chat") or {}
            return str(sender.get("id", ""))
    return ""


class InboxRunner:
    """Stores incoming updates, then feeds them to the Dispatcher, each exactly once."""

    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        db: Database,
        *,
        channel: Channel = Channel.TELEGRAM,
        concurrency: int = 8,
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.db = db
        self.channel = channel
        self.concurrency = concurrency
        self._drain_lock = asyncio.Lock()
        self._again = False

    async def ingest(self, updates: list[Update] | list[dict[str, Any]]) -> int:
        """Write updates to the inbox and commit; returns how many were new."""
        pairs: list[tuple[int, str]] = []
        for item in updates:
            if isinstance(item, Update):
                data = item.model_dump(mode="json", exclude_none=True, by_alias=True)
            else:
                data = item
            pairs.append((int(data["update_id"]), json.dumps(data, ensure_ascii=False)))
        async with self.db.session() as session:
            return await inbox.store_updates(session, channel=self.channel, updates=pairs)

    async def purge(self, *, keep_days: int = 7) -> None:
        """Forget handled updates older than ``keep_days`` (the inbox is not an archive)."""
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days)
        async with self.db.session() as session:
            await inbox.purge_handled(session, older_than=cutoff)

    async def drain(self) -> int:
        """Handle every stored, unhandled update; returns how many were fed."""
        if self._drain_lock.locked():
            self._again = True
            return 0
        fed = 0
        async with self._drain_lock:
            while True:
                self._again = False
                async with self.db.session() as session:
                    rows = await inbox.pending_updates(session, channel=self.channel, limit=200)
                if not rows:
                    break
                by_chat: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
                for row in rows:
                    assert row.id is not None
                    payload = json.loads(row.payload)
                    by_chat[_chat_key(payload)].append((row.id, payload))
                semaphore = asyncio.Semaphore(self.concurrency)
                results = await asyncio.gather(
                    *(self._feed_chat(items, semaphore) for items in by_chat.values())
                )
                progressed = sum(results)
                fed += progressed
                if progressed == 0 and not self._again:
                    # Only failing rows are left; they are retried on the next drain.
                    break
        return fed

    async def _feed_chat(
        self, items: list[tuple[int, dict[str, Any]]], semaphore: asyncio.Semaphore
    ) -> int:
        """One chat's updates, in order."""
        async with semaphore:
            done = 0
            for inbox_id, payload in items:
                if await self._feed(inbox_id, payload):
                    done += 1
            return done

    async def _feed(self, inbox_id: int, payload: dict[str, Any]) -> bool:
        try:
            update = Update.model_validate(payload, context={"bot": self.bot})
            await self.dispatcher.feed_update(self.bot, update, inbox_id=inbox_id)
            return True
        except Exception:
            log.exception("inbox update %s will be retried", inbox_id)
            return False

    async def poll(self, stop: asyncio.Event, *, poll_seconds: int = 25) -> None:
        """Long polling: getUpdates → inbox (committed) → confirm by asking past → handle."""
        await self.purge()
        await self.drain()  # whatever a previous run received but did not handle
        offset: int | None = None
        backoff = 1.0
        while not stop.is_set():
            get = asyncio.ensure_future(
                self.bot.get_updates(
                    offset=offset, timeout=poll_seconds, allowed_updates=ALLOWED_UPDATES
                )
            )
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({get, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if get not in done:
                get.cancel()
                break
            try:
                updates = get.result()
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
                continue
            except (TelegramNetworkError, TelegramServerError) as exc:
                log.warning("getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if updates:
                await self.ingest(updates)
                offset = updates[-1].update_id + 1
            await self.drain()

    def webhook_app(self, *, path: str, secret: str) -> web.Application:
        """An aiohttp app taking webhook POSTs: secret checked, inbox written, then 200."""
        app = web.Application()
        pending: set[asyncio.Task[int]] = set()

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return web.Response(status=401, text="bad secret token")
            try:
                data = await request.json()
                if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                    raise ValueError("not an update")
            except (ValueError, json.JSONDecodeError):
                return web.Response(status=400, text="not a Telegram update")
            await self.ingest([data])
            task = asyncio.create_task(self.drain())
            pending.add(task)
            task.add_done_callback(pending.discard)
            return web.Response(status=200)

        async def on_shutdown(_app: web.Application) -> None:
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

        app.router.add_post(path, receive)
        app.on_shutdown.append(on_shutdown)
        return app
