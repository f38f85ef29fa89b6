"""Filters: which updates a handler may see, by role and by the message's content.

Every filter here is a coroutine (aiogram's ``Filter``).  aiogram runs a plain callable, such
as a magic filter (``F.text``), on a worker thread (``asyncio.to_thread``): a thread hand-off
per check, several per message, which under load cost more than the whole check.
"""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import Message, TelegramObject

from bot.services.actors import Actor


class IsOfficer(Filter):
    """An officer (of a unit) or an admin, linked to the roster."""

    async def __call__(self, event: TelegramObject, actor: Actor) -> bool:
        return actor.is_officer


class IsAdmin(Filter):
    async def __call__(self, event: TelegramObject, actor: Actor) -> bool:
        return actor.is_admin


class IsLinked(Filter):
    async def __call__(self, event: TelegramObject, actor: Actor) -> bool:
        return actor.linked


class PlainText(Filter):
    """A text message that is not a command."""

    async def __call__(self, message: Message) -> bool:
        text = message.text
        return text is not None and not text.startswith("/")


class NoText(Filter):
    """A message without text: a sticker, photo, voice message, file, location…"""

    async def __call__(self, message: Message) -> bool:
        return message.text is None


class CommandText(Filter):
    """A text message that is a command (whichever: the routers before have taken theirs)."""

    async def __call__(self, message: Message) -> bool:
        text = message.text
        return text is not None and text.startswith("/")


class HasContact(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.contact is not None


class HasFile(Filter):
    """A photo or a document."""

    async def __call__(self, message: Message) -> bool:
        return bool(message.photo) or message.document is not None
