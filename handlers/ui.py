"""Replies collected during an update and sent only after its transaction is committed.

A handler never calls the Bot directly: it queues what to send here.  The unit-of-work
middleware commits first and then flushes, so a member never sees an answer accepted that the
database does not hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.delivery.split import split_for_telegram

log = logging.getLogger(__name__)

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply | None


@dataclass
class _Item:
    kind: Literal["send", "edit", "markup", "answer", "commands", "document", "photo"]
    chat_id: int = 0
    text: str = ""
    markup: Markup = None
    message_id: int = 0
    callback_id: str = ""
    alert: bool = False
    commands: list[BotCommand] = field(default_factory=list)
    data: bytes = b""  # a document's or photo's bytes (the text is its caption)
    filename: str = ""


class Replies:
    """What to send once the update's work is committed, and what to do then."""

    def __init__(self) -> None:
        self.items: list[_Item] = []
        self.after_commit: list[Callable[[], None]] = []

    def send(self, chat_id: int, text: str, markup: Markup = None) -> None:
        self.items.append(_Item("send", chat_id=chat_id, text=text, markup=markup))

    def edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        self.items.append(
            _Item("edit", chat_id=chat_id, message_id=message_id, text=text, markup=markup)
        )

    def document(self, chat_id: int, filename: str, data: bytes, caption: str = "") -> None:
        """Upload a file (a report workbook) with an HTML caption."""
        self.items.append(
            _Item("document", chat_id=chat_id, text=caption, data=data, filename=filename)
        )

    def photo(self, chat_id: int, filename: str, data: bytes, caption: str = "") -> None:
        """Upload a picture (a chart) with an HTML caption."""
        self.items.append(
            _Item("photo", chat_id=chat_id, text=caption, data=data, filename=filename)
        )

    def markup(self, chat_id: int, message_id: int, markup: InlineKeyboardMarkup) -> None:
        """Change only the buttons of a message."""
        self.items.append(_Item("markup", chat_id=chat_id, message_id=message_id, markup=markup))

    def answer(self, callback_id: str, text: str = "", alert: bool = False) -> None:
        self.items.append(_Item("answer", callback_id=callback_id, text=text, alert=alert))

    def commands(self, chat_id: int, commands: list[BotCommand]) -> None:
        self.items.append(_Item("commands", chat_id=chat_id, commands=commands))

    def then(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the transaction is committed (e.g. wake the delivery worker)."""
        self.after_commit.append(action)

    def clear(self) -> None:
        self.items.clear()
        self.after_commit.clear()

    async def flush(self, bot: Bot) -> None:
        actions, self.after_commit = self.after_commit, []
        for action in actions:
            action()
        items, self.items = self.items, []
        for item in items:
            try:
                await self._send(bot, item)
            except TelegramForbiddenError:
                log.info("chat %s blocked the bot; reply dropped", item.chat_id)
            except TelegramBadRequest as exc:
                if "message is not modified" in str(exc):
                    continue
                if item.kind == "markup":
                    continue  # an old message whose buttons can no longer change
                if item.kind == "edit":
                    # The message is too old to edit, or gone: send the text anew.
                    await bot.send_message(item.chat_id, item.text, reply_markup=item.markup)
                elif item.kind == "answer":
                    log.info("callback answer refused: %s", exc)
                else:
                    log.warning("Telegram refused a %s: %s", item.kind, exc)
            except TelegramAPIError as exc:
                log.warning("Telegram error on %s: %s", item.kind, exc)

    @staticmethod
    async def _send(bot: Bot, item: _Item) -> None:
        if item.kind == "send":
            # A long reply (a whole /stats table) goes in parts, cut between paragraphs with
            # its tags closed and reopened; the buttons come with the last part.
            parts = split_for_telegram(item.text)
            for index, part in enumerate(parts):
                markup = item.markup if index == len(parts) - 1 else None
                await bot.send_message(item.chat_id, part, reply_markup=markup)
        elif item.kind == "edit":
            markup = item.markup if isinstance(item.markup, InlineKeyboardMarkup) else None
            await bot.edit_message_text(
                text=item.text,
                chat_id=item.chat_id,
                message_id=item.message_id,
                reply_markup=markup,
            )
        elif item.kind == "markup":
            markup = item.markup if isinstance(item.markup, InlineKeyboardMarkup) else None
            await bot.edit_message_reply_markup(
                chat_id=item.chat_id, message_id=item.message_id, reply_markup=markup
            )
        elif item.kind == "document":
            upload = BufferedInputFile(item.data, filename=item.filename)
            await bot.send_document(item.chat_id, upload, caption=item.text or None)
        elif item.kind == "photo":
            upload = BufferedInputFile(item.data, filename=item.filename)
            await bot.send_photo(item.chat_id, upload, caption=item.text or None)
        elif item.kind == "answer":
            await bot.answer_callback_query(
                item.callback_id, text=item.text or None, show_alert=item.alert
            )
        else:
            await bot.set_my_commands(
                item.commands, scope=BotCommandScopeChat(chat_id=item.chat_id)
            )
