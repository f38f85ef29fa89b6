"""What the inbox runner asks of a channel: how to read a stored update, how to send replies.

The runner (:class:`bot.channels.telegram.InboxRunner`) keeps the guarantees (stored before
confirmed, once, in order per chat, retried, set aside, replies sent after the commit) for every
channel; a channel gives it an :class:`InboundCodec` and a :class:`Replier`.  Telegram's codec
reads the update as aiogram's ``Update``; Zalo's makes one of a Zalo message, so that the same
routers and unit of work serve both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from storage.models import Channel

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.types import Update

    from bot.channels.telegram_replies import ReplyCall, ReplySettings, ReplyStats


class InboundCodec(Protocol):
    channel: Channel

    def sender(self, payload: Any) -> str | None:
        """The chat an update comes from, as its channel names it (the update's lane); None
        for an update of no private chat."""

    def callback_id(self, payload: Any) -> str | None:
        """The button press an apology must answer, if the platform has such a thing."""

    def to_update(self, payload: Any, *, inbox_id: int, bot: Bot) -> tuple[Update, dict[str, Any]]:
        """The update for the Dispatcher, and what the handlers are given with it; raises
        ``ValueError`` for a payload that cannot be read (it is set aside)."""


class Replier(Protocol):
    stats: ReplyStats
    settings: ReplySettings

    async def send_all(self, calls: Sequence[ReplyCall]) -> bool:
        """Send one update's replies in order; False when one could not be delivered."""
