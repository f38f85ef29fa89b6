"""SQL aggregations behind the indicators: counts per unit, kept as tallies, summed per scope.

Every indicator reads one or more *sources*: a named set of up to six counts per unit and year
(``survey:activity_participation:participated`` → respondents, yes; ``roster`` → people,
members; …).  A :class:`Family` builds, in one SELECT, the counts of its sources for every unit
(or for a set of units), grouped by unit.  Each fact is counted in exactly one unit, so the
counts of a scope are the sums of its units' counts:

- a person who answered a survey in several units in a year counts once, in the unit of their
  latest answer (with the answers of all their responses: "yes" if any said yes);
- a member's welfare facts count in the unit of their latest benefit, else of their latest
  sign-up; a member's notices in their unit now; a case in its unit; a unit report, the roster
  and a CĐCS's staff count in their CĐCS.

Two ways to get a scope's counts, with the same figures:

- :func:`tally_breakdowns` (what the bot uses): the per-unit counts are stored in
  ``indicator_tallies`` with the version of the unit they were computed at; database triggers
  (migration 0008) log every change to a fact of a unit in ``indicator_changes``, and a report
  first turns the log into version bumps.  It recomputes the stale units of its scope (and the
  units above them) from the facts, then sums the stored rows: one statement over a few rows
  per unit instead of every answer of the year.
- :func:`fact_breakdowns`: the same per-unit counts computed from the facts and summed in one
  statement per family, storing nothing (the reference the tallies are tested against, and the
  benchmark's comparison).

A closed year (``storage.years``) is read from neither: :func:`snapshot_breakdowns` sums the
tallies frozen when it was closed.

The answers of people who withdrew their consent count nowhere (:func:`_withdrawn`); the survey
sources count them apart (``withdrawn``), for the coverage to say so.

Each way splits the sums three ways: the whole scope, by the unit's public flag, and by the
child of the scope whose subtree holds the unit.  Functions are keyword-only after the session
and never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Label,
    Select,
    Subquery,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import NamedFromClause

from storage.models import (
    BenefitStatus,
    CaseKind,
    CaseStatus,
    DeliveryKind,
    DeliveryStatus,
    ResponseState,
    UnitKind,
)
from storage.people import path_ids
from storage.tables import (
    answers,
    benefits,
    cases,
    closed_years,
    definitions,
    deliveries,
    indicator_changes,
    indicator_snapshots,
    indicator_tallies,
    indicator_versions,
    notices,
    people,
    responses,
    runs,
    units,
)

TRUE_JSON = "true"  # a yes/no answer stored as JSON
TALLY_COLUMNS = ("n1", "n2", "n3", "n4", "n5", "n6")
# Up to this many stale units are recomputed by id; more, and the whole scope is.
_BY_ID_LIMIT = 500
_REFRESH_LOCK = 0x1D1CA7  # PostgreSQL advisory lock: one tally refresh at a time


@dataclass(frozen=True)
class ScopeUnit:
    id: int
    code: str
    name: str
    kind: UnitKind
    path: str
    is_public: bool


@dataclass(frozen=True)
class Breakdown:
    """Named counts for the whole scope, per public flag, and per child unit of the scope.

    ``by_child`` is keyed by the child's id; the key None holds what sits on the scope unit
    itself (not under any child).  Groups with no rows are absent (their counts are 0)."""

    total: dict[str, int]
    by_public: dict[bool, dict[str, int]] = field(default_factory=dict)
    by_child: dict[int | None, dict[str, int]] = field(default_factory=dict)

    def get(self, name: str, group: dict[str, int] | None = None) -> int:
        return (self.total if group is None else group).get(name, 0)


@dataclass(frozen=True)
class Source:
    """A set of counts kept per unit and year: ``key`` names it in ``indicator_tallies``,
    ``names`` are its counts, stored in ``n1`` … in this order."""

    key: str
    names: tuple[str, ...]


# Restricts a unit id column to the units being computed; Within's None: every unit.
UnitFilter = Callable[[ColumnElement[int]], ColumnElement[bool]]
Within = UnitFilter | None
# A year: a number, or the bound parameter ``year`` of a statement built once (see YEAR).
Year = int | ColumnElement[int]
YEAR: ColumnElement[int] = bindparam("year", type_=Integer)


class Family(Protocol):
    """Sources computed together, in one SELECT grouped by unit.  Hashable (the statements
    built from a family are kept)."""

    def __hash__(self) -> int: ...

    @property
    def sources(self) -> tuple[Source, ...]: ...

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        """One row per unit with facts: ``unit_id`` and a column ``<source key>.<name>`` for
        each count of each source (units without facts may be absent)."""
        ...


def _column(source: Source, name: str) -> str:
    return f"{source.key}.{name}"


def _scope_row(row: Sequence[Any]) -> ScopeUnit:
    id_, code, name, kind, path, is_public = row
    return ScopeUnit(
        id=int(id_),
        code=str(code),
        name=str(name),
        kind=UnitKind(kind),
        path=str(path),
        is_public=bool(is_public),
    )


_SCOPE_COLUMNS = (
    units.c.id,
    units.c.code,
    units.c.name,
    units.c.kind,
    units.c.path,
    units.c.is_public,
)


async def plan_for_reports(session: AsyncSession) -> None:
    """On PostgreSQL, plan the report's statements for the values they run with, for the rest
    of the transaction.

    asyncpg prepares every statement; after five runs PostgreSQL may switch a prepared statement
    to a generic plan, which cannot see that the scope's ``path LIKE '/1/%'`` matches every unit
    of a province: it then walks every response of every year (1.6–1.9 s a statement instead
    of 0.2–0.3 s on 3 million answers).  JIT compilation, triggered by the staff count's
    correlated subquery's cost estimate, cost ~0.5 s for a 50 ms statement.  SQLite needs
    neither."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        await session.execute(text("SET LOCAL jit = off"))


async def get_scope(session: AsyncSession, *, unit_id: int) -> ScopeUnit | None:
    row = (await session.execute(select(*_SCOPE_COLUMNS).where(units.c.id == unit_id))).first()
    return None if row is None else _scope_row(tuple(row))


