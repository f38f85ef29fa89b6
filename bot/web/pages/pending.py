"""Chờ xác nhận: the link requests an officer may resolve (``bot.services.onboarding``), each
to confirm as a union member or as staff not (yet) a member, or to reject, as in chat; the
person hears the decision on their own chat, through the outbox.  A request that came
without a unit (admins only see those) is given its unit first.  And the roster of a unit's
subtree to download (roster work, linked from Chỉ tiêu)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from bot.reports.lists import Value, list_xlsx
from bot.services import onboarding
from bot.services.onboarding import PendingItem, ResolveAction, ResolveOutcome
from bot.texts import label
from bot.web.common import (
    attachment,
    ctx,
    downloaded,
    html,
    path_id,
    phone,
    see_other,
    sheet_words,
    unit_param,
    url,
    visit,
)
from storage import dashboard
from storage.dashboard import RosterLine
from storage.models import WorkStatus
from surveys.phone import display_phone

#: How many requests the page lists at most (the oldest first: none waits behind newer ones).
PENDING_SHOWN = 500
#: The longest unit text the assign form takes (a code or a name).
UNIT_TEXT_MAX = 200


class AssignOutcome(StrEnum):
    """What giving a request its unit did (the resolve outcomes are ``ResolveOutcome``)."""

    ASSIGNED = "assigned"
    UNIT_NOT_FOUND = "unit_not_found"


#: Every outcome the page may be told after the redirect.
OUTCOMES = {o.value for o in ResolveOutcome} | {o.value for o in AssignOutcome}


@dataclass(frozen=True)
class Request:
    """A request as the page shows it: the phone for people to read, the time local."""

    item: PendingItem
    phone: str | None
    when: dt.datetime

    @property
    def id(self) -> int | None:
        return self.item.pending.id


async def overview(request: web.Request) -> web.Response:
    v = visit(request)
    c = ctx(request)
    items = await onboarding.pending_for(v.session, actor=v.actor, limit=PENDING_SHOWN)
    shown = [
        Request(
            item,
            display_phone(item.pending.phone) if item.pending.phone else None,
            item.pending.created_at.astimezone(c.tz),
        )
        for item in items
    ]
    done = request.query.get("done", "")
    return html(
        request,
        "pending.html",
        requests=shown,
        capped=len(items) == PENDING_SHOWN,
        shown_max=PENDING_SHOWN,
        outcome=done if done in OUTCOMES else None,
        actions=list(ResolveAction),
    )


async def resolve(request: web.Request) -> web.Response:
    """A press on one of a request's buttons: ``action=member|staff|reject``."""
    v = visit(request)
    pending_id = path_id(request)
    form = await request.post()
    try:
        action = ResolveAction(str(form.get("action", "")))
    except ValueError:
        raise web.HTTPBadRequest() from None
    result = await onboarding.resolve(
        v.session, actor=v.actor, pending_id=pending_id, action=action, via="web"
    )
    # The person who asked is told on their own chat, whatever its channel, by the outbox.
    # The decision goes out once this is committed (the server's unit of work wakes the worker).
    v.wake = await onboarding.tell_decision(v.session, resolution=result)
    return see_other(url("/cho-xac-nhan", done=result.outcome.value))


async def assign(request: web.Request) -> web.Response:
    """Give a request that came without an invite link its unit (a code or a name)."""
    v = visit(request)
    pending_id = path_id(request)
    form = await request.post()
    text = " ".join(str(form.get("unit", "")).split())[:UNIT_TEXT_MAX]
    if not text:
        return see_other(url("/cho-xac-nhan", done=AssignOutcome.UNIT_NOT_FOUND.value))
    item, found = await onboarding.assign_unit(
        v.session, actor=v.actor, pending_id=pending_id, unit_text=text
    )
    if item is None:
        done = ResolveOutcome.GONE.value
    elif not found:
        done = AssignOutcome.UNIT_NOT_FOUND.value
    else:
        done = AssignOutcome.ASSIGNED.value
    return see_other(url("/cho-xac-nhan", done=done))


# --------------------------------------------------------------------------- the roster

#: The columns of the roster workbook (their headers are pending.html's ``h_<key>``).
ROSTER_COLUMNS = (
    "code",
    "unit",
    "name",
    "phone",
    "member",
    "role",
    "office",
    "work",
    "left_on",
    "linked",
)


def _roster_row(line: RosterLine, words: dict[str, str], locale: str) -> list[Value]:
    channels = ", ".join(words[f"channel_{c.value}"] for c in line.channels)
    return [
        line.unit_code,
        line.unit_name,
        line.full_name,
        phone(line.phone),
        words["yes"] if line.is_member else words["no"],
        label("role_name", locale, role=line.role.value),
        line.office_name or "",
        words[f"work_{WorkStatus(line.work_status).value}"],
        line.left_on,
        channels,
    ]


def roster_workbook(lines: list[RosterLine], *, locale: str, unit: str, made: dt.datetime) -> bytes:
    words = sheet_words("pending.html", locale, unit=unit, made=made, n=len(lines))
    return list_xlsx(
        title=words["roster_title"],
        subtitle=words["roster_subtitle"],
        headers=[words[f"h_{key}"] for key in ROSTER_COLUMNS],
        rows=[_roster_row(line, words, locale) for line in lines],
        sheet=words["roster_sheet"],
    )


async def roster(request: web.Request) -> web.Response:
    """``?unit=``: everyone of the unit's subtree (never the erased), by unit then name."""
    v = visit(request)
    c = ctx(request)
    unit = await unit_param(request, v)
    lines = await dashboard.roster_lines(v.session, path=unit.path)
    made = v.now.astimezone(c.tz)
    data = await asyncio.to_thread(
        roster_workbook, lines, locale=v.locale, unit=unit.name, made=made
    )
    await downloaded(v, what="roster", unit_id=unit.id, people=len(lines))
    return attachment(data, f"danh-sach-{unit.code}-{made:%Y%m%d}.xlsx")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/cho-xac-nhan", overview),
        web.post("/cho-xac-nhan/{id}", resolve),
        web.post("/cho-xac-nhan/{id}/don-vi", assign),
        web.get("/tai-ve/danh-sach.xlsx", roster),
    ]
