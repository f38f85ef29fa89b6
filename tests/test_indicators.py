"""Indicators: the catalog, the SQL counts of every indicator, the /stats template and table.

The fixture province is built with the ORM below; every expected figure is a literal worked out
by hand from it (the comments show the sums).  The database tests run on SQLite and, when
TEST_POSTGRES_URL is set, on PostgreSQL too, each test in a schema of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlmodel import col

from bot.indicators import (
    CatalogError,
    Figure,
    IndicatorResult,
    Standing,
    StatsReport,
    TargetKind,
    UnknownScope,
    compute_stats,
    load_catalog,
)
from bot.indicators.catalog import DEFAULT_CATALOG, Target
from bot.indicators.compute import ranked_children
from bot.indicators.terminal import render_stats_terminal
from bot.texts import render
from storage.db import Database, normalize_url
from storage.migrate import upgrade
from storage.models import (
    Answer,
    BenefitStatus,
    Case,
    CaseKind,
    CaseStatus,
    Person,
    Response,
    ResponseState,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
    UnitKind,
    WelfareBenefit,
    WorkStatus,
)

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
CATALOG = load_catalog()
YEAR = 2025

# --------------------------------------------------------------------------- databases


def _search_path_listener(schema: str) -> Any:
    """Set the search path of each new asyncpg connection outside any transaction (a SET inside
    one would be undone by the pool's rollback)."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(lambda conn: conn.execute(f'SET search_path TO "{schema}"'))

    return on_connect


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'indicators.db'}")
        await upgrade(database)
        try:
            yield database
        finally:
            await database.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("TEST_POSTGRES_URL is not set: the PostgreSQL run is skipped")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(normalize_url(POSTGRES_URL))
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database(POSTGRES_URL)
    event.listen(database.engine.sync_engine, "connect", _search_path_listener(schema))
    try:
        await upgrade(database)
        yield database
    finally:
        await database.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


# --------------------------------------------------------------------------- the fixture


@dataclass
class Province:
    units: dict[str, Unit] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    runs: dict[str, SurveyRun] = field(default_factory=dict)

    def uid(self, key: str) -> int:
        unit_id = self.units[key].id
        assert unit_id is not None
        return unit_id


async def _unit(
    s: AsyncSession,
    p: Province,
    key: str,
    name: str,
    kind: UnitKind,
    parent: str | None,
    *,
    public: bool = True,
    staff: int = 0,
) -> None:
    parent_unit = p.units[parent] if parent else None
    unit = Unit(
        code=key,
        name=name,
        kind=kind,
        parent_id=parent_unit.id if parent_unit else None,
        is_public=public,
        staff_count=staff,
    )
    s.add(unit)
    await s.flush()
    unit.path = f"{parent_unit.path if parent_unit else '/'}{unit.id}/"
    p.units[key] = unit


async def _people(s: AsyncSession, p: Province, unit: str, members: str, others: str = "") -> None:
    for names, is_member in ((members, True), (others, False)):
        for name in names.split():
            person = Person(full_name=name, unit_id=p.uid(unit), is_member=is_member)
            s.add(person)
            p.people[name] = person
    await s.flush()


async def _run(s: AsyncSession, p: Province, key: str, survey: str, year: int) -> None:
    definition_id = (
        await s.execute(
            select(col(SurveyDefinitionRow.id)).where(col(SurveyDefinitionRow.key) == survey)
        )
    ).scalar()
    if definition_id is None:
        row = SurveyDefinitionRow(key=survey, version=1, title=survey, checksum=survey, body="{}")
        s.add(row)
        await s.flush()
        definition_id = row.id
    assert definition_id is not None
    run = SurveyRun(definition_id=definition_id, unit_id=p.uid("LD"), period_year=year)
    s.add(run)
    await s.flush()
    p.runs[key] = run


async def _respond(
    s: AsyncSession,
    p: Province,
    run: str,
    who: str | None,
    *,
    participated: bool | None = None,
    state: ResponseState = ResponseState.COMPLETED,
    unit: str | None = None,
    member: bool = True,
) -> None:
    """A response; ``who`` None is an anonymous one in ``unit``.  A person's response is in
    their unit now unless ``unit`` says where they were when they answered."""
    person = p.people[who] if who else None
    run_id = p.runs[run].id
    assert run_id is not None
    response = Response(
        run_id=run_id,
        person_id=person.id if person else None,
        unit_id=p.uid(unit) if unit else person.unit_id if person else 0,
        is_member=person.is_member if person else member,
        state=state,
    )
    s.add(response)
    await s.flush()
    if participated is not None:
        assert response.id is not None
        s.add(
            Answer(
                response_id=response.id,
                question_key="participated",
                value=json.dumps(participated),
            )
        )


async def _report(
    s: AsyncSession,
    p: Province,
    run: str,
    who: str,
    *,
    state: ResponseState = ResponseState.COMPLETED,
    unit: str | None = None,
    **answered: bool | int | str,
) -> None:
    """A unit report of ``who``'s CĐCS (or of ``unit``, which ``who`` answers for), with its
    answers (as the survey stores them: JSON)."""
    person = p.people[who]
    run_id = p.runs[run].id
    assert run_id is not None
    response = Response(
        run_id=run_id,
        person_id=person.id,
        unit_id=p.uid(unit) if unit else person.unit_id,
        is_member=True,
        state=state,
    )
    s.add(response)
    await s.flush()
    assert response.id is not None
    s.add_all(
        Answer(response_id=response.id, question_key=key, value=json.dumps(value))
        for key, value in answered.items()
    )
    await s.flush()


def _benefit(p: Province, who: str, status: BenefitStatus, year: int = YEAR) -> WelfareBenefit:
    person = p.people[who]
    assert person.id is not None
    return WelfareBenefit(
        person_id=person.id, unit_id=person.unit_id, offer="bank", status=status, period_year=year
    )


def _case(
    p: Province,
    unit: str,
    status: CaseStatus,
    year: int = YEAR,
    kind: CaseKind = CaseKind.HARDSHIP,
    *,
    member: bool = True,
    union: bool = False,
) -> Case:
    """A case of a member (``member``), of someone who is not one, or of the union body."""
    return Case(
        kind=kind,
        subject_name="X",
        subject_member=member and not union,
        subject_union=union,
        unit_id=p.uid(unit),
        status=status,
        period_year=year,
    )


