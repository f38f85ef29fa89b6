"""Surveys in chat, end to end: launch, answer by button and by text, invalid input, back,
summary and submit, forged and stale buttons, /cancel, resume after a restart."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlmodel import col

from storage.models import Answer, ChatIdentity, Response, ResponseState
from tests.fakebotapi import FakeBotAPI, FakeUser
from tests.flow import RunningBot, eventually, link

ACTIVITY_TITLE = "Tham gia hoạt động văn hóa, thể thao, tham quan, nghỉ mát"
UNIT_REPORT_TITLE = "Báo cáo năm của công đoàn cơ sở"


async def officer_launches_activity(api: FakeBotAPI) -> FakeUser:
    mai_anh = api.user(id=7001, first_name="Mai Anh", last_name="Lê Thị", phone="0918402367")
    await link(api, mai_anh)
    await mai_anh.send("/survey")
    await api.wait_idle()
    # The launch menu lists the launchable built-ins; the standing forms need no launch.
    menu = mai_anh.last_message().button_texts
    assert f"🚀 {ACTIVITY_TITLE}" in menu
    assert menu == [
        f"🚀 {ACTIVITY_TITLE}",
        "🚀 Học tập nâng cao trình độ, kỹ năng, đạo đức nghề nghiệp",
        f"🚀 {UNIT_REPORT_TITLE}",
    ]
    await mai_anh.click(mai_anh.last_message(), f"🚀 {ACTIVITY_TITLE}")
    await api.wait_idle()
    # How long it stays open, then whether it repeats; each step edits the same message.
    assert "mở trong bao lâu" in mai_anh.last_message().text
    assert mai_anh.last_message().button_texts == ["7 ngày", "14 ngày", "30 ngày"]
    await mai_anh.click(mai_anh.last_message(), "14 ngày")
    await api.wait_idle()
    assert "lặp lại theo kỳ" in mai_anh.last_message().text
    await mai_anh.click(mai_anh.last_message(), "Một lần")
    await api.wait_idle()
    launched = next(t for t in mai_anh.texts() if "🚀 Đã mở khảo sát" in t)
    assert "Mở từ" in launched and "Theo dõi bằng /campaigns." in launched
    # She is in her own unit's audience: the invitation reaches her too, with its button.
    await eventually(lambda: any("📝 Khảo sát mới" in t for t in mai_anh.texts()))
    invitation = next(m for m in mai_anh.messages() if "📝 Khảo sát mới" in m.text)
    assert invitation.button_texts == ["📝 Trả lời ngay"]
    return mai_anh


async def open_activity(api: FakeBotAPI, member: FakeUser) -> None:
    await member.send("/surveys")
    await api.wait_idle()
    await member.click(member.last_message(), f"📝 {ACTIVITY_TITLE}")
    await api.wait_idle()


async def answers_of(bot: RunningBot, external_id: str) -> tuple[Response, dict[str, object]]:
    async with bot.db.session() as session:
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == external_id)
            )
        ).scalar_one()
        response = (
            await session.execute(select(Response).where(col(Response.person_id) == chat.person_id))
        ).scalar_one()
        rows = (
            await session.execute(select(Answer).where(col(Answer.response_id) == response.id))
        ).scalars()
        return response, {a.question_key: json.loads(a.value) for a in rows}


async def test_activity_survey_by_buttons_and_text(api: FakeBotAPI, bot: RunningBot) -> None:
    await officer_launches_activity(api)
    tuan = api.user(id=7002, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)
    await open_activity(api, tuan)

    first = tuan.last_message()
    assert "Câu 1/" in first.text and "thầy/cô có tham gia" in first.text
    await tuan.click(first, "Có")
    await api.wait_idle()
    multi = tuan.last_message()
    assert "những hoạt động nào" in multi.text
    await tuan.click(multi, "▫️ Văn nghệ")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "▫️ Tham quan")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "☑️ Văn nghệ")  # untick
    await api.wait_idle()
    assert "▫️ Văn nghệ" in tuan.last_message().button_texts
    await tuan.click(tuan.last_message(), "▫️ Văn nghệ")  # tick again
    await api.wait_idle()
    assert "☑️ Văn nghệ" in tuan.last_message().button_texts
    await tuan.click(tuan.last_message(), "✔️ Xong")
    await api.wait_idle()
    assert "bao nhiêu lần" in tuan.last_message().text

    # Invalid typed answers get a re-prompt that says what is expected.
    await tuan.send("nhiều lắm")
    await api.wait_idle()
    assert "Xin gõ một số nguyên" in tuan.last_message().text
    await tuan.send("150")
    await api.wait_idle()
    assert "Số phải từ 1 đến 100" in tuan.last_message().text
    await tuan.send("3")
    await api.wait_idle()
    optional = tuan.last_message()
    assert "đề xuất" in optional.text
    await tuan.click(optional, "Bỏ qua")
    await api.wait_idle()
    summary = tuan.last_message()
    assert "kiểm tra lại" in summary.text
    assert "Văn nghệ, Tham quan" in summary.text
    # Back from the summary asks the last question again.
    await tuan.click(summary, "⬅️ Quay lại")
    await api.wait_idle()
    assert "đề xuất" in tuan.last_message().text
    await tuan.send("Tổ chức thêm giải bóng chuyền")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "📨 Gửi câu trả lời")
    await api.wait_idle()
    assert "Đã ghi nhận" in tuan.last_message().text

    response, answers = await answers_of(bot, "7002")
    assert response.state == ResponseState.COMPLETED
    assert answers == {
        "participated": True,
        "activities": ["van_nghe", "tham_quan"],
        "times": 3,
        "suggestion": "Tổ chức thêm giải bóng chuyền",
    }

    # Buttons of the finished survey and forged data are answered and change nothing.
    calls_before = len(api.calls_of("answerCallbackQuery"))
    await tuan.press_raw(f"sa:{response.id}:participated:1", summary)
    await tuan.press_raw("sa:notanumber:x:y", summary)
    await tuan.press_raw("zz:garbage", summary)
    await api.wait_idle()
    answered = api.calls_of("answerCallbackQuery")[calls_before:]
    assert len(answered) == 3
    _, after = await answers_of(bot, "7002")
    assert after == answers


async def test_branch_no_and_cancel_and_commands_not_swallowed(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    await officer_launches_activity(api)
    nhung = api.user(id=7003, first_name="Nhung", phone="0387556120")
    await link(api, nhung)
    await open_activity(api, nhung)
    await nhung.send("không")  # typed yes/no, as a Zalo user would
    await api.wait_idle()
    reason = nhung.last_message()
    assert "Lý do chính" in reason.text
    # A command in the middle of a survey is a command, not an answer.
    await nhung.send("/help")
    await api.wait_idle()
    assert "Hướng dẫn sử dụng" in nhung.last_message().text
    _, answers = await answers_of(bot, "7003")
    assert answers == {"participated": False}
    await nhung.send("/cancel")
    await api.wait_idle()
    assert "Đã dừng khảo sát" in nhung.last_message().text
    response, _ = await answers_of(bot, "7003")
    assert response.state == ResponseState.ABANDONED
    # The old question's buttons no longer act.
    await nhung.click(reason, "Bận công việc chuyên môn")
    await api.wait_idle()
    response, answers = await answers_of(bot, "7003")
    assert response.state == ResponseState.ABANDONED
    assert answers == {"participated": False}
    # Starting again begins from the first question.
    await open_activity(api, nhung)
    assert "Câu 1/" in nhung.last_message().text
    response, answers = await answers_of(bot, "7003")
    assert response.state == ResponseState.IN_PROGRESS
    assert answers == {}


async def test_resume_after_restart(api: FakeBotAPI, bot: RunningBot) -> None:
    await officer_launches_activity(api)
    bao = api.user(id=7004, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await open_activity(api, bao)
    await bao.click(bao.last_message(), "Có")
    await api.wait_idle()
    await bot.restart()  # a new Dispatcher and Bot on the same database
    await bao.send("/start")
    await api.wait_idle()
    texts = [m.text for m in bao.messages()[-2:]]
    assert "đang trả lời dở" in texts[0]
    assert "những hoạt động nào" in texts[1]
    await bao.send("1, 2")
    await api.wait_idle()
    assert "bao nhiêu lần" in bao.last_message().text
    _, answers = await answers_of(bot, "7004")
    assert answers == {"participated": True, "activities": ["van_nghe", "the_thao"]}
