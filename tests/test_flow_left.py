"""/left: an officer records that someone of her units retired or moved out (or came back),
after a confirmation; /stats then leaves them out of that year's figures."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel import col

from bot.services.actors import operator_actor
from bot.services.leaving import (
    LeaveCommand,
    LeaveOutcome,
    apply_leave,
    check_leave,
    parse_command,
)
from storage.db import Database
from storage.models import Person, WorkStatus
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, link, local_today, reply_to, seed_sample

TUAN = "+84345271908"  # Phạm Minh Tuấn, Tổ Toán – Tin of CĐCS THPT Bùi Thị Xuân, a member
NHUNG = "+84387556120"  # Võ Thị Hồng Nhung, same tổ, a member
LAN = "+84935274681"  # Bùi Thị Lan, chair of CĐCS THCS Nguyễn Du (another CĐCS of Đà Lạt)


async def status_of(bot: RunningBot, phone: str) -> tuple[WorkStatus, dt.date | None]:
    async with bot.db.session() as session:
        person = (
            await session.execute(select(Person).where(col(Person.phone) == phone))
        ).scalar_one()
        return person.work_status, person.left_on


def test_the_command_words() -> None:
    assert parse_command("0345 271 908 đã nghỉ 30/06/2025") == LeaveCommand(
        "0345 271 908", WorkStatus.RETIRED, "30/06/2025"
    )
    assert parse_command("+84345271908 Đang công tác") == LeaveCommand(
        "+84345271908", WorkStatus.ACTIVE, None
    )
    assert parse_command("0345271908 chuyen di 2025-09-01") == LeaveCommand(
        "0345271908", WorkStatus.MOVED, "2025-09-01"
    )
    for bad in (None, "", "0345271908", "0345271908 30/06/2025", "đã nghỉ", "0345 nghỉ phép"):
        assert parse_command(bad) is None, bad


async def test_the_service_checks_then_writes(sqlite_db: Database) -> None:
    await seed_sample(sqlite_db)
    today = dt.date(2026, 3, 15)
    async with sqlite_db.session() as session:
        actor = await operator_actor(session, phone="0918402367")  # Lê Thị Mai Anh
        assert actor is not None

        async def check(args: str) -> LeaveOutcome:
            return (await check_leave(session, actor=actor, args=args, today=today)).outcome

        checked = await check_leave(session, actor=actor, args="0345271908 đã nghỉ", today=today)
        assert checked.outcome == LeaveOutcome.CONFIRM
        assert checked.person is not None and checked.person.full_name == "Phạm Minh Tuấn"
        assert (checked.status, checked.left_on) == (WorkStatus.RETIRED, today)
        assert (checked.old_status, checked.old_left_on) == (WorkStatus.ACTIVE, None)
        assert await check("0345271908 đang công tác") == LeaveOutcome.UNCHANGED
        assert await check("0345271908 đang công tác 01/01/2026") == LeaveOutcome.ACTIVE_DATE
        assert await check("0345271908 đã nghỉ 31/02/2026") == LeaveOutcome.BAD_DATE
        assert await check("0345271908 đã nghỉ 16/03/2026") == LeaveOutcome.FUTURE
        assert await check("0935274681 đã nghỉ") == LeaveOutcome.FORBIDDEN  # Bùi Thị Lan
        assert await check("0912000999 đã nghỉ") == LeaveOutcome.NO_PERSON
        assert await check("12345 đã nghỉ") == LeaveOutcome.USAGE

        tuan = checked.person.id
        assert tuan is not None

        async def apply(person_id: int, left_on: dt.date) -> LeaveOutcome:
            result = await apply_leave(
                session,
                actor=actor,
                person_id=person_id,
                status=WorkStatus.MOVED,
                left_on=left_on,
                today=today,
            )
            return result.outcome

        assert await apply(tuan, dt.date(2026, 3, 16)) == LeaveOutcome.FUTURE
        assert checked.person.work_status == WorkStatus.ACTIVE
        assert await apply(tuan, today) == LeaveOutcome.CHANGED
        assert (checked.person.work_status, checked.person.left_on) == (WorkStatus.MOVED, today)
        assert await apply(tuan, today) == LeaveOutcome.UNCHANGED  # a second press
        assert await apply(999999, today) == LeaveOutcome.GONE
        lan = (await session.execute(select(Person).where(col(Person.phone) == LAN))).scalar_one()
        assert lan.id is not None
        assert await apply(lan.id, today) == LeaveOutcome.FORBIDDEN
        assert lan.work_status == WorkStatus.ACTIVE


async def test_an_old_eleven_digit_number_finds_the_person(sqlite_db: Database) -> None:
    """Tuấn's number (0345 271 908) was 0164 527 1908 before the 2018 change (0164 → 034): an
    officer who still has the old one in her notes finds him with it, however it is written."""
    await seed_sample(sqlite_db)
    async with sqlite_db.session() as session:
        actor = await operator_actor(session, phone="0918402367")  # Lê Thị Mai Anh
        assert actor is not None
        for typed in ("0164 527 1908", "01645271908", "+84 164 527 1908", "84.164.527.1908"):
            checked = await check_leave(
                session, actor=actor, args=f"{typed} đã nghỉ", today=dt.date(2026, 3, 15)
            )
            assert checked.outcome == LeaveOutcome.CONFIRM, typed
            assert checked.person is not None and checked.person.phone == TUAN


async def test_officer_marks_a_member_retired_and_stats_count_one_fewer(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    mai_anh = api.user(id=9001, first_name="Mai Anh", last_name="Lê Thị", phone="0918402367")
    await link(api, mai_anh)  # chair of CĐCS THPT Bùi Thị Xuân
    today = local_today()
    year = today.year
    # By hand: CĐCS THPT Bùi Thị Xuân and its two tổ hold 6 people, 5 of them members (Ngô
    # Văn Lâm is not); its staff count is 6.  A5 = 5/6 = 83,3%.
    assert "5/6 = 83,3%" in await reply_to(api, mai_anh, "/stats")

    usage = await reply_to(api, mai_anh, "/left")
    assert "Cách dùng: /left SĐT đã nghỉ|chuyển đi|đang công tác" in usage
    assert "Cách dùng" in await reply_to(api, mai_anh, "/left 0345271908 nghỉ phép")

    # Tuấn retired on 1 January: asked first, nothing written yet.
    await mai_anh.send(f"/left 0345 271 908 đã nghỉ 01/01/{year}")
    await api.wait_idle()
    question = mai_anh.last_message()
    assert "Họ tên: Phạm Minh Tuấn" in question.text
    assert "Đơn vị: Tổ công đoàn Toán – Tin" in question.text
    assert "Hiện nay: đang công tác" in question.text
    assert f"Đổi thành: đã nghỉ từ 01/01/{year}" in question.text
    assert question.button_texts == ["✅ Xác nhận", "✖️ Hủy"]
    assert await status_of(bot, TUAN) == (WorkStatus.ACTIVE, None)

    await mai_anh.click(question, "✅ Xác nhận")
    await api.wait_idle()
    assert "✅ Đã cập nhật Phạm Minh Tuấn (Tổ công đoàn Toán – Tin)" in question.text
    assert f"đang công tác → đã nghỉ từ 01/01/{year}" in question.text
    assert question.button_texts == []
    assert await status_of(bot, TUAN) == (WorkStatus.RETIRED, dt.date(year, 1, 1))

    # A5 this year: 4 members (Mai Anh, Nhung, Bảo, Thủy) of the staff count 6 = 66,7%;
    # last year still counts Tuấn: 5/6.
    stats = await reply_to(api, mai_anh, "/stats")
    assert "4/6 = 66,7%" in stats and "5/6 = 83,3%" not in stats
    assert "5/6 = 83,3%" in await reply_to(api, mai_anh, f"/stats {year - 1}")

    # Stating it again without a date keeps the recorded one: nothing to confirm.
    again = await reply_to(api, mai_anh, "/left 0345271908 đã nghỉ")
    assert f"đã được ghi nhận là đã nghỉ từ 01/01/{year}: không có gì thay đổi" in again
    assert mai_anh.last_message().button_texts == []

    # A date to come is refused.
    future = await reply_to(api, mai_anh, f"/left 0868304771 chuyển đi 01/01/{year + 1}")
    assert f"Ngày 01/01/{year + 1} chưa đến" in future

    # Cancelled: Nhung stays active (without a date the question proposes today).
    await mai_anh.send("/left 0387 556 120 chuyển đi")
    await api.wait_idle()
    question = mai_anh.last_message()
    assert f"Đổi thành: chuyển đi từ {today:%d/%m/%Y}" in question.text
    await mai_anh.click(question, "✖️ Hủy")
    await api.wait_idle()
    assert question.text == "Đã hủy, không thay đổi gì."
    assert await status_of(bot, NHUNG) == (WorkStatus.ACTIVE, None)

    # Tuấn comes back: active again, his leaving date cleared, and A5 is 5/6 again.
    await mai_anh.send("/left 0345271908 đang công tác")
    await api.wait_idle()
    question = mai_anh.last_message()
    assert "Người này sẽ lại được tính vào các chỉ tiêu." in question.text
    await mai_anh.click(question, "✅ Xác nhận")
    await api.wait_idle()
    assert f"đã nghỉ từ 01/01/{year} → đang công tác" in question.text
    assert await status_of(bot, TUAN) == (WorkStatus.ACTIVE, None)
    assert "5/6 = 83,3%" in await reply_to(api, mai_anh, "/stats")


async def test_only_the_officer_of_the_unit_or_an_admin(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = api.user(id=9101, first_name="Mai Anh", phone="0918402367")
    await link(api, mai_anh)
    # Bùi Thị Lan is of CĐCS THCS Nguyễn Du, not of Mai Anh's CĐCS.
    refused = await reply_to(api, mai_anh, "/left 0935 274 681 đã nghỉ")
    assert "⛔ Người này không thuộc đơn vị thầy/cô phụ trách." in refused
    assert mai_anh.last_message().button_texts == []
    unknown = await reply_to(api, mai_anh, "/left 0912 000 999 đã nghỉ")
    assert "Không tìm thấy người có số điện thoại này trong danh sách." in unknown

    # The admin may: her confirmation button, forged by Mai Anh, is checked again and refused.
    ha = api.user(id=9102, first_name="Hà", phone="0913620145")
    await link(api, ha)
    last_year = local_today().year - 1
    await ha.send(f"/left 0935274681 chuyển đi 01/02/{last_year}")
    await api.wait_idle()
    question = ha.last_message()
    assert "Họ tên: Bùi Thị Lan" in question.text
    forged = question.data_of("✅ Xác nhận")
    await mai_anh.press_raw(forged)
    await api.wait_idle()
    assert "⛔ Người này không thuộc đơn vị thầy/cô phụ trách." in mai_anh.last_message().text
    assert await status_of(bot, LAN) == (WorkStatus.ACTIVE, None)

    # A member cannot use the command, nor press the button.
    tuan = api.user(id=9103, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    answer = await reply_to(api, tuan, "/left 0935274681 chuyển đi")
    assert "dành cho cán bộ công đoàn" in answer
    before = len(api.calls_of("answerCallbackQuery"))
    await tuan.press_raw(forged)
    await api.wait_idle()
    assert len(api.calls_of("answerCallbackQuery")) == before + 1
    assert await status_of(bot, LAN) == (WorkStatus.ACTIVE, None)

    await ha.click(question, "✅ Xác nhận")
    await api.wait_idle()
    assert "✅ Đã cập nhật Bùi Thị Lan" in question.text
    assert await status_of(bot, LAN) == (WorkStatus.MOVED, dt.date(last_year, 2, 1))
