"""Closing a year: its indicator figures are frozen, and no later change to its facts moves them.

The province is the fixture of ``tests/test_indicators.py`` (figures worked out by hand there);
its 2024 is closed, then facts of 2024 and 2025 change: a late answer, a case's new status, rows
deleted as the retention purge would, a withdrawal of consent.  2024's figures stay as they were
(and say since when), 2025's move.  Runs on SQLite and, when TEST_POSTGRES_URL is set, on
PostgreSQL; the command line on SQLite.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from rich.console import Console
from sqlalchemy import delete, func, select, update
from sqlmodel import col
from typer.testing import CliRunner

from bot.cli import app
from bot.indicators import IndicatorResult, StatsReport, compute_stats, load_catalog
from bot.indicators.compute import tallied_families
from bot.indicators.terminal import render_stats_terminal
from bot.reports.export import SignOff, to_xlsx
from bot.services import years
from bot.texts import render
from handlers.callbacks import YearCloseCb
from storage import audit
from storage import indicators as q
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (
    Answer,
    AuditAction,
    Case,
    CaseKind,
    CaseStatus,
    IndicatorTally,
    Person,
    Response,
    ResponseState,
    Unit,
)
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, link, reply_to
from tests.test_erasure import until_someone_waits
from tests.test_indicators import Province, build_province

CATALOG = load_catalog()
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# 18:30 UTC on 14 January is 01:30 on the 15th in Việt Nam: the day the reports print.
CLOSING = dt.datetime(2026, 1, 14, 18, 30, tzinfo=dt.UTC)
FROZEN_ON = dt.date(2026, 1, 15)


async def _stats(db: Database, p: Province, unit: str, year: int, **kw: bool) -> StatsReport:
    async with db.session() as s:
        return await compute_stats(s, scope_unit_id=p.uid(unit), year=year, catalog=CATALOG, **kw)


async def _close(db: Database, year: int, now: dt.datetime = CLOSING) -> years.Closing:
    async with db.session() as s:
        return await years.close_year(
            s, year=year, catalog=CATALOG, now=now, tz=TZ, actor_id=None, via="cli"
        )


def _row(report: StatsReport, code: str) -> IndicatorResult:
    return next(r for r in report.rows if r.code == code)


def _fig(row: IndicatorResult) -> tuple[int, int, bool | None]:
    return row.numerator, row.denominator, row.met


def _figures(report: StatsReport) -> list[tuple[object, ...]]:
    """Everything a report says, per indicator: the figures, coverage, and per child."""
    return [
        (
            r.code,
            _fig(r),
            r.coverage_count,
            r.coverage_total,
            r.apart,
            r.withdrawn,
            tuple((c.code, c.numerator, c.denominator, c.coverage_count) for c in r.by_child),
        )
        for r in report.rows
    ]


async def _change_the_facts(db: Database, p: Province) -> None:
    """What happens after the review: late answers (s1d to 2024's activity survey, s3c to
    2025's), the hardship cases of S1 of 2024 and 2025 supported, the purge deleting s1c's
    2024 activity answer and S3's 2024 legal case, and s4c (who answered in 2024) withdrawing
    their consent."""
    async with db.session() as s:
        for run, who in (("act_old", "s1d"), ("act", "s3c")):
            run_id = p.runs[run].id
            assert run_id is not None
            response = Response(
                run_id=run_id,
                person_id=p.people[who].id,
                unit_id=p.people[who].unit_id,
                state=ResponseState.COMPLETED,
            )
            s.add(response)
            await s.flush()
            assert response.id is not None
            s.add(Answer(response_id=response.id, question_key="participated", value="true"))
        await s.execute(
            update(Case)
            .where(
                col(Case.unit_id) == p.uid("S1"),
                col(Case.kind) == CaseKind.HARDSHIP,
                col(Case.status) == CaseStatus.REPORTED,
            )
            .values(status=CaseStatus.SUPPORTED)
        )
        gone = select(col(Response.id)).where(
            col(Response.run_id) == p.runs["act_old"].id,
            col(Response.person_id) == p.people["s1c"].id,
        )
        await s.execute(delete(Answer).where(col(Answer.response_id).in_(gone)))
        await s.execute(delete(Response).where(col(Response.id).in_(gone)))
        await s.execute(
            delete(Case).where(
                col(Case.unit_id) == p.uid("S3"),
                col(Case.kind) == CaseKind.LEGAL,
                col(Case.period_year) == 2024,
            )
        )
        await s.execute(
            update(Person)
            .where(col(Person.id) == p.people["s4c"].id)
            .values(consent_withdrawn_at=CLOSING + dt.timedelta(days=30))
        )


async def test_a_closed_year_keeps_its_figures(db: Database) -> None:
    async with db.session() as s:
        p = await build_province(s)
    before = await _stats(db, p, "LD", 2024)
    before_dl = await _stats(db, p, "DL", 2024)
    # 2024, by hand: A3c yes s1c s4c s4f (s4f retired in 2025) = 3 of 3 answering, 3 of 21
    # people (no verdict); A4b s1c's yes; A3b S1's reported case (0 of 1); P4 S3's legal
    # request (0 of 1); A3a s3a's confirmed benefit of 2024 (1 of 18 members).
    assert _fig(_row(before, "A3c")) == (3, 3, None)
    assert _fig(_row(before, "A4b")) == (1, 1, None)
    assert _fig(_row(before, "A3b")) == (0, 1, False)
    assert _fig(_row(before, "P4")) == (0, 1, False)
    assert _fig(_row(before, "A3a")) == (1, 18, None)
    assert before.frozen_on is None
    open_before = await _stats(db, p, "LD", 2025)
    assert _fig(_row(open_before, "A3c")) == (8, 11, False)  # see tests/test_indicators.py
    assert _fig(_row(open_before, "A3b")) == (4, 6, False)

    closing = await _close(db, 2024)
    assert closing.outcome is years.CloseOutcome.CLOSED
    assert closing.closed is not None and closing.closed.closed_on == FROZEN_ON
    # one frozen row per unit (9) and source the catalog reads
    assert closing.rows == 9 * len(q.tally_sources(tallied_families(CATALOG)))
    async with db.session() as s:
        trail = await audit.rows(s, actions=[AuditAction.YEAR_CLOSED])
        tallies = (
            select(func.count()).select_from(IndicatorTally).where(col(IndicatorTally.year) == 2024)
        )
        left = (await s.execute(tallies)).scalar_one()
    assert [(r.via, r.actor_id, r.detail) for r in trail] == [
        ("cli", None, {"year": 2024, "rows": closing.rows})
    ]
    assert left == 0  # the snapshot replaces the closed year's tallies

    await _change_the_facts(db, p)

    after = await _stats(db, p, "LD", 2024)
    assert _figures(after) == _figures(before)
    assert after.frozen_on == FROZEN_ON
    assert _figures(await _stats(db, p, "DL", 2024)) == _figures(before_dl)
    # from the facts, the same: a closed year is read from its snapshot whatever the path
    assert _figures(await _stats(db, p, "LD", 2024, tallies=False)) == _figures(before)
    # Recomputed, 2024 would now say: A3c s1d s4f yes (s1c's answer purged, s4c withdrawn),
    # A3b 1 of 1 supported, P4 no case; the snapshot holds 3/3, 0/1 and 0/1.

    # 2025 is open: s3c's yes counts (9 of 12 = 75%, 12 of 20 answered: met); S1's case
    # supported: 5 of 6.
    open_after = await _stats(db, p, "LD", 2025)
    assert open_after.frozen_on is None
    assert _fig(_row(open_after, "A3c")) == (9, 12, True)
    assert _fig(_row(open_after, "A3b")) == (5, 6, False)

    # The reports say since when the figures are frozen: chat, one indicator, terminal, xlsx.
    note = "(số liệu đã chốt ngày 15/01/2026)"
    assert f"<b>Chỉ tiêu năm 2024 {note}</b>" in render("stats.txt", "vi", report=after)
    a3c = _row(after, "A3c")
    one = render("indicator.txt", "vi", report=after, row=a3c, children=a3c.by_child)
    assert f"Chỉ tiêu năm 2024 {note}" in one
    assert "đã chốt" not in render("stats.txt", "vi", report=open_after)
    console = Console(width=160, record=True, color_system=None)
    console.print(render_stats_terminal(after, "vi"))
    assert note in console.export_text()
    signoff = SignOff(place="Lâm Đồng", signer=("CHỦ TỊCH",), recipients=(), tz=TZ)
    book = to_xlsx(after, "vi", union_name="Công đoàn Giáo dục", made_at=CLOSING, signoff=signoff)
    sheet = load_workbook(io.BytesIO(book)).worksheets[0]
    assert sheet["A6"].value == f"Lập lúc 01:30 15/01/2026 từ dữ liệu của congdoan-bot {note}"


async def test_closing_is_refused_for_an_open_or_closed_year(db: Database) -> None:
    async with db.session() as s:
        await build_province(s)
    # the current year (2026 in Việt Nam), and a later one: their figures still move
    for year in (2026, 2027):
        refused = await _close(db, year)
        assert (refused.outcome, refused.closed, refused.rows) == (
            years.CloseOutcome.NOT_PAST,
            None,
            0,
        )
    # on the last evening of 2025 in UTC it is already 2026 in Việt Nam: 2025 is over
    new_year = dt.datetime(2025, 12, 31, 17, 30, tzinfo=dt.UTC)
    closed = await _close(db, 2025, now=new_year)
    assert closed.outcome is years.CloseOutcome.CLOSED
    assert closed.closed is not None and closed.closed.closed_on == dt.date(2026, 1, 1)
    again = await _close(db, 2025)
    assert again.outcome is years.CloseOutcome.ALREADY_CLOSED
    assert again.closed is not None and again.closed.closed_on == dt.date(2026, 1, 1)
    async with db.session() as s:
        listed = await years.closed_years(s)
        trail = await audit.rows(s, actions=[AuditAction.YEAR_CLOSED])
    assert [(c.year, c.closed_on, c.closed_by) for c in listed] == [
        (2025, dt.date(2026, 1, 1), None)
    ]
    assert len(trail) == 1  # the refusals left no row


async def test_a_unit_moved_after_closing_brings_its_frozen_figures(db: Database) -> None:
    """The snapshot is kept by unit: summed over the tree as it is now.  S3 moves from Bảo
    Lộc to Đà Lạt after 2024 was closed: its 2024 legal request (P4) moves with it, and the
    province's total stays."""
    async with db.session() as s:
        p = await build_province(s)
    await _close(db, 2024)
    async with db.session() as s:
        s3 = await s.get(Unit, p.uid("S3"))
        dl = await s.get(Unit, p.uid("DL"))
        assert s3 is not None and dl is not None
        s3.parent_id = dl.id
        s3.path = f"{dl.path}{s3.id}/"
    p4 = _row(await _stats(db, p, "LD", 2024), "P4")
    assert _fig(p4) == (0, 1, False)
    assert {c.code: (c.numerator, c.denominator) for c in p4.by_child} == {
        "BL": (0, 0),
        "DL": (0, 1),
    }
    assert _fig(_row(await _stats(db, p, "BL", 2024), "P4")) == (0, 0, None)


# --------------------------------------------------------------------------- the command line

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for var in ("BOT_TOKEN", "DATABASE_URL", "BOT_LOCALE", "TZ", "BOT_TZ"):
        monkeypatch.delenv(var, raising=False)
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "BOT_TOKEN": "", "TZ": ""}


