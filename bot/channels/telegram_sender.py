"""Sending one outbox message through the Telegram Bot API (the delivery engine's Sender).

A text over 4096 characters goes out in several messages split at paragraph boundaries; an
attachment (a document or photo, by file id) carries the text as its caption when it fits in
1024 characters, and is otherwise followed by the text.  The acknowledge button goes on the last
message.  The parse mode is the Bot's default (HTML).

Errors map to outcomes: 429 → retry_after; 5xx, network errors and timeouts → transient;
403 (blocked, deactivated) and "chat not found" → unreachable; any other 4xx → permanent.
Only the first call of a message is reported as retry_after/transient (nothing was delivered
yet); later parts are retried here a few times, so that a message is never sent twice in part.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendDocument, SendMessage, SendPhoto
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import InlineKeyboardMarkup
from aiohttp import ClientError, ClientTimeout
from pydantic import BaseModel, ConfigDict

from bot.delivery.channel import Outbound, OutcomeKind, Pacer, SendOutcome
from bot.delivery.split import TELEGRAM_CAPTION_LIMIT, split_for_telegram, utf16_len


class Sent(BaseModel):
    """What the outbox keeps of a sent message: its id.  aiogram would validate the whole
    ``Message`` Telegram answers with (its chat, sender, entities, keyboard: ~30 µs and a
    tree of objects per message) only for the outbox to read ``message_id``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    message_id: int


class _SendMessage(SendMessage):
    __returning__ = Sent  # type: ignore[assignment]


class _SendPhoto(SendPhoto):
    __returning__ = Sent  # type: ignore[assignment]


class _SendDocument(SendDocument):
    __returning__ = Sent  # type: ignore[assignment]


def _lean(bot: Bot, method: TelegramMethod[Any], timeout: int) -> Awaitable[Sent]:
    """The call of one of the methods above: its answer is a :class:`Sent`."""
    return cast(Awaitable[Sent], bot(method, request_timeout=timeout))


def _plain_defaults(bot: Bot) -> bool:
    """The bot's defaults are a parse mode at most (``make_bot``'s): a text can be posted as
    JSON without aiogram's method model and still mean what aiogram would have sent."""
    d = bot.default
    return isinstance(bot.session, AiohttpSession) and all(
        getattr(d, name) is None
        for name in (
            "disable_notification",
            "protect_content",
            "allow_sending_without_reply",
            "link_preview",
            "link_preview_is_disabled",
            "link_preview_prefer_small_media",
            "link_preview_prefer_large_media",
            "link_preview_show_above_text",
            "show_caption_above_media",
        )
    )


_JSON_HEADERS = {"Content-Type": "application/json"}


