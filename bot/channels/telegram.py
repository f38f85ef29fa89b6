"""The Telegram channel: long polling and webhook, both through the inbox.

Telegram delivers updates at least once, and it takes an update as delivered as soon as the
next ``getUpdates`` asks past it (polling) or the webhook answers 200.  So every update is first
written to the inbox table and committed, and only then confirmed.

Handling (:class:`InboxRunner`): every chat has a *lane*, the queue of its updates in update
order, and a task that works through it: handle the update (the unit of work commits its
effects with its replies), send the replies, then the next update.  An update that fails is
tried again, with backoff, before anything later of its chat; after its last attempt it is set
aside (kept with its error for an operator, ``congdoan inbox failed``) and the member gets one
apology.  An update that cannot even be read is set aside at once.  Lanes run side by side
(``concurrency`` handlings at a time), so no chat waits for another chat's failures or for a
slow answer from the API to another chat.  A crash after a commit and before the replies went
out leaves them recorded on the update's row: the next start sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiohttp import web

from bot.channels.inbound import InboundCodec, Replier
from bot.channels.telegram_replies import Handling, ReplyCall, decode, encode
from bot.groupwrite import GroupWrite
from bot.texts import render
from storage import chats, inbox
from storage.db import Database, describe_error
from storage.models import Channel

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_ID = 2**63 - 1  # update ids are stored as a signed 64-bit integer
MAX_DEPTH = 64  # a real update nests a dozen levels; a deeper body is not an update


class RawGetUpdates(GetUpdates):
    """``getUpdates`` answered as plain JSON objects: one update aiogram cannot read must not
    make the whole batch fail (and polling stall on it); each is read when it is handled, and
    set aside alone if it cannot be."""

    __returning__ = list[dict[str, Any]]


def make_bot(token: str, api_url: str, session: Any = None) -> Bot:
    """A Bot speaking HTML parse mode to ``api_url`` (the public API, a local server, a fake)."""
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


class TelegramCodec:
    """How the inbox runner reads a stored Telegram update (see :class:`InboundCodec`)."""

    def __init__(self, channel: Channel = Channel.TELEGRAM) -> None:
        self.channel = channel  # the terminal demo's local channel speaks Telegram too

    def sender(self, payload: Any) -> str | None:
        ident = _sender_id(payload)
        return None if ident is None else str(ident)

    def callback_id(self, payload: Any) -> str | None:
        return _callback_id(payload)

    def to_update(self, payload: Any, *, inbox_id: int, bot: Bot) -> tuple[Update, dict[str, Any]]:
        return Update.model_validate(payload, context={"bot": bot}), {}


def _sender_id(payload: Any) -> int | None:
    """The person an update comes from (their private chat), if the payload names one."""
    if not isinstance(payload, dict):
        return None
    for key in ("message", "edited_message", "callback_query", "my_chat_member"):
        body = payload.get(key)
        if isinstance(body, dict):
            for part in ("from", "chat"):
                sender = body.get(part)
                if isinstance(sender, dict):
                    ident = sender.get("id")
                    if isinstance(ident, int) and not isinstance(ident, bool):
                        return ident
    return None


def _callback_id(payload: Any) -> str | None:
    if isinstance(payload, dict):
        query = payload.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("id"), str):
            return str(query["id"])
    return None


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def parse_webhook_body(body: bytes) -> dict[str, Any]:
    """The update a webhook request carries; ``ValueError`` (a 400) for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not an object")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise ValueError("update_id is not an integer")
    if not 0 <= update_id <= MAX_UPDATE_ID:
        raise ValueError("update_id is out of range")
    if _too_deep(data):
        raise ValueError("nested too deep")
    return data