async def get_scope_of_year(
    session: AsyncSession, *, unit_id: int, year: int
) -> tuple[ScopeUnit, dt.date | None] | None:
    """The scope unit, and the local day ``year`` was closed on (None while it is open): a
    closed year's report reads the snapshot.  One statement, as :func:`get_scope`: every
    report asks."""
    frozen = select(closed_years.c.closed_on).where(closed_years.c.year == year).scalar_subquery()
    stmt = select(*_SCOPE_COLUMNS, frozen).where(units.c.id == unit_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    *scope, closed_on = tuple(row)
    return _scope_row(scope), closed_on


async def top_scopes(session: AsyncSession) -> list[ScopeUnit]:
    """The units at the top of the tree (the province; more only in a database holding
    several): together, every unit."""
    stmt = select(*_SCOPE_COLUMNS).where(units.c.parent_id.is_(None)).order_by(units.c.id)
    return [_scope_row(tuple(row)) for row in (await session.execute(stmt)).all()]


async def child_units(session: AsyncSession, *, scope: ScopeUnit) -> list[ScopeUnit]:
    """The direct children of the scope unit, by name."""
    stmt = (
        select(*_SCOPE_COLUMNS)
        .where(units.c.parent_id == scope.id)
        .order_by(units.c.name, units.c.id)
    )
    return [_scope_row(tuple(row)) for row in (await session.execute(stmt)).all()]


# --------------------------------------------------------------------------- the families


def _sum(column: ColumnElement[Any], name: str) -> Label[int]:
    return func.coalesce(func.sum(column), 0).label(name)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _present(year: Year) -> ColumnElement[bool]:
    """The person (a row of ``people``) had not left the sector by ``year``: one who retired
    or moved out is out of that year's figures and later ones (their facts of earlier years
    stay there)."""
    return or_(people.c.left_on.is_(None), extract("year", people.c.left_on) > year)


def _withdrawn() -> ColumnElement[bool]:
    """The person (a row of ``people``) withdrew their consent to the processing of their
    data: their answers to surveys that are not anonymous stop feeding every indicator of
    every year not closed (a closed year's figures are frozen in its snapshot).

    Answers only, as the issue words it.  What stays, and why: an anonymous survey's
    responses carry no person (the link is cut on completion; the ``participations`` row that
    says who took part is never counted by an indicator), so they are no longer the person's
    answers; the roster (membership, A5, and the members that are every rate's denominator)
    is the union's own membership record, which its charter keeps whatever the member's
    consent to the bot; notices delivered and acknowledged (A1) are the union informing its
    member, recorded on the union's side; cases and welfare benefits are the union's record
    of the support it gave; a unit report is the CĐCS's report, answered by an officer for
    their union body, not a personal answer.  Only the survey answers a member gave about
    themselves (activity, training, welfare sign-up, ...) are the member's own data that
    the indicators use by their consent."""
    return people.c.consent_withdrawn_at.is_not(None)


def _gone(year: Year) -> Select[Any]:
    """The ids of the people whose answers do not count in ``year``: those who had left the
    sector by then, and those who withdrew their consent (see :func:`_withdrawn`).  One
    scan of ``people`` either way: the second condition costs nothing more."""
    return select(people.c.id).where(or_(~_present(year), _withdrawn()))


def _runs_of_year(survey_key: str, year: Year) -> Select[Any]:
    """The runs of ``survey_key`` for the period ``year``: picked first (a handful of rows) and
    their responses reached through ``ix_responses_run_id``.  Written as a join, a planner with
    full statistics may instead walk every response of every year."""
    return (
        select(runs.c.id)
        .join(definitions, definitions.c.id == runs.c.definition_id)
        .where(definitions.c.key == survey_key, runs.c.period_year == year)
    )


def _completed(
    table: NamedFromClause,
    survey_key: str,
    year: Year,
    within: Within = None,
    *,
    members_only: bool = False,
) -> Select[Any]:
    """Completed responses (``table``: ``responses`` or an alias) to runs of ``survey_key`` of
    ``year`` (no columns yet); only those in the units ``within`` if given, only those given
    as a member if ``members_only``.

    All of them: the runs are picked first and the responses reached through
    ``ix_responses_run_id`` (written as a join, a planner with full statistics may walk every
    response of every year).  In some units: written as a join, so that each run's responses
    in those units are reached through ``ix_responses_run_unit`` (with ``run_id IN (…)``,
    SQLite without statistics takes the units' own index: every response of those units of
    every year, 170 ms instead of 0.1 ms for 40 CĐCS)."""
    done = table.c.state == ResponseState.COMPLETED
    if members_only:
        done = and_(done, table.c.is_member.is_(True))
    if within is None:
        return (
            select()
            .select_from(table)
            .where(table.c.run_id.in_(_runs_of_year(survey_key, year)), done)
        )
    return (
        select()
        .select_from(
            runs.join(definitions, definitions.c.id == runs.c.definition_id).join(
                table, table.c.run_id == runs.c.id
            )
        )
        .where(
            definitions.c.key == survey_key,
            runs.c.period_year == year,
            done,
            within(table.c.unit_id),
        )
    )


def _respondent(table: NamedFromClause) -> ColumnElement[int]:
    """The person of a response; an anonymous response (no person) counts as its own
    respondent."""
    return func.coalesce(table.c.person_id, -table.c.id)


def _responses_touching(
    completed: Callable[[NamedFromClause, Within], Select[Any]],
    within: UnitFilter,
    name: str,
) -> CompoundSelect[Any]:
    """The ids of the responses (among ``completed(table, …)``) of everyone with one in the
    units ``within``, and of the anonymous ones there: who counts where, and whether, depends
    on all of a person's responses.  Two branches, each on its index: people by (run, unit),
    their responses by (run, person); anonymous responses by (run, unit)."""
    here = responses.alias(f"{name}_here")
    theirs = responses.alias(f"{name}_theirs")
    nameless = responses.alias(f"{name}_nameless")
    people_here = (
        completed(here, within).add_columns(here.c.person_id).where(here.c.person_id.is_not(None))
    )
    return union_all(
        completed(theirs, None).add_columns(theirs.c.id).where(theirs.c.person_id.in_(people_here)),
        completed(nameless, within)
        .add_columns(nameless.c.id)
        .where(nameless.c.person_id.is_(None)),
    )


def _withdrawn_per_unit(
    survey_key: str,
    year: Year,
    within: Within,
    *,
    members_only: bool,
    zeros: Sequence[str],
    name: str,
) -> Select[Any]:
    """The people who withdrew their consent (:func:`_withdrawn`) and completed a response of
    ``year`` to ``survey_key`` (``members_only``: one given as a member), whose answers
    therefore count nowhere: per unit, ``unit_id``, a 0 for each of ``zeros`` and their
    number as ``name``, each person in the unit of their latest such response (where their
    answers would have counted, as :class:`SurveyYes` places a person).  What a report's
    coverage says: "the answers of N people not counted".

    Driven from ``people``: each withdrawn person's latest response is a correlated subquery
    on the unique (run, person) index, so the statement never walks a year's responses
    (withdrawals are few; ``people`` is one scan, as :func:`_gone`'s)."""
    theirs = responses.alias("withdrawn_response")
    done = theirs.c.state == ResponseState.COMPLETED
    if members_only:
        done = and_(done, theirs.c.is_member.is_(True))
    latest = (
        select(func.max(theirs.c.id))
        .where(
            theirs.c.run_id.in_(_runs_of_year(survey_key, year)),
            theirs.c.person_id == people.c.id,
            done,
        )
        .scalar_subquery()
    )
    per_person = (
        select(latest.label("last_id"))
        .select_from(people)
        .where(_withdrawn(), _present(year))
        .subquery("withdrawn_people")
    )
    last = responses.alias("withdrawn_last")
    stmt = (
        select(
            last.c.unit_id.label("unit_id"),
            *[literal(0, Integer).label(zero) for zero in zeros],
            func.count().label(name),
        )
        .select_from(per_person.join(last, last.c.id == per_person.c.last_id))
        .group_by(last.c.unit_id)
    )
    return stmt if within is None else stmt.where(within(last.c.unit_id))


def _beside(counted: Select[Any], withdrawn: Select[Any], names: Sequence[str]) -> Select[Any]:
    """One row per unit, in one statement: the counts of ``counted`` (``unit_id`` and every
    name of ``names`` but the last) and the last, from ``withdrawn``
    (:func:`_withdrawn_per_unit`): the people whose answers those counts leave out."""
    *_, last = names
    both = union_all(counted.add_columns(literal(0, Integer).label(last)), withdrawn).subquery(
        "with_withdrawn"
    )
    return select(
        both.c.unit_id.label("unit_id"), *[func.sum(both.c[n]).label(n) for n in names]
    ).group_by(both.c.unit_id)


@dataclass(frozen=True)
class SurveyYes:
    """Completed responses of the year to a survey: ``answered`` (people who answered
    ``question_key`` in any of their responses) and ``yes`` (people who answered it with yes in
    any of them), each person in the unit of their latest response.  A response completed
    without the question (skipped) says nothing either way: it counts in neither.
    ``members_only``: responses given as a member.  The answers of people who withdrew their
    consent count in neither: ``withdrawn`` is their number (:func:`_withdrawn_per_unit`)."""

    survey_key: str
    question_key: str
    members_only: bool = False

    @property
    def source(self) -> Source:
        suffix = ":members" if self.members_only else ""
        key = f"survey:{self.survey_key}:{self.question_key}{suffix}"
        return Source(key, ("answered", "yes", "withdrawn"))

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source,)

    def _completed(self, table: NamedFromClause, year: Year, within: Within = None) -> Select[Any]:
        done = _completed(table, self.survey_key, year, within, members_only=self.members_only)
        return done.where(or_(table.c.person_id.is_(None), table.c.person_id.not_in(_gone(year))))

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        mine = responses.alias("survey_response")
        answer = answers.alias("yes_answer")
        if within is None:
            stmt = self._completed(mine, year)
        else:  # by id alone, so that the ids' own indexes are the way in
            chosen = _responses_touching(lambda t, w: self._completed(t, year, w), within, "survey")
            stmt = select().select_from(mine).where(mine.c.id.in_(chosen))
        per_person = (
            stmt.add_columns(
                _respondent(mine).label("who"),
                func.max(mine.c.id).label("last_id"),
                func.max(_flag(answer.c.value == TRUE_JSON)).label("yes"),
                func.max(_flag(answer.c.value.is_not(None))).label("answered"),
            )
            .outerjoin(
                answer,
                and_(
                    answer.c.response_id == mine.c.id,
                    answer.c.question_key == self.question_key,
                ),
            )
            .group_by(_respondent(mine))
            .subquery("survey_people")
        )
        last = responses.alias("survey_last")
        source = self.source
        grouped = (
            select(
                last.c.unit_id.label("unit_id"),
                _sum(per_person.c.answered, _column(source, "answered")),
                _sum(per_person.c.yes, _column(source, "yes")),
            )
            .select_from(per_person.join(last, last.c.id == per_person.c.last_id))
            .group_by(last.c.unit_id)
        )
        if within is not None:
            grouped = grouped.where(within(last.c.unit_id))
        names = [_column(source, name) for name in source.names]
        withdrawn = _withdrawn_per_unit(
            self.survey_key,
            year,
            within,
            members_only=self.members_only,
            zeros=names[:-1],
            name=names[-1],
        )
        return _beside(grouped, withdrawn, names)


