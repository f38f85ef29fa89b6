"""The inbox on Zalo: an update delivered twice is stored and handled once, a chat's updates
are handled in order, the webhook checks the secret before it reads a body, answers 400 to what
is not a Zalo update, 200 only once the update is committed and 503 when it cannot be; an
update that cannot be read is set aside and its sender gets the apology on Zalo."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.types import Message, TelegramObject, Update
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from typer.testing import CliRunner

from bot.app import App, build_app
from bot.channels.zalo.inbound import chat_number
from bot.channels.zalo.inbox import ZaloInbox
from bot.cli import app as cli
from bot.texts import render
from storage import inbox
from storage.db import Database
from storage.models import Channel, InboxUpdate
from tests.fakebotapi import FakeBotAPI, close_bot
from tests.fakezalo import SECRET_HEADER, FakeZaloAPI, FakeZaloUser
from tests.flow import settings_for

SECRET = "zalo-webhook-s3cret"
PUBLIC_URL = "https://bot.congdoan.example.vn/zalo"
HELP = "Hướng dẫn sử dụng"
APOLOGY = render("error.txt", "vi").strip()
_ids = itertools.count(1)


def zalo_update(
    user: FakeZaloUser,
    text: object = "/help",  # None: no text; anything else as given
    *,
    date: int | None = None,
    event: str = "message.text.received",
    **content: Any,
) -> dict[str, Any]:
    """A Zalo update from ``user``, as the platform sends it (a fresh message id)."""
    message: dict[str, Any] = {
        "message_id": f"zm{next(_ids):016x}",
        "date": date if date is not None else int(time.time() * 1000),
        "chat": {"id": user.id, "chat_type": "PRIVATE"},
        "from": {"id": user.id, "display_name": user.name, "is_bot": False},
        **content,
    }
    if text is not None:
        message["text"] = text
    return {"event_name": event, "message": message}


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as server:
        yield server


@pytest.fixture
async def app(api: FakeBotAPI, zalo: FakeZaloAPI, sqlite_db: Database) -> AsyncIterator[App]:
    """The app as ``congdoan serve`` builds it with a Zalo token (nothing running yet)."""
    settings = settings_for(api, sqlite_db).model_copy(
        update={
            "zalo_bot_token": SecretStr(zalo.token),
            "zalo_api_url": zalo.url,
            "zalo_delivery_rate": 500.0,
            "zalo_delivery_per_chat_rate": 100.0,
        }
    )
    built = await build_app(settings, token=api.token, db=sqlite_db)
    assert built.zalo is not None
    try:
        yield built
    finally:
        await built.zalo.runner.close()
        await built.zalo.client.close()
        await close_bot(built.bot)


def runner_of(app: App) -> ZaloInbox:
    assert app.zalo is not None
    return app.zalo.runner


async def stored(db: Database) -> int:
    async with db.session() as session:
        return int(
            (
                await session.execute(
                    select(func.count()).where(col(InboxUpdate.channel) == Channel.ZALO)
                )
            ).scalar_one()
        )


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110  (polling the fake's state)
            await asyncio.sleep(0.01)


async def quiet(app: App, zalo: FakeZaloAPI) -> None:
    """Until every Zalo update pushed or queued is stored, handled and answered."""
    runner = runner_of(app)
    async with asyncio.timeout(10):
        while True:
            while zalo.pending or runner.busy() is not None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # nothing more comes of it
            if not zalo.pending and runner.busy() is None:
                return


@asynccontextmanager
async def webhook(app: App, zalo: FakeZaloAPI, port: int) -> AsyncIterator[str]:
    """The Zalo webhook served as ``serve`` serves it (ZALO_WEBHOOK_URL set), with the fake
    pushing to it; yields its local URL."""
    web_app = web.Application()
    runner_of(app).attach_webhook(web_app, path="/zalo", secret=SECRET)
    server = web.AppRunner(web_app)
    await server.setup()
    await web.TCPSite(server, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}/zalo"
    assert app.zalo is not None
    await app.zalo.client.set_webhook(PUBLIC_URL, SECRET)
    zalo.route_webhook(url)
    try:
        yield url
    finally:
        await server.cleanup()


async def post(url: str, body: str | bytes, *, secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


class Recorder:
    """A middleware inside the unit of work: notes the text of each update handled, by chat;
    ``fail`` texts fail once (as a database error would), then go through."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.handled: list[tuple[int, str]] = []
        self.fail = set(fail or ())

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        press = event.callback_query
        message = event.message or (press.message if press is not None else None)
        assert isinstance(message, Message)  # a typed choice is a press on the typed text
        typed = message.text or ""
        if typed in self.fail:
            self.fail.discard(typed)
            raise IntegrityError("INSERT INTO answers", {}, Exception("database is locked"))
        self.handled.append((message.chat.id, typed))
        return await handler(event, data)

    def of(self, chat: int) -> list[str]:
        return [typed for c, typed in self.handled if c == chat]