async def build_province(s: AsyncSession) -> Province:
    """province LD → districts DL (Đà Lạt), BL (Bảo Lộc) → 4 CĐCS, 20 people.

    unit            public  staff_count  people (members / non-members)
    LD (province)   yes     0            pv                      1 / 0
    S1 (DL)         yes     8            s1a s1b s1c s1d         4 / 0
      T1 (tổ, S1)   yes     0            s1e / s1f               1 / 1
    S2 (DL)         no      5            s2a s2b s2c / s2d       3 / 1
    S3 (BL)         yes     0 (fallback) s3a s3b s3c / s3d       3 / 1
    S4 (BL)         yes     5            s4a s4b s4c s4d s4e     5 / 0
    E1 (BL)         yes     0            nobody yet (a CĐCS just set up)
    totals: 20 people, 17 members; DL 10 people / 8 members; BL 9 / 8.
    s4d moved from S3 to S4 during 2025: the training survey they answered in S3 counts there.
    s4f (S4, a member) retired on 31 March 2025: in 2024's figures (21 people, 18 members), in
    none of 2025's, their activity answer of February 2025 included.
    """
    p = Province()
    await _unit(s, p, "LD", "Công đoàn Giáo dục tỉnh Lâm Đồng", UnitKind.PROVINCE, None)
    await _unit(s, p, "DL", "Công đoàn Giáo dục Đà Lạt", UnitKind.DISTRICT, "LD")
    await _unit(s, p, "BL", "Công đoàn Giáo dục Bảo Lộc", UnitKind.DISTRICT, "LD")
    await _unit(s, p, "S1", "THPT Chu Văn An", UnitKind.GRASSROOTS, "DL", staff=8)
    await _unit(s, p, "T1", "Tổ Toán", UnitKind.GROUP, "S1")
    await _unit(
        s, p, "S2", "Trường Quốc tế Hoa Sen", UnitKind.GRASSROOTS, "DL", public=False, staff=5
    )
    await _unit(s, p, "S3", "THCS Lê Lợi", UnitKind.GRASSROOTS, "BL", staff=0)
    await _unit(s, p, "S4", "Tiểu học Kim Đồng", UnitKind.GRASSROOTS, "BL", staff=5)
    await _unit(s, p, "E1", "Mầm non Sơn Ca", UnitKind.GRASSROOTS, "BL", staff=0)
    await _people(s, p, "LD", "pv")
    await _people(s, p, "S1", "s1a s1b s1c s1d")
    await _people(s, p, "T1", "s1e", "s1f")
    await _people(s, p, "S2", "s2a s2b s2c", "s2d")
    await _people(s, p, "S3", "s3a s3b s3c", "s3d")
    await _people(s, p, "S4", "s4a s4b s4c s4d s4e")
    await _people(s, p, "S4", "s4f")
    p.people["s4f"].work_status = WorkStatus.RETIRED
    p.people["s4f"].left_on = dt.date(2025, 3, 31)

    # Activity participation (A3c).  Two runs in 2025 (s1a answers both: counted once),
    # one in 2024, and a training survey of 2025 that must not count for A3c.
    await _run(s, p, "act", "activity_participation", YEAR)
    await _run(s, p, "act_dl", "activity_participation", YEAR)
    await _run(s, p, "act_old", "activity_participation", 2024)
    await _run(s, p, "training", "training_participation", YEAR)
    yes, no = True, False
    for who, answer in [
        ("s1a", yes), ("s1b", no), ("s1e", yes), ("s1f", yes),
        ("s2a", yes), ("s2b", yes), ("s2c", yes), ("s2d", no),
        ("s4a", yes),
    ]:  # fmt: skip
        await _respond(s, p, "act", who, participated=answer)
    await _respond(s, p, "act", "s4b")  # completed without the question: coverage only
    await _respond(s, p, "act", None, participated=yes, unit="S4")  # anonymous
    await _respond(s, p, "act", None, participated=no, unit="S3", member=False)  # anonymous
    await _respond(s, p, "act", "s3a", participated=yes, state=ResponseState.IN_PROGRESS)
    await _respond(s, p, "act", "s3b", participated=yes, state=ResponseState.ABANDONED)
    await _respond(s, p, "act_dl", "s1a", participated=yes)
    await _respond(s, p, "act_old", "s1c", participated=yes)
    await _respond(s, p, "act_old", "s4c", participated=yes)
    await _respond(s, p, "act_old", "s4f", participated=yes)
    await _respond(s, p, "act", "s4f", participated=yes)  # before leaving: not counted
    # Training (A4b, all staff): s4d answered while still in S3; s1f and s2d are not members;
    # an anonymous yes in S2; s1c's yes is of 2024.
    await _run(s, p, "training_old", "training_participation", 2024)
    await _respond(s, p, "training", "s4d", participated=yes, unit="S3")
    await _respond(s, p, "training", "s1a", participated=yes)
    await _respond(s, p, "training", "s1f", participated=yes)
    await _respond(s, p, "training", "s2d", participated=no)
    await _respond(s, p, "training", "s3c", participated=no)
    await _respond(s, p, "training", None, participated=yes, unit="S2")
    await _respond(s, p, "training", "s4e", participated=yes, state=ResponseState.IN_PROGRESS)
    await _respond(s, p, "training_old", "s1c", participated=yes)

    # Welfare sign-up (A3a).
    await _run(s, p, "welfare", "welfare_signup", YEAR)
    for who in ("s1a", "s1b", "s1c", "s2a", "s4a", "s4b"):
        await _respond(s, p, "welfare", who)
    await _respond(s, p, "welfare", "s3c", state=ResponseState.IN_PROGRESS)
    s.add_all(
        [
            _benefit(p, "s1a", BenefitStatus.CONFIRMED),
            _benefit(p, "s1b", BenefitStatus.REQUESTED),
            _benefit(p, "s1c", BenefitStatus.CANCELLED),
            _benefit(p, "s1f", BenefitStatus.CONFIRMED),  # not a member: not counted
            _benefit(p, "s2a", BenefitStatus.CONFIRMED),
            _benefit(p, "s4a", BenefitStatus.CONFIRMED),
            _benefit(p, "s4a", BenefitStatus.CONFIRMED),  # a second offer: one member
            _benefit(p, "s3a", BenefitStatus.CONFIRMED, year=2024),
        ]
    )

    # Hardship cases (A3b).
    s.add_all(
        [
            _case(p, "S1", CaseStatus.REPORTED),
            _case(p, "S1", CaseStatus.SUPPORTED),
            _case(p, "S2", CaseStatus.VISITED),
            _case(p, "S3", CaseStatus.CLOSED),
            _case(p, "S4", CaseStatus.SUPPORTED),
            _case(p, "S4", CaseStatus.CLOSED),
            _case(p, "S1", CaseStatus.REPORTED, year=2024),
            _case(p, "S2", CaseStatus.WITHDRAWN),  # a duplicate report: counts nowhere
            # s3d is not a member: handled and supported, shown apart, not counted in A3b
            _case(p, "S3", CaseStatus.SUPPORTED, member=False),
        ]
    )
    # Legal cases (P4): the union took part in S1's second and S4's; S2's (closed since) is
    # s2d's, not a member's; S4's union itself asked for advice (not given yet).
    legal = CaseKind.LEGAL
    s.add_all(
        [
            _case(p, "S1", CaseStatus.REPORTED, kind=legal),
            _case(p, "S1", CaseStatus.SUPPORTED, kind=legal),
            _case(p, "S2", CaseStatus.CLOSED, kind=legal, member=False),
            _case(p, "S4", CaseStatus.SUPPORTED, kind=legal),
            _case(p, "S4", CaseStatus.REPORTED, kind=legal, union=True),
            _case(p, "S4", CaseStatus.WITHDRAWN, kind=legal),  # taken back: counts nowhere
            _case(p, "S3", CaseStatus.REPORTED, year=2024, kind=legal),
        ]
    )
    await s.flush()

    # Unit reports (A2a A2b A4a A6 A7 A8a–c P1–P3) of 2025: S1, S2 (twice: the later report
    # counts) and S4 completed, S3 still in progress; S3 completed one in 2024.
    await _run(s, p, "report", "unit_report", YEAR)
    await _run(s, p, "report_old", "unit_report", 2024)
    await _report(
        s, p, "report", "s1a",
        periodic_dialogue=yes, staff_conference=yes, coordination_rules=yes,
        collective_agreement=no, training_policy_proposal=yes, womens_committee_eligible=yes,
        womens_committee=yes, party_introductions=2, funds_use=yes, financial_disclosure=yes,
        financial_audit=no, finance_due=120_000, finance_collected=114_000,
        year_end_rating="xuat_sac",
    )  # fmt: skip
    await _report(
        s,
        p,
        "report",
        "s2a",
        periodic_dialogue=yes,
        staff_conference=no,
        coordination_rules=yes,
        collective_agreement=no,
        training_policy_proposal=no,
        womens_committee_eligible=no,
        party_introductions=9,
        funds_use=no,
        financial_disclosure=yes,
        financial_audit=no,
        finance_due=80_000,
        finance_collected=80_000,
        year_end_rating="xuat_sac",
    )  # fmt: skip  (superseded by s2b's report below)
    await _report(
        s, p, "report", "s2b",
        periodic_dialogue=no, staff_conference=yes, coordination_rules=no,
        collective_agreement=yes, training_policy_proposal=yes, womens_committee_eligible=yes,
        womens_committee=no, party_introductions=0, funds_use=yes, financial_disclosure=no,
        financial_audit=yes, finance_due=80_000, finance_collected=60_000, year_end_rating="tot",
    )  # fmt: skip
    await _report(s, p, "report", "s3a", state=ResponseState.IN_PROGRESS, periodic_dialogue=yes)
    await _report(
        s, p, "report", "s4a",
        periodic_dialogue=no, staff_conference=yes, coordination_rules=yes,
        collective_agreement=no, training_policy_proposal=no, womens_committee_eligible=no,
        party_introductions=1, funds_use=yes, financial_disclosure=yes, financial_audit=yes,
        finance_due=50_000, finance_collected=50_000, year_end_rating="hoan_thanh",
    )  # fmt: skip
    # The union bodies above the CĐCS answer their own report ("các cấp công đoàn"): Đà Lạt's
    # (by pv, for the district) and the province's; Bảo Lộc has not.
    await _run(s, p, "report_upper", "unit_report_upper", YEAR)
    await _report(
        s, p, "report_upper", "pv", unit="DL",
        training_policy_proposal=yes, financial_disclosure=yes, financial_audit=no,
        year_end_rating="tot",
    )  # fmt: skip
    await _run(s, p, "report_upper_ld", "unit_report_upper", YEAR)  # one answer per run
    await _report(
        s, p, "report_upper_ld", "pv", unit="LD",
        training_policy_proposal=yes, financial_disclosure=yes, financial_audit=yes,
        year_end_rating="xuat_sac",
    )  # fmt: skip
    await _report(
        s, p, "report_old", "s3b",
        periodic_dialogue=yes, party_introductions=4, finance_due=40_000, finance_collected=30_000,
    )  # fmt: skip
    return p


