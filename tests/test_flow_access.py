"""The right of access in chat (/dulieu): the summary, the Excel and JSON files with exactly the
member's data, an audit row per export, the file arriving once through 5xx and 429, a chat not
linked, and Zalo (no files: the whole content as text)."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from storage import audit
from storage.db import Database
from storage.models import (
    Answer,
    AuditAction,
    Case,
    Consent,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Person,
    Response,
    ResponseState,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
)
from tests.fakebotapi import FakeBotAPI, FakeUser
from tests.fakezalo import FakeZaloAPI
from tests.flow import (
    TZ,
    RunningBot,
    RunningBoth,
    link,
    link_zalo,
    local_today,
    running_both,
    seed_sample,
)
from tests.test_flow_officer import answer_typed, open_form, submit

BAO_PHONE = "0868304771"
NHUNG_WROTE = "Nhà bị ngập sau mưa lớn, mất hết đồ dùng"
BAO_WROTE = "Bị tai nạn giao thông, đang điều trị"
NOTICE_TO_BAO = "Lịch hội nghị đoàn viên tháng 12"
NOTICE_TO_NHUNG = "Danh sách ban nữ công nhiệm kỳ mới"


async def bao_and_nhung(api: FakeBotAPI, bot: RunningBot) -> FakeUser:
    """Bảo reports his own accident; Nhung reports a hardship of Bảo's (by his phone); a
    notice reached each, Bảo acknowledged his.  Returns Bảo."""
    bao = api.user(id=8004, first_name="Bảo", phone=BAO_PHONE)
    await link(api, bao)
    await open_form(api, bao, "Báo cáo hoàn cảnh khó khăn")
    await bao.click(bao.last_message(), "Của bản thân tôi")
    await api.wait_idle()
    await bao.click(bao.last_message(), "Tai nạn")
    await api.wait_idle()
    await answer_typed(api, bao, BAO_WROTE, "không")
    await submit(api, bao)

    nhung = api.user(id=8003, first_name="Nhung", phone="0387556120")
    await link(api, nhung)
    await open_form(api, nhung, "Báo cáo hoàn cảnh khó khăn")
    await nhung.click(nhung.last_message(), "Của một đồng nghiệp")
    await api.wait_idle()
    await answer_typed(api, nhung, "Đặng Quốc Bảo", "0868 304 771")
    await nhung.click(nhung.last_message(), "Thiên tai, hỏa hoạn")
    await api.wait_idle()
    await answer_typed(api, nhung, NHUNG_WROTE, "không")
    await submit(api, nhung)

    await seed_notices(bot.db)
    return bao


async def seed_notices(db: Database) -> None:
    """One notice to Bảo (acknowledged) and one to Nhung, as the worker leaves them."""
    sent = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 09:00 in Vietnam
    async with db.session() as session:
        people = {
            p.phone: p
            for p in (await session.execute(select(Person))).scalars()
            if p.phone in ("+84868304771", "+84387556120")
        }
        unit = (
            await session.execute(select(Unit).where(col(Unit.code) == "DL-THPT-BTX"))
        ).scalar_one()
        assert unit.id is not None
        for phone, title, acked in (
            ("+84868304771", NOTICE_TO_BAO, sent + dt.timedelta(hours=1)),
            ("+84387556120", NOTICE_TO_NHUNG, None),
        ):
            notice = Notice(
                scope_unit_id=unit.id,
                title=title,
                body=f"<b>{title}</b>",
                status=NoticeStatus.QUEUED,
                period_year=2026,
            )
            session.add(notice)
            await session.flush()
            session.add(
                Delivery(
                    kind=DeliveryKind.NOTICE,
                    notice_id=notice.id,
                    person_id=people[phone].id,
                    text=title,
                    status=DeliveryStatus.SENT,
                    created_at=sent,
                    sent_at=sent,
                    acknowledged_at=acked,
                )
            )


def local(value: dt.datetime) -> str:
    return value.astimezone(TZ).isoformat(timespec="seconds")


async def facts(db: Database) -> dict[str, Any]:
    """The stored times the export shows, read back (their values are the clock's)."""
    async with db.session() as session:
        bao = (
            await session.execute(select(Person).where(col(Person.phone) == "+84868304771"))
        ).scalar_one()
        consent = (
            await session.execute(select(Consent).where(col(Consent.person_id) == bao.id))
        ).scalar_one()
        cases = list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())
        response = (
            await session.execute(select(Response).where(col(Response.person_id) == bao.id))
        ).scalar_one()
    return {"bao": bao, "consent": consent, "cases": cases, "response": response}