@dataclass(frozen=True)
class Roster:
    """People in the roster, in their unit now: ``people`` (all staff listed), ``members``."""

    source: Source = Source("roster", ("people", "members"))

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source,)

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        stmt = (
            select(
                people.c.unit_id.label("unit_id"),
                func.count().label(_column(self.source, "people")),
                _sum(_flag(people.c.is_member.is_(True)), _column(self.source, "members")),
            )
            .where(_present(year))
            .group_by(people.c.unit_id)
        )
        return stmt if within is None else stmt.where(within(people.c.unit_id))


@dataclass(frozen=True)
class Staff:
    """The staff (CBNGNLĐ) headcount of each CĐCS: ``staff`` is its ``staff_count``, or,
    where that is 0 (not filled in), the number of people of its subtree in the roster;
    ``fallback_units`` is 1 for a CĐCS counted from the roster."""

    source: Source = Source("staff", ("staff", "fallback_units"))

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source,)

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        per_unit = (
            select(people.c.unit_id.label("unit_id"), func.count().label("n"))
            .where(_present(year))
            .group_by(people.c.unit_id)
            .subquery("people_per_unit")
        )
        cdcs = units.alias("cdcs")
        member_unit = units.alias("member_unit")
        roster_size = (
            select(func.coalesce(func.sum(per_unit.c.n), 0))
            .select_from(per_unit.join(member_unit, member_unit.c.id == per_unit.c.unit_id))
            .where(member_unit.c.path.startswith(cdcs.c.path))
            .scalar_subquery()
        )
        counted = cdcs.c.staff_count > 0
        stmt = select(
            cdcs.c.id.label("unit_id"),
            case((counted, cdcs.c.staff_count), else_=roster_size).label(
                _column(self.source, "staff")
            ),
            case((counted, 0), else_=1).label(_column(self.source, "fallback_units")),
        ).where(cdcs.c.kind == UnitKind.GRASSROOTS)
        return stmt if within is None else stmt.where(within(cdcs.c.id))


