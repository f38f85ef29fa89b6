"""Members and officers on Zalo: the real app serving the fake Zalo Bot API (and Telegram's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.channels.telegram_replies import ReplySettings
from storage.db import Database
from storage.models import (
    Channel,
    ChatIdentity,
    ChatStage,
    Consent,
    Delivery,
    PendingLink,
    ResponseState,
)
from tests.fakebotapi import FakeBotAPI
from tests.fakezalo import FakeZaloAPI
from tests.flow import (
    RunningBoth,
    eventually,
    invite_code,
    link,
    link_zalo,
    reply_to,
    running_both,
    seed_sample,
)
from tests.test_flow_surveys import ACTIVITY_TITLE, answers_of, officer_launches_activity

MAI_ANH = "Lê Thị Mai Anh 0918 402 367"
TUAN = "Phạm Minh Tuấn, 0345271908"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as server:
        yield server


@pytest.fixture
async def both(
    api: FakeBotAPI, zalo: FakeZaloAPI, sqlite_db: Database
) -> AsyncIterator[RunningBoth]:
    """The flows on SQLite; what differs by database (the chat a person is written to, the
    consent rows) also runs on PostgreSQL (``on_every_database``)."""
    await seed_sample(sqlite_db)
    async with running_both(api, zalo, sqlite_db) as running:
        yield running


@pytest.fixture
async def on_every_database(
    api: FakeBotAPI, zalo: FakeZaloAPI, db: Database
) -> AsyncIterator[RunningBoth]:
    await seed_sample(db)
    async with running_both(api, zalo, db) as running:
        yield running


async def test_a_member_links_on_zalo_with_the_invite_code_name_and_phone(
    zalo: FakeZaloAPI, on_every_database: RunningBoth
) -> None:
    both = on_every_database
    tuan = zalo.user("z-tuan-01", "Tuấn")
    code = await invite_code(both.db, "DL-THPT-BTX")
    consent = await both.say(tuan, f"/start {code}")
    assert "91/2025/QH15" in consent
    assert "mã tài khoản Zalo" in consent and "z-tuan-01" in consent
    assert "<b>" not in consent  # plain text: Zalo shows no markup
    assert "1. ✅ Tôi đồng ý" in consent
    assert "Trả lời bằng cách gõ số: 1 hoặc 2." in consent
    assert "Phiên bản văn bản: 2026.12-zalo-2" in consent

    ask = await both.say(tuan, "đồng ý")
    assert "họ và tên đầy đủ cùng số điện thoại" in ask
    assert "Chia sẻ số điện thoại" not in ask

    linked = await both.say(tuan, TUAN)
    assert "Đã liên kết" in linked and "Phạm Minh Tuấn" in linked

    async with both.db.session() as session:
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == "z-tuan-01")
            )
        ).scalar_one()
        assert chat.channel == Channel.ZALO
        assert chat.stage == ChatStage.LINKED
        consents = list((await session.execute(select(Consent))).scalars())
        assert [(c.channel, c.text_version) for c in consents] == [(Channel.ZALO, "2026.12-zalo-2")]


async def test_a_name_that_does_not_match_the_phone_waits_for_an_officer(
    zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    stranger = zalo.user("z-someone", "Ai đó")
    code = await invite_code(both.db, "DL-THPT-BTX")
    await both.say(stranger, f"/start {code}")
    await both.say(stranger, "1")
    # Tuấn's phone with another name: the phone alone proves nothing.
    queued = await both.say(stranger, "Nguyễn Văn Khác 0345271908")
    assert "Đã liên kết" not in queued
    async with both.db.session() as session:
        pending = (await session.execute(select(PendingLink))).scalar_one()
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == "z-someone")
            )
        ).scalar_one()
    assert (pending.full_name, pending.phone) == ("Nguyễn Văn Khác", "+84345271908")
    assert chat.person_id is None and chat.stage == ChatStage.PENDING


async def test_without_an_invite_code_the_details_are_queued(
    zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    tuan = zalo.user("z-tuan-02", "Tuấn")
    await both.say(tuan, "/start")
    ask = await both.say(tuan, "1")
    assert "mã mời" in ask
    missing = await both.say(tuan, "Phạm Minh Tuấn")
    assert "Nguyễn Thị Lan 0912345678" in missing  # asked for the name with the phone
    await both.say(tuan, TUAN)
    async with both.db.session() as session:
        pending = (await session.execute(select(PendingLink))).scalar_one()
    assert pending.unit_id is None and pending.phone == "+84345271908"


async def test_mai_anh_links_and_reads_help(zalo: FakeZaloAPI, both: RunningBoth) -> None:
    mai = zalo.user("z-mai-anh", "Mai Anh")
    await link_zalo(both, mai, unit="DL-THPT-BTX", details=MAI_ANH)
    help_text = await both.say(mai, "/help")
    assert "/cases" in help_text


async def test_a_zalo_member_gets_the_invitation_and_answers_by_typing(
    api: FakeBotAPI, zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    tuan = zalo.user("z-tuan-03", "Tuấn")
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details=TUAN)
    await officer_launches_activity(api)  # Mai Anh, on Telegram
    # The invitation is sent by the outbox, on Tuấn's own channel, in words instead of a button.
    await eventually(lambda: any("📝 Khảo sát mới" in t for t in tuan.received))
    invitation = next(t for t in tuan.received if "📝 Khảo sát mới" in t)
    assert "Gõ /surveys để trả lời." in invitation

    offers = await both.say(tuan, "/surveys")
    assert "1. " in offers and ACTIVITY_TITLE in offers
    first = await both.say(tuan, "1")
    assert "Câu 1/" in first and "thầy/cô có tham gia" in first
    multi = await both.say(tuan, "có")
    assert "những hoạt động nào" in multi
    assert "Gõ các số, cách nhau bởi dấu phẩy" in multi
    numbers = {
        line.split(". ", 1)[1]: line.split(".", 1)[0]
        for line in multi.splitlines()
        if line[:1].isdigit() and ". " in line
    }
    times = await both.say(tuan, f"{numbers['▫️ Văn nghệ']}, {numbers['▫️ Tham quan']}")
    assert "bao nhiêu lần" in times
    # A question waiting for a number: its buttons are listed by name; "3" is the answer.
    assert "Gõ câu trả lời, hoặc gõ tên một lựa chọn ở trên." in times
    optional = await both.say(tuan, "3")
    assert "đề xuất" in optional
    summary = await both.say(tuan, "bỏ qua")
    assert "kiểm tra lại" in summary and "Văn nghệ, Tham quan" in summary
    done = await both.say(tuan, "gửi")
    assert "Đã ghi nhận" in done

    response, answers = await answers_of(both, "z-tuan-03")
    assert response.state == ResponseState.COMPLETED
    assert answers == {
        "participated": True,
        "activities": ["van_nghe", "tham_quan"],
        "times": 3,
        "suggestion": None,  # skipped
    }


async def test_a_notice_reaches_each_person_once_on_their_channel_and_is_acknowledged_by_typing(
    api: FakeBotAPI, zalo: FakeZaloAPI, on_every_database: RunningBoth
) -> None:
    both = on_every_database
    mai_anh = api.user(id=6101, first_name="Mai Anh", phone="0918402367")  # chair, on Telegram
    lam = api.user(id=6104, first_name="Lâm", phone="0357690218")  # staff, not a member
    nhung_tg = api.user(id=6103, first_name="Nhung", phone="0387556120")
    for person in (mai_anh, lam, nhung_tg):
        await link(api, person)
    tuan = zalo.user("z-tuan-04", "Tuấn")  # on Zalo only
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details=TUAN)
    nhung_zalo = zalo.user("z-nhung", "Nhung")  # on both: Zalo linked last
    await link_zalo(both, nhung_zalo, unit="DL-THPT-BTX", details="Võ Thị Hồng Nhung 0387556120")
    # ...and she chooses Telegram for the union's messages.
    chosen = await reply_to(api, nhung_tg, "/kenh")
    assert "qua Telegram" in chosen

    await mai_anh.send("/notice")
    await api.wait_idle()
    await mai_anh.send("Họp công đoàn tháng 12")
    await api.wait_idle()
    await mai_anh.send("Kính gửi <b>{{ ten }}</b>: họp lúc 14h thứ Sáu tại phòng hội đồng.")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "Bỏ qua")
    await api.wait_idle()
    audience = mai_anh.last_message()
    await mai_anh.click(audience, "▫️ Chỉ đoàn viên")
    await api.wait_idle()
    await mai_anh.click(audience, "Tiếp tục ➡️")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "📤 Gửi ngay")
    await api.wait_idle()
    preview = mai_anh.last_message()
    # 5 members in CĐCS Bùi Thị Xuân; Mai Anh, Tuấn and Nhung can be written to (Nhung once).
    assert "Tổng số: 5 người, gửi được: 3" in preview.text
    await mai_anh.click(preview, "✅ Xác nhận gửi")
    await api.wait_idle()

    await eventually(lambda: any("Họp công đoàn tháng 12" in t for t in tuan.received))
    await eventually(lambda: any("Họp công đoàn tháng 12" in m.text for m in nhung_tg.messages()))
    got = next(t for t in tuan.received if "Họp công đoàn tháng 12" in t)
    assert "Kính gửi Phạm Minh Tuấn" in got and "<b>" not in got
    assert 'gõ "đã nắm" để xác nhận' in got
    assert "bấm «Đã nắm» bên dưới" not in got  # Zalo shows no button to press
    on_telegram = next(m for m in nhung_tg.messages() if "Họp công đoàn tháng 12" in m.text)
    assert "bấm «Đã nắm» bên dưới" in on_telegram.text and on_telegram.buttons
    assert not any("Họp công đoàn" in t for t in nhung_zalo.received)  # once, on Telegram

    acknowledged = await both.say(tuan, "Đã nắm")
    assert "Họp công đoàn tháng 12" in acknowledged  # the toast, as a message

    async with both.db.session() as session:
        rows = list((await session.execute(select(Delivery))).scalars())
        people = {
            c.id: c.external_id for c in (await session.execute(select(ChatIdentity))).scalars()
        }
    assert len(rows) == 5
    by_chat = {people[r.chat_id]: r for r in rows if r.chat_id is not None}
    assert set(by_chat) == {"6101", "z-tuan-04", "6103"}
    assert by_chat["z-tuan-04"].channel == Channel.ZALO
    assert by_chat["6103"].channel == Channel.TELEGRAM
    assert by_chat["z-tuan-04"].acknowledged_at is not None
    assert sum(1 for r in rows if r.acknowledged_at is not None) == 1


async def test_stop_on_zalo_stops_notices_there(zalo: FakeZaloAPI, both: RunningBoth) -> None:
    tuan = zalo.user("z-tuan-05", "Tuấn")
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details=TUAN)
    stopped = await both.say(tuan, "/stop")
    assert "không nhận thông báo" in stopped
    async with both.db.session() as session:
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == "z-tuan-05")
            )
        ).scalar_one()
    assert chat.stopped
    again = await both.say(tuan, "/start")
    assert "Chào mừng" not in again  # linked already: welcome back, notices on again


async def test_an_officer_works_on_zalo_by_typing(zalo: FakeZaloAPI, both: RunningBoth) -> None:
    mai = zalo.user("z-mai-anh-2", "Mai Anh")
    await link_zalo(both, mai, unit="DL-THPT-BTX", details=MAI_ANH)
    # A newcomer not on the roster asks to be linked, on Zalo too.
    newcomer = zalo.user("z-newcomer", "Ngọc")
    code = await invite_code(both.db, "DL-THPT-BTX")
    await both.say(newcomer, f"/start {code}")
    await both.say(newcomer, "1")
    await both.say(newcomer, "Trần Bảo Ngọc 0912345678")

    pending = await both.say(mai, "/pending")
    assert "Trần Bảo Ngọc" in pending
    lines = [line for line in pending.splitlines() if line[:1].isdigit() and ". " in line]
    assert lines, pending
    member_choice = next(line for line in lines if "đoàn viên" in line.lower())
    confirmed = await both.say(mai, member_choice.split(".", 1)[0])
    assert "Trần Bảo Ngọc" in confirmed
    # The newcomer is told on their own chat, by the outbox.
    await eventually(lambda: any("xác nhận" in t for t in newcomer.received[-1:]))

    stats = await both.say(mai, "/stats")
    assert "A1" in stats or "Thông tin" in stats
    assert "<b>" not in stats
    cases = await both.say(mai, "/cases")
    assert cases.strip()
    notices = await both.say(mai, "/notices")
    assert notices.strip()
    report = await both.say(mai, "/report")
    assert "Zalo chưa cho bot gửi tệp" in report


async def test_a_reply_on_zalo_survives_a_429_a_5xx_and_a_hang(
    zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    tuan = zalo.user("z-tuan-06", "Tuấn")
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details=TUAN)
    assert both.app is not None and both.app.zalo is not None
    replies = both.app.zalo.runner.replies
    replies.settings = ReplySettings(timeout=1.0, backoff_base=0.05, backoff_max=0.2)
    # The first try is told to wait a second, the second gets a 502, the third hangs past the
    # reply's timeout; the fourth goes through.
    zalo.fail_next("sendMessage", 429, retry_after=1)
    zalo.fail_next("sendMessage", 502)
    zalo.hang_next("sendMessage", 2.0, after=2)
    before = len(zalo.calls_of("sendMessage"))
    help_text = await both.say(tuan, "/help")
    assert "/surveys" in help_text
    assert len(zalo.calls_of("sendMessage")) - before >= 4
    assert replies.stats.retried_429 >= 1 and replies.stats.retried_transient >= 2
    # The chat is not stuck behind the faults: the next message is answered at once.
    assert "/surveys" in await both.say(tuan, "/help")