class TextPost:
    """``sendMessage`` for the outbox at the cost of the HTTP call: the body written as JSON
    (the keyboard given as its JSON text), posted on aiogram's own aiohttp session, and on a
    200 with ``ok`` only the message id read.  Any other answer is read by aiogram itself
    (``check_response``), so a 429, a 403 or a 400 raise the exceptions :func:`classify` maps,
    as for any other call; network errors and timeouts raise aiogram's network error.

    aiogram's general path validates the method, dumps it and url-encodes every field, then
    validates the answer: ~100 µs of CPU a message spent on nothing the outbox needs.  What
    is the same for every message (the URL, the parse mode, the timeout) is made once here."""

    def __init__(self, bot: Bot, seconds: int) -> None:
        self.bot = bot
        self.session = cast(AiohttpSession, bot.session)
        self.url = self.session.api.api_url(token=bot.token, method="sendMessage")
        self.timeout = ClientTimeout(total=seconds)
        mode = bot.default.parse_mode
        self.mode = "" if mode is None else ',"parse_mode":' + json.dumps(mode)

    def body(self, chat_id: int | str, text: str, keyboard: str | None) -> bytes:
        """The request's JSON: the same fields and values as aiogram's ``sendMessage``."""
        markup = "" if keyboard is None else ',"reply_markup":' + keyboard
        return (
            '{"chat_id":'
            + json.dumps(chat_id)
            + ',"text":'
            + json.dumps(text, ensure_ascii=False)
            + self.mode
            + markup
            + "}"
        ).encode()

    async def __call__(self, chat_id: int | str, text: str, keyboard: str | None) -> int:
        """Send; the new message's id."""
        http = await self.session.create_session()
        try:
            async with http.post(
                self.url,
                data=self.body(chat_id, text, keyboard),
                headers=_JSON_HEADERS,
                timeout=self.timeout,
            ) as resp:
                raw = await resp.read()
        except TimeoutError as e:
            raise TelegramNetworkError(
                method=_SendMessage(chat_id=chat_id, text=text), message="Request timeout error"
            ) from e
        except ClientError as e:
            raise TelegramNetworkError(
                method=_SendMessage(chat_id=chat_id, text=text),
                message=f"{type(e).__name__}: {e}",
            ) from e
        if resp.status == 200:
            with contextlib.suppress(ValueError):
                answer = json.loads(raw)
                if isinstance(answer, dict) and answer.get("ok") is True:
                    found = answer.get("result")
                    if isinstance(found, dict) and type(found.get("message_id")) is int:
                        return int(found["message_id"])
        checked = self.session.check_response(
            bot=self.bot,
            method=_SendMessage(chat_id=chat_id, text=text),
            status_code=resp.status,
            content=raw.decode("utf-8", "replace"),
        )
        return cast(Sent, checked.result).message_id


def keyboard_json(markup: InlineKeyboardMarkup) -> str:
    """A keyboard as the JSON text aiogram would send for it."""
    return json.dumps(markup.model_dump(exclude_none=True), ensure_ascii=False)


# An id whose digits appear nowhere else in a keyboard's JSON (checked, see KeyboardJson).
_SENTINEL = 918_273_645_546_372_819


class KeyboardJson:
    """A button's keyboard (``build(target)``: the "Đã nắm" or "Trả lời ngay" button naming a
    delivery or a campaign run) as JSON, for any target, at the cost of writing the number:
    built and dumped once, for a sentinel id, and the sentinel's digits replaced.  Where the
    sentinel does not show exactly once (a label quoting those digits), every keyboard is
    built and dumped in full."""

    def __init__(self, build: Callable[[int], InlineKeyboardMarkup]) -> None:
        self.build = build
        pieces = keyboard_json(build(_SENTINEL)).split(str(_SENTINEL))
        self.pieces = (pieces[0], pieces[1]) if len(pieces) == 2 else None

    def __call__(self, target: int) -> str:
        if self.pieces is None:
            return keyboard_json(self.build(target))
        head, tail = self.pieces
        return f"{head}{int(target)}{tail}"


AckMarkup = Callable[[int], InlineKeyboardMarkup]
SurveyMarkup = Callable[[int], InlineKeyboardMarkup]  # a run id → the "answer now" button
Call = Callable[[InlineKeyboardMarkup | None], Awaitable[Sent]]

# aiogram validates every answer as ``Response[<the method's returning type>]``; pydantic keeps
# generic parametrizations only weakly, so without a strong reference the class (and its
# schema) is rebuilt whenever the garbage collector has dropped it: ~1 ms per message.
_RESPONSE_TYPES = (Response[Sent],)

UNREACHABLE_BAD_REQUESTS = ("chat not found", "user not found", "peer_id_invalid")