@dataclass(frozen=True)
class InboxSettings:
    concurrency: int = 8  # updates handled at once (their database work; sends are apart)
    max_attempts: int = 4  # handlings of one update before it is set aside
    backoff_base: float = 0.2  # seconds before the second attempt, then ×4 each time
    backoff_max: float = 10.0
    sweep_every: float = 10.0  # how often updates replayed by an operator are looked for
    fetch_batch: int = 500
    max_queued: int = 5000  # updates held in the lanes at most (the rest wait in the table)
    shutdown_grace: float = 5.0  # seconds the lanes get to finish when stopping


@dataclass
class RunnerStats:
    handled: int = 0
    retried: int = 0  # failed attempts followed by another
    set_aside: int = 0
    replies_resumed: int = 0  # updates whose replies a previous run had not sent
    replies_incomplete: int = 0  # updates with a reply given up (after retries) or blocked


@dataclass
class _Item:
    inbox_id: int
    update_id: int
    payload: str
    attempts: int = 0
    replies: str | None = None  # set: handled already, only the replies are to be sent


class InboxRunner:
    """Stores incoming updates, then handles each once, in order per chat (module doc)."""

    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        db: Database,
        *,
        replies: Replier,
        locale: str,
        channel: Channel = Channel.TELEGRAM,
        settings: InboxSettings | None = None,
        rng: random.Random | None = None,
        codec: InboundCodec | None = None,
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.db = db
        self.replies = replies
        self.locale = locale
        self.codec: InboundCodec = codec or TelegramCodec(channel)
        self.channel = self.codec.channel
        self.settings = settings or InboxSettings()
        self.rng = rng or random.Random()
        self.stats = RunnerStats()
        self._lanes: dict[str | None, deque[_Item]] = {}
        self._tasks: dict[str | None, asyncio.Task[None]] = {}
        self._queued: set[int] = set()
        self._high = 0  # the highest inbox id taken into a lane
        self._handling = asyncio.Semaphore(self.settings.concurrency)
        self._fetch = asyncio.Lock()
        self._wake = asyncio.Event()
        self._lanes_empty = asyncio.Event()
        self._lanes_empty.set()
        self._resumed = False
        self._backlog = False  # the lanes were full when last read: more waits in the table
        # Nobody waits for these: a quarter of a second gathers a burst's into one write.
        self._marks: GroupWrite[int] = GroupWrite(
            self._write_marks, name="inbox replied marks", linger=0.25
        )
        self._stored: GroupWrite[tuple[int, str]] = GroupWrite(
            self._write_updates, name="inbox webhook writes"
        )

    # -- receipt ----------------------------------------------------------------------------

    async def ingest(
        self, updates: list[Update] | list[dict[str, Any]], *, wake: bool = True
    ) -> int:
        """Write updates to the inbox and commit; returns how many were new.  ``wake``: have
        the runner take them into the lanes (False: the caller dispatches them itself)."""
        pairs: list[tuple[int, str]] = []
        for item in updates:
            if isinstance(item, Update):
                data = item.model_dump(mode="json", exclude_none=True, by_alias=True)
            else:
                data = item
            pairs.append((int(data["update_id"]), json.dumps(data, ensure_ascii=False)))
        async with self.db.session(write=True) as session:
            stored = await inbox.store_updates(session, channel=self.channel, updates=pairs)
        if wake:
            self._wake.set()
        return stored

    async def _write_updates(self, pairs: list[tuple[int, str]]) -> None:
        async with self.db.session(write=True) as session:
            await inbox.store_updates(session, channel=self.channel, updates=pairs)

    async def _write_marks(self, ids: list[int]) -> None:
        async with self.db.session(write=True) as session:
            await inbox.mark_replied(session, ids=ids)

    # -- the lanes --------------------------------------------------------------------------

    def busy(self) -> str | None:
        """Why the runner is not idle (for tests waiting for quiet), or None."""
        if self._queued:
            return f"{len(self._queued)} update(s) in the chats' lanes"
        if self._wake.is_set() or self._fetch.locked():
            return "updates stored and not yet taken into the lanes"
        return None

    def _enqueue(self, item: _Item, payload: Any) -> None:
        if item.inbox_id in self._queued:
            return
        key = self.codec.sender(payload)
        self._queued.add(item.inbox_id)
        self._lanes.setdefault(key, deque()).append(item)
        self._lanes_empty.clear()
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run_lane(key))

    def _enqueue_rows(self, rows: list[inbox.Stored]) -> None:
        for row in sorted(rows, key=lambda r: (r.update_id, r.id)):
            try:
                payload = json.loads(row.payload)
            except ValueError:
                payload = None
            self._enqueue(
                _Item(row.id, row.update_id, row.payload, row.attempts, row.replies), payload
            )

    async def resume(self) -> None:
        """Queue the replies a previous run committed but did not send (first thing)."""
        if self._resumed:
            return
        self._resumed = True
        async with self.db.session() as session:
            rows = await inbox.unreplied(session, channel=self.channel)
        if rows:
            log.info("sending the replies of %d updates a previous run did not send", len(rows))
            self.stats.replies_resumed += len(rows)
            self._enqueue_rows(rows)

    async def dispatch(self) -> int:
        """Take the updates stored since the last call into their chats' lanes."""
        s = self.settings
        async with self._fetch:
            self._wake.clear()
            await self.resume()
            taken = 0
            while len(self._queued) < s.max_queued:
                async with self.db.session() as session:
                    rows = await inbox.pending_after(
                        session, channel=self.channel, after_id=self._high, limit=s.fetch_batch
                    )
                if not rows:
                    break
                self._high = max(self._high, rows[-1].id)
                self._enqueue_rows(rows)
                taken += len(rows)
                if len(rows) < s.fetch_batch:
                    break
            self._backlog = len(self._queued) >= s.max_queued
            return taken

    async def sweep(self) -> int:
        """Take in updates waiting below the high-water mark that no lane holds: those an
        operator replayed (``congdoan inbox retry``), from this process or another."""
        async with self._fetch:
            async with self.db.session() as session:
                ids = await inbox.pending_ids(session, channel=self.channel, up_to=self._high)
                missing = [i for i in ids if i not in self._queued]
                rows = await inbox.load(session, ids=missing) if missing else []
            rows = [r for r in rows if r.id not in self._queued]
            self._enqueue_rows(rows)
            return len(rows)

    async def _run_lane(self, key: str | None) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                item = lane[0]
                calls: list[ReplyCall] | None
                if item.replies is not None:
                    calls = decode(item.replies)
                else:
                    calls = await self._handle(item, key)
                if calls:
                    try:
                        complete = await self.replies.send_all(calls)
                    except Exception as exc:  # a bug in sending must not stop the chat
                        log.error("replies of update %s: %s", item.update_id, describe_error(exc))
                        complete = False
                    if not complete:
                        self.stats.replies_incomplete += 1
                    self._marks.post(item.inbox_id)
                lane.popleft()
                self._queued.discard(item.inbox_id)
        finally:
            self._tasks.pop(key, None)
            if not lane or self._lanes.get(key) is not lane:
                self._lanes.pop(key, None)
            else:  # cancelled with updates still queued: they wait in the table
                for left in self._lanes.pop(key, deque()):
                    self._queued.discard(left.inbox_id)
            if not self._tasks:
                self._lanes_empty.set()
            if self._backlog:
                self._wake.set()  # room in the lanes: take more

    async def _handle(self, item: _Item, key: str | None) -> list[ReplyCall] | None:
        """Handle one update, retrying it until it succeeds or is set aside; returns the
        replies to send (None: nothing, or another run handled it)."""
        s = self.settings
        try:
            payload = json.loads(item.payload)
            update, extra = self.codec.to_update(payload, inbox_id=item.inbox_id, bot=self.bot)
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            log.warning("inbox update %s cannot be read: %s", item.inbox_id, describe_error(exc))
            return await self._set_aside(item, key, f"unreadable: {describe_error(exc)}", None)
        attempts = item.attempts
        while True:
            handling = Handling()
            try:
                async with self._handling:
                    await self.dispatcher.feed_update(
                        self.bot, update, inbox_id=item.inbox_id, handling=handling, **extra
                    )
            except Exception as exc:
                error = describe_error(exc)
                frames = "".join(traceback.format_tb(exc.__traceback__))
                log.error(
                    "update %s (inbox %s, attempt %d) failed: %s\n%s",
                    item.update_id,
                    item.inbox_id,
                    attempts + 1,
                    error,
                    frames,
                )
                if attempts + 1 >= s.max_attempts:
                    return await self._set_aside(item, key, error, handling.locale)
                counted = await self._count_attempt(item, error)
                if counted is None:
                    return None  # handled or set aside meanwhile, by another run
                attempts = counted
                self.stats.retried += 1
                delay = min(s.backoff_max, s.backoff_base * 4 ** (attempts - 1))
                await asyncio.sleep(delay * (0.5 + 0.5 * self.rng.random()))
                continue
            if not handling.done:
                return None
            self.stats.handled += 1
            return handling.calls

    async def _count_attempt(self, item: _Item, error: str) -> int | None:
        """Store one more failed attempt; the attempts so far, or None when the update is
        no longer waiting.  While the database cannot be written, the attempt is not
        counted (the database itself is what fails)."""
        try:
            async with self.db.session(write=True) as session:
                attempts = await inbox.record_attempt(session, inbox_id=item.inbox_id, error=error)
        except Exception as exc:
            log.warning("could not count a failed attempt: %s", describe_error(exc))
            return item.attempts
        if attempts == 0:
            return None
        item.attempts = attempts
        return attempts

    async def _set_aside(
        self, item: _Item, key: str | None, error: str, locale: str | None
    ) -> list[ReplyCall] | None:
        """Set the update aside, with one apology to its sender; returns the apology."""
        try:
            payload = json.loads(item.payload)
        except ValueError:
            payload = None
        calls: list[ReplyCall] = []
        if key is not None:
            locale = locale or await self._locale_of(key)
            calls.append(ReplyCall("send", chat_id=key, text=render("error.txt", locale)))
            callback = self.codec.callback_id(payload)
            if callback is not None:
                calls.append(ReplyCall("answer", callback_id=callback))
        delay = 0.5
        while True:
            try:
                async with self.db.session(write=True) as session:
                    done = await inbox.set_aside(
                        session,
                        inbox_id=item.inbox_id,
                        error=error,
                        replies=encode(calls) if calls else None,
                    )
                break
            except Exception as exc:  # the database is down: the update waits, in its place
                log.warning("could not set an update aside: %s", describe_error(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if not done:
            return None
        self.stats.set_aside += 1
        log.warning("inbox update %s set aside: %s", item.inbox_id, error)
        return calls

    async def _locale_of(self, sender: str) -> str:
        """The sender's chat's locale, when the handling failed before it was read (the
        settings' locale for a chat the bot has never seen, as a new chat gets)."""
        try:
            async with self.db.session() as session:
                chat = await chats.get_chat(session, channel=self.channel, external_id=sender)
        except Exception as exc:
            log.warning("could not read a chat's locale: %s", describe_error(exc))
            chat = None
        return chat.locale if chat is not None else self.locale

    # -- running ----------------------------------------------------------------------------

    async def drain(self) -> int:
        """Handle every stored update and send its replies; returns how many were taken."""
        total = 0
        while True:
            taken = await self.dispatch()
            total += taken
            await self._lanes_empty.wait()
            if taken == 0:
                break
        await self._marks.flush()
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Handle what arrives until ``stop``; then let the lanes finish (a few seconds at
        most: what is left waits in the table for the next start)."""
        s = self.settings
        last_sweep = float("-inf")
        try:
            while not stop.is_set():
                now = time.monotonic()
                try:
                    # Old updates are deleted by the daily retention purge (the scheduler's).
                    await self.dispatch()
                    if now - last_sweep >= s.sweep_every:
                        last_sweep = now
                        await self.sweep()
                except Exception as exc:
                    log.error("reading the inbox failed: %s; retrying", describe_error(exc))
                    await asyncio.sleep(1.0)
                waiters = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                try:
                    await asyncio.wait(
                        waiters, timeout=s.sweep_every, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            await self.close()

    async def close(self) -> None:
        """Let the lanes finish their update for ``shutdown_grace`` seconds, then cancel them;
        write the pending marks."""
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("%d chats' updates left for the next start", len(late))
                await asyncio.gather(*late, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._marks.flush()

    async def poll(self, stop: asyncio.Event, *, poll_seconds: int = 25) -> None:
        """Long polling: getUpdates → inbox (committed) → lanes → confirm by asking past."""
        runner = asyncio.create_task(self.run(stop))
        try:
            await self._poll(stop, poll_seconds)
        finally:
            stop.set()
            await runner

    async def _poll(self, stop: asyncio.Event, poll_seconds: int) -> None:
        await self.dispatch()  # whatever a previous run received but did not handle
        offset: int | None = None
        backoff = 1.0
        while not stop.is_set():
            get = asyncio.ensure_future(
                self.bot(
                    RawGetUpdates(
                        offset=offset, timeout=poll_seconds, allowed_updates=ALLOWED_UPDATES
                    )
                )
            )
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({get, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if get not in done:
                get.cancel()
                break
            try:
                raw: list[Any] = cast(list[Any], get.result())
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
                continue
            except (TelegramNetworkError, TelegramServerError) as exc:
                log.warning("getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            updates: list[dict[str, Any]] = [
                u
                for u in raw
                if isinstance(u, dict)
                and isinstance(u.get("update_id"), int)
                and not isinstance(u["update_id"], bool)
            ]
            if updates:
                try:
                    # Dispatched below, by this task: waking the runner too would read the
                    # inbox a second time for nothing.
                    await self.ingest(updates, wake=False)
                except Exception as exc:
                    # Not confirmed: the next getUpdates (same offset) brings them again.
                    log.warning("storing updates failed (%s); retrying", describe_error(exc))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                offset = max(u["update_id"] for u in updates) + 1
                try:
                    await self.dispatch()  # into the lanes before they are confirmed
                except Exception:
                    self._wake.set()  # the runner takes them in, retrying
            backoff = 1.0

    def webhook_app(self, *, path: str, secret: str) -> web.Application:
        """An aiohttp app taking webhook POSTs: secret checked, inbox written, then 200.  The
        app runs the lanes for as long as it runs."""
        app = web.Application()
        self.attach_webhook(app, path=path, secret=secret)
        return app

    def attach_webhook(self, app: web.Application, *, path: str, secret: str) -> None:
        """Take Telegram's webhook POSTs on ``path`` of ``app`` (another channel's may share
        it); the lanes run for as long as ``app`` runs."""

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return web.Response(status=401, text="bad secret token")
            try:
                data = parse_webhook_body(await request.read())
            except ValueError as exc:
                return web.Response(status=400, text=f"not a Telegram update: {exc}")
            try:
                await self._stored.submit((data["update_id"], json.dumps(data, ensure_ascii=False)))
            except Exception:
                # The database stayed unwritable: Telegram sends the update again later.
                return web.Response(status=503, text="try again later")
            self._wake.set()
            return web.Response(status=200)

        app.router.add_post(path, receive)
        self.run_with(app)

    def run_with(self, app: web.Application) -> None:
        """Run the lanes for as long as ``app`` (a webhook's web server) runs."""
        stop = asyncio.Event()
        running: list[asyncio.Task[None]] = []

        async def on_startup(_app: web.Application) -> None:
            running.append(asyncio.create_task(self.run(stop)))

        async def on_shutdown(_app: web.Application) -> None:
            stop.set()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

        app.on_startup.append(on_startup)
        app.on_shutdown.append(on_shutdown)
