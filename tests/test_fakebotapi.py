"""The fake Bot API server and the network guard, driven by the real aiogram Bot/Dispatcher."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests import netguard
from tests.fakebotapi import DEFAULT_TOKEN, FakeBotAPI, close_bot, visible_text

BOT_ID = 123456789


@pytest.fixture(autouse=True)
def _guard() -> Iterator[None]:
    yield from netguard.guard()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(max_poll=0.3) as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    instance = api.make_bot(default=DefaultBotProperties(parse_mode="HTML"))
    yield instance
    await close_bot(instance)


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row]
            for row in rows
        ]
    )


def demo_router(seen: list[int]) -> Router:
    """A tiny bot: /start with deep-link args, a consent button, a contact, an echo."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(
            f"Xin chào <b>{message.chat.first_name}</b>! Mã: {command.args or '-'}. "
            "Bạn có đồng ý không?",
            reply_markup=keyboard([("Đồng ý", "consent:yes"), ("Không", "consent:no")]),
        )

    @router.callback_query(F.data.startswith("consent:"))
    async def consent(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        answer = "yes" if query.data == "consent:yes" else "no"
        await query.answer("Đã ghi nhận")
        await query.message.edit_text(f"Bạn đã chọn: {answer}")
        await query.message.answer(
            "Chia sẻ số điện thoại",
            reply_markup=ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text="📱 Gửi số", request_contact=True)]],
                one_time_keyboard=True,
            ),
        )

    @router.callback_query()
    async def unknown_button(query: CallbackQuery) -> None:
        await query.answer("Nút này đã hết hạn", show_alert=True)

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None and message.from_user is not None
        own = message.contact.user_id == message.from_user.id
        await message.answer(f"Số {message.contact.phone_number}, của bạn: {own}")

    @router.message(Command("two"))
    async def two(message: Message) -> None:
        await message.answer("một")
        await asyncio.sleep(0.05)
        await message.answer("hai")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        seen.append(message.message_id)
        await message.answer(f"Bạn nói: {message.text}")

    return router


def demo_dispatcher(seen: list[int] | None = None) -> Dispatcher:
    dp = Dispatcher()
    dp.include_router(demo_router(seen if seen is not None else []))
    return dp


# -- the Bot API surface ------------------------------------------------------------------------


async def test_get_me_and_send_message_return_full_objects(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (BOT_ID, True, "congdoan_test_bot")

    sent = await bot.send_message(
        1001,
        "<b>Chào</b> Lan &amp; các bạn",
        reply_markup=keyboard([("Đồng ý", "ok"), ("Không", "no")]),
    )
    assert sent.chat.id == 1001 and sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.id == BOT_ID
    assert sent.text == "Chào Lan & các bạn"
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "no"

    seen = alice.last_message()
    assert seen.message_id == sent.message_id
    assert seen.text == "Chào Lan & các bạn"
    assert seen.raw_text == "<b>Chào</b> Lan &amp; các bạn"
    assert seen.buttons == [["Đồng ý", "Không"]]
    assert seen.callback_data == [["ok", "no"]]
    call = api.last_call("sendMessage")
    assert call.params["chat_id"] == 1001 and call.params["parse_mode"] == "HTML"


async def test_edits_update_what_the_user_sees(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    sent = await bot.send_message(1001, "Câu 1", reply_markup=keyboard([("A", "a")]))

    await bot.edit_message_reply_markup(
        chat_id=1001, message_id=sent.message_id, reply_markup=keyboard([("B", "b")])
    )
    assert alice.last_message().buttons == [["B"]]

    edited = await bot.edit_message_text("Câu 2", chat_id=1001, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.edit_date is not None
    message = alice.last_message()
    assert (message.text, message.buttons, message.history) == ("Câu 2", [], ["Câu 1"])

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Câu 2", chat_id=1001, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=1001, message_id=999)
    assert len(alice.messages()) == 1


async def test_telegram_rejections_are_reproduced(api: FakeBotAPI, bot: Bot) -> None:
    api.user(id=1001, first_name="Lan")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(1001, "dòng 1<br>dòng 2")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag"):
        await bot.send_message(1001, "<b>đậm")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(5555, "ai đó")
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1001, "x", reply_markup=keyboard([("A", "x" * 65)]))
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1001, "a" * 4097)
    assert [call.status for call in api.errors()] == [400, 400, 400, 400, 400]
    assert visible_text("a &lt;b&gt; <i>c</i>\n", "HTML") == "a <b> c"


async def test_raw_http_unknown_method_get_and_bad_token(api: FakeBotAPI) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api.base_url}/bot{DEFAULT_TOKEN}/frobnicate") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.get(f"{api.base_url}/bot{DEFAULT_TOKEN}/getMe") as response:
            body = await response.json()
            assert body["ok"] is True and body["result"]["id"] == BOT_ID
        async with http.post(
            f"{api.base_url}/bot{DEFAULT_TOKEN}/sendMessage",
            json={"chat_id": 42, "text": "JSON body"},
        ) as response:
            assert response.status == 400  # chat 42 is nobody
        async with http.post(f"{api.base_url}/bot1:wrong/getMe") as response:
            assert response.status == 401
    assert api.last_call("sendMessage").params == {"chat_id": 42, "text": "JSON body"}


