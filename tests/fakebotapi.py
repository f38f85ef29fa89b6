"""A local fake of the Telegram Bot API for flow tests.

`FakeBotAPI` is an aiohttp server on 127.0.0.1 that speaks the Bot API the way aiogram 3 calls
it (``POST /bot<token>/<method>`` with url-encoded, multipart or JSON bodies) and answers with
the result objects Telegram returns, so the real ``aiogram.Bot`` and ``Dispatcher`` run against
it unchanged. It keeps per chat what the user sees (the bot's messages with their current text
and inline keyboard, updated by edits), records every call, serves updates by long polling with
Telegram's offset semantics or pushes them to a webhook, and can inject faults.

Faults, as Telegram produces them:

* scripted ones for the next matching calls: `fail_next`, `rate_limit`, `server_error`, `slow`
  (a timeout), `block` (the user blocked the bot);
* random ones on every method but getUpdates until `calm()`: `chaos` (429s, 500/502s, hangs
  ending in 504), reproducible with a seed;
* flood control: once the fake answers a 429 with ``retry_after = R`` (scripted or random),
  it refuses every call but getUpdates with 429 and the remaining retry_after until R seconds
  have passed, as Telegram does. The blocks are recorded in `flood_windows`, the calls the bot
  made during them counted in `calls_while_blocked`; ``FakeBotAPI(flood_blocks=False)`` turns
  this off, `lift_flood()` ends the current block early.

A faulted call never takes effect; it is recorded with ``injected=True`` and its kind in
``ApiCall.fault`` (see `FAULT_KINDS`), and `injected_counts` counts them by kind.

Typical use::

    async with FakeBotAPI() as api:
        bot = api.make_bot()
        ...start a Dispatcher polling with bot...
        alice = api.user(id=1001, first_name="Lan", phone="0912345678")
        await alice.send("/start")
        await api.wait_idle()
        assert "đồng ý" in alice.last_message().text
        await alice.click(alice.last_message(), "Đồng ý")
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from aiohttp import (
    BodyPartReader,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    TCPConnector,
    web,
)

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

JsonDict = dict[str, Any]
BusyCheck = Callable[[], str | None]

DEFAULT_TOKEN = "123456789:TEST-fake-bot-api-token"
WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# What answered an injected call (``ApiCall.fault``), the keys of `FakeBotAPI.injected_counts`.
FAULT_SCRIPTED: Final = "scripted"  # fail_next / rate_limit / server_error
FAULT_TIMEOUT: Final = "timeout"  # slow(): held, then 504 without effect
FAULT_USER_BLOCKED: Final = "user-blocked"  # block(): 403, the user blocked the bot
FAULT_FLOOD: Final = "flood"  # refused by flood control after a 429
FAULT_CHAOS_429: Final = "chaos-429"  # chaos(): a random 429 (which starts a flood block)
FAULT_CHAOS_5XX: Final = "chaos-5xx"  # chaos(): a random 500 or 502
FAULT_CHAOS_HANG: Final = "chaos-hang"  # chaos(): held hang_seconds, then 504 without effect
FAULT_KINDS: Final = (
    FAULT_SCRIPTED,
    FAULT_TIMEOUT,
    FAULT_USER_BLOCKED,
    FAULT_FLOOD,
    FAULT_CHAOS_429,
    FAULT_CHAOS_5XX,
    FAULT_CHAOS_HANG,
)

# Fields that are plain strings on the wire even when they look like JSON ("123", "true").
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "inline_message_id",
        "action",
        "language_code",
        "document",
        "photo",
        "thumbnail",
        "business_connection_id",
        "message_effect_id",
        "ip_address",
        "name",
        "description",
        "short_description",
        "title",
    }
)

# Tags Telegram accepts with parse_mode=HTML.
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)

_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_CHAT_METHODS_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_TEXT_BUTTON = (
    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
)
_CALLBACK_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)


class BotAPIError(Exception):
    """Raised by a method implementation to answer with a Bot API error."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad_request(reason: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {reason}")


def _too_many_requests(retry_after: int) -> BotAPIError:
    return BotAPIError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


@dataclass
class UploadedFile:
    """A file the bot uploaded (multipart part)."""

    field_name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class ApiCall:
    """One request the bot made. ``status``/``response`` are filled when it completes."""

    method: str
    params: JsonDict
    files: dict[str, UploadedFile] = field(default_factory=dict)
    via: str = "http"  # "http" or "webhook-reply"
    status: int | None = None
    response: JsonDict | None = None
    injected: bool = False  # the error came from fault injection
    fault: str | None = None  # which injection answered it (one of FAULT_KINDS), if any
    at: float = field(default_factory=time.monotonic)  # when the request arrived (monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def description(self) -> str | None:
        return None if self.response is None else self.response.get("description")

    def __repr__(self) -> str:
        return f"ApiCall({self.method} {self.params!r} -> {self.status})"


@dataclass
class _Fault:
    status: int
    description: str
    remaining: int
    chat_id: int | None
    method: str | None
    retry_after: int | None

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None:
            if self.method.lower() != method.lower():
                return False
        elif method.lower() == "getupdates":
            return False  # an unspecific fault never breaks polling
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class _Delay:
    seconds: float
    remaining: int
    chat_id: int | None
    method: str | None
    execute: bool

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.remaining <= 0 or method.lower() == "getupdates":
            return False
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class FloodWindow:
    """A flood-control block: from `start` to `end` (``time.monotonic()``, like `ApiCall.at`)
    every call but getUpdates was answered 429 with the remaining retry_after."""

    start: float
    end: float  # pushed later if another 429 with a longer retry_after came during the block
    retry_after: int  # the retry_after of the 429 that opened the block
    trigger: str  # the method of the call answered with that 429
    refused: int = 0  # calls refused during the block

    @property
    def span(self) -> tuple[float, float]:
        return self.start, self.end

    def covers(self, moment: float) -> bool:
        return self.start <= moment < self.end


@dataclass
class _Chaos:
    """Random faults (see `FakeBotAPI.chaos`)."""

    rate_429: float
    rate_5xx: float
    rate_hang: float
    hang_seconds: float
    retry_after: int
    rng: random.Random
    methods: frozenset[str] | None  # lower-cased method names; None: every method
    chat_id: int | None

    def matches(self, method: str, chat_id: int | None) -> bool:
        name = method.lower()
        if name == "getupdates":
            return False
        if self.methods is not None and name not in self.methods:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def draw(self) -> str | None:
        """One draw per call: the kind of fault to inject, or None. 5xx faults draw again to
        pick 500 or 502."""
        roll = self.rng.random()
        if roll < self.rate_429:
            return FAULT_CHAOS_429
        if roll < self.rate_429 + self.rate_5xx:
            return FAULT_CHAOS_5XX
        if roll < self.rate_429 + self.rate_5xx + self.rate_hang:
            return FAULT_CHAOS_HANG
        return None

    def server_error(self) -> BotAPIError:
        if self.rng.random() < 0.5:
            return BotAPIError(500, "Internal Server Error")
        return BotAPIError(502, "Bad Gateway")


