"""Chỉ tiêu: the plan's indicators for a unit and a year, each against its target with its
coverage and verdict; one indicator by child unit (furthest below target first) and by
public / non-public side, its phase targets, and its figures year by year; the indicator
workbook to download (the same as ``/report``'s)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from bot.indicators.catalog import Catalog, Target
from bot.indicators.compute import (
    ChildResult,
    IndicatorResult,
    StatsReport,
    compute_stats,
    ranked_children,
    shortfall,
)
from bot.reports.export import to_xlsx
from bot.reports.tree import unit_tree
from bot.web.common import (
    Visit,
    attachment,
    children_of,
    ctx,
    downloaded,
    html,
    recent_years,
    trail,
    unit_param,
    visit,
    year_param,
)
from storage import people
from storage.models import Unit, UnitKind


@dataclass(frozen=True)
class Line:
    """One indicator on the overview: its figure, the phase targets beside the year's, and
    how many child units are below their target (the furthest first)."""

    row: IndicatorResult
    phases: tuple[tuple[int, Target], ...]
    below: tuple[ChildResult, ...]

    @property
    def worst(self) -> ChildResult | None:
        return self.below[0] if self.below else None


def _public_side(unit: Unit) -> bool | None:
    return unit.is_public if unit.kind in (UnitKind.GRASSROOTS, UnitKind.GROUP) else None


def phase_targets(catalog: Catalog, code: str, unit: Unit) -> tuple[tuple[int, Target], ...]:
    """The plan's phase targets of an indicator (2025, 2030) for the unit's side."""
    indicator = catalog.get(code)
    side = _public_side(unit)
    return tuple((year, catalog.target_for(code, year, side)) for year, _rule in indicator.phases)


def below_target(row: IndicatorResult) -> tuple[ChildResult, ...]:
    return tuple(c for c in ranked_children(row) if (gap := shortfall(c)) is not None and gap > 0)


async def _report(v: Visit, request: web.Request, unit: Unit, year: int) -> StatsReport:
    assert unit.id is not None
    return await compute_stats(
        v.session, scope_unit_id=unit.id, year=year, catalog=ctx(request).catalog
    )


async def overview(request: web.Request) -> web.Response:
    v = visit(request)
    c = ctx(request)
    unit = await unit_param(request, v)
    year = year_param(request, v)
    report = await _report(v, request, unit, year)
    lines = [
        Line(row, phase_targets(c.catalog, row.code, unit), below_target(row))
        for row in report.rows
    ]
    return html(
        request,
        "indicators.html",
        report=report,
        unit=unit,
        year=year,
        years=recent_years(v, c.tz),
        trail=await trail(v, unit),
        children=await children_of(v, unit),
        lines=lines,
    )


async def one(request: web.Request) -> web.Response:
    v = visit(request)
    c = ctx(request)
    code = request.match_info["code"]
    if code not in c.catalog.codes:
        raise web.HTTPNotFound()
    unit = await unit_param(request, v)
    year = year_param(request, v)
    report = await _report(v, request, unit, year)
    row = next((r for r in report.rows if r.code == code), None)
    if row is None:  # in the catalog, not computed: the overview says so
        raise web.HTTPNotFound()
    # Each year's figure side by side (a trend), the oldest first.
    trend: list[tuple[int, IndicatorResult | None]] = []
    for earlier in sorted(recent_years(v, c.tz)):
        found = report if earlier == year else await _report(v, request, unit, earlier)
        trend.append((earlier, next((r for r in found.rows if r.code == code), None)))
        await asyncio.sleep(0)
    return html(
        request,
        "indicator.html",
        report=report,
        row=row,
        unit=unit,
        year=year,
        years=recent_years(v, c.tz),
        trail=await trail(v, unit),
        ranked=ranked_children(row),
        phases=phase_targets(c.catalog, code, unit),
        trend=trend,
        shortfall=shortfall,
    )


async def workbook(request: web.Request) -> web.Response:
    """The indicator workbook of a unit and year: ``/report``'s, level by level."""
    v = visit(request)
    c = ctx(request)
    unit = await unit_param(request, v)
    year = year_param(request, v)
    report = await _report(v, request, unit, year)
    tree = await unit_tree(v.session, report, catalog=c.catalog)
    root = await people.root_unit(v.session)
    union = root.name if root is not None else report.scope_name
    # Building the workbook takes a moment of CPU: off the event loop.
    data = await asyncio.to_thread(
        to_xlsx,
        tree,
        v.locale,
        union_name=union,
        made_at=v.now.astimezone(c.tz),
        signoff=c.signoff,
    )
    await downloaded(v, what="indicators", unit_id=unit.id, year=year)
    return attachment(data, f"chi-tieu-{unit.code}-{year}.xlsx")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/chi-tieu", overview),
        web.get("/chi-tieu/{code}", one),
        web.get("/tai-ve/chi-tieu.xlsx", workbook),
    ]
