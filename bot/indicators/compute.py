"""Indicator computation: the catalog's computed indicators for a scope and a year.

The figures come from the SQL aggregations of :mod:`storage.indicators` (a fixed number of
queries per indicator, whatever the number of people or units); this module only pairs them into
numerator / denominator / coverage and compares them with the catalog's targets.  See the comments
of ``catalog.yaml`` for the measurement rule of each indicator.

A closed year (``congdoan year close``: :mod:`bot.services.years`) is read from its snapshot,
the tallies frozen when it was closed, by every report alike (chat, CLI, exports): the one
branch is in :meth:`_Computer.load`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.indicators.catalog import (
    DEFAULT_MIN_COVERAGE,
    AppliesTo,
    Catalog,
    Indicator,
    Population,
    Target,
)
from storage import indicators as q
from storage.models import CaseKind, UnitKind

PUBLIC = "public"
NON_PUBLIC = "non_public"


class UnknownScope(LookupError):
    """No unit with the requested id."""


class CoverageKind(StrEnum):
    """What the coverage of a figure counts."""

    RESPONDENTS = "respondents"  # people who answered, out of the people in scope
    SIGNUPS = "signups"  # members who signed up for a benefit, out of the members in scope
    CASES = "cases"  # the number of cases the rate rests on
    ROSTER = "roster"  # people in the roster, out of the staff headcount
    RECIPIENTS = "recipients"  # members who received a notice, out of the members in scope
    REPORTS = "reports"  # union bodies that sent their unit report, out of those in scope

    @property
    def decides(self) -> bool:
        """Whether too little coverage withholds the verdict: answers of people or units.  A
        count of cases is all there is; the roster's coverage is how complete it is, warned
        about but not withholding A5's verdict."""
        return self not in (CoverageKind.CASES, CoverageKind.ROSTER)


class Standing(StrEnum):
    """What a figure can say."""

    NO_DATA = "no_data"  # nobody answered, no case, nothing to count: no rate at all
    LOW_COVERAGE = "low_coverage"  # a rate, but too few answered for a verdict
    MET = "met"
    NOT_MET = "not_met"
    NO_VERDICT = "no_verdict"  # a target without a number, or one per public side


@dataclass(frozen=True)
class Figure:
    """One numerator/denominator pair with its target, for a scope or a part of it.

    ``met`` is the verdict: None when there is no rate, no number to compare with, or (where
    coverage decides) fewer answered than the catalog's minimum coverage.  ``floor`` is the
    cautious reading of a rate over those who answered: those who did not answer taken as
    "no" (yes / all in scope); None where it means nothing (amounts, cases, the roster)."""

    numerator: int
    denominator: int
    rate: float | None  # None when the denominator is 0
    target: Target
    met: bool | None
    coverage_count: int
    coverage_total: int
    fallback_units: int = 0  # A5: CĐCS whose staff count came from the roster
    apart: int = 0  # A3b, P4: cases of people not (known as) members, handled but not counted
    enough: bool = True  # the coverage reached the minimum (always, where it does not decide)
    floor: float | None = None
    min_coverage: int = DEFAULT_MIN_COVERAGE  # percent

    @property
    def coverage_rate(self) -> float | None:
        return self.coverage_count / self.coverage_total if self.coverage_total else None

    @property
    def coverage_low(self) -> bool:
        """Fewer answered (or are listed) than the minimum coverage of the catalog."""
        return (
            self.coverage_total > 0
            and self.coverage_count * 100 < self.min_coverage * self.coverage_total
        )

    @property
    def standing(self) -> Standing:
        if self.rate is None:
            return Standing.NO_DATA
        if not self.enough:
            return Standing.LOW_COVERAGE
        if self.met is None:
            return Standing.NO_VERDICT
        return Standing.MET if self.met else Standing.NOT_MET


@dataclass(frozen=True)
class ChildResult(Figure):
    """A child unit of the scope; ``direct`` is the part sitting on the scope unit itself."""

    unit_id: int | None = None
    code: str = ""
    name: str = ""
    direct: bool = False


@dataclass(frozen=True)
class IndicatorResult(Figure):
    code: str = ""
    name_vi: str = ""
    name_en: str = ""
    subject: str = ""
    coverage_kind: CoverageKind = CoverageKind.RESPONDENTS
    upper_levels: bool = False  # a unit-report indicator counting union bodies above CĐCS
    by_public: Mapping[str, Figure] | None = None  # keys "public", "non_public"
    by_child: tuple[ChildResult, ...] = ()
    # People in scope who withdrew their consent and whose answers to the indicator's survey
    # are therefore not counted (said under the coverage when more than 0).
    withdrawn: int = 0

    def name(self, locale: str) -> str:
        return self.name_vi if locale == "vi" else self.name_en


