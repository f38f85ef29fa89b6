"""Survey router: opening a survey, answering by button or by text, back, submit, stop."""

from __future__ import annotations

from aiogram import Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.actors import Actor
from bot.services.conversation import Conversation, Screen, ScreenKind
from bot.texts import render
from handlers import keyboards
from handlers.callbacks import (
    AnswerCb,
    BackCb,
    DoneCb,
    SkipCb,
    StopCb,
    SubmitCb,
    SurveyOpenCb,
    ToggleCb,
)
from handlers.filters import IsLinked, NoText, PlainText
from handlers.ui import Replies
from handlers.views import chat_id, show_screen


async def cmd_surveys(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    offers = await conversation.offers(session, actor=actor)
    text = render("survey/list.txt", actor.locale, offers=offers)
    replies.send(chat_id(actor), text, keyboards.offers(offers, actor.locale))


def _stale(query: CallbackQuery, actor: Actor, replies: Replies, view: Screen) -> None:
    """A button of an older screen: the notice, then where the member is now (the current
    question or the summary, or a pointer to /surveys), sent anew: the pressed message may be
    far up the chat, and it is left as it is."""
    replies.answer(query.id, render("stale.txt", actor.locale))
    show_screen(replies, actor, view.resume or view)


def _respond(query: CallbackQuery, actor: Actor, replies: Replies, view: Screen) -> None:
    """After a button: the next screen in place of the pressed one; see ``_stale``."""
    if view.kind == ScreenKind.STALE:
        _stale(query, actor, replies, view)
        return
    replies.answer(query.id)
    message_id = query.message.message_id if query.message is not None else None
    in_place = view.kind in (
        ScreenKind.QUESTION,
        ScreenKind.SUMMARY,
        ScreenKind.DONE,
        ScreenKind.CONFIRM_STOP,
    )
    show_screen(replies, actor, view, edit_message_id=message_id if in_place else None)


async def on_open(
    query: CallbackQuery,
    callback_data: SurveyOpenCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    view = await conversation.open(
        session,
        actor=actor,
        run_id=callback_data.run or None,
        key=callback_data.key or None,
    )
    if view.kind == ScreenKind.STALE:
        _stale(query, actor, replies, view)
        return
    replies.answer(query.id)
    show_screen(replies, actor, view)


async def on_answer(
    query: CallbackQuery,
    callback_data: AnswerCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    view = await conversation.answer_option(
        session,
        actor=actor,
        response_id=callback_data.r,
        question_key=callback_data.q,
        option=callback_data.o,
    )
    _respond(query, actor, replies, view)


async def on_toggle(
    query: CallbackQuery,
    callback_data: ToggleCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    view = await conversation.toggle(
        session,
        actor=actor,
        response_id=callback_data.r,
        question_key=callback_data.q,
        option=callback_data.o,
    )
    _respond(query, actor, replies, view)


async def on_done(
    query: CallbackQuery,
    callback_data: DoneCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    view = await conversation.finish_multi(
        session, actor=actor, response_id=callback_data.r, question_key=callback_data.q
    )
    _respond(query, actor, replies, view)


async def on_skip(
    query: CallbackQuery,
    callback_data: SkipCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    view = await conversation.skip(
        session, actor=actor, response_id=callback_data.r, question_key=callback_data.q
    )
    _respond(query, actor, replies, view)


async def on_back(
    query: CallbackQuery,
    callback_data: BackCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    view = await conversation.back(session, actor=actor, response_id=callback_data.r)
    _respond(query, actor, replies, view)


async def on_submit(
    query: CallbackQuery,
    callback_data: SubmitCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """ "Gửi câu trả lời", or "Dừng khảo sát" (which asks first: ``on_stop``)."""
    if callback_data.send:
        view = await conversation.submit(session, actor=actor, response_id=callback_data.r)
    else:
        view = await conversation.ask_stop(session, actor=actor, response_id=callback_data.r)
    _respond(query, actor, replies, view)


async def on_stop(
    query: CallbackQuery,
    callback_data: StopCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """The answer to "stop this survey?": stopped, or back where the survey was."""
    if not callback_data.ok:
        view = await conversation.resume(session, actor=actor, response_id=callback_data.r)
        _respond(query, actor, replies, view)
        return
    view = await conversation.cancel(session, actor=actor, response_id=callback_data.r)
    if view.kind == ScreenKind.STALE:
        _stale(query, actor, replies, view)
        return
    replies.answer(query.id)
    if query.message is not None:
        show_screen(replies, actor, view, edit_message_id=query.message.message_id)


async def on_text(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """Typed text answers the question being asked (Zalo-style answers work here too)."""
    if actor.chat.active_response_id is None:
        raise SkipHandler
    view = await conversation.answer_text(session, actor=actor, text=message.text or "")
    if view.kind == ScreenKind.NONE:
        raise SkipHandler
    show_screen(replies, actor, view)


async def on_not_text(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """A sticker, photo, voice message… during a survey: it answers nothing; the current
    question again, under a note saying what is understood here."""
    if actor.chat.active_response_id is None:
        raise SkipHandler
    view = await conversation.current(session, actor=actor)
    if view.kind == ScreenKind.NONE:
        raise SkipHandler
    show_screen(replies, actor, view, note=render("survey/not_text.txt", actor.locale))


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="survey")
    router.message.register(cmd_surveys, Command("surveys"), IsLinked())
    router.callback_query.register(on_open, SurveyOpenCb.filter(), IsLinked())
    router.callback_query.register(on_answer, AnswerCb.filter(), IsLinked())
    router.callback_query.register(on_toggle, ToggleCb.filter(), IsLinked())
    router.callback_query.register(on_done, DoneCb.filter(), IsLinked())
    router.callback_query.register(on_skip, SkipCb.filter(), IsLinked())
    router.callback_query.register(on_back, BackCb.filter(), IsLinked())
    router.callback_query.register(on_submit, SubmitCb.filter(), IsLinked())
    router.callback_query.register(on_stop, StopCb.filter(), IsLinked())
    router.message.register(on_text, PlainText(), IsLinked())
    router.message.register(on_not_text, NoText(), IsLinked())
    return router
