"""SQL aggregations behind the indicators: counts per scope, split public/non-public and by child.

A scope is a unit and its subtree (``units.path LIKE scope.path || '%'``).  Every function here
builds a "facts" subquery (one row per response, person, case, ... carrying the ``unit_id`` it
belongs to) and aggregates it three ways in one statement: the whole scope, grouped by the
unit's public flag, and grouped by the child of the scope whose subtree holds the unit.  So the
number of queries is fixed (one per function) whatever the number of people or units.
Functions are keyword-only after the session and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Label,
    Select,
    Subquery,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
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
from storage.tables import (
    answers,
    benefits,
    cases,
    definitions,
    deliveries,
    notices,
    people,
    responses,
    runs,
    units,
)

TRUE_JSON = "true"  # a yes/no answer stored as JSON


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


Measures = Callable[[NamedFromClause], Sequence[Label[int]]]


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


async def child_units(session: AsyncSession, *, scope: ScopeUnit) -> list[ScopeUnit]:
    """The direct children of the scope unit, by name."""
    stmt = (
        select(*_SCOPE_COLUMNS)
        .where(units.c.parent_id == scope.id)
        .order_by(units.c.name, units.c.id)
    )
    return [_scope_row(tuple(row)) for row in (await session.execute(stmt)).all()]


def _counts(row: Sequence[Any], names: Sequence[str]) -> dict[str, int]:
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


async def _breakdown(
    session: AsyncSession, *, facts: Subquery, measures: Measures, scope: ScopeUnit
) -> Breakdown:
    """Aggregate ``facts`` (which has a ``unit_id`` column) over the scope, three ways, in one
    statement: the facts of the scope, each with its unit's public flag and the child of the
    scope whose subtree holds it, are a CTE (computed once by SQLite ≥ 3.35 and PostgreSQL,
    however often it is read), grouped three times under UNION ALL.  Grouping the rows (not
    summing groups) keeps distinct counts right: a person counted in two children is one
    person in the total."""
    unit = units.alias("scope_unit")
    child = units.alias("scope_child")
    below = units.alias("below_child")
    # Which child of the scope holds each unit: a small join over the units table alone.
    child_of = (
        select(below.c.id.label("unit_id"), child.c.id.label("child_id"))
        .select_from(
            below.join(
                child,
                and_(child.c.parent_id == scope.id, below.c.path.startswith(child.c.path)),
            )
        )
        .subquery("child_of")
    )
    in_scope = (
        select(
            facts,
            unit.c.is_public.label("scope_public"),
            child_of.c.child_id.label("scope_child_id"),
        )
        .select_from(
            facts.join(unit, unit.c.id == facts.c.unit_id).outerjoin(
                child_of, child_of.c.unit_id == unit.c.id
            )
        )
        .where(unit.c.path.startswith(scope.path, autoescape=True))
        .cte("facts_in_scope")
    )
    cols = measures(in_scope)
    names = [c.name for c in cols]
    whole = select(literal(0).label("grouping"), literal(None, Integer).label("key"), *cols)
    sides = select(
        literal(1).label("grouping"), cast(in_scope.c.scope_public, Integer).label("key"), *cols
    ).group_by(in_scope.c.scope_public)
    children = select(
        literal(2).label("grouping"), in_scope.c.scope_child_id.label("key"), *cols
    ).group_by(in_scope.c.scope_child_id)
    total: dict[str, int] = dict.fromkeys(names, 0)
    by_public: dict[bool, dict[str, int]] = {}
    by_child: dict[int | None, dict[str, int]] = {}
    rows: Sequence[Any] = (await session.execute(union_all(whole, sides, children))).all()
    for row in rows:
        grouping, key, counts = row[0], row[1], _counts(tuple(row[2:]), names)
        if grouping == 0:
            total = counts
        elif grouping == 1:
            by_public[bool(key)] = counts
        else:
            by_child[None if key is None else int(key)] = counts
    return Breakdown(total, by_public, by_child)


def _count_distinct(column: ColumnElement[int], name: str) -> Label[int]:
    return func.count(distinct(column)).label(name)


def _count_distinct_if(
    flag: ColumnElement[int], column: ColumnElement[int], name: str
) -> Label[int]:
    return func.count(distinct(case((flag == 1, column)))).label(name)


def _sum(column: ColumnElement[int], name: str) -> Label[int]:
    return func.coalesce(func.sum(column), 0).label(name)


def _respondent_key() -> ColumnElement[int]:
    """The person of a response; an anonymous response (no person) counts as its own respondent."""
    return func.coalesce(responses.c.person_id, -responses.c.id)


def _completed_responses(survey_key: str, year: int) -> Select[Any]:
    """Completed responses to runs of ``survey_key`` for the period ``year`` (no columns yet).

    The runs are picked first (a handful of rows) and their responses reached through
    ``ix_responses_run_id``: written as a join, a planner with full statistics may instead walk
    every response of every year."""
    runs_of_year = (
        select(runs.c.id)
        .join(definitions, definitions.c.id == runs.c.definition_id)
        .where(definitions.c.key == survey_key, runs.c.period_year == year)
    )
    return (
        select()
        .select_from(responses)
        .where(
            responses.c.run_id.in_(runs_of_year),
            responses.c.state == ResponseState.COMPLETED,
        )
    )


async def survey_yes_counts(
    session: AsyncSession,
    *,
    scope: ScopeUnit,
    year: int,
    survey_key: str,
    question_key: str,
    members_only: bool = False,
) -> Breakdown:
    """Completed responses of the year to a survey, scoped by the respondent's unit when
    answering.  Counts: ``respondents`` (distinct people) and ``yes`` (distinct people who
    answered ``question_key`` with yes)."""
    answer = answers.alias("yes_answer")
    stmt = (
        _completed_responses(survey_key, year)
        .add_columns(
            responses.c.unit_id.label("unit_id"),
            _respondent_key().label("who"),
            case((answer.c.value == TRUE_JSON, 1), else_=0).label("yes"),
        )
        .outerjoin(
            answer,
            and_(answer.c.response_id == responses.c.id, answer.c.question_key == question_key),
        )
    )
    if members_only:
        stmt = stmt.where(responses.c.is_member.is_(True))
    facts = stmt.subquery("survey_facts")
    return await _breakdown(
        session,
        facts=facts,
        measures=lambda f: [
            _count_distinct(f.c.who, "respondents"),
            _count_distinct_if(f.c.yes, f.c.who, "yes"),
        ],
        scope=scope,
    )


async def roster_counts(session: AsyncSession, *, scope: ScopeUnit) -> Breakdown:
    """People in the roster of the scope: ``people`` (all staff listed) and ``members``."""
    facts = select(
        people.c.unit_id.label("unit_id"),
        case((people.c.is_member.is_(True), 1), else_=0).label("member"),
    ).subquery("roster_facts")
    return await _breakdown(
        session,
        facts=facts,
        measures=lambda f: [func.count().label("people"), _sum(f.c.member, "members")],
        scope=scope,
    )


async def welfare_counts(
    session: AsyncSession, *, scope: ScopeUnit, year: int, survey_key: str = "welfare_signup"
) -> Breakdown:
    """Members and welfare benefits of the year: ``confirmed`` (distinct members with a
    confirmed benefit, scoped by the benefit's unit) and ``engaged`` (distinct members with a
    completed sign-up response or any benefit row of the year)."""
    from_benefits = (
        select(
            benefits.c.unit_id.label("unit_id"),
            benefits.c.person_id.label("who"),
            case((benefits.c.status == BenefitStatus.CONFIRMED, 1), else_=0).label("confirmed"),
        )
        .select_from(benefits.join(people, people.c.id == benefits.c.person_id))
        .where(benefits.c.period_year == year, people.c.is_member.is_(True))
    )
    from_responses = (
        _completed_responses(survey_key, year)
        .add_columns(
            responses.c.unit_id.label("unit_id"),
            _respondent_key().label("who"),
            literal(0, Integer).label("confirmed"),
        )
        .where(responses.c.is_member.is_(True))
    )
    facts = union_all(from_benefits, from_responses).subquery("welfare_facts")
    return await _breakdown(
        session,
        facts=facts,
        measures=lambda f: [
            _count_distinct_if(f.c.confirmed, f.c.who, "confirmed"),
            _count_distinct(f.c.who, "engaged"),
        ],
        scope=scope,
    )


async def case_counts(
    session: AsyncSession, *, scope: ScopeUnit, year: int, kind: CaseKind
) -> Breakdown:
    """Cases of a kind and of the year, withdrawn ones left out: ``cases`` and ``supported``
    (status supported or closed: a hardship supported, a legal matter in which the union advised
    or represented)."""
    done = cases.c.status.in_([CaseStatus.SUPPORTED, CaseStatus.CLOSED])
    facts = (
        select(
            cases.c.unit_id.label("unit_id"),
            case((done, 1), else_=0).label("supported"),
        )
        .where(
            cases.c.kind == kind,
            cases.c.period_year == year,
            cases.c.status != CaseStatus.WITHDRAWN,
        )
        .subquery("case_facts")
    )
    return await _breakdown(
        session,
        facts=facts,
        measures=lambda f: [func.count().label("cases"), _sum(f.c.supported, "supported")],
        scope=scope,
    )


async def staff_counts(session: AsyncSession, *, scope: ScopeUnit) -> Breakdown:
    """The staff (CBNGNLĐ) headcount of the CĐCS in the scope: ``staff`` sums each CĐCS's
    ``staff_count``, or, where that is 0 (not filled in), the number of people of its subtree in
    the roster; ``fallback_units`` counts the CĐCS counted from the roster."""
    per_unit = (
        select(people.c.unit_id.label("unit_id"), func.count().label("n"))
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
    facts = (
        select(
            cdcs.c.id.label("unit_id"),
            case((counted, cdcs.c.staff_count), else_=roster_size).label("staff"),
            case((counted, 0), else_=1).label("fallback"),
        )
        .where(cdcs.c.kind == UnitKind.GRASSROOTS)
        .subquery("staff_facts")
    )
    return await _breakdown(
        session,
        facts=facts,
        measures=lambda f: [_sum(f.c.staff, "staff"), _sum(f.c.fallback, "fallback_units")],
        scope=scope,
    )


async def notice_ack_counts(session: AsyncSession, *, scope: ScopeUnit, year: int) -> Breakdown:
    """Đoàn viên of the scope (by their unit now) and the notices of the year delivered to them
    (status sent, or acknowledged whatever the status: a member may press before the send is
    recorded): ``members``, ``reached`` (at least one notice of the year delivered) and
    ``informed`` (at least one delivered, and every delivered one acknowledged)."""
    delivered = or_(
        deliveries.c.status == DeliveryStatus.SENT, deliveries.c.acknowledged_at.is_not(None)
    )
    per_person = (
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
        .subquery("notice_deliveries")
    )
    reached = func.coalesce(per_person.c.delivered, 0) > 0
    facts = (
        select(
            people.c.unit_id.label("unit_id"),
            case((reached, 1), else_=0).label("reached"),
            case(
                (and_(reached, per_person.c.acknowledged == per_person.c.delivered), 1), else_=0
            ).label("informed"),
        )
        .select_from(people.outerjoin(per_person, per_person.c.person_id == people.c.id))
        .where(people.c.is_member.is_(True))
        .subquery("notice_facts")
    )
    return await _breakdown(
        session,
        facts=facts,
        measures=lambda f: [
            func.count().label("members"),
            _sum(f.c.reached, "reached"),
            _sum(f.c.informed, "informed"),
        ],
        scope=scope,
    )


@dataclass(frozen=True)
class ReportMeasure:
    """One indicator counted from the unit reports (see :func:`unit_report_counts`)."""

    name: str  # the prefix of its counts: ``<name>.units`` …
    question_key: str
    counts_as: tuple[str, ...] = ()  # single-choice answers that count; () → yes
    integer: bool = False  # sum the answers (an integer question) into ``amount``
    among: str | None = None  # only units answering yes to it form ``eligible``
    out_of: str | None = None  # an integer question summed into ``due`` (money: P5)
    public: bool | None = None  # only public (True) or non-public (False) CĐCS


async def unit_report_counts(
    session: AsyncSession,
    *,
    scope: ScopeUnit,
    year: int,
    measures: Sequence[ReportMeasure],
    survey_key: str = "unit_report",
) -> Breakdown:
    """The CĐCS of the scope and their unit report of the year (the latest completed one when
    a unit answered more than once), for every measure at once: the answers of the latest
    reports are pivoted into one row per report (one scan of ``answers``), then one facts row
    per CĐCS is aggregated three ways (:func:`_breakdown`).  Counts per measure ``m``:
    ``m.units`` (the CĐCS it concerns), ``m.reported`` (of those, with a report), ``m.yes``
    (answering yes, or one of ``counts_as``), ``m.amount`` (the sum of an integer question),
    ``m.eligible`` (answering yes to ``among``), ``m.due`` (the sum of the integer question
    ``out_of``)."""
    latest = (
        _completed_responses(survey_key, year)
        .add_columns(
            responses.c.unit_id.label("unit_id"), func.max(responses.c.id).label("response_id")
        )
        .group_by(responses.c.unit_id)
        .subquery("latest_report")
    )
    questions = sorted(
        {m.question_key for m in measures}
        | {m.among for m in measures if m.among is not None}
        | {m.out_of for m in measures if m.out_of is not None}
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
    columns: list[Any] = [cdcs.c.id.label("unit_id")]
    for m in measures:
        concerned: ColumnElement[bool] = (
            cdcs.c.is_public.is_(m.public) if m.public is not None else literal(True)
        )
        value = pivot.c[f"q_{m.question_key}"]

        def summed(question: ColumnElement[Any], concerned: ColumnElement[bool] = concerned) -> Any:
            # the survey accepts only whole numbers for such a question
            return case((concerned, func.coalesce(cast(question, Integer), 0)), else_=0)

        wanted = (
            [json.dumps(v, ensure_ascii=False) for v in m.counts_as] if m.counts_as else [TRUE_JSON]
        )
        columns += [
            case((concerned, 1), else_=0).label(f"{m.name}.units"),
            case((and_(concerned, reported), 1), else_=0).label(f"{m.name}.reported"),
            case((and_(concerned, value.in_(wanted)), 1), else_=0).label(f"{m.name}.yes"),
            (summed(value) if m.integer else literal(0, Integer)).label(f"{m.name}.amount"),
            (
                case((and_(concerned, pivot.c[f"q_{m.among}"] == TRUE_JSON), 1), else_=0)
                if m.among is not None
                else literal(0, Integer)
            ).label(f"{m.name}.eligible"),
            (
                summed(pivot.c[f"q_{m.out_of}"]) if m.out_of is not None else literal(0, Integer)
            ).label(f"{m.name}.due"),
        ]
    facts = (
        select(*columns)
        .select_from(
            cdcs.outerjoin(latest, latest.c.unit_id == cdcs.c.id).outerjoin(
                pivot, pivot.c.response_id == latest.c.response_id
            )
        )
        .where(cdcs.c.kind == UnitKind.GRASSROOTS)
        .subquery("report_facts")
    )
    names = [c.name for c in columns[1:]]
    return await _breakdown(
        session,
        facts=facts,
        measures=lambda f: [_sum(f.c[name], name) for name in names],
        scope=scope,
    )