@pytest.fixture
async def province(db: Database) -> Province:
    async with db.session() as s:
        return await build_province(s)


async def _stats(db: Database, p: Province, unit: str, year: int = YEAR) -> StatsReport:
    async with db.session() as s:
        return await compute_stats(s, scope_unit_id=p.uid(unit), year=year, catalog=CATALOG)


def _row(report: StatsReport, code: str) -> IndicatorResult:
    return next(r for r in report.rows if r.code == code)


def _fig(row: Figure) -> tuple[int, int, bool | None]:
    return row.numerator, row.denominator, row.met


def _children(row: IndicatorResult) -> dict[str, tuple[int, int, bool | None]]:
    return {
        (f"{c.code}*" if c.direct else c.code): (c.numerator, c.denominator, c.met)
        for c in row.by_child
    }


# --------------------------------------------------------------------------- province scope


async def test_province_2025(db: Database, province: Province) -> None:
    report = await _stats(db, province, "LD")
    assert (report.scope_code, report.scope_kind, report.year) == ("LD", UnitKind.PROVINCE, 2025)
    assert [r.code for r in report.rows] == [
        "A1", "A2a", "A2b", "A3a", "A3b", "A3c", "A4a", "A4b", "A5", "A6", "A7", "A7b", "A8a",
        "A8b", "A8c", "P1", "P2", "P3", "P4", "P5",
    ]  # fmt: skip
    assert report.not_computed == ()

    # A3c, over those who answered `participated`: yes = s1a s1e s1f s2a s2b s2c s4a anon(S4)
    # = 8; answered = those + s1b s2d anon(S3) = 11 (s4b completed without the question, s3a
    # in progress, s3b abandoned, s4d answered another survey, s1c/s4c answered in 2024).
    # 8/11 = 72.7% < 75%; coverage 11 of the 20 people = 55% ≥ 50%: a verdict, not met.
    a3c = _row(report, "A3c")
    assert _fig(a3c) == (8, 11, False)
    assert a3c.rate == pytest.approx(8 / 11)
    assert a3c.standing is Standing.NOT_MET
    assert (a3c.coverage_count, a3c.coverage_total, a3c.coverage_low) == (11, 20, False)
    assert a3c.floor == pytest.approx(0.40)  # 8 of all 20: those who did not answer as "no"
    assert a3c.target.kind is TargetKind.MIN and a3c.target.value == Decimal(75)
    # public: answered s1a s1b s1e s1f s4a anon anon = 7 of 16 people = 43.75% < 50%: the rate
    # 5/7 without a verdict; non-public S2: 3 of 4 answered yes = 75% = target, all answered.
    assert a3c.by_public is not None
    public = a3c.by_public["public"]
    assert (_fig(public), public.standing) == ((5, 7, None), Standing.LOW_COVERAGE)
    assert public.coverage_count == 7
    assert _fig(a3c.by_public["non_public"]) == (3, 4, True)
    # districts: DL answered s1a s1b s1e s1f s2a s2b s2c s2d = 8 of 10, yes 6: 75% met; BL
    # answered s4a and the two anonymous = 3 of 9 (33%): no verdict; the provincial office
    # (pv): nobody answered, no figure.
    assert _children(a3c) == {"BL": (2, 3, None), "DL": (6, 8, True), "LD*": (0, 0, None)}
    bl = next(c for c in a3c.by_child if c.code == "BL")
    assert (bl.coverage_count, bl.coverage_total, bl.coverage_low) == (3, 9, True)
    office = next(c for c in a3c.by_child if c.direct)
    assert (office.rate, office.standing) == (None, Standing.NO_DATA)

    # A4b (all staff): yes = s4d (answered in S3) s1a s1f anon(S2) = 4; answered = those +
    # s2d s3c = 6 (s4e still in progress, s1c's yes is of 2024): 66.7%, but 6 of 20 people
    # answered (30% < 50%): no verdict.
    a4b = _row(report, "A4b")
    assert _fig(a4b) == (4, 6, None)
    assert (a4b.coverage_count, a4b.coverage_total, a4b.coverage_low) == (6, 20, True)
    assert a4b.floor == pytest.approx(4 / 20)
    assert a4b.by_public is not None
    assert _fig(a4b.by_public["public"]) == (3, 4, None)  # s4d s1a s1f of 4; 4 of 16 answered
    # non-public: s2d and the anonymous yes answered, 2 of S2's 4 people = 50%: enough; 1/2.
    assert _fig(a4b.by_public["non_public"]) == (1, 2, False)
    # DL: s1a s1f anon of 4 answering (4 of 10); BL: s4d, counted where they answered (S3),
    # and s3c: 1 of 2 (2 of 9).
    assert _children(a4b) == {"BL": (1, 2, None), "DL": (3, 4, None), "LD*": (0, 0, None)}

    # A3a (not a yes/no survey: over every member): confirmed members s1a s2a s4a = 3 (s1f is
    # not a member, s4a twice) of 17 members.  Signed up: responses s1a s1b s1c s2a s4a s4b (+
    # benefit rows of the same) = 6 of 17 = 35% < 50%: 17.6% shown without a verdict.
    a3a = _row(report, "A3a")
    assert _fig(a3a) == (3, 17, None)
    assert (a3a.coverage_count, a3a.coverage_total, a3a.coverage_low) == (6, 17, True)
    assert a3a.coverage_kind == "signups"
    assert a3a.by_public is not None
    assert _fig(a3a.by_public["public"]) == (2, 14, None)  # s1a s4a; 5 of 14 signed up
    assert _fig(a3a.by_public["non_public"]) == (1, 3, None)  # s2a; 1 of 3 signed up
    # DL: s1a s2a of 8, 4 of 8 signed up (50%): 25% ≥ 20%; BL: s4a of 8, 2 signed up; the
    # office: nobody signed up, no figure.
    assert _children(a3a) == {"BL": (1, 8, None), "DL": (2, 8, True), "LD*": (0, 1, None)}
    assert next(c for c in a3a.by_child if c.direct).rate is None

    # A3b: members' hardship cases of 2025: 6 (S2's withdrawn duplicate left out, s3d's case
    # shown apart), supported/closed: S1 1, S3 1, S4 2 = 4.
    a3b = _row(report, "A3b")
    assert _fig(a3b) == (4, 6, False)
    assert (a3b.coverage_count, a3b.coverage_total, a3b.apart) == (6, 6, 1)
    assert a3b.target.kind is TargetKind.EXACT
    assert a3b.by_public is not None
    assert _fig(a3b.by_public["public"]) == (4, 5, False)
    assert _fig(a3b.by_public["non_public"]) == (0, 1, False)
    # DL: S1 1 of 2 + S2 0 of 1 = 1 of 3; BL: 3 of 3 (and s3d's apart); none at the office.
    assert _children(a3b) == {"BL": (3, 3, True), "DL": (1, 3, False)}
    assert next(c for c in a3b.by_child if c.code == "BL").apart == 1

    # A5: members 17; staff S1 8 + S2 5 + S3 (staff 0: 4 in the roster) + S4 5 = 22.
    a5 = _row(report, "A5")
    assert _fig(a5) == (17, 22, False)  # 77.3% < 97% (phase 2025)
    assert a5.target.value == Decimal(97) and a5.target.phase == 2025
    # E1 has no staff count and nobody in the roster: it adds 0 to the staff (and is one more
    # CĐCS counted from the roster).
    assert (a5.coverage_count, a5.coverage_total, a5.fallback_units) == (20, 22, 2)
    assert a5.by_public is not None
    assert _fig(a5.by_public["public"]) == (14, 17, False)  # 8 + 4 + 5 staff
    assert _fig(a5.by_public["non_public"]) == (3, 5, False)
    # DL: 8 of 13; BL: 8 of 4 + 5 = 9; the office: 1 member, no CĐCS → no rate.
    assert _children(a5) == {"BL": (8, 9, False), "DL": (8, 13, False), "LD*": (1, 0, None)}
    office = next(c for c in a5.by_child if c.direct)
    assert office.rate is None

    # P4 (members' and union bodies' legal cases): S1 reported + supported, S4 supported, S4's
    # union's own request (reported) = 2 of 4 = 50% < 68% (phase 2025).  S2's case (closed,
    # the union took part) is s2d's, not a member's: apart; S4's withdrawn request counts
    # nowhere; hardship cases are not legal ones.  (Counting S2's: 3 of 4, "met".)
    p4 = _row(report, "P4")
    assert _fig(p4) == (2, 4, False)
    assert (p4.coverage_count, p4.coverage_kind, p4.target.value) == (4, "cases", Decimal(68))
    assert p4.apart == 1
    assert p4.by_public is not None
    assert _fig(p4.by_public["public"]) == (2, 4, False)
    assert _fig(p4.by_public["non_public"]) == (0, 0, None)
    assert _children(p4) == {"BL": (1, 2, False), "DL": (1, 2, False)}


