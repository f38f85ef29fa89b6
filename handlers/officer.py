"""Officer router (officers and admins): the link queue, launching surveys, /stats, follow-up."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.indicators import Catalog, compute_stats
from bot.indicators.compute import StatsReport, ranked_children
from bot.reports.export import SignOff, to_png, to_xlsx
from bot.reports.tree import unit_tree
from bot.services import casework, leaving, onboarding, web_access
from bot.services.actors import Actor, resolve_scope
from bot.services.conversation import Conversation
from bot.services.web_access import WebPolicy
from bot.texts import label, render
from handlers import keyboards
from handlers.callbacks import BenefitCb, CaseCb, LeftCb, PendingCb
from handlers.filters import IsOfficer
from handlers.ui import Replies
from handlers.views import chat_id, command_menu
from storage import audit, people
from storage.models import AuditAction, Case, CaseKind, CaseStatus, Channel, WorkStatus, utcnow
from surveys.phone import display_phone


async def cmd_pending(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    items = await onboarding.pending_for(session, actor=actor, limit=onboarding.PENDING_SHOWN)
    me, locale = chat_id(actor), actor.locale
    if not items:
        replies.send(me, render("officer/pending_empty.txt", locale))
    for item in items:
        phone = display_phone(item.pending.phone) if item.pending.phone else None
        when = item.pending.created_at.astimezone(conversation.tz)  # shown in local time
        text = render("officer/pending_item.txt", locale, item=item, phone=phone, when=when)
        replies.send(me, text, keyboards.pending(item, locale))


async def on_pending(
    query: CallbackQuery,
    callback_data: PendingCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    try:
        action = onboarding.ResolveAction(callback_data.action)
    except ValueError:
        replies.answer(query.id, render("stale.txt", actor.locale))
        return
    result = await onboarding.resolve(
        session, actor=actor, pending_id=callback_data.id, action=action
    )
    me, locale = chat_id(actor), actor.locale
    replies.answer(query.id)
    text = render(
        "officer/pending_resolved.txt",
        locale,
        outcome=result.outcome.value,
        person=result.person,
        unit=result.unit,
    )
    if query.message is not None:
        replies.edit(me, query.message.message_id, text)
    else:
        replies.send(me, text)
    # The person who asked is told on their own chat, whatever its channel, by the outbox.
    await onboarding.tell_decision(session, resolution=result)


async def cmd_assign(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """``/assign ID UNIT``: give a link request its unit (requests without an invite link)."""
    words = (command.args or "").split(maxsplit=1)
    me, locale = chat_id(actor), actor.locale
    if len(words) != 2 or not words[0].isdigit():
        replies.send(me, render("officer/assign.txt", locale))
        return
    item, found = await onboarding.assign_unit(
        session, actor=actor, pending_id=int(words[0]), unit_text=words[1]
    )
    if item is None:
        replies.send(
            me,
            render("officer/pending_resolved.txt", locale, outcome="gone", person=None, unit=None),
        )
    elif not found:
        replies.send(me, render("officer/scope_not_found.txt", locale, text=words[1]))
    else:
        phone = display_phone(item.pending.phone) if item.pending.phone else None
        when = item.pending.created_at.astimezone(conversation.tz)  # shown in local time
        text = render("officer/pending_item.txt", locale, item=item, phone=phone, when=when)
        replies.send(me, text, keyboards.pending(item, locale))


def parse_stats_args(args: str | None, *, this_year: int) -> tuple[str | None, int]:
    """``/stats [unit] [year]``: a trailing 4-digit number is the year, the rest names a unit."""
    words = (args or "").split()
    year = this_year
    if words and words[-1].isdigit() and len(words[-1]) == 4:
        year = int(words.pop())
    return (" ".join(words) or None), year


async def _report_for(
    args: str | None,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    catalog: Catalog,
    conversation: Conversation,
) -> StatsReport | None:
    """``[unit] [year]`` → the indicators of that unit (default: the officer's scope) and year;
    None, with the reason sent, when no unit in the officer's scope matches."""
    text_arg, year = parse_stats_args(args, this_year=conversation.year_now())
    scope = await resolve_scope(session, actor=actor, text=text_arg)
    if scope is None or scope.id is None:
        text = render("officer/scope_not_found.txt", actor.locale, text=text_arg)
        replies.send(chat_id(actor), text)
        return None
    return await compute_stats(session, scope_unit_id=scope.id, year=year, catalog=catalog)


async def cmd_stats(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    indicator_catalog: Catalog,
    conversation: Conversation,
) -> None:
    report = await _report_for(
        command.args, session, actor, replies, indicator_catalog, conversation
    )
    if report is None:
        return
    me = chat_id(actor)
    replies.send(me, render("stats.txt", actor.locale, report=report))


async def cmd_indicator(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    indicator_catalog: Catalog,
    conversation: Conversation,
) -> None:
    """``/indicator CODE [unit] [year]``: one indicator by child unit and public/non-public,
    the units furthest below target first."""
    me, locale = chat_id(actor), actor.locale
    words = (command.args or "").split(maxsplit=1)
    computed = {i.code.casefold(): i.code for i in indicator_catalog.computed}
    code = computed.get(words[0].casefold()) if words else None
    if code is None:
        text = render(
            "officer/indicator_unknown.txt",
            locale,
            text=words[0] if words else None,
            codes=[i.code for i in indicator_catalog.computed],
        )
        replies.send(me, text)
        return
    rest = words[1] if len(words) > 1 else None
    report = await _report_for(rest, session, actor, replies, indicator_catalog, conversation)
    if report is None:
        return
    row = next(r for r in report.rows if r.code == code)
    children = ranked_children(row)
    replies.send(me, render("indicator.txt", locale, report=report, row=row, children=children))


async def cmd_report(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    indicator_catalog: Catalog,
    conversation: Conversation,
    report_signoff: SignOff,
) -> None:
    """``/report [unit] [year]``: the xlsx workbook (every unit of the scope, level by level)
    and the chart of rate against target."""
    if actor.chat.channel == Channel.ZALO:
        # The Zalo Bot API sends no files (a photo only by public URL): said, not attempted.
        replies.send(chat_id(actor), render("officer/report_zalo.txt", actor.locale))
        return
    report = await _report_for(
        command.args, session, actor, replies, indicator_catalog, conversation
    )
    if report is None:
        return
    me, locale, year = chat_id(actor), actor.locale, report.year
    tree = await unit_tree(session, report, catalog=indicator_catalog)
    root = await people.root_unit(session)
    union = root.name if root is not None else report.scope_name
    made = dt.datetime.now(conversation.tz)
    # Building the workbook and drawing the chart take a moment of CPU: off the event loop.
    workbook = await asyncio.to_thread(
        to_xlsx, tree, locale, union_name=union, made_at=made, signoff=report_signoff
    )
    chart = await asyncio.to_thread(to_png, report, locale)
    name = f"chi-tieu-{report.scope_code}-{year}"
    caption = render("officer/report_caption.txt", locale, report=report, chart=False)
    replies.document(me, f"{name}.xlsx", workbook, caption)
    caption = render("officer/report_caption.txt", locale, report=report, chart=True)
    replies.photo(me, f"{name}.png", chart, caption)
    await audit.record(
        session,
        AuditAction.REPORT_EXPORTED,
        via="chat",
        actor_id=actor.person.id if actor.person is not None else None,
        unit_id=report.scope_id,
        detail={"year": year, "format": "xlsx"},
    )


def _case_form(case: Case) -> str:
    """The form a case's answers come from (its category labels)."""
    if case.kind == CaseKind.HARDSHIP:
        return "hardship_case"
    return "legal_union_case" if case.subject_union else "legal_consultation"


def _case_text(item: casework.CaseItem, locale: str, conversation: Conversation) -> str:
    tz = conversation.tz  # every time shown in local time
    return render(
        "officer/case_item.txt",
        locale,
        case=item.case,
        unit=item.unit,
        when=item.case.created_at.astimezone(tz),
        reporter=item.reporter,
        for_self=item.for_self,
        phone=item.subject_phone,
        history=[
            {
                "status": label("case_status", locale, status=step.status, kind=item.case.kind),
                "at": step.at.astimezone(tz),
                "by": step.by,
            }
            for step in item.history
        ],
        category=conversation.registry.option_label(
            _case_form(item.case), "category", item.case.category
        ),
        status_label=label("case_status", locale, status=item.case.status, kind=item.case.kind),
    )


async def cmd_cases(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """The cases the officer may see in detail, one card each; the other open cases of their
    scope as counts by CĐCS and status (need to know: bot.services.casework)."""
    view = await casework.open_cases(session, actor=actor, now=utcnow())
    me, locale = chat_id(actor), actor.locale
    if not view.items and not view.counts:
        replies.send(me, render("officer/cases_empty.txt", locale))
    for item in view.items:
        text = _case_text(item, locale, conversation)
        replies.send(me, text, keyboards.case(item, locale))
    if view.more:
        replies.send(me, render("officer/cases_more.txt", locale, n=view.more))
    if view.counts:
        replies.send(me, _counts_text(view, locale))


def _counts_text(view: casework.CasesView, locale: str) -> str:
    rows = [
        {
            "unit": count.unit.name,
            "total": count.total,
            "urgent": count.urgent,
            "statuses": [
                {"label": label("case_status", locale, status=status.value), "n": n}
                for status, n in count.by_status.items()
            ],
        }
        for count in view.counts
    ]
    return render(
        "officer/cases_counts.txt",
        locale,
        rows=rows,
        total=view.counted,
        urgent=view.urgent_counted,
        others=bool(view.items),
    )


async def on_case(
    query: CallbackQuery,
    callback_data: CaseCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    try:
        status = CaseStatus(callback_data.status)
    except ValueError:
        replies.answer(query.id, render("stale.txt", actor.locale))
        return
    outcome, item = await casework.change_case(
        session, actor=actor, case_id=callback_data.id, status=status
    )
    text = render(
        "officer/case_changed.txt",
        actor.locale,
        outcome=outcome.value,
        case=item.case if item else None,
        status_label=label(
            "case_status", actor.locale, status=status.value, kind=item.case.kind if item else ""
        ),
    )
    replies.answer(query.id, text, alert=outcome != casework.ChangeOutcome.CHANGED)
    if outcome == casework.ChangeOutcome.CHANGED and item is not None and query.message:
        replies.edit(
            chat_id(actor),
            query.message.message_id,
            _case_text(item, actor.locale, conversation),
            keyboards.case(item, actor.locale),
        )


async def cmd_welfare(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    items = await casework.requested_benefits(session, actor=actor)
    me, locale = chat_id(actor), actor.locale
    if not items:
        replies.send(me, render("officer/welfare_empty.txt", locale))
    for item in items[:20]:
        text = render(
            "officer/welfare_item.txt",
            locale,
            item=item,
            when=item.benefit.created_at.astimezone(conversation.tz),  # shown in local time
            offer=conversation.registry.option_label("welfare_signup", "offer", item.benefit.offer),
        )
        replies.send(me, text, keyboards.benefit(item, locale))


async def on_benefit(
    query: CallbackQuery,
    callback_data: BenefitCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    outcome, _benefit = await casework.decide_benefit(
        session, actor=actor, benefit_id=callback_data.id, confirm=callback_data.confirm
    )
    text = render(
        "officer/welfare_decided.txt",
        actor.locale,
        outcome=outcome.value,
        confirmed=callback_data.confirm,
    )
    replies.answer(query.id)
    if query.message is not None:
        replies.edit(chat_id(actor), query.message.message_id, text)


async def cmd_invite(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
) -> None:
    unit = await resolve_scope(session, actor=actor, text=command.args)
    me = chat_id(actor)
    if unit is None:
        replies.send(me, render("officer/scope_not_found.txt", actor.locale, text=command.args))
        return
    link = None
    if unit.invite_code:
        username = (await bot.me()).username
        link = f"https://t.me/{username}?start={unit.invite_code}"
    replies.send(me, render("officer/invite.txt", actor.locale, unit=unit, link=link))
    replies.commands(me, command_menu(actor))


def _left_text(result: leaving.LeaveResult, locale: str) -> str:
    return render("officer/left.txt", locale, outcome=result.outcome.value, result=result)


async def cmd_left(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    """``/left PHONE đã nghỉ|chuyển đi|đang công tác [dd/mm/yyyy]``: show the person and the
    change, with buttons to confirm or cancel; nothing is written yet."""
    today = dt.datetime.now(conversation.tz).date()
    result = await leaving.check_leave(session, actor=actor, args=command.args, today=today)
    me, locale = chat_id(actor), actor.locale
    if result.outcome == leaving.LeaveOutcome.CONFIRM:
        replies.send(me, _left_text(result, locale), keyboards.left(result, locale))
    else:
        replies.send(me, _left_text(result, locale))


async def on_left(
    query: CallbackQuery,
    callback_data: LeftCb,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    conversation: Conversation,
) -> None:
    locale = actor.locale
    try:
        status = WorkStatus(callback_data.s)
        left_on = dt.date.fromordinal(callback_data.d) if callback_data.d else None
    except ValueError:
        status, left_on = None, None
    if status is None or (status == WorkStatus.ACTIVE) != (left_on is None):
        replies.answer(query.id, render("stale.txt", locale))
        return
    if not callback_data.ok:
        text = render("officer/left.txt", locale, outcome="cancelled", result=None)
    else:
        today = dt.datetime.now(conversation.tz).date()
        result = await leaving.apply_leave(
            session,
            actor=actor,
            person_id=callback_data.p,
            status=status,
            left_on=left_on,
            today=today,
        )
        text = _left_text(result, locale)
    replies.answer(query.id)
    if query.message is not None:
        replies.edit(chat_id(actor), query.message.message_id, text)
    else:
        replies.send(chat_id(actor), text)


async def cmd_web(
    message: Message,
    session: AsyncSession,
    actor: Actor,
    replies: Replies,
    web_policy: WebPolicy,
) -> None:
    """``/web``: a single-use link to sign in to the dashboard, for this officer only."""
    link = await web_access.link_for(session, actor=actor, policy=web_policy, now=utcnow())
    replies.send(
        chat_id(actor),
        render("officer/web_link.txt", actor.locale, link=link, minutes=web_policy.link_minutes),
    )


def build() -> Router:
    """A fresh router (one per Dispatcher)."""
    router = Router(name="officer")
    router.message.filter(IsOfficer())
    router.callback_query.filter(IsOfficer())
    router.message.register(cmd_pending, Command("pending"))
    router.callback_query.register(on_pending, PendingCb.filter())
    router.message.register(cmd_assign, Command("assign"))
    router.message.register(cmd_stats, Command("stats"))
    router.message.register(cmd_indicator, Command("indicator"))
    router.message.register(cmd_report, Command("report"))
    router.message.register(cmd_cases, Command("cases"))
    router.callback_query.register(on_case, CaseCb.filter())
    router.message.register(cmd_welfare, Command("welfare"))
    router.callback_query.register(on_benefit, BenefitCb.filter())
    router.message.register(cmd_invite, Command("invite"))
    router.message.register(cmd_left, Command("left"))
    router.message.register(cmd_web, Command("web"))
    router.callback_query.register(on_left, LeftCb.filter())
    return router
