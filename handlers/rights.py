"""Members' rights over their data, in chat: access (/dulieu: a summary, then the whole as an
Excel or JSON file) and correction (/suadulieu: name, phone or unit, confirmed by an officer in
/corrections).

Before the member router: a member waiting to type a corrected value has their text (and
``/cancel``) taken here first; everything else passes on (``SkipHandler``).
"""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.personal import to_json, to_xlsx
from bot.services import corrections
from bot.services import personal_data as access
from bot.services.actors import Actor
from bot.services.conversation import Conversation
from bot.texts import render
from handlers import keyboards
from handlers.callbacks import CorrectionCb, CorrectionDecideCb, DataExportCb
from handlers.filters import IsOfficer, PlainText
from handlers.ui import Replies
from handlers.views import chat_id
from storage.models import Channel, utcnow
from surveys.phone import display_phone


def _files(actor: Actor) -> bool:
    """Whether the chat's channel takes files (Zalo's Bot API sends none)."""
    return actor.chat.channel != Channel.ZALO


async def _gather(
    session: AsyncSession, actor: Actor, conversation: Conversation
) -> access.PersonalData | None:
    assert actor.person is not None and actor.person.id is not None
    return await access.gather(
        session,
        person_id=actor.person.id,
        registry=conversation.registry,
        tz=conversation.tz,
        locale=actor.locale,
    )


async def _send_as_text(
    session: AsyncSession, actor: Actor, replies: Replies, data: access.PersonalData
) -> None:
    """A channel without files: the whole content as text (the reply sender cuts it into
    messages), the correction button under the last one; an export like a file's."""
    full = render("member/data_summary.txt", actor.locale, data=data, full=True, zalo=True)
    replies.send(chat_id(actor), full, keyboards.data_export(actor.locale, files=False))
    await access.record_export(session, actor=actor, fmt=access.TEXT_FORMAT)


