"""Trường hợp: the open hardship and legal cases of the officer's scope, on a need-to-know basis
(``bot.services.casework``): in detail, each with its history and a button per allowed move,
those of the officer's own union body or passed up to it (every such showing audited, via
web); the others as counts by union body and status.  The detailed cases as a workbook to
download, with the counts on a second sheet.

The words of the workbook are the page template's (its ``sheet`` block, one ``key=text`` a
line): :func:`sheet_words`."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from functools import cache

from aiohttp import web

from bot.reports.lists import ListSheet, Value, lists_xlsx
from bot.services import casework
from bot.services.casework import BodyCount, CaseItem, CasesView, ChangeOutcome
from bot.services.conversation import SurveyRegistry
from bot.texts import format_datetime, label
from bot.web.common import (
    Visit,
    attachment,
    ctx,
    downloaded,
    html,
    int_param,
    path_id,
    see_other,
    sheet_words,
    url,
    visit,
)
from storage.models import Case, CaseKind, CaseStatus

#: How many cases the page shows in detail (urgent first, then the newest); the chat shows 20.
CASES_SHOWN = 100
#: How many the workbook holds at most (the number left out is said in it).
CASES_DOWNLOADED = 5000
#: The statuses of an open case, the columns of the counts.
OPEN_STATUSES = (CaseStatus.REPORTED, CaseStatus.VISITED, CaseStatus.SUPPORTED)


@cache
def _registry() -> SurveyRegistry:
    """The built-in forms: a case's category is an option of the form it came from."""
    return SurveyRegistry()


def _form_of(case: Case) -> str:
    if case.kind == CaseKind.HARDSHIP:
        return "hardship_case"
    return "legal_union_case" if case.subject_union else "legal_consultation"


def category_of(case: Case) -> str:
    """A case's category as its form words it (empty when it has none)."""
    if not case.category:
        return ""
    return _registry().option_label(_form_of(case), "category", case.category)


@dataclass(frozen=True)
class Step:
    status: CaseStatus
    at: dt.datetime  # local
    by: str | None


@dataclass(frozen=True)
class Shown:
    """A case shown in detail: the service's item, its times in local time."""

    item: CaseItem
    category: str
    created: dt.datetime
    escalated: dt.datetime | None
    history: tuple[Step, ...]

    @property
    def case(self) -> Case:
        return self.item.case


def shown(item: CaseItem, tz: dt.tzinfo) -> Shown:
    case = item.case
    return Shown(
        item=item,
        category=category_of(case),
        created=case.created_at.astimezone(tz),
        escalated=case.escalated_at.astimezone(tz) if case.escalated_at else None,
        history=tuple(Step(s.status, s.at.astimezone(tz), s.by) for s in item.history),
    )


@dataclass(frozen=True)
class Outcome:
    """What the last move did (from the query string after the redirect)."""

    done: ChangeOutcome
    case_id: int | None
    status: CaseStatus | None
    kind: CaseKind | None


def _outcome(request: web.Request) -> Outcome | None:
    try:
        done = ChangeOutcome(request.query.get("done", ""))
    except ValueError:
        return None
    try:
        status: CaseStatus | None = CaseStatus(request.query.get("status", ""))
    except ValueError:
        status = None
    try:
        kind: CaseKind | None = CaseKind(request.query.get("kind", ""))
    except ValueError:
        kind = None
    return Outcome(done, int_param(request, "case"), status, kind)


async def _view(v: Visit, limit: int) -> CasesView:
    return await casework.open_cases(v.session, actor=v.actor, now=v.now, limit=limit, via="web")


async def overview(request: web.Request) -> web.Response:
    v = visit(request)
    c = ctx(request)
    view = await _view(v, CASES_SHOWN)
    return html(
        request,
        "cases.html",
        view=view,
        cases=[shown(item, c.tz) for item in view.items],
        counts=view.counts,
        statuses=OPEN_STATUSES,
        outcome=_outcome(request),
    )


