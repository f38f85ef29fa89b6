"""Indicator tallies: the per-unit counts a report sums are kept fresh by the triggers.

Every test builds the hand-computed province of ``tests/test_indicators.py``, changes it the
way the bot does (an answer, a move, a case or benefit decided, a notice acknowledged, a unit
edited …) and checks that the report from the tallies is the report computed from the facts
(the path those hand-computed tests pin down), for the province, a district and a CĐCS, this
year and the year before; where a change moves a figure, the new figure is checked by hand too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.indicators import StatsReport, compute_stats
from storage import indicators as q
from storage.db import Database
from storage.models import (
    Answer,
    BenefitStatus,
    Case,
    CaseStatus,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Person,
    Response,
    ResponseState,
    Unit,
    UnitKind,
    WelfareBenefit,
)
from storage.tables import indicator_changes, indicator_tallies, indicator_versions
from tests.test_indicators import (
    CATALOG,
    YEAR,
    Province,
    _benefit,
    _children,
    _fig,
    _people,
    _report,
    _respond,
    _row,
    _unit,
    build_province,
)

SCOPES = ("LD", "DL", "BL", "S1", "S3")


async def _report_of(db: Database, p: Province, unit: str, year: int, tallies: bool) -> StatsReport:
    async with db.session() as s:
        return await compute_stats(
            s, scope_unit_id=p.uid(unit), year=year, catalog=CATALOG, tallies=tallies
        )


async def _assert_same(
    db: Database,
    p: Province,
    scopes: tuple[str, ...] = SCOPES,
    years: tuple[int, ...] = (YEAR, YEAR - 1),
) -> None:
    """The tallies' report equals the facts' one, for the scopes and years."""
    for year in years:
        for unit in scopes:
            from_tallies = await _report_of(db, p, unit, year, tallies=True)
            from_facts = await _report_of(db, p, unit, year, tallies=False)
            assert from_tallies == from_facts, (unit, year)


async def _province(db: Database) -> Province:
    async with db.session() as s:
        p = await build_province(s)
    await _assert_same(db, p, scopes=("LD",))  # every tally of both years, from cold
    return p


@pytest.fixture
async def province(db: Database) -> Province:
    return await _province(db)


async def _stale(db: Database, p: Province, unit: str = "LD") -> int:
    """How many units of the scope a report would recompute now (looked at in a transaction
    rolled back: nothing is changed)."""
    families = _families()
    async with db.sessionmaker() as s:
        scope = await q.get_scope(s, unit_id=p.uid(unit))
        assert scope is not None
        await q.apply_changes(s)
        sources = [source for f in families for source in f.sources]
        stale = len(await q.stale_units(s, scope=scope, year=YEAR, sources=sources))
        await s.rollback()
    return stale


async def _refreshed(db: Database, p: Province, unit: str) -> q.Refreshed:
    """What a report of the unit's scope recomputed."""
    async with db.session() as s:
        scope = await q.get_scope(s, unit_id=p.uid(unit))
        assert scope is not None
        children = await q.child_units(s, scope=scope)
        _, refreshed = await q.tally_breakdowns(
            s, scope=scope, children=children, year=YEAR, families=_families()
        )
    return refreshed


def _families() -> tuple[q.Family, ...]:
    from bot.indicators.compute import _Computer

    return _Computer(CATALOG.computed).families


# --------------------------------------------------------------------------- the schema


async def test_every_trigger_of_the_migration_exists(db: Database) -> None:
    """A later batch migration on SQLite rebuilds a table without its triggers: this fails
    then, rather than the tallies silently going stale."""
    from importlib import import_module

    migration = import_module("storage.migrations.versions.0008_indicator_tallies")
    expected = {t.name for t in migration.TRIGGERS}
    async with db.session() as s:
        if db.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            sql = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        found = {row[0] for row in await s.execute(text(sql))}
    assert expected <= found
    assert len(expected) == 21


async def _logged(db: Database) -> list[int]:
    async with db.session() as s:
        rows = await s.execute(select(indicator_changes.c.unit_id))
        return sorted(int(unit_id) for (unit_id,) in rows)


async def _version(db: Database, unit_id: int) -> int:
    async with db.session() as s:
        found = select(indicator_versions.c.version).where(indicator_versions.c.unit_id == unit_id)
        return int((await s.execute(found)).scalar_one())


