"""Admin router: assigning roles; closing a year's indicator figures."""

from __future__ import annotations

import datetime as dt

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.indicators import Catalog
from bot.reports.audit import admin_export
from bot.roster import parse_day
from bot.services import roles, years
from bot.services.actors import Actor
from bot.services.conversation import Conversation
from bot.texts import label, render
from handlers import keyboards
from handlers.callbacks import YearCloseCb
from handlers.filters import IsAdmin
from handlers.ui import Replies
from handlers.views import chat_id, command_menu
from storage.models import Channel


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


async def cmd_year_close(
    message: Message,
    command: CommandObject,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """``/dongnam YEAR``: asks first (closing cannot be undone); the button closes it."""
    me, locale = chat_id(actor), actor.locale
    words = (command.args or "").split()
    this_year = conversation.year_now()
    if len(words) != 1 or not words[0].isdigit() or len(words[0]) != 4:
        text = render("admin/year_close.txt", locale, outcome="usage", year=this_year - 1, day=None)
        replies.send(me, text)
        return
    year = int(words[0])
    if year >= this_year:
        text = render("admin/year_close.txt", locale, outcome="not_past", year=year, day=None)
        replies.send(me, text)
        return
    text = render("admin/year_close.txt", locale, outcome="ask", year=year, day=None)
    replies.send(me, text, keyboards.year_close(year, locale))


async def on_year_close(
    query: CallbackQuery,
    callback_data: YearCloseCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
    indicator_catalog: Catalog,
) -> None:
    """The answer to /dongnam's question: the service re-checks the year (past, not closed)."""
    year = callback_data.year
    if not callback_data.ok:
        outcome, day = "cancelled", None
    else:
        closing = await years.close_year(
            session,
            year=year,
            catalog=indicator_catalog,
            now=dt.datetime.now(dt.UTC),
            tz=conversation.tz,
            actor_id=actor.person.id if actor.person is not None else None,
            via="chat",
        )
        outcome = closing.outcome.value
        day = closing.closed.closed_on if closing.closed is not None else None
    text = render("admin/year_close.txt", actor.locale, outcome=outcome, year=year, day=day)
    replies.answer(query.id)
    if query.message is not None:
        replies.edit(chat_id(actor), query.message.message_id, text)
    else:
        replies.send(chat_id(actor), text)


async def cmd_audit(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """``/audit [DD/MM/YYYY]``: the audit trail (from that local day) as a workbook; the
    export is itself recorded.  Zalo sends no files: said, not attempted."""
    me, locale = chat_id(actor), actor.locale
    if actor.chat.channel == Channel.ZALO:
        replies.send(me, render("admin/audit.txt", locale, outcome="zalo", rows=0, since=None))
        return
    since = parse_day(command.args) if command.args else None
    if command.args and since is None:
        replies.send(me, render("admin/audit.txt", locale, outcome="usage", rows=0, since=None))
        return
    export = await admin_export(session, actor=actor, since=since, tz=conversation.tz)
    if export is None:
        return
    outcome = "sent" if export.rows else "empty"
    text = render("admin/audit.txt", locale, outcome=outcome, rows=export.rows, since=since)
    if not export.rows:
        replies.send(me, text)
        return
    today = dt.datetime.now(conversation.tz).date()
    replies.document(me, f"nhat-ky-du-lieu-{today:%Y%m%d}.xlsx", export.data, text)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="admin")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.message.register(cmd_role, Command("role"))
    router.message.register(cmd_audit, Command("audit"))
    router.message.register(cmd_year_close, Command("dongnam"))
    router.callback_query.register(on_year_close, YearCloseCb.filter())
    return router
