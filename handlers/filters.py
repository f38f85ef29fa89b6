"""Role filters: which updates an officer or admin handler may see."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject

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