async def test_changes_are_logged_and_the_next_report_bumps_the_versions(
    db: Database, province: Province
) -> None:
    async with db.session() as s:
        rows = await s.execute(select(indicator_versions.c.unit_id))
        assert {int(u) for (u,) in rows} == {province.uid(k) for k in province.units}
    assert await _logged(db) == []  # the fixture's reports applied everything
    s4, bl, ld = province.uid("S4"), province.uid("BL"), province.uid("LD")
    before = await _version(db, s4)
    async with db.session() as s:  # a staff count: the unit and those above it
        await s.execute(update(Unit).where(col(Unit.id) == s4).values(staff_count=6))
    async with db.session() as s:  # an answer: the unit of the response
        await _respond(s, province, "act", "s4c", participated=True)
    # S4 by the staff count, the response and its answer; BL and LD by the staff count
    assert await _logged(db) == sorted([ld, bl, s4, s4, s4])
    assert await _version(db, s4) == before  # not yet
    await _report_of(db, province, "LD", YEAR, tallies=True)
    assert await _logged(db) == []
    assert await _version(db, s4) == before + 1  # once, however many changes were logged
    async with db.session() as s:  # what nothing counts (a unit's name) logs nothing
        await s.execute(update(Unit).where(col(Unit.id) == s4).values(name="Tiểu học Kim Đồng 2"))
    assert await _logged(db) == []


async def test_a_fresh_report_recomputes_nothing(db: Database, province: Province) -> None:
    assert await _stale(db, province) == 0
    refreshed = await _refreshed(db, province, "LD")
    assert refreshed == q.Refreshed(0, 0)


async def test_a_change_recomputes_its_unit_and_those_above(
    db: Database, province: Province
) -> None:
    async with db.session() as s:
        await _respond(s, province, "act", "s3c", participated=True)
    assert await _stale(db, province) == 1  # S3
    refreshed = await _refreshed(db, province, "LD")
    assert refreshed == q.Refreshed(stale=1, computed=3)  # S3, BL, LD
    assert await _stale(db, province) == 0


async def test_a_deleted_unit_takes_its_tallies(db: Database, province: Province) -> None:
    async with db.session() as s:
        await _unit(s, province, "S9", "Mầm non Họa Mi", UnitKind.GRASSROOTS, "BL", staff=3)
    await _assert_same(db, province)
    s9 = province.uid("S9")
    async with db.session() as s:
        kept = select(func.count()).where(indicator_tallies.c.unit_id == s9)
        assert (await s.execute(kept)).scalar_one() > 0
        await s.execute(delete(Unit).where(col(Unit.id) == s9))
    async with db.session() as s:
        assert (await s.execute(kept)).scalar_one() == 0
        gone = select(func.count()).where(indicator_versions.c.unit_id == s9)
        assert (await s.execute(gone)).scalar_one() == 0
    await _assert_same(db, province)


# --------------------------------------------------------------------------- changes


async def test_a_member_who_moves_and_answers_again_counts_once_where_they_answered_last(
    db: Database, province: Province
) -> None:
    """s1b (S1, answered "no" to the first activity survey) moves to S2 and answers the
    second one "yes" there.  Before, in Đà Lạt: S1 3 yes (s1a s1e s1f) of 4 answering (of 6
    people), S2 3 yes (s2a s2b s2c) of 4.  After: s1b counts in S2 only, with yes: S1 3/3
    (3 of its 5 people answered), S2 4/5; Đà Lạt 7/8 (was 6/8)."""
    before = await _report_of(db, province, "DL", YEAR, tallies=True)
    assert _children(_row(before, "A3c")) == {"S1": (3, 4, True), "S2": (3, 4, True)}
    async with db.session() as s:
        mover = province.people["s1b"]
        await s.execute(
            update(Person).where(col(Person.id) == mover.id).values(unit_id=province.uid("S2"))
        )
        mover.unit_id = province.uid("S2")
        await _respond(s, province, "act_dl", "s1b", participated=True)
    after = await _report_of(db, province, "DL", YEAR, tallies=True)
    row = _row(after, "A3c")
    assert _children(row) == {"S1": (3, 3, True), "S2": (4, 5, True)}
    assert _fig(row) == (7, 8, True)
    assert row.coverage_count == 8  # respondents, each once
    await _assert_same(db, province)