OTHERS = (
    "Võ Thị Hồng Nhung",
    "0387 556 120",
    "+84387556120",
    NHUNG_WROTE,
    NOTICE_TO_NHUNG,
    "Phạm Minh Tuấn",
    "Lê Thị Mai Anh",
)


async def test_dulieu_summary_then_excel_and_json_with_exactly_the_members_data(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    bao = await bao_and_nhung(api, bot)
    known = await facts(bot.db)
    own_case, nhungs_case = known["cases"]
    assert nhungs_case.subject_person_id == known["bao"].id  # found by his phone

    await bao.send("/dulieu")
    await api.wait_idle()
    summary = bao.last_message()
    text = summary.text
    for expected in (
        "Dữ liệu cá nhân bot đang lưu về thầy/cô",
        "Họ và tên: Đặng Quốc Bảo",
        "Số điện thoại: 0868 304 771",
        "Đơn vị: Tổ công đoàn Toán – Tin",
        "Đoàn viên: Có · Giới tính: Nam",
        "Tài khoản trò chuyện (1)",
        "Đồng ý (văn bản phiên bản 2026.12-1)",
        "Câu trả lời khảo sát (1)",
        "Báo cáo hoàn cảnh khó khăn (kỳ 2026) — Đã gửi",
        "4 câu trả lời",
        f"#{own_case.id} Hoàn cảnh khó khăn — Tai nạn · Mới báo cáo",
        "Thầy/cô báo cáo về bản thân.",
        f"#{nhungs_case.id} Hoàn cảnh khó khăn — Thiên tai, hỏa hoạn · Mới báo cáo",
        "Một đồng nghiệp đã báo cáo về thầy/cô; chỉ cán bộ CĐCS Trường THPT Bùi Thị Xuân xem",
        "Thông báo đã nhận: 1 thông báo, đã nắm 1",
        f"{NOTICE_TO_BAO} — 09:00 01/12/2026 · đã nắm lúc 10:00 01/12/2026",
    ):
        assert expected in text, (expected, text)
    for other in OTHERS:
        assert other not in text
    assert summary.button_texts == [
        "📊 Tệp Excel (.xlsx)",
        "🧾 Tệp JSON",
        "✏️ Sửa họ tên, số điện thoại, đơn vị",
    ]

    # Excel
    await bao.click(summary, "📊 Tệp Excel (.xlsx)")
    await api.wait_idle()
    workbook = bao.last_message()
    assert workbook.kind == "document" and workbook.file is not None
    assert workbook.file.filename.startswith("du-lieu-ca-nhan-")
    assert workbook.file.filename.endswith(".xlsx")
    assert "Dữ liệu cá nhân của thầy/cô, trích xuất lúc" in workbook.text
    book = load_workbook(io.BytesIO(workbook.file.data))
    assert book.sheetnames == [
        "Hồ sơ",
        "Tài khoản trò chuyện",
        "Đồng ý xử lý dữ liệu",
        "Câu trả lời khảo sát",
        "Khảo sát ẩn danh",
        "Trường hợp, vụ việc",
        "Ưu đãi phúc lợi",
        "Thông báo đã nhận",
        "Yêu cầu sửa dữ liệu",
        "Yêu cầu liên kết",
    ]
    record = {row[0]: row[1] for row in book["Hồ sơ"].iter_rows(min_row=2, values_only=True)}
    assert record["Họ và tên"] == "Đặng Quốc Bảo"
    assert record["Số điện thoại"] == "0868 304 771"
    assert record["Mã cán bộ"] == "BTX-004"
    assert record["Đơn vị"] == "Tổ công đoàn Toán – Tin"
    assert record["Mã đơn vị"] == "BTX-TOAN"
    assert record["Đoàn viên"] == "Có"
    assert record["Giới tính"] == "Nam"
    assert record["Vai trò"] == "Đoàn viên, người lao động"
    assert record["Nhãn"] == "giáo viên mới"
    assert record["Tình trạng công tác"] == "Đang công tác"
    consent_at = known["consent"].decided_at.astimezone(TZ).strftime("%H:%M %d/%m/%Y")
    assert list(book["Đồng ý xử lý dữ liệu"].iter_rows(values_only=True)) == [
        ("Kênh", "Quyết định", "Phiên bản văn bản", "Thời điểm"),
        ("Telegram", "Đồng ý", "2026.12-1", consent_at),
    ]
    answers = list(book["Câu trả lời khảo sát"].iter_rows(values_only=True))
    assert answers[0] == ("Khảo sát", "Kỳ", "Tình trạng", "Gửi lúc", "Câu hỏi", "Câu trả lời")
    assert [row[4:] for row in answers[1:]] == [
        ("Thầy/cô báo cáo hoàn cảnh khó khăn của ai?", "Của bản thân tôi"),
        ("Hoàn cảnh khó khăn thuộc trường hợp nào?", "Tai nạn"),
        ("Xin thầy/cô mô tả ngắn gọn hoàn cảnh và nhu cầu hỗ trợ.", BAO_WROTE),
        ("Trường hợp này có cần được hỗ trợ khẩn cấp không?", "Không"),
    ]
    cases = list(book["Trường hợp, vụ việc"].iter_rows(values_only=True))
    assert cases[0][:9] == (
        "Số",
        "Loại",
        "Thuộc trường hợp",
        "Tình trạng xử lý",
        "Khẩn cấp",
        "Liên quan đến tôi",
        "Người được báo cáo",
        "Nội dung tôi đã viết",
        "Ai xem được chi tiết",
    )
    assert cases[1][:9] == (
        own_case.id,
        "Hoàn cảnh khó khăn",
        "Tai nạn",
        "Mới báo cáo",
        "Không",
        "Tôi báo cáo, về bản thân tôi",
        "Đặng Quốc Bảo",
        BAO_WROTE,
        "CĐCS Trường THPT Bùi Thị Xuân",
    )
    # Nhung's report about him: that it exists and who sees it; not who wrote it nor what.
    assert cases[2][:9] == (
        nhungs_case.id,
        "Hoàn cảnh khó khăn",
        "Thiên tai, hỏa hoạn",
        "Mới báo cáo",
        "Không",
        "Người khác báo cáo về tôi",
        None,
        None,
        "CĐCS Trường THPT Bùi Thị Xuân",
    )
    assert list(book["Thông báo đã nhận"].iter_rows(values_only=True)) == [
        ("Tiêu đề", "Tình trạng xử lý", "Gửi tới tôi lúc", "Đã nắm lúc"),
        (NOTICE_TO_BAO, "Đã gửi", "09:00 01/12/2026", "10:00 01/12/2026"),
    ]
    cells = " ".join(
        str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
    )
    for other in OTHERS:
        assert other not in cells, other

    # JSON
    await bao.click(summary, "🧾 Tệp JSON")
    await api.wait_idle()
    document = bao.last_message()
    assert document.kind == "document" and document.file is not None
    assert document.file.filename.endswith(".json")
    raw = document.file.data
    assert "Đặng Quốc Bảo".encode() in raw  # UTF-8, not \u escapes
    data = json.loads(raw.decode("utf-8"))
    assert data["person"] == {
        "full_name": "Đặng Quốc Bảo",
        "phone": "+84868304771",
        "staff_code": "BTX-004",
        "unit": {"code": "BTX-TOAN", "name": "Tổ công đoàn Toán – Tin"},
        "is_member": True,
        "gender": "male",
        "role": "member",
        "officer_unit": None,
        "tags": ["giáo viên mới"],
        "work_status": "active",
        "left_on": None,
        "consent_withdrawn_at": None,
        "in_roster_since": local(known["bao"].created_at),
    }
    assert data["exported_at"].endswith("+07:00")
    assert data["consents"] == [
        {
            "channel": "telegram",
            "decision": "accepted",
            "text_version": "2026.12-1",
            "at": local(known["consent"].decided_at),
        }
    ]
    assert [c["channel"] for c in data["chats"]] == ["telegram"]
    assert data["chats"][0]["account_id"] == "8004"
    response = known["response"]
    assert data["survey_responses"] == [
        {
            "survey": "Báo cáo hoàn cảnh khó khăn",
            "period": str(local_today().year),  # a standing form counts in its year
            "state": "completed",
            "anonymous_survey": False,
            "started_at": local(response.started_at),
            "completed_at": local(response.completed_at),
            "answers": [
                {
                    "question": "subject",
                    "prompt": "Thầy/cô báo cáo hoàn cảnh khó khăn của ai?",
                    "value": "self",
                    "shown": "Của bản thân tôi",
                },
                {
                    "question": "category",
                    "prompt": "Hoàn cảnh khó khăn thuộc trường hợp nào?",
                    "value": "tai_nan",
                    "shown": "Tai nạn",
                },
                {
                    "question": "description",
                    "prompt": "Xin thầy/cô mô tả ngắn gọn hoàn cảnh và nhu cầu hỗ trợ.",
                    "value": BAO_WROTE,
                    "shown": BAO_WROTE,
                },
                {
                    "question": "urgent",
                    "prompt": "Trường hợp này có cần được hỗ trợ khẩn cấp không?",
                    "value": False,
                    "shown": "Không",
                },
            ],
        }
    ]
    assert data["anonymous_participations"] == []
    assert data["cases"] == [
        {
            "id": own_case.id,
            "kind": "hardship",
            "category": "Tai nạn",
            "status": "reported",
            "urgent": False,
            "you_reported": True,
            "about_you": True,
            "reported_at": local(own_case.created_at),
            "updated_at": local(own_case.updated_at),
            "visible_to": ["CĐCS Trường THPT Bùi Thị Xuân"],
            "subject_name": "Đặng Quốc Bảo",
            "description": BAO_WROTE,
        },
        {
            "id": nhungs_case.id,
            "kind": "hardship",
            "category": "Thiên tai, hỏa hoạn",
            "status": "reported",
            "urgent": False,
            "you_reported": False,
            "about_you": True,
            "reported_at": local(nhungs_case.created_at),
            "updated_at": local(nhungs_case.updated_at),
            "visible_to": ["CĐCS Trường THPT Bùi Thị Xuân"],
        },
    ]
    assert data["notices"] == [
        {
            "title": NOTICE_TO_BAO,
            "status": "sent",
            "queued_at": "2026-12-01T09:00:00+07:00",
            "sent_at": "2026-12-01T09:00:00+07:00",
            "acknowledged_at": "2026-12-01T10:00:00+07:00",
        }
    ]
    assert data["welfare_benefits"] == []
    assert data["correction_requests"] == []
    assert data["link_requests"] == []
    for other in OTHERS:
        assert other not in raw.decode("utf-8"), other

    # One audit row per export: the member as actor and subject, the format only.
    async with bot.db.session() as session:
        rows = await audit.rows(session, actions=[AuditAction.DATA_EXPORTED])
    bao_id = known["bao"].id
    assert [(r.actor_id, r.person_id, r.detail) for r in rows] == [
        (bao_id, bao_id, {"format": "xlsx"}),
        (bao_id, bao_id, {"format": "json"}),
    ]


async def test_the_file_arrives_once_through_a_5xx_and_a_429(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    tuan = api.user(id=8002, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    await tuan.send("/dulieu")
    await api.wait_idle()
    summary = tuan.last_message()
    api.server_error(method="sendDocument")
    api.rate_limit(retry_after=1, method="sendDocument")
    before = len(tuan.messages())
    await tuan.click(summary, "🧾 Tệp JSON")
    await api.wait_idle()
    calls = api.calls_of("sendDocument")
    assert [c.status for c in calls] == [500, 429, 200]
    files = [m for m in tuan.messages()[before:] if m.kind == "document"]
    assert len(files) == 1 and files[0].file is not None
    data = json.loads(files[0].file.data)
    assert data["person"]["full_name"] == "Phạm Minh Tuấn"
    assert data["survey_responses"] == [] and data["cases"] == []
    assert api.unanswered_callbacks() == []


async def test_a_chat_not_linked_is_told_what_little_is_held(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    stranger = api.user(id=8999, first_name="Khách")
    await stranger.send("/start")
    await api.wait_idle()
    await stranger.click(stranger.last_message(), "Không đồng ý")
    await api.wait_idle()
    await stranger.send("/dulieu")
    await api.wait_idle()
    told = stranger.last_message()
    assert "chưa liên kết với danh sách đoàn viên" in told.text
    assert "Telegram, từ" in told.text and "Mã tài khoản 8999" in told.text
    assert "Không đồng ý (văn bản phiên bản 2026.12-1)" in told.text
    assert told.buttons == []
    async with bot.db.session() as session:
        assert await audit.rows(session, actions=[AuditAction.DATA_EXPORTED]) == []


# -- Zalo ----------------------------------------------------------------------------------------


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as server:
        yield server


@pytest.fixture
async def both(
    api: FakeBotAPI, zalo: FakeZaloAPI, sqlite_db: Database
) -> AsyncIterator[RunningBoth]:
    await seed_sample(sqlite_db)
    async with running_both(api, zalo, sqlite_db) as running:
        yield running


async def test_on_zalo_the_whole_content_comes_as_text(
    zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    tuan = zalo.user("z-tuan-01", "Tuấn")
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details="Phạm Minh Tuấn, 0345271908")
    said = await both.say(tuan, "/dulieu")
    assert "Họ và tên: Phạm Minh Tuấn" in said
    assert "Zalo không gửi được tệp" in said
    assert "Toàn bộ dữ liệu cá nhân bot đang lưu về thầy/cô" in said
    assert "Zalo, từ" in said and "Mã tài khoản z-tuan-01" in said
    assert "Đồng ý (văn bản phiên bản 2026.12-zalo-2)" in said
    assert "1. ✏️ Sửa họ tên, số điện thoại, đơn vị" in said
    assert "Excel" not in said.split("Zalo không gửi được tệp")[1]
    assert [c.method for c in zalo.calls_of("sendPhoto")] == []
    async with both.db.session() as session:
        rows = await audit.rows(session, actions=[AuditAction.DATA_EXPORTED])
    assert [r.detail for r in rows] == [{"format": "text"}]
    # The button under it starts a correction ("1").
    chooser = await both.say(tuan, "1")
    assert "Thầy/cô muốn sửa thông tin nào?" in chooser
    assert "1. Họ và tên" in chooser and "3. Đơn vị" in chooser


async def test_on_zalo_a_member_with_many_answers_gets_every_one_in_parts(
    zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    """Thirty hardship reports of 300 characters each (about 10,000 characters in all): the
    whole content comes in several messages, none over Zalo's 2000 characters, in order, and
    every answer is in them whole."""
    tuan = zalo.user("z-tuan-01", "Tuấn")
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details="Phạm Minh Tuấn, 0345271908")
    notes = [f"Ghi chú số {i:02d}: " + "hoàn cảnh gia đình khó khăn, " * 10 for i in range(30)]
    async with both.db.session(write=True) as session:
        tuan_p = (
            await session.execute(select(Person).where(col(Person.phone) == "+84345271908"))
        ).scalar_one()
        definition = (
            await session.execute(
                select(SurveyDefinitionRow).where(col(SurveyDefinitionRow.key) == "hardship_case")
            )
        ).scalar_one()
        assert tuan_p.id is not None and definition.id is not None
        for note in notes:  # one response per run and person: a run each
            run = SurveyRun(definition_id=definition.id, unit_id=tuan_p.unit_id, period_year=2026)
            session.add(run)
            await session.flush()
            response = Response(
                run_id=run.id or 0,
                person_id=tuan_p.id,
                unit_id=tuan_p.unit_id,
                state=ResponseState.COMPLETED,
                completed_at=dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC),
            )
            session.add(response)
            await session.flush()
            session.add(
                Answer(
                    response_id=response.id or 0,
                    question_key="description",
                    value=json.dumps(note.strip(), ensure_ascii=False),
                )
            )
    before = len(zalo.calls_of("sendMessage"))
    said = await both.say(tuan, "/dulieu")
    texts = [str(c.params["text"]) for c in zalo.calls_of("sendMessage")[before:]]
    assert all(len(t) <= 2000 for t in texts)
    whole = said.split("Toàn bộ dữ liệu cá nhân bot đang lưu về thầy/cô", 1)[1]
    # parts of the whole content, beyond the summary (a message of its own before them)
    assert sum("Ghi chú số" in t for t in texts) >= 5
    for note in notes:
        assert note.strip() in whole
    assert [whole.index(n.strip()) for n in notes] == sorted(whole.index(n.strip()) for n in notes)
