"""Erasure end to end (issue 16): ``/xoadulieu`` confirmed twice, through the fake Bot API and
the fake Zalo API.  Afterwards the person's name, phone (in every usual format) and free text
are in no text column of any table; the indicator figures of the year are unchanged, closed
(from the snapshot) and live (from the facts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlmodel import col

from bot.indicators.catalog import load_catalog
from bot.indicators.compute import StatsReport, compute_stats
from bot.services import years
from storage import audit
from storage.db import Database
from storage.models import (
    AuditAction,
    Case,
    CaseStatus,
    ChatIdentity,
    ClosedYear,
    Consent,
    IndicatorSnapshot,
    Person,
    Unit,
)
from tests.fakebotapi import FakeBotAPI
from tests.fakezalo import FakeZaloAPI
from tests.flow import TZ, RunningBot, RunningBoth, link, link_zalo, running_both, seed_sample
from tests.test_erasure import TUAN_NEEDLES, found_anywhere
from tests.test_flow_officer import answer_typed, open_form, submit
from tests.test_flow_surveys import officer_launches_activity, open_activity

CATALOG = load_catalog()
SUGGESTION = "Nên tổ chức giải cầu lông vào tháng Tư"
OWN_HARDSHIP = "Nhà bị sạt lở sau trận mưa lớn đêm thứ Ba"
ABOUT_TUAN = "Vợ thầy ấy đang điều trị ung thư ở Sài Gòn"


def figures(report: StatsReport) -> list[tuple[Any, ...]]:
    """Every figure of a report, by indicator (and public side)."""
    out: list[tuple[Any, ...]] = []
    for row in report.rows:
        out.append(
            (
                row.code,
                row.numerator,
                row.denominator,
                row.coverage_count,
                row.coverage_total,
                row.withdrawn,
            )
        )
        for side, part in sorted((row.by_public or {}).items()):
            out.append((row.code, side, part.numerator, part.denominator, part.coverage_count))
    return out


async def province_figures(db: Database, year: int, *, tallies: bool) -> list[tuple[Any, ...]]:
    async with db.session(write=True) as session:
        root = (
            await session.execute(select(col(Unit.id)).where(col(Unit.parent_id).is_(None)))
        ).scalar_one()
        assert root is not None
        report = await compute_stats(
            session, scope_unit_id=root, year=year, catalog=CATALOG, tallies=tallies
        )
    return figures(report)


async def test_erasure_in_chat_leaves_no_trace_and_the_figures_unchanged(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    year = dt.datetime.now(TZ).year
    mai_anh = await officer_launches_activity(api)  # chair of CĐCS THPT Bùi Thị Xuân
    tuan = api.user(
        id=9102, first_name="Tuấn", last_name="Phạm", username="tuanpm_dl", phone="+84345271908"
    )
    await link(api, tuan)
    # An answer of his own words, to a survey that feeds A3c.
    await open_activity(api, tuan)
    await answer_typed(api, tuan, "có", "1", "2", SUGGESTION)
    await submit(api, tuan)
    # His own hardship.
    await open_form(api, tuan, "Báo cáo hoàn cảnh khó khăn")
    await tuan.click(tuan.last_message(), "Của bản thân tôi")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "Thiên tai, hỏa hoạn")
    await api.wait_idle()
    await answer_typed(api, tuan, OWN_HARDSHIP, "không")
    await submit(api, tuan)
    # A colleague reports Tuấn's family hardship, naming him with his phone written spaced.
    bao = api.user(id=9104, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await open_form(api, bao, "Báo cáo hoàn cảnh khó khăn")
    await bao.click(bao.last_message(), "Của một đồng nghiệp")
    await api.wait_idle()
    await answer_typed(api, bao, "Phạm Minh Tuấn", "0345 271 908")
    await bao.click(bao.last_message(), "Ốm đau, bệnh hiểm nghèo")
    await api.wait_idle()
    await answer_typed(api, bao, ABOUT_TUAN, "không")
    await submit(api, bao)
    # The chair reads the cases (their cards, with his name, are stored as her replies).
    await mai_anh.send("/cases")
    await api.wait_idle()
    async with bot.db.session(write=True) as session:
        cases = list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())
        assert [c.subject_name for c in cases] == ["Phạm Minh Tuấn", "Phạm Minh Tuấn"]
        # Both supported: erasure closes them, and a closed case still counts as supported.
        await session.execute(update(Case).values(status=CaseStatus.SUPPORTED))
        person_id = cases[0].subject_person_id
        assert person_id is not None and cases[1].subject_person_id == person_id

    needles = [*TUAN_NEEDLES, SUGGESTION, OWN_HARDSHIP, ABOUT_TUAN, "tuanpm_dl"]
    async with bot.db.session() as session:
        before_found = await found_anywhere(session, needles)
    assert {n for _, _, n in before_found} >= {"Phạm Minh Tuấn", SUGGESTION, ABOUT_TUAN}

    live = await province_figures(bot.db, year, tallies=False)
    assert await province_figures(bot.db, year, tallies=True) == live
    # The year is closed (as on the next year's review): its figures frozen.
    async with bot.db.session(write=True) as session:
        closing = await years.close_year(
            session,
            year=year,
            catalog=CATALOG,
            now=dt.datetime(year + 1, 1, 15, 9, 0, tzinfo=TZ),
            tz=TZ,
            actor_id=None,
            via="cli",
        )
        assert closing.outcome is years.CloseOutcome.CLOSED

    await tuan.send("/xoadulieu")
    await api.wait_idle()
    ask = tuan.last_message()
    assert "Yêu cầu xóa dữ liệu cá nhân" in ask.text
    assert ask.button_texts == ["🗑 Tôi muốn xóa", "Thôi, giữ nguyên"]
    await tuan.click(ask, "🗑 Tôi muốn xóa")
    await api.wait_idle()
    confirm = tuan.last_message()
    assert "Việc xóa không thể hoàn tác" in confirm.text
    assert confirm.button_texts == ["🗑 Xóa vĩnh viễn, không hoàn tác", "Thôi, giữ nguyên"]
    final = confirm.data_of("🗑 Xóa vĩnh viễn, không hoàn tác")
    await tuan.click(confirm, "🗑 Xóa vĩnh viễn, không hoàn tác")
    await api.wait_idle()
    assert "Dữ liệu cá nhân của thầy/cô đã được xóa" in tuan.last_message().text

    async with bot.db.session() as session:
        assert await found_anywhere(session, needles) == []
        person = await session.get(Person, person_id)
        assert person is not None
        assert person.full_name == f"(đã xóa #{person_id})"
        assert (person.phone, person.staff_code, person.tags) == (None, None, "")
        assert person.erased_at is not None and person.is_member
        assert (
            await session.execute(
                select(func.count())
                .select_from(ChatIdentity)
                .where(col(ChatIdentity.person_id) == person_id)
            )
        ).scalar_one() == 0
        consents = list(
            (
                await session.execute(select(Consent).where(col(Consent.person_id) == person_id))
            ).scalars()
        )
        assert [(c.decision.value, c.external_id) for c in consents] == [("accepted", "")]
        cases = list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())
        assert [(c.status, c.subject_name, c.description) for c in cases] == [
            (CaseStatus.CLOSED, f"(đã xóa #{person_id})", ""),
            (CaseStatus.CLOSED, f"(đã xóa #{person_id})", ""),
        ]
        trail = await audit.rows(session, person_id=person_id, actions=[AuditAction.ERASED])
        assert len(trail) == 1 and trail[0].via == "chat" and trail[0].actor_id == person_id
        assert trail[0].detail["chats"] == 1 and trail[0].detail["cases_closed"] == 2

    # The same press again (a double tap) finds nothing to erase: the chat is a new one (and
    # what Telegram tells of it is stored again, as for anyone who writes to the bot).
    await tuan.press_raw(final, confirm)
    await api.wait_idle()
    assert "Bot không lưu dữ liệu nào của thầy/cô" in tuan.last_message().text

    # The closed year reads its snapshot: unchanged.
    assert await province_figures(bot.db, year, tallies=True) == live
    # And the facts themselves still give the same figures (the year reopened, for the test).
    async with bot.db.session(write=True) as session:
        await session.execute(delete(IndicatorSnapshot))
        await session.execute(delete(ClosedYear))
    assert await province_figures(bot.db, year, tallies=True) == live
    assert await province_figures(bot.db, year, tallies=False) == live


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as server:
        yield server


@pytest.fixture
async def both(api: FakeBotAPI, zalo: FakeZaloAPI, db: Database) -> AsyncIterator[RunningBoth]:
    await seed_sample(db)
    async with running_both(api, zalo, db) as running:
        yield running


async def test_erasure_on_zalo_by_typed_choices(zalo: FakeZaloAPI, both: RunningBoth) -> None:
    tuan = zalo.user("z-tuan-erase", "Tuấn Phạm")
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details="Phạm Minh Tuấn, 0345 271 908")
    ask = await both.say(tuan, "/xoadulieu")
    assert "Yêu cầu xóa dữ liệu cá nhân" in ask and "1. 🗑 Tôi muốn xóa" in ask
    confirm = await both.say(tuan, "1")
    assert "Việc xóa không thể hoàn tác" in confirm
    done = await both.say(tuan, "1")
    assert "Dữ liệu cá nhân của thầy/cô đã được xóa" in done
    async with both.db.session() as session:
        # (The chat's id stays only where the reply to this very request is addressed.)
        assert await found_anywhere(session, [*TUAN_NEEDLES, "Tuấn Phạm"]) == []
        erased = (
            await session.execute(select(Person).where(col(Person.erased_at).is_not(None)))
        ).scalar_one()
        assert erased.full_name.startswith("(đã xóa #")
    # Writing again is a new chat: asked for consent, as anyone new.
    again = await both.say(tuan, "/start")
    assert "91/2025/QH15" in again