@dataclass(frozen=True)
class NotComputed:
    code: str
    name_vi: str
    name_en: str


@dataclass(frozen=True)
class StatsReport:
    scope_id: int
    scope_name: str
    scope_code: str
    scope_kind: UnitKind
    scope_is_public: bool
    year: int
    rows: tuple[IndicatorResult, ...]
    not_computed: tuple[NotComputed, ...]
    min_coverage: int = DEFAULT_MIN_COVERAGE  # percent: the catalog's, below it no verdict
    # A closed year: the local day its figures were frozen (they come from the snapshot).
    frozen_on: dt.date | None = None


_F = TypeVar("_F", bound="Figure")

# A group of counts: the whole scope, one public side, or one child.
_Selector = Callable[[q.Breakdown], Mapping[str, int]]


@dataclass(frozen=True)
class _Plan:
    """Where an indicator's figures come from: (breakdown, count name) for each part."""

    numerator: tuple[q.Breakdown, str]
    denominator: tuple[q.Breakdown, str]
    coverage: tuple[q.Breakdown, str]
    coverage_total: tuple[q.Breakdown, str]
    coverage_kind: CoverageKind
    fallback: tuple[q.Breakdown, str] | None = None
    apart: tuple[q.Breakdown, str] | None = None
    # The denominator is those who answered (those in scope who did not are the difference
    # between the coverage's total and count): the floor takes them as "no".
    over_answered: bool = False
    amount: bool = False  # sums of money: no floor
    # the people whose answers are left out, having withdrawn their consent
    withdrawn: tuple[q.Breakdown, str] | None = None

    def withdrawn_count(self) -> int:
        """Over the whole scope: the people whose answers are left out."""
        if self.withdrawn is None:
            return 0
        breakdown, name = self.withdrawn
        return breakdown.total.get(name, 0)

    def counts(self, select: _Selector) -> tuple[int, int, int, int, int, int]:
        def get(part: tuple[q.Breakdown, str] | None) -> int:
            if part is None:
                return 0
            breakdown, name = part
            return select(breakdown).get(name, 0)

        return (
            get(self.numerator),
            get(self.denominator),
            get(self.coverage),
            get(self.coverage_total),
            get(self.fallback),
            get(self.apart),
        )


