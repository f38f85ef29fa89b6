"""TelegramSender against the fake Bot API: parts, attachments, the ack button, error mapping."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from functools import partial

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.app import telegram_sender
from bot.channels.telegram import make_bot
from bot.channels.telegram_sender import Call, KeyboardJson, Sent, TelegramSender
from bot.delivery.channel import Outbound, OutcomeKind, SendOutcome
from bot.settings import load_settings
from handlers.keyboards import ack_markup, survey_markup
from storage.models import Channel
from tests.fakebotapi import FakeBotAPI, close_bot

CHAT = 4242


def ack(delivery_id: int) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text="Đã nắm", callback_data=f"ack:{delivery_id}")
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    api.user(id=CHAT, first_name="Lan")
    bot = make_bot(api.token, api.base_url)
    yield bot
    await close_bot(bot)


def message(text: str, **kwargs: object) -> Outbound:
    return Outbound(
        delivery_id=77,
        channel=Channel.TELEGRAM,
        external_id=str(CHAT),
        text=text,
        ack_button=True,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_notice_with_the_ack_button(api: FakeBotAPI, bot: Bot) -> None:
    outcome = await TelegramSender(bot, ack).send(message("<b>Họp</b> lúc 8 giờ"))
    [sent] = api.messages(CHAT)
    assert outcome.kind == OutcomeKind.SENT and outcome.message_id == str(sent.message_id)
    assert sent.text == "Họp lúc 8 giờ"
    assert sent.callback_data == [["ack:77"]]
    assert api.last_call("sendMessage").params["parse_mode"] == "HTML"


async def test_a_notice_reminder_button_names_the_notice_delivery(
    api: FakeBotAPI, bot: Bot
) -> None:
    await TelegramSender(bot, ack).send(message("Nhắc lại: họp lúc 8 giờ", reminds_id=12))
    [sent] = api.messages(CHAT)
    assert sent.callback_data == [["ack:12"]]  # the notice's own row, not the reminder's (77)


async def test_no_button_without_ack_or_without_a_factory(api: FakeBotAPI, bot: Bot) -> None:
    await TelegramSender(bot, None).send(message("một"))
    await TelegramSender(bot, ack).send(
        Outbound(1, Channel.TELEGRAM, str(CHAT), "hai", ack_button=False)
    )
    assert [m.buttons for m in api.messages(CHAT)] == [[], []]


async def test_a_long_text_goes_in_parts_with_the_button_on_the_last(
    api: FakeBotAPI, bot: Bot
) -> None:
    paragraphs = [f"<i>Đoạn {i}</i> " + "chữ " * 750 for i in range(4)]  # ~3,000 each
    outcome = await TelegramSender(bot, ack).send(message("\n\n".join(paragraphs)))
    sent = api.messages(CHAT)
    assert outcome.kind == OutcomeKind.SENT and outcome.message_id == str(sent[0].message_id)
    assert len(sent) == 4
    assert [m.text.split()[:2] for m in sent] == [["Đoạn", str(i)] for i in range(4)]
    assert [m.buttons for m in sent] == [[], [], [], [["Đã nắm"]]]


async def test_a_photo_carries_a_short_text_as_its_caption(api: FakeBotAPI, bot: Bot) -> None:
    outcome = await TelegramSender(bot, ack).send(
        message("Lịch <b>thi đua</b>", attachment_kind="photo", attachment_ref="AgADphoto1")
    )
    [sent] = api.messages(CHAT)
    assert outcome.kind == OutcomeKind.SENT
    assert (sent.kind, sent.file_ref, sent.text) == ("photo", "AgADphoto1", "Lịch thi đua")
    assert sent.buttons == [["Đã nắm"]]


async def test_a_document_with_a_long_text_comes_first_then_the_text(
    api: FakeBotAPI, bot: Bot
) -> None:
    text = "Kế hoạch " + "năm học " * 200  # over 1,024 characters
    await TelegramSender(bot, ack).send(
        message(text, attachment_kind="document", attachment_ref="BQACdoc")
    )
    document, body = api.messages(CHAT)
    assert (document.kind, document.file_ref, document.text, document.buttons) == (
        "document",
        "BQACdoc",
        "",
        [],
    )
    assert (body.kind, body.text, body.buttons) == ("text", text.strip(), [["Đã nắm"]])


async def test_errors_map_to_outcomes(api: FakeBotAPI, bot: Bot) -> None:
    sender = TelegramSender(bot, ack)
    api.rate_limit(retry_after=7)
    assert await sender.send(message("a")) == SendOutcome(
        OutcomeKind.RETRY_AFTER, retry_after=7.0, error="Too Many Requests: retry after 7"
    )
    api.lift_flood()  # Telegram would refuse every call for 7 s: do not wait that out
    api.server_error()
    assert (await sender.send(message("a"))).kind == OutcomeKind.TRANSIENT
    api.fail_next(400, "Bad Request: can't parse entities: Unsupported start tag")
    bad = await sender.send(message("a"))
    assert (bad.kind, bad.error) == (
        OutcomeKind.PERMANENT,
        "Bad Request: can't parse entities: Unsupported start tag",
    )
    api.block(CHAT)
    blocked = await sender.send(message("a"))
    assert (blocked.kind, blocked.error) == (
        OutcomeKind.UNREACHABLE,
        "Forbidden: bot was blocked by the user",
    )
    gone = await sender.send(Outbound(1, Channel.TELEGRAM, "999", "a", ack_button=False))
    assert (gone.kind, gone.error) == (OutcomeKind.UNREACHABLE, "Bad Request: chat not found")


async def test_a_timeout_is_transient(api: FakeBotAPI, bot: Bot) -> None:
    api.slow(2.0)
    outcome = await TelegramSender(bot, ack, timeout=1).send(message("a"))
    assert outcome.kind == OutcomeKind.TRANSIENT
    assert api.messages(CHAT) == []


class RecordingPacer:
    def __init__(self) -> None:
        self.acquired = 0
        self.pauses: list[float] = []

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        self.acquired += 1
        yield

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


async def test_a_later_part_is_retried_without_repeating_the_first(
    api: FakeBotAPI, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = TelegramSender(bot, ack, part_backoff=0.01)
    plan = sender.plan

    def faulty_plan(m: Outbound) -> list[Call]:
        first, second = plan(m)

        def second_meets_faults(markup: InlineKeyboardMarkup | None) -> Awaitable[Sent]:
            if not api.calls_of("sendMessage")[1:]:  # its first try: a 500, then a 429
                api.server_error()
                api.rate_limit(retry_after=3)
            return second(markup)

        return [first, second_meets_faults]

    monkeypatch.setattr(sender, "plan", faulty_plan)
    api.flood_blocks = False  # the RecordingPacer records the 429's pause but does not wait
    pacer = RecordingPacer()
    outcome = await sender.send(message("\n\n".join(["một " * 1000, "hai " * 1000])), pacer=pacer)
    assert outcome.kind == OutcomeKind.SENT
    assert [m.text.split()[0] for m in api.messages(CHAT)] == ["một", "hai"]
    assert [c.status for c in api.calls_of("sendMessage")] == [200, 500, 429, 200]
    assert (pacer.acquired, pacer.pauses) == (4, [3.0])  # every call paced; the 429 paused all
    assert api.messages(CHAT)[-1].buttons == [["Đã nắm"]]


async def test_a_later_part_that_keeps_failing_is_reported_permanent(
    api: FakeBotAPI, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = TelegramSender(bot, ack, part_retries=2, part_backoff=0.01)
    plan = sender.plan

    def faulty_plan(m: Outbound) -> list[Call]:
        first, second = plan(m)

        def second_fails(markup: InlineKeyboardMarkup | None) -> Awaitable[Sent]:
            api.server_error()
            return second(markup)

        return [first, second_fails]

    monkeypatch.setattr(sender, "plan", faulty_plan)
    outcome = await sender.send(message("\n\n".join(["một " * 1000, "hai " * 1000])))
    assert (outcome.kind, outcome.error) == (
        OutcomeKind.PERMANENT,
        "TelegramServerError: Internal Server Error (1 of 2 parts sent)",
    )
    assert [m.text.split()[0] for m in api.messages(CHAT)] == ["một"]


async def test_the_lean_text_path_sends_what_aiogram_would(api: FakeBotAPI, bot: Bot) -> None:
    """Texts go out as JSON on aiogram's session (``post_text``); the request means exactly
    what aiogram's own ``sendMessage`` sends: the same fields, values and keyboard."""
    sender = TelegramSender(bot, ack)
    assert sender.lean
    lean = await sender.send(message("<b>Họp</b> lúc 7 giờ"))
    sender.lean = False
    general = await sender.send(message("<b>Họp</b> lúc 7 giờ"))
    assert lean.kind == general.kind == OutcomeKind.SENT
    assert lean.message_id != general.message_id
    first, second = api.calls_of("sendMessage")
    assert first.params == second.params
    assert first.params["parse_mode"] == "HTML" and first.params["chat_id"] == CHAT
    shown = api.messages(CHAT)
    assert [m.text for m in shown] == ["Họp lúc 7 giờ", "Họp lúc 7 giờ"]
    assert shown[0].buttons == shown[1].buttons == [["Đã nắm"]]


