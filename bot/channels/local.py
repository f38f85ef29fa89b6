"""The local channel: an in-process Bot API for the terminal demo (no network, no token).

:class:`LocalSession` is an aiogram ``BaseSession``: the real ``Bot`` calls it exactly as it
would call Telegram, and it answers with the objects Telegram returns (a ``Message`` for
``sendMessage``/``editMessageText``, ``True`` for ``answerCallbackQuery``...), going through
aiogram's own response checking, so Telegram's errors ("message is not modified", "message to
edit not found") surface as the same exceptions.  It keeps what each private chat shows (the
bot's messages with their current text and inline keyboard, the reply keyboard under the input
field) so that a driver can press buttons, and reports every outgoing event to a listener.  Each
message that shows an inline keyboard gets a number in its chat (1, 2, 3...: its ``tag``), kept
through edits; the last :data:`KEYBOARD_HISTORY` of them can be looked up by that number, so
that a button of an older message can be pressed as on Telegram.

Incoming updates do not come from here: the driver builds them and feeds them to the inbox
runner, as the Telegram channel does with what ``getUpdates`` returns.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from aiogram.client.session.base import BaseSession
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetChatMenuButton,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

JsonDict = dict[str, Any]

BOT_ID = 7000000001
BOT_USERNAME = "congdoan_demo_bot"
BOT_NAME = "Congdoan Demo"
TOKEN = f"{BOT_ID}:local-demo"  # aiogram wants "<digits>:<secret>"; nothing checks the secret

# How many messages with an inline keyboard each chat keeps pressable (the most recent ones).
KEYBOARD_HISTORY = 50

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class LocalChannelError(Exception):
    """A Bot API call the local channel refuses (answered as Telegram would)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class _PlainText(HTMLParser):
    """The visible text of a Telegram-HTML message (what Telegram returns as ``text``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(text: str, parse_mode: str | None) -> str:
    if not parse_mode or parse_mode.lower() != "html":
        return text
    parser = _PlainText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


@dataclass(frozen=True)
class InlineButton:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ReplyButton:
    text: str
    request_contact: bool = False


@dataclass
class LocalMessage:
    """A message of the bot as the person currently sees it."""

    chat_id: int
    message_id: int
    text: str  # as the bot sent it (Telegram HTML when parse_mode is HTML)
    parse_mode: str | None
    buttons: list[list[InlineButton]]
    raw: JsonDict  # the Message object as the Bot API returns it
    edits: int = 0
    deleted: bool = False
    tag: int | None = None  # its number among the chat's messages with a keyboard

    @property
    def flat_buttons(self) -> list[InlineButton]:
        return [button for row in self.buttons for button in row]


@dataclass
class LocalChat:
    chat_id: int
    next_message_id: int = 1
    messages: dict[int, LocalMessage] = field(default_factory=dict)
    reply_keyboard: list[list[ReplyButton]] | None = None
    commands: list[tuple[str, str]] = field(default_factory=list)
    history: int = KEYBOARD_HISTORY
    tags_given: int = 0
    keyboards: dict[int, int] = field(default_factory=dict)  # tag → message id, oldest first

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def last_with_buttons(self) -> LocalMessage | None:
        for message_id in sorted(self.messages, reverse=True):
            message = self.messages[message_id]
            if not message.deleted and message.flat_buttons:
                return message
        return None

    def keyboard(self, tag: int) -> LocalMessage | None:
        """The message numbered ``tag``, while it is one of the last ``history`` messages
        with a keyboard and not deleted (its keyboard may since have been edited away)."""
        message_id = self.keyboards.get(tag)
        message = None if message_id is None else self.messages.get(message_id)
        return None if message is None or message.deleted else message

    def number(self, message: LocalMessage) -> None:
        """Give a message that shows a keyboard its number, unless it still has one."""
        if not message.flat_buttons or (message.tag is not None and message.tag in self.keyboards):
            return
        self.tags_given += 1
        message.tag = self.tags_given
        self.keyboards[message.tag] = message.message_id
        while len(self.keyboards) > self.history:
            del self.keyboards[next(iter(self.keyboards))]


EventKind = Literal["message", "edit", "toast", "commands"]


@dataclass(frozen=True)
class LocalEvent:
    """Something the bot did that the person would see."""

    kind: EventKind
    chat_id: int | None = None
    message: LocalMessage | None = None
    reply_keyboard: list[list[ReplyButton]] | None = None  # sent with this message
    removes_keyboard: bool = False
    text: str = ""  # the toast of a callback answer
    alert: bool = False
    commands: tuple[tuple[str, str], ...] = ()


Listener = Callable[[LocalEvent], None]


def _inline_rows(markup: Any) -> list[Any]:
    """The inline keyboard of a reply_markup parameter, as sent (JSON rows)."""
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard")
    return rows if isinstance(rows, list) else []


def _inline_buttons(markup: Any) -> list[list[InlineButton]]:
    rows = _inline_rows(markup)
    return [
        [
            InlineButton(
                text=str(b.get("text", "")),
                callback_data=b.get("callback_data"),
                url=b.get("url"),
            )
            for b in row
        ]
        for row in rows
    ]


def _reply_buttons(markup: Any) -> list[list[ReplyButton]] | None:
    if not isinstance(markup, dict) or "keyboard" not in markup:
        return None
    return [
        [
            ReplyButton(text=str(b.get("text", "")), request_contact=bool(b.get("request_contact")))
            if isinstance(b, dict)
            else ReplyButton(text=str(b))
            for b in row
        ]
        for row in markup["keyboard"]
    ]


class LocalSession(BaseSession):
    """An in-process Bot API: answers the Bot's calls and reports them to ``listener``."""

    def __init__(self, *, listener: Listener | None = None, files_dir: Path | None = None) -> None:
        super().__init__()
        self.listener = listener
        # Where an uploaded document or photo (a /report workbook, its chart) is saved, so the
        # demo's user can open it: it outlives the demo's temporary database.
        self.files_dir = files_dir or Path.cwd() / "congdoan-demo-files"
        self._files: dict[str, Any] = {}
        self.chats: dict[int, LocalChat] = {}
        self.calls: list[str] = []  # Bot API method names, in order
        self.bot_user: JsonDict = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_NAME,
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # -- what a driver uses ----------------------------------------------------------------

    def chat(self, chat_id: int) -> LocalChat:
        if chat_id not in self.chats:
            self.chats[chat_id] = LocalChat(chat_id)
        return self.chats[chat_id]

    def take_message_id(self, chat_id: int) -> int:
        """Message ids are per chat and shared by both sides, as in a Telegram private chat."""
        return self.chat(chat_id).take_message_id()

    # -- BaseSession ---------------------------------------------------------------------------

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 (BaseSession's signature)
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("the local channel has no files to download")
        yield b""  # pragma: no cover

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> TelegramType:
        self.calls.append(method.__api_method__)
        params = self._params(bot, method)
        try:
            result = self._handle(method, params)
            body: JsonDict = {"ok": True, "result": result}
            status = 200
        except LocalChannelError as exc:
            body = {"ok": False, "error_code": exc.status, "description": exc.description}
            status = exc.status
        response = self.check_response(
            bot=bot, method=method, status_code=status, content=json.dumps(body)
        )
        return cast(TelegramType, response.result)

    def _params(self, bot: Bot, method: TelegramMethod[Any]) -> JsonDict:
        """The call's parameters as Telegram receives them (defaults resolved, JSON values)."""
        files: dict[str, Any] = {}
        params: JsonDict = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                params[key] = prepared
        self._files = files
        return params

    # -- the methods ---------------------------------------------------------------------------

    def _handle(self, method: TelegramMethod[Any], params: JsonDict) -> Any:
        if isinstance(method, GetMe):
            return self.bot_user
        if isinstance(method, SendMessage):
            return self._send_message(params)
        if isinstance(method, EditMessageText | EditMessageReplyMarkup):
            return self._edit_message(params, text_too=isinstance(method, EditMessageText))
        if isinstance(method, AnswerCallbackQuery):
            text = str(params.get("text") or "")
            if text:
                self._emit(LocalEvent("toast", text=text, alert=bool(params.get("show_alert"))))
            return True
        if isinstance(method, SendDocument | SendPhoto):
            return self._send_file(
                params, "document" if isinstance(method, SendDocument) else "photo"
            )
        if isinstance(method, SetMyCommands):
            return self._set_commands(params)
        if isinstance(method, DeleteMessage):
            message = self._find(params)
            message.deleted = True
            return True
        if isinstance(
            method, DeleteWebhook | DeleteMyCommands | SendChatAction | SetChatMenuButton
        ):
            return True
        raise LocalChannelError(404, f"Not Found: {method.__api_method__} is not available locally")

    def _send_file(self, params: JsonDict, field_name: str) -> Any:
        """Save the upload under ``files_dir`` and show its caption with where it is."""
        ref = str(params.get(field_name, ""))
        upload = self._files.get(ref.removeprefix("attach://"))
        if upload is None:
            raise LocalChannelError(400, f"Bad Request: there is no {field_name} in the request")
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / Path(upload.filename or f"{field_name}.bin").name
        path.write_bytes(upload.data)
        caption = str(params.get("caption") or "")
        text = f"{caption}\n📎 {path}" if caption else f"📎 {path}"
        return self._send_message({**params, "text": text})

    def _chat_id(self, params: JsonDict) -> int:
        try:
            return int(params["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise LocalChannelError(400, "Bad Request: chat not found") from None

    def _send_message(self, params: JsonDict) -> JsonDict:
        chat_id = self._chat_id(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise LocalChannelError(400, "Bad Request: message text is empty")
        parse_mode = params.get("parse_mode")
        try:
            visible = plain_text(text, parse_mode)
        except ValueError as exc:
            raise LocalChannelError(400, f"Bad Request: can't parse entities: {exc}") from None
        chat = self.chat(chat_id)
        markup = params.get("reply_markup")
        buttons = _inline_buttons(markup)
        raw: JsonDict = {
            "message_id": chat.take_message_id(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self.bot_user,
            "text": visible,
        }
        if buttons:
            raw["reply_markup"] = {"inline_keyboard": _inline_rows(markup)}
        message = LocalMessage(chat_id, raw["message_id"], text, parse_mode, buttons, raw)
        chat.messages[message.message_id] = message
        chat.number(message)
        reply = _reply_buttons(markup)
        removes = isinstance(markup, dict) and bool(markup.get("remove_keyboard"))
        if reply is not None:
            chat.reply_keyboard = reply
        elif removes:
            chat.reply_keyboard = None
        self._emit(
            LocalEvent(
                "message",
                chat_id=chat_id,
                message=message,
                reply_keyboard=reply,
                removes_keyboard=removes,
            )
        )
        return raw

    def _find(self, params: JsonDict) -> LocalMessage:
        if params.get("inline_message_id"):
            raise LocalChannelError(400, "Bad Request: inline messages are not used here")
        chat = self.chats.get(self._chat_id(params))
        message = None if chat is None else chat.messages.get(int(params.get("message_id", 0)))
        if message is None or message.deleted:
            raise LocalChannelError(400, "Bad Request: message to edit not found")
        return message

    def _edit_message(self, params: JsonDict, *, text_too: bool) -> JsonDict:
        message = self._find(params)
        markup = params.get("reply_markup")
        buttons = _inline_buttons(markup)
        text, parse_mode = message.text, message.parse_mode
        if text_too:
            text = str(params.get("text") or "")
            if not text.strip():
                raise LocalChannelError(400, "Bad Request: message text is empty")
            parse_mode = params.get("parse_mode")
        if text == message.text and buttons == message.buttons:
            raise LocalChannelError(400, NOT_MODIFIED)
        try:
            visible = plain_text(text, parse_mode)
        except ValueError as exc:
            raise LocalChannelError(400, f"Bad Request: can't parse entities: {exc}") from None
        message.text, message.parse_mode, message.buttons = text, parse_mode, buttons
        message.edits += 1
        raw = dict(message.raw)
        raw["text"] = visible
        raw["edit_date"] = int(time.time())
        raw.pop("reply_markup", None)
        if buttons:
            raw["reply_markup"] = {"inline_keyboard": _inline_rows(markup)}
        message.raw = raw
        self.chat(message.chat_id).number(message)
        self._emit(LocalEvent("edit", chat_id=message.chat_id, message=message))
        return raw

    def _set_commands(self, params: JsonDict) -> bool:
        commands = tuple(
            (str(c.get("command", "")), str(c.get("description", "")))
            for c in params.get("commands") or []
        )
        scope = params.get("scope") or {}
        chat_id = scope.get("chat_id") if isinstance(scope, dict) else None
        if chat_id is not None:
            self.chat(int(chat_id)).commands = list(commands)
        self._emit(
            LocalEvent("commands", chat_id=int(chat_id) if chat_id else None, commands=commands)
        )
        return True

    def _emit(self, event: LocalEvent) -> None:
        if self.listener is not None:
            self.listener(event)