async def test_unit_report_indicators_of_the_province(db: Database, province: Province) -> None:
    """Worked out by hand from the fixture's reports (S2: its later report only).

    CĐCS  public  report  dialogue conference proposal intro rating    funds discl audit eligible women coord TƯLĐTT due     collected
    S1    yes     yes     yes      yes        yes      2     xuat_sac  yes   yes   no    yes      yes   yes   no     120.000 114.000
    S2    no      yes     no       yes        yes      0     tot       yes   no    yes   yes      no    no    yes    80.000  60.000
    S3    yes     no (in progress)
    S4    yes     yes     no       yes        no       1     hoan_thanh yes  yes   yes   no       —     yes   no     50.000  50.000
    E1    yes     no (set up this year: no report)
    """  # noqa: E501
    report = await _stats(db, province, "LD")

    def split(code: str) -> tuple[tuple[int, int, bool | None], ...]:
        row = _row(report, code)
        assert row.by_public is not None
        return _fig(row), _fig(row.by_public["public"]), _fig(row.by_public["non_public"])

    # 5 CĐCS: 4 public (S1 S3 S4 E1), 1 non-public (S2); 3 reported (S1 S2 S4): coverage 60%.
    # Rates over the CĐCS that reported; S3 and E1 are "chưa báo cáo", in no denominator.
    # A2a: S1 of 3; a mixed scope has no single target (public 100%, non-public ≥70%).
    # Public: S1 S4 reported (2 of 4 = 50%: enough), S1 yes: 50% < 100%; S2: no.
    assert split("A2a") == ((1, 3, None), (1, 2, False), (0, 1, False))
    a2a = _row(report, "A2a")
    assert (a2a.coverage_count, a2a.coverage_total, a2a.coverage_kind) == (3, 5, "reports")
    assert a2a.target.split
    assert a2a.floor == pytest.approx(1 / 5)  # S3 and E1 taken as "no"
    # DL: S1 S2 reported, S1 yes; BL: only S4 reported (1 of 3: too few for a verdict).
    assert _children(a2a) == {"BL": (0, 1, None), "DL": (1, 2, None)}
    # A2b: S1 S2 S4 of 3; public 2 of 2 (100%), non-public 1 of 1.
    assert split("A2b") == ((3, 3, None), (2, 2, True), (1, 1, True))
    # A4a, every level ("các cấp công đoàn"): 5 CĐCS + Đà Lạt, Bảo Lộc + the province = 8
    # bodies; reported S1 S2 S4, Đà Lạt, the province = 5 (62.5%); proposals S1 S2, Đà Lạt,
    # the province = 4 of 5 = 80% ≥ 70%.  The floor: 4 of all 8 = 50%.
    a4a = _row(report, "A4a")
    assert (_fig(a4a), a4a.coverage_count, a4a.coverage_total) == ((4, 5, True), 5, 8)
    assert a4a.floor == pytest.approx(0.5) and a4a.upper_levels
    # by side (the bodies above the CĐCS count as public): public S1 S3 S4 E1 + DL BL LD = 7,
    # 4 reported (S1 S4 DL LD), 3 yes (S1 DL LD) = 75%; S2 1 of 1
    assert a4a.by_public is not None
    assert _fig(a4a.by_public["public"]) == (3, 4, True)
    assert _fig(a4a.by_public["non_public"]) == (1, 1, True)
    # Đà Lạt with its CĐCS: 3 of 3; Bảo Lộc: only S4 of its 4 bodies reported; the province's
    # own report sits on the scope itself
    assert _children(a4a) == {"BL": (0, 1, None), "DL": (3, 3, True), "LD*": (1, 1, True)}
    # A6: 2 + 0 + 1 = 3 introductions over the 3 CĐCS that reported = 1.0 each: met; public
    # 3 over 2 = 1.5; S2 0 over 1.  The cautious reading: 3 over all 5 CĐCS = 0.6.
    assert split("A6") == ((3, 3, True), (3, 2, True), (0, 1, False))
    assert _row(report, "A6").floor == pytest.approx(0.6)
    # A7: "tốt" or better: S1 (xuất sắc), S2 (tốt); S4 only "hoàn thành".
    assert split("A7") == ((2, 3, None), (1, 2, False), (1, 1, True))
    # A8a–c: 100% wanted.  A8a (CĐCS): funds S1 S2 S4, met.  A8b (every level): disclosure S1
    # S4, Đà Lạt, the province = 4 of the 5 reports.  A8c (CĐCS and the district level): 7
    # bodies, 4 reported (S1 S2 S4, Đà Lạt); audited S2 S4 = 2 of 4.  The province's own
    # report does not count for A8c.
    assert _fig(_row(report, "A8a")) == (3, 3, True)
    a8b, a8c = _row(report, "A8b"), _row(report, "A8c")
    assert (_fig(a8b), a8b.coverage_count, a8b.coverage_total) == ((4, 5, False), 5, 8)
    assert (_fig(a8c), a8c.coverage_count, a8c.coverage_total) == ((2, 4, False), 4, 7)
    # A7b: the direct superior unions (Đà Lạt, Bảo Lộc): Đà Lạt rated "tốt" = 1 of 1 reported
    # (1 of 2 = 50%: enough): met.
    a7b = _row(report, "A7b")
    assert (_fig(a7b), a7b.coverage_count, a7b.coverage_total) == ((1, 1, True), 1, 2)
    # P1: among the eligible (S1, S2): S1 has a women's committee.
    assert split("P1") == ((1, 2, None), (1, 1, True), (0, 1, False))
    # P2: public CĐCS only (S1 S3 S4 E1): S1 S4 reported (2 of 4 = 50%), both apply the rules:
    # 100% ≥ 85% (phase 2025).
    p2 = _row(report, "P2")
    assert _fig(p2) == (2, 2, True)
    assert (p2.target.value, p2.target.phase, p2.coverage_count) == (Decimal(85), 2025, 2)
    # P3: non-public CĐCS only (S2): 1 of 1 ≥ 80%.
    assert _fig(_row(report, "P3")) == (1, 1, True)
    # P5 (thousands of đồng): collected 114.000 + 60.000 + 50.000 = 224.000 of
    # 120.000 + 80.000 + 50.000 = 250.000 due = 89.6% < 90%; S2's earlier report (80.000 of
    # 80.000) is superseded.  Public S1 S4: 164.000 of 170.000 = 96.5%; S2: 75%.
    assert split("P5") == (
        (224_000, 250_000, False),
        (164_000, 170_000, True),
        (60_000, 80_000, False),
    )
    p5 = _row(report, "P5")
    assert (p5.coverage_count, p5.coverage_total, p5.subject, p5.floor) == (3, 5, "money", None)
    # BL: only S4 of 3 reported: its 100% is shown without a verdict.
    assert _children(p5) == {"BL": (50_000, 50_000, None), "DL": (174_000, 200_000, False)}

    # A district and a CĐCS: BL (S3 no report, S4, E1 no report): one report of 3 (33%):
    # A2a 0 of 1 and A6 1 over 1, both without a verdict.
    bl = await _stats(db, province, "BL")
    assert (_fig(_row(bl, "A2a")), _fig(_row(bl, "A6"))) == ((0, 1, None), (1, 1, None))
    assert _row(bl, "A2a").coverage_count == 1
    assert _row(bl, "A6").standing is Standing.LOW_COVERAGE
    s2 = await _stats(db, province, "S2")  # non-public: its own targets
    assert (_fig(_row(s2, "A2b")), _fig(_row(s2, "A7"))) == ((1, 1, True), (1, 1, True))
    assert _fig(_row(s2, "P2")) == (0, 0, None)  # P2 is not for non-public units
    # 2024: only S3's report (1 of 5 CĐCS: too few): dialogue yes, 4 introductions,
    # 30.000 of 40.000; each shown, none judged.
    old = await _stats(db, province, "LD", 2024)
    assert _fig(_row(old, "A2a")) == (1, 1, None)
    assert _fig(_row(old, "A6")) == (4, 1, None)
    assert _row(old, "A2a").coverage_count == 1
    assert _fig(_row(old, "P5")) == (30_000, 40_000, None)
    # 2023: no report at all: no figure, never 0%.
    none = await _stats(db, province, "LD", 2023)
    a2a_2023 = _row(none, "A2a")
    assert (_fig(a2a_2023), a2a_2023.rate, a2a_2023.standing) == (
        (0, 0, None),
        None,
        Standing.NO_DATA,
    )
    assert (a2a_2023.coverage_count, a2a_2023.coverage_total) == (0, 5)