class _VisibleText(HTMLParser):
    """Strips Telegram HTML to the visible text, rejecting what Telegram would reject."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.parts: list[str] = []
        self.stack: list[str] = []
        lines = source.split("\n")
        self._line_starts = list(itertools.accumulate([0] + [len(ln) + 1 for ln in lines]))

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        return len(self.source[: self._line_starts[line - 1] + col].encode("utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "{tag}" '
                f"at byte offset {self._byte_offset()}"
            )
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise _bad_request(
            f'can\'t parse entities: Unsupported start tag "{tag}" '
            f"at byte offset {self._byte_offset()}"
        )

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise _bad_request(
                f"can't parse entities: Unexpected end tag at byte offset {self._byte_offset()}"
            )
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @classmethod
    def of(cls, source: str) -> str:
        parser = cls(source)
        parser.feed(source)
        parser.close()
        if parser.stack:
            raise _bad_request(
                "can't parse entities: Can't find end tag corresponding to start tag "
                f'"{parser.stack[-1]}"'
            )
        return "".join(parser.parts)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text as the user sees it: HTML tags removed, entities decoded, and leading and
    trailing whitespace trimmed as Telegram does."""
    if parse_mode is not None and parse_mode.lower() == "html":
        return _VisibleText.of(text).strip()
    return text.strip()


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _markup_kind(markup: JsonDict | None) -> str | None:
    if not markup:
        return None
    for kind in ("inline_keyboard", "keyboard", "remove_keyboard", "force_reply"):
        if kind in markup:
            return kind
    return None


def _validate_markup(markup: Any) -> JsonDict | None:
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict) or _markup_kind(markup) is None:
        raise _bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is not None:
        for row in rows:
            for button in row:
                if not button.get("text") or len(button) == 1:
                    raise _bad_request(_TEXT_BUTTON)
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                    raise _bad_request("BUTTON_DATA_INVALID")
    return markup


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent, as the user currently sees it."""

    chat_id: int
    message_id: int
    date: int
    kind: str  # "text", "document" or "photo"
    text: str  # visible text (or caption), HTML stripped
    raw_text: str  # text/caption exactly as the bot sent it
    parse_mode: str | None
    reply_markup: JsonDict | None  # the inline keyboard currently attached, if any
    sent_markup: JsonDict | None  # reply_markup as passed with the send (any kind)
    raw: JsonDict  # the Message object as the Bot API returns it
    file: UploadedFile | None = None
    file_ref: str | None = None  # document/photo param when not an upload (file_id or URL)
    history: list[str] = field(default_factory=list)  # earlier visible texts, oldest first
    edit_count: int = 0
    deleted: bool = False

    @property
    def buttons(self) -> list[list[str]]:
        """Inline keyboard button texts, by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[str(button["text"]) for button in row] for row in rows]

    @property
    def callback_data(self) -> list[list[str | None]]:
        """Inline keyboard callback data, by row, parallel to `buttons` (None for URL buttons)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[button.get("callback_data") for button in row] for row in rows]

    @property
    def button_texts(self) -> list[str]:
        """All inline button texts, flattened in reading order."""
        return [text for row in self.buttons for text in row]

    def data_of(self, text: str) -> str:
        """The callback data of the inline button with exactly this text."""
        button = self._find_button(text)
        data = button.get("callback_data")
        if data is None:
            raise AssertionError(f"button {text!r} has no callback_data: {button!r}")
        return str(data)

    @property
    def reply_buttons(self) -> list[list[str]]:
        """Reply keyboard (under the input field) sent with this message, by row."""
        rows = (self.sent_markup or {}).get("keyboard", [])
        return [[str(b["text"]) if isinstance(b, dict) else str(b) for b in row] for row in rows]

    @property
    def requests_contact(self) -> bool:
        """The message came with a reply keyboard button asking for the user's phone."""
        rows = (self.sent_markup or {}).get("keyboard", [])
        return any(isinstance(b, dict) and b.get("request_contact") for row in rows for b in row)

    @property
    def removes_keyboard(self) -> bool:
        return bool((self.sent_markup or {}).get("remove_keyboard"))

    @property
    def edited(self) -> bool:
        return self.edit_count > 0

    def _find_button(self, wanted: str) -> JsonDict:
        flat = [b for row in (self.reply_markup or {}).get("inline_keyboard", []) for b in row]
        for button in flat:
            if button["text"] == wanted:
                return dict(button)
        for button in flat:
            if button.get("callback_data") == wanted:
                return dict(button)
        folded = wanted.casefold()
        loose = [b for b in flat if folded in str(b["text"]).casefold()]
        if len(loose) == 1:
            return dict(loose[0])
        raise AssertionError(
            f"no inline button {wanted!r} on message #{self.message_id} "
            f"({self.text[:80]!r}); available buttons: {self.buttons!r}"
        )

    def __str__(self) -> str:
        lines = [f"#{self.message_id} [{self.kind}] {self.text}"]
        if self.buttons:
            lines.append(f"    inline: {self.buttons}")
        if self.reply_buttons:
            lines.append(f"    keyboard: {self.reply_buttons}")
        return "\n".join(lines)


@dataclass
class _Pending:
    update_id: int
    update: JsonDict
    redelivery: bool = False
    served: int = 0

    @property
    def kind(self) -> str:
        return next(key for key in self.update if key != "update_id")


@dataclass
class _CallbackQuery:
    query_id: str
    user_id: int
    data: str | None
    answers: list[JsonDict] = field(default_factory=list)


@dataclass
class _Chat:
    chat: JsonDict
    next_message_id: int = 1
    bot_messages: list[SentMessage] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # ("user"|"bot", text)
    reply_keyboard: JsonDict | None = None
    menu_button: JsonDict | None = None
    blocked: bool = False

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


class _Self:
    def __repr__(self) -> str:
        return "SELF"


SELF = _Self()