class _Computer:
    """The families of counts a catalog's indicators read, fetched once for a report."""

    def __init__(self, indicators: Sequence[Indicator]) -> None:
        self.roster = q.Roster()
        self.staff = q.Staff()
        self.welfare = q.Welfare()
        self.notices = q.NoticeAcks()
        self.report_measures = {
            i.code: q.ReportMeasure(
                question_key=i.source.split(":")[1],
                counts_as=i.counts_as,
                integer=i.is_average or i.is_amount,
                among=i.among,
                out_of=i.out_of,
                public=None if i.applies_to is AppliesTo.ALL else i.applies_to is AppliesTo.PUBLIC,
                levels=tuple(UnitKind(level.value) for level in i.levels),
            )
            for i in indicators
            if i.source_kind == "unit_report"
        }
        self.reports = q.UnitReports(tuple(self.report_measures.values()))
        self.families: tuple[q.Family, ...] = tuple(
            dict.fromkeys(f for i in indicators for f in self._families_of(i))
        )
        self.counts: dict[str, q.Breakdown] = {}

    def _survey(self, indicator: Indicator) -> q.SurveyYes:
        _, survey_key, question_key = indicator.source.split(":")
        return q.SurveyYes(
            survey_key, question_key, members_only=indicator.population is Population.MEMBERS
        )

    def _families_of(self, indicator: Indicator) -> tuple[q.Family, ...]:
        kind = indicator.source_kind
        if kind == "survey":
            return (self._survey(indicator), self.roster)
        if kind == "unit_report":
            return (self.reports,)
        if kind == "welfare_benefits":
            return (self.welfare, self.roster)
        if kind in ("hardship_cases", "legal_cases"):
            return (q.Cases(_case_kind(kind)),)
        if kind == "roster_membership":
            return (self.staff, self.roster)
        if kind == "notices_ack":
            return (self.notices,)
        raise ValueError(f"indicator {indicator.code}: source {indicator.source!r} is not computed")

    async def load(
        self,
        session: AsyncSession,
        scope: q.ScopeUnit,
        children: Sequence[q.ScopeUnit],
        year: int,
        tallies: bool,
        frozen: bool = False,
    ) -> None:
        """The counts of every family over the scope: a closed year's from its snapshot
        (``frozen``, whatever ``tallies`` says: its figures are those reported, never
        recomputed), else from the tallies refreshed first, or from the facts."""
        if frozen:
            self.counts = await q.snapshot_breakdowns(
                session, scope=scope, children=children, year=year, families=self.families
            )
        elif tallies:
            self.counts, _ = await q.tally_breakdowns(
                session, scope=scope, children=children, year=year, families=self.families
            )
        else:
            self.counts = await q.fact_breakdowns(
                session, scope=scope, year=year, families=self.families
            )

    def _of(self, source: q.Source) -> q.Breakdown:
        return self.counts[source.key]

    def plan(self, indicator: Indicator) -> _Plan:
        kind = indicator.source_kind
        roster = self.counts.get(self.roster.source.key, q.Breakdown({}))
        if kind == "survey":
            answered = self._of(self._survey(indicator).source)
            population = "members" if indicator.population is Population.MEMBERS else "people"
            return _Plan(
                numerator=(answered, "yes"),
                denominator=(answered, "answered"),
                coverage=(answered, "answered"),
                coverage_total=(roster, population),
                coverage_kind=CoverageKind.RESPONDENTS,
                over_answered=True,
                withdrawn=(answered, "withdrawn"),
            )
        if kind == "unit_report":
            reports = self._of(self.reports.source(self.report_measures[indicator.code]))
            summed = indicator.is_average or indicator.is_amount
            if indicator.is_amount:
                denominator = "due"
            elif indicator.among:
                denominator = "eligible"
            else:
                denominator = "reported"
            return _Plan(
                numerator=(reports, "amount" if summed else "yes"),
                denominator=(reports, denominator),
                coverage=(reports, "reported"),
                coverage_total=(reports, "units"),
                coverage_kind=CoverageKind.REPORTS,
                over_answered=True,
                amount=indicator.is_amount,
            )
        if kind == "welfare_benefits":
            welfare = self._of(self.welfare.source)
            return _Plan(
                numerator=(welfare, "confirmed"),
                denominator=(roster, "members"),
                coverage=(welfare, "engaged"),
                coverage_total=(roster, "members"),
                coverage_kind=CoverageKind.SIGNUPS,
                withdrawn=(welfare, "withdrawn"),
            )
        if kind in ("hardship_cases", "legal_cases"):
            cases = self._of(q.Cases(_case_kind(kind)).source)
            return _Plan(
                numerator=(cases, "supported"),
                denominator=(cases, "cases"),
                coverage=(cases, "cases"),
                coverage_total=(cases, "cases"),
                coverage_kind=CoverageKind.CASES,
                apart=(cases, "others"),
            )
        if kind == "roster_membership":
            staff = self._of(self.staff.source)
            return _Plan(
                numerator=(roster, "members"),
                denominator=(staff, "staff"),
                coverage=(roster, "people"),
                coverage_total=(staff, "staff"),
                coverage_kind=CoverageKind.ROSTER,
                fallback=(staff, "fallback_units"),
            )
        if kind == "notices_ack":
            notices = self._of(self.notices.source)
            return _Plan(
                numerator=(notices, "informed"),
                denominator=(notices, "members"),
                coverage=(notices, "reached"),
                coverage_total=(notices, "members"),
                coverage_kind=CoverageKind.RECIPIENTS,
            )
        raise ValueError(f"indicator {indicator.code}: source {indicator.source!r} is not computed")


def tallied_families(catalog: Catalog) -> tuple[q.Family, ...]:
    """The families of counts the catalog's computed indicators read: what closing a year
    brings up to date and freezes."""
    return _Computer(catalog.computed).families


def _case_kind(source_kind: str) -> CaseKind:
    return CaseKind.HARDSHIP if source_kind == "hardship_cases" else CaseKind.LEGAL


def _build(
    cls: type[_F],
    plan: _Plan,
    counts: tuple[int, int, int, int, int, int],
    target: Target,
    min_coverage: int,
    **extra: Any,
) -> _F:
    numerator, denominator, coverage, coverage_total, fallback, apart = counts
    enough = not plan.coverage_kind.decides or (
        coverage_total > 0 and coverage * 100 >= min_coverage * coverage_total
    )
    # Nobody in scope answered (received a notice, signed up): no figure, never a 0 %.
    silent = plan.coverage_kind.decides and coverage == 0
    rate = numerator / denominator if denominator and not silent else None
    enough = enough and not silent
    floor: float | None = None
    if rate is not None and plan.coverage_kind.decides and not plan.amount:
        # Those in scope who did not answer taken as "no"; a rate over everyone in scope
        # already (A1, A3a) is its own floor.
        unanswered = max(coverage_total - coverage, 0) if plan.over_answered else 0
        floor = numerator / (denominator + unanswered)
    return cls(
        numerator=numerator,
        denominator=denominator,
        rate=rate,
        target=target,
        met=target.is_met(numerator, denominator) if enough else None,
        coverage_count=coverage,
        coverage_total=coverage_total,
        fallback_units=fallback,
        apart=apart,
        enough=enough,
        floor=floor,
        min_coverage=min_coverage,
        **extra,
    )


