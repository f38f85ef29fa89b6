"""Withdrawal and erasure router: /rutlai, /xoadulieu and their buttons; consent declined (the
chat is forgotten); /start and the consent buttons of a person who withdrew (consenting again).

Included before the member router: it takes the consent presses that end in forgetting a chat
or in consenting again, and ``/start`` of a person who withdrew; every other consent press and
``/start`` goes on to the member router.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import erasure, onboarding, withdrawal
from bot.services.actors import Actor
from bot.texts import render
from handlers import keyboards
from handlers.callbacks import ConsentCb, EraseCb, WithdrawCb
from handlers.ui import Replies
from handlers.views import chat_id, command_menu
from storage.models import Channel, ChatStage


async def _withdrawn(event: object, actor: Actor) -> bool:
    """The sender is a linked person who withdrew their consent."""
    return withdrawal.is_withdrawn(actor)


def _holds_something(actor: Actor) -> bool:
    """The chat is linked, or gave consent and waits to be (a contact, a request)."""
    return actor.linked or actor.chat.stage in (ChatStage.CONTACT, ChatStage.PENDING)


def _reply(
    replies: Replies,
    actor: Actor,
    query: CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None,
) -> None:
    """Replace the message whose button was pressed (or send anew without one)."""
    if query.message is not None:
        replies.edit(chat_id(actor), query.message.message_id, text, markup)
    else:
        replies.send(chat_id(actor), text, markup)


def _cancelled(replies: Replies, actor: Actor, query: CallbackQuery, step: int) -> bool:
    """Answer the press; True when it was "keep things as they are" (step 0), whose message
    is then replaced by the word that nothing changed."""
    replies.answer(query.id)
    if step != 0:
        return False
    _reply(replies, actor, query, render("member/withdraw_cancelled.txt", actor.locale), None)
    return True


def _ask_withdraw(replies: Replies, actor: Actor) -> None:
    """What withdrawing does, with the button to confirm; or that it was done already."""
    if withdrawal.is_withdrawn(actor):
        text = render("member/withdraw_done.txt", actor.locale, outcome="already")
        replies.send(chat_id(actor), text)
        return
    replies.send(
        chat_id(actor),
        render("member/withdraw_confirm.txt", actor.locale),
        keyboards.withdraw_confirm(actor.locale),
    )


def _show_consent(replies: Replies, actor: Actor) -> None:
    """The current consent text with its buttons: what a person who withdrew accepts to
    consent again (an old version's button shows it anew)."""
    version = onboarding.consent_version(actor.chat.channel)
    zalo_id = actor.chat.external_id if actor.chat.channel == Channel.ZALO else None
    text = render(
        "member/consent.txt", actor.locale, invite_unit=None, version=version, zalo_id=zalo_id
    )
    replies.send(chat_id(actor), text, keyboards.consent(actor.locale, version))


# --------------------------------------------------------------------------- withdrawal


async def cmd_withdraw(message: Message, actor: Actor, replies: Replies) -> None:
    """``/rutlai``: what withdrawing does, with a button to confirm."""
    if not _holds_something(actor):
        replies.send(
            chat_id(actor), render("member/withdraw_done.txt", actor.locale, outcome="nothing")
        )
        return
    _ask_withdraw(replies, actor)


async def on_withdraw(
    query: CallbackQuery,
    callback_data: WithdrawCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    inbox_id: int | None = None,
) -> None:
    """The buttons of withdrawal: 0 keeps things, 1 (under ``/privacy``) asks, 2 withdraws."""
    if _cancelled(replies, actor, query, callback_data.step):
        return
    if callback_data.step == 1:  # the button under /privacy: the text stays, ask below it
        _ask_withdraw(replies, actor)
        return
    result = await withdrawal.withdraw(session, actor=actor, inbox_id=inbox_id)
    text = render("member/withdraw_done.txt", actor.locale, outcome=result.outcome.value)
    _reply(replies, actor, query, text, None)


async def on_start_withdrawn(message: Message, actor: Actor, replies: Replies) -> None:
    """``/start`` of a person who withdrew: the consent text again, to consent anew."""
    _show_consent(replies, actor)


async def on_consent_withdrawn(
    query: CallbackQuery,
    callback_data: ConsentCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    """A person who withdrew pressed a consent button: accepting the current text clears
    the withdrawal."""
    replies.answer(query.id)
    accepted = await withdrawal.consent_again(
        session, actor=actor, accepted=callback_data.accept, version=callback_data.version
    )
    if accepted is None:
        _show_consent(replies, actor)
        return
    text = render("member/withdraw_consent_again.txt", actor.locale, accepted=accepted)
    _reply(replies, actor, query, text, None)
    if accepted:
        replies.commands(chat_id(actor), command_menu(actor))


async def on_consent_declined(
    query: CallbackQuery,
    callback_data: ConsentCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    inbox_id: int | None = None,
) -> None:
    """ "Không đồng ý": the refusal is recorded, and the chat with what the platform told
    about it (name, username) is forgotten at once."""
    replies.answer(query.id)
    outcome = await onboarding.decide_consent(
        session, actor=actor, accepted=False, version=callback_data.version
    )
    if outcome == onboarding.ConsentOutcome.ALREADY:
        if actor.chat.stage == ChatStage.CONSENT:
            _show_consent(replies, actor)
        return
    text = render("member/consent_declined.txt", actor.locale)
    _reply(replies, actor, query, text, None)
    await withdrawal.forget_chat(session, actor=actor, inbox_id=inbox_id)


# --------------------------------------------------------------------------- erasure


async def cmd_erase(message: Message, actor: Actor, replies: Replies) -> None:
    """``/xoadulieu``: the first of two confirmations."""
    me, locale = chat_id(actor), actor.locale
    if not _holds_something(actor):
        replies.send(me, render("member/erase_done.txt", locale, outcome="nothing"))
        return
    text = render("member/erase_ask.txt", locale, linked=actor.linked)
    replies.send(me, text, keyboards.erase_step(1, locale))


async def on_erase(
    query: CallbackQuery,
    callback_data: EraseCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    inbox_id: int | None = None,
) -> None:
    """The buttons of erasure: 0 keeps things, 1 asks a second time, 2 erases."""
    if _cancelled(replies, actor, query, callback_data.step):
        return
    locale = actor.locale
    if not _holds_something(actor):
        _reply(
            replies, actor, query, render("member/erase_done.txt", locale, outcome="nothing"), None
        )
        return
    if callback_data.step == 1:
        text = render("member/erase_confirm.txt", locale, linked=actor.linked)
        _reply(replies, actor, query, text, keyboards.erase_step(2, locale))
        return
    result = await erasure.erase_self(session, actor=actor, inbox_id=inbox_id)
    text = render("member/erase_done.txt", locale, outcome=result.outcome.value)
    _reply(replies, actor, query, text, None)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="erasure")
    router.message.register(on_start_withdrawn, CommandStart(), _withdrawn)
    router.callback_query.register(on_consent_withdrawn, ConsentCb.filter(), _withdrawn)
    router.callback_query.register(on_consent_declined, ConsentCb.filter(F.accept.is_(False)))
    router.message.register(cmd_withdraw, Command("rutlai"))
    router.callback_query.register(on_withdraw, WithdrawCb.filter())
    router.message.register(cmd_erase, Command("xoadulieu"))
    router.callback_query.register(on_erase, EraseCb.filter())
    return router