# -- once, in order -------------------------------------------------------------------------------


async def test_an_update_delivered_twice_is_stored_and_handled_once(
    app: App, zalo: FakeZaloAPI, sqlite_db: Database
) -> None:
    lan = zalo.user("e4ea2cd5189df1c3a88c", "Lan")
    update = zalo_update(lan, "/help")
    # getUpdates returns it twice (Zalo sending it again, as after an answer it took as lost).
    await zalo.deliver(update)
    await zalo.deliver(copy.deepcopy(update))
    stop = asyncio.Event()
    polling = asyncio.create_task(runner_of(app).poll(stop, poll_seconds=1))
    try:
        await until(lambda: len(lan.received) >= 1)
        await quiet(app, zalo)
    finally:
        stop.set()
        await asyncio.wait_for(polling, 10)
    served = [
        c for c in zalo.calls_of("getUpdates") if c.ok and c.response and c.response["result"]
    ]
    assert len(served) == 2
    assert await stored(sqlite_db) == 1
    assert len(lan.received) == 1 and HELP in lan.received[0]
    assert runner_of(app).stats.handled == 1
    # Stored again later (a webhook retry after a restart): still nothing new.
    assert await runner_of(app).ingest_zalo([update, copy.deepcopy(update)]) == 0
    assert await runner_of(app).drain() == 0
    assert len(lan.received) == 1


async def test_a_chats_updates_are_handled_in_order_even_after_a_failure(
    app: App, zalo: FakeZaloAPI
) -> None:
    """Two chats' updates stored in one batch, in an arrival order that is not their time
    order: each chat's are handled in the order of their time; the first of one chat fails
    once and the later ones wait for its retry."""
    recorder = Recorder(fail={"lan 1"})
    assert app.zalo is not None
    app.zalo.dispatcher.update.outer_middleware(recorder)  # inside the unit of work
    lan = zalo.user("e4ea2cd5189df1c3a88c", "Lan")
    minh = zalo.user("0a1b2c3d4e5f60718293", "Minh")
    start = int(time.time() * 1000)
    updates = [
        zalo_update(user, f"{user.name.lower()} {n}", date=start + 10 * n + offset)
        for n in range(1, 7)
        for user, offset in ((lan, 0), (minh, 5))
    ]
    arrival = updates[::-1]  # the newest first
    runner = runner_of(app)
    assert await runner.ingest_zalo(arrival, wake=False) == 12
    await runner.drain()
    assert recorder.of(chat_number(lan.id)) == [f"lan {n}" for n in range(1, 7)]
    assert recorder.of(chat_number(minh.id)) == [f"minh {n}" for n in range(1, 7)]
    assert runner.stats.retried == 1 and runner.stats.handled == 12
    assert len(lan.received) >= 6 and len(minh.received) >= 6  # every update answered


# -- the webhook ----------------------------------------------------------------------------------


