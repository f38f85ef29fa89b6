"""Admin router: assigning roles."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import roles
from bot.services.actors import Actor
from bot.texts import label, render
from handlers.filters import IsAdmin
from handlers.ui import Replies
from handlers.views import chat_id, command_menu


async def cmd_role(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    """``/role PHONE officer|member|admin [UNIT-CODE]``: the admin is answered; the person is
    told, and their command menu follows their new role."""
    me = chat_id(actor)
    request = roles.parse_role_args(command.args)
    if request is None:
        replies.send(me, render("officer/role.txt", actor.locale, outcome="usage"))
        return
    change = await roles.set_role(
        session,
        actor=actor,
        phone=request.phone,
        role=request.role,
        unit_code=request.unit_code,
    )
    role = change.role.value if change.role else ""
    told = await roles.tell_new_role(session, change=change, actor=actor)
    text = render(
        "officer/role.txt",
        actor.locale,
        outcome=change.outcome.value,
        person=change.person,
        role=label("role_name", actor.locale, role=role) if role else "",
        scope=change.scope,
        told=told,
        linked=len(change.reached) or told,
    )
    replies.send(me, text)
    # Telegram keeps a command menu per chat: those of the person's chats on this channel.
    for target in change.reached:
        replies.commands(chat_id(target), command_menu(target))


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.message.register(cmd_role, Command("role"))
    return router
