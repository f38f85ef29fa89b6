"""Following a campaign up in chat: /campaigns, a campaign's detail by unit, a reminder by hand
that reaches the member with its answer button, and /digest off|on.

The sample province: CĐCS Trường THPT Bùi Thị Xuân holds its chair Lê Thị Mai Anh, and under
it Tổ Toán – Tin (Phạm Minh Tuấn, Võ Thị Hồng Nhung, Đặng Quốc Bảo) and Tổ Ngữ văn (Huỳnh Thị
Thanh Thủy, Ngô Văn Lâm): six people in her campaign's audience.  When she reminds by hand,
she and Tuấn (linked after the launch) are reachable; the other four never linked a chat.
"""

from __future__ import annotations

from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, eventually, link
from tests.test_flow_surveys import ACTIVITY_TITLE, officer_launches_activity


async def test_campaign_follow_up_and_reminder_by_hand(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = await officer_launches_activity(api)
    tuan = api.user(id=7002, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)

    await mai_anh.send("/campaigns")
    await api.wait_idle()
    listing = mai_anh.last_message()
    assert "📋 <b>Khảo sát theo đợt</b>" in listing.raw_text
    assert "Đã trả lời: 0/6 (0%)" in listing.text
    [detail_button] = listing.button_texts
    assert detail_button.startswith("🔎 Chi tiết #")

    await mai_anh.click(listing, detail_button)
    await api.wait_idle()
    detail = mai_anh.last_message()
    assert "Theo đơn vị (thấp nhất trước):" in detail.text
    for line in (
        "• CĐCS Trường THPT Bùi Thị Xuân: 0/1 (0%)",
        "• Tổ công đoàn Ngữ văn: 0/2 (0%)",
        "• Tổ công đoàn Toán – Tin: 0/3 (0%)",
    ):
        assert line in detail.text
    for name in ("Phạm Minh Tuấn", "Võ Thị Hồng Nhung", "Đặng Quốc Bảo", "Ngô Văn Lâm"):
        assert name in detail.text
    assert detail.button_texts == ["🔔 Nhắc người chưa trả lời"]

    await mai_anh.click(detail, "🔔 Nhắc người chưa trả lời")
    await api.wait_idle()
    answer = mai_anh.last_callback_answer()
    assert answer.get("text") == (
        "🔔 Đã gửi lời nhắc tới 2 người chưa trả lời.\n4 người chưa liên kết với bot hoặc đã "
        "ngừng nhận tin nên không nhận được; nhờ đồng chí nhắc trực tiếp."
    )
    # The reminder reaches Tuấn through the outbox, with the survey's button.
    await eventually(lambda: any("🔔 Công đoàn nhắc" in t for t in tuan.texts()))
    reminder = next(m for m in tuan.messages() if "🔔 Công đoàn nhắc" in m.text)
    assert reminder.button_texts == ["📝 Trả lời ngay"]
    await tuan.click(reminder, "📝 Trả lời ngay")
    await api.wait_idle()
    assert "Câu 1/" in tuan.last_message().text

    # A second press the same day reminds nobody again.
    await mai_anh.click(detail, "🔔 Nhắc người chưa trả lời")
    await api.wait_idle()
    assert "Không còn ai để nhắc" in str(mai_anh.last_callback_answer().get("text"))


async def test_digest_off_and_on(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = api.user(id=7001, first_name="Mai Anh", last_name="Lê Thị", phone="0918402367")
    await link(api, mai_anh)
    await mai_anh.send("/digest off")
    await api.wait_idle()
    assert "đã tắt" in mai_anh.last_message().text
    await mai_anh.send("/digest")
    await api.wait_idle()
    assert "đã tắt" in mai_anh.last_message().text and "/digest on" in mai_anh.last_message().text
    await mai_anh.send("/digest on")
    await api.wait_idle()
    assert "đang bật" in mai_anh.last_message().text


async def test_a_launch_over_an_open_run_leaves_its_people_to_it(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    """Mai Anh's CĐCS run asks her six people; the admin then launches the same survey to the
    whole province (40 people in the sample roster).  She is told that 6 are asked already and
    what happens; launching anyway asks the other 34, and Tuấn, in both audiences, has one
    entry for the survey in /surveys."""
    await officer_launches_activity(api)
    tuan = api.user(id=7002, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)
    thu_ha = api.user(id=7009, first_name="Thu Hà", last_name="Nguyễn Thị", phone="0913620145")
    await link(api, thu_ha)
    await thu_ha.send("/survey")
    await api.wait_idle()
    await thu_ha.click(thu_ha.last_message(), f"🚀 {ACTIVITY_TITLE}")
    await api.wait_idle()
    await thu_ha.click(thu_ha.last_message(), "14 ngày")
    await api.wait_idle()
    await thu_ha.click(thu_ha.last_message(), "Một lần")
    await api.wait_idle()
    warning = thu_ha.last_message()
    assert f"⚠️ «{ACTIVITY_TITLE}»: 6 người trong đối tượng đã được hỏi ở đợt khác" in warning.text
    assert "đang mở:\n• đợt của CĐCS Trường THPT Bùi Thị Xuân, hạn 17:00 " in warning.text
    assert ": 6 người\nMỗi người chỉ trả lời một lần" in warning.text
    assert "đợt mới chỉ hỏi 34 người còn lại" in warning.text
    assert warning.button_texts == ["🚀 Mở cho 34 người còn lại", "✖️ Thôi, không mở"]

    await thu_ha.click(warning, "🚀 Mở cho 34 người còn lại")
    await api.wait_idle()
    launched = next(t for t in thu_ha.texts() if "🚀 Đã mở khảo sát" in t)
    assert "Đối tượng: 34 người." in launched
    assert "6 người đã được hỏi ở đợt khác đang mở nên không hỏi lại" in launched

    await tuan.send("/surveys")
    await api.wait_idle()
    entries = [b for b in tuan.last_message().button_texts if ACTIVITY_TITLE in b]
    assert entries == [f"📝 {ACTIVITY_TITLE}"]


async def test_giving_up_a_launch_over_an_open_run_writes_nothing(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    await officer_launches_activity(api)
    thu_ha = api.user(id=7009, first_name="Thu Hà", last_name="Nguyễn Thị", phone="0913620145")
    await link(api, thu_ha)
    await thu_ha.send("/survey")
    await api.wait_idle()
    for button in (f"🚀 {ACTIVITY_TITLE}", "14 ngày", "Một lần", "✖️ Thôi, không mở"):
        await thu_ha.click(thu_ha.last_message(), button)
        await api.wait_idle()
    assert thu_ha.last_message().text == f"Đã thôi, không mở «{ACTIVITY_TITLE}»."
    await thu_ha.send("/campaigns")
    await api.wait_idle()
    assert thu_ha.last_message().text.count(ACTIVITY_TITLE) == 1  # Mai Anh's run only