@dataclass(frozen=True)
class Welfare:
    """Members and their welfare benefits of the year: ``engaged`` (members with a completed
    sign-up or any benefit row) and ``confirmed`` (with a confirmed benefit), each member in
    the unit of their latest benefit, or of their latest sign-up when they have no benefit.
    The sign-ups of members who withdrew their consent are left out (their benefits stay:
    the union's record of its support); ``withdrawn``: their number."""

    survey_key: str = "welfare_signup"

    @property
    def source(self) -> Source:
        return Source(f"welfare:{self.survey_key}", ("engaged", "confirmed", "withdrawn"))

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source,)

    def _benefits(self, year: Year) -> Select[Any]:
        return (
            select()
            .select_from(benefits.join(people, people.c.id == benefits.c.person_id))
            .where(benefits.c.period_year == year, people.c.is_member.is_(True), _present(year))
        )

    def _signups(self, table: NamedFromClause, year: Year, within: Within = None) -> Select[Any]:
        done = _completed(table, self.survey_key, year, within, members_only=True)
        return done.where(or_(table.c.person_id.is_(None), table.c.person_id.not_in(_gone(year))))

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        signup = responses.alias("welfare_signup")
        from_benefits = self._benefits(year).add_columns(
            benefits.c.person_id.label("who"),
            benefits.c.id.label("benefit_id"),
            literal(None, Integer).label("response_id"),
            _flag(benefits.c.status == BenefitStatus.CONFIRMED).label("confirmed"),
        )
        from_signups = self._signups(signup, year).add_columns(
            _respondent(signup).label("who"),
            literal(None, Integer).label("benefit_id"),
            signup.c.id.label("response_id"),
            literal(0, Integer).label("confirmed"),
        )
        if within is not None:
            other = responses.alias("welfare_other")
            touched = union(
                self._benefits(year)
                .add_columns(benefits.c.person_id)
                .where(within(benefits.c.unit_id)),
                self._signups(other, year, within)
                .add_columns(other.c.person_id)
                .where(other.c.person_id.is_not(None)),
            )
            from_benefits = from_benefits.where(benefits.c.person_id.in_(touched))
            theirs = responses.alias("welfare_theirs")
            nameless = responses.alias("welfare_nameless")
            chosen = union_all(  # by id alone, so that the ids' own indexes are the way in
                self._signups(theirs, year)
                .add_columns(theirs.c.id)
                .where(theirs.c.person_id.in_(touched)),
                self._signups(nameless, year, within)
                .add_columns(nameless.c.id)
                .where(nameless.c.person_id.is_(None)),
            )
            from_signups = (
                select()
                .select_from(signup)
                .where(signup.c.id.in_(chosen))
                .add_columns(*from_signups.selected_columns)
            )
        facts = union_all(from_benefits, from_signups).subquery("welfare_facts")
        per_person = (
            select(
                func.max(facts.c.benefit_id).label("benefit_id"),
                func.max(facts.c.response_id).label("response_id"),
                func.max(facts.c.confirmed).label("confirmed"),
            )
            .group_by(facts.c.who)
            .subquery("welfare_people")
        )
        last_benefit = benefits.alias("welfare_last_benefit")
        last_signup = responses.alias("welfare_last_signup")
        unit_id: ColumnElement[Any] = func.coalesce(last_benefit.c.unit_id, last_signup.c.unit_id)
        grouped: Select[Any] = (
            select(
                unit_id.label("unit_id"),
                func.count().label(_column(self.source, "engaged")),
                _sum(per_person.c.confirmed, _column(self.source, "confirmed")),
            )
            .select_from(
                per_person.outerjoin(
                    last_benefit, last_benefit.c.id == per_person.c.benefit_id
                ).outerjoin(last_signup, last_signup.c.id == per_person.c.response_id)
            )
            .group_by(unit_id)
        )
        if within is not None:
            grouped = grouped.where(within(unit_id))
        names = [_column(self.source, name) for name in self.source.names]
        withdrawn = _withdrawn_per_unit(
            self.survey_key, year, within, members_only=True, zeros=names[:-1], name=names[-1]
        )
        return _beside(grouped, withdrawn, names)


@dataclass(frozen=True)
class Cases:
    """Cases of a kind and of the year, withdrawn ones left out.  The indicator counts members'
    cases (the subject was a member when it was reported) and, for legal cases, the union
    body's own: ``cases`` and ``supported`` (of those, status supported or closed: a hardship
    supported, a legal matter in which the union advised or represented); ``others``: the
    cases of people who are not (known) members, handled all the same and shown apart."""

    kind: CaseKind

    @property
    def source(self) -> Source:
        return Source(f"cases:{self.kind.value}", ("cases", "supported", "others"))

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source,)

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        done = cases.c.status.in_([CaseStatus.SUPPORTED, CaseStatus.CLOSED])
        counted: ColumnElement[bool] = cases.c.subject_member.is_(True)
        if self.kind is CaseKind.LEGAL:
            counted = or_(counted, cases.c.subject_union.is_(True))
        stmt = (
            select(
                cases.c.unit_id.label("unit_id"),
                _sum(_flag(counted), _column(self.source, "cases")),
                _sum(_flag(and_(counted, done)), _column(self.source, "supported")),
                _sum(_flag(~counted), _column(self.source, "others")),
            )
            .where(
                cases.c.kind == self.kind,
                cases.c.period_year == year,
                cases.c.status != CaseStatus.WITHDRAWN,
            )
            .group_by(cases.c.unit_id)
        )
        return stmt if within is None else stmt.where(within(cases.c.unit_id))