async def _cli_province(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    try:
        await upgrade(db)
        async with db.session() as s:
            await build_province(s)
    finally:
        await db.dispose()


def test_the_year_commands(tmp_path: Path, cli_env: dict[str, str]) -> None:
    asyncio.run(_cli_province(tmp_path))
    this_year = dt.datetime.now(TZ).year  # the command line closes by the real clock
    result = runner.invoke(app, ["year", "list"], env=cli_env)
    assert (result.exit_code, result.output) == (0, "No year is closed yet.\n")
    # without --yes it asks; "no" closes nothing
    result = runner.invoke(app, ["year", "close", "2024"], env=cli_env, input="n\n")
    assert result.exit_code == 1
    assert "Close 2024? Its indicator figures are frozen" in result.output
    for year in (this_year, this_year + 1):
        result = runner.invoke(app, ["year", "close", str(year), "--yes"], env=cli_env)
        assert result.exit_code == 2
        assert f"cannot close {year}: only a past year can be closed" in result.output
        assert "Traceback" not in result.output
    # refused before asking to confirm what cannot be done
    result = runner.invoke(app, ["year", "close", str(this_year)], env=cli_env, input="y\n")
    assert result.exit_code == 2
    assert "Close " not in result.output and "only a past year" in result.output
    result = runner.invoke(app, ["year", "close", "2024"], env=cli_env, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Year 2024 closed on " in result.output
    assert "Its reports read them from now on." in result.output
    result = runner.invoke(app, ["year", "close", "2024", "--yes"], env=cli_env)
    assert result.exit_code == 2
    assert "2024 is already closed (on " in result.output
    result = runner.invoke(app, ["year", "list"], env=cli_env)
    assert result.exit_code == 0
    assert result.output.startswith("2024: closed at ")
    assert result.output.rstrip().endswith("from the command line")
    # the CLI's reports of 2024 say so too
    result = runner.invoke(app, ["stats", "--year", "2024"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "(số liệu đã chốt ngày " in result.output
    result = runner.invoke(app, ["stats", "--year", "2025"], env=cli_env)
    assert "đã chốt" not in result.output
    text_report = tmp_path / "r.txt"
    result = runner.invoke(
        app,
        ["report", "--year", "2024", "--format", "txt", "--output", str(text_report)],
        env=cli_env,
    )
    assert result.exit_code == 0, result.output
    assert "(số liệu đã chốt ngày " in text_report.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- in chat


async def test_an_admin_closes_a_year_in_chat(api: FakeBotAPI, bot: RunningBot) -> None:
    this_year = dt.datetime.now(TZ).year  # the bot closes by the real clock
    last_year = this_year - 1
    ha = api.user(id=8202, first_name="Hà", phone="0913620145")  # the provincial admin
    await link(api, ha)
    assert f"/dongnam {last_year}, để chốt số liệu" in await reply_to(api, ha, "/dongnam")
    refused = await reply_to(api, ha, f"/dongnam {this_year}")
    assert f"Chỉ chốt được năm đã qua: năm {this_year} chưa kết thúc." in refused

    # asked first; "not yet" leaves the year open
    assert f"Chốt số liệu chỉ tiêu năm {last_year}?" in await reply_to(
        api, ha, f"/dongnam {last_year}"
    )
    await ha.click(None, "✖️ Chưa chốt")
    await api.wait_idle()
    assert f"Đã huỷ: số liệu năm {last_year} chưa được chốt." in ha.last_message().text
    # a member's forged button closes nothing
    tuan = api.user(id=8101, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    await tuan.press_raw(YearCloseCb(year=last_year, ok=True).pack())
    await api.wait_idle()
    async with bot.db.session() as s:
        assert await years.closed_years(s) == []

    await reply_to(api, ha, f"/dongnam {last_year}")
    await ha.click(None, f"🔒 Chốt số liệu năm {last_year}")
    await api.wait_idle()
    today = dt.datetime.now(TZ).date()  # the day it is closed on (read after closing)
    closed = ha.last_message().text
    assert closed.startswith(f"🔒 Đã chốt số liệu chỉ tiêu năm {last_year} ngày ")
    async with bot.db.session() as s:
        listed = await years.closed_years(s)
        trail = await audit.rows(s, actions=[AuditAction.YEAR_CLOSED])
    assert [(c.year, c.closed_by is not None) for c in listed] == [(last_year, True)]
    assert [(r.via, r.actor_id, r.detail["year"]) for r in trail] == [
        ("chat", listed[0].closed_by, last_year)
    ]
    assert listed[0].closed_on in (today, today - dt.timedelta(days=1))  # midnight between
    assert f"ngày {listed[0].closed_on:%d/%m/%Y}." in closed
    # its reports say since when the figures are frozen; a second closing is refused
    stats = await reply_to(api, ha, f"/stats {last_year}")
    assert f"Chỉ tiêu năm {last_year} (số liệu đã chốt ngày {listed[0].closed_on:%d/%m/%Y})" in (
        stats
    )
    await reply_to(api, ha, f"/dongnam {last_year}")
    await ha.click(None, f"🔒 Chốt số liệu năm {last_year}")
    await api.wait_idle()
    assert f"Số liệu năm {last_year} đã được chốt ngày" in ha.last_message().text


async def test_a_year_with_no_data_closes_and_reads_as_before(db: Database) -> None:
    """2019, before anything was recorded: closing freezes zeros (one row per unit and
    source), and its report still says "no data", not a frozen 0 %."""
    async with db.session() as s:
        p = await build_province(s)
    before = await _stats(db, p, "LD", 2019)
    closing = await _close(db, 2019)
    assert closing.outcome is years.CloseOutcome.CLOSED
    assert closing.rows == 9 * len(q.tally_sources(tallied_families(CATALOG)))
    after = await _stats(db, p, "LD", 2019)
    assert after.frozen_on == FROZEN_ON
    assert _figures(after) == _figures(before)
    assert _fig(_row(after, "A3c")) == (0, 0, None)


async def test_two_closings_at_once_close_once(db: Database) -> None:
    """The chat and the command line closing the same year at the same moment: the second
    waits for the first (the year's row, written first), then is refused as already closed,
    with no error and nothing written."""
    async with db.session() as s:
        await build_province(s)

    async def close_alone() -> years.Closing:
        async with db.session(write=True) as s:
            return await years.close_year(
                s, year=2024, catalog=CATALOG, now=CLOSING, tz=TZ, actor_id=None, via="chat"
            )

    async with db.session(write=True) as first:
        closing = await years.close_year(
            first, year=2024, catalog=CATALOG, now=CLOSING, tz=TZ, actor_id=None, via="cli"
        )
        assert closing.outcome is years.CloseOutcome.CLOSED
        second = asyncio.create_task(close_alone())
        await until_someone_waits(db)
    refused = await second
    assert refused.outcome is years.CloseOutcome.ALREADY_CLOSED
    assert refused.closed is not None and refused.closed.closed_on == FROZEN_ON
    async with db.session() as s:
        trail = await audit.rows(s, actions=[AuditAction.YEAR_CLOSED])
    assert [r.via for r in trail] == ["cli"]
