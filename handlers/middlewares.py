"""The unit of work around every update: one session, the actor, the replies, the inbox mark.

Order of events for one update: open a write session → load the sender → run the handler →
mark the inbox row handled, with the replies the handler queued → commit → hand the replies
to the inbox runner (through ``handling``), which sends them.  The mark is the last statement,
so the database's write lock is taken as late as the handler's own writes allow.  On an error
the transaction is rolled back and the error goes up to the runner, which retries the update
before anything later of the same chat and sets it aside after its last attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram_replies import Handling, ReplyCall, encode
from bot.services.actors import Actor, load_actor
from handlers.ui import Replies
from storage import inbox, outbox
from storage.db import Database
from storage.models import Channel, utcnow
from storage.redact import safe_traceback

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ChatAdapter(Protocol):
    """What a channel without Telegram's buttons adds to the unit of work."""

    async def rewrite(self, update: Update, *, actor: Actor, session: AsyncSession) -> Update:
        """The update as the routers should read it (a typed choice becomes its press)."""

    def prepare(self, calls: list[ReplyCall], *, actor: Actor) -> list[ReplyCall]:
        """The replies as the channel sends them; may change the chat (in this transaction)."""


#: A person on two channels is written to on the one they last wrote from; the time of use is
#: written at most this often per chat (not a write per message).
USE_GRAIN = dt.timedelta(minutes=10)


def _note_use(actor: Actor) -> None:
    chat = actor.chat
    if not actor.linked:
        return
    now = utcnow()
    used = chat.used_at
    if used is None or now - (used if used.tzinfo else used.replace(tzinfo=dt.UTC)) > USE_GRAIN:
        chat.used_at = now


class _AlreadyHandled(Exception):
    """Another run handled the update first: roll this one back."""


class UnitOfWork(BaseMiddleware):
    def __init__(
        self,
        db: Database,
        *,
        channel: Channel,
        locale: str,
        wake_delivery: Callable[[], None] | None = None,
        adapter: ChatAdapter | None = None,
    ) -> None:
        self.db = db
        self.channel = channel
        self.locale = locale
        # A channel without buttons (Zalo) reads typed choices and reshapes the replies.
        self.adapter = adapter
        # Called after a commit that queued deliveries (an urgent case's alert, ...).
        self.wake_delivery = wake_delivery

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            raise TypeError("the unit of work wraps whole updates")
        user: User | None = data.get("event_from_user")
        chat = data.get("event_chat")
        inbox_id: int | None = data.get("inbox_id")
        handling: Handling = data.get("handling") or Handling()
        replies = Replies()
        data["replies"] = replies
        if user is None or user.is_bot or (chat is not None and chat.type != "private"):
            # Only private chats with people; mark the update handled and ignore it.
            if inbox_id is not None:
                async with self.db.session(write=True) as session:
                    handling.done = await inbox.mark_handled(
                        session, inbox_id=inbox_id, replies=None
                    )
            return UNHANDLED
        result: Any = UNHANDLED
        try:
            async with self.db.session(write=True) as session:
                # The chat as its channel names it: Telegram's is the user id; a channel whose
                # ids are not numbers (Zalo) hands it over with the update.
                external_id = data.get("external_id") or str(user.id)
                actor = await load_actor(
                    session, channel=self.channel, external_id=external_id, locale=self.locale
                )
                handling.locale = actor.locale
                _note_use(actor)
                data["session"] = session
                data["actor"] = actor
                if self.adapter is not None:
                    event = await self.adapter.rewrite(event, actor=actor, session=session)
                result = await handler(event, data)
                calls = list(replies.calls)
                if self.adapter is not None:
                    calls = self.adapter.prepare(calls, actor=actor)
                if inbox_id is not None and not await inbox.mark_handled(
                    session, inbox_id=inbox_id, replies=encode(calls) if calls else None
                ):
                    raise _AlreadyHandled
        except _AlreadyHandled:
            return UNHANDLED
        handling.calls = calls
        handling.done = True
        if session.info.get(outbox.WRITTEN) and self.wake_delivery is not None:
            replies.then(self.wake_delivery)
        for action in replies.after_commit:
            try:
                action()
            except Exception as exc:  # waking a worker must not undo a committed update
                log.error(
                    "an after-commit action of update %s failed: %s",
                    event.update_id,
                    safe_traceback(exc),
                )
        return result
