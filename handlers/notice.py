"""Notices in chat: the officer's composer (/notice), /notices with live counts, and the
member's "Đã nắm" button."""

from __future__ import annotations

from aiogram import Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.notices import service as notices
from bot.services.actors import Actor
from bot.services.composer import Composer, ComposeView
from bot.services.conversation import Conversation
from bot.texts import render
from handlers import keyboards
from handlers.callbacks import AckCb, ComposeCb, NoticeDetailCb, NoticeRemindCb
from handlers.filters import HasFile, IsLinked, IsOfficer, PlainText
from handlers.ui import Replies
from handlers.views import chat_id


def show(replies: Replies, actor: Actor, view: ComposeView, *, edit: int | None = None) -> None:
    """Queue what a composer step shows."""
    locale, me = actor.locale, chat_id(actor)
    if view.confirmed is not None:
        replies.send(me, render("notice/confirmed.txt", locale, confirmed=view.confirmed))
        if view.step is None:
            return
    if view.step is None:
        replies.send(me, render("notice/compose_closed.txt", locale, cancelled=view.cancelled))
        return
    if view.preview is not None:
        text = render("notice/preview.txt", locale, preview=view.preview)
    else:
        text = render("notice/compose.txt", locale, view=view)
    markup = keyboards.compose(view, locale)
    if edit is not None:
        replies.edit(me, edit, text, markup)
    else:
        replies.send(me, text, markup)


async def cmd_notice(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies, composer: Composer
) -> None:
    show(replies, actor, await composer.start(session, actor=actor))


async def on_compose_text(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies, composer: Composer
) -> None:
    if actor.chat.compose_notice_id is None:
        raise SkipHandler
    # Formatting made with Telegram's own tools arrives as entities: turn it into HTML. Without
    # entities the text is taken as typed, so tags written by hand (<b>…</b>) are the markup.
    source = message.html_text if message.entities else message.text
    view = await composer.text(session, actor=actor, text=source or "")
    if view.step is None and view.confirmed is None and not view.cancelled:
        raise SkipHandler
    show(replies, actor, view)


async def on_compose_file(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies, composer: Composer
) -> None:
    if actor.chat.compose_notice_id is None:
        raise SkipHandler
    if message.photo:
        kind, ref = "photo", message.photo[-1].file_id
    elif message.document:
        kind, ref = "document", message.document.file_id
    else:
        raise SkipHandler
    show(replies, actor, await composer.attach(session, actor=actor, kind=kind, ref=ref))


async def on_compose_button(
    query: CallbackQuery,
    callback_data: ComposeCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    composer: Composer,
) -> None:
    view = await composer.press(
        session, actor=actor, notice_id=callback_data.n, action=callback_data.action
    )
    if view.step is None and view.error == "stale":
        replies.answer(query.id, render("stale.txt", actor.locale))
        return
    replies.answer(query.id)
    message_id = query.message.message_id if query.message is not None else None
    in_place = view.step is not None and view.confirmed is None
    show(replies, actor, view, edit=message_id if in_place else None)


async def cmd_notices(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    items = await notices.list_for(session, actor=actor, tz=conversation.tz)
    text = render("notice/list.txt", actor.locale, notices=items)
    ids = [item.id for item in items]
    replies.send(chat_id(actor), text, keyboards.notices_list(ids, actor.locale))


async def on_notice_detail(
    query: CallbackQuery,
    callback_data: NoticeDetailCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    found = await notices.detail(
        session, actor=actor, notice_id=callback_data.n, tz=conversation.tz
    )
    if found is None:
        replies.answer(query.id, render("stale.txt", actor.locale))
        return
    replies.answer(query.id)
    text = render("notice/detail.txt", actor.locale, detail=found)
    replies.send(chat_id(actor), text, keyboards.notice_detail(found, actor.locale))


async def on_notice_remind(
    query: CallbackQuery,
    callback_data: NoticeRemindCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
    ack_policy: notices.AckReminderPolicy,
    default_locale: str,
) -> None:
    """ "Nhắc người chưa nắm": a reminder to each who has not acknowledged, once a day."""
    result = await notices.remind_unacknowledged(
        session,
        actor=actor,
        notice_id=callback_data.n,
        policy=ack_policy,
        tz=conversation.tz,
        default_locale=default_locale,
    )
    text = render("notice/reminded.txt", actor.locale, result=result)
    replies.answer(query.id, text, alert=True)


async def on_ack(
    query: CallbackQuery,
    callback_data: AckCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    """ "Đã nắm": recorded once however often it is pressed; foreign or forged ids do nothing."""
    ack = await notices.acknowledge(session, actor=actor, delivery_id=callback_data.d)
    text = render(
        "notice/acknowledged.txt", actor.locale, outcome=ack.outcome.value, title=ack.title
    )
    replies.answer(query.id, text)
    if ack.outcome != notices.AckOutcome.NOT_FOUND and query.message is not None:
        acked = keyboards.acked_markup(callback_data.d, actor.locale)
        replies.markup(chat_id(actor), query.message.message_id, acked)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="notice")
    router.message.register(cmd_notice, Command("notice"), IsOfficer())
    router.message.register(cmd_notices, Command("notices"), IsOfficer())
    router.message.register(on_compose_text, PlainText(), IsOfficer())
    router.message.register(on_compose_file, HasFile(), IsOfficer())
    router.callback_query.register(on_compose_button, ComposeCb.filter(), IsOfficer())
    router.callback_query.register(on_notice_detail, NoticeDetailCb.filter(), IsOfficer())
    router.callback_query.register(on_notice_remind, NoticeRemindCb.filter(), IsOfficer())
    router.callback_query.register(on_ack, AckCb.filter(), IsLinked())
    return router