async def test_district_scope(db: Database, province: Province) -> None:
    report = await _stats(db, province, "DL")
    # A3c: answered s1a s1b s1e s1f s2a s2b s2c s2d = 8 of 10 people, yes 6 = 75%: met.
    # S1 (with its tổ): s1a s1b s1e s1f answered (4 of 6), yes s1a s1e s1f = 75%; S2: 3 of 4.
    a3c = _row(report, "A3c")
    assert _fig(a3c) == (6, 8, True)
    assert (a3c.coverage_count, a3c.coverage_total) == (8, 10)
    assert _children(a3c) == {"S1": (3, 4, True), "S2": (3, 4, True)}
    # A3a: s1a s2a of 8 members = 25% ≥ 20%; 4 of 8 signed up (50%).
    assert _fig(_row(report, "A3a")) == (2, 8, True)
    # A3b: 1 of 3.
    assert _fig(_row(report, "A3b")) == (1, 3, False)
    # A5: 8 members of 8 + 5 staff; no fallback in DL.
    a5 = _row(report, "A5")
    assert _fig(a5) == (8, 13, False)
    assert a5.fallback_units == 0
    assert _children(a5) == {"S1": (5, 8, False), "S2": (3, 5, False)}
    # P4: S1's two members' cases (one supported) = 50%; S2's non-member case apart.
    p4 = _row(report, "P4")
    assert (_fig(p4), p4.apart) == ((1, 2, False), 1)

    bl = await _stats(db, province, "BL")
    # A3b: S3 1 of 1, S4 2 of 2 → 100% = target; s3d's case (not a member) apart.
    a3b = _row(bl, "A3b")
    assert (_fig(a3b), a3b.apart) == ((3, 3, True), 1)
    assert a3b.rate == 1.0
    # A5: 8 of 9 (S3 and E1 from the roster); S3 3 of 4; S4 5 of 5 = 100% ≥ 97%; E1 has
    # neither staff nor people: no rate.
    a5 = _row(bl, "A5")
    assert (_fig(a5), a5.fallback_units) == ((8, 9, False), 2)
    assert _children(a5) == {"E1": (0, 0, None), "S3": (3, 4, False), "S4": (5, 5, True)}
    # A4b: s4d's yes counts in S3, where they answered, not in S4 where they are now: S3
    # s4d yes, s3c no (2 of 4 answered: 50%) = 50% < 80%; nobody in S4 or E1 answered.
    a4b = _row(bl, "A4b")
    assert _children(a4b) == {"E1": (0, 0, None), "S3": (1, 2, False), "S4": (0, 0, None)}
    # P4: S4's member's case (supported) and its union's own request (not yet) = 50%.
    assert _fig(_row(bl, "P4")) == (1, 2, False)
    # P5: S4 only, 1 report of 3 CĐCS: shown, not judged.
    assert _fig(_row(bl, "P5")) == (50_000, 50_000, None)


async def test_grassroots_scope(db: Database, province: Province) -> None:
    s1 = await _stats(db, province, "S1")
    # A3c: answered s1a s1b s1e s1f (4 of 6), yes s1a s1e s1f = 75%; the tổ T1 (s1e s1f) 2 of
    # 2; S1 itself (s1a..s1d): s1a s1b answered (2 of 4 = 50%), s1a yes: 50% < 75%.
    a3c = _row(s1, "A3c")
    assert _fig(a3c) == (3, 4, True)
    assert a3c.rate == pytest.approx(0.75)
    assert (a3c.coverage_count, a3c.coverage_total) == (4, 6)
    assert _children(a3c) == {"T1": (2, 2, True), "S1*": (1, 2, False)}
    assert _row(s1, "A5").by_child == ()  # staff counts are per CĐCS: no split by tổ

    s4 = await _stats(db, province, "S4")
    # A3a: s4a (two confirmed offers) of 5 members = 20%, but only s4a s4b signed up (40%).
    assert _fig(_row(s4, "A3a")) == (1, 5, None)
    assert _fig(_row(s4, "A5")) == (5, 5, True)
    # A3c: s4a and the anonymous yes answered, both yes; s4b completed without the question:
    # 2 of 5 answered (40%), 100% shown without a verdict.
    a3c = _row(s4, "A3c")
    assert (_fig(a3c), a3c.coverage_count) == ((2, 2, None), 2)
    assert a3c.floor == pytest.approx(0.4)  # 2 yes of S4's 5 people

    s2 = await _stats(db, province, "S2")
    # S2 is non-public: 3 of 4 = 75% meets ≥75%; A3b: one visited case, 0 of 1.
    assert _fig(_row(s2, "A3c")) == (3, 4, True)
    assert not s2.scope_is_public
    assert _fig(_row(s2, "A3b")) == (0, 1, False)

    s2_2024 = await _stats(db, province, "S2", 2024)
    a3b = _row(s2_2024, "A3b")  # no case in S2 in 2024: 0/0, no rate, no verdict
    assert (_fig(a3b), a3b.rate) == ((0, 0, None), None)