async def move(request: web.Request) -> web.Response:
    """A press on a case's button: ``status=<value>``; the outcome is shown after the
    redirect."""
    v = visit(request)
    case_id = path_id(request)
    form = await request.post()
    try:
        status = CaseStatus(str(form.get("status", "")))
    except ValueError:
        raise web.HTTPBadRequest() from None
    outcome, item = await casework.change_case(
        v.session, actor=v.actor, case_id=case_id, status=status, via="web"
    )
    kind = item.case.kind if item is not None else None  # nothing of a case not theirs
    return see_other(
        url("/truong-hop", done=outcome.value, case=case_id, status=status.value, kind=kind)
    )


#: The columns of the cases sheet (their headers are the template's ``h_<key>``).
CASE_COLUMNS = (
    "id",
    "kind",
    "urgent",
    "unit",
    "subject",
    "phone",
    "reporter",
    "category",
    "description",
    "status",
    "created",
    "history",
)


def _case_row(s: Shown, words: dict[str, str], locale: str) -> list[Value]:
    case, item = s.case, s.item
    reporter = words["reporter_self"] if item.for_self else item.reporter or ""
    history = "\n".join(
        words["step_by" if step.by else "step"].format(
            when=format_datetime(step.at),
            status=label("case_status", locale, status=step.status.value, kind=case.kind),
            by=step.by,
        )
        for step in s.history
    )
    return [
        case.id,
        words["kind_legal"] if case.kind == CaseKind.LEGAL else words["kind_hardship"],
        words["yes"] if case.urgent else "",
        item.unit.name,
        case.subject_name,
        item.subject_phone or "",
        reporter,
        s.category,
        case.description,
        label("case_status", locale, status=CaseStatus(case.status).value, kind=case.kind),
        s.created,
        history,
    ]


def _count_row(count: BodyCount) -> list[Value]:
    return [
        count.unit.code,
        count.unit.name,
        *(count.by_status.get(status, 0) for status in OPEN_STATUSES),
        count.total,
        count.urgent,
    ]


def cases_workbook(
    view: CasesView, cases: list[Shown], *, locale: str, scope: str, made: dt.datetime
) -> bytes:
    """The detailed cases, and the other open cases' counts by union body and status."""
    words = sheet_words("cases.html", locale, scope=scope, made=made, more=view.more)
    statuses = [label("case_status", locale, status=s.value) for s in OPEN_STATUSES]
    sheets = [
        ListSheet(
            name=words["cases_sheet"],
            title=words["cases_title"],
            subtitle=words["cases_subtitle"] + (" " + words["more"] if view.more else ""),
            headers=[words[f"h_{key}"] for key in CASE_COLUMNS],
            rows=[_case_row(s, words, locale) for s in cases],
        ),
        ListSheet(
            name=words["counts_sheet"],
            title=words["counts_title"],
            subtitle=words["counts_subtitle"],
            headers=[
                words["h_code"],
                words["h_body"],
                *statuses,
                words["h_total"],
                words["h_urgent"],
            ],
            rows=[_count_row(count) for count in view.counts],
        ),
    ]
    return lists_xlsx(sheets)


async def workbook(request: web.Request) -> web.Response:
    """The cases the officer may see in detail (each audited as viewed) and the counts of
    the others; the download itself is audited too."""
    v = visit(request)
    c = ctx(request)
    assert v.actor.scope is not None
    scope = v.actor.scope
    view = await _view(v, CASES_DOWNLOADED)
    cases = [shown(item, c.tz) for item in view.items]
    made = v.now.astimezone(c.tz)
    data = await asyncio.to_thread(
        cases_workbook, view, cases, locale=v.locale, scope=scope.name, made=made
    )
    await downloaded(v, what="cases", unit_id=scope.id, cases=len(cases))
    return attachment(data, f"truong-hop-{scope.code}-{made:%Y%m%d}.xlsx")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/truong-hop", overview),
        web.post("/truong-hop/{id}", move),
        web.get("/tai-ve/truong-hop.xlsx", workbook),
    ]