async def raw_request(
    port: int, headers: dict[str, str], pieces: list[bytes], length: int
) -> bytes:
    """POST with a Content-Length of ``length`` and the body sent as ``pieces``, 0.1 s apart;
    the status line of the answer, or b"" if none came within half a second of the last one
    (the server is waiting for the rest of the body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = [
            "POST /zalo HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Content-Type: application/json",
            f"Content-Length: {length}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        for piece in pieces:
            await asyncio.sleep(0.1)
            writer.write(piece)
            await writer.drain()
        try:
            return await asyncio.wait_for(reader.readline(), 0.5)
        except TimeoutError:
            return b""
    finally:
        writer.close()


async def test_the_webhook_refuses_a_wrong_or_missing_secret_before_reading_the_body(
    app: App, zalo: FakeZaloAPI, sqlite_db: Database, unused_tcp_port: int
) -> None:
    lan = zalo.user("e4ea2cd5189df1c3a88c", "Lan")
    async with webhook(app, zalo, unused_tcp_port) as url:
        # No byte of the body is sent: a 401 can only be answered without reading it...
        wrong = await raw_request(unused_tcp_port, {SECRET_HEADER: "guess"}, [], 50_000)
        missing = await raw_request(unused_tcp_port, {}, [], 50_000)
        assert wrong.startswith(b"HTTP/1.1 401"), wrong
        assert missing.startswith(b"HTTP/1.1 401"), missing
        # ...while with the right secret the server waits for the body.
        assert await raw_request(unused_tcp_port, {SECRET_HEADER: SECRET}, [], 50_000) == b""
        # Whole bodies: refused without the secret, nothing stored.
        body = json.dumps(zalo_update(lan, "/help"))
        assert await post(url, body, secret="guess") == 401
        assert await post(url, body, secret=None) == 401
        assert await post(url, body, secret=SECRET.upper()) == 401
        assert await stored(sqlite_db) == 0
        assert lan.received == []
        assert await post(url, body) == 200
        await until(lambda: len(lan.received) == 1)
    assert HELP in lan.received[0]


async def test_the_webhook_answers_400_to_what_is_not_a_zalo_update(
    app: App, zalo: FakeZaloAPI, sqlite_db: Database, unused_tcp_port: int
) -> None:
    lan = zalo.user("e4ea2cd5189df1c3a88c", "Lan")
    async with webhook(app, zalo, unused_tcp_port) as url:
        bad: list[str | bytes] = [
            "",
            "not json",
            "[]",
            '"message.text.received"',
            "{}",
            '{"message": {"text": "/help"}}',  # no event_name
            '{"event_name": 5, "message": {}}',
            '{"event_name": null}',
            '{"ok": true, "result": []}',
            '{"ok": true, "result": {"message": {}}}',
            '{"event_name": "message.text.received", "message": ' + "[" * 80 + "]" * 80 + "}",
            "[" * 30_000 + "]" * 30_000,  # deeper than Python's parser goes
            b"\xff\xfe not utf-8",
        ]
        statuses = [await post(url, body) for body in bad]
        assert statuses == [400] * len(bad)
        assert await post(url, json.dumps(zalo_update(lan, "x" * 70_000))) == 413  # > 64 KiB
        assert await stored(sqlite_db) == 0
        # The update wrapped as getUpdates' answer is taken too.
        wrapped = {"ok": True, "result": zalo_update(lan, "/help")}
        assert await post(url, json.dumps(wrapped)) == 200
        await until(lambda: len(lan.received) == 1)
    assert await stored(sqlite_db) == 1
    assert HELP in lan.received[0]


async def test_the_webhook_reads_a_body_that_arrives_in_pieces(
    app: App, zalo: FakeZaloAPI, sqlite_db: Database, unused_tcp_port: int
) -> None:
    lan = zalo.user("e4ea2cd5189df1c3a88c", "Lan")
    body = json.dumps(zalo_update(lan, "/help")).encode()
    pieces = [body[:40], body[40:]]
    async with webhook(app, zalo, unused_tcp_port):
        status = await raw_request(unused_tcp_port, {SECRET_HEADER: SECRET}, pieces, len(body))
        assert status.startswith(b"HTTP/1.1 200"), status
        await until(lambda: len(lan.received) == 1)
    assert await stored(sqlite_db) == 1


async def test_the_webhook_answers_200_after_the_commit_and_503_when_it_cannot_write(
    app: App, zalo: FakeZaloAPI, sqlite_db: Database, unused_tcp_port: int
) -> None:
    db = sqlite_db
    lan = zalo.user("e4ea2cd5189df1c3a88c", "Lan")
    async with webhook(app, zalo, unused_tcp_port) as url:
        # While another write transaction holds the database, the update cannot be committed:
        # no answer yet.
        release = asyncio.Event()
        holding = asyncio.Event()

        async def hold() -> None:
            async with db.session(write=True):
                holding.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await holding.wait()
        answer = asyncio.create_task(post(url, json.dumps(zalo_update(lan, "/help"))))
        await asyncio.sleep(0.5)
        assert not answer.done()
        release.set()
        await holder
        assert await answer == 200
        assert await stored(db) == 1  # committed: seen from another session
        await until(lambda: len(lan.received) == 1)

        # The database refuses the write: 503, and Zalo keeps the update to send it again.
        async with db.session(write=True) as session:
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox_updates "
                    "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
                )
            )
        await lan.send("/help")  # the fake pushes it at once
        assert [status for _, status in zalo.webhook_deliveries][-1] == 503
        assert len(zalo.pending) == 1
        assert await stored(db) == 1
        async with db.session(write=True) as session:
            await session.execute(text("DROP TRIGGER refuse_inbox"))
        assert await zalo.flush_webhook() == 1  # sent again: stored this time
        await until(lambda: len(lan.received) == 2)
    assert await stored(db) == 2
    assert [status for _, status in zalo.webhook_deliveries] == [503, 200]
    assert all(HELP in t for t in lan.received)


async def test_an_unreadable_update_is_set_aside_with_an_apology_on_zalo(
    app: App,
    zalo: FakeZaloAPI,
    sqlite_db: Database,
    unused_tcp_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lan = zalo.user("e4ea2cd5189df1c3a88c", "Lan")
    minh = zalo.user("0a1b2c3d4e5f60718293", "Minh")
    async with webhook(app, zalo, unused_tcp_port):
        await zalo.deliver(zalo_update(lan, 42))
        await zalo.deliver(zalo_update(minh, None, event="message.location.received"))
        await until(lambda: len(lan.received) == 1 and len(minh.received) == 1)
        assert lan.received == [APOLOGY] and minh.received == [APOLOGY]
        # The chat is not stuck behind it.
        await lan.send("/help")
        await until(lambda: len(lan.received) == 2)
        assert HELP in lan.received[1]
        await quiet(app, zalo)
    async with sqlite_db.session() as session:
        aside = await inbox.set_aside_updates(session, channel=Channel.ZALO)
        counts = await inbox.counts(session, channel=Channel.ZALO)
    assert len(aside) == 2
    assert counts == {"waiting": 0, "set_aside": 2, "unreplied": 0}

    # The operator sees them with `congdoan inbox failed`, without what was typed.
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {"DATABASE_URL": sqlite_db.url, "BOT_TOKEN": "", "TZ": "Asia/Ho_Chi_Minh"}
    listed = await asyncio.to_thread(CliRunner().invoke, cli, ["inbox", "failed"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "Updates set aside (2 shown" in listed.output
    for row in aside:
        assert f"ID {row.id} " in listed.output
    assert f"message from {lan.id}" in listed.output
    assert f"message from {minh.id}" in listed.output
    assert "unknown Zalo event 'message.location.received'" in listed.output