async def test_fault_injection(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    api.user(id=1002, first_name="Minh")

    api.block(1001)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(1001, "tin")
    await bot.send_message(1002, "tin")  # other chats are unaffected
    api.unblock(1001)

    api.rate_limit(retry_after=3, chat_id=1001)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(1001, "tin")
    assert retry.value.retry_after == 3
    with pytest.raises(TelegramRetryAfter):  # flood control: every chat waits now
        await bot.send_message(1002, "tin")
    api.lift_flood()  # rather than wait 3 s

    api.server_error(times=2, method="sendMessage")
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(1001, "tin")
    await bot.send_message(1001, "cuối cùng")
    assert alice.texts() == ["cuối cùng"]
    assert api.errors() == []  # injected faults are not reported as bot errors
    calls = api.calls_of("sendMessage")
    assert [call.status for call in calls] == [403, 200, 429, 429, 500, 500, 200]
    assert [call.fault for call in calls] == [
        "user-blocked",
        None,
        "scripted",
        "flood",
        "scripted",
        "scripted",
        None,
    ]


async def test_documents_photos_commands_menu_webhook_info(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    document = await bot.send_document(
        1001, BufferedInputFile(b"ma,so\nA3a,12\n", filename="chi-tieu.csv"), caption="Báo cáo"
    )
    assert document.document is not None and document.document.file_name == "chi-tieu.csv"
    assert document.caption == "Báo cáo"
    sent_file = alice.last_message().file
    assert sent_file is not None and sent_file.data == b"ma,so\nA3a,12\n"

    photo = await bot.send_photo(1001, BufferedInputFile(b"\x89PNG", filename="a.png"))
    assert photo.photo is not None and len(photo.photo) == 3
    assert await bot.send_chat_action(1001, "typing") is True

    await bot.set_my_commands([BotCommand(command="start", description="Bắt đầu")])
    await bot.set_my_commands(
        [BotCommand(command="stats", description="Chỉ tiêu")],
        scope=BotCommandScopeChat(chat_id=1001),
    )
    assert api.commands_for(1001) == ["stats"]
    assert api.commands_for(1002) == ["start"]
    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=1001))
    assert api.commands_for(1001) == ["start"]
    await bot.set_chat_menu_button(chat_id=1001, menu_button=MenuButtonCommands())
    assert api.menu_button(1001) == {"type": "commands"}

    assert await bot.set_webhook("https://bot.example.org/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.org/hook" and info.pending_update_count == 0
    with pytest.raises(TelegramBadRequest, match="HTTPS URL"):
        await bot.set_webhook("http://bot.example.org/hook")
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""


# -- updates: long polling ----------------------------------------------------------------------


async def test_get_updates_offset_and_long_polling(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    first = await alice.send("/start abc")
    second = await alice.send("xin chào")
    assert second == first + 1

    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first, second]
    message = updates[0].message
    assert message is not None and message.entities is not None
    assert (message.entities[0].type, message.entities[0].length) == ("bot_command", 6)
    assert updates[1].message is not None and updates[1].message.entities is None

    again = await bot.get_updates(offset=second, timeout=0)  # confirms `first` only
    assert [u.update_id for u in again] == [second]
    assert await bot.get_updates(offset=second + 1, timeout=0) == []
    assert api.pending_update_ids == [] and api.offsets == [second, second + 1]

    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(bot.get_updates(offset=second + 1, timeout=30))
    await asyncio.sleep(0.05)
    third = await alice.send("ba")
    got = await waiting
    assert [u.update_id for u in got] == [third]
    assert loop.time() - started < 0.4  # returned as soon as the update came

    started = loop.time()
    assert await bot.get_updates(offset=third + 1, timeout=30) == []
    assert 0.25 <= loop.time() - started < 0.8  # the 30 s timeout is capped at max_poll=0.3


async def test_dispatcher_flow_start_click_contact_echo(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan", phone="+84912345678")
    async with api.polling(demo_dispatcher(), bot):
        await alice.send("/start XA01")
        await api.wait_idle()
        greeting = alice.last_message()
        assert greeting.text == "Xin chào Lan! Mã: XA01. Bạn có đồng ý không?"
        assert greeting.buttons == [["Đồng ý", "Không"]]

        await alice.click(greeting, "Đồng ý")
        await api.wait_idle()
        assert greeting.text == "Bạn đã chọn: yes" and greeting.buttons == []
        assert alice.last_callback_answer()["text"] == "Đã ghi nhận"
        assert alice.last_message().requests_contact
        assert alice.reply_keyboard() == [["📱 Gửi số"]]

        await alice.share_contact()
        replies = await alice.wait_reply()
        assert [m.text for m in replies] == ["Số +84912345678, của bạn: True"]
        assert alice.reply_keyboard() == []  # one-time keyboard is gone after use

        await alice.share_contact("+84900000000", user_id=None)
        await alice.wait_reply()
        assert alice.last_message().text == "Số +84900000000, của bạn: False"

        await alice.send("/two")
        assert [m.text for m in await alice.wait_reply(count=2)] == ["một", "hai"]

    assert api.unanswered_callbacks() == []
    assert api.errors() == []
    assert api.pending_update_ids == []
    last_update = max(api.offsets) - 1
    assert api.update(last_update)["message"]["text"] == "/two"


async def test_click_helpers_and_forged_callbacks(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    async with api.polling(demo_dispatcher(), bot):
        await alice.send("/start")
        await api.wait_idle()
        with pytest.raises(AssertionError, match=r"available buttons: \[\['Đồng ý', 'Không'\]\]"):
            await alice.click(None, "Có lẽ")

        await alice.press_raw("bogus:data")
        await api.wait_idle()
        assert alice.last_callback_answer() == {
            "callback_query_id": alice.last_callback_answer()["callback_query_id"],
            "text": "Nút này đã hết hạn",
            "show_alert": True,
        }
        await alice.click(None, "consent:no")  # by callback data, latest keyboard
        await api.wait_idle()
        assert alice.messages()[0].text == "Bạn đã chọn: no"


async def test_redelivered_update_reaches_the_bot_twice(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    seen: list[int] = []
    async with api.polling(demo_dispatcher(seen), bot):
        update_id = await alice.send("một lần")
        await api.wait_idle()
        api.redeliver(update_id)
        await api.wait_idle()
    assert len(seen) == 2 and seen[0] == seen[1]
    assert alice.texts() == ["Bạn nói: một lần", "Bạn nói: một lần"]


async def test_unconfirmed_update_is_served_to_the_next_bot(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    first = await alice.send("trước khi sập")
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first]
    # the bot "crashed" before confirming: a new Dispatcher gets the update again
    async with api.polling(demo_dispatcher(), bot):
        await api.wait_idle()
    assert alice.texts() == ["Bạn nói: trước khi sập"]


# -- updates: webhooks --------------------------------------------------------------------------


@pytest.fixture
async def webhook_app(bot: Bot) -> AsyncIterator[tuple[str, Dispatcher]]:
    dp = Dispatcher()

    @dp.message(Command("ping"))
    async def ping(message: Message) -> SendMessage:
        return message.answer("pong")  # returned as the webhook response

    dp.include_router(demo_router([]))
    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="s3cret").register(
        app, path="/hook"
    )
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hook", dp
    await runner.cleanup()


async def test_webhook_post_checks_secret_and_runs_reply(
    api: FakeBotAPI, webhook_app: tuple[str, Dispatcher]
) -> None:
    url, _ = webhook_app
    alice = api.user(id=1001, first_name="Lan")
    update_id = await alice.send("/ping")
    assert await api.post_webhook(url, "wrong", update_id) == 401
    assert api.pending_update_ids == [update_id]
    assert await api.post_webhook(url, "s3cret", update_id) == 200
    assert api.pending_update_ids == []
    assert alice.last_message().text == "pong"
    assert api.last_call("sendMessage").via == "webhook-reply"


async def test_set_webhook_pushes_queued_updates(
    api: FakeBotAPI, bot: Bot, webhook_app: tuple[str, Dispatcher]
) -> None:
    url, dp = webhook_app
    api.track(dp)
    alice = api.user(id=1001, first_name="Lan")
    await bot.set_webhook("https://bot.example.org/hook", secret_token="s3cret")
    await alice.send("chào")
    with pytest.raises(AssertionError, match="route_webhook"):
        await api.wait_idle(timeout=0.1)
    api.route_webhook(url)
    await api.wait_idle()
    assert alice.texts() == ["Bạn nói: chào"]
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates(timeout=0)


# -- flood control and random faults ------------------------------------------------------------


async def test_a_429_blocks_every_method_and_chat_for_its_retry_after(
    api: FakeBotAPI, bot: Bot
) -> None:
    alice = api.user(id=1001, first_name="Lan")
    minh = api.user(id=1002, first_name="Minh")
    # 3 s: the four calls below must land inside the window even on a loaded machine.
    api.rate_limit(retry_after=3, chat_id=1001, method="sendMessage")
    with pytest.raises(TelegramRetryAfter) as first:
        await bot.send_message(1001, "một")
    assert first.value.retry_after == 3
    # Telegram now refuses every call, whatever its chat or method ...
    with pytest.raises(TelegramRetryAfter) as other_chat:
        await bot.send_message(1002, "hai")
    assert other_chat.value.retry_after == 3
    with pytest.raises(TelegramRetryAfter):
        await bot.get_me()
    with pytest.raises(TelegramRetryAfter):
        await bot.send_chat_action(1002, "typing")
    assert await bot.get_updates(timeout=0) == []  # ... but getUpdates
    assert alice.messages() == [] and minh.messages() == []

    [window] = api.flood_windows
    assert window.end - window.start == pytest.approx(3.0)
    assert (window.retry_after, window.trigger, window.refused) == (3, "sendMessage", 3)
    assert api.calls_while_blocked == 3
    refused = [call for call in api.calls if call.fault == "flood"]
    assert [call.method for call in refused] == ["sendMessage", "getMe", "sendChatAction"]
    assert all(call.injected and call.status == 429 and window.covers(call.at) for call in refused)
    assert refused[0].response is not None
    assert refused[0].response["parameters"] == {"retry_after": 3}
    assert 0.0 < api.flood_remaining() <= 3.0

    await asyncio.sleep(api.flood_remaining() + 0.02)  # then calls go through again
    assert api.flood_remaining() == 0.0
    await bot.send_message(1002, "hai")
    assert (await bot.get_me()).id == BOT_ID
    assert minh.texts() == ["hai"]
    assert api.blocked_windows == [window.span] and api.calls_while_blocked == 3
    assert api.errors() == []
    assert api.injected_counts["scripted"] == 1 and api.injected_counts["flood"] == 3


async def test_the_remaining_retry_after_shrinks_and_rounds_up(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    api.fail_next(429, "Too Many Requests: retry after 2", retry_after=2)  # as rate_limit does
    waits = []
    for pause in (0.0, 0.0, 1.3):
        await asyncio.sleep(pause)
        with pytest.raises(TelegramRetryAfter) as retry:
            await bot.send_message(1001, "tin")
        waits.append(retry.value.retry_after)
    assert waits == [2, 2, 1]  # the 429's own, then what is left (0.7 s) rounded up
    [window] = api.flood_windows  # refusals do not push the end of the block
    assert window.end - window.start == pytest.approx(2.0)

    api.lift_flood()  # a test need not wait a block out
    assert api.flood_remaining() == 0.0
    await bot.send_message(1001, "tin")
    assert alice.texts() == ["tin"]
    assert [call.fault for call in api.calls_of("sendMessage")] == [
        "scripted",
        "flood",
        "flood",
        None,
    ]


async def test_a_client_honouring_retry_after_makes_no_call_while_blocked(
    api: FakeBotAPI, bot: Bot
) -> None:
    alice = api.user(id=1001, first_name="Lan")
    api.rate_limit(retry_after=1)

    async def send(text: str) -> Message:
        while True:
            try:
                return await bot.send_message(1001, text)
            except TelegramRetryAfter as error:
                await asyncio.sleep(error.retry_after)

    for text in ("một", "hai", "ba"):
        await send(text)
    assert alice.texts() == ["một", "hai", "ba"]
    [window] = api.flood_windows
    assert api.calls_while_blocked == 0
    first, *rest = api.calls_of("sendMessage")
    assert first.status == 429 and all(call.ok and call.at >= window.end for call in rest)


async def test_without_flood_blocks_a_429_fails_its_call_only() -> None:
    async with FakeBotAPI(flood_blocks=False) as server:
        bot = server.make_bot()
        try:
            alice = server.user(id=1001, first_name="Lan")
            server.rate_limit(retry_after=5)
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(1001, "một")
            await bot.send_message(1001, "hai")
        finally:
            await close_bot(bot)
    assert alice.texts() == ["hai"]
    assert server.flood_windows == [] and server.flood_remaining() == 0.0


async def test_chaos_injects_the_requested_shares_reproducibly(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")

    async def run(calls: int) -> list[str | None]:
        """`calls` calls (every one drawn for) over three methods; a random 429 is followed by
        one call its flood block refuses, then the block is lifted to keep the test fast."""
        faults: list[str | None] = []
        for step in range(calls):
            before = len(api.calls)
            try:
                if step % 4 == 0:
                    await bot.get_me()
                elif step % 4 == 1:
                    await bot.send_chat_action(1001, "typing")
                else:
                    await bot.send_message(1001, f"tin {step}")
            except TelegramRetryAfter:
                with pytest.raises(TelegramRetryAfter):
                    await bot.get_me()
                api.lift_flood()
            except TelegramServerError:
                pass
            faults.append(api.calls[before].fault)
        return faults

    api.chaos(rate_429=0.1, rate_5xx=0.1, rate_hang=0.05, hang_seconds=0.001, seed=2024)
    faults = await run(400)
    counts = api.injected_counts
    # Expected 40, 40 and 20 of 400 (standard deviations 6, 6 and 4.4): bounds 3+ of them off.
    assert 20 <= faults.count("chaos-429") == counts["chaos-429"] <= 60
    assert 20 <= faults.count("chaos-5xx") == counts["chaos-5xx"] <= 60
    assert 6 <= faults.count("chaos-hang") == counts["chaos-hang"] <= 34
    random_faults = counts["chaos-429"] + counts["chaos-5xx"] + counts["chaos-hang"]
    assert faults.count(None) == 400 - random_faults
    # Each random 429 started a block, which refused the call after it: counted apart.
    assert counts["flood"] == api.calls_while_blocked == counts["chaos-429"]
    assert len(api.flood_windows) == counts["chaos-429"]
    statuses = {call.status for call in api.calls if call.fault == "chaos-5xx"}
    assert statuses == {500, 502}
    assert {call.status for call in api.calls if call.fault == "chaos-hang"} == {504}
    # A faulted sendMessage left no message: the chat holds the successful ones only.
    sends = api.calls_of("sendMessage")
    assert len(alice.messages()) == sum(call.ok for call in sends) < len(sends)
    assert {call.fault for call in sends if not call.ok} == {"chaos-429", "chaos-5xx", "chaos-hang"}
    assert api.errors() == []

    api.chaos(rate_429=0.1, rate_5xx=0.1, rate_hang=0.05, hang_seconds=0.001, seed=2024)
    assert await run(60) == faults[:60]  # the same seed, the same faults


async def test_chaos_filters_spare_updates_and_calm_ends_it(api: FakeBotAPI, bot: Bot) -> None:
    alice = api.user(id=1001, first_name="Lan")
    minh = api.user(id=1002, first_name="Minh")
    api.chaos(rate_5xx=1.0, seed=1, methods=["SENDMESSAGE"], chat_id=1001)
    with pytest.raises(TelegramServerError, match=r"Internal Server Error|Bad Gateway"):
        await bot.send_message(1001, "mất")
    await bot.send_message(1002, "tới")  # other chats ...
    await bot.send_chat_action(1001, "typing")  # ... and other methods are spared

    api.chaos(rate_hang=1.0, hang_seconds=0.2, seed=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TelegramServerError, match="Gateway Timeout"):
        await bot.send_message(1001, "treo")
    assert loop.time() - started >= 0.2

    api.chaos(rate_429=1.0, retry_after=1, seed=1)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(1001, "quá nhanh")
    assert await bot.get_updates(timeout=0) == []  # getUpdates is never faulted

    assert api.chaotic
    api.calm()
    assert not api.chaotic and api.flood_remaining() > 0  # the block runs its course
    api.lift_flood()
    for _ in range(5):
        await bot.send_message(1001, "bình thường")
    assert alice.texts() == ["bình thường"] * 5 and minh.texts() == ["tới"]
    assert [call.status for call in api.calls_of("sendMessage")][:4] in (
        [500, 200, 504, 429],
        [502, 200, 504, 429],
    )
    counts = api.injected_counts
    assert (counts["chaos-5xx"], counts["chaos-hang"], counts["chaos-429"]) == (1, 1, 1)
    assert sum(counts.values()) == 3 and api.errors() == []


def test_chaos_rejects_impossible_rates() -> None:
    server = FakeBotAPI()
    with pytest.raises(ValueError, match="add up to more than 1"):
        server.chaos(rate_429=0.6, rate_5xx=0.5)
    with pytest.raises(ValueError, match="rate_hang must be between 0 and 1"):
        server.chaos(rate_hang=-0.1)
    with pytest.raises(ValueError, match="retry_after must be at least 1"):
        server.chaos(rate_429=0.1, retry_after=0)
    assert not server.chaotic


# -- the network guard --------------------------------------------------------------------------


@pytest.mark.expected_network_refusals
def test_guard_refuses_remote_addresses_and_names() -> None:
    with pytest.raises(netguard.RealNetworkAccess):
        socket.create_connection(("203.0.113.1", 443), timeout=0.2)
    with socket.socket() as raw, pytest.raises(netguard.RealNetworkAccess):
        raw.connect_ex(("203.0.113.1", 80))
    with pytest.raises(netguard.RealNetworkAccess, match=r"api\.telegram\.org"):
        socket.getaddrinfo("api.telegram.org", 443)
    assert issubclass(netguard.RealNetworkAccess, BaseException)
    assert not issubclass(netguard.RealNetworkAccess, Exception)
    assert netguard.violations()[-1].endswith("'api.telegram.org'")


@pytest.mark.expected_network_refusals
async def test_guard_stops_aiogram_reaching_telegram() -> None:
    real = Bot(DEFAULT_TOKEN)  # default session: https://api.telegram.org
    try:
        with pytest.raises(netguard.RealNetworkAccess, match=r"api\.telegram\.org"):
            await real.get_me()
    finally:
        await close_bot(real)


async def test_guard_lets_loopback_through(api: FakeBotAPI) -> None:
    localhost_url = api.base_url.replace("127.0.0.1", "localhost")
    async with aiohttp.ClientSession() as http:
        for base in (api.base_url, localhost_url):
            async with http.get(f"{base}/bot{DEFAULT_TOKEN}/getMe") as response:
                assert response.status == 200


def test_guard_is_nestable_and_restores_socket() -> None:
    assert netguard.installed()  # the autouse fixture (and maybe the conftest) installed it
    with netguard.guarded():
        pass
    assert netguard.installed()
    depth = 0
    while netguard.installed():  # undo every install, then put them back
        netguard.uninstall()
        depth += 1
    try:
        assert "connect" not in vars(socket.socket)
        assert socket.getaddrinfo.__module__ == "socket"
    finally:
        for _ in range(depth):
            netguard.install()
    assert "connect" in vars(socket.socket)


def test_update_helpers_build_valid_updates() -> None:
    server = FakeBotAPI()
    bob = server.user(id=7, first_name="Bình", username="binh")
    assert server.user(id=7) is bob
    bob.block_bot()
    update = Update.model_validate(server.update(server.pending_update_ids[0]))
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
