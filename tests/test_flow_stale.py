"""Buttons of an older screen, end to end: the member gets the notice and then where they are
(the current question, the summary, or a pointer to /surveys), and nothing changes.

The case of the issue: the reply to an answer is lost (the bot stored the answer, then crashed
before the message was edited), so the member still sees the question they have already answered
and presses its buttons again.  Here the member presses the buttons the old question had (its
callback data, kept from before the answer), which is all the bot receives in that case."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from storage.models import ChatIdentity, ResponseState
from tests.fakebotapi import FakeBotAPI, FakeUser, SentMessage
from tests.flow import RunningBot, link
from tests.test_flow_surveys import answers_of, officer_launches_activity, open_activity

STALE_NOTICE = "Nút này đã cũ"
NOTHING_IN_PROGRESS = "không có khảo sát nào đang làm dở"
ACTIVITIES_BUTTONS = [
    "▫️ Văn nghệ",
    "▫️ Thể dục thể thao",
    "▫️ Tham quan",
    "▫️ Nghỉ mát",
    "▫️ Khác",
    "✔️ Xong",
    "⬅️ Quay lại",
    "✖️ Dừng khảo sát",
]
SUMMARY_BUTTONS = ["📨 Gửi câu trả lời", "⬅️ Quay lại", "✖️ Dừng khảo sát"]


async def press_stale(api: FakeBotAPI, user: FakeUser, data: str, on: SentMessage) -> SentMessage:
    """Press a button of an older screen: the press is answered with the notice first, then
    exactly one new message shows where the member is; return that message."""
    before = len(user.messages())
    calls_before = len(api.calls)
    await user.press_raw(data, on)
    await api.wait_idle()
    assert STALE_NOTICE in user.last_callback_answer().get("text", "")
    new = user.messages()[before:]
    assert len(new) == 1, user.transcript()
    # The toast first, then the message that shows where the member is; nothing edited.
    methods = [c.method for c in api.calls[calls_before:] if c.method != "getUpdates"]
    assert methods == ["answerCallbackQuery", "sendMessage"], methods
    return new[0]


async def active_response_of(bot: RunningBot, external_id: str) -> int | None:
    async with bot.db.session() as session:
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == external_id)
            )
        ).scalar_one()
        return chat.active_response_id


async def test_lost_reply_then_old_button_shows_the_current_question(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    await officer_launches_activity(api)
    tuan = api.user(id=7102, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)
    await open_activity(api, tuan)
    first = tuan.last_message()
    assert "Câu 1/" in first.text
    old_yes, old_no = first.data_of("Có"), first.data_of("Không")

    # The answer is stored; the reply showing the next question is what gets lost.
    await tuan.click(first, "Có")
    await api.wait_idle()
    response, answers = await answers_of(bot, "7102")
    assert answers == {"participated": True}
    edits = first.edit_count

    # Pressing the old question's button: the notice, then the current question as a new
    # last message, with its own buttons, as the normal flow shows it.
    shown = await press_stale(api, tuan, old_yes, first)
    assert shown is tuan.last_message() and shown.message_id > first.message_id
    assert "Câu 2/" in shown.text and "những hoạt động nào" in shown.text
    assert "Chọn một hoặc nhiều mục" in shown.text
    assert shown.button_texts == ACTIVITIES_BUTTONS
    assert first.edit_count == edits  # the pressed message is left alone

    # Again, and with the other choice of the old question: shown again, nothing changes.
    again = await press_stale(api, tuan, old_yes, first)
    assert "những hoạt động nào" in again.text and again.button_texts == ACTIVITIES_BUTTONS
    other = await press_stale(api, tuan, old_no, first)
    assert "những hoạt động nào" in other.text
    after, unchanged = await answers_of(bot, "7102")
    assert unchanged == {"participated": True}
    assert after.state == ResponseState.IN_PROGRESS and after.draft is None
    assert await active_response_of(bot, "7102") == response.id

    # The buttons of the question shown work, and the survey completes.
    await tuan.click(other, "▫️ Văn nghệ")
    await api.wait_idle()
    assert tuan.last_message() is other and "☑️ Văn nghệ" in other.button_texts
    await tuan.click(other, "✔️ Xong")
    await api.wait_idle()
    assert "bao nhiêu lần" in tuan.last_message().text
    await tuan.send("4")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "Bỏ qua")
    await api.wait_idle()
    assert "kiểm tra lại" in tuan.last_message().text
    await tuan.click(tuan.last_message(), "📨 Gửi câu trả lời")
    await api.wait_idle()
    assert "Đã ghi nhận" in tuan.last_message().text
    done, final = await answers_of(bot, "7102")
    assert done.state == ResponseState.COMPLETED
    assert final == {
        "participated": True,
        "activities": ["van_nghe"],
        "times": 4,
        "suggestion": None,
    }


async def test_old_button_at_the_summary_shows_the_summary(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    await officer_launches_activity(api)
    thuy = api.user(id=7103, first_name="Thủy", last_name="Huỳnh Thị Thanh", phone="0977812435")
    await link(api, thuy)
    await open_activity(api, thuy)
    screen = thuy.last_message()
    old_yes = screen.data_of("Có")
    await thuy.click(screen, "Không")
    await api.wait_idle()
    old_reason = screen.data_of("Bận việc gia đình")
    await thuy.click(screen, "Bận công việc chuyên môn")
    await api.wait_idle()
    old_skip = screen.data_of("Bỏ qua")
    await thuy.click(screen, "Bỏ qua")
    await api.wait_idle()
    assert "kiểm tra lại" in screen.text  # the same message, edited at each step
    _, answers = await answers_of(bot, "7103")
    assert answers == {"participated": False, "reason": "ban_cong_viec", "suggestion": None}

    for data in (old_yes, old_reason, old_skip, "so:0:no_such_form"):
        shown = await press_stale(api, thuy, data, screen)
        assert "kiểm tra lại các câu trả lời" in shown.text
        assert "Bận công việc chuyên môn" in shown.text
        assert shown.button_texts == SUMMARY_BUTTONS
    _, unchanged = await answers_of(bot, "7103")
    assert unchanged == answers

    await thuy.click(thuy.last_message(), "📨 Gửi câu trả lời")
    await api.wait_idle()
    assert "Đã ghi nhận" in thuy.last_message().text
    response, _ = await answers_of(bot, "7103")
    assert response.state == ResponseState.COMPLETED


async def test_old_button_with_no_survey_in_progress_points_to_surveys(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    await officer_launches_activity(api)
    nhung = api.user(id=7104, first_name="Nhung", phone="0387556120")
    await link(api, nhung)
    await open_activity(api, nhung)
    screen = nhung.last_message()
    await nhung.click(screen, "Có")
    await api.wait_idle()
    old_tick = screen.data_of("▫️ Tham quan")
    old_stop = screen.data_of("✖️ Dừng khảo sát")
    old_back = screen.data_of("⬅️ Quay lại")
    await nhung.send("/cancel")
    await api.wait_idle()
    assert "Đã dừng khảo sát" in nhung.last_message().text
    response, answers = await answers_of(bot, "7104")
    assert response.state == ResponseState.ABANDONED and answers == {"participated": True}

    for data in (old_tick, old_stop, old_back, old_tick):
        shown = await press_stale(api, nhung, data, screen)
        assert "Hiện thầy/cô không có khảo sát nào đang làm dở" in shown.text
        assert "/surveys" in shown.text
        assert shown.buttons == []
    after, unchanged = await answers_of(bot, "7104")
    assert after.state == ResponseState.ABANDONED and after.draft is None
    assert unchanged == {"participated": True}
    assert await active_response_of(bot, "7104") is None


async def test_someone_elses_buttons_reveal_nothing_of_their_survey(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    await officer_launches_activity(api)
    tuan = api.user(id=7105, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    bao = api.user(id=7106, first_name="Bảo", phone="0868304771")
    await link(api, tuan)
    await link(api, bao)
    await open_activity(api, tuan)
    await tuan.click(tuan.last_message(), "Có")
    await api.wait_idle()
    tuans = tuan.last_message()
    assert "những hoạt động nào" in tuans.text
    tuan_response, _ = await answers_of(bot, "7105")
    rid = tuan_response.id
    foreign = [
        tuans.data_of("▫️ Văn nghệ"),
        tuans.data_of("✔️ Xong"),
        tuans.data_of("⬅️ Quay lại"),
        f"sx:{rid}:1",  # submit
        tuans.data_of("✖️ Dừng khảo sát"),
    ]

    # Bảo has no survey in progress: the notice and the pointer, nothing of Tuấn's survey.
    bao_before = len(bao.messages())
    for data in foreign:
        shown = await press_stale(api, bao, data, bao.last_message())
        assert NOTHING_IN_PROGRESS in shown.text and shown.buttons == []
    for message in bao.messages()[bao_before:]:
        assert "hoạt động nào" not in message.text and "Văn nghệ" not in message.text

    # Bảo in a survey of his own: Tuấn's buttons show Bảo his own question, not Tuấn's.
    await open_activity(api, bao)
    await bao.click(bao.last_message(), "Không")
    await api.wait_idle()
    assert "Lý do chính" in bao.last_message().text
    for data in foreign:
        shown = await press_stale(api, bao, data, bao.last_message())
        assert "Lý do chính" in shown.text and "hoạt động nào" not in shown.text
        named = {d.split(":")[1] for row in shown.callback_data for d in row if d}
        assert str(rid) not in named
    _, bao_answers = await answers_of(bot, "7106")
    assert bao_answers == {"participated": False}

    # Tuấn's survey is untouched: nothing ticked, not submitted, not stopped, still his.
    response, answers = await answers_of(bot, "7105")
    assert answers == {"participated": True}
    assert response.state == ResponseState.IN_PROGRESS and response.draft is None
    assert await active_response_of(bot, "7105") == rid
    await tuan.click(tuans, "▫️ Tham quan")
    await api.wait_idle()
    assert "☑️ Tham quan" in tuans.button_texts and "☑️ Văn nghệ" not in tuans.button_texts
