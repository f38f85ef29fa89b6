"""The unit of work around every update: one session, the inbox mark, the actor, the replies.

Order of events for one update: claim its inbox row (skip if another run handled it) → load
the sender → run the handler → commit → send the queued replies.  On an error the transaction
is rolled back, the failure is counted on the inbox row, and the member gets a short apology
rather than a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update, User

from bot.services.actors import load_actor
from bot.texts import render
from handlers.ui import Replies
from storage import inbox
from storage.db import Database
from storage.models import Channel

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UnitOfWork(BaseMiddleware):
    def __init__(self, db: Database, *, channel: Channel, locale: str) -> None:
        self.db = db
        self.channel = channel
        self.locale = locale

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        user: User | None = data.get("event_from_user")
        chat = data.get("event_chat")
        inbox_id: int | None = data.get("inbox_id")
        replies = Replies()
        data["replies"] = replies
        if user is None or user.is_bot or (chat is not None and chat.type != "private"):
            # Only private chats with people; mark the update handled and ignore it.
            if inbox_id is not None:
                async with self.db.session() as session:
                    await inbox.claim_for_handling(session, inbox_id=inbox_id)
            return UNHANDLED
        result: Any = UNHANDLED
        try:
            async with self.db.session() as session:
                if inbox_id is not None and not await inbox.claim_for_handling(
                    session, inbox_id=inbox_id
                ):
                    return UNHANDLED
                actor = await load_actor(
                    session, channel=self.channel, external_id=str(user.id), locale=self.locale
                )
                data["session"] = session
                data["actor"] = actor
                result = await handler(event, data)
        except Exception as exc:
            log.exception("update %s failed", event.update_id)
            replies.clear()
            set_aside = True
            if inbox_id is not None:
                async with self.db.session() as session:
                    set_aside = await inbox.record_failure(
                        session, inbox_id=inbox_id, error=f"{type(exc).__name__}: {exc}"
                    )
            if not set_aside:
                raise
            replies.send(user.id, render("error.txt", self.locale))
            if event.callback_query is not None:
                replies.answer(event.callback_query.id)
        await replies.flush(bot)
        return result
