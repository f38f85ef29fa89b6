"""Replies collected during an update, recorded with it and sent only after its commit.

A handler never calls the Bot directly: it queues what to send here.  The unit-of-work
middleware stores the queued calls on the update's inbox row in the transaction of its effects
and commits; the inbox runner then sends them, paced and retried
(``bot.channels.telegram_replies``).  So a member never sees an answer accepted that the
database does not hold, and a reply lost in a crash is sent after the restart.
"""

from __future__ import annotations

from collections.abc import Callable

from aiogram.types import BotCommand, InlineKeyboardMarkup

from bot.channels.telegram_replies import Markup, ReplyCall, markup_json


class Replies:
    """What to send once the update's work is committed, and what to do then."""

    def __init__(self) -> None:
        self.calls: list[ReplyCall] = []
        self.after_commit: list[Callable[[], None]] = []

    def send(self, chat_id: str, text: str, markup: Markup | None = None) -> None:
        self.calls.append(ReplyCall("send", chat_id=chat_id, text=text, markup=markup_json(markup)))

    def edit(
        self, chat_id: str, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Change a message's text (and buttons); one too old to edit is sent anew."""
        self.calls.append(
            ReplyCall(
                "edit",
                chat_id=chat_id,
                message_id=message_id,
                text=text,
                markup=markup_json(markup),
            )
        )

    def document(self, chat_id: str, filename: str, data: bytes, caption: str = "") -> None:
        """Upload a file (a report workbook) with an HTML caption."""
        self.calls.append(
            ReplyCall("document", chat_id=chat_id, text=caption, data=data, filename=filename)
        )

    def photo(self, chat_id: str, filename: str, data: bytes, caption: str = "") -> None:
        """Upload a picture (a chart) with an HTML caption."""
        self.calls.append(
            ReplyCall("photo", chat_id=chat_id, text=caption, data=data, filename=filename)
        )

    def markup(self, chat_id: str, message_id: int, markup: InlineKeyboardMarkup) -> None:
        """Change only the buttons of a message."""
        self.calls.append(
            ReplyCall("markup", chat_id=chat_id, message_id=message_id, markup=markup_json(markup))
        )

    def answer(self, callback_id: str, text: str = "", alert: bool = False) -> None:
        self.calls.append(ReplyCall("answer", callback_id=callback_id, text=text, alert=alert))

    def commands(self, chat_id: str, commands: list[BotCommand]) -> None:
        self.calls.append(
            ReplyCall(
                "commands",
                chat_id=chat_id,
                commands=tuple((c.command, c.description) for c in commands),
            )
        )

    def then(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the transaction is committed (e.g. wake the delivery worker)."""
        self.after_commit.append(action)

    def clear(self) -> None:
        self.calls.clear()
        self.after_commit.clear()