@dataclass(frozen=True)
class NoticeAcks:
    """Đoàn viên (in their unit now) and the notices of the year delivered to them (status
    sent, or acknowledged whatever the status: a member may press before the send is
    recorded): ``members``, ``reached`` (at least one notice of the year delivered) and
    ``informed`` (at least one delivered, and every delivered one acknowledged)."""

    source: Source = Source("notices", ("members", "reached", "informed"))

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source,)

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        delivered = or_(
            deliveries.c.status == DeliveryStatus.SENT, deliveries.c.acknowledged_at.is_not(None)
        )
        per_person_stmt = (
            select(
                deliveries.c.person_id.label("person_id"),
                func.count().label("delivered"),
                func.count(deliveries.c.acknowledged_at).label("acknowledged"),
            )
            .select_from(deliveries.join(notices, notices.c.id == deliveries.c.notice_id))
            .where(
                deliveries.c.kind == DeliveryKind.NOTICE,
                notices.c.period_year == year,
                delivered,
            )
            .group_by(deliveries.c.person_id)
        )
        if within is not None:
            of_units = select(people.c.id).where(within(people.c.unit_id))
            per_person_stmt = per_person_stmt.where(deliveries.c.person_id.in_(of_units))
        per_person = per_person_stmt.subquery("notice_deliveries")
        reached = func.coalesce(per_person.c.delivered, 0) > 0
        informed = and_(reached, per_person.c.acknowledged == per_person.c.delivered)
        stmt = (
            select(
                people.c.unit_id.label("unit_id"),
                func.count().label(_column(self.source, "members")),
                _sum(_flag(reached), _column(self.source, "reached")),
                _sum(_flag(informed), _column(self.source, "informed")),
            )
            .select_from(people.outerjoin(per_person, per_person.c.person_id == people.c.id))
            .where(people.c.is_member.is_(True), _present(year))
            .group_by(people.c.unit_id)
        )
        return stmt if within is None else stmt.where(within(people.c.unit_id))


@dataclass(frozen=True)
class ReportMeasure:
    """One indicator counted from the unit reports (see :class:`UnitReports`)."""

    question_key: str
    counts_as: tuple[str, ...] = ()  # single-choice answers that count; () → yes
    integer: bool = False  # sum the answers (an integer question) into ``amount``
    among: str | None = None  # only units answering yes to it form ``eligible``
    out_of: str | None = None  # an integer question summed into ``due`` (money: P5)
    public: bool | None = None  # only public (True) or non-public (False) CĐCS
    # the union bodies counted, by level (the plan's "các cấp công đoàn": more than CĐCS)
    levels: tuple[UnitKind, ...] = (UnitKind.GRASSROOTS,)

    def spec(self) -> str:
        """What the measure counts, as text: the digest of it names its source."""
        return json.dumps(astuple(self), ensure_ascii=False)


REPORT_NAMES = ("units", "reported", "yes", "amount", "eligible", "due")


@dataclass(frozen=True)
class UnitReports:
    """The union bodies (CĐCS, and for some measures the levels above) and their unit report
    of the year (the latest completed one of either definition when a unit answered more than
    once: the CĐCS answer ``unit_report``, the bodies above ``unit_report_upper``), for several
    measures at once: the answers of the latest reports are pivoted into one row per report
    (one scan of ``answers``), one row per union body.  Counts per measure: ``units`` (the
    bodies it concerns), ``reported`` (of those, with a report),
    ``yes`` (answering yes, or one of ``counts_as``), ``amount`` (the sum of an integer
    question), ``eligible`` (answering yes to ``among``), ``due`` (the sum of the integer
    question ``out_of``)."""

    measures: tuple[ReportMeasure, ...]
    survey_keys: tuple[str, ...] = ("unit_report", "unit_report_upper")

    def source(self, measure: ReportMeasure) -> Source:
        digest = hashlib.sha1(measure.spec().encode(), usedforsecurity=False).hexdigest()[:16]
        return Source(f"report:{self.survey_keys[0]}:{digest}", REPORT_NAMES)

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(dict.fromkeys(self.source(m) for m in self.measures))

    def per_unit(self, year: Year, within: Within) -> Select[Any]:
        reports = union_all(
            *(
                _completed(responses, key, year, within).add_columns(
                    responses.c.unit_id.label("unit_id"), responses.c.id.label("response_id")
                )
                for key in self.survey_keys
            )
        ).subquery("unit_reports")
        latest = (
            select(
                reports.c.unit_id.label("unit_id"),
                func.max(reports.c.response_id).label("response_id"),
            )
            .group_by(reports.c.unit_id)
            .subquery("latest_report")
        )
        questions = sorted(
            {m.question_key for m in self.measures}
            | {m.among for m in self.measures if m.among is not None}
            | {m.out_of for m in self.measures if m.out_of is not None}
        )
        pivot = (
            select(
                answers.c.response_id.label("response_id"),
                *[
                    func.max(case((answers.c.question_key == q, answers.c.value))).label(f"q_{q}")
                    for q in questions
                ],
            )
            .where(
                answers.c.question_key.in_(questions),
                answers.c.response_id.in_(select(latest.c.response_id)),
            )
            .group_by(answers.c.response_id)
            .subquery("report_answers")
        )
        cdcs = units.alias("report_unit")
        reported = latest.c.response_id.is_not(None)
        columns: dict[str, Any] = {}
        for m in self.measures:
            source = self.source(m)
            if _column(source, "units") in columns:
                continue
            concerned: ColumnElement[bool] = cdcs.c.kind.in_(list(m.levels))
            if m.public is not None:
                concerned = and_(concerned, cdcs.c.is_public.is_(m.public))
            value = pivot.c[f"q_{m.question_key}"]

            def summed(
                question: ColumnElement[Any], concerned: ColumnElement[bool] = concerned
            ) -> Any:
                # the survey accepts only whole numbers for such a question
                return case((concerned, func.coalesce(cast(question, Integer), 0)), else_=0)

            wanted = (
                [json.dumps(v, ensure_ascii=False) for v in m.counts_as]
                if m.counts_as
                else [TRUE_JSON]
            )
            counts = {
                "units": _flag(concerned),
                "reported": _flag(and_(concerned, reported)),
                "yes": _flag(and_(concerned, value.in_(wanted))),
                "amount": summed(value) if m.integer else literal(0, Integer),
                "eligible": (
                    _flag(and_(concerned, pivot.c[f"q_{m.among}"] == TRUE_JSON))
                    if m.among is not None
                    else literal(0, Integer)
                ),
                "due": (
                    summed(pivot.c[f"q_{m.out_of}"])
                    if m.out_of is not None
                    else literal(0, Integer)
                ),
            }
            for name in REPORT_NAMES:
                columns[_column(source, name)] = counts[name].label(_column(source, name))
        stmt = (
            select(cdcs.c.id.label("unit_id"), *columns.values())
            .select_from(
                cdcs.outerjoin(latest, latest.c.unit_id == cdcs.c.id).outerjoin(
                    pivot, pivot.c.response_id == latest.c.response_id
                )
            )
            .where(cdcs.c.kind.in_(sorted({k for m in self.measures for k in m.levels})))
        )
        return stmt if within is None else stmt.where(within(cdcs.c.id))


