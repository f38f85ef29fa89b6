"""Admin router: assigning roles."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import roles
from bot.services.actors import Actor
from bot.texts import render
from handlers.filters import IsAdmin
from handlers.ui import Replies
from handlers.views import chat_id


async def cmd_role(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    words = (command.args or "").split()
    if len(words) < 2:
        replies.send(chat_id(actor), render("officer/role.txt", actor.locale, outcome="usage"))
        return
    change = await roles.set_role(
        session,
        actor=actor,
        phone=words[0],
        role=words[1].lower(),
        unit_code=words[2] if len(words) > 2 else None,
    )
    text = render(
        "officer/role.txt",
        actor.locale,
        outcome=change.outcome.value,
        person=change.person,
        role=change.role.value if change.role else "",
    )
    replies.send(chat_id(actor), text)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.message.register(cmd_role, Command("role"))
    return router