async def test_a_scope_is_the_sum_of_its_rows(db: Database, province: Province) -> None:
    """Whatever the indicator and the scope, the figures of the scope are the sums of those of
    its rows (its child units and, for the people and cases attached to the scope unit itself,
    its "(trực tiếp)" row): numerator, denominator and coverage.  E.g. A5 at the province:
    BL 8/9 + DL 8/13 + the office (pv, a member, no CĐCS so no staff) 1/0 = 17/22; A1 in S1:
    its tổ (s1e) 0/1 + S1 itself (s1a–s1d) 0/4 = 0/5."""
    checked, direct = 0, 0
    for year in (2024, YEAR):
        for unit in province.units:  # the province, both districts, every CĐCS and the tổ
            report = await _stats(db, province, unit, year)
            for row in report.rows:
                if not row.by_child:
                    continue
                rows = row.by_child
                assert (
                    sum(c.numerator for c in rows),
                    sum(c.denominator for c in rows),
                    sum(c.coverage_count for c in rows),
                    sum(c.coverage_total for c in rows),
                ) == (row.numerator, row.denominator, row.coverage_count, row.coverage_total), (
                    year,
                    unit,
                    row.code,
                )
                assert [c.direct for c in rows].count(True) <= 1 and not any(
                    c.direct for c in rows[:-1]
                )  # the direct row, if any, comes last
                for child in rows:
                    if child.direct:
                        direct += 1
                        assert child.name == report.scope_name
                        if child.denominator == 0:  # e.g. A5's 1/0 at the province
                            assert (child.rate, child.standing) == (None, Standing.NO_DATA)
                checked += 1
    assert checked > 100 and direct > 20  # the rule was put to the test
    report = await _stats(db, province, "LD")
    assert _children(_row(report, "A5")) == {
        "BL": (8, 9, False),
        "DL": (8, 13, False),
        "LD*": (1, 0, None),
    }
    assert _fig(_row(report, "A5"))[:2] == (8 + 8 + 1, 9 + 13 + 0)
    s1 = await _stats(db, province, "S1")
    assert _children(_row(s1, "A1")) == {"T1": (0, 1, None), "S1*": (0, 4, None)}
    assert _fig(_row(s1, "A1"))[:2] == (0, 5)


async def test_other_years(db: Database, province: Province) -> None:
    old = await _stats(db, province, "LD", 2024)
    # 2024, when s4f had not left yet: A3c s1c s4c s4f answered yes: 3 of 3, from 3 of 21
    # people: not judged.  A3a s3a of 18 members (one benefit row: 1 of 18 signed up); A3b
    # one reported case; A5: 18 members of 22 staff (S4's staff count is 5 whoever is
    # listed), target 96%.
    assert _fig(_row(old, "A3c")) == (3, 3, None)
    assert (_row(old, "A3c").coverage_count, _row(old, "A3c").coverage_total) == (3, 21)
    assert _fig(_row(old, "A3a")) == (1, 18, None)
    assert _fig(_row(old, "A5")) == (18, 22, False)
    assert _fig(_row(old, "A3b")) == (0, 1, False)
    assert _row(old, "A5").target.value == Decimal(96)
    # A4b: s1c's yes of 2024, 1 of 1 (1 of 20 answered); P4: S3's one legal case, not taken
    # up: 0 of 1.
    assert _fig(_row(old, "A4b")) == (1, 1, None)
    assert _fig(_row(old, "P4")) == (0, 1, False)

    far = await _stats(db, province, "LD", 2045)
    a5 = _row(far, "A5")  # "hầu hết": a figure with no pass/fail
    assert (_fig(a5), a5.target.kind) == ((17, 22, None), TargetKind.NONE)
    assert a5.target.label_vi == "Hầu hết"
    # A survey nobody answered that year: no figure, never "0/20 = 0% ❌".
    a3c = _row(far, "A3c")
    assert (_fig(a3c), a3c.rate, a3c.standing) == ((0, 0, None), None, Standing.NO_DATA)


async def test_unknown_scope(db: Database) -> None:
    async with db.session() as s:
        with pytest.raises(UnknownScope):
            await compute_stats(s, scope_unit_id=999, year=YEAR, catalog=CATALOG)


async def test_query_count_does_not_grow(db: Database, province: Province) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    first = await _stats(db, province, "LD")
    cold = len(statements)
    statements.clear()
    await _stats(db, province, "LD")
    fresh = len(statements)

    async with db.session() as s:
        # 40 more people in a new CĐCS, each answering, signing up and with a case.
        await _unit(s, province, "S8", "Mầm non Hoa Hồng", UnitKind.GRASSROOTS, "BL", staff=40)
        names = " ".join(f"n{i}" for i in range(40))
        await _people(s, province, "S8", names)
        for i in range(40):
            await _respond(s, province, "act", f"n{i}", participated=True)
            await _respond(s, province, "training", f"n{i}", participated=True)
            s.add(_benefit(province, f"n{i}", BenefitStatus.CONFIRMED))
            s.add(_case(province, "S8", CaseStatus.SUPPORTED))
            s.add(_case(province, "S8", CaseStatus.SUPPORTED, kind=CaseKind.LEGAL))
    statements.clear()
    second = await _stats(db, province, "LD")
    event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    # Nothing stale: the scope, its children, whether any change is logged, and the one sum
    # of every source (which also tells that none is stale) = 4; on PostgreSQL two SET LOCAL
    # first (see test_report_plans_for_its_values).
    pg = db.engine.dialect.name == "postgresql"
    assert fresh == (6 if pg else 4)
    # Changes logged: no sum first, but turning the log into versions (SQLite: an UPDATE and
    # a DELETE; PostgreSQL: one statement, after taking the advisory lock), which units are
    # stale, the DELETE of their tallies, the count of units recomputed, one INSERT … SELECT
    # per family (A1, A3a's welfare, the roster, A3b, A3c, A4b, A5's staff, P4 and one for the
    # twelve unit-report indicators = 9) and the sum.
    assert cold == fresh + 14
    assert len(statements) == cold
    # and the new people are counted: A3c 8 + 40 yes of 11 + 40 answering = 94% ≥ 75%.
    assert _fig(_row(first, "A3c")) == (8, 11, False)
    assert _fig(_row(second, "A3c")) == (48, 51, True)


