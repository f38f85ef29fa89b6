"""Screens that say what is true (issue 14), end to end: what a sticker gets in a survey,
"Xong" with nothing ticked, a half-done form in /surveys, hints shown once, a question counter
that never jumps, stopping a survey only once confirmed, the notice time example, /privacy,
/cancel of a notice draft, and /role as the bot prints phone numbers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel import col

from bot.app import set_default_commands
from storage.models import (
    Answer,
    ChatIdentity,
    Notice,
    NoticeStatus,
    Person,
    Response,
    ResponseState,
    Role,
)
from tests.fakebotapi import FakeBotAPI, FakeUser
from tests.flow import RunningBot, eventually, link, local_today, reply_to
from tests.test_flow_surveys import ACTIVITY_TITLE, officer_launches_activity, open_activity

HARDSHIP = "Báo cáo hoàn cảnh khó khăn"
WELFARE = "Đăng ký hưởng ưu đãi từ đối tác của công đoàn"
NOT_TEXT = "Ở đây tôi chỉ hiểu tin nhắn chữ và các nút bấm"
SUBJECT_PROMPT = "Thầy/cô báo cáo hoàn cảnh khó khăn của ai?"
CATEGORY_PROMPT = "Hoàn cảnh khó khăn thuộc trường hợp nào?"
MEMBER_MENU = [
    "start",
    "surveys",
    "cancel",
    "stop",
    "privacy",
    "dulieu",
    "rutlai",
    "xoadulieu",
    "help",
]


async def open_form(api: FakeBotAPI, user: FakeUser, button: str) -> None:
    await user.send("/surveys")
    await api.wait_idle()
    await user.click(user.last_message(), button)
    await api.wait_idle()


async def responses_of(bot: RunningBot, external_id: str) -> list[tuple[Response, dict[str, str]]]:
    """The person's responses, oldest first, each with its answers (raw JSON text)."""
    async with bot.db.session() as session:
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == external_id)
            )
        ).scalar_one()
        responses = (
            await session.execute(
                select(Response)
                .where(col(Response.person_id) == chat.person_id)
                .order_by(col(Response.id))
            )
        ).scalars()
        found = []
        for response in responses:
            rows = (
                await session.execute(select(Answer).where(col(Answer.response_id) == response.id))
            ).scalars()
            found.append((response, {a.question_key: a.value for a in rows}))
        return found


