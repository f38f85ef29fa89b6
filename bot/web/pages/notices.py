"""Thông báo: the notices of the officer's scope with their counts (recipients, sent, failed,
unreachable, acknowledged); one notice's counts, why deliveries failed or could not be made,
its counts by unit, who has not acknowledged it (with their phones), the reminder by hand (the
chat's once-a-day rule) and the list of who has not acknowledged to download.

Every read and the reminder go through :mod:`bot.notices.service`, which decides what the
officer may see (a notice outside their scope is None / NOT_FOUND: a 404 here, for its page,
its reminder and its download alike)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.notices import service
from bot.notices.service import local
from bot.reports.lists import list_xlsx
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
from storage import notices as notice_store

#: How many notices the list shows (the chat's /notices shows 20).
LIST_LIMIT = 50

#: The outcomes of a reminder by hand the page after the redirect tells (``?nhac=``).
TOLD = frozenset({service.AckRemindOutcome.SENT, service.AckRemindOutcome.NOBODY,
                  service.AckRemindOutcome.NOT_SENT})  # fmt: skip


async def _detail(request: web.Request, v: Visit, notice_id: int) -> service.NoticeDetail:
    """The notice as the service shows it to this officer; not theirs (or none) is a 404."""
    found = await service.detail(
        v.session,
        actor=v.actor,
        notice_id=notice_id,
        names_per_unit=0,  # the page lists everyone from the dashboard's query
        now=v.now,
        tz=ctx(request).tz,
    )
    if found is None:
        raise web.HTTPNotFound()
    return found


async def overview(request: web.Request) -> web.Response:
    v = visit(request)
    items = await service.list_for(
        v.session, actor=v.actor, now=v.now, limit=LIST_LIMIT, tz=ctx(request).tz
    )
    return html(request, "notices.html", notices=items, limit=LIST_LIMIT)


async def one(request: web.Request) -> web.Response:
    v = visit(request)
    c = ctx(request)
    notice_id = path_id(request)
    found = await _detail(request, v, notice_id)
    return html(
        request,
        "notice.html",
        detail=found,
        item=found.summary,
        reasons=await dashboard.notice_reasons(v.session, notice_id=notice_id),
        units=await dashboard.notice_units(v.session, notice_id=notice_id),
        waiting=await dashboard.notice_unacknowledged(v.session, notice_id=notice_id),
        told=told(request, v, service.AckRemindOutcome, TOLD, c.ack_reminders.quiet),
        phone=phone,
        local=lambda value: local(value, c.tz),
    )


async def remind(request: web.Request) -> web.Response:
    """Nhắc người chưa nắm: the chat's reminder by hand (once a local day per person)."""
    v = visit(request)
    c = ctx(request)
    notice_id = path_id(request)
    done = await service.remind_unacknowledged(
        v.session,
        actor=v.actor,
        notice_id=notice_id,
        now=v.now,
        policy=c.ack_reminders,
        tz=c.tz,
        default_locale=c.policy.default_locale,
    )
    if done.outcome == service.AckRemindOutcome.NOT_FOUND:
        raise web.HTTPNotFound()
    # The worker is woken once this is committed (the server's unit of work).
    v.wake = done.outcome == service.AckRemindOutcome.SENT
    raise reminded(f"/thong-bao/{notice_id}", done)


async def unacknowledged_workbook(request: web.Request) -> web.Response:
    """Who received the notice and has not acknowledged it: unit, name, phone, when sent."""
    v = visit(request)
    c = ctx(request)
    notice_id = path_id(request)
    found = await _detail(request, v, notice_id)
    waiting = await dashboard.notice_unacknowledged(v.session, notice_id=notice_id)
    w = sheet_words("notice.html", v.locale, item=found.summary, made=v.now.astimezone(c.tz))
    rows: list[Sequence[Any]] = [
        (p.unit_name, p.full_name, phone(p.phone), local(p.sent_at, c.tz)) for p in waiting
    ]
    data = await asyncio.to_thread(
        list_xlsx,
        title=w["title"],
        subtitle=w["subtitle"],
        headers=[w[f"h_{key}"] for key in ("unit", "name", "phone", "sent_at")],
        rows=rows,
        sheet=w["sheet"],
    )
    notice = await notice_store.get_notice(v.session, notice_id=notice_id)
    await downloaded(
        v,
        what="notice_unacknowledged",
        unit_id=notice.scope_unit_id if notice is not None else None,
        notice=notice_id,
        rows=len(rows),
    )
    return attachment(data, f"thong-bao-{notice_id}-chua-nam.xlsx")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/thong-bao", overview),
        web.get("/thong-bao/{id}", one),
        web.post("/thong-bao/{id}/nhac", remind),
        web.get("/tai-ve/thong-bao/{id}/chua-nam.xlsx", unacknowledged_workbook),
    ]
