"""my_chat_member updates: the member blocked or unblocked the bot."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatMemberUpdated
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.actors import Actor
from bot.services.reachability import set_reachable

GONE = {"kicked", "left"}


async def on_my_chat_member(event: ChatMemberUpdated, session: AsyncSession, actor: Actor) -> None:
    await set_reachable(session, actor=actor, reachable=event.new_chat_member.status not in GONE)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="reachability")
    router.my_chat_member.register(on_my_chat_member)
    return router
