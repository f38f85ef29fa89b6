"""The last router: commands someone may not use, unknown commands, and stray messages."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.services.actors import Actor
from bot.texts import render
from handlers.filters import CommandText
from handlers.ui import Replies
from handlers.views import ADMIN_COMMANDS, OFFICER_COMMANDS, chat_id


async def on_other_command(message: Message, actor: Actor, replies: Replies) -> None:
    name = (message.text or "/").split()[0][1:].split("@")[0].lower()
    me = chat_id(actor)
    if name in OFFICER_COMMANDS or name in ADMIN_COMMANDS:
        replies.send(me, render("member/forbidden.txt", actor.locale))
    elif name == "surveys" and not actor.linked:
        replies.send(me, render("member/not_linked.txt", actor.locale))
    else:
        replies.send(me, render("member/unknown.txt", actor.locale, command=True))


async def on_other_message(message: Message, actor: Actor, replies: Replies) -> None:
    template = "member/unknown.txt" if actor.linked else "member/not_linked.txt"
    replies.send(chat_id(actor), render(template, actor.locale, command=False))


async def on_other_button(query: CallbackQuery, actor: Actor, replies: Replies) -> None:
    """Forged, foreign or outdated callback data: answered, nothing changes."""
    replies.answer(query.id, render("stale.txt", actor.locale))


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="fallback")
    router.message.register(on_other_command, CommandText())
    router.message.register(on_other_message)
    router.callback_query.register(on_other_button)
    return router