# --------------------------------------------------------------------------- summing a scope


def _child_of() -> Subquery:
    """Which child of the scope (the bound parameter ``scope_id``) holds each unit: a small
    join over the units table alone."""
    child = units.alias("scope_child")
    below = units.alias("below_child")
    return (
        select(below.c.id.label("unit_id"), child.c.id.label("child_id"))
        .select_from(
            below.join(
                child,
                and_(
                    child.c.parent_id == bindparam("scope_id"),
                    below.c.path.startswith(child.c.path),
                ),
            )
        )
        .subquery("child_of")
    )


def _scope_values(scope: ScopeUnit) -> dict[str, Any]:
    """The bound parameters naming a scope in the statements built once."""
    return {
        "scope_id": scope.id,
        "scope_like": _like_prefix(scope.path),
        "scope_length": len(scope.path),
    }


def _in_scope(path: ColumnElement[str]) -> ColumnElement[bool]:
    return path.like(bindparam("scope_like"), escape="/")


class _Sums:
    """Adds up rows of (public flag, child id, counts) into a :class:`Breakdown`."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.total = [0] * len(self.names)
        self.by_public: dict[bool, list[int]] = {}
        self.by_child: dict[int | None, list[int]] = {}

    def add(self, public: Any, child: Any, values: Sequence[Any]) -> None:
        width = len(self.names)
        side = self.by_public.get(bool(public))
        if side is None:
            side = self.by_public[bool(public)] = [0] * width
        key = None if child is None else int(child)
        kid = self.by_child.get(key)
        if kid is None:
            kid = self.by_child[key] = [0] * width
        total = self.total
        for i in range(width):
            number = int(values[i] or 0)
            total[i] += number
            side[i] += number
            kid[i] += number

    def breakdown(self) -> Breakdown:
        def named(counts: list[int]) -> dict[str, int]:
            return dict(zip(self.names, counts, strict=True))

        return Breakdown(
            named(self.total),
            {k: named(v) for k, v in self.by_public.items()},
            {k: named(v) for k, v in self.by_child.items()},
        )


@lru_cache(maxsize=64)
def _fact_sums(family: Family) -> Select[Any]:
    """A family's per-unit counts from the facts, summed over the scope (bound parameters
    ``year``, ``scope_id``, ``scope_like``) by the unit's public flag and child; built once."""
    per_unit = family.per_unit(YEAR, None).subquery("per_unit")
    columns = [_column(s, n) for s in family.sources for n in s.names]
    unit = units.alias("scope_unit")
    child_of = _child_of()
    return (
        select(
            unit.c.is_public,
            child_of.c.child_id,
            *[func.sum(per_unit.c[name]) for name in columns],
        )
        .select_from(
            per_unit.join(unit, unit.c.id == per_unit.c.unit_id).outerjoin(
                child_of, child_of.c.unit_id == unit.c.id
            )
        )
        .where(_in_scope(unit.c.path))
        .group_by(unit.c.is_public, child_of.c.child_id)
    )


async def fact_breakdowns(
    session: AsyncSession, *, scope: ScopeUnit, year: int, families: Sequence[Family]
) -> dict[str, Breakdown]:
    """Each source's counts over the scope, computed from the facts (one statement per
    family), storing nothing."""
    found: dict[str, Breakdown] = {}
    values = {"year": year, **_scope_values(scope)}
    for family in families:
        columns = [_column(s, n) for s in family.sources for n in s.names]
        sums = _Sums(columns)
        rows: Sequence[Any] = (await session.execute(_fact_sums(family), values)).all()
        for row in rows:
            sums.add(row[0], row[1], row[2:])
        whole = sums.breakdown()
        for source in family.sources:
            found[source.key] = _split(whole, source)
    return found


def _split(whole: Breakdown, source: Source) -> Breakdown:
    def pick(counts: Mapping[str, int]) -> dict[str, int]:
        return {name: counts.get(_column(source, name), 0) for name in source.names}

    return Breakdown(
        pick(whole.total),
        {k: pick(v) for k, v in whole.by_public.items()},
        {k: pick(v) for k, v in whole.by_child.items()},
    )


# --------------------------------------------------------------------------- the tallies


@dataclass(frozen=True)
class Refreshed:
    """What :func:`refresh_tallies` recomputed: how many units were stale, and how many were
    computed in all (with the units above them)."""

    stale: int
    computed: int


def _sources(families: Sequence[Family]) -> list[Source]:
    return list(dict.fromkeys(s for f in families for s in f.sources))


async def stale_units(
    session: AsyncSession, *, scope: ScopeUnit, year: int, sources: Sequence[Source]
) -> list[tuple[int, str]]:
    """(id, path) of the units of the scope whose tallies of ``year`` are missing for one of
    ``sources`` or older than the unit's version."""
    keys = [s.key for s in sources]
    kept = (
        select(
            indicator_tallies.c.unit_id,
            func.count().label("n"),
            func.min(indicator_tallies.c.version).label("oldest"),
        )
        .where(indicator_tallies.c.year == year, indicator_tallies.c.source.in_(keys))
        .group_by(indicator_tallies.c.unit_id)
        .subquery("kept")
    )
    stmt = (
        select(units.c.id, units.c.path)
        .select_from(
            units.outerjoin(
                indicator_versions, indicator_versions.c.unit_id == units.c.id
            ).outerjoin(kept, kept.c.unit_id == units.c.id)
        )
        .where(
            units.c.path.startswith(scope.path, autoescape=True),
            or_(
                kept.c.unit_id.is_(None),
                kept.c.n < len(keys),
                kept.c.oldest < func.coalesce(indicator_versions.c.version, 0),
            ),
        )
    )
    return [(int(row[0]), str(row[1])) for row in (await session.execute(stmt)).all()]


async def apply_changes(session: AsyncSession) -> None:
    """Turn the logged changes into version bumps (a unit's version grows by one however many
    changes it logged), deleting exactly the log rows applied.  PostgreSQL: one statement, so
    that a change committed meanwhile stays logged for the next report; SQLite: the UPDATE
    takes the write lock, so nothing is logged between it and the DELETE."""
    versions = indicator_versions
    if session.get_bind().dialect.name == "postgresql":
        gone = delete(indicator_changes).returning(indicator_changes.c.unit_id).cte("gone")
        await session.execute(
            update(versions)
            .where(versions.c.unit_id.in_(select(gone.c.unit_id)))
            .values(version=versions.c.version + 1)
        )
        return
    await session.execute(
        update(versions)
        .where(versions.c.unit_id.in_(select(indicator_changes.c.unit_id)))
        .values(version=versions.c.version + 1)
    )
    await session.execute(delete(indicator_changes))


