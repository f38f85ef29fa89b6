"""Replies to members: planned during an update, recorded with it, sent after its commit.

A handler queues :class:`ReplyCall` values (``handlers.ui.Replies``); the unit of work stores
them, as JSON, on the update's inbox row in the transaction of its effects; once that is
committed the inbox runner sends them through :class:`ReplySender`, in order, and marks the row
replied.  A crash between the commit and the send leaves the row unreplied, and the next start
sends them again (so a reply may arrive twice, never not at all).

:class:`ReplySender` is the delivery engine's rate limiter seen from the conversation: every
call waits for its place in the global and per-chat windows as an *urgent* call (before any
broadcast), a 429 pauses every call for its ``retry_after`` and the call is tried again, 5xx,
network errors and timeouts are retried with backoff and jitter, and Telegram's refusals are
taken for what they mean: an edit of a message too old to edit becomes a new message, "not
modified" and a callback query too old to answer are done, a chat that blocked the bot gets
nothing more of this update.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.delivery.ratelimit import RateLimiter
from bot.delivery.split import split_for_telegram
from storage.models import Channel

log = logging.getLogger(__name__)

Kind = Literal["send", "edit", "markup", "answer", "commands", "document", "photo"]
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply
T = TypeVar("T")
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class ReplyCall:
    """One Bot API call answering an update, in plain values (it is stored as JSON)."""

    kind: Kind
    chat_id: str = ""  # the chat's id on its channel (``chat_identities.external_id``)
    text: str = ""
    markup: dict[str, Any] | None = None  # a keyboard, as the Bot API's JSON
    message_id: int = 0
    callback_id: str = ""
    alert: bool = False
    commands: tuple[tuple[str, str], ...] = ()  # (command, description)
    data: bytes = b""  # a document's or photo's bytes (the text is its caption)
    filename: str = ""


@dataclass
class Handling:
    """What the inbox runner learns of one handling from the unit of work: the replies to send
    once it is committed, and the sender's locale (for an apology if it must be set aside)."""

    calls: list[ReplyCall] = field(default_factory=list)
    locale: str | None = None
    done: bool = False  # committed now (False: it had been handled before)


def markup_json(markup: Markup | None) -> dict[str, Any] | None:
    if markup is None:
        return None
    return markup.model_dump(mode="json", exclude_none=True)


def markup_of(data: dict[str, Any] | None) -> Markup | None:
    """The keyboard a stored JSON describes."""
    if data is None:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.model_validate(data)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.model_validate(data)
    if "remove_keyboard" in data:
        return ReplyKeyboardRemove.model_validate(data)
    return ForceReply.model_validate(data)


def _is_inline(data: dict[str, Any] | None) -> bool:
    return data is not None and "inline_keyboard" in data


