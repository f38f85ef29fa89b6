"""Notices end to end: an officer composes in chat, the outbox delivers, members acknowledge,
/notices counts, and A1 in /stats — figures worked out by hand."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Delivery, DeliveryStatus
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, link, reply_to


async def test_compose_send_acknowledge_and_count(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = api.user(id=6001, first_name="Mai Anh", phone="0918402367")  # chair, CĐCS BTX
    tuan = api.user(id=6002, first_name="Tuấn", phone="0345271908")
    nhung = api.user(id=6003, first_name="Nhung", phone="0387556120")
    lam = api.user(id=6004, first_name="Lâm", phone="0357690218")  # staff, not a member
    for person in (mai_anh, tuan, nhung, lam):
        await link(api, person)

    await mai_anh.send("/notice")
    await api.wait_idle()
    assert "tiêu đề" in mai_anh.last_message().text
    await mai_anh.send("Họp công đoàn tháng 12")
    await api.wait_idle()
    await mai_anh.send("Kính gửi <b>{{ ten }}</b>: họp lúc 14h thứ Sáu tại phòng hội đồng.")
    await api.wait_idle()
    assert "đính kèm" in mai_anh.last_message().text
    await mai_anh.click(mai_anh.last_message(), "Bỏ qua")
    await api.wait_idle()
    audience = mai_anh.last_message()
    assert "người nhận" in audience.text
    await mai_anh.click(audience, "▫️ Chỉ đoàn viên")
    await api.wait_idle()
    assert "Chỉ đoàn viên công đoàn" in audience.text
    await mai_anh.click(audience, "Tiếp tục ➡️")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "📤 Gửi ngay")
    await api.wait_idle()
    preview = mai_anh.last_message()
    # CĐCS Bùi Thị Xuân has 5 members (Lâm is not one); 3 of them have linked a chat.
    assert "Tổng số: 5 người, gửi được: 3" in preview.text
    assert "Kính gửi Lê Thị Mai Anh" in preview.text  # rendered for the author as a sample
    await mai_anh.click(preview, "✅ Xác nhận gửi")
    await api.wait_idle()
    await api.wait_idle(timeout=10, quiet=0.5)
    # The author is a member of the audience too: the confirmation, then her own copy.
    assert any("Đang gửi thông báo" in m.text for m in mai_anh.messages()[-2:])

    got = tuan.last_message()
    assert "Họp công đoàn tháng 12" in got.text
    assert "Kính gửi Phạm Minh Tuấn" in got.text
    assert "Họp công đoàn" not in lam.last_message().text
    await tuan.click(got, "✅ Đã nắm")
    await api.wait_idle()
    await tuan.press_raw(got.data_of("☑️ Đã nắm (đã ghi nhận)"), got)  # pressed again
    await tuan.press_raw("ak:999999", got)  # forged
    await api.wait_idle()
    # Nhung presses the button of Tuấn's delivery (a forwarded or forged press): nothing.
    tuan_delivery = got.data_of("☑️ Đã nắm (đã ghi nhận)")
    await nhung.press_raw(tuan_delivery, nhung.last_message())
    await api.wait_idle()

    async with bot.db.session() as session:
        rows = list((await session.execute(select(Delivery))).scalars())
    assert len(rows) == 5
    assert sorted(r.status for r in rows) == sorted(
        [DeliveryStatus.SENT] * 3 + [DeliveryStatus.UNREACHABLE] * 2
    )
    assert sum(1 for r in rows if r.acknowledged_at is not None) == 1

    await mai_anh.send("/notices")
    await api.wait_idle()
    listing = mai_anh.last_message()
    assert "5 người nhận · đã gửi 3 · đang chờ 0" in listing.text
    assert "Đã nắm: 1/3" in listing.text
    await mai_anh.click(listing, "🔎 Chi tiết #1")
    await api.wait_idle()
    shown = mai_anh.last_message()
    detail = shown.text
    # Delivered but not acknowledged: Mai Anh (CĐCS office) and Nhung (tổ Toán – Tin).
    assert "Chưa bấm «Đã nắm» (2 người):" in detail
    assert "Võ Thị Hồng Nhung" in detail and "Lê Thị Mai Anh" in detail
    assert "Phạm Minh Tuấn" not in detail.split("Chưa bấm")[1]

    # She reminds them by hand: Nhung gets the notice again, under a reminder line, with a
    # button that acknowledges the notice itself; a second press the same day reminds nobody.
    before = len(nhung.messages())
    await mai_anh.click(shown, "🔔 Nhắc người chưa nắm")
    await api.wait_idle()
    answer = str(mai_anh.last_callback_answer().get("text"))
    assert "Đã gửi lời nhắc tới 2 người chưa bấm «Đã nắm»" in answer
    await api.wait_idle(timeout=10, quiet=0.5)
    [reminder] = nhung.messages()[before:]
    assert reminder.text.startswith("🔔 Công đoàn nhắc: thầy/cô chưa xác nhận đã nắm")
    assert "họp lúc 14h thứ Sáu" in reminder.text
    await nhung.click(reminder, "✅ Đã nắm")
    await api.wait_idle()
    assert "☑️ Đã nắm (đã ghi nhận)" in reminder.buttons[0]
    await mai_anh.click(shown, "🔔 Nhắc người chưa nắm")
    await api.wait_idle()
    assert "Không còn ai để nhắc" in str(mai_anh.last_callback_answer().get("text"))

    await api.wait_idle(timeout=10, quiet=0.5)  # her own reminder has arrived
    stats = await reply_to(api, mai_anh, "/stats")
    # A1: members who acknowledged every notice delivered to them (Tuấn, and Nhung through the
    # reminder) of 5 members = 40%; coverage: 3 of the 5 members received it.
    assert "2/5 = 40%" in stats
    assert "3/5 đoàn viên đã nhận thông báo" in stats


async def test_member_cannot_compose_and_drafts_resume(api: FakeBotAPI, bot: RunningBot) -> None:
    tuan = api.user(id=6101, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    await tuan.send("/notice")
    await api.wait_idle()
    assert "dành cho cán bộ công đoàn" in tuan.last_message().text

    mai_anh = api.user(id=6102, first_name="Mai Anh", phone="0918402367")
    await link(api, mai_anh)
    await mai_anh.send("/notice")
    await api.wait_idle()
    await mai_anh.send("Tiêu đề thử")
    await api.wait_idle()
    await mai_anh.send("Nội dung <b>chưa đóng thẻ")
    await api.wait_idle()
    assert "chưa đúng định dạng HTML" in mai_anh.last_message().text
    await mai_anh.send("{{ ''.__class__.__mro__ }}")
    await api.wait_idle()
    assert "không được truy cập vào bên trong hệ thống" in mai_anh.last_message().text
    await mai_anh.send("{% for i in range(10**9) %}x{% endfor %}")
    await api.wait_idle()
    assert "Vòng lặp quá lớn" in mai_anh.last_message().text
    await bot.restart()
    await mai_anh.send("/notice")  # the draft survives a restart
    await api.wait_idle()
    assert "Bước 2/5" in mai_anh.last_message().text
    await mai_anh.click(mai_anh.last_message(), "✖️ Hủy bản thảo")
    await api.wait_idle()
    assert "Đã hủy bản thảo" in mai_anh.last_message().text
