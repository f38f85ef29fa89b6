"""Need to know for sensitive cases, through the real app and the fake Bot API: every command
and button that can show or change a case, pressed by five people of the sample province (see
tests/test_case_access.py for the service-level matrix and who they are): who reads the case's
subject and text, who only counts, and the audit row each view of the details leaves.

The commands: /cases, the case buttons (every status), the urgent alert and the escalation
alert; and, for what they must not leak, /stats, /indicator, /report (the workbook's cells),
/pending and /welfare.
"""

from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from storage import audit
from storage.models import AuditAction, Case, CaseStatus, Person
from surveys.phone import normalize_phone
from tests.fakebotapi import FakeBotAPI, FakeUser
from tests.flow import RunningBot, eventually, link, reply_to
from tests.test_flow_urgent import FOUR_HOURS, alerts_of, escalate, report_colleague

SUBJECT = "Ngô Văn Lâm"  # the colleague report_colleague names
STORY = "Nhập viện cấp cứu"  # and what it says of him
FORBIDDEN = "⛔ Chỉ cán bộ của CĐCS có trường hợp này"
COUNTS = "📊 Trường hợp đang mở trong phạm vi của thầy/cô: 1"  # as read (HTML parsed)
SCHOOL = "CĐCS Trường THPT Bùi Thị Xuân"


async def person_id(bot: RunningBot, phone: str) -> int:
    async with bot.db.session() as session:
        found = (
            await session.execute(
                select(col(Person.id)).where(col(Person.phone) == normalize_phone(phone))
            )
        ).scalar_one()
    assert found is not None
    return found


async def viewed(bot: RunningBot) -> list[tuple[int | None, int | None]]:
    """The audit trail's case views so far: (who, which case), in order."""
    async with bot.db.session() as session:
        found = await audit.rows(session, actions=[AuditAction.CASE_VIEWED])
    return [(r.actor_id, r.case_id) for r in found]


async def status_changes(bot: RunningBot) -> list[tuple[int | None, int | None, object]]:
    async with bot.db.session() as session:
        found = await audit.rows(session, actions=[AuditAction.CASE_STATUS])
    return [(r.actor_id, r.case_id, r.detail) for r in found]


async def the_cases(bot: RunningBot) -> list[Case]:
    async with bot.db.session() as session:
        return list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())


def leaks(text: str) -> bool:
    return SUBJECT in text or STORY in text