async def test_a_sticker_or_photo_in_a_survey_shows_the_question_again(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    tuan = api.user(id=9001, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)
    # Outside a survey a sticker is not understood, as before.
    await tuan.send_sticker()
    await api.wait_idle()
    assert "chưa hiểu tin nhắn này" in tuan.last_message().text

    await open_form(api, tuan, f"📝 {HARDSHIP}")
    question = tuan.last_message()
    assert SUBJECT_PROMPT in question.text
    for kind in ("sticker", "photo"):
        before = len(tuan.messages())
        if kind == "sticker":
            await tuan.send_sticker()
        else:
            await tuan.send_photo(caption="giấy ra viện")
        await api.wait_idle()
        [shown] = tuan.messages()[before:]
        assert shown.text.startswith(f"⚠️ {NOT_TEXT}; ảnh, nhãn dán, tin nhắn thoại")
        assert "chưa hiểu" not in shown.text
        assert SUBJECT_PROMPT in shown.text and "Câu 1/4–6" in shown.text
        assert shown.button_texts == question.button_texts
    [(response, answers)] = await responses_of(bot, "9001")
    assert response.state == ResponseState.IN_PROGRESS and answers == {}
    # The question shown again takes its answer.
    await tuan.click(tuan.last_message(), "Của bản thân tôi")
    await api.wait_idle()
    assert CATEGORY_PROMPT in tuan.last_message().text


async def test_counter_hints_done_with_nothing_ticked_and_stop_confirmation(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    await officer_launches_activity(api)
    tuan = api.user(id=9002, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)
    await open_activity(api, tuan)
    screen = tuan.last_message()
    # Not taking part: participated, reason, suggestion (3); taking part: participated,
    # activities, times, suggestion (4).  The counter says so until the answer decides.
    assert "Câu 1/3–4" in screen.text
    await tuan.click(screen, "Có")
    await api.wait_idle()
    multi = tuan.last_message()
    assert "Câu 2/4" in multi.text
    # The hint "Có thể chọn nhiều hoạt động" said again what the screen says: gone.
    assert "Có thể chọn nhiều" not in multi.text
    assert multi.text.count("Chọn một hoặc nhiều mục") == 1

    await tuan.click(multi, "✔️ Xong")  # nothing ticked
    await api.wait_idle()
    assert "Xin chọn ít nhất một mục trước khi bấm «Xong»." in multi.text
    assert "bắt buộc" not in multi.text
    assert "Câu 2/4" in multi.text

    # "Dừng khảo sát" asks first, in place, and says what happens to the answers.
    await tuan.click(multi, "✖️ Dừng khảo sát")
    await api.wait_idle()
    assert tuan.last_message() is multi
    assert f"Dừng khảo sát «{ACTIVITY_TITLE}»?" in multi.text
    assert "Nếu dừng, 1 câu thầy/cô đã trả lời sẽ bị bỏ, không được gửi đi" in multi.text
    assert "gõ /surveys để làm tiếp" in multi.text
    assert multi.button_texts == ["✖️ Dừng và bỏ các câu đã trả lời", "↩️ Không dừng, làm tiếp"]
    [(response, answers)] = await responses_of(bot, "9002")
    assert response.state == ResponseState.IN_PROGRESS and answers == {"participated": "true"}
    # Someone else pressing "stop" on it stops nothing.
    bao = api.user(id=9003, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await bao.press_raw(multi.data_of("✖️ Dừng và bỏ các câu đã trả lời"), bao.last_message())
    await api.wait_idle()
    [(response, _)] = await responses_of(bot, "9002")
    assert response.state == ResponseState.IN_PROGRESS

    await tuan.click(multi, "↩️ Không dừng, làm tiếp")
    await api.wait_idle()
    assert "Câu 2/4" in multi.text and "những hoạt động nào" in multi.text
    await tuan.click(multi, "▫️ Văn nghệ")
    await api.wait_idle()
    await tuan.click(multi, "✔️ Xong")
    await api.wait_idle()
    assert "Câu 3/4" in multi.text and "bao nhiêu lần" in multi.text
    assert "Gõ một số từ 1 đến 100." in multi.text and "Nhập một số" not in multi.text
    await tuan.send("2")
    await api.wait_idle()
    last = tuan.last_message()
    assert "Câu 4/4" in last.text
    assert "Không bắt buộc. Gõ" not in last.text
    assert last.text.count("bỏ qua") == 1  # "gõ «bỏ qua»", once

    await tuan.click(last, "✖️ Dừng khảo sát")
    await api.wait_idle()
    assert "Nếu dừng, 3 câu thầy/cô đã trả lời sẽ bị bỏ" in last.text
    await tuan.click(last, "✖️ Dừng và bỏ các câu đã trả lời")
    await api.wait_idle()
    assert f"Đã dừng khảo sát «{ACTIVITY_TITLE}»" in last.text
    [(response, _)] = await responses_of(bot, "9002")
    assert response.state == ResponseState.ABANDONED


async def test_a_half_done_form_is_in_progress_in_surveys(api: FakeBotAPI, bot: RunningBot) -> None:
    nhung = api.user(id=9004, first_name="Nhung", phone="0387556120")
    await link(api, nhung)
    await open_form(api, nhung, f"📝 {HARDSHIP}")
    assert "Câu 1/4–6" in nhung.last_message().text  # for oneself 4 questions, a colleague 6
    await nhung.click(nhung.last_message(), "Của bản thân tôi")
    await api.wait_idle()
    assert "Câu 2/4" in nhung.last_message().text

    await nhung.send("/surveys")
    await api.wait_idle()
    listing = nhung.last_message()
    assert f"• {HARDSHIP} (đang làm dở)" in listing.text
    assert f"▶️ {HARDSHIP}" in listing.button_texts
    # She opens the welfare sign-up meanwhile: both are half done now.
    await nhung.click(listing, f"📝 {WELFARE}")
    await api.wait_idle()
    await nhung.send("/surveys")
    await api.wait_idle()
    listing = nhung.last_message()
    assert f"• {HARDSHIP} (đang làm dở)" in listing.text
    assert f"• {WELFARE} (đang làm dở)" in listing.text
    # The report resumes where she left it: the same report, not a second one.
    await nhung.click(listing, f"▶️ {HARDSHIP}")
    await api.wait_idle()
    assert CATEGORY_PROMPT in nhung.last_message().text
    assert "Câu 2/4" in nhung.last_message().text
    await nhung.click(nhung.last_message(), "Tai nạn")
    await api.wait_idle()
    await nhung.send("Bị tai nạn giao thông")
    await api.wait_idle()
    await nhung.click(nhung.last_message(), "Không")
    await api.wait_idle()
    await nhung.click(nhung.last_message(), "📨 Gửi câu trả lời")
    await api.wait_idle()
    assert "Đã ghi nhận" in nhung.last_message().text
    found = await responses_of(bot, "9004")
    assert [r.state for r, _ in found] == [ResponseState.COMPLETED, ResponseState.IN_PROGRESS]
    assert found[0][1] == {
        "subject": '"self"',
        "category": '"tai_nan"',
        "description": '"Bị tai nạn giao thông"',
        "urgent": "false",
    }
    # Sent: another report can be filed; the welfare sign-up is still half done.
    await nhung.send("/surveys")
    await api.wait_idle()
    listing = nhung.last_message()
    assert f"• {HARDSHIP}\n" in listing.text
    assert f"📝 {HARDSHIP}" in listing.button_texts
    assert f"▶️ {WELFARE}" in listing.button_texts


async def test_notice_time_example_is_in_the_future_and_cancel_ends_the_draft(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    mai_anh = api.user(id=9005, first_name="Mai Anh", phone="0918402367")  # chair, CĐCS BTX
    await link(api, mai_anh)
    await mai_anh.send("/notice")
    await api.wait_idle()
    await mai_anh.send("Họp tháng 12")
    await api.wait_idle()
    await mai_anh.send("Họp lúc 14h thứ Sáu.")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "Bỏ qua")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "Tiếp tục ➡️")
    await api.wait_idle()
    # Tomorrow 07:30 in the bot's time zone (the flow settings have no quiet hours).
    example = f"{local_today() + dt.timedelta(days=1):%d/%m/%Y} 07:30"
    prompt = mai_anh.last_message().text
    assert f"(ví dụ {example})" in prompt and "25/11/2026" not in prompt
    await mai_anh.send(f"{local_today() - dt.timedelta(days=1):%d/%m/%Y} 07:30")  # yesterday
    await api.wait_idle()
    assert (
        f"Thời gian chưa đúng hoặc đã qua. Gõ theo dạng ngày/tháng/năm giờ:phút, ví dụ {example}."
        in (mai_anh.last_message().text)
    )
    await mai_anh.send(example)  # the example itself is a time that can be chosen
    await api.wait_idle()
    assert f"🕒 Hẹn gửi lúc 07:30 {local_today() + dt.timedelta(days=1):%d/%m/%Y}" in (
        mai_anh.last_message().text
    )

    # /cancel ends the draft; the next text is not taken as part of a notice.
    assert await reply_to(api, mai_anh, "/cancel") == "Đã hủy bản thảo thông báo."
    after = await reply_to(api, mai_anh, "Nội dung mới")
    assert "chưa hiểu tin nhắn này" in after
    async with bot.db.session() as session:
        notices = list((await session.execute(select(Notice))).scalars())
    assert [n.status for n in notices] == [NoticeStatus.CANCELLED]
    assert await reply_to(api, mai_anh, "/cancel") == "Không có thao tác nào đang làm dở."
    assert "(bước 1/5)" in await reply_to(api, mai_anh, "/notice")


async def test_cancel_ends_a_survey_and_a_draft_at_once(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = api.user(id=9006, first_name="Mai Anh", phone="0918402367")
    await link(api, mai_anh)
    await open_form(api, mai_anh, f"📝 {HARDSHIP}")
    await mai_anh.send("/notice")
    await api.wait_idle()
    said = await reply_to(api, mai_anh, "/cancel")
    assert said == (
        "Đã hủy bản thảo thông báo.\n"
        f"Đã dừng khảo sát «{HARDSHIP}». Các câu đã trả lời không được gửi đi; thầy/cô có thể"
        " làm lại từ đầu bằng /surveys."
    )


async def test_privacy_shows_the_consent_text_again(api: FakeBotAPI, bot: RunningBot) -> None:
    newcomer = api.user(id=9007, first_name="Khách")
    shown = await reply_to(api, newcomer, "/privacy")
    assert "Thông báo về xử lý dữ liệu cá nhân" in shown
    assert "Dữ liệu được thu thập: họ và tên, số điện thoại" in shown
    assert "Thầy/cô chưa cho biết có đồng ý hay không. Gõ /start để đọc và trả lời." in shown

    tuan = api.user(id=9008, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    assert api.commands_for(tuan.chat_id) == MEMBER_MENU
    shown = await reply_to(api, tuan, "/privacy")
    assert "Dữ liệu được thu thập: họ và tên, số điện thoại" in shown
    assert "Quyền của thầy/cô: được biết, đồng ý hoặc rút lại sự đồng ý" in shown
    assert "✅ Thầy/cô đã đồng ý với thông báo này (phiên bản 2026.12-1) lúc " in shown
    assert f"{local_today():%d/%m/%Y}." in shown
    assert "Phiên bản văn bản: 2026.12-1" in shown
    assert "/privacy — đọc lại thông báo về xử lý dữ liệu cá nhân" in await reply_to(
        api, tuan, "/help"
    )
    # The menu of a chat that has not linked yet lists it too.
    assert bot.app is not None
    await set_default_commands(bot.app)
    assert api.commands_for(None) == MEMBER_MENU


async def test_role_takes_the_printed_phone_and_tells_the_person(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    ha = api.user(id=9009, first_name="Hà", phone="0913620145")  # provincial admin
    tuan = api.user(id=9010, first_name="Tuấn", phone="0345271908")
    await link(api, ha)
    await link(api, tuan)
    assert api.commands_for(tuan.chat_id) == MEMBER_MENU

    before = len(tuan.messages())
    answer = await reply_to(api, ha, "/role 0345 271 908 officer DL-THPT-BTX")
    assert answer == (
        "Đã cập nhật quyền của Phạm Minh Tuấn: Cán bộ công đoàn.\n"
        "Đơn vị phụ trách: CĐCS Trường THPT Bùi Thị Xuân.\n"
        "Người này đã được báo qua bot, và menu lệnh của họ đã được cập nhật."
    )
    # The person is told through the outbox, which the worker sends in the background.
    await eventually(lambda: len(tuan.messages()) > before)
    [told] = tuan.messages()[before:]
    assert told.text == (
        "🔑 Quyền của thầy/cô trên kênh công đoàn đã được cập nhật: Cán bộ công đoàn, phụ trách"
        " CĐCS Trường THPT Bùi Thị Xuân.\n"
        "Menu lệnh đã đổi theo quyền mới; gõ /help để xem các lệnh dùng được."
    )
    menu = api.commands_for(tuan.chat_id)
    assert menu[: len(MEMBER_MENU)] == MEMBER_MENU and "notice" in menu and "role" not in menu
    assert "bước 1/5" in await reply_to(api, tuan, "/notice")  # the new role works at once

    answer = await reply_to(api, ha, "/role +84 345.271.908 member")
    assert answer.startswith(
        "Đã cập nhật quyền của Phạm Minh Tuấn: Đoàn viên, người lao động (không có quyền cán bộ)."
    )
    assert "Cán bộ công đoàn" not in tuan.last_message().text
    assert api.commands_for(tuan.chat_id) == MEMBER_MENU
    async with bot.db.session() as session:
        person = (
            await session.execute(select(Person).where(col(Person.phone) == "+84345271908"))
        ).scalar_one()
    assert (person.role, person.officer_unit_id) == (Role.MEMBER, None)

    # Someone on the roster who never linked: changed, and the admin is told they were not.
    answer = await reply_to(api, ha, "/role 0387 556 120 officer")
    assert "Đã cập nhật quyền của Võ Thị Hồng Nhung: Cán bộ công đoàn." in answer
    assert "chưa liên kết với bot nên chưa được báo" in answer
    # Her own role: her menu follows; she is not told she has no chat.
    answer = await reply_to(api, ha, "/role 0913 620 145 admin")
    assert answer == (
        "Đã cập nhật quyền của Nguyễn Thị Thu Hà: Quản trị.\n"
        "Menu lệnh đã đổi theo quyền mới; gõ /help để xem các lệnh dùng được."
    )
    assert "role" in api.commands_for(ha.chat_id)
    assert "Cách dùng: /role SĐT" in await reply_to(api, ha, "/role 0345 271 908")
    assert "Cách dùng: /role SĐT" in await reply_to(api, ha, "/role officer 0345 271 908")
