"""Urgent cases reach someone: the CĐCS's officers at once, the district union's when the school
has nobody to write to or when nobody opened the case in time; /cases shows urgent first."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlmodel import col

from bot.services.alerts import escalation_pass
from storage.models import Case, Delivery, DeliveryKind
from tests.fakebotapi import FakeBotAPI, FakeUser
from tests.flow import RunningBot, eventually, link
from tests.test_flow_officer import answer_typed, open_form, submit

SCHOOL = "CĐCS Trường THPT Bùi Thị Xuân"
FOUR_HOURS = dt.timedelta(hours=4)  # URGENT_ESCALATE_AFTER's default


async def report_colleague(api: FakeBotAPI, user: FakeUser, *, urgent: bool) -> None:
    await open_form(api, user, "Báo cáo hoàn cảnh khó khăn")
    await user.click(user.last_message(), "Của một đồng nghiệp")
    await api.wait_idle()
    await answer_typed(api, user, "Ngô Văn Lâm", "0357 690 218")
    await user.click(user.last_message(), "Ốm đau, bệnh hiểm nghèo")
    await api.wait_idle()
    await answer_typed(api, user, "Nhập viện cấp cứu", "có" if urgent else "không")
    await submit(api, user)


async def cases(bot: RunningBot) -> list[Case]:
    async with bot.db.session() as session:
        return list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())


async def escalate(bot: RunningBot, now: dt.datetime) -> int:
    async with bot.db.session(write=True) as session:
        done = await escalation_pass(
            session, now=now, escalate_after=FOUR_HOURS, tz=bot.settings.tz
        )
    assert bot.app is not None
    bot.app.worker.notify()
    return done


def alerts_of(user: FakeUser) -> list[str]:
    """The alerts the user received (not the /cases cards, marked "🚨 KHẨN CẤP")."""
    return [t for t in user.texts() if t.startswith("🚨") and not t.startswith("🚨 KHẨN CẤP")]


async def test_urgent_cases_alert_the_school_then_the_district(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    hung = api.user(id=7101, first_name="Hùng", last_name="Trần Văn", phone="0903118274")
    await link(api, hung)  # officer of the Đà Lạt district union
    bao = api.user(id=8004, first_name="Bảo", phone="0868304771")  # a teacher at the school
    await link(api, bao)

    # Nobody of the school's union is on the bot yet: the district union hears of it at once.
    await report_colleague(api, bao, urgent=True)
    await eventually(lambda: len(alerts_of(hung)) == 1)
    (first,) = alerts_of(hung)
    (case1,) = await cases(bot)
    assert case1.urgent and case1.escalated_at is not None
    assert f"Hoàn cảnh khó khăn cần hỗ trợ khẩn cấp #{case1.id}" in first
    # The alert names nobody (need to know: the details are in /cases, where viewing is audited).
    assert f"Tại Tổ công đoàn Ngữ văn, {SCHOOL}, báo lúc" in first
    assert "Ngô Văn Lâm" not in first and "Nhập viện cấp cứu" not in first
    assert f"{SCHOOL} chưa có cán bộ công đoàn nào nhận được tin qua bot" in first
    # Already sent up: the escalation pass does not send it a second time.
    assert await escalate(bot, case1.created_at + FOUR_HOURS + dt.timedelta(minutes=1)) == 0

    # The chair links; the next urgent report goes to her, not to the district.
    mai_anh = api.user(id=7001, first_name="Mai Anh", last_name="Lê Thị", phone="0918402367")
    await link(api, mai_anh)
    await report_colleague(api, bao, urgent=True)
    await eventually(lambda: len(alerts_of(mai_anh)) == 1)
    case2 = (await cases(bot))[1]
    assert case2.urgent and case2.escalated_at is None and case2.opened_at is None
    (alert,) = alerts_of(mai_anh)
    assert f"#{case2.id}" in alert and "nhận được tin qua bot" not in alert
    assert "Gõ /cases để xem và cập nhật. Nếu sau 4 giờ chưa có cán bộ nào mở" in alert
    # A report that is not urgent alerts nobody.
    await report_colleague(api, bao, urgent=False)
    await api.wait_idle()
    assert len(alerts_of(mai_anh)) == 1 and len(alerts_of(hung)) == 1

    # Nobody opened case 2: not before four hours, then once, to the district union.
    assert await escalate(bot, case2.created_at + FOUR_HOURS - dt.timedelta(minutes=1)) == 0
    assert await escalate(bot, case2.created_at + FOUR_HOURS + dt.timedelta(minutes=1)) == 1
    await eventually(lambda: len(alerts_of(hung)) == 2)
    escalated = alerts_of(hung)[-1]
    assert f"Hoàn cảnh khó khăn khẩn cấp #{case2.id} chưa có ai xử lý" in escalated
    assert f"Sau 4 giờ, chưa có cán bộ nào của {SCHOOL} mở trường hợp này." in escalated
    assert await escalate(bot, case2.created_at + 2 * FOUR_HOURS) == 0

    # /cases: the urgent cases first (newest first among them), then the others.
    before = len(mai_anh.messages())
    await mai_anh.send("/cases")
    await api.wait_idle()
    cards = [m.text for m in mai_anh.messages()[before:]]
    case3 = (await cases(bot))[2]
    order = [int(re.search(r"Trường hợp #(\d+)\n", text).group(1)) for text in cards]  # type: ignore[union-attr]
    assert order == [case2.id, case1.id, case3.id]
    assert cards[0].startswith("🚨 KHẨN CẤP\n") and "KHẨN CẤP" not in cards[2]
    assert "Điện thoại: 0357 690 218" in cards[0]
    assert "Người báo: Đặng Quốc Bảo" in cards[0]

    # Shown to an officer, a case counts as opened: no escalation for a third urgent one seen.
    await report_colleague(api, bao, urgent=True)
    await eventually(lambda: len(alerts_of(mai_anh)) == 2)
    case4 = (await cases(bot))[3]
    await mai_anh.send("/cases")
    await api.wait_idle()
    assert (await cases(bot))[3].opened_at is not None
    assert await escalate(bot, case4.created_at + 2 * FOUR_HOURS) == 0
    assert len(alerts_of(hung)) == 2


async def test_the_case_card_tells_its_history(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = api.user(id=7001, first_name="Mai Anh", last_name="Lê Thị", phone="0918402367")
    await link(api, mai_anh)
    bao = api.user(id=8004, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await report_colleague(api, bao, urgent=False)
    await mai_anh.send("/cases")
    await api.wait_idle()
    card = mai_anh.last_message()
    assert "Diễn biến:" not in card.text  # only the report so far
    await mai_anh.click(card, "🏠 Đã thăm hỏi")
    await api.wait_idle()
    (case,) = await cases(bot)
    local = case.created_at.astimezone(bot.settings.tz)
    assert "Diễn biến:" in card.text
    history = card.text.split("Diễn biến:\n", 1)[1].splitlines()
    assert history[0] == f"• {local:%H:%M %d/%m/%Y}: 🆕 Mới báo cáo — Đặng Quốc Bảo"
    assert history[1].endswith(": 🏠 Đã thăm hỏi — Lê Thị Mai Anh")
    assert len(history) == 2


async def test_a_case_that_is_not_urgent_reaches_the_officer_in_the_batched_news(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    """No alert for it, and no message per report: the scheduler's next tick outside quiet
    hours tells Mai Anh, the school's officer, in one message, once."""
    mai_anh = api.user(id=7001, first_name="Mai Anh", last_name="Lê Thị", phone="0918402367")
    await link(api, mai_anh)
    bao = api.user(id=8004, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await report_colleague(api, bao, urgent=False)
    await report_colleague(api, bao, urgent=False)
    assert not alerts_of(mai_anh)

    assert bot.app is not None
    scheduler = bot.app.scheduler  # as `serve` builds it, from the settings
    tomorrow = dt.datetime.now(bot.settings.tz).date() + dt.timedelta(days=1)
    morning = dt.datetime.combine(tomorrow, dt.time(10), tzinfo=bot.settings.tz)
    scheduler.clock = lambda: morning.astimezone(dt.UTC)
    try:
        stats = await scheduler.tick()
        assert stats is not None and stats.announced == 1
        # Queued for that morning (the worker sends it then; sending is the outbox's own tests').
        async with bot.db.session() as session:
            [news] = (
                await session.execute(
                    select(Delivery).where(col(Delivery.kind) == DeliveryKind.MESSAGE)
                )
            ).scalars()
        assert news.external_id == "7001" and news.available_at == morning
        assert (
            "2 trường hợp mới báo cáo, 2 trường hợp đang chờ thầy/cô xem: gõ /cases." in news.text
        )
        again = await scheduler.tick()
        assert again is not None and again.announced == 0
    finally:
        await scheduler.leadership.release()  # its lock's own connection (PostgreSQL)
