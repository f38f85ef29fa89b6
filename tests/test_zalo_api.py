"""ZaloBotClient against the fake Zalo Bot API: methods, long polling, webhooks, error kinds."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.channels.zalo.api import (
    TEXT_LIMIT,
    ZaloBotClient,
    ZaloError,
    ZaloErrorKind,
    normalize_updates,
)
from tests.fakezalo import SECRET_HEADER, FakeZaloAPI, FakeZaloUser

LAN = "e4ea2cd5189df1c3a88c"


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeZaloAPI) -> AsyncIterator[ZaloBotClient]:
    client = ZaloBotClient(fake.token, fake.url, timeout=2.0)
    yield client
    await client.close()


@pytest.fixture
def lan(fake: FakeZaloAPI) -> FakeZaloUser:
    return fake.user(LAN, "Nguyen Thi Lan")


async def test_get_me(fake: FakeZaloAPI, client: ZaloBotClient) -> None:
    me = await client.get_me()
    assert me == {
        "id": "1459232241454765289",
        "account_name": "bot.VDKyGxQvc",
        "account_type": "BASIC",
        "can_join_groups": False,
    }
    assert [(c.method, c.params, c.status) for c in fake.calls] == [("getMe", {}, 200)]


async def test_get_updates_serves_one_update_per_call(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    first = await lan.send("Xin chào")
    second = await lan.send("Tôi muốn hỏi")
    assert (first, second) == ("m000000000000000001", "m000000000000000002")
    [update] = await client.get_updates(1)
    assert update["event_name"] == "message.text.received"
    message = update["message"]
    assert message["message_id"] == first and message["text"] == "Xin chào"
    assert message["chat"] == {"id": LAN, "chat_type": "PRIVATE"}
    assert message["from"] == {"id": LAN, "display_name": "Nguyen Thi Lan", "is_bot": False}
    assert isinstance(message["date"], int) and message["date"] > 1_700_000_000_000  # ms
    assert fake.last_call("getUpdates").params == {"timeout": "1"}
    [update] = await client.get_updates(1)
    assert update["message"]["text"] == "Tôi muốn hỏi"
    assert fake.pending == []


async def test_other_events(client: ZaloBotClient, lan: FakeZaloUser) -> None:
    await lan.send_image("https://example.org/a.jpg", caption="Ảnh")
    await lan.send_sticker()
    await lan.send_unsupported()
    events = [(await client.get_updates(1))[0] for _ in range(3)]
    assert [e["event_name"] for e in events] == [
        "message.image.received",
        "message.sticker.received",
        "message.unsupported.received",
    ]
    assert events[0]["message"]["photo"] == "https://example.org/a.jpg"
    assert events[0]["message"]["caption"] == "Ảnh"
    assert isinstance(events[1]["message"]["sticker"], str)
    assert "text" not in events[2]["message"]


async def test_a_long_poll_returns_as_soon_as_a_message_comes(
    client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(client.get_updates(5))
    await asyncio.sleep(0.1)
    await lan.send("Xin chào")
    [update] = await asyncio.wait_for(poll, 2)
    assert update["message"]["text"] == "Xin chào"
    assert loop.time() - started < 2


@pytest.mark.parametrize("empty_poll", ["408", "null"])
async def test_nothing_within_the_timeout_is_no_update(empty_poll: str) -> None:
    async with FakeZaloAPI(empty_poll=empty_poll) as fake:
        client = ZaloBotClient(fake.token, fake.url)
        try:
            assert await client.get_updates(1) == []
        finally:
            await client.close()
        assert fake.last_call("getUpdates").status == (408 if empty_poll == "408" else 200)


def test_normalize_updates() -> None:
    a = {"event_name": "message.text.received", "message": {"text": "a"}}
    b = {"event_name": "message.sticker.received", "message": {"sticker": "x"}}
    assert normalize_updates(None) == []
    assert normalize_updates({}) == []
    assert normalize_updates(a) == [a]
    assert normalize_updates([a, b]) == [a, b]
    assert normalize_updates([a, None, "junk", {}, b]) == [a, b]
    assert normalize_updates("junk") == []


async def test_send_message_photo_and_chat_action(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    assert await client.send_message(LAN, "Chào chị") == "00000000000000000001"
    assert await client.send_message(LAN, "x" * TEXT_LIMIT) == "00000000000000000002"
    photo_id = await client.send_photo(LAN, "https://example.org/p.jpg", "Hội nghị")
    await client.send_photo(LAN, "https://example.org/q.jpg")
    await client.send_chat_action(LAN)
    assert lan.received == ["Chào chị", "x" * TEXT_LIMIT]
    assert lan.last_text() == "x" * TEXT_LIMIT
    assert [(p.url, p.caption, p.message_id) for p in lan.photos] == [
        ("https://example.org/p.jpg", "Hội nghị", photo_id),
        ("https://example.org/q.jpg", None, "00000000000000000004"),
    ]
    assert fake.calls_of("sendPhoto")[1].params == {
        "chat_id": LAN,
        "photo": "https://example.org/q.jpg",
    }
    assert lan.actions == ["typing"]


# -- webhooks ----------------------------------------------------------------------------------


async def test_get_updates_is_refused_while_a_webhook_is_set(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    await client.set_webhook("https://bot.example.org/zalo", "s3cret-token")
    await lan.send("Xin chào")  # the webhook is not local: the update stays queued
    with pytest.raises(ZaloError) as caught:
        await client.get_updates(1)
    assert (caught.value.status, caught.value.kind) == (409, ZaloErrorKind.PERMANENT)
    await client.delete_webhook()
    [update] = await client.get_updates(1)
    assert update["message"]["text"] == "Xin chào"


@pytest.mark.parametrize(
    ("url", "secret"),
    [("http://bot.example.org/zalo", "s3cret-token"), ("https://bot.example.org/z", "short")],
)
async def test_set_webhook_is_strict(client: ZaloBotClient, url: str, secret: str) -> None:
    with pytest.raises(ZaloError) as caught:
        await client.set_webhook(url, secret)
    assert caught.value.status == 400


async def test_webhook_pushes_and_keeps_what_was_refused(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    answers = [500, 200, 200]
    seen: list[tuple[str | None, str]] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        seen.append((request.headers.get(SECRET_HEADER), update["message"]["text"]))
        return web.Response(status=answers.pop(0))

    app = web.Application()
    app.router.add_post("/zalo", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        await client.set_webhook("https://bot.example.org/zalo", "s3cret-token")
        fake.route_webhook(f"http://127.0.0.1:{sock.getsockname()[1]}/zalo")
        first = await lan.send("một")
        assert [u["message"]["message_id"] for u in fake.pending] == [first]  # refused: kept
        second = await lan.send("hai")  # pushes the refused one first
        assert seen == [("s3cret-token", "một"), ("s3cret-token", "một"), ("s3cret-token", "hai")]
        assert fake.webhook_deliveries == [(first, 500), (first, 200), (second, 200)]
        assert fake.pending == []
        assert await fake.flush_webhook() == 0
    finally:
        await runner.cleanup()


# -- errors ------------------------------------------------------------------------------------


def assert_token_free(error: ZaloError, token: str) -> None:
    assert token not in str(error) and token not in repr(error)
    assert token not in error.description


async def test_a_wrong_token_is_unauthorized(fake: FakeZaloAPI) -> None:
    client = ZaloBotClient("999:wrong-token", fake.url)
    try:
        with pytest.raises(ZaloError) as caught:
            await client.get_me()
    finally:
        await client.close()
    error = caught.value
    assert (error.method, error.status, error.error_code) == ("getMe", 401, 401)
    assert error.description == "Unauthorized"
    assert error.kind == ZaloErrorKind.UNAUTHORIZED
    assert_token_free(error, "999:wrong-token")
    assert str(error) == "getMe: HTTP 401: Unauthorized"


async def refused(client: ZaloBotClient, text: str = "Chào chị", chat_id: str = LAN) -> ZaloError:
    with pytest.raises(ZaloError) as caught:
        await client.send_message(chat_id, text)
    return caught.value


async def test_a_user_who_blocked_the_bot_is_unreachable(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    lan.block()
    error = await refused(client)
    assert (error.status, error.error_code) == (403, 403)
    assert error.description == "User has blocked the bot"
    assert error.kind == ZaloErrorKind.UNREACHABLE
    assert_token_free(error, fake.token)
    assert lan.received == []


async def test_an_unknown_user_is_unreachable(fake: FakeZaloAPI, client: ZaloBotClient) -> None:
    error = await refused(client, chat_id="0000000000000000dead")
    assert (error.status, error.description) == (404, "User not found")
    assert error.kind == ZaloErrorKind.UNREACHABLE


@pytest.mark.parametrize(
    ("description", "kind"),
    [
        ("User has not interacted with the bot", ZaloErrorKind.UNREACHABLE),
        ("Chat not found", ZaloErrorKind.UNREACHABLE),
        ("Bad Request: text is too long", ZaloErrorKind.PERMANENT),
    ],
)
async def test_a_400_is_unreachable_only_when_it_says_so(
    fake: FakeZaloAPI,
    client: ZaloBotClient,
    lan: FakeZaloUser,
    description: str,
    kind: ZaloErrorKind,
) -> None:
    fake.fail_next("sendMessage", 400, description)
    assert (await refused(client)).kind == kind


@pytest.mark.parametrize("text", ["", "x" * (TEXT_LIMIT + 1)])
async def test_an_empty_or_too_long_text_is_permanent(
    client: ZaloBotClient, lan: FakeZaloUser, text: str
) -> None:
    error = await refused(client, text)
    assert (error.status, error.kind) == (400, ZaloErrorKind.PERMANENT)
    assert lan.received == []


async def test_an_unknown_method_is_permanent(client: ZaloBotClient, lan: FakeZaloUser) -> None:
    with pytest.raises(ZaloError) as caught:
        await client.call("sendDocument", {"chat_id": LAN, "document": "x"})
    assert (caught.value.status, caught.value.description) == (404, "Not Found")
    assert caught.value.kind == ZaloErrorKind.PERMANENT


async def test_a_429_is_rate_limited_with_its_retry_after(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    fake.fail_next("sendMessage", 429, retry_after=7)
    error = await refused(client)
    assert (error.status, error.description, error.retry_after) == (429, "Too Many Requests", 7.0)
    assert error.kind == ZaloErrorKind.RATE_LIMITED
    assert lan.received == []
    await client.send_message(LAN, "Chào chị")  # one time only
    assert lan.received == ["Chào chị"]


async def test_a_500_is_transient(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser
) -> None:
    fake.fail_next("sendMessage", 500)
    error = await refused(client)
    assert (error.status, error.retry_after, error.kind) == (500, None, ZaloErrorKind.TRANSIENT)


async def test_a_hang_past_the_timeout_is_transient(fake: FakeZaloAPI, lan: FakeZaloUser) -> None:
    fake.hang_next("sendMessage", 1.0)
    client = ZaloBotClient(fake.token, fake.url, timeout=0.2)
    try:
        error = await refused(client)
    finally:
        await client.close()
    assert (error.status, error.error_code, error.kind) == (None, None, ZaloErrorKind.TRANSIENT)
    assert_token_free(error, fake.token)


@pytest.mark.parametrize(("status", "kind"), [(502, "transient"), (400, "permanent")])
async def test_an_answer_that_is_not_json(
    fake: FakeZaloAPI, client: ZaloBotClient, lan: FakeZaloUser, status: int, kind: str
) -> None:
    fake.fail_next("sendMessage", status, raw="<html><body>Bad Gateway</body></html>")
    error = await refused(client)
    assert (error.status, error.error_code, error.kind) == (status, None, kind)


async def test_a_network_error_is_transient_and_token_free() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "123456:network-secret"
    for url in (f"http://127.0.0.1:{port}", "http://127.0.0.1:99999"):  # refused, invalid URL
        client = ZaloBotClient(token, url)
        try:
            with pytest.raises(ZaloError) as caught:
                await client.get_me()
        finally:
            await client.close()
        assert (caught.value.status, caught.value.kind) == (None, ZaloErrorKind.TRANSIENT)
        assert_token_free(caught.value, token)
        assert caught.value.__cause__ is None


async def test_a_given_session_is_left_open(fake: FakeZaloAPI) -> None:
    async with aiohttp.ClientSession() as session:
        client = ZaloBotClient(fake.token, fake.url, session=session)
        await client.get_me()
        await client.close()
        assert not session.closed