async def test_who_sees_a_case_in_chat_and_what_it_leaves_in_the_audit_trail(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    tuan = api.user(id=9101, first_name="Tuấn", phone="0345271908")  # member, Bùi Thị Xuân
    mai_anh = api.user(id=9102, first_name="Mai Anh", phone="0918402367")  # its CĐCS's chair
    lan = api.user(id=9103, first_name="Lan", phone="0935274681")  # chair of Nguyễn Du
    hung = api.user(id=9104, first_name="Hùng", phone="0903118274")  # Đà Lạt district union
    ha = api.user(id=9105, first_name="Hà", phone="0913620145")  # provincial admin
    everyone: dict[str, FakeUser] = {
        "member": tuan,
        "cdcs": mai_anh,
        "other_cdcs": lan,
        "district": hung,
        "admin": ha,
    }
    for user in everyone.values():
        await link(api, user)
    ids = {who: await person_id(bot, user.phone or "") for who, user in everyone.items()}

    # The member reports a colleague's hardship, not urgent: case A.
    await report_colleague(api, tuan, urgent=False)
    (a,) = await the_cases(bot)
    assert a.id is not None

    # /cases, by each of the five.
    seen = {who: await reply_to(api, user, "/cases") for who, user in everyone.items()}
    assert "dành cho cán bộ công đoàn" in seen["member"] and not leaks(seen["member"])
    assert SUBJECT in seen["cdcs"] and f"Nội dung: {STORY}" in seen["cdcs"]
    assert "Người báo: Phạm Minh Tuấn" in seen["cdcs"]
    card = mai_anh.last_message()
    assert card.button_texts == ["🏠 Đã thăm hỏi", "🤝 Đã hỗ trợ", "↩️ Rút, không tính"]
    assert "Không có trường hợp khó khăn" in seen["other_cdcs"]  # not in her scope at all
    assert not leaks(seen["other_cdcs"])
    for who in ("district", "admin"):
        text = seen[who]
        assert not leaks(text) and "Người báo" not in text and "Điện thoại" not in text, who
        assert COUNTS in text, text
        assert f"• {SCHOOL}: 1 đang mở — 🆕 Mới báo cáo: 1" in text
        assert everyone[who].last_message().button_texts == []  # nothing to press
    # One view, Mai Anh's; the counts left nothing.
    assert await viewed(bot) == [(ids["cdcs"], a.id)]

    # Every status button of case A, forged by whoever has no card of it: refused, untouched.
    for who in ("member", "other_cdcs", "district", "admin"):
        user = everyone[who]
        for status in CaseStatus:
            await user.press_raw(f"hc:{a.id}:{status.value}")
            await api.wait_idle()
            if who != "member":  # a member's press is answered by the router's filter
                assert FORBIDDEN in user.last_callback_answer()["text"], (who, status)
            assert not leaks(user.last_message().text)
    (a,) = await the_cases(bot)
    assert a.status == CaseStatus.REPORTED
    assert await viewed(bot) == [(ids["cdcs"], a.id)] and await status_changes(bot) == []

    # The chair's own buttons: each change edits her card (a view) and is recorded.
    for button in ("🏠 Đã thăm hỏi", "🤝 Đã hỗ trợ", "📁 Đóng hồ sơ"):
        await mai_anh.click(card, button)
        await api.wait_idle()
        assert SUBJECT in card.text and f"Tình trạng: {button}" in card.text
    assert await viewed(bot) == [(ids["cdcs"], a.id)] * 4
    # every row names the case's subject, so that `congdoan audit --person` finds them
    async with bot.db.session() as session:
        named = await audit.rows(session, person_id=a.subject_person_id)
    assert a.subject_person_id is not None
    assert [r.action for r in named if r.case_id == a.id] == [
        AuditAction.CASE_VIEWED,
        *[AuditAction.CASE_STATUS, AuditAction.CASE_VIEWED] * 3,
    ]
    assert await status_changes(bot) == [
        (ids["cdcs"], a.id, {"from": "reported", "to": "visited"}),
        (ids["cdcs"], a.id, {"from": "visited", "to": "supported"}),
        (ids["cdcs"], a.id, {"from": "supported", "to": "closed"}),
    ]

    # Nothing else an officer can ask shows a case's subject or text, nor records a view.
    for who, user in everyone.items():
        for command in ("/stats", "/indicator A3b", "/pending", "/welfare", "/report"):
            answer = await reply_to(api, user, command)
            assert not leaks(answer), (who, command)
        if who != "member":
            workbook = next(m for m in reversed(user.messages()) if m.kind == "document")
            assert workbook.file is not None
            book = load_workbook(io.BytesIO(workbook.file.data))
            cells = " ".join(
                str(value)
                for sheet in book.worksheets
                for row in sheet.iter_rows(values_only=True)
                for value in row
                if value is not None
            )
            assert "A3b" in cells and not leaks(cells), who
    assert len(await viewed(bot)) == 4

    # An urgent report, case B: Mai Anh is alerted; nobody opens it; Đà Lạt is alerted later.
    await report_colleague(api, tuan, urgent=True)
    await eventually(lambda: len(alerts_of(mai_anh)) == 1)
    b = (await the_cases(bot))[1]
    assert b.id is not None
    (alert,) = alerts_of(mai_anh)
    assert f"#{b.id}" in alert and not leaks(alert)  # the alert names nobody
    assert await escalate(bot, b.created_at + FOUR_HOURS + dt.timedelta(minutes=1)) == 1
    await eventually(lambda: len(alerts_of(hung)) == 1)
    (up,) = alerts_of(hung)
    assert f"#{b.id} chưa có ai xử lý" in up and not leaks(up)
    assert len(await viewed(bot)) == 4  # an alert is not a view of the details

    # Passed up to Đà Lạt: Hùng now reads B; the province still counts; Lan sees nothing.
    seen = {who: await reply_to(api, everyone[who], "/cases") for who in ("district", "admin")}
    assert SUBJECT in seen["district"] and f"Nội dung: {STORY}" in seen["district"]
    assert "📊" not in seen["district"]  # nothing else open in Đà Lạt
    assert not leaks(seen["admin"]) and COUNTS in seen["admin"]
    assert "Trong đó 🚨 1 trường hợp khẩn cấp." in seen["admin"]
    assert not leaks(await reply_to(api, lan, "/cases"))
    assert (await viewed(bot))[4:] == [(ids["district"], b.id)]
    # He may act on it; the admin may not.
    await hung.click(hung.last_message(), "🏠 Đã thăm hỏi")
    await api.wait_idle()
    await ha.press_raw(f"hc:{b.id}:supported")
    await api.wait_idle()
    assert FORBIDDEN in ha.last_callback_answer()["text"]
    assert (await the_cases(bot))[1].status == CaseStatus.VISITED
    assert (await viewed(bot))[4:] == [(ids["district"], b.id)] * 2
    assert (await status_changes(bot))[3:] == [
        (ids["district"], b.id, {"from": "reported", "to": "visited"})
    ]
