"""Member router: /start and consent, linking by contact or name, /help, /privacy, /stop,
/cancel."""

from __future__ import annotations

from aiogram import Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import onboarding
from bot.services.actors import Actor, load_actor
from bot.services.composer import Composer
from bot.services.conversation import Conversation, ScreenKind
from bot.texts import render
from handlers import keyboards
from handlers.callbacks import ConsentCb
from handlers.filters import HasContact, PlainText
from handlers.ui import Replies
from handlers.views import chat_id, command_menu, show_screen
from storage import chats
from storage.models import Channel, ChatStage, ConsentDecision, Unit


async def cmd_start(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    result = await onboarding.start(session, actor=actor, payload=command.args)
    me, locale = chat_id(actor), actor.locale
    outcome = result.outcome
    if outcome == onboarding.StartOutcome.ASK_CONSENT:
        _ask_consent(replies, actor, result.invite_unit)
    elif outcome == onboarding.StartOutcome.ASK_CONTACT:
        _ask_contact(replies, actor, result.invite_unit, bad_invite=result.bad_invite)
    elif outcome == onboarding.StartOutcome.PENDING:
        if _typed_linking(actor):
            replies.send(me, render("member/pending.txt", locale, typed=True))
        else:
            replies.send(
                me,
                render("member/pending.txt", locale, typed=False),
                keyboards.share_contact(locale),
            )
    else:
        view = await conversation.current(session, actor=actor)
        in_survey = view.kind in (ScreenKind.QUESTION, ScreenKind.SUMMARY)
        text = render(
            "member/welcome_back.txt",
            locale,
            person=actor.person,
            resumed=result.resumed,
            in_survey=in_survey,
        )
        replies.send(me, text, ReplyKeyboardRemove())
        replies.commands(me, command_menu(actor))
        if in_survey:
            show_screen(replies, actor, view)


def _typed_linking(actor: Actor) -> bool:
    """A channel without buttons, the contact button among them (Zalo): the member types
    their name and phone."""
    return not actor.chat.channel.has_buttons


def _ask_consent(replies: Replies, actor: Actor, invite_unit: Unit | None) -> None:
    version = onboarding.consent_version(actor.chat.channel)
    zalo_id = actor.chat.external_id if actor.chat.channel == Channel.ZALO else None
    text = render(
        "member/consent.txt",
        actor.locale,
        invite_unit=invite_unit,
        version=version,
        zalo_id=zalo_id,
    )
    replies.send(chat_id(actor), text, keyboards.consent(actor.locale, version))


def _ask_contact(
    replies: Replies, actor: Actor, invite_unit: Unit | None, *, bad_invite: bool
) -> None:
    me, locale = chat_id(actor), actor.locale
    if _typed_linking(actor):
        text = render(
            "member/ask_details.txt", locale, invite_unit=invite_unit, bad_invite=bad_invite
        )
        replies.send(me, text)
        return
    text = render("member/ask_contact.txt", locale, invite_unit=invite_unit, bad_invite=bad_invite)
    replies.send(me, text, keyboards.share_contact(locale))


async def on_consent(
    query: CallbackQuery,
    callback_data: ConsentCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    outcome = await onboarding.decide_consent(
        session, actor=actor, accepted=callback_data.accept, version=callback_data.version
    )
    me, locale = chat_id(actor), actor.locale
    replies.answer(query.id)
    if outcome == onboarding.ConsentOutcome.ALREADY:
        if actor.chat.stage == ChatStage.CONSENT:
            _ask_consent(replies, actor, None)
        return
    if query.message is not None:
        # Keep the text the person agreed to, without the buttons.
        replies.edit(
            me,
            query.message.message_id,
            render("member/consent_accepted.txt", locale)
            if outcome == onboarding.ConsentOutcome.ACCEPTED
            else render("member/consent_declined.txt", locale),
        )
    if outcome == onboarding.ConsentOutcome.ACCEPTED:
        unit = await onboarding.invite_unit(session, actor=actor)
        _ask_contact(replies, actor, unit, bad_invite=False)


async def on_contact(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies
) -> None:
    contact = message.contact
    assert contact is not None and message.from_user is not None
    own = contact.user_id is not None and contact.user_id == message.from_user.id
    name = " ".join(p for p in (contact.last_name, contact.first_name) if p) or (
        message.from_user.full_name
    )
    link = await onboarding.link_by_contact(
        session, actor=actor, phone=contact.phone_number, own_contact=own, name=name
    )
    await _after_link(link, actor, replies, session)


async def _after_link(
    link: onboarding.Link, actor: Actor, replies: Replies, session: AsyncSession
) -> None:
    me, locale = chat_id(actor), actor.locale
    if link.outcome == onboarding.LinkOutcome.LINKED:
        actor.person, actor.unit = link.person, link.unit
        refreshed = await load_actor(
            session,
            channel=actor.chat.channel,
            external_id=actor.chat.external_id,
            locale=actor.locale,
        )
        text = render("member/linked.txt", locale, person=link.person, unit=link.unit)
        replies.send(me, text, ReplyKeyboardRemove())
        replies.commands(me, command_menu(refreshed))
    elif link.outcome == onboarding.LinkOutcome.QUEUED:
        queued = render("member/queued.txt", locale, unit=link.unit)
        replies.send(me, queued, ReplyKeyboardRemove())
    elif link.outcome == onboarding.LinkOutcome.CODE_TAKEN:
        _ask_contact(replies, actor, link.unit, bad_invite=False)
    else:
        problem = render(
            "member/contact_problem.txt",
            locale,
            problem=link.outcome.value,
            typed=_typed_linking(actor),
        )
        replies.send(me, problem)


async def cmd_help(message: Message, actor: Actor, replies: Replies) -> None:
    text = render(
        "member/help.txt",
        actor.locale,
        linked=actor.linked,
        officer=actor.is_officer,
        admin=actor.is_admin,
    )
    replies.send(chat_id(actor), text)
    if actor.linked:
        replies.commands(chat_id(actor), command_menu(actor))


async def cmd_privacy(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """``/privacy``: the personal data notice again (it is gone once agreed to), with what
    this chat decided and when."""
    consent = await onboarding.latest_decision(session, actor=actor)
    text = render(
        "member/privacy.txt",
        actor.locale,
        version=onboarding.consent_version(actor.chat.channel),
        zalo_id=actor.chat.external_id if actor.chat.channel == Channel.ZALO else None,
        decision=consent.decision.value if consent is not None else None,
        agreed_version=consent.text_version if consent is not None else "",
        when=consent.decided_at.astimezone(conversation.tz) if consent is not None else None,
    )
    accepted = consent is not None and consent.decision == ConsentDecision.ACCEPTED
    # Consent given: the way to withdraw it is right under the notice (handlers.erasure).
    replies.send(chat_id(actor), text, keyboards.withdraw_ask(actor.locale) if accepted else None)


async def cmd_channel(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies
) -> None:
    """``/kenh``: notices, invitations and reminders come on this chat's channel from now on
    (a person linked on Telegram and Zalo gets each message once, on one of them)."""
    if not actor.linked:
        replies.send(chat_id(actor), render("member/not_linked.txt", actor.locale, command=True))
        return
    changed = await chats.choose_chat(session, chat=actor.chat)
    text = render(
        "member/channel_chosen.txt",
        actor.locale,
        channel=actor.chat.channel.value,
        changed=changed,
    )
    replies.send(chat_id(actor), text)


async def cmd_stop(message: Message, session: AsyncSession, actor: Actor, replies: Replies) -> None:
    changed = await onboarding.stop(session, actor=actor)
    replies.send(chat_id(actor), render("member/stopped.txt", actor.locale, changed=changed))


async def cmd_cancel(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
    composer: Composer,
) -> None:
    """``/cancel`` ends whatever is in progress: a survey, an officer's notice draft."""
    view = await conversation.cancel(session, actor=actor)
    draft = await composer.cancel(session, actor=actor)
    if draft.cancelled:
        replies.send(
            chat_id(actor), render("notice/compose_closed.txt", actor.locale, cancelled=True)
        )
    if view.kind != ScreenKind.NONE or not draft.cancelled:
        show_screen(replies, actor, view)


async def on_onboarding_text(
    message: Message, session: AsyncSession, actor: Actor, replies: Replies
) -> None:
    """Text while waiting for a contact is taken as the person's full name."""
    if actor.chat.stage not in (ChatStage.CONTACT, ChatStage.PENDING) or actor.linked:
        raise SkipHandler
    text = (message.text or "").strip()
    if _typed_linking(actor):
        link = await onboarding.link_by_details(session, actor=actor, text=text)
        await _after_link(link, actor, replies, session)
        return
    if len(text.split()) < 2 or any(ch.isdigit() for ch in text) or len(text) > 120:
        replies.send(
            chat_id(actor),
            render("member/contact_problem.txt", actor.locale, problem="bad_name", typed=False),
        )
        return
    link = await onboarding.queue_by_name(session, actor=actor, full_name=text)
    await _after_link(link, actor, replies, session)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="member")
    router.message.register(cmd_start, CommandStart())
    router.callback_query.register(on_consent, ConsentCb.filter())
    router.message.register(on_contact, HasContact())
    router.message.register(cmd_help, Command("help"))
    router.message.register(cmd_privacy, Command("privacy"))
    router.message.register(cmd_stop, Command("stop"))
    router.message.register(cmd_channel, Command("kenh"))
    router.message.register(cmd_cancel, Command("cancel"))
    router.message.register(on_onboarding_text, PlainText())
    return router