async def cmd_data(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """``/dulieu``: what is held about the member, in short, with the file formats to choose
    from (on Zalo: the whole content as text right after)."""
    me, locale = chat_id(actor), actor.locale
    if not actor.linked:
        data = await access.gather_unlinked(session, chat=actor.chat, tz=conversation.tz)
        replies.send(me, render("member/data_unlinked.txt", locale, data=data))
        return
    found = await _gather(session, actor, conversation)
    if found is None:
        replies.send(me, render("stale.txt", locale))
        return
    zalo = not _files(actor)
    summary = render("member/data_summary.txt", locale, data=found, full=False, zalo=zalo)
    if zalo:
        replies.send(me, summary)
        await _send_as_text(session, actor, replies, found)
    else:
        replies.send(me, summary, keyboards.data_export(locale, files=True))


async def on_export(
    query: CallbackQuery,
    callback_data: DataExportCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """A format chosen under the summary: the file, built from the data as it is now."""
    me, locale = chat_id(actor), actor.locale
    if not actor.linked or callback_data.fmt not in access.FORMATS:
        replies.answer(query.id, render("stale.txt", locale))
        return
    data = await _gather(session, actor, conversation)
    if data is None:
        replies.answer(query.id, render("stale.txt", locale))
        return
    replies.answer(query.id)
    if not _files(actor):
        await _send_as_text(session, actor, replies, data)
        return
    fmt = callback_data.fmt
    # Building a workbook takes a moment of CPU: off the event loop.
    content = await asyncio.to_thread(to_xlsx, data, locale) if fmt == "xlsx" else to_json(data)
    name = f"du-lieu-ca-nhan-{data.made_at:%Y%m%d-%H%M}.{fmt}"
    caption = render("member/data_caption.txt", locale, fmt=fmt, made_at=data.made_at)
    replies.document(me, name, content, caption)
    await access.record_export(session, actor=actor, fmt=fmt)


async def _choose(session: AsyncSession, actor: Actor, replies: Replies) -> None:
    me, locale = chat_id(actor), actor.locale
    if not actor.linked or actor.person is None or actor.unit is None:
        replies.send(me, render("member/not_linked.txt", locale, command=True))
        return
    phone = display_phone(actor.person.phone) if actor.person.phone else None
    text = render(
        "member/correction_choose.txt", locale, person=actor.person, phone=phone, unit=actor.unit
    )
    replies.send(me, text, keyboards.correction_fields(locale))


async def cmd_correct(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies
) -> None:
    """``/suadulieu``: choose what to correct."""
    await _choose(session, actor, replies)


async def on_correction(
    query: CallbackQuery,
    callback_data: CorrectionCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    """A button of the correction: start, a field, or give up."""
    me, locale = chat_id(actor), actor.locale
    action = callback_data.action
    if action == "start":
        replies.answer(query.id)
        await _choose(session, actor, replies)
        return
    if action == "cancel":
        replies.answer(query.id)
        waiting = await corrections.cancel(session, actor=actor)
        replies.send(me, render("member/correction_cancelled.txt", locale, waiting=waiting))
        return
    try:
        field = corrections.Field(action)
    except ValueError:
        field = None
    if field is None or not actor.linked or actor.unit is None:
        replies.answer(query.id, render("stale.txt", locale))
        return
    replies.answer(query.id)
    ask = await corrections.choose(session, actor=actor, field=field)
    text = render(
        "member/correction_ask.txt",
        locale,
        field=ask.field.value,
        current=ask.current,
        district=ask.district,
    )
    replies.send(me, text, keyboards.correction_cancel(locale))


async def on_text(message: Message, session: AsyncSession, actor: Actor, replies: Replies) -> None:
    """The value of a field the member chose to correct; any other text passes on."""
    request = await corrections.waiting(session, actor=actor, now=utcnow())
    if request is None:
        raise SkipHandler
    result = await corrections.take_value(
        session, actor=actor, request=request, text=message.text or ""
    )
    me, locale = chat_id(actor), actor.locale
    if result.outcome == corrections.ValueOutcome.SENT:
        text = render(
            "member/correction_sent.txt",
            locale,
            field=result.field.value,
            old=result.old,
            new=result.new,
            body=result.body,
            told=result.told,
        )
        replies.send(me, text)
    else:
        text = render(
            "member/correction_problem.txt", locale, problem=result.outcome.value, text=result.new
        )
        replies.send(me, text, keyboards.correction_cancel(locale))


async def cmd_cancel(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies
) -> None:
    """``/cancel`` while a corrected value is awaited ends that wait; otherwise ``/cancel``
    is the member router's (a survey, a notice draft)."""
    if not actor.linked or not await corrections.cancel(session, actor=actor):
        raise SkipHandler
    replies.send(
        chat_id(actor), render("member/correction_cancelled.txt", actor.locale, waiting=True)
    )


async def cmd_corrections(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """``/corrections``: the requests the officer may decide, the oldest first, each with its
    two buttons."""
    items = await corrections.pending_for(session, actor=actor, tz=conversation.tz)
    me, locale = chat_id(actor), actor.locale
    if not items:
        replies.send(me, render("officer/correction_empty.txt", locale))
    for item in items:
        text = render("officer/correction_item.txt", locale, item=item)
        replies.send(me, text, keyboards.correction_decide(item.id, locale))


async def on_decide(
    query: CallbackQuery,
    callback_data: CorrectionDecideCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    """✅ Xác nhận / ❌ Từ chối under a request: re-checked (who presses, whether it still
    waits); a refusal changes nothing and says why."""
    decision = await corrections.decide(
        session, actor=actor, request_id=callback_data.id, confirm=callback_data.ok
    )
    done = decision.outcome in (
        corrections.DecideOutcome.CONFIRMED,
        corrections.DecideOutcome.REJECTED,
    )
    text = render(
        "officer/correction_decided.txt",
        actor.locale,
        outcome=decision.outcome.value,
        field=decision.field,
        name=decision.person.full_name if decision.person is not None else "",
        new=decision.new,
    )
    replies.answer(query.id, "" if done else text, alert=not done)
    if done and query.message is not None:
        replies.edit(chat_id(actor), query.message.message_id, text)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="rights")
    router.message.register(cmd_data, Command("dulieu"))
    router.callback_query.register(on_export, DataExportCb.filter())
    router.message.register(cmd_correct, Command("suadulieu"))
    router.callback_query.register(on_correction, CorrectionCb.filter())
    router.message.register(cmd_cancel, Command("cancel"))
    router.message.register(cmd_corrections, Command("corrections"), IsOfficer())
    router.callback_query.register(on_decide, CorrectionDecideCb.filter())
    router.message.register(on_text, PlainText())
    return router
