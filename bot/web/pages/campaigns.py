"""Khảo sát: the campaigns of the officer's scope with their response rates; one campaign's
rate overall and by unit (lowest first), who has not answered with their phone numbers (for a
CĐCS chair to call), the next automatic reminder and the reminder by hand (the chat's
once-a-day rule); the lists of who answered and of the answers to download.

Every read and the reminder go through :mod:`bot.campaigns.service`, which decides what the
officer may see (a campaign outside their scope is None / NOT_FOUND: a 404 here, for its page,
its reminder and its downloads alike)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.campaigns import service
from bot.notices.service import local
from bot.reports.lists import list_xlsx
from bot.texts import label
from bot.web.common import (
    Visit,
    attachment,
    ctx,
    downloaded,
    html,
    path_id,
    phone,
    reminded,
    sheet_words,
    told,
    visit,
)
from storage import dashboard
from storage import surveys as survey_store

#: How many campaigns the list shows (the chat's /campaigns shows 15).
LIST_LIMIT = 50

#: The outcomes of a reminder by hand the page after the redirect tells (``?nhac=``).
TOLD = frozenset({service.ManualOutcome.SENT, service.ManualOutcome.NOBODY,
                  service.ManualOutcome.CLOSED})  # fmt: skip


async def _detail(request: web.Request, v: Visit, run_id: int) -> service.CampaignDetail:
    """The campaign as the service shows it to this officer; not theirs (or none) is a 404."""
    c = ctx(request)
    found = await service.detail(
        v.session,
        actor=v.actor,
        run_id=run_id,
        now=v.now,
        tz=c.tz,
        names_per_unit=0,  # the page lists everyone from the dashboard's query
        policy_default=c.reminders,
    )
    if found is None:
        raise web.HTTPNotFound()
    return found


async def overview(request: web.Request) -> web.Response:
    v = visit(request)
    c = ctx(request)
    items = await service.campaigns_for(v.session, actor=v.actor, tz=c.tz, limit=LIST_LIMIT)
    return html(request, "campaigns.html", campaigns=items, limit=LIST_LIMIT)


async def one(request: web.Request) -> web.Response:
    v = visit(request)
    c = ctx(request)
    run_id = path_id(request)
    found = await _detail(request, v, run_id)
    lines = await dashboard.campaign_people(v.session, run_id=run_id)
    waiting = [p for p in lines if p.progress != dashboard.Progress.DONE]
    return html(
        request,
        "campaign.html",
        detail=found,
        c=found.summary,
        waiting=waiting,
        told=told(request, v, service.ManualOutcome, TOLD, c.reminders.quiet),
        phone=phone,
        local=lambda value: local(value, c.tz),
    )


async def remind(request: web.Request) -> web.Response:
    """Nhắc người chưa trả lời: the chat's reminder by hand (once a local day per person)."""
    v = visit(request)
    c = ctx(request)
    run_id = path_id(request)
    done = await service.remind_by_hand(
        v.session,
        actor=v.actor,
        run_id=run_id,
        now=v.now,
        tz=c.tz,
        quiet=c.reminders.quiet,
        default_locale=c.policy.default_locale,
    )
    if done.outcome == service.ManualOutcome.NOT_FOUND:
        raise web.HTTPNotFound()
    # The worker is woken once this is committed (the server's unit of work).
    v.wake = done.outcome == service.ManualOutcome.SENT
    raise reminded(f"/khao-sat/{run_id}", done)


async def _run_unit(v: Visit, run_id: int) -> int | None:
    run = await survey_store.get_run(v.session, run_id=run_id)
    return None if run is None else run.unit_id


def _progress_at(line: dashboard.CampaignPerson, tz: dt.tzinfo) -> dt.datetime | None:
    if line.progress == dashboard.Progress.DONE:
        return local(line.finished_at, tz)
    return local(line.started_at, tz)


async def people_workbook(request: web.Request) -> web.Response:
    """Who answered and who has not: unit, name, phone, state, when."""
    v = visit(request)
    c = ctx(request)
    run_id = path_id(request)
    found = await _detail(request, v, run_id)
    lines = await dashboard.campaign_people(v.session, run_id=run_id)
    made = v.now.astimezone(c.tz)
    per_unit = found.summary.per_unit
    w = sheet_words("campaign.html", v.locale, what="people", c=found.summary, made=made)
    rows: list[Sequence[Any]] = []
    for line in lines:
        row: tuple[Any, ...] = (
            line.unit_name,
            line.full_name,
            phone(line.phone),
            w[f"state_{line.progress.value}"],
            _progress_at(line, c.tz),
        )
        if per_unit:  # the unit's other officers the run asks, to call too
            others = "; ".join(f"{o.full_name} {phone(o.phone)}".strip() for o in line.others)
            row += (others or None,)
        rows.append(row)
    data = await asyncio.to_thread(
        list_xlsx,
        title=w["title"],
        subtitle=w["subtitle"],
        headers=[w[f"h_{key}"] for key in ("unit", "name", "phone", "state", "when")]
        + ([w["h_others"]] if per_unit else []),
        rows=rows,
        sheet=w["sheet"],
    )
    await downloaded(
        v, what="campaign_people", unit_id=await _run_unit(v, run_id), run=run_id, rows=len(rows)
    )
    return attachment(data, f"khao-sat-{run_id}-nguoi-tra-loi.xlsx")


def _cell(value: dashboard.AnswerCell, locale: str) -> Any:
    """An answer as a spreadsheet cell: yes / no in words, the rest as it is."""
    if isinstance(value, bool):
        return label("yes" if value else "no", locale)
    return value


async def answers_workbook(request: web.Request) -> web.Response:
    """The answers, one row per completed response; an anonymous survey's without who."""
    v = visit(request)
    c = ctx(request)
    run_id = path_id(request)
    found = await _detail(request, v, run_id)
    answers = await dashboard.campaign_answers(v.session, run_id=run_id)
    if answers is None:
        raise web.HTTPNotFound()
    made = v.now.astimezone(c.tz)
    w = sheet_words(
        "campaign.html",
        v.locale,
        what="answers",
        c=found.summary,
        made=made,
        anonymous=answers.anonymous,
        withheld=answers.withheld,
    )
    who_columns = () if answers.anonymous else ("name", "phone", "done_at")
    headers = [w["h_unit"], *(w[f"h_{key}"] for key in who_columns)]
    headers += [q.prompt for q in answers.questions]
    rows: list[Sequence[Any]] = []
    for row in answers.rows:
        who: tuple[Any, ...] = ()
        if not answers.anonymous:
            who = (row.full_name or "", phone(row.phone), local(row.completed_at, c.tz))
        cells = tuple(_cell(row.answers[q.key], v.locale) for q in answers.questions)
        rows.append((row.unit_name, *who, *cells))
    data = await asyncio.to_thread(
        list_xlsx,
        title=w["title"],
        subtitle=w["subtitle"],
        headers=headers,
        rows=rows,
        sheet=w["sheet"],
    )
    await downloaded(
        v,
        what="campaign_answers",
        unit_id=await _run_unit(v, run_id),
        run=run_id,
        rows=len(rows),
    )
    return attachment(data, f"khao-sat-{run_id}-cau-tra-loi.xlsx")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/khao-sat", overview),
        web.get("/khao-sat/{id}", one),
        web.post("/khao-sat/{id}/nhac", remind),
        web.get("/tai-ve/khao-sat/{id}/nguoi-tra-loi.xlsx", people_workbook),
        web.get("/tai-ve/khao-sat/{id}/cau-tra-loi.xlsx", answers_workbook),
    ]
