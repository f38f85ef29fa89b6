"""Withdrawn consent: a person's answers to surveys that are not anonymous stop feeding the
indicators of every year not closed, and the coverage says how many people that leaves out.

The province is the fixture of ``tests/test_indicators.py`` (every figure there is worked out
by hand), with one more anonymous answer; the figures below are worked out from it by hand.
Runs on SQLite and, when TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json

from rich.console import Console
from sqlalchemy import update
from sqlmodel import col

from bot.indicators import IndicatorResult, StatsReport, compute_stats, load_catalog
from bot.indicators.terminal import render_stats_terminal
from bot.reports.export import lines
from bot.texts import render
from storage.db import Database
from storage.models import Answer, Participation, Person, Response, ResponseState
from tests.test_indicators import Province, build_province

CATALOG = load_catalog()
YEAR = 2025
WITHDRAWN_AT = dt.datetime(2026, 2, 3, 8, 0, tzinfo=dt.UTC)


async def _province(db: Database) -> Province:
    """The fixture, and an anonymous "yes" to the second activity survey in S1, with the
    participation row that says s1a took part (the link to the answers cut, as the bot does
    for an anonymous survey)."""
    async with db.session() as s:
        p = await build_province(s)
        run_id = p.runs["act_dl"].id
        s1a = p.people["s1a"].id
        assert run_id is not None and s1a is not None
        anonymous = Response(
            run_id=run_id, person_id=None, unit_id=p.uid("S1"), state=ResponseState.COMPLETED
        )
        s.add(anonymous)
        await s.flush()
        assert anonymous.id is not None
        s.add(Answer(response_id=anonymous.id, question_key="participated", value=json.dumps(True)))
        s.add(Participation(run_id=run_id, person_id=s1a))
        return p


async def _stats(db: Database, p: Province, unit: str, *, tallies: bool = True) -> StatsReport:
    async with db.session() as s:
        return await compute_stats(
            s, scope_unit_id=p.uid(unit), year=YEAR, catalog=CATALOG, tallies=tallies
        )


async def _withdraw(db: Database, p: Province, *names: str) -> None:
    """As the withdrawal does: the person's mark (the indicator trigger on ``people`` logs
    the change of their units; nothing else is done here)."""
    ids = [p.people[name].id for name in names]
    async with db.session() as s:
        await s.execute(
            update(Person).where(col(Person.id).in_(ids)).values(consent_withdrawn_at=WITHDRAWN_AT)
        )


def _row(report: StatsReport, code: str) -> IndicatorResult:
    return next(r for r in report.rows if r.code == code)


def _fig(row: IndicatorResult) -> tuple[int, int, bool | None]:
    return row.numerator, row.denominator, row.met


def _children(row: IndicatorResult) -> dict[str, tuple[int, int, bool | None]]:
    return {
        (f"{c.code}*" if c.direct else c.code): (c.numerator, c.denominator, c.met)
        for c in row.by_child
    }


async def test_withdrawn_answers_leave_the_figures(db: Database) -> None:
    p = await _province(db)
    before = await _stats(db, p, "LD")  # the tallies of the year computed
    # A3c (everyone in scope): the fixture's yes s1a s1e s1f s2a s2b s2c s4a anon(S4) = 8,
    # + the new anonymous yes in S1 = 9; answered: those + s1b s2d anon(S3) = 12; 9/12 = 75%
    # = the target, 12 of 20 answered (60%): met.
    a3c = _row(before, "A3c")
    assert (_fig(a3c), a3c.coverage_count, a3c.withdrawn) == ((9, 12, True), 12, 0)
    # A4b (training): yes s4d s1a s1f anon(S2) = 4 of 6 answering (s2d s3c said no).
    assert (_fig(_row(before, "A4b")), _row(before, "A4b").withdrawn) == ((4, 6, None), 0)

    # s1a (a member of S1: two activity answers, yes; training yes; a welfare sign-up and a
    # confirmed benefit; S1's unit report) and s2d (S2, not a member: activity no, training
    # no) withdraw their consent.
    await _withdraw(db, p, "s1a", "s2d")
    after = await _stats(db, p, "LD")

    # A3c: s1a's yes and s2d's no drop out: yes 9 − 1 = 8, answered 12 − 2 = 10: 80%, 10 of
    # 20 answered (50%): met.  The three anonymous answers stay (one of them is s1a's: an
    # anonymous answer is no longer anybody's).  2 people's answers are left out.
    a3c = _row(after, "A3c")
    assert (_fig(a3c), a3c.coverage_count, a3c.coverage_total) == ((8, 10, True), 10, 20)
    assert a3c.withdrawn == 2
    # by district: DL answered s1a s1b s1e s1f s2a s2b s2c s2d anon(S1) = 9, yes 7; now 7
    # answered, 6 yes (s1e s1f s2a s2b s2c anon): 85.7%, 7 of 10; BL as before.
    assert _children(a3c) == {"BL": (2, 3, None), "DL": (6, 7, True), "LD*": (0, 0, None)}
    # A4b: s1a's yes and s2d's no out: yes s4d s1f anon(S2) = 3 of s4d s1f anon s3c = 4
    # (4 of 20 answered: no verdict).
    a4b = _row(after, "A4b")
    assert (_fig(a4b), a4b.coverage_count, a4b.withdrawn) == ((3, 4, None), 4, 2)
    # A3a: s1a's sign-up is left out, but their confirmed benefit is the union's record of
    # the support it gave: confirmed s1a s2a s4a = 3 of 17 members and signed up (a sign-up
    # or a benefit) s1a s1b s1c s2a s4a s4b = 6, as before; 1 member's sign-up left out (s2d
    # is no member and signed up for nothing).
    a3a = _row(after, "A3a")
    assert (_fig(a3a), a3a.coverage_count, a3a.withdrawn) == ((3, 17, None), 6, 1)
    # Unit reports (S1's, answered by s1a for the CĐCS), cases and the roster keep counting.
    for code in ("A2a", "A3b", "A5", "P4", "P5"):
        assert _fig(_row(after, code)) == _fig(_row(before, code)), code
        assert _row(after, code).withdrawn == 0
    # The same figures from the facts (no tallies).
    facts = await _stats(db, p, "LD", tallies=False)
    assert [(_fig(r), r.coverage_count, r.withdrawn) for r in facts.rows] == [
        (_fig(r), r.coverage_count, r.withdrawn) for r in after.rows
    ]

    # Each scope counts those in it: both answered in Đà Lạt (S1, S2); Bảo Lộc none; S2 one.
    dl, bl, s2 = [await _stats(db, p, unit) for unit in ("DL", "BL", "S2")]
    assert (_row(dl, "A3c").withdrawn, _row(bl, "A3c").withdrawn) == (2, 0)
    assert (_row(s2, "A3c").withdrawn, _row(s2, "A3a").withdrawn) == (1, 0)

    # The coverage says so: in chat, in the terminal and in the exports' notes.
    text = render("stats.txt", "vi", report=after)
    assert text.count("Không tính câu trả lời của 2 người đã rút lại đồng ý") == 2  # A3c, A4b
    assert text.count("Không tính câu trả lời của 1 người đã rút lại đồng ý") == 1  # A3a
    assert "đã rút lại đồng ý" not in render("stats.txt", "vi", report=bl)
    one = render("indicator.txt", "vi", report=after, row=a3c, children=a3c.by_child)
    assert "<i>Không tính câu trả lời của 2 người đã rút lại đồng ý</i>" in one
    summary = [line for line in lines(after, "vi")["summary"] if line.code == "A3c"]
    assert "Không tính câu trả lời của 2 người đã rút lại đồng ý" in summary[0].notes
    console = Console(width=120, record=True, color_system=None)
    console.print(render_stats_terminal(after, "vi"))
    assert "Không tính câu trả lời của 2 người đã rút lại đồng ý" in console.export_text()


async def test_a_withdrawal_reaches_the_tallies_through_the_trigger(db: Database) -> None:
    """The tallies of the year are fresh before the withdrawal; the change of
    ``consent_withdrawn_at`` alone (the trigger on ``people``) makes the next report recount
    the person's units: their one answer leaves A3c by exactly one."""
    p = await _province(db)
    before = _row(await _stats(db, p, "S4"), "A3c")
    # S4: s4a yes, s4b completed without the question, anon yes: answered 2, yes 2
    # (s4f retired in March: out of 2025).
    assert (_fig(before), before.withdrawn) == ((2, 2, None), 0)
    await _withdraw(db, p, "s4a")
    after = _row(await _stats(db, p, "S4"), "A3c")
    # s4a out: the anonymous yes alone; s4b had completed without the question (counted in
    # no figure, but their answers would be left out too if they withdrew)
    assert (_fig(after), after.withdrawn) == ((1, 1, None), 1)
    await _withdraw(db, p, "s4b")
    last = _row(await _stats(db, p, "S4"), "A3c")
    assert (_fig(last), last.withdrawn) == ((1, 1, None), 2)