def classify(exc: BaseException) -> SendOutcome:
    """The outcome a failed Bot API call means."""
    if isinstance(exc, TelegramRetryAfter):
        return SendOutcome.retry(
            exc.retry_after, f"Too Many Requests: retry after {exc.retry_after}"
        )
    if isinstance(exc, TelegramForbiddenError):
        return SendOutcome.unreachable(exc.message)
    if isinstance(exc, TelegramBadRequest):
        if any(marker in exc.message.lower() for marker in UNREACHABLE_BAD_REQUESTS):
            return SendOutcome.unreachable(exc.message)
        return SendOutcome.permanent(exc.message)
    if isinstance(exc, TelegramServerError | TelegramNetworkError | TelegramUnauthorizedError):
        # A bad token is the operator's to fix: keep the rows, retry with backoff.
        return SendOutcome.transient(f"{type(exc).__name__}: {exc.message}")
    if isinstance(exc, TimeoutError):
        return SendOutcome.transient("timeout")
    if isinstance(exc, TelegramAPIError):
        return SendOutcome.permanent(f"{type(exc).__name__}: {exc.message}")
    raise exc


def _chat_id(external_id: str) -> int | str:
    return int(external_id) if external_id.lstrip("-").isdigit() else external_id


class TelegramSender:
    """A :class:`bot.delivery.channel.Sender` for Telegram."""

    def __init__(
        self,
        bot: Bot,
        ack_markup: AckMarkup | None = None,
        *,
        survey_markup: SurveyMarkup | None = None,
        localized: Callable[[str], tuple[AckMarkup, SurveyMarkup]] | None = None,
        timeout: float = 10.0,  # per request, whole seconds (aiogram's request_timeout)
        part_retries: int = 3,
        part_backoff: float = 0.5,
    ) -> None:
        self.bot = bot
        self.ack_markup = ack_markup
        self.survey_markup = survey_markup
        # The buttons in the recipient's language, when the row names it (else the ones above).
        self.localized = localized
        self.timeout = timeout
        self.request_timeout = max(1, round(timeout))
        self.part_retries = part_retries
        self.part_backoff = part_backoff
        # Texts go out by TextPost where the bot allows it (aiogram's aiohttp session, no
        # default but the parse mode); else, and for files, through aiogram's methods.
        self.lean = _plain_defaults(bot)
        self._post: TextPost | None = None
        # Per locale ("" for the default one): the two button builders, and their keyboards
        # as JSON ("ack:vi" → KeyboardJson); made once each, used for every message.
        self._builders: dict[str, tuple[AckMarkup | None, SurveyMarkup | None]] = {}
        self._keyboards: dict[str, KeyboardJson] = {}

    @property
    def post(self) -> TextPost:
        if self._post is None:
            self._post = TextPost(self.bot, self.request_timeout)
        return self._post

    def _buttons(
        self, message: Outbound
    ) -> tuple[str, Callable[[int], InlineKeyboardMarkup], int] | None:
        """The button under ``message``, if any: (kind, builder, target), in the recipient
        chat's language where the row names it."""
        locale = message.locale if self.localized is not None and message.locale else ""
        builders = self._builders.get(locale)
        if builders is None:
            if locale and self.localized is not None:
                builders = self.localized(locale)
            else:
                builders = (self.ack_markup, self.survey_markup)
            self._builders[locale] = builders
        ack, survey = builders
        if message.ack_button and ack:
            return "ack:" + locale, ack, message.ack_target
        if message.run_id is not None and survey:
            return "survey:" + locale, survey, message.run_id
        return None

    def _keyboard_json(
        self, kind: str, build: Callable[[int], InlineKeyboardMarkup], target: int
    ) -> str:
        found = self._keyboards.get(kind)
        if found is None:
            found = self._keyboards[kind] = KeyboardJson(build)
        return found(target)

    def plan(self, message: Outbound) -> list[Call]:
        """The Bot API calls that deliver ``message``, in order (each takes the keyboard to
        attach, given to the last one only)."""
        chat_id = _chat_id(message.external_id)
        text = message.text
        calls: list[Call] = []
        kind, ref = message.attachment_kind, message.attachment_ref
        if kind in ("document", "photo") and ref:
            caption: str | None = None
            if text.strip() and utf16_len(text) <= TELEGRAM_CAPTION_LIMIT:
                caption, text = text, ""
            timeout = self.request_timeout

            def attachment(markup: InlineKeyboardMarkup | None) -> Awaitable[Sent]:
                if kind == "photo":
                    photo = _SendPhoto(
                        chat_id=chat_id, photo=ref, caption=caption, reply_markup=markup
                    )
                    return _lean(self.bot, photo, timeout)
                document = _SendDocument(
                    chat_id=chat_id, document=ref, caption=caption, reply_markup=markup
                )
                return _lean(self.bot, document, timeout)

            calls.append(attachment)
        if text.strip():
            for part in split_for_telegram(text):

                def send_part(
                    markup: InlineKeyboardMarkup | None, part: str = part
                ) -> Awaitable[Sent]:
                    if self.lean:
                        return self._post_part(chat_id, part, markup)
                    call = _SendMessage(chat_id=chat_id, text=part, reply_markup=markup)
                    return _lean(self.bot, call, self.request_timeout)

                calls.append(send_part)
        return calls

    async def _post_part(
        self, chat_id: int | str, text: str, markup: InlineKeyboardMarkup | None
    ) -> Sent:
        keyboard = None if markup is None else keyboard_json(markup)
        return Sent(message_id=await self.post(chat_id, text, keyboard))

    async def send(self, message: Outbound, *, pacer: Pacer | None = None) -> SendOutcome:
        buttons = self._buttons(message)
        if self.lean and not (message.attachment_kind and message.attachment_ref):
            # The common case, a text that fits one message: one post, no aiogram model.
            parts = split_for_telegram(message.text) if message.text.strip() else []
            if len(parts) == 1:
                shown = None if buttons is None else self._keyboard_json(*buttons)
                try:
                    async with pacer.call() if pacer is not None else nullcontext():
                        sent_id = await self.post(_chat_id(message.external_id), parts[0], shown)
                except (TelegramAPIError, TimeoutError) as exc:
                    return classify(exc)
                return SendOutcome.sent(sent_id)
        calls = self.plan(message)
        if not calls:
            return SendOutcome.permanent("nothing to send: empty text and no attachment")
        markup: InlineKeyboardMarkup | None = None
        if buttons is not None:
            _kind, build, target = buttons
            markup = build(target)
        first_id: int | None = None
        for index, call in enumerate(calls):
            keyboard = markup if index == len(calls) - 1 else None
            if index == 0:
                try:
                    async with pacer.call() if pacer is not None else nullcontext():
                        sent = await call(keyboard)
                except (TelegramAPIError, TimeoutError) as exc:
                    return classify(exc)
                first_id = sent.message_id
                continue
            outcome = await self._continue(call, keyboard, pacer)
            if outcome.kind != OutcomeKind.SENT:
                done = f"{index} of {len(calls)} parts sent"
                if outcome.kind == OutcomeKind.UNREACHABLE:
                    return SendOutcome.unreachable(f"{outcome.error} ({done})")
                return SendOutcome.permanent(f"{outcome.error} ({done})")
        assert first_id is not None
        return SendOutcome.sent(first_id)

    async def _continue(
        self, call: Call, keyboard: InlineKeyboardMarkup | None, pacer: Pacer | None
    ) -> SendOutcome:
        """A later part: retried here on 429 and transient errors (the first part is out)."""
        delay = self.part_backoff
        outcome = SendOutcome.transient("not tried")
        for _ in range(self.part_retries + 1):
            try:
                async with pacer.call() if pacer is not None else nullcontext():
                    sent = await call(keyboard)
                return SendOutcome.sent(sent.message_id)
            except (TelegramAPIError, TimeoutError) as exc:
                outcome = classify(exc)
            if outcome.kind == OutcomeKind.RETRY_AFTER:
                if pacer is not None:
                    pacer.pause(outcome.retry_after or 1.0)
                else:
                    await asyncio.sleep(outcome.retry_after or 1.0)
            elif outcome.kind == OutcomeKind.TRANSIENT:
                await asyncio.sleep(delay)
                delay *= 2
            else:
                return outcome
        return outcome