async def test_report_plans_for_its_values(db: Database, province: Province) -> None:
    """On PostgreSQL the report's transaction plans each statement for its values (a generic
    plan of a prepared statement walks every response of every year) and without JIT."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting: SQLite has no plan cache to steer")
    async with db.session() as s:
        await compute_stats(s, scope_unit_id=province.uid("LD"), year=YEAR, catalog=CATALOG)
        shown = [
            (await s.execute(text(f"SHOW {name}"))).scalar() for name in ("plan_cache_mode", "jit")
        ]
        assert shown == ["force_custom_plan", "off"]
    async with db.session() as s:  # SET LOCAL: the next transaction has the server's defaults
        assert (await s.execute(text("SHOW plan_cache_mode"))).scalar() == "auto"


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("year", "percent", "phase"),
    [
        (2022, 95, None),
        (2023, 96, 2023),
        (2024, 96, 2023),
        (2025, 97, 2025),
        (2029, 97, 2025),
        (2030, 98, 2030),
    ],
)
def test_a5_target_by_year(year: int, percent: int, phase: int | None) -> None:
    target = CATALOG.target_for("A5", year, None)
    assert (target.kind, target.value, target.phase) == (TargetKind.MIN, Decimal(percent), phase)


def test_a5_target_2045_has_no_number() -> None:
    target = CATALOG.target_for("A5", 2045, None)
    assert (target.kind, target.value, target.label_vi) == (TargetKind.NONE, None, "Hầu hết")
    assert target.is_met(100, 100) is None


def test_split_targets() -> None:
    assert CATALOG.target_for("A2a", 2025, True).kind is TargetKind.EXACT
    assert CATALOG.target_for("A2a", 2025, False).value == Decimal(70)
    mixed = CATALOG.target_for("A2a", 2025, None)
    assert (mixed.kind, mixed.split) == (TargetKind.NONE, True)
    assert CATALOG.target_for("A7", 2024, True).value == Decimal(90)
    assert CATALOG.target_for("A7", 2024, False).value == Decimal(60)
    # P1 only from 2023; P2 concerns public units only; P3 non-public only.
    assert CATALOG.target_for("P1", 2022, True).kind is TargetKind.NONE
    assert CATALOG.target_for("P1", 2026, False).value == Decimal(70)
    assert CATALOG.target_for("P2", 2031, True).value == Decimal(95)
    assert CATALOG.target_for("P2", 2031, False).kind is TargetKind.NONE
    assert CATALOG.target_for("P3", 2046, False).value == Decimal(99)
    assert CATALOG.target_for("P4", 2024, None).value == Decimal(65)
    a6 = CATALOG.target_for("A6", 2025, None)
    assert (a6.kind, a6.value) == (TargetKind.PER_UNIT_AVERAGE, Decimal("1.0"))
    assert a6.is_met(12, 12) is True and a6.is_met(11, 12) is False


def test_met_is_exact_arithmetic() -> None:
    min97 = Target(TargetKind.MIN, Decimal(97))
    assert min97.is_met(97, 100) is True  # exactly at the target
    assert min97.is_met(9699, 10000) is False
    # 0.1 + 0.2 style: 7/10 against 70% must be met although 0.7 * 100 = 70.00000000000001
    assert Target(TargetKind.MIN, Decimal(70)).is_met(7, 10) is True
    assert Target(TargetKind.MIN, Decimal("57.5")).is_met(23, 40) is True
    assert Target(TargetKind.EXACT, Decimal(100)).is_met(5, 6) is False
    assert min97.is_met(0, 0) is None


def test_catalog_holds_every_indicator() -> None:
    assert CATALOG.codes == [
        "A1", "A2a", "A2b", "A3a", "A3b", "A3c", "A4a", "A4b", "A5", "A6", "A7", "A7b",
        "A8a", "A8b", "A8c", "P1", "P2", "P3", "P4", "P5",
    ]  # fmt: skip
    assert CATALOG.not_computed == []
    assert CATALOG.get("P5").out_of == "finance_due" and CATALOG.get("P5").is_amount
    assert CATALOG.get("A7").counts_as == ("xuat_sac", "tot")
    assert CATALOG.get("P1").among == "womens_committee_eligible"
    assert CATALOG.get("A6").is_average and not CATALOG.get("A7").is_average
    assert CATALOG.get("A3c").source == "survey:activity_participation:participated"
    assert CATALOG.get("P5").subject.value == "money"


# --------------------------------------------------------------------------- validation


def _write(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"indicators": entries}, allow_unicode=True), "utf-8")
    return path


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "code": "X1",
        "name_vi": "Chỉ tiêu thử",
        "name_en": "Test indicator",
        "subject": "member",
        "source": "roster_membership",
        "targets": {"annual": {"kind": "min", "percent": 50}},
    }
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([_entry(subject="people")], "unknown subject 'people'"),
        ([_entry(source="spreadsheet")], "unknown source 'spreadsheet'"),
        ([_entry(source="survey:only_key")], "unknown source 'survey:only_key'"),
        (
            [_entry(targets={"annual": {"kind": "min", "percent": 120}})],
            "target 120% is outside 0–100%",
        ),
        (
            [_entry(targets={"annual": {"kind": "min", "percent": -5}})],
            "target -5% is outside 0–100%",
        ),
        ([_entry(), _entry()], "duplicate code 'X1'"),
        (
            [_entry(targets={"phases": {"2023a": {"kind": "min", "percent": 96}}})],
            "phase year '2023a' is not an integer",
        ),
        (
            [_entry(targets={"annual": {"kind": "about", "percent": 5}})],
            "unknown target kind 'about'",
        ),
        (
            [_entry(source="unit_report:dialogue", computed=True)],
            "a unit_report indicator must have subject unit or money",
        ),
        (
            [_entry(source="unit_report:collected", subject="money")],
            "a money indicator needs 'out_of' (the amount due)",
        ),
        (
            [_entry(source="unit_report:collected", subject="unit", out_of="due")],
            "'out_of' is for unit_report sources of subject money only",
        ),
        (
            [_entry(source="unit_report:collected", subject="money", out_of="Due!")],
            "'out_of' must name an integer question",
        ),
        ([_entry(counts_as=["tot"])], "'counts_as' and 'among' are for unit_report sources"),
        (
            [_entry(source="unit_report:rating", subject="unit", counts_as="tot")],
            "'counts_as' must be a list of answer values",
        ),
        (
            [_entry(source="unit_report:women", subject="unit", among="Eligible?")],
            "'among' must name a yes/no question",
        ),
        ([_entry(nme_vi="typo")], "unknown key(s) nme_vi"),
        ([_entry(levels=["district"])], "'levels' is for unit_report sources only"),
        (
            [_entry(source="unit_report:dialogue", subject="unit", levels=["county"])],
            "unknown levels 'county'",
        ),
        (
            [_entry(source="unit_report:dialogue", subject="unit", levels=[])],
            "'levels' must be a list of grassroots, district, province",
        ),
        (
            [
                _entry(
                    source="unit_report:dialogue",
                    subject="unit",
                    applies_to="public",
                    levels=["grassroots", "district"],
                )
            ],
            "'applies_to' (public or not) concerns CĐCS only",
        ),
    ],
)
def test_catalog_errors(tmp_path: Path, entries: list[dict[str, Any]], reason: str) -> None:
    path = _write(tmp_path, entries)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert "(X1)" in message
    assert reason in message


def test_catalog_error_on_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.yaml")


@pytest.mark.parametrize("value", ["half", 101, -1, True, 50.5])
def test_min_coverage_must_be_a_whole_percentage(tmp_path: Path, value: Any) -> None:
    data = yaml.safe_load(DEFAULT_CATALOG.read_text("utf-8"))
    data["min_coverage"] = value
    path = tmp_path / "coverage.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(CatalogError, match="min_coverage must be a whole percentage"):
        load_catalog(path)


async def test_min_coverage_comes_from_the_catalog(
    db: Database, province: Province, tmp_path: Path
) -> None:
    """A3c for the province: 11 of the 20 people answered (55%): judged with the default 50%,
    not with 60% (8/11 shown without a verdict); the floor is the same either way."""
    data = yaml.safe_load(DEFAULT_CATALOG.read_text("utf-8"))
    data["min_coverage"] = 60
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    strict = load_catalog(path)
    assert (CATALOG.min_coverage, strict.min_coverage) == (50, 60)
    async with db.session() as s:
        report = await compute_stats(s, scope_unit_id=province.uid("LD"), year=YEAR, catalog=strict)
    a3c = _row(report, "A3c")
    assert (_fig(a3c), a3c.standing, a3c.coverage_low) == (
        (8, 11, None),
        Standing.LOW_COVERAGE,
        True,
    )
    assert report.min_coverage == 60
    assert "dưới 60%" in render("stats.txt", "vi", report=report)


def test_edited_catalog_loads(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_CATALOG.read_text("utf-8"))
    data["indicators"][0]["targets"] = {"annual": {"kind": "min", "percent": 99.5}}
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    edited = load_catalog(path)
    assert edited.target_for("A1", 2025).value == Decimal("99.5")


# --------------------------------------------------------------------------- rendering


async def test_render_vi_and_en(db: Database, province: Province) -> None:
    report = await _stats(db, province, "LD")
    vi = render("stats.txt", "vi", report=report)
    assert "📊 <b>Chỉ tiêu năm 2025</b>" in vi
    assert "<b>Công đoàn Giáo dục tỉnh Lâm Đồng</b>" in vi
    assert "<b>A3c</b> · Đoàn viên, CBNGNLĐ tham gia" in vi
    assert "8/11 = 72,7% · ❌ Chưa đạt" in vi
    assert "Mục tiêu: ≥ 75%" in vi
    assert "Độ phủ: 11/20 người trả lời" in vi
    # public: 5 of the 7 who answered, 7 of 16 people: no verdict; S2 met
    assert (
        "Công lập: 5/7 = 71,4% ⚠️ chưa đủ số liệu (đã trả lời 7/16) · "
        "Ngoài công lập: 3/4 = 75% ✅" in vi
    )
    assert "• Công đoàn Giáo dục tỉnh Lâm Đồng (trực tiếp): chưa có ai trả lời" in vi
    # A3a: over every member; coverage labelled by what it counts
    assert "3/17 = 17,6% · ⚠️ chưa đủ số liệu (đã đăng ký 6/17)" in vi
    assert "Độ phủ: 6/17 đoàn viên đã đăng ký phúc lợi ⚠️ dưới 50%: chưa đủ để đánh giá" in vi
    assert "• Công đoàn Giáo dục Bảo Lộc: 3/3 = 100% ✅" in vi  # A3b
    assert "Ngoài đoàn viên (xử lý nhưng không tính vào chỉ tiêu): 1 trường hợp" in vi
    assert "17/22 = 77,3% · ❌ Chưa đạt" in vi  # A5
    assert "Mục tiêu: ≥ 97% (mốc 2025)" in vi
    assert "Danh sách: 20/22 CBNGNLĐ" in vi
    assert "2 CĐCS chưa khai số CBNGNLĐ: tính theo danh sách" in vi
    assert "Chưa tính trong phiên bản này" not in vi
    assert "Độ phủ: 3/5 CĐCS đã gửi báo cáo" in vi  # the unit report indicators
    # A2a on a mixed scope: a verdict for each side, not "—"
    assert "1/3 = 33,3% · Công lập ❌ Chưa đạt · Ngoài công lập ❌ Chưa đạt" in vi
    assert "• Công đoàn Giáo dục Bảo Lộc: 0/1 = 0% ⚠️ chưa đủ số liệu (đã báo cáo 1/3)" in vi
    assert "3/3 = 1,00 · ✅ Đạt" in vi  # A6: introductions per CĐCS that reported
    assert "224.000/250.000 nghìn đồng = 89,6% · ❌ Chưa đạt" in vi  # P5
    assert "Mục tiêu: ≥ 1,0 mỗi CĐCS" in vi
    # A1: no notice this year: no figure, not "0/17 = 0%"
    a1 = vi.split("<b>A1</b>")[1].split("<b>A2a</b>")[0]
    assert "chưa có số liệu" in a1 and "= 0%" not in a1 and "0/17 =" not in a1
    assert "Chỉ đánh giá khi độ phủ từ 50% trở lên" in vi
    for tag in ("<br", "<div", "<p>", "<span"):
        assert tag not in vi

    en = render("stats.txt", "en", report=report)
    assert "📊 <b>Indicators for 2025</b>" in en
    assert "<b>A3c</b> · Members and staff taking part" in en
    assert "8/11 = 72,7% · ❌ Not met" in en
    assert "Target: ≥ 97% (milestone 2025)" in en
    assert "Coverage: 11/20 people answered" in en
    assert "Public: 5/7 = 71,4% ⚠️ not enough data (7/16 answered)" in en
    assert "Roster: 20/22 staff" in en
    assert "224.000/250.000 thousand VND = 89,6% · ❌ Not met" in en
    assert "Chưa" not in en and "Độ phủ" not in en


async def test_render_no_cases_and_no_target(db: Database, province: Province) -> None:
    s2 = await _stats(db, province, "S2", 2024)
    vi = render("stats.txt", "vi", report=s2)
    assert "<b>A3b</b>" in vi and "chưa có trường hợp" in vi
    assert "Số trường hợp" not in vi.split("<b>A3b</b>")[1].split("<b>A3c</b>")[0]
    assert "(trực tiếp)" not in vi  # a CĐCS without tổ lists no child units
    far = await _stats(db, province, "LD", 2045)
    vi = render("stats.txt", "vi", report=far)
    assert "17/22 = 77,3% · —" in vi
    assert "Mục tiêu: Hầu hết (mốc 2045)" in vi
    en = render("stats.txt", "en", report=far)
    assert "Target: Almost all (milestone 2045)" in en
    assert "no cases yet" in en  # no hardship case in 2045


async def test_render_units_without_a_report(db: Database, province: Province) -> None:
    """/indicator A2a for Bảo Lộc: S4 reported, S3 and E1 did not: "chưa báo cáo", not 0/1 ❌,
    and ranked after the unit with a figure."""
    report = await _stats(db, province, "BL")
    row = _row(report, "A2a")
    text = render("indicator.txt", "vi", report=report, row=row, children=ranked_children(row))
    assert "1. Tiểu học Kim Đồng: 0/1 = 0% ❌" in text
    assert "2. Mầm non Sơn Ca: chưa báo cáo" in text
    assert "3. THCS Lê Lợi: chưa báo cáo" in text
    # the district itself: 1 report of 3 CĐCS, too few for a verdict
    assert "0/1 = 0% · ⚠️ chưa đủ số liệu (đã báo cáo 1/3)" in text
    # P3 concerns non-public CĐCS only, and Bảo Lộc has none
    p3 = _row(report, "P3")
    text = render("indicator.txt", "vi", report=report, row=p3, children=ranked_children(p3))
    assert "không có đơn vị thuộc diện" in text


async def test_render_child_limit(db: Database, province: Province) -> None:
    report = await _stats(db, province, "LD")
    vi = render("stats.txt", "vi", report=report, child_limit=1)
    assert "… và 2 đơn vị khác" in vi  # A3c: 3 child rows, 1 shown
    assert "• Công đoàn Giáo dục tỉnh Lâm Đồng (trực tiếp)" not in vi


async def test_escaping_unit_names(db: Database, province: Province) -> None:
    async with db.session() as s:
        await _unit(s, province, "S9", "Trường <b>A</b> & B", UnitKind.GRASSROOTS, "LD")
    report = await _stats(db, province, "S9")
    vi = render("stats.txt", "vi", report=report)
    assert "Trường &lt;b&gt;A&lt;/b&gt; &amp; B" in vi


async def test_terminal_table(db: Database, province: Province) -> None:
    report = await _stats(db, province, "LD")
    console = Console(record=True, width=200, color_system=None)
    console.print(render_stats_terminal(report, "vi"))
    out = console.export_text()
    assert "Chỉ tiêu năm 2025" in out
    assert "Tử số/mẫu số" in out
    assert "17/22" in out and "77,3%" in out and "≥ 97% (mốc 2025)" in out
    assert "❌ Chưa đạt" in out
    assert "11/20" in out  # A3c's coverage
    a4b = out[out.index("A4b") :].split("A5")[0]  # A4b's verdict withheld (folded)
    assert "chưa đủ số liệu" in a4b and "6/20)" in a4b

    console = Console(record=True, width=200, color_system=None)
    console.print(render_stats_terminal(report, "en"))
    out = console.export_text()
    assert "Indicators for 2025" in out and "Not met" in out and "Coverage" in out