async def fold_changes(session: AsyncSession) -> None:
    """Apply the change log now (the scheduler's tick does, so that the log stays short when
    nobody asks for a report for a while)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_REFRESH_LOCK)))
    await apply_changes(session)


async def refresh_tallies(
    session: AsyncSession, *, scope: ScopeUnit, year: int, families: Sequence[Family]
) -> Refreshed:
    """Apply the logged changes, then recompute the stale tallies of the scope for ``year``:
    the stale units and every unit above them (a CĐCS's staff count may come from its
    subtree), each family in one ``INSERT … SELECT`` for all of them, after deleting their
    rows.  Each row carries the version its unit had in the snapshot the counts were read
    from, so a change committed meanwhile leaves it stale (or logged).  On PostgreSQL
    refreshes take turns (a transaction-level advisory lock); SQLite writes one at a time
    anyway."""
    sources = _sources(families)
    await fold_changes(session)
    stale = await stale_units(session, scope=scope, year=year, sources=sources)
    if not stale:
        return Refreshed(0, 0)
    ids: set[int] = set()
    for unit_id, path in stale:
        ids.add(unit_id)
        ids.update(path_ids(path))
    by_ids = len(ids) <= _BY_ID_LIMIT
    values: dict[str, Any] = {"year": year, "sources": [s.key for s in sources]}
    if by_ids:
        values["units"] = sorted(ids)
    else:  # the whole scope and the units above it
        values |= {"scope_like": _like_prefix(scope.path), "above": path_ids(scope.path)}
    within = _by_ids if by_ids else _by_scope
    await session.execute(
        delete(indicator_tallies).where(
            indicator_tallies.c.year == YEAR,
            indicator_tallies.c.source.in_(bindparam("sources", expanding=True)),
            within(indicator_tallies.c.unit_id),
        ),
        values,
    )
    computed = select(func.count()).select_from(units).where(within(units.c.id))
    count = int((await session.execute(computed, values)).scalar_one())
    for family in families:
        await session.execute(_tally_insert(family, by_ids), values)
    return Refreshed(len(stale), count)


def _by_ids(column: ColumnElement[int]) -> ColumnElement[bool]:
    """The units of the bound list ``units``."""
    return column.in_(bindparam("units", expanding=True))


def _by_scope(column: ColumnElement[int]) -> ColumnElement[bool]:
    """The units of the scope (``scope_like``) and those of the bound list ``above``."""
    scoped = units.alias("refreshed_unit")
    in_scope = select(scoped.c.id).where(_in_scope(scoped.c.path))
    return or_(column.in_(in_scope), column.in_(bindparam("above", expanding=True)))


@lru_cache(maxsize=64)
def _tally_insert(family: Family, by_ids: bool) -> Any:
    """One INSERT … SELECT of every source of the family for every unit to recompute (see
    :func:`_by_ids`, :func:`_by_scope`) for the bound ``year``: a row even for a unit without
    facts (its counts are 0), at its version.  Built once per family."""
    within = _by_ids if by_ids else _by_scope
    per_unit = family.per_unit(YEAR, within).cte("per_unit")
    unit = units.alias("tally_unit")
    parts: list[Select[Any]] = []
    for source in family.sources:
        counts = [func.coalesce(per_unit.c[_column(source, name)], 0) for name in source.names] + [
            literal(0)
        ] * (len(TALLY_COLUMNS) - len(source.names))
        parts.append(
            select(
                YEAR,
                unit.c.id,
                literal(source.key),
                func.coalesce(indicator_versions.c.version, 0),
                *counts,
            )
            .select_from(
                unit.outerjoin(
                    indicator_versions, indicator_versions.c.unit_id == unit.c.id
                ).outerjoin(per_unit, per_unit.c.unit_id == unit.c.id)
            )
            .where(within(unit.c.id))
        )
    rows: Select[Any] | CompoundSelect[Any] = parts[0] if len(parts) == 1 else union_all(*parts)
    return insert(indicator_tallies).from_select(
        ["year", "unit_id", "source", "version", *TALLY_COLUMNS], rows
    )


def _like_prefix(path: str) -> str:
    """A LIKE pattern (escape character ``/``) for every path starting with ``path``."""
    return path.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _deciding(unit: NamedFromClause) -> ColumnElement[int]:
    """Rows are grouped first by a unit that decides the child of the scope (the unit itself
    when it is a child of the scope, else its parent: an integer, cheap to sort), then, over
    those few groups, by the child (:func:`_child_path`)."""
    return case((unit.c.parent_id == bindparam("scope_id"), unit.c.id), else_=unit.c.parent_id)


def _child_path(decider: NamedFromClause, dialect: str) -> ColumnElement[str]:
    """The path of the child of the scope (bound ``scope_length``: the length of the scope's
    path) that holds the deciding unit: the scope's path and the next id of the unit's."""
    length = bindparam("scope_length", type_=Integer)
    position = func.strpos if dialect == "postgresql" else func.instr
    rest = func.substr(decider.c.path, length + 1)
    return func.substr(decider.c.path, 1, length + position(rest, "/"))


def _summed_by_child(
    table: Table,
    dialect: str,
    summed: Sequence[Label[Any]] = (),
    beside: Sequence[ColumnElement[Any]] = (),
) -> Select[Any]:
    """The rows of ``table`` (the tallies or a closed year's snapshot: ``year``, ``unit_id``,
    ``source`` and the counts) of the scope's subtree summed by source, public flag and child
    of the scope, in one statement (bound ``year``, ``sources``, ``scope_id``,
    ``scope_like``, ``scope_length``).  Columns: source, public flag, the child's path, the
    sums of ``summed`` (labelled aggregates over ``table``), ``beside`` (scalar subqueries
    as they are), then the sums of the counts.  Grouped first by the deciding unit
    (:func:`_deciding`), then by the child: one definition for both readers, so that a
    closed year's figures are summed exactly as an open year's."""
    unit = units.alias("scope_unit")
    deciding = _deciding(unit)
    grouped = (
        select(
            table.c.source.label("source"),
            unit.c.is_public.label("is_public"),
            deciding.label("deciding_id"),
            *summed,
            *[func.sum(table.c[name]).label(name) for name in TALLY_COLUMNS],
        )
        .select_from(table.join(unit, unit.c.id == table.c.unit_id))
        .where(
            table.c.year == YEAR,
            table.c.source.in_(bindparam("sources", expanding=True)),
            _in_scope(unit.c.path),
        )
        .group_by(table.c.source, unit.c.is_public, deciding)
        .subquery("scope_groups")
    )
    decider = units.alias("deciding_unit")
    child = _child_path(decider, dialect)
    return (
        select(
            grouped.c.source,
            grouped.c.is_public,
            child,
            *[func.sum(grouped.c[column.name]) for column in summed],
            *beside,
            *[func.sum(grouped.c[name]) for name in TALLY_COLUMNS],
        )
        .select_from(grouped.outerjoin(decider, decider.c.id == grouped.c.deciding_id))
        .group_by(grouped.c.source, grouped.c.is_public, child)
    )


@lru_cache(maxsize=4)
def _tally_sums(dialect: str) -> Select[Any]:
    """The statement of :func:`_read_tallies`, built once per dialect; its values are bound
    parameters: ``year``, ``sources`` (a list), ``scope_id``, ``scope_like`` (see
    :func:`_like_prefix`) and ``scope_length`` (of the scope's path)."""
    t = indicator_tallies
    in_scope = units.alias("versioned_unit")
    scoped = _in_scope(in_scope.c.path)
    unit_count = select(func.count()).select_from(in_scope).where(scoped).scalar_subquery()
    logged = select(indicator_changes.c.id).limit(1).scalar_subquery()
    version_sum = (
        select(func.coalesce(func.sum(indicator_versions.c.version), 0))
        .select_from(
            in_scope.join(indicator_versions, indicator_versions.c.unit_id == in_scope.c.id)
        )
        .where(scoped)
        .scalar_subquery()
    )
    return _summed_by_child(
        t,
        dialect,
        (func.count().label("rows"), func.sum(t.c.version).label("versions")),
        (unit_count, version_sum, logged),
    )


async def _read_tallies(
    session: AsyncSession,
    scope: ScopeUnit,
    year: int,
    sources: Mapping[str, Source],
    children: Sequence[ScopeUnit],
) -> tuple[dict[str, Breakdown], bool]:
    """The sources' tallies summed over the scope by public flag and child, in one statement,
    and whether they were all fresh: no change is logged (a logged change in any unit sends
    the report through :func:`refresh_tallies`), and every unit of the scope has a row for
    every source, at its version.  A row's version is never above its unit's (versions only
    grow), so that holds exactly when the rows number units × sources and their versions add
    up to sources × the units' versions: no row-by-row comparison needed."""
    stmt = _tally_sums(session.get_bind().dialect.name)
    values = {"year": year, "sources": list(sources), **_scope_values(scope)}
    child_ids = {child.path: child.id for child in children}
    sums = {key: _Sums(source.names) for key, source in sources.items()}
    rows = kept = 0
    expected_rows = expected_versions = -1
    unlogged = True
    for row in (await session.execute(stmt, values)).all():
        rows += int(row[3])
        kept += int(row[4] or 0)
        expected_rows = int(row[5]) * len(sources)
        expected_versions = int(row[6]) * len(sources)
        unlogged = row[7] is None
        sums[row[0]].add(row[1], child_ids.get(str(row[2])), row[8:])
    fresh = unlogged and rows == expected_rows and kept == expected_versions
    return {key: s.breakdown() for key, s in sums.items()}, fresh


async def tally_breakdowns(
    session: AsyncSession,
    *,
    scope: ScopeUnit,
    children: Sequence[ScopeUnit],
    year: int,
    families: Sequence[Family],
) -> tuple[dict[str, Breakdown], Refreshed]:
    """Each source's counts over the scope from the tallies: one statement when they are all
    fresh; otherwise the stale ones are recomputed (:func:`refresh_tallies`) and read again."""
    sources = {s.key: s for s in _sources(families)}
    logged = select(indicator_changes.c.id).limit(1)
    if (await session.execute(logged)).first() is None:  # else: no use summing yet
        found, fresh = await _read_tallies(session, scope, year, sources, children)
        if fresh:
            return found, Refreshed(0, 0)
    refreshed = await refresh_tallies(session, scope=scope, year=year, families=families)
    # Fresh now, but for a change committed by another transaction since (PostgreSQL): the
    # figures are then as of the refresh, and the next report takes that change in.
    found, _ = await _read_tallies(session, scope, year, sources, children)
    return found, refreshed


# --------------------------------------------------------------------------- closed years


def tally_sources(families: Sequence[Family]) -> list[str]:
    """The keys of the sources the families keep in the tallies (what closing a year
    freezes)."""
    return [source.key for source in _sources(families)]


@lru_cache(maxsize=4)
def _snapshot_sums(dialect: str) -> Select[Any]:
    """The frozen counts of a closed year summed over the scope by source, public flag and
    child of the scope, as :func:`_tally_sums` sums the tallies (bound ``year``, ``sources``,
    ``scope_id``, ``scope_like``, ``scope_length``), without versions: a snapshot never goes
    stale.

    The snapshot is keyed by unit id and summed over the scope's subtree *as it is now*: a
    unit moved to another district after the year was closed brings its frozen counts along
    (the province's totals stay, the two districts' shares move with it); a unit deleted since
    drops out of every sum (its rows join no unit); a unit created since has no rows (0)."""
    return _summed_by_child(indicator_snapshots, dialect)


async def snapshot_breakdowns(
    session: AsyncSession,
    *,
    scope: ScopeUnit,
    children: Sequence[ScopeUnit],
    year: int,
    families: Sequence[Family],
) -> dict[str, Breakdown]:
    """Each source's frozen counts over the scope, for a closed year: one statement, nothing
    recomputed, whatever changed in the facts since.  A source the snapshot lacks (an
    indicator added to the catalog after the year was closed) has no rows: its counts are 0,
    which the indicators read as "no data", never as a frozen 0 %."""
    sources = {s.key: s for s in _sources(families)}
    stmt = _snapshot_sums(session.get_bind().dialect.name)
    values = {"year": year, "sources": list(sources), **_scope_values(scope)}
    child_ids = {child.path: child.id for child in children}
    sums = {key: _Sums(source.names) for key, source in sources.items()}
    for row in (await session.execute(stmt, values)).all():
        sums[row[0]].add(row[1], child_ids.get(str(row[2])), row[3:])
    return {key: s.breakdown() for key, s in sums.items()}