async def _anonymize(s: AsyncSession, p: Province) -> None:
    """s1a answered both activity surveys; the first answer is made anonymous: one more
    respondent."""
    person = p.people["s1a"]
    await s.execute(
        update(Response)
        .where(col(Response.person_id) == person.id, col(Response.run_id) == p.runs["act"].id)
        .values(person_id=None)
    )


async def _answer_changed(s: AsyncSession, p: Province) -> None:
    person = p.people["s4a"]
    response_id = (
        await s.execute(
            select(col(Response.id)).where(
                col(Response.person_id) == person.id, col(Response.run_id) == p.runs["act"].id
            )
        )
    ).scalar_one()
    await s.execute(
        update(Answer)
        .where(col(Answer.response_id) == response_id, col(Answer.question_key) == "participated")
        .values(value=json.dumps(False))
    )


async def _response_deleted(s: AsyncSession, p: Province) -> None:
    person = p.people["s2b"]
    response = col(Response.id)
    found = select(response).where(
        col(Response.person_id) == person.id, col(Response.run_id) == p.runs["act"].id
    )
    response_id = (await s.execute(found)).scalar_one()
    await s.execute(delete(Answer).where(col(Answer.response_id) == response_id))
    await s.execute(delete(Response).where(response == response_id))


async def _case_supported(s: AsyncSession, p: Province) -> None:
    await s.execute(
        update(Case)
        .where(col(Case.unit_id) == p.uid("S1"), col(Case.status) == CaseStatus.REPORTED)
        .values(status=CaseStatus.SUPPORTED)
    )


async def _case_moved(s: AsyncSession, p: Province) -> None:
    await s.execute(
        update(Case).where(col(Case.unit_id) == p.uid("S2")).values(unit_id=p.uid("S3"))
    )


async def _benefit_confirmed(s: AsyncSession, p: Province) -> None:
    await s.execute(
        update(WelfareBenefit)
        .where(col(WelfareBenefit.person_id) == p.people["s1b"].id)
        .values(status=BenefitStatus.CONFIRMED)
    )
    s.add(_benefit(p, "s3b", BenefitStatus.CONFIRMED))


async def _member_left(s: AsyncSession, p: Province) -> None:
    await s.execute(
        update(Person).where(col(Person.id) == p.people["s2a"].id).values(is_member=False)
    )


async def _person_added_in_a_group(s: AsyncSession, p: Province) -> None:
    await _people(s, p, "S3", "s3e s3f")  # S3's staff count comes from its roster
    await _people(s, p, "T1", "s1g")


async def _person_deleted(s: AsyncSession, p: Province) -> None:
    await s.execute(delete(Person).where(col(Person.id) == p.people["s3d"].id))


async def _staff_count_set(s: AsyncSession, p: Province) -> None:
    await s.execute(update(Unit).where(col(Unit.id) == p.uid("S3")).values(staff_count=9))


async def _public_flag_flipped(s: AsyncSession, p: Province) -> None:
    await s.execute(update(Unit).where(col(Unit.id) == p.uid("S2")).values(is_public=True))


async def _group_moved(s: AsyncSession, p: Province) -> None:
    """Tổ T1 (with s1e, s1f) moves from S1 to S3, whose staff count falls back on its roster."""
    t1, s3 = p.units["T1"], p.units["S3"]
    await s.execute(
        update(Unit).where(col(Unit.id) == t1.id).values(parent_id=s3.id, path=f"{s3.path}{t1.id}/")
    )


async def _report_superseded(s: AsyncSession, p: Province) -> None:
    await _report(
        s, p, "report", "s4b",
        periodic_dialogue=True, staff_conference=True, coordination_rules=True,
        collective_agreement=False, training_policy_proposal=True,
        womens_committee_eligible=True, womens_committee=True, party_introductions=3,
        funds_use=True, financial_disclosure=True, financial_audit=True, finance_due=50_000,
        finance_collected=45_000, year_end_rating="tot",
    )  # fmt: skip


async def _report_in_progress_completed(s: AsyncSession, p: Province) -> None:
    await s.execute(
        update(Response)
        .where(
            col(Response.run_id) == p.runs["report"].id,
            col(Response.person_id) == p.people["s3a"].id,
        )
        .values(state=ResponseState.COMPLETED)
    )


