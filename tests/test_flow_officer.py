"""Officers and admins in chat: hardship follow-up, welfare confirmation, /stats figures worked
out by hand, the link queue, and who may do what."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from storage.models import (
    BenefitStatus,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    PendingLink,
    Person,
    Response,
    RunStatus,
    SurveyRun,
    Unit,
    WelfareBenefit,
)
from tests.fakebotapi import FakeBotAPI, FakeUser
from tests.flow import RunningBot, eventually, link, reply_to
from tests.test_flow_surveys import officer_launches_activity, open_activity


async def answer_typed(api: FakeBotAPI, user: FakeUser, *lines: str) -> None:
    for line in lines:
        await user.send(line)
        await api.wait_idle()


async def submit(api: FakeBotAPI, user: FakeUser) -> None:
    assert "kiểm tra lại" in user.last_message().text, user.last_message().text
    await user.click(user.last_message(), "📨 Gửi câu trả lời")
    await api.wait_idle()
    assert "Đã ghi nhận" in user.last_message().text


async def open_form(api: FakeBotAPI, user: FakeUser, title: str) -> None:
    await user.send("/surveys")
    await api.wait_idle()
    await user.click(user.last_message(), f"📝 {title}")
    await api.wait_idle()


async def test_stats_of_a_school_from_answers_cases_and_benefits(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    mai_anh = await officer_launches_activity(api)  # chair of CĐCS THPT Bùi Thị Xuân

    tuan = api.user(id=8002, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    await open_activity(api, tuan)
    await answer_typed(api, tuan, "có", "1", "2", "bỏ qua")
    await submit(api, tuan)

    nhung = api.user(id=8003, first_name="Nhung", phone="0387556120")
    await link(api, nhung)
    await open_activity(api, nhung)
    await answer_typed(api, nhung, "không", "1", "bỏ qua")
    await submit(api, nhung)

    bao = api.user(id=8004, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await open_form(api, bao, "Báo cáo hoàn cảnh khó khăn")
    await bao.click(bao.last_message(), "Của bản thân tôi")
    await api.wait_idle()
    await bao.click(bao.last_message(), "Tai nạn")
    await api.wait_idle()
    await answer_typed(api, bao, "Bị tai nạn giao thông, đang điều trị", "không")
    await submit(api, bao)
    # Bảo also reports a colleague who is not a member (Ngô Văn Lâm, on a contract): the case
    # is handled like any other, and shown apart from A3b, which counts members' cases.
    await open_form(api, bao, "Báo cáo hoàn cảnh khó khăn")
    await bao.click(bao.last_message(), "Của một đồng nghiệp")
    await api.wait_idle()
    await answer_typed(api, bao, "Ngô Văn Lâm", "0357 690 218")
    await bao.click(bao.last_message(), "Ốm đau, bệnh hiểm nghèo")
    await api.wait_idle()
    await answer_typed(api, bao, "Đang điều trị dài ngày", "không")
    await submit(api, bao)

    thuy = api.user(id=8005, first_name="Thủy", phone="0977812435")
    await link(api, thuy)
    await open_form(api, thuy, "Đăng ký hưởng ưu đãi từ đối tác của công đoàn")
    await thuy.click(thuy.last_message(), "Tour du lịch, nghỉ dưỡng giá ưu đãi")
    await api.wait_idle()
    await answer_typed(api, thuy, "bỏ qua")
    await submit(api, thuy)

    # The chair follows up the case and confirms the benefit.
    await mai_anh.send("/cases")
    await api.wait_idle()
    case_message = mai_anh.last_message()  # newest first: the last card is Bảo's own
    assert "Đặng Quốc Bảo" in case_message.text
    assert "Ngô Văn Lâm" in mai_anh.messages()[-2].text
    supported = case_message.data_of("🤝 Đã hỗ trợ")
    await mai_anh.click(case_message, "🤝 Đã hỗ trợ")
    await api.wait_idle()
    assert "Loại: Tai nạn" in case_message.text
    await mai_anh.press_raw(supported, case_message)  # a double press changes nothing more
    await api.wait_idle()
    await mai_anh.send("/welfare")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "✅ Đã nhận ưu đãi")
    await api.wait_idle()

    async with bot.db.session() as session:
        rows = list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())
        assert [(c.subject_name, c.subject_member) for c in rows] == [
            ("Đặng Quốc Bảo", True),
            ("Ngô Văn Lâm", False),
        ]
        case = rows[0]
        assert case.status == CaseStatus.SUPPORTED
        # the card tells when it was reported in Vietnam's time, not the stored UTC
        local = case.created_at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
        assert f"(báo lúc {local:%H:%M %d/%m/%Y})" in case_message.text
        # each report was a run of its own, closed once submitted: the runs open for the
        # school (what /surveys reads) do not grow with every report filed
        runs = (
            await session.execute(
                select(col(SurveyRun.status))
                .join(Response, col(Response.run_id) == col(SurveyRun.id))
                .where(col(Response.id).in_([c.response_id for c in rows]))
            )
        ).scalars()
        assert list(runs) == [RunStatus.CLOSED, RunStatus.CLOSED]
        events = list(
            (
                await session.execute(select(CaseEvent).where(col(CaseEvent.case_id) == case.id))
            ).scalars()
        )
        assert [e.to_status for e in events] == [CaseStatus.REPORTED, CaseStatus.SUPPORTED]
        benefit = (await session.execute(select(WelfareBenefit))).scalar_one()
        assert benefit.status == BenefitStatus.CONFIRMED

    stats = await reply_to(api, mai_anh, "/stats")
    # By hand, CĐCS THPT Bùi Thị Xuân and its two tổ: 6 people in the roster (5 members,
    # Ngô Văn Lâm is not), staff count 6.
    # A3c: 1 took part (Tuấn) of the 2 who answered (Tuấn, Nhung) = 50%; 2 of 6 staff
    # answered (33% < 50%): no verdict yet.
    assert "1/2 = 50% · ⚠️ chưa đủ số liệu (đã trả lời 2/6)" in stats
    # A3a: 1 confirmed benefit (Thủy) of 5 members = 20%, but 1 of 5 signed up: no verdict.
    assert "1/5 = 20% · ⚠️ chưa đủ số liệu (đã đăng ký 1/5)" in stats
    # A3b: 1 member's case, supported = 1/1 = 100%; Lâm's case apart.
    a3b = stats.split("\nA3b · ")[1].split("\nA3c · ")[0]
    assert "1/1 = 100% · ✅ Đạt" in a3b
    assert "Ngoài đoàn viên (xử lý nhưng không tính vào chỉ tiêu): 1 trường hợp" in a3b
    # A5: 5 members of 6 staff = 83,3% (2026 takes the 2025 phase target ≥ 97%: not met).
    assert "5/6 = 83,3%" in stats

    # One indicator by unit: A3c in the CĐCS, its tổ furthest below target first.
    a3c = await reply_to(api, mai_anh, "/indicator a3c")
    assert "A3c · Đoàn viên, CBNGNLĐ tham gia" in a3c and "1/2 = 50%" in a3c
    assert "Theo đơn vị (thấp nhất so với mục tiêu trước):" in a3c
    unknown = await reply_to(api, mai_anh, "/indicator Z9")
    assert "Không có chỉ tiêu «Z9»" in unknown and "A1, A2a" in unknown

    # The report for the superiors: the workbook, then the chart.
    before = len(mai_anh.messages())
    await mai_anh.send("/report")
    await api.wait_idle()
    workbook, chart = mai_anh.messages()[before:]
    assert workbook.kind == "document" and workbook.file is not None
    assert workbook.file.filename.startswith("chi-tieu-") and workbook.file.filename.endswith(
        f"-{dt.date.today().year}.xlsx"
    )
    assert "Báo cáo chỉ tiêu năm" in workbook.text
    sheet = load_workbook(io.BytesIO(workbook.file.data))["Tổng hợp"]
    a5 = next(r for r in sheet.iter_rows(min_row=9, values_only=True) if r[0] == "A5")
    assert list(a5[3:5]) == [5, 6]
    assert chart.kind == "photo" and chart.file is not None
    assert chart.file.data.startswith(b"\x89PNG")


async def test_legal_request_followed_up_counts_for_p4(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = await officer_launches_activity(api)  # chair of CĐCS THPT Bùi Thị Xuân
    tuan = api.user(id=8002, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    await open_form(api, tuan, "Đề nghị tư vấn pháp luật, đại diện giải quyết vụ việc")
    await tuan.click(tuan.last_message(), "Tiền lương, phụ cấp, chế độ")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "Tư vấn pháp luật")
    await api.wait_idle()
    await answer_typed(api, tuan, "Chưa được truy lĩnh phụ cấp thâm niên từ tháng 9", "không")
    await submit(api, tuan)
    assert "công đoàn sẽ liên hệ để tư vấn" in tuan.last_message().text
    # A second matter the same year is a second case (each request is a run of its own).
    await open_form(api, tuan, "Đề nghị tư vấn pháp luật, đại diện giải quyết vụ việc")
    await tuan.click(tuan.last_message(), "Kỷ luật, khiếu nại, tố cáo")
    await api.wait_idle()
    await tuan.click(
        tuan.last_message(), "Đại diện tham gia hòa giải, giải quyết tranh chấp, tố tụng"
    )
    await api.wait_idle()
    await answer_typed(api, tuan, "Bị xử lý kỷ luật khiển trách chưa đúng quy trình", "có")
    await submit(api, tuan)

    # Before the union takes them up: 0 of 2 legal cases (P4 wants ≥ 68% from 2025).
    before = await reply_to(api, mai_anh, "/indicator P4")
    assert "0/2 = 0% · ❌ Chưa đạt" in before

    await mai_anh.send("/cases")
    await api.wait_idle()
    card = mai_anh.last_message()  # newest first: the last card is the first request
    assert "⚖️ Vụ việc pháp lý #" in card.text
    assert "Loại: Tiền lương, phụ cấp, chế độ" in card.text
    second = mai_anh.messages()[-2]
    assert "Loại: Kỷ luật, khiếu nại, tố cáo" in second.text
    # no visit for a legal case; a request taken back may be withdrawn
    assert card.button_texts == ["⚖️ Công đoàn đã tư vấn, đại diện", "↩️ Rút, không tính"]
    await mai_anh.click(card, "⚖️ Công đoàn đã tư vấn, đại diện")
    await api.wait_idle()
    assert "Tình trạng: ⚖️ Công đoàn đã tư vấn, đại diện" in card.text

    async with bot.db.session() as session:
        rows = (await session.execute(select(Case).order_by(col(Case.id)))).scalars()
        assert [(c.kind, c.status, c.subject_name) for c in rows] == [
            (CaseKind.LEGAL, CaseStatus.SUPPORTED, "Phạm Minh Tuấn"),
            (CaseKind.LEGAL, CaseStatus.REPORTED, "Phạm Minh Tuấn"),
        ]
    after = await reply_to(api, mai_anh, "/indicator P4")
    assert "1/2 = 50% · ❌ Chưa đạt" in after

    # The member takes the second request back: withdrawn, it counts nowhere and leaves /cases.
    await mai_anh.click(second, "↩️ Rút, không tính")
    await api.wait_idle()
    assert "Tình trạng: ↩️ Rút, không tính" in second.text and second.button_texts == []
    withdrawn = await reply_to(api, mai_anh, "/indicator P4")
    assert "1/1 = 100% · ✅ Đạt" in withdrawn
    left = await reply_to(api, mai_anh, "/cases")
    assert "Tiền lương" in left and "Kỷ luật" not in left
    stats = await reply_to(api, mai_anh, "/stats")  # and A3b has no hardship case
    a3b = stats.split("\nA3b · ")[1].split("\nA3c · ")[0]
    assert "chưa có trường hợp" in a3b

    # A member is not offered the union body's own form; the chair files one for her CĐCS
    # (a dispute over union funds): P4 counts the union's cases too.
    menu = await reply_to(api, tuan, "/surveys")
    assert "Vụ việc pháp lý của tổ chức công đoàn" not in menu
    assert "📝 Vụ việc pháp lý của tổ chức công đoàn" not in tuan.last_message().button_texts
    await open_form(api, mai_anh, "Vụ việc pháp lý của tổ chức công đoàn")
    await mai_anh.click(mai_anh.last_message(), "Kinh phí công đoàn, đoàn phí")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "Tư vấn pháp luật")
    await api.wait_idle()
    await answer_typed(api, mai_anh, "Đơn vị chậm trích nộp kinh phí công đoàn 2%", "không")
    await submit(api, mai_anh)
    async with bot.db.session() as session:
        union_case = (
            await session.execute(select(Case).order_by(col(Case.id).desc()).limit(1))
        ).scalar_one()
        assert (union_case.kind, union_case.subject_union, union_case.subject_person_id) == (
            CaseKind.LEGAL,
            True,
            None,
        )
        assert union_case.subject_name == "CĐCS Trường THPT Bùi Thị Xuân"
    # its card names the category in the words of the union's own form
    cards = await reply_to(api, mai_anh, "/cases")
    assert "Loại: Kinh phí công đoàn, đoàn phí" in cards
    # 1 supported of Tuấn's remaining request and the union's new one = 1/2.
    with_union = await reply_to(api, mai_anh, "/indicator P4")
    assert "1/2 = 50% · ❌ Chưa đạt" in with_union


async def test_member_cannot_use_officer_or_admin_commands(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    tuan = api.user(id=8101, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    for command in (
        "/stats", "/indicator A3c", "/report", "/pending", "/survey", "/cases", "/welfare",
        "/invite", "/role",
    ):  # fmt: skip
        await tuan.send(command)
        await api.wait_idle()
        assert "dành cho cán bộ công đoàn" in tuan.last_message().text, command
    # A forged officer button is answered and does nothing.
    before = len(api.calls_of("answerCallbackQuery"))
    await tuan.press_raw("hc:1:closed")
    await tuan.press_raw("ln:activity_participation")
    await api.wait_idle()
    assert len(api.calls_of("answerCallbackQuery")) == before + 2
    assert "Đã mở khảo sát" not in tuan.last_message().text


async def test_officer_sees_only_their_own_district(api: FakeBotAPI, bot: RunningBot) -> None:
    hung = api.user(id=8201, first_name="Hùng", phone="0903118274")  # officer of Đà Lạt
    await link(api, hung)
    await hung.send("/stats Bảo Lộc")
    await api.wait_idle()
    assert "Không tìm thấy đơn vị" in hung.last_message().text
    await hung.send("/stats BL-THPT-BL")
    await api.wait_idle()
    assert "Không tìm thấy đơn vị" in hung.last_message().text
    assert "CĐCS Trường THPT Bùi Thị Xuân" in await reply_to(api, hung, "/stats Bùi Thị Xuân")

    # The provincial admin may look anywhere.
    ha = api.user(id=8202, first_name="Hà", phone="0913620145")
    await link(api, ha)
    bao_loc = await reply_to(api, ha, "/stats Bảo Lộc 2026")
    assert "Công đoàn Giáo dục thành phố Bảo Lộc" in bao_loc
    assert "Chỉ tiêu năm 2026" in bao_loc
    # without diacritics, in lower case
    assert "Công đoàn Giáo dục thành phố Đà Lạt" in await reply_to(api, ha, "/stats da lat")


async def test_newcomer_by_invite_link_is_queued_and_confirmed(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    async with bot.db.session() as session:
        btx = (
            await session.execute(select(Unit).where(col(Unit.code) == "DL-THPT-BTX"))
        ).scalar_one()
        invite = btx.invite_code
    assert invite
    newcomer = api.user(id=8301, first_name="Hạnh", last_name="Trần Thị", phone="0912000111")
    await newcomer.send(f"/start {invite}")
    await api.wait_idle()
    assert "CĐCS Trường THPT Bùi Thị Xuân" in newcomer.last_message().text
    await newcomer.click(newcomer.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    await newcomer.share_contact()
    await api.wait_idle()
    assert "chuyển đến cán bộ công đoàn" in newcomer.last_message().text

    # An officer of another district sees nothing and cannot resolve it with a forged button.
    thanh = api.user(id=8302, first_name="Thành", phone="0914738260")  # chair in Bảo Lộc
    await link(api, thanh)
    await thanh.send("/pending")
    await api.wait_idle()
    assert "Không có ai" in thanh.last_message().text

    mai_anh = api.user(id=8303, first_name="Mai Anh", phone="0918402367")
    await link(api, mai_anh)
    await mai_anh.send("/pending")
    await api.wait_idle()
    request = mai_anh.last_message()
    assert "Trần Thị Hạnh" in request.text
    pending_data = request.data_of("✅ Đoàn viên")
    await thanh.press_raw(pending_data)
    await api.wait_idle()
    assert "Đã liên kết" not in newcomer.last_message().text

    await mai_anh.click(request, "✅ Đoàn viên")
    await api.wait_idle()
    # The newcomer is told on their own chat by the outbox, sent in the background.
    await eventually(lambda: "đã xác nhận" in newcomer.last_message().text)
    assert "đã xác nhận" in newcomer.last_message().text
    await newcomer.send("/surveys")
    await api.wait_idle()
    assert "📝 Báo cáo hoàn cảnh khó khăn" in newcomer.last_message().button_texts


async def test_request_without_invite_gets_a_unit_from_the_admin(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    newcomer = api.user(id=8401, first_name="Minh", last_name="Hồ Văn", phone="0912000222")
    await newcomer.send("/start")
    await api.wait_idle()
    await newcomer.click(newcomer.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    await newcomer.share_contact()
    await api.wait_idle()
    assert "chuyển đến cán bộ công đoàn" in newcomer.last_message().text

    mai_anh = api.user(id=8402, first_name="Mai Anh", phone="0918402367")
    await link(api, mai_anh)
    await mai_anh.send("/pending")  # a unit-less request is the admins' to place
    await api.wait_idle()
    assert "Không có ai" in mai_anh.last_message().text

    ha = api.user(id=8403, first_name="Hà", phone="0913620145")
    await link(api, ha)
    await ha.send("/pending")
    await api.wait_idle()
    request = ha.last_message()
    assert "Hồ Văn Minh" in request.text and "/assign" in request.text
    await ha.click(request, "✅ Đoàn viên")
    await api.wait_idle()
    assert "chưa có đơn vị" in request.text
    async with bot.db.session() as session:
        pending_id = (await session.execute(select(col(PendingLink.id)))).scalar_one()
    await ha.send(f"/assign {pending_id} không-có-đơn-vị-này")
    await api.wait_idle()
    assert "Không tìm thấy đơn vị" in ha.last_message().text
    await ha.send(f"/assign {pending_id} nguyen du")
    await api.wait_idle()
    placed = ha.last_message()
    assert "CĐCS Trường THCS Nguyễn Du" in placed.text
    await ha.click(placed, "☑️ CBNGNLĐ (chưa là đoàn viên)")
    await api.wait_idle()
    # The newcomer is told on their own chat by the outbox, sent in the background.
    await eventually(lambda: "đã xác nhận" in newcomer.last_message().text)
    assert "đã xác nhận" in newcomer.last_message().text
    async with bot.db.session() as session:
        person = (
            await session.execute(select(Person).where(col(Person.full_name) == "Hồ Văn Minh"))
        ).scalar_one()
        unit = await session.get(Unit, person.unit_id)
    assert unit is not None and unit.code == "DL-THCS-ND"
    assert person.is_member is False
    assert person.phone == "+84912000222"