async def test_a_refused_connection_is_transient(api: FakeBotAPI) -> None:
    """Nothing listens at the address: aiogram's network error, as on its own path."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = make_bot(api.token, f"http://127.0.0.1:{port}")
    try:
        outcome = await TelegramSender(bot, ack).send(message("a"))
    finally:
        await close_bot(bot)
    assert outcome.kind == OutcomeKind.TRANSIENT
    assert outcome.error is not None and outcome.error.startswith("TelegramNetworkError")


def test_a_bot_with_more_defaults_than_the_parse_mode_uses_aiogram() -> None:
    """Only ``make_bot``'s defaults are written by ``post_text``; any other default (a link
    preview setting, silent messages) is aiogram's to apply."""
    plain = Bot("123:abc", default=DefaultBotProperties(parse_mode="HTML"))
    quiet = Bot("123:abc", default=DefaultBotProperties(disable_notification=True))
    assert TelegramSender(plain).lean and not TelegramSender(quiet).lean


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_a_keyboard_as_json_is_the_keyboard_aiogram_would_send(locale: str) -> None:
    """The buttons are dumped once per language and the target written in: the JSON is the
    same, for any target, as the keyboard built and dumped in full."""
    for build in (partial(ack_markup, locale=locale), partial(survey_markup, locale=locale)):
        fast = KeyboardJson(build)
        assert fast.pieces is not None
        for target in (0, 7, 77, 10**6, 2**40, 918_273_645_546_372_819):
            assert json.loads(fast(target)) == build(target).model_dump(exclude_none=True)