async def _notices(s: AsyncSession, p: Province) -> None:
    """A notice of the year delivered to S1's members; s1a acknowledges, s1c's send fails."""
    notice = Notice(
        scope_unit_id=p.uid("S1"), title="T", body="B", status=NoticeStatus.QUEUED, period_year=YEAR
    )
    s.add(notice)
    await s.flush()
    rows = {}
    for who in ("s1a", "s1b", "s1c"):
        delivery = Delivery(
            kind=DeliveryKind.NOTICE, notice_id=notice.id, person_id=p.people[who].id
        )
        s.add(delivery)
        rows[who] = delivery
    await s.flush()
    now = dt.datetime.now(dt.UTC)
    for who in ("s1a", "s1b"):
        await s.execute(
            update(Delivery)
            .where(col(Delivery.id) == rows[who].id)
            .values(status=DeliveryStatus.SENT, sent_at=now)
        )
    await s.execute(
        update(Delivery).where(col(Delivery.id) == rows["s1a"].id).values(acknowledged_at=now)
    )
    await s.execute(
        update(Delivery)
        .where(col(Delivery.id) == rows["s1c"].id)
        .values(status=DeliveryStatus.FAILED)
    )


async def _new_answers_everywhere(s: AsyncSession, p: Province) -> None:
    await _respond(s, p, "act", "s3c", participated=True)
    await _respond(s, p, "act", "s1c", participated=False)
    await _respond(s, p, "training", "s4a", participated=True)
    await _respond(s, p, "welfare", "s3a")
    await _respond(s, p, "act_old", "s2c", participated=True)  # of the year before
    await _respond(s, p, "act", None, participated=True, unit="S1")  # anonymous


CHANGES: dict[str, Callable[[AsyncSession, Province], Awaitable[None]]] = {
    "new answers everywhere": _new_answers_everywhere,
    "a response made anonymous": _anonymize,
    "an answer changed": _answer_changed,
    "a response deleted": _response_deleted,
    "a case supported": _case_supported,
    "cases moved to another unit": _case_moved,
    "a benefit confirmed": _benefit_confirmed,
    "a member left the union": _member_left,
    "people added, one in a tổ": _person_added_in_a_group,
    "a person deleted": _person_deleted,
    "a staff count filled in": _staff_count_set,
    "a CĐCS became public": _public_flag_flipped,
    "a tổ moved to another CĐCS": _group_moved,
    "a unit report superseded": _report_superseded,
    "a unit report completed": _report_in_progress_completed,
    "a notice delivered and acknowledged": _notices,
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_change_reaches_the_report(sqlite_db: Database, change: str) -> None:
    """Each change on a province of its own (SQLite; on PostgreSQL, the next test makes every
    change in turn on one province)."""
    db = sqlite_db
    province = await _province(db)
    before = await _report_of(db, province, "LD", YEAR, tallies=True)
    async with db.session() as s:
        await CHANGES[change](s, province)
    assert await _stale(db, province) > 0
    await _assert_same(db, province)
    if change != "a CĐCS became public":  # moves only the public split, checked the same way
        after = await _report_of(db, province, "LD", YEAR, tallies=True)
        moved = [
            r.code
            for r, b in zip(after.rows, before.rows, strict=True)
            if (r.numerator, r.denominator, r.coverage_count)
            != (b.numerator, b.denominator, b.coverage_count)
            or r.by_child != b.by_child
        ]
        assert moved, f"{change}: no figure of the province moved"


async def test_every_change_in_turn(db: Database, province: Province) -> None:
    """All the changes one after the other, a report after each (the tallies of the previous
    report are the ones refreshed)."""
    for change in CHANGES.values():
        async with db.session() as s:
            await change(s, province)
        await _assert_same(db, province, scopes=("LD", "BL", "S1"), years=(YEAR,))
    await _assert_same(db, province)


async def test_many_stale_units_are_recomputed_by_scope(
    db: Database, province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a number of stale units the refresh selects the scope's units by path rather than
    by id (a province's first report): the same figures."""
    monkeypatch.setattr(q, "_BY_ID_LIMIT", 1)
    async with db.session() as s:
        await _new_answers_everywhere(s, province)
        await _group_moved(s, province)
    refreshed = await _refreshed(db, province, "BL")
    # BL's subtree (BL S3 S4 E1, and T1 now under S3) and the province above it
    assert refreshed.computed == 6
    await _assert_same(db, province)
