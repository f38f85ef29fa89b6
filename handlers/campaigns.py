"""Campaigns for officers: /survey launches one (survey → days open → repeat), /campaigns
follows them up (response rate overall and by unit, who has not finished, remind by hand),
/digest turns the weekly below-target digest off or on."""

from __future__ import annotations

import datetime as dt

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns import service as campaigns
from bot.campaigns.schedule import Recurrence, ReminderPolicy
from bot.services.actors import Actor
from bot.services.conversation import Conversation
from bot.texts import render
from handlers import keyboards
from handlers.callbacks import CampaignCb, LaunchCb
from handlers.filters import IsOfficer
from handlers.ui import Replies
from handlers.views import chat_id
from storage.models import utcnow

#: A campaign launched in chat closes at this local time on its last day.
CLOSING_TIME = dt.time(17, 0)


async def cmd_survey(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    assert actor.scope is not None
    running = await campaigns.campaigns_for(session, actor=actor, tz=conversation.tz, limit=5)
    text = render(
        "campaign/launch_menu.txt",
        actor.locale,
        unit=actor.scope,
        campaigns=[c for c in running if c.status == "open"],
    )
    menu = keyboards.launch_menu(conversation.launchable(actor.scope), actor.locale)
    replies.send(chat_id(actor), text, menu)


async def on_launch(
    query: CallbackQuery,
    callback_data: LaunchCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
    reminder_policy: ReminderPolicy,
    default_locale: str,
) -> None:
    launchable = {d.key: d for d in conversation.launchable(actor.scope)}
    defn = launchable.get(callback_data.key)
    me, locale = chat_id(actor), actor.locale
    if defn is None or actor.scope is None:
        replies.answer(query.id, render("stale.txt", locale))
        return
    replies.answer(query.id)
    edit = query.message.message_id if query.message is not None else None
    if callback_data.days not in keyboards.LAUNCH_DAYS:
        text = render("campaign/launch_step.txt", locale, step="days", title=defn.title)
        markup = keyboards.launch_days(defn.key, locale)
    elif callback_data.repeat not in {r.value for r in Recurrence}:
        text = render("campaign/launch_step.txt", locale, step="repeat", title=defn.title)
        markup = keyboards.launch_repeat(defn.key, callback_data.days, locale)
    elif callback_data.ok == keyboards.LAUNCH_GIVE_UP:
        text = render("campaign/launched.txt", locale, result=None, title=defn.title)
        markup = None
    else:
        now = utcnow()
        last_day = now.astimezone(conversation.tz).date() + dt.timedelta(days=callback_data.days)
        plan = campaigns.Plan(
            key=defn.key,
            closes_at=dt.datetime.combine(last_day, CLOSING_TIME, tzinfo=conversation.tz),
            policy=reminder_policy,
            recurrence=Recurrence(callback_data.repeat),
            skip_asked=callback_data.ok == keyboards.LAUNCH_OTHERS,
        )
        result = await campaigns.launch(
            session,
            actor=actor,
            plan=plan,
            definitions=launchable,
            definition_id=await conversation.registry.row_id(session, defn.key),
            now=now,
            tz=conversation.tz,
            default_locale=default_locale,
        )
        text = render("campaign/launched.txt", locale, result=result)
        markup = None
        if result.outcome == campaigns.LaunchOutcome.OVERLAP and result.others:
            markup = keyboards.launch_overlap(
                defn.key,
                callback_data.days,
                callback_data.repeat,
                result.others,
                result.per_unit,
                locale,
            )
    if edit is not None:
        replies.edit(me, edit, text, markup)
    else:
        replies.send(me, text, markup)


async def cmd_campaigns(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    items = await campaigns.campaigns_for(session, actor=actor, tz=conversation.tz)
    text = render("campaign/list.txt", actor.locale, campaigns=items)
    replies.send(chat_id(actor), text, keyboards.campaigns(items, actor.locale))


async def on_campaign(
    query: CallbackQuery,
    callback_data: CampaignCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
    reminder_policy: ReminderPolicy,
    default_locale: str,
) -> None:
    me, locale, tz = chat_id(actor), actor.locale, conversation.tz
    if callback_data.action == "remind":
        sent = await campaigns.remind_by_hand(
            session,
            actor=actor,
            run_id=callback_data.run,
            tz=tz,
            quiet=reminder_policy.quiet,
            default_locale=default_locale,
        )
        text = render("campaign/reminded.txt", locale, result=sent)
        replies.answer(query.id, text, alert=True)
        return
    if callback_data.action != "detail":
        replies.answer(query.id, render("stale.txt", locale))
        return
    found = await campaigns.detail(
        session, actor=actor, run_id=callback_data.run, tz=tz, policy_default=reminder_policy
    )
    replies.answer(query.id)
    if found is None:
        replies.send(me, render("stale.txt", locale))
        return
    replies.send(
        me, render("campaign/detail.txt", locale, detail=found), keyboards.campaign(found, locale)
    )


async def cmd_digest(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    word = (command.args or "").strip().lower()
    wanted = {"on": True, "bat": True, "bật": True, "off": False, "tat": False, "tắt": False}
    choice = wanted.get(word)
    if choice is not None:
        await campaigns.set_weekly_digest(session, actor=actor, enabled=choice)
    enabled = actor.person is not None and actor.person.weekly_digest
    text = render(
        "campaign/digest_setting.txt", actor.locale, enabled=enabled, changed=choice is not None
    )
    replies.send(chat_id(actor), text)


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="campaigns")
    router.message.filter(IsOfficer())
    router.callback_query.filter(IsOfficer())
    router.message.register(cmd_survey, Command("survey"))
    router.callback_query.register(on_launch, LaunchCb.filter())
    router.message.register(cmd_campaigns, Command("campaigns"))
    router.callback_query.register(on_campaign, CampaignCb.filter())
    router.message.register(cmd_digest, Command("digest"))
    return router