def test_a_label_quoting_the_placeholder_digits_builds_every_keyboard() -> None:
    """Were the sentinel's digits already in a label, the keyboard is built each time."""

    def quoting(target: int) -> InlineKeyboardMarkup:
        button = InlineKeyboardButton(text="918273645546372819", callback_data=f"ack:{target}")
        return InlineKeyboardMarkup(inline_keyboard=[[button]])

    fast = KeyboardJson(quoting)
    assert fast.pieces is None
    assert json.loads(fast(5)) == {
        "inline_keyboard": [[{"text": "918273645546372819", "callback_data": "ack:5"}]]
    }


async def test_each_language_has_its_own_buttons_on_the_lean_path(
    api: FakeBotAPI, bot: Bot
) -> None:
    """The keyboards made once per language stay each language's: a Vietnamese chat then an
    English one then a chat without a language (the default's) get their own labels."""
    sender = telegram_sender(bot, load_settings())
    assert sender.lean
    for locale in ("vi", "en", None):
        await sender.send(message("Họp", locale=locale))
    shown = api.messages(CHAT)
    assert [m.buttons for m in shown] == [[["✅ Đã nắm"]], [["✅ Noted"]], [["✅ Đã nắm"]]]
    assert [m.callback_data for m in shown] == [[["ak:77"]]] * 3