def _inline(data: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    """The buttons of an edit: only an inline keyboard can go on a message already sent."""
    keyboard = markup_of(data)
    return keyboard if isinstance(keyboard, InlineKeyboardMarkup) else None


def _telegram_chat(chat_id: str) -> int | str:
    """A Telegram chat id as the Bot API takes it: the number (a ``@channel`` name stays)."""
    try:
        return int(chat_id)
    except ValueError:
        return chat_id


def encode(calls: Sequence[ReplyCall]) -> str:
    """The calls as JSON for the inbox row (bytes in base64)."""
    out: list[dict[str, Any]] = []
    for call in calls:
        item: dict[str, Any] = {"kind": call.kind}
        if call.chat_id:
            item["chat_id"] = call.chat_id
        if call.text:
            item["text"] = call.text
        if call.markup is not None:
            item["markup"] = call.markup
        if call.message_id:
            item["message_id"] = call.message_id
        if call.callback_id:
            item["callback_id"] = call.callback_id
        if call.alert:
            item["alert"] = True
        if call.commands:
            item["commands"] = [list(pair) for pair in call.commands]
        if call.data:
            item["data"] = base64.b64encode(call.data).decode("ascii")
        if call.filename:
            item["filename"] = call.filename
        out.append(item)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def decode(stored: str) -> list[ReplyCall]:
    calls: list[ReplyCall] = []
    for item in json.loads(stored):
        calls.append(
            ReplyCall(
                kind=item["kind"],
                chat_id=str(item.get("chat_id", "")),
                text=item.get("text", ""),
                markup=item.get("markup"),
                message_id=int(item.get("message_id", 0)),
                callback_id=item.get("callback_id", ""),
                alert=bool(item.get("alert", False)),
                commands=tuple((c, d) for c, d in item.get("commands", [])),
                data=base64.b64decode(item["data"]) if "data" in item else b"",
                filename=item.get("filename", ""),
            )
        )
    return calls


@dataclass(frozen=True)
class ReplySettings:
    timeout: float = 10.0  # seconds per request
    max_attempts: int = 5  # tries of one call through 5xx, network errors and timeouts
    max_retry_after: int = 20  # 429s one call may wait out
    backoff_base: float = 0.5  # first retry after this many seconds, doubling
    backoff_max: float = 8.0
    jitter: float = 0.5  # up to this fraction of a backoff taken off at random


@dataclass
class ReplyStats:
    calls: int = 0  # API calls made (each try counts)
    sent: int = 0  # calls that succeeded
    retried_429: int = 0
    retried_transient: int = 0
    resent_as_new: int = 0  # edits refused as too old, sent as new messages
    given_up: int = 0
    dropped_blocked: int = 0


class _GiveUp(Exception):
    """A call failed every try (5xx, timeouts) or 429 too often."""


class ReplySender:
    """Sends the replies of one update at a time, in order, as urgent calls (module doc)."""

    def __init__(
        self,
        bot: Bot,
        limiter: RateLimiter,
        settings: ReplySettings | None = None,
        *,
        channel: Channel,
        rng: random.Random | None = None,
    ) -> None:
        self.bot = bot
        self.limiter = limiter
        self.channel = channel  # the limiter knows a chat as "<channel>:<id>", as the outbox
        self.settings = settings or ReplySettings()
        self.rng = rng or random.Random()
        self.stats = ReplyStats()

    async def send_all(self, calls: Sequence[ReplyCall]) -> bool:
        """Make every call, in order.  Returns False when something could not be delivered
        (given up after its retries, or the chat blocked the bot); never raises for the
        platform's errors."""
        complete = True
        blocked: set[str] = set()
        for call in calls:
            if call.chat_id and call.chat_id in blocked:
                continue
            try:
                await self._one(call)
            except TelegramForbiddenError:
                log.info("chat %s blocked the bot: its replies are dropped", call.chat_id)
                self.stats.dropped_blocked += 1
                blocked.add(call.chat_id)
                complete = False
            except _GiveUp as exc:
                log.warning("a %s to chat %s was given up: %s", call.kind, call.chat_id, exc)
                self.stats.given_up += 1
                complete = False
            except TelegramAPIError as exc:
                log.warning("Telegram refused a %s to chat %s: %s", call.kind, call.chat_id, exc)
                complete = False
        return complete

    async def _one(self, call: ReplyCall) -> None:
        bot, timeout = self.bot, max(1, round(self.settings.timeout))
        chat = _telegram_chat(call.chat_id)
        if call.kind == "send":
            # A long reply (a whole /stats table) goes in parts, cut between paragraphs with
            # its tags closed and reopened; the buttons come with the last part.
            parts = split_for_telegram(call.text)
            for index, part in enumerate(parts):
                markup = call.markup if index == len(parts) - 1 else None
                params = self._text_params({"chat_id": chat, "text": part}, markup)
                await self._call(
                    chat,
                    lambda p=params, m=markup, t=part: self._request(  # type: ignore[misc]
                        "sendMessage",
                        p,
                        lambda: SendMessage(chat_id=chat, text=t, reply_markup=markup_of(m)),
                    ),
                )
        elif call.kind == "edit":
            inline = call.markup if _is_inline(call.markup) else None
            params = {"chat_id": chat, "message_id": call.message_id, "text": call.text}
            params = self._text_params(params, inline)
            try:
                await self._call(
                    chat,
                    lambda: self._request(
                        "editMessageText",
                        params,
                        lambda: EditMessageText(
                            text=call.text,
                            chat_id=chat,
                            message_id=call.message_id,
                            reply_markup=_inline(inline),
                        ),
                    ),
                )
            except TelegramBadRequest as exc:
                if "not modified" in exc.message:
                    return
                # Too old to edit, or gone: the member gets the text as a new message.
                self.stats.resent_as_new += 1
                await self._one(
                    ReplyCall("send", chat_id=call.chat_id, text=call.text, markup=call.markup)
                )
        elif call.kind == "markup":
            inline = call.markup if _is_inline(call.markup) else None
            params = {"chat_id": chat, "message_id": call.message_id}
            if inline is not None:
                params["reply_markup"] = inline
            try:
                await self._call(
                    chat,
                    lambda: self._request(
                        "editMessageReplyMarkup",
                        params,
                        lambda: EditMessageReplyMarkup(
                            chat_id=chat, message_id=call.message_id, reply_markup=_inline(inline)
                        ),
                    ),
                )
            except TelegramBadRequest:
                return  # an old message whose buttons can no longer change
        elif call.kind == "answer":
            params = {"callback_query_id": call.callback_id}
            if call.text:
                params["text"] = call.text
            if call.alert:
                params["show_alert"] = True
            try:
                # Not a message: only the global window counts it.
                await self._call(
                    None,
                    lambda: self._request(
                        "answerCallbackQuery",
                        params,
                        lambda: AnswerCallbackQuery(
                            callback_query_id=call.callback_id,
                            text=call.text or None,
                            show_alert=call.alert,
                        ),
                    ),
                )
            except TelegramBadRequest as exc:
                log.info("callback answer refused (too old?): %s", exc.message)
        elif call.kind in ("document", "photo"):
            upload = BufferedInputFile(call.data, filename=call.filename)
            caption = call.text or None
            if call.kind == "document":
                await self._call(
                    chat,
                    lambda: bot.send_document(
                        chat, upload, caption=caption, request_timeout=max(timeout, 30)
                    ),
                )
            else:
                await self._call(
                    chat,
                    lambda: bot.send_photo(
                        chat, upload, caption=caption, request_timeout=max(timeout, 30)
                    ),
                )
        else:
            commands = [BotCommand(command=c, description=d) for c, d in call.commands]
            await self._call(
                None,
                lambda: bot.set_my_commands(
                    commands, scope=BotCommandScopeChat(chat_id=chat), request_timeout=timeout
                ),
            )

    def _text_params(self, params: dict[str, Any], markup: dict[str, Any] | None) -> dict[str, Any]:
        parse_mode = self.bot.default.parse_mode
        if parse_mode:
            params["parse_mode"] = parse_mode
        if markup is not None:
            params["reply_markup"] = markup
        return params

    async def _request(
        self, name: str, params: dict[str, Any], method: Callable[[], TelegramMethod[Any]]
    ) -> None:
        """One text call of a reply (send, edit, buttons, toast).

        Over HTTP it goes as the JSON the Bot API reads, and only ``ok`` of the answer is read:
        aiogram would build the method's model, encode it as a form and parse the whole answer
        into a ``Message``, which cost two thirds of the call's CPU, and the reply needs none of
        it.  A refusal is read by aiogram all the same (``check_response``), so it raises the
        same errors.  Other sessions (the terminal demo's) take aiogram's own path.
        """
        bot, timeout = self.bot, self.settings.timeout
        session = bot.session
        if not isinstance(session, AiohttpSession):
            await bot(method(), request_timeout=max(1, round(timeout)))
            return
        http = await session.create_session()
        url = session.api.api_url(token=bot.token, method=name)
        body = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            async with http.post(
                url, data=body, headers=_JSON, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                status, content = response.status, await response.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method(), "Request timeout error") from exc
        except aiohttp.ClientError as exc:
            raise TelegramNetworkError(method(), f"{type(exc).__name__}: {exc}") from exc
        if status == 200:
            try:
                if json.loads(content).get("ok") is True:
                    return
            except (ValueError, AttributeError):
                pass
        session.check_response(bot, method(), status, content)  # raises what the answer says

    async def _call(self, chat: int | str | None, make: Callable[[], Awaitable[T]]) -> T:
        """One Bot API call through the limiter, retried on 429, 5xx and timeouts."""
        s = self.settings
        key = f"{self.channel}:{chat}" if chat else None
        failures = waits = 0
        while True:
            self.stats.calls += 1
            try:
                async with self.limiter.slot(key, urgent=True):
                    result = await make()
                self.stats.sent += 1
                return result
            except TelegramRetryAfter as exc:
                waits += 1
                self.stats.retried_429 += 1
                self.limiter.pause(exc.retry_after)
                if waits > s.max_retry_after:
                    raise _GiveUp(f"429 {waits} times") from exc
            except (TelegramServerError, TelegramNetworkError, TimeoutError) as exc:
                failures += 1
                if failures >= s.max_attempts:
                    raise _GiveUp(f"{type(exc).__name__} {failures} times") from exc
                self.stats.retried_transient += 1
                delay = min(s.backoff_max, s.backoff_base * 2 ** (failures - 1))
                await asyncio.sleep(delay * (1.0 - s.jitter * self.rng.random()))