def _public_side(flag: bool) -> _Selector:
    return lambda b: b.by_public.get(flag, {})


def _child(child_id: int | None) -> _Selector:
    return lambda b: b.by_child.get(child_id, {})


def _unit_public(unit: q.ScopeUnit) -> bool | None:
    """A CĐCS (or tổ) is public or not; a province or district mixes both."""
    return unit.is_public if unit.kind in (UnitKind.GRASSROOTS, UnitKind.GROUP) else None


async def compute_stats(
    session: AsyncSession,
    *,
    scope_unit_id: int,
    year: int,
    catalog: Catalog,
    tallies: bool = True,
) -> StatsReport:
    """The catalog's computed indicators for a unit's subtree and a year.

    From the per-unit tallies, recomputing the stale ones first (this writes: the caller
    commits), or with ``tallies=False`` straight from the facts, storing nothing; the figures
    are the same.  A closed year's come from its snapshot either way (``frozen_on`` says
    since when)."""
    await q.plan_for_reports(session)
    found = await q.get_scope_of_year(session, unit_id=scope_unit_id, year=year)
    if found is None:
        raise UnknownScope(f"no unit with id {scope_unit_id}")
    scope, frozen_on = found
    children = await q.child_units(session, scope=scope)
    computer = _Computer(catalog.computed)
    await computer.load(session, scope, children, year, tallies, frozen=frozen_on is not None)
    rows: list[IndicatorResult] = []
    for indicator in catalog.computed:
        plan = computer.plan(indicator)
        code = indicator.code
        total = plan.counts(lambda b: b.total)
        by_public: dict[str, Figure] = {
            key: _build(
                Figure,
                plan,
                plan.counts(_public_side(flag)),
                catalog.target_for(code, year, flag),
                catalog.min_coverage,
            )
            for key, flag in ((PUBLIC, True), (NON_PUBLIC, False))
        }
        # Staff headcounts are kept per CĐCS: inside one CĐCS a split by tổ means nothing.
        in_one_cdcs = _unit_public(scope) is not None
        per_child = not (plan.coverage_kind is CoverageKind.ROSTER and in_one_cdcs)
        by_child: list[ChildResult] = [
            _build(
                ChildResult,
                plan,
                plan.counts(_child(child.id)),
                catalog.target_for(code, year, _unit_public(child)),
                catalog.min_coverage,
                unit_id=child.id,
                code=child.code,
                name=child.name,
            )
            for child in children
            if per_child
        ]
        direct = plan.counts(_child(None))
        if by_child and any(direct):  # a unit with no children lists nothing
            by_child.append(
                _build(
                    ChildResult,
                    plan,
                    direct,
                    catalog.target_for(code, year, _unit_public(scope)),
                    catalog.min_coverage,
                    unit_id=None,
                    code=scope.code,
                    name=scope.name,
                    direct=True,
                )
            )
        rows.append(
            _build(
                IndicatorResult,
                plan,
                total,
                catalog.target_for(code, year, _unit_public(scope)),
                catalog.min_coverage,
                code=code,
                name_vi=indicator.name_vi,
                name_en=indicator.name_en,
                subject=indicator.subject.value,
                coverage_kind=plan.coverage_kind,
                upper_levels=indicator.source_kind == "unit_report" and indicator.upper_levels,
                by_public=by_public,
                by_child=tuple(by_child),
                withdrawn=plan.withdrawn_count(),
            )
        )
    return StatsReport(
        scope_id=scope.id,
        scope_name=scope.name,
        scope_code=scope.code,
        scope_kind=scope.kind,
        scope_is_public=scope.is_public,
        year=year,
        rows=tuple(rows),
        not_computed=tuple(NotComputed(i.code, i.name_vi, i.name_en) for i in catalog.not_computed),
        min_coverage=catalog.min_coverage,
        frozen_on=frozen_on,
    )


def shortfall(figure: Figure) -> float | None:
    """How far ``figure`` is below its target (target − rate; an average's target − average),
    negative when above it; None without a rate or a number to compare with."""
    target = figure.target
    if figure.rate is None or target.value is None or figure.met is None:
        return None
    wanted = float(target.value) if target.rate is None else target.rate
    return wanted - figure.rate


def ranked_children(row: IndicatorResult) -> list[ChildResult]:
    """The row's child units, furthest below their target first; then those without a
    verdict (no data, or no single target), by name."""

    def key(child: ChildResult) -> tuple[int, float, str]:
        gap = shortfall(child)
        return (0, -gap, child.name) if gap is not None else (1, 0.0, child.name)

    return sorted(row.by_child, key=key)