class FakeUser:
    """A Telegram user in a private chat with the bot; acts on it the way a person would."""

    def __init__(
        self,
        api: FakeBotAPI,
        *,
        id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        phone: str | None = None,
        language_code: str | None = "vi",
    ) -> None:
        self.api = api
        self.id = id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.phone = phone
        self.language_code = language_code
        self._mark = 0  # number of bot messages when this user last acted

    # -- Telegram objects --------------------------------------------------------------------

    @property
    def chat_id(self) -> int:
        return self.id

    def as_user(self) -> JsonDict:
        user: JsonDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def as_chat(self) -> JsonDict:
        chat: JsonDict = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    # -- acting ------------------------------------------------------------------------------

    def _message(self, **content: Any) -> JsonDict:
        chat = self.api._chat(self.id)
        return {
            "message_id": chat.take_message_id(),
            "from": self.as_user(),
            "chat": self.as_chat(),
            "date": self.api.now(),
            **content,
        }

    def _acted(self) -> None:
        self._mark = len(self.messages())

    async def send(self, text: str) -> int:
        """Send a text message; a leading /command gets its bot_command entity. Returns the
        update_id."""
        content: JsonDict = {"text": text}
        match = _COMMAND_RE.match(text)
        if match and (match.end() == len(text) or text[match.end()].isspace()):
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(match.group())}
            ]
        chat = self.api._chat(self.id)
        chat.log.append(("user", text))
        keyboard = chat.reply_keyboard
        if keyboard and keyboard.get("one_time_keyboard"):
            texts = {
                b["text"] if isinstance(b, dict) else b for row in keyboard["keyboard"] for b in row
            }
            if text in texts:
                chat.reply_keyboard = None
        self._acted()
        update_id = self.api.queue_update({"message": self._message(**content)})
        await asyncio.sleep(0)
        return update_id

    async def share_contact(
        self,
        phone: str | None = None,
        *,
        user_id: int | _Self | None = SELF,
        first_name: str | None = None,
    ) -> int:
        """Share a contact, by default this user's own (contact.user_id == from.id, as the
        request_contact button does). Pass ``user_id=None`` or another id to forge one."""
        number = phone if phone is not None else self.phone
        if number is None:
            raise AssertionError(f"user {self.id} has no phone: pass share_contact(phone=...)")
        contact: JsonDict = {
            "phone_number": number,
            "first_name": first_name or self.first_name,
        }
        if self.last_name and first_name is None:
            contact["last_name"] = self.last_name
        owner = self.id if isinstance(user_id, _Self) else user_id
        if owner is not None:
            contact["user_id"] = owner
        chat = self.api._chat(self.id)
        chat.log.append(("user", f"[contact {number}]"))
        if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None
        self._acted()
        update_id = self.api.queue_update({"message": self._message(contact=contact)})
        await asyncio.sleep(0)
        return update_id

    async def send_sticker(self, emoji: str = "👍") -> int:
        """Send a sticker (a message without text). Returns the update_id."""
        sticker: JsonDict = {
            "file_id": f"CAACsticker{self.id}",
            "file_unique_id": f"sticker{self.id}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return await self._send_content(f"[sticker {emoji}]", sticker=sticker)

    async def send_photo(self, caption: str | None = None) -> int:
        """Send a photo, with a caption or not (a message without text). Returns the
        update_id."""
        sizes = [
            {"file_id": f"AgADphoto{self.id}_{w}", "file_unique_id": f"photo{self.id}_{w}",
             "width": w, "height": w * 3 // 4}
            for w in (90, 320)
        ]  # fmt: skip
        content: JsonDict = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return await self._send_content("[photo]", **content)

    async def _send_content(self, logged: str, **content: Any) -> int:
        self.api._chat(self.id).log.append(("user", logged))
        self._acted()
        update_id = self.api.queue_update({"message": self._message(**content)})
        await asyncio.sleep(0)
        return update_id

    async def click(self, message: SentMessage | None, button: str) -> int:
        """Press the inline button with this visible text (or callback data) on `message`, or on
        the bot's latest message with an inline keyboard. Returns the update_id."""
        target = message if message is not None else self._last_with_keyboard()
        if target.deleted:
            raise AssertionError(f"message #{target.message_id} was deleted; cannot click it")
        if target.chat_id != self.id:
            raise AssertionError(f"message #{target.message_id} is not in {self.id}'s chat")
        found = target._find_button(button)
        data = found.get("callback_data")
        if data is None:
            raise AssertionError(f"button {found['text']!r} is not a callback button: {found!r}")
        self.api._chat(self.id).log.append(("user", f"[click {found['text']}]"))
        return await self.press_raw(str(data), target)

    async def press_raw(self, callback_data: str, message: SentMessage | None = None) -> int:
        """Send a callback query with arbitrary (possibly forged) data, attached to `message`
        (default: the bot's latest message). Returns the update_id."""
        target = message if message is not None else self.last_message()
        query_id = self.api._new_callback_id()
        self.api._callbacks[query_id] = _CallbackQuery(query_id, self.id, callback_data)
        query: JsonDict = {
            "id": query_id,
            "from": self.as_user(),
            "message": copy.deepcopy(target.raw),
            "chat_instance": f"{self.id * 7919 % 10**9}",
            "data": callback_data,
        }
        self._acted()
        update_id = self.api.queue_update({"callback_query": query})
        await asyncio.sleep(0)
        return update_id

    def block_bot(self) -> int:
        """Block the bot: later sends to this chat fail with 403, and the bot gets the
        my_chat_member update Telegram sends. Returns the update_id."""
        self.api.block(self.id)
        return self.api.queue_update(self._my_chat_member("member", "kicked"))

    def unblock_bot(self) -> int:
        self.api.unblock(self.id)
        return self.api.queue_update(self._my_chat_member("kicked", "member"))

    def _my_chat_member(self, old: str, new: str) -> JsonDict:
        bot_user = self.api.bot_user()

        def member(status: str) -> JsonDict:
            body: JsonDict = {"status": status, "user": bot_user}
            if status == "kicked":
                body["until_date"] = 0
            return body

        return {
            "my_chat_member": {
                "chat": self.as_chat(),
                "from": self.as_user(),
                "date": self.api.now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            }
        }

    # -- what the user sees ------------------------------------------------------------------

    def messages(self) -> list[SentMessage]:
        """The bot's messages in this chat (deleted ones excluded), oldest first."""
        return self.api.messages(self.id)

    def last_message(self) -> SentMessage:
        messages = self.messages()
        if not messages:
            raise AssertionError(f"the bot has sent nothing to {self.first_name} ({self.id})")
        return messages[-1]

    def texts(self) -> list[str]:
        return [message.text for message in self.messages()]

    def reply_keyboard(self) -> list[list[str]]:
        """The reply keyboard currently shown under the input field (empty if none)."""
        keyboard = self.api._chat(self.id).reply_keyboard or {}
        rows = keyboard.get("keyboard", [])
        return [[str(b["text"]) if isinstance(b, dict) else str(b) for b in row] for row in rows]

    def callback_answers(self) -> list[JsonDict]:
        """answerCallbackQuery params for this user's button presses, in order."""
        return [
            answer
            for query in self.api._callbacks.values()
            if query.user_id == self.id
            for answer in query.answers
        ]

    def last_callback_answer(self) -> JsonDict:
        answers = self.callback_answers()
        if not answers:
            raise AssertionError(f"no callback query of {self.id} was answered")
        return answers[-1]

    def transcript(self) -> str:
        return self.api.transcript(self.id)

    def _last_with_keyboard(self) -> SentMessage:
        for message in reversed(self.messages()):
            if message.buttons:
                return message
        raise AssertionError(
            f"no bot message with an inline keyboard in {self.id}'s chat:\n{self.transcript()}"
        )

    async def wait_reply(self, count: int = 1, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109
        """Wait until the bot has sent `count` new messages since this user's last action and
        has gone idle; return the new messages."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages()) < self._mark + count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                got = len(self.messages()) - self._mark
                raise AssertionError(
                    f"expected {count} new bot message(s) to {self.id}, got {got} within "
                    f"{timeout}s\n{self.transcript()}\n{self.api.recent_errors_text()}"
                )
            await self.api._wait_change(remaining)
        await self.api.wait_idle(timeout=max(deadline - loop.time(), 0.5))
        return self.messages()[self._mark :]

    def __repr__(self) -> str:
        return f"FakeUser(id={self.id}, first_name={self.first_name!r})"


class FakeBotAPI:
    """A fake Telegram Bot API server on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "congdoan_test_bot",
        bot_first_name: str = "Công đoàn test",
        max_poll: float = 1.0,
        quiet: float = 0.1,
        tracked_quiet: float = 0.03,
        strict_callback_answers: bool = True,
        flood_blocks: bool = True,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.max_poll = max_poll
        self.quiet = quiet
        self.tracked_quiet = tracked_quiet
        self.strict_callback_answers = strict_callback_answers
        # Telegram's flood control: a 429 with retry_after R refuses every call for R seconds.
        # May be switched at any time; while False, no block starts and none is enforced.
        self.flood_blocks = flood_blocks
        self.now: Callable[[], int] = lambda: int(time.time())

        self.calls: list[ApiCall] = []
        self.offsets: list[int] = []  # every getUpdates offset the bot sent, in order
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_route: str | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.default_menu_button: JsonDict | None = None
        self.flood_windows: list[FloodWindow] = []  # every flood-control block, oldest first

        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._pending: list[_Pending] = []
        self._history: dict[int, JsonDict] = {}
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._chaos: _Chaos | None = None
        self._busy_checks: list[BusyCheck] = []
        self._tracked: set[int] = set()
        self._allowed_updates: list[str] | None = None
        self._update_ids = itertools.count(700_000_001)
        self._callback_ids = itertools.count(1)
        self._file_counter = itertools.count(1)
        self._inflight = 0
        self._poller: object | None = None
        self._last_activity = 0.0
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._port = 0

        self._methods: dict[str, Callable[[JsonDict, dict[str, UploadedFile]], Any]] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "setchatmenubutton": self._set_chat_menu_button,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendchataction": self._send_chat_action,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        # no keep-alive: a webhook app under test then shuts down without waiting for us
        self._client = ClientSession(
            connector=TCPConnector(force_close=True), timeout=ClientTimeout(total=10)
        )
        self._changed = asyncio.Event()
        self._last_activity = asyncio.get_running_loop().time()

    async def stop(self) -> None:
        self._closing = True
        self._notify()
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("FakeBotAPI is not started")
        return f"http://127.0.0.1:{self._port}"

    def make_bot(self, token: str | None = None, **bot_kwargs: Any) -> Bot:
        """A real aiogram Bot whose session talks to this server."""
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        session = AiohttpSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(token or self.token, session=session, **bot_kwargs)

    # -- people and chats --------------------------------------------------------------------

    def user(
        self,
        *,
        id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        phone: str | None = None,
        language_code: str | None = "vi",
    ) -> FakeUser:
        """The user with this id, created on the first call; later calls return that same user
        (their other arguments are ignored)."""
        existing = self._users.get(id)
        if existing is not None:
            return existing
        user = FakeUser(
            self,
            id=id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            phone=phone,
            language_code=language_code,
        )
        self._users[id] = user
        self._chat(id)
        return user

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            user = self._users.get(chat_id)
            if user is None:
                raise _bad_request("chat not found")
            chat = _Chat(chat=user.as_chat())
            self._chats[chat_id] = chat
        return chat

    def messages(self, chat_id: int) -> list[SentMessage]:
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [message for message in chat.bot_messages if not message.deleted]

    def transcript(self, chat_id: int) -> str:
        chat = self._chats.get(chat_id)
        if chat is None:
            return f"(no chat {chat_id})"
        lines = [f"--- chat {chat_id} ---"]
        for who, text in chat.log:
            lines.append(f"{'>' if who == 'user' else '<'} {text}")
        return "\n".join(lines)

    def bot_user(self) -> JsonDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # -- calls -------------------------------------------------------------------------------

    def calls_of(self, method: str) -> list[ApiCall]:
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def last_call(self, method: str) -> ApiCall:
        calls = self.calls_of(method)
        if not calls:
            raise AssertionError(f"the bot never called {method}")
        return calls[-1]

    def errors(self) -> list[ApiCall]:
        """Calls that were answered with an error not injected by the test."""
        return [call for call in self.calls if call.status not in (None, 200) and not call.injected]

    def recent_errors_text(self) -> str:
        errors = self.errors()[-5:]
        if not errors:
            return "(no Bot API errors)"
        return "Bot API errors: " + "; ".join(
            f"{call.method} -> {call.status} {call.description}" for call in errors
        )

    # -- updates -----------------------------------------------------------------------------

    def queue_update(self, payload: JsonDict) -> int:
        """Queue an update (``{"message": {...}}`` etc.) with the next update_id."""
        update_id = next(self._update_ids)
        update = {"update_id": update_id, **payload}
        self._history[update_id] = copy.deepcopy(update)
        self._pending.append(_Pending(update_id, update))
        self._notify()
        return update_id

    def redeliver(self, update_id: int) -> None:
        """Queue an update already sent, with the same update_id (at-least-once delivery)."""
        update = self.update(update_id)
        self._pending.append(_Pending(update_id, update, redelivery=True))
        self._notify()

    def update(self, update_id: int) -> JsonDict:
        """A copy of a queued update, by id."""
        if update_id not in self._history:
            raise KeyError(f"no update {update_id}")
        return copy.deepcopy(self._history[update_id])

    @property
    def pending_update_ids(self) -> list[int]:
        return [entry.update_id for entry in self._pending]

    @property
    def confirmed_offset(self) -> int | None:
        return max(self.offsets) if self.offsets else None

    def _confirm(self, offset: int) -> None:
        self.offsets.append(offset)
        before = len(self._pending)
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [
                entry
                for entry in self._pending
                if entry.update_id >= offset or (entry.redelivery and entry.served == 0)
            ]
        if len(self._pending) != before:
            self._touch()

    # -- waiting -----------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _touch(self) -> None:
        self._last_activity = asyncio.get_running_loop().time()
        self._notify()

    async def _wait_change(self, seconds: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    def add_busy_check(self, check: BusyCheck) -> None:
        """Register a probe returning a reason while the bot is busy (None when not)."""
        self._busy_checks.append(check)

    def track(self, dp: Dispatcher) -> None:
        """Count updates being handled by `dp`, so that wait_idle also waits for handlers that
        make no Bot API call for a while."""
        if id(dp) in self._tracked:
            return
        self._tracked.add(id(dp))
        handling = [0]

        async def middleware(
            handler: Callable[[Any, dict[str, Any]], Awaitable[Any]],
            event: Any,
            data: dict[str, Any],
        ) -> Any:
            handling[0] += 1
            try:
                return await handler(event, data)
            finally:
                handling[0] -= 1
                self._touch()

        dp.update.outer_middleware(middleware)
        self.add_busy_check(
            lambda: f"{handling[0]} update(s) being handled" if handling[0] else None
        )

    @contextlib.asynccontextmanager
    async def polling(
        self, dp: Dispatcher, bot: Bot, **polling_kwargs: Any
    ) -> AsyncIterator[asyncio.Task[None]]:
        """Run ``dp.start_polling(bot)`` in a task for the duration of the block: returns once
        the bot has started (startup handlers done, first getUpdates made); on exit stops
        polling and re-raises whatever ended the polling task early. The bot's session stays
        open (its owner closes it, e.g. with `close_bot`)."""
        self.track(dp)
        polls_before = len(self.calls_of("getUpdates"))
        polling_kwargs.setdefault("handle_signals", False)
        polling_kwargs.setdefault("close_bot_session", False)
        task = asyncio.get_running_loop().create_task(dp.start_polling(bot, **polling_kwargs))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while len(self.calls_of("getUpdates")) == polls_before and not task.done():
            if loop.time() > deadline:
                task.cancel()
                raise AssertionError(f"the bot did not start polling: {self.recent_errors_text()}")
            await self._wait_change(0.05)
        if task.done():
            await task  # raises what stopped it
            raise AssertionError("polling ended before it started")
        try:
            yield task
        finally:
            if not task.done():
                await dp.stop_polling()
            await task

    def _busy_reason(self) -> str | None:
        if self._pending:
            reason = f"updates not yet confirmed: {self.pending_update_ids}"
            if self.webhook_url and self._webhook_target() is None:
                reason += (
                    f" (webhook set to {self.webhook_url}, which is not local: "
                    "call api.route_webhook(local_url))"
                )
            return reason
        if self._inflight:
            return f"{self._inflight} Bot API call(s) in flight"
        for check in self._busy_checks:
            busy = check()
            if busy:
                return busy
        return None

    async def wait_idle(self, timeout: float = 20.0, quiet: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until every queued update is confirmed, no call is in flight, no tracked
        handler is running and the bot has been silent for `quiet` seconds (default: the
        server's `quiet`, or the shorter `tracked_quiet` once a Dispatcher is tracked).
        ``timeout`` only guards against a hung bot: a loaded machine (CI on two shared cores)
        took more than 5 s to handle a /stats."""
        if quiet is None:
            quiet = self.tracked_quiet if self._tracked else self.quiet
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = loop.time()
            reason = self._busy_reason()
            if reason is None:
                silent = now - self._last_activity
                if silent >= quiet:
                    return
                step = quiet - silent
            else:
                step = 0.05
            if now >= deadline:
                raise AssertionError(
                    f"the bot did not go idle within {timeout}s: {reason or 'still active'}; "
                    f"{self.recent_errors_text()}"
                )
            await self._wait_change(min(step, max(deadline - now, 0.001)))

    # -- fault injection ---------------------------------------------------------------------

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every call aimed at the chat gets 403 until unblock()."""
        self._chat(chat_id).blocked = True

    def unblock(self, chat_id: int) -> None:
        self._chat(chat_id).blocked = False

    def fail_next(
        self,
        status: int,
        description: str,
        *,
        times: int = 1,
        chat_id: int | None = None,
        method: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` matching calls with this error. A fault without `method`
        matches every method but getUpdates; without `chat_id`, every chat. A 429 with a
        `retry_after` starts a flood block (see `flood_blocks`) whatever the fault's filters: the
        calls refused by a block do not use up the fault, which answers the next matching calls
        that get through."""
        self._faults.append(_Fault(status, description, times, chat_id, method, retry_after))

    def rate_limit(
        self,
        retry_after: int = 1,
        *,
        times: int = 1,
        chat_id: int | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` matching calls 429 "Too Many Requests" with `retry_after`;
        each starts a flood block refusing every call for `retry_after` seconds (unless
        ``flood_blocks`` is off): ``times=3`` means three blocks, one after the other."""
        self.fail_next(
            429,
            f"Too Many Requests: retry after {retry_after}",
            times=times,
            chat_id=chat_id,
            method=method,
            retry_after=retry_after,
        )

    def server_error(
        self, *, times: int = 1, chat_id: int | None = None, method: str | None = None
    ) -> None:
        self.fail_next(500, "Internal Server Error", times=times, chat_id=chat_id, method=method)

    def slow(
        self,
        seconds: float,
        *,
        times: int = 1,
        chat_id: int | None = None,
        method: str | None = None,
        execute: bool = False,
    ) -> None:
        """Hold the next `times` matching calls (never getUpdates) for `seconds`, as a
        timeout does. Then the call is answered 504 without taking effect (the request was
        lost), or, with ``execute=True``, carried out (it took effect; the answer came late)."""
        self._delays.append(_Delay(seconds, times, chat_id, method, execute))

    def _injected_delay(self, method: str, chat_id: int | None) -> _Delay | None:
        for delay in self._delays:
            if delay.matches(method, chat_id):
                delay.remaining -= 1
                return delay
        return None

    def _scripted_fault(self, method: str, chat_id: int | None) -> BotAPIError | None:
        for fault in self._faults:
            if fault.matches(method, chat_id):
                fault.remaining -= 1
                return BotAPIError(fault.status, fault.description, fault.retry_after)
        return None

    def _user_blocked(self, method: str, chat_id: int | None) -> BotAPIError | None:
        if chat_id is not None and method.lower() not in ("getupdates", "answercallbackquery"):
            chat = self._chats.get(chat_id)
            if chat is not None and chat.blocked:
                return BotAPIError(403, "Forbidden: bot was blocked by the user")
        return None

    def chaos(
        self,
        *,
        rate_429: float = 0.0,
        rate_5xx: float = 0.0,
        rate_hang: float = 0.0,
        hang_seconds: float = 0.0,
        retry_after: int = 1,
        seed: int | None = None,
        methods: Iterable[str] | None = None,
        chat_id: int | None = None,
    ) -> None:
        """Until `calm()`, answer a random share of the calls (never getUpdates) with a fault:
        `rate_429` of them with 429 ``retry_after`` (which starts a flood block, see
        `flood_blocks`), `rate_5xx` with 500 "Internal Server Error" or 502 "Bad Gateway"
        (half each), `rate_hang` held `hang_seconds` then answered 504 "Gateway Timeout" (as
        `slow` does). A faulted call takes no effect.

        Only calls to `methods` (names, any case; default every method) and aimed at `chat_id`
        (default any chat) are drawn for. Each such call that reaches the draw takes one number
        from a ``random.Random(seed)``, so with a seed and calls made one at a time a run is
        reproducible. Calls refused by a flood block, and calls a scripted fault (`fail_next`,
        `slow`...) answers, are not drawn for: scripted faults come first. A new `chaos` call
        replaces the previous settings and restarts the random sequence.
        """
        rates = {"rate_429": rate_429, "rate_5xx": rate_5xx, "rate_hang": rate_hang}
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate!r}")
        if sum(rates.values()) > 1.0:
            raise ValueError(f"the rates add up to more than 1: {rates!r}")
        if hang_seconds < 0:
            raise ValueError(f"hang_seconds must not be negative, not {hang_seconds!r}")
        if retry_after < 1:
            raise ValueError(f"retry_after must be at least 1, not {retry_after!r}")
        self._chaos = _Chaos(
            rate_429=rate_429,
            rate_5xx=rate_5xx,
            rate_hang=rate_hang,
            hang_seconds=hang_seconds,
            retry_after=retry_after,
            rng=random.Random(seed),
            methods=None if methods is None else frozenset(m.lower() for m in methods),
            chat_id=chat_id,
        )

    def calm(self) -> None:
        """Stop `chaos`. A flood block already started runs its course (see `lift_flood`)."""
        self._chaos = None

    @property
    def chaotic(self) -> bool:
        return self._chaos is not None

    @property
    def injected_counts(self) -> dict[str, int]:
        """How many calls each kind of injected fault answered so far, for every kind in
        `FAULT_KINDS` (0 if none): e.g. ``"chaos-429"`` counts the random 429s only, while the
        refusals of the flood blocks they started count under ``"flood"``."""
        counts = dict.fromkeys(FAULT_KINDS, 0)
        for call in self.calls:
            if call.fault is not None:
                counts[call.fault] = counts.get(call.fault, 0) + 1
        return counts

    # -- flood control -----------------------------------------------------------------------

    def _open_window(self, moment: float) -> FloodWindow | None:
        if self.flood_windows and self.flood_windows[-1].covers(moment):
            return self.flood_windows[-1]
        return None

    def _start_flood(self, retry_after: int, method: str) -> None:
        """A 429 with this retry_after was just answered: block every call for that long
        (or longer, if a block already running ends later)."""
        if not self.flood_blocks:
            return
        now = time.monotonic()
        window = self._open_window(now)
        if window is not None:
            window.end = max(window.end, now + retry_after)
        else:
            self.flood_windows.append(FloodWindow(now, now + retry_after, retry_after, method))

    def _flood_refusal(self) -> BotAPIError | None:
        if not self.flood_blocks:
            return None
        now = time.monotonic()
        window = self._open_window(now)
        if window is None:
            return None
        window.refused += 1
        return _too_many_requests(max(1, math.ceil(window.end - now)))

    def flood_remaining(self) -> float:
        """Seconds until the current flood block ends (0.0 when there is none)."""
        if not self.flood_blocks:
            return 0.0
        now = time.monotonic()
        window = self._open_window(now)
        return 0.0 if window is None else window.end - now

    def lift_flood(self) -> None:
        """End the current flood block now (a test that does not want to wait it out)."""
        now = time.monotonic()
        window = self._open_window(now)
        if window is not None:
            window.end = now

    @property
    def blocked_windows(self) -> list[tuple[float, float]]:
        """(start, end) of every flood block, oldest first, on ``time.monotonic()``."""
        return [window.span for window in self.flood_windows]

    @property
    def calls_while_blocked(self) -> int:
        """Calls (getUpdates aside) the bot made while a flood block was on: each was refused
        with 429. A client that honours retry_after makes none, but for calls already in
        flight (or sent concurrently) when the first 429 came back."""
        return sum(window.refused for window in self.flood_windows)

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._read_params(request)
        if request.match_info["token"] != self.token:
            body = BotAPIError(401, "Unauthorized").payload()
            self.calls.append(ApiCall(method, params, files, status=401, response=body))
            return web.json_response(body, status=401)
        if method.lower() == "getupdates":
            call = ApiCall(method, params, files)
            self.calls.append(call)
            self._notify()
            try:
                result: Any = await self._get_updates(params, request)
                body = {"ok": True, "result": result}
                call.status = 200
            except BotAPIError as error:
                body = error.payload()
                call.status = error.status
            call.response = body
            return web.json_response(body, status=call.status)
        status, body = await self.execute(method, params, files)
        return web.json_response(body, status=status)

    async def execute(
        self,
        method: str,
        params: JsonDict,
        files: dict[str, UploadedFile] | None = None,
        *,
        via: str = "http",
    ) -> tuple[int, JsonDict]:
        """Run one Bot API method (other than getUpdates); returns (HTTP status, body)."""
        call = ApiCall(method, params, files or {}, via=via)
        self.calls.append(call)
        self._inflight += 1
        self._touch()
        try:
            await self._inject(call)
            implementation = self._methods.get(method.lower())
            if implementation is None:
                raise BotAPIError(404, "Not Found: method not found")
            result = implementation(params, call.files)
            body: JsonDict = {"ok": True, "result": result}
            call.status = 200
        except BotAPIError as error:
            body = error.payload()
            call.status = error.status
            started_flood = call.fault not in (None, FAULT_FLOOD) and error.status == 429
            if started_flood and error.retry_after is not None:
                self._start_flood(error.retry_after, method)
        finally:
            self._inflight -= 1
            self._touch()
        call.response = body
        return call.status, body

    async def _inject(self, call: ApiCall) -> None:
        """Raise the injected fault that answers this call, if any, marking the call. In order:
        a flood block refuses it at once; then a scripted delay (`slow`), a scripted fault
        (`fail_next`...), a random one (`chaos`), and a chat whose user blocked the bot."""

        def injected(kind: str, error: BotAPIError) -> BotAPIError:
            call.injected = True
            call.fault = kind
            return error

        refusal = self._flood_refusal()
        if refusal is not None:
            raise injected(FAULT_FLOOD, refusal)
        raw_chat = call.params.get("chat_id")
        chat_id = raw_chat if isinstance(raw_chat, int) else None
        delay = self._injected_delay(call.method, chat_id)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
            if not delay.execute:
                raise injected(FAULT_TIMEOUT, BotAPIError(504, "Gateway Timeout"))
        fault = self._scripted_fault(call.method, chat_id)
        if fault is not None:
            raise injected(FAULT_SCRIPTED, fault)
        chaos = self._chaos
        if chaos is not None and chaos.matches(call.method, chat_id):
            kind = chaos.draw()
            if kind == FAULT_CHAOS_429:
                raise injected(kind, _too_many_requests(chaos.retry_after))
            if kind == FAULT_CHAOS_5XX:
                raise injected(kind, chaos.server_error())
            if kind == FAULT_CHAOS_HANG:
                await asyncio.sleep(chaos.hang_seconds)
                raise injected(kind, BotAPIError(504, "Gateway Timeout"))
        blocked = self._user_blocked(call.method, chat_id)
        if blocked is not None:
            raise injected(FAULT_USER_BLOCKED, blocked)

    async def _read_params(self, request: web.Request) -> tuple[JsonDict, dict[str, UploadedFile]]:
        params: JsonDict = {}
        files: dict[str, UploadedFile] = {}
        for key, value in request.query.items():
            params[key] = _decode_field(key, value)
        if request.method != "POST" or not request.can_read_body:
            return params, files
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
            return params, files
        form = await request.post()
        for key, item in form.items():
            if isinstance(item, str):
                params[key] = _decode_field(key, item)
            elif isinstance(item, bytes | bytearray):
                params[key] = _decode_field(key, bytes(item).decode("utf-8"))
            else:
                files[key] = UploadedFile(
                    field_name=key,
                    filename=item.filename,
                    content_type=item.content_type,
                    data=item.file.read(),
                )
        return params, files

    # -- getUpdates and webhooks -------------------------------------------------------------

    async def _get_updates(self, params: JsonDict, request: web.Request) -> list[JsonDict]:
        if self.webhook_url:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        if isinstance(offset, int):
            self._confirm(offset)
        limit = params.get("limit")
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        timeout = params.get("timeout")
        wait = min(float(timeout), self.max_poll) if isinstance(timeout, int | float) else 0.0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = allowed or None

        me = object()
        if self._poller is not None:
            self._notify()  # wakes the older long poll, which then ends with 409
        self._poller = me
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            while True:
                if self._poller is not me:
                    raise BotAPIError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
                transport = request.transport
                if transport is None or transport.is_closing():
                    return []
                batch = self._take_batch(limit)
                remaining = deadline - loop.time()
                if batch or self._closing or remaining <= 0:
                    for entry in batch:
                        entry.served += 1
                    return [copy.deepcopy(entry.update) for entry in batch]
                await self._wait_change(remaining)
        finally:
            if self._poller is me:
                self._poller = None

    def _take_batch(self, limit: int) -> list[_Pending]:
        if self._allowed_updates is not None:
            allowed = set(self._allowed_updates)
            dropped = [e for e in self._pending if e.kind not in allowed]
            if dropped:
                self._pending = [e for e in self._pending if e.kind in allowed]
                self._touch()
        return self._pending[:limit]

    def route_webhook(self, local_url: str) -> None:
        """Deliver webhook pushes to this local URL instead of the registered one (stands in
        for the reverse proxy in front of the bot)."""
        self.webhook_route = local_url
        self._ensure_pusher()
        self._notify()

    def _webhook_target(self) -> str | None:
        if self.webhook_route:
            return self.webhook_route
        if self.webhook_url and _is_loopback_url(self.webhook_url):
            return self.webhook_url
        return None

    def _ensure_pusher(self) -> None:
        if self.webhook_url and self._pusher is None and not self._closing:
            self._pusher = asyncio.get_running_loop().create_task(self._push_loop())

    async def _push_loop(self) -> None:
        try:
            while self.webhook_url and not self._closing:
                target = self._webhook_target()
                if target is None or not self._pending:
                    await self._wait_change(1.0)
                    continue
                entry = self._pending[0]
                entry.served += 1
                status = await self.post_webhook(target, self.webhook_secret, entry.update)
                if not 200 <= status < 300:
                    await asyncio.sleep(0.05)
        finally:
            self._pusher = None

    async def post_webhook(self, url: str, secret: str | None, update: JsonDict | int) -> int:
        """POST one update to a webhook as Telegram does; returns the HTTP status (0 if the
        connection failed). A 2xx delivery confirms the update if it was queued; a method in
        the response body is executed like Telegram does."""
        payload = self.update(update) if isinstance(update, int) else update
        if self._client is None:
            raise RuntimeError("FakeBotAPI is not started")
        headers = {WEBHOOK_SECRET_HEADER: secret} if secret is not None else {}
        update_id = int(payload["update_id"])
        self._inflight += 1
        self._touch()
        try:
            async with self._client.post(url, json=payload, headers=headers) as response:
                status = response.status
                if 200 <= status < 300:
                    delivered = _find(self._pending, update_id)
                    if delivered is not None:
                        self._pending.remove(delivered)
                    await self._run_webhook_reply(response)
        except (TimeoutError, OSError):
            status = 0
        finally:
            self._inflight -= 1
            self._touch()
        self.webhook_deliveries.append((update_id, status))
        return status

    async def _run_webhook_reply(self, response: Any) -> None:
        content_type = response.headers.get("Content-Type", "")
        params: JsonDict = {}
        files: dict[str, UploadedFile] = {}
        if content_type.startswith("multipart/"):
            reader = MultipartReader.from_response(response)
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if part.filename:
                    data = await part.read()
                    files[name] = UploadedFile(
                        name, part.filename, part.headers.get("Content-Type", ""), bytes(data)
                    )
                else:
                    params[name] = _decode_field(name, await part.text())
        elif content_type.startswith("application/json"):
            body = await response.json()
            if isinstance(body, dict):
                params = body
        method = params.pop("method", None)
        if isinstance(method, str) and method:
            await self.execute(method, params, files, via="webhook-reply")

    # -- method implementations --------------------------------------------------------------

    def _get_me(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _target_chat(self, params: JsonDict) -> _Chat:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str):
            raise _bad_request("chat not found")
        return self._chat(int(chat_id))

    def _record_sent(
        self,
        chat: _Chat,
        *,
        kind: str,
        raw_text: str,
        parse_mode: str | None,
        markup: JsonDict | None,
        extra: JsonDict,
        file: UploadedFile | None = None,
        file_ref: str | None = None,
    ) -> JsonDict:
        text = visible_text(raw_text, parse_mode)
        message_id = chat.take_message_id()
        raw: JsonDict = {
            "message_id": message_id,
            "from": self.bot_user(),
            "chat": dict(chat.chat),
            "date": self.now(),
            **extra,
        }
        if text:
            raw["text" if kind == "text" else "caption"] = text
        inline = markup if _markup_kind(markup) == "inline_keyboard" else None
        if inline is not None:
            raw["reply_markup"] = inline
        kind_of = _markup_kind(markup)
        if kind_of == "keyboard":
            chat.reply_keyboard = markup
        elif kind_of == "remove_keyboard":
            chat.reply_keyboard = None
        sent = SentMessage(
            chat_id=int(chat.chat["id"]),
            message_id=message_id,
            date=raw["date"],
            kind=kind,
            text=text,
            raw_text=raw_text,
            parse_mode=parse_mode,
            reply_markup=inline,
            sent_markup=markup,
            raw=raw,
            file=file,
            file_ref=file_ref,
        )
        chat.bot_messages.append(sent)
        label = text if kind == "text" else f"[{kind}] {text}"
        chat.log.append(("bot", label + (f"  {sent.buttons}" if sent.buttons else "")))
        return copy.deepcopy(raw)

    def _send_message(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        chat = self._target_chat(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        parse_mode = params.get("parse_mode") or None
        visible = visible_text(text, parse_mode)
        if not visible.strip():
            raise _bad_request("message text is empty")
        if _utf16_len(visible) > 4096:
            raise _bad_request("message is too long")
        markup = _validate_markup(params.get("reply_markup"))
        return self._record_sent(
            chat, kind="text", raw_text=text, parse_mode=parse_mode, markup=markup, extra={}
        )

    def _find_message(self, params: JsonDict, missing: str) -> SentMessage:
        if params.get("inline_message_id"):
            raise _bad_request("inline messages are not supported by the fake")
        chat = self._target_chat(params)
        message_id = params.get("message_id")
        for message in chat.bot_messages:
            if message.message_id == message_id and not message.deleted:
                return message
        raise _bad_request(missing)

    def _edited(self, message: SentMessage) -> JsonDict:
        message.edit_count += 1
        message.raw["edit_date"] = self.now()
        chat = self._chats[message.chat_id]
        buttons = f"  {message.buttons}" if message.buttons else ""
        chat.log.append(("bot", f"[edit #{message.message_id}] {message.text}{buttons}"))
        return copy.deepcopy(message.raw)

    def _edit_message_text(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        message = self._find_message(params, "message to edit not found")
        if message.kind != "text":
            raise _bad_request("there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("text must be non-empty")
        parse_mode = params.get("parse_mode") or None
        visible = visible_text(text, parse_mode)
        if _utf16_len(visible) > 4096:
            raise _bad_request("MESSAGE_TOO_LONG")
        markup = _validate_markup(params.get("reply_markup"))
        if markup is not None and _markup_kind(markup) != "inline_keyboard":
            raise _bad_request("inline keyboard expected")
        if visible == message.text and markup == message.reply_markup:
            raise _bad_request(_CHAT_METHODS_NOT_MODIFIED)
        message.history.append(message.text)
        message.text = visible
        message.raw_text = text
        message.parse_mode = parse_mode
        message.raw["text"] = visible
        self._set_inline(message, markup)
        return self._edited(message)

    def _set_inline(self, message: SentMessage, markup: JsonDict | None) -> None:
        message.reply_markup = markup
        if markup is None:
            message.raw.pop("reply_markup", None)
        else:
            message.raw["reply_markup"] = markup

    def _edit_message_reply_markup(
        self, params: JsonDict, files: dict[str, UploadedFile]
    ) -> JsonDict:
        message = self._find_message(params, "message to edit not found")
        markup = _validate_markup(params.get("reply_markup"))
        if markup is not None and _markup_kind(markup) != "inline_keyboard":
            raise _bad_request("inline keyboard expected")
        if markup == message.reply_markup:
            raise _bad_request(_CHAT_METHODS_NOT_MODIFIED)
        self._set_inline(message, markup)
        return self._edited(message)

    def _delete_message(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        message = self._find_message(params, "message to delete not found")
        message.deleted = True
        self._chats[message.chat_id].log.append(("bot", f"[deleted #{message.message_id}]"))
        return True

    def _answer_callback_query(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        query = self._callbacks.get(str(params.get("callback_query_id", "")))
        if query is None:
            raise _bad_request(_CALLBACK_INVALID)
        if query.answers and self.strict_callback_answers:
            raise _bad_request(_CALLBACK_INVALID)
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        query.answers.append(dict(params))
        return True

    def unanswered_callbacks(self) -> list[str]:
        """Callback query ids the bot never answered (the user still sees a spinner)."""
        return [q.query_id for q in self._callbacks.values() if not q.answers]

    def _new_callback_id(self) -> str:
        return f"{self.bot_id % 100000}{next(self._callback_ids):08d}"

    @staticmethod
    def _scope_key(params: JsonDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("commands must be a list of at most 100 BotCommand")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            description = command.get("description", "") if isinstance(command, dict) else ""
            if not _BOT_COMMAND_RE.fullmatch(str(name).lstrip("/")):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(description)) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._scope_key(params)] = [dict(c) for c in commands]
        return True

    def _delete_my_commands(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        self.commands.pop(self._scope_key(params), None)
        return True

    def _get_my_commands(self, params: JsonDict, files: dict[str, UploadedFile]) -> list[JsonDict]:
        return [dict(c) for c in self.commands.get(self._scope_key(params), [])]

    def commands_for(self, chat_id: int | None = None, language_code: str = "") -> list[str]:
        """The command names a private chat shows in its menu, resolving scopes as Telegram
        does (chat, then all private chats, then default; a language-specific list first)."""
        scopes: list[JsonDict] = []
        if chat_id is not None:
            scopes.append({"type": "chat", "chat_id": chat_id})
        scopes += [{"type": "all_private_chats"}, {"type": "default"}]
        for scope in scopes:
            key = json.dumps(scope, sort_keys=True)
            for language in (language_code, "") if language_code else ("",):
                if (key, language) in self.commands:
                    return [str(c["command"]) for c in self.commands[(key, language)]]
        return []

    def _set_chat_menu_button(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        chat_id = params.get("chat_id")
        if chat_id is None:
            self.default_menu_button = button
        else:
            self._target_chat(params).menu_button = button
        return True

    def menu_button(self, chat_id: int | None = None) -> JsonDict | None:
        if chat_id is not None and chat_id in self._chats and self._chats[chat_id].menu_button:
            return self._chats[chat_id].menu_button
        return self.default_menu_button

    def _set_webhook(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        url = params.get("url") or ""
        if url and not str(url).startswith("https://") and not _is_loopback_url(str(url)):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = allowed or None
        self.webhook_url = str(url) or None
        self.webhook_secret = str(secret) if secret is not None else None
        if self.webhook_url:
            self._ensure_pusher()
        self._notify()
        return True

    def _delete_webhook(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook_url = None
        self.webhook_secret = None
        self._notify()
        return True

    def _get_webhook_info(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        info: JsonDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self._allowed_updates is not None:
            info["allowed_updates"] = list(self._allowed_updates)
        return info

    def _send_chat_action(self, params: JsonDict, files: dict[str, UploadedFile]) -> bool:
        self._target_chat(params)
        if not params.get("action"):
            raise _bad_request("action is empty")
        return True

    def _attachment(
        self, params: JsonDict, files: dict[str, UploadedFile], field_name: str
    ) -> tuple[UploadedFile | None, str | None]:
        value = params.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad_request(f"file {value} not found in the request")
            return upload, None
        if field_name in files:
            return files[field_name], None
        if isinstance(value, str) and value:
            return None, value
        raise _bad_request(f"there is no {field_name} in the request")

    def _caption(self, params: JsonDict) -> tuple[str, str | None]:
        caption = params.get("caption")
        caption = caption if isinstance(caption, str) else ""
        parse_mode = params.get("parse_mode") or None
        if _utf16_len(visible_text(caption, parse_mode)) > 1024:
            raise _bad_request("message caption is too long")
        return caption, parse_mode

    def _file_ids(self) -> tuple[str, str]:
        number = next(self._file_counter)
        return f"BQACAgUAAxkDAAI{number:08d}", f"AgAD{number:08d}"

    def _send_document(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        chat = self._target_chat(params)
        upload, ref = self._attachment(params, files, "document")
        caption, parse_mode = self._caption(params)
        file_id, unique_id = self._file_ids()
        document: JsonDict = {"file_id": ref or file_id, "file_unique_id": unique_id}
        if upload is not None:
            document.update(
                file_name=upload.filename,
                mime_type=upload.content_type or "application/octet-stream",
                file_size=len(upload.data),
            )
        markup = _validate_markup(params.get("reply_markup"))
        return self._record_sent(
            chat,
            kind="document",
            raw_text=caption,
            parse_mode=parse_mode,
            markup=markup,
            extra={"document": document},
            file=upload,
            file_ref=ref,
        )

    def _send_photo(self, params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
        chat = self._target_chat(params)
        upload, ref = self._attachment(params, files, "photo")
        caption, parse_mode = self._caption(params)
        size = len(upload.data) if upload is not None else 1000
        sizes = []
        for width in (90, 320, 800):
            file_id, unique_id = self._file_ids()
            sizes.append(
                {
                    "file_id": file_id,
                    "file_unique_id": unique_id,
                    "width": width,
                    "height": width * 3 // 4,
                    "file_size": max(size * width // 800, 1),
                }
            )
        markup = _validate_markup(params.get("reply_markup"))
        return self._record_sent(
            chat,
            kind="photo",
            raw_text=caption,
            parse_mode=parse_mode,
            markup=markup,
            extra={"photo": sizes},
            file=upload,
            file_ref=ref,
        )


def _find(entries: Iterable[_Pending], update_id: int) -> _Pending | None:
    return next((entry for entry in entries if entry.update_id == update_id), None)


def _decode_field(name: str, value: str) -> Any:
    if name in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


async def close_bot(bot: Bot) -> None:
    """Close a Bot's HTTP session at once (aiogram's close() sleeps 250 ms for TLS teardown,
    which plain HTTP to the fake server does not need)."""
    inner = getattr(bot.session, "_session", None)
    if isinstance(inner, ClientSession) and not inner.closed:
        await inner.close()
