"""Withdrawal of consent end to end (issue 16): from the /privacy screen or /rutlai, on Telegram
and Zalo; after it nothing more is sent (a campaign reminder, a notice); /start consents
again.  And declining consent keeps nothing but the decision."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from storage import audit
from storage.db import Database
from storage.models import (
    AuditAction,
    CampaignTarget,
    Channel,
    ChatIdentity,
    Consent,
    ConsentDecision,
    Delivery,
    DeliveryKind,
    Person,
    Response,
    ResponseState,
)
from tests.fakebotapi import FakeBotAPI
from tests.fakezalo import FakeZaloAPI
from tests.flow import (
    RunningBot,
    RunningBoth,
    eventually,
    link,
    link_zalo,
    reply_to,
    running_both,
    seed_sample,
)
from tests.test_erasure import found_anywhere
from tests.test_flow_officer import answer_typed
from tests.test_flow_surveys import officer_launches_activity, open_activity

NOTICE_TITLE = "Họp công đoàn cuối năm"


async def _person(bot: RunningBot, phone: str) -> Person:
    async with bot.db.session() as session:
        return (
            await session.execute(select(Person).where(col(Person.phone) == phone))
        ).scalar_one()


async def test_after_withdrawal_nothing_more_is_sent_until_consent_again(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    mai_anh = await officer_launches_activity(api)  # 6 targets in CĐCS THPT Bùi Thị Xuân
    tuan = api.user(id=9202, first_name="Tuấn", phone="0345271908")
    nhung = api.user(id=9203, first_name="Nhung", phone="0387556120")
    await link(api, tuan)
    await link(api, nhung)
    await open_activity(api, tuan)
    await answer_typed(api, tuan, "có")  # a survey in progress

    # From the privacy screen: the button under the notice, then the confirmation.
    await tuan.send("/privacy")
    await api.wait_idle()
    privacy = tuan.last_message()
    assert privacy.button_texts == ["↩️ Rút lại sự đồng ý"]
    await tuan.click(privacy, "↩️ Rút lại sự đồng ý")
    await api.wait_idle()
    confirm = tuan.last_message()
    assert "Công đoàn vẫn giữ những gì pháp luật cho phép giữ" in confirm.text
    assert confirm.button_texts == ["↩️ Tôi rút lại sự đồng ý", "Thôi, giữ nguyên"]
    await tuan.click(confirm, "↩️ Tôi rút lại sự đồng ý")
    await api.wait_idle()
    assert "Đã ghi nhận việc thầy/cô rút lại sự đồng ý" in tuan.last_message().text
    again = await reply_to(api, tuan, "/rutlai")
    assert "đã rút lại sự đồng ý từ trước" in again

    person = await _person(bot, "+84345271908")
    assert person.consent_withdrawn_at is not None
    async with bot.db.session() as session:
        decisions = (
            await session.execute(
                select(col(Consent.decision))
                .where(col(Consent.person_id) == person.id)
                .order_by(col(Consent.id))
            )
        ).scalars()
        assert list(decisions) == [ConsentDecision.ACCEPTED, ConsentDecision.WITHDRAWN]
        response = (
            await session.execute(select(Response).where(col(Response.person_id) == person.id))
        ).scalar_one()
        assert response.state == ResponseState.ABANDONED
        targets = (
            await session.execute(
                select(func.count())
                .select_from(CampaignTarget)
                .where(col(CampaignTarget.person_id) == person.id)
            )
        ).scalar_one()
        assert targets == 0
        trail = await audit.rows(
            session, person_id=person.id, actions=[AuditAction.CONSENT_WITHDRAWN]
        )
        assert [(r.via, r.actor_id) for r in trail] == [("chat", person.id)]
    seen = len(tuan.messages())

    # The chair reminds those who have not answered: Mai Anh and Nhung, not Tuấn.
    await mai_anh.send("/campaigns")
    await api.wait_idle()
    listing = mai_anh.last_message()
    assert "Đã trả lời: 0/5 (0%)" in listing.text
    await mai_anh.click(listing, listing.button_texts[0])
    await api.wait_idle()
    detail = mai_anh.last_message()
    assert "Phạm Minh Tuấn" not in detail.text
    await mai_anh.click(detail, "🔔 Nhắc người chưa trả lời")
    await api.wait_idle()
    assert str(mai_anh.last_callback_answer().get("text")).startswith(
        "🔔 Đã gửi lời nhắc tới 2 người chưa trả lời.\n3 người chưa liên kết"
    )
    await eventually(lambda: any("🔔 Công đoàn nhắc" in t for t in nhung.texts()))

    # A notice to the school's members: Tuấn is not in its audience.
    await mai_anh.send("/notice")
    await api.wait_idle()
    await mai_anh.send(NOTICE_TITLE)
    await api.wait_idle()
    await mai_anh.send("Kính gửi {{ ten }}: họp lúc 14h thứ Sáu.")
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
    # 5 members, less Tuấn who withdrew; Mai Anh and Nhung have a chat.
    assert "Tổng số: 4 người, gửi được: 2" in preview.text
    await mai_anh.click(preview, "✅ Xác nhận gửi")
    await api.wait_idle()
    await eventually(lambda: any(NOTICE_TITLE in t for t in nhung.texts()))

    assert tuan.messages()[seen:] == []
    async with bot.db.session() as session:
        to_him = (
            await session.execute(
                select(col(Delivery.kind)).where(
                    col(Delivery.person_id) == person.id,
                    col(Delivery.kind).in_([DeliveryKind.NOTICE, DeliveryKind.REMINDER]),
                )
            )
        ).all()
        assert to_him == []

    # /start: the consent text again; agreeing ends the withdrawal.
    await tuan.send("/start")
    await api.wait_idle()
    assert "91/2025/QH15" in tuan.last_message().text
    await tuan.click(tuan.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    assert "Cảm ơn thầy/cô đã đồng ý lại" in tuan.last_message().text
    assert (await _person(bot, "+84345271908")).consent_withdrawn_at is None


async def test_declining_keeps_only_the_decision(api: FakeBotAPI, bot: RunningBot) -> None:
    xuyen = api.user(id=9301, first_name="Xuyến", last_name="Lạc Khả", username="xuyen_kha_77")
    await xuyen.send("/start")
    await api.wait_idle()
    await xuyen.click(xuyen.last_message(), "Không đồng ý")
    await api.wait_idle()
    assert "Thầy/cô đã không đồng ý" in xuyen.last_message().text
    async with bot.db.session() as session:
        assert (
            await session.execute(select(func.count()).select_from(ChatIdentity))
        ).scalar_one() == 0
        consent = (await session.execute(select(Consent))).scalar_one()
        assert (consent.decision, consent.external_id, consent.person_id) == (
            ConsentDecision.DECLINED,
            "9301",
            None,
        )
        assert await found_anywhere(session, ["Xuyến", "xuyen_kha_77", "Lạc Khả"]) == []
    # /privacy from the same account says what it decided (the consent row is the proof).
    await xuyen.send("/privacy")
    await api.wait_idle()
    assert "Thầy/cô đã không đồng ý" in xuyen.last_message().text
    # Changing their mind: consent asked again, as for anyone new.
    await xuyen.send("/start")
    await api.wait_idle()
    await xuyen.click(xuyen.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    assert "Cảm ơn thầy/cô đã đồng ý" in xuyen.messages()[-2].text


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as server:
        yield server


@pytest.fixture
async def both(api: FakeBotAPI, zalo: FakeZaloAPI, db: Database) -> AsyncIterator[RunningBoth]:
    await seed_sample(db)
    async with running_both(api, zalo, db) as running:
        yield running


async def test_withdrawal_and_consent_again_on_zalo(zalo: FakeZaloAPI, both: RunningBoth) -> None:
    nhung = zalo.user("z-nhung-01", "Nhung")
    await link_zalo(both, nhung, unit="DL-THPT-BTX", details="Võ Thị Hồng Nhung 0387556120")
    ask = await both.say(nhung, "/rutlai")
    assert "1. ↩️ Tôi rút lại sự đồng ý" in ask
    done = await both.say(nhung, "1")
    assert "Đã ghi nhận việc thầy/cô rút lại sự đồng ý" in done
    async with both.db.session() as session:
        consent = (
            await session.execute(
                select(Consent).where(col(Consent.decision) == ConsentDecision.WITHDRAWN)
            )
        ).scalar_one()
        assert (consent.channel, consent.external_id) == (Channel.ZALO, "z-nhung-01")
        assert consent.text_version == "2026.12-zalo-2"
    consent_text = await both.say(nhung, "/start")
    assert "91/2025/QH15" in consent_text
    agreed = await both.say(nhung, "1")
    assert "Cảm ơn thầy/cô đã đồng ý lại" in agreed
    async with both.db.session() as session:
        person = (
            await session.execute(select(Person).where(col(Person.phone) == "+84387556120"))
        ).scalar_one()
        assert person.consent_withdrawn_at is None


async def test_a_chat_not_linked_yet_is_forgotten_on_withdrawal(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    hoa = api.user(id=9501, first_name="Thoả", last_name="Ừng", username="hoa_nv_1990")
    await hoa.send("/start")
    await api.wait_idle()
    await hoa.click(hoa.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    # Changes her mind about erasing: nothing happens.
    await hoa.send("/xoadulieu")
    await api.wait_idle()
    await hoa.click(hoa.last_message(), "Thôi, giữ nguyên")
    await api.wait_idle()
    assert "Đã giữ nguyên, không có gì thay đổi." in hoa.last_message().text
    async with bot.db.session() as session:
        assert (
            await session.execute(select(func.count()).select_from(ChatIdentity))
        ).scalar_one() == 1
    await hoa.send("/rutlai")
    await api.wait_idle()
    await hoa.click(hoa.last_message(), "↩️ Tôi rút lại sự đồng ý")
    await api.wait_idle()
    assert "Tài khoản này chưa được liên kết với hồ sơ đoàn viên" in hoa.last_message().text
    async with bot.db.session() as session:
        assert (
            await session.execute(select(func.count()).select_from(ChatIdentity))
        ).scalar_one() == 0
        decisions = (
            await session.execute(select(col(Consent.decision)).order_by(col(Consent.id)))
        ).scalars()
        assert list(decisions) == [ConsentDecision.ACCEPTED, ConsentDecision.WITHDRAWN]
        assert await found_anywhere(session, ["Thoả", "Ừng", "hoa_nv_1990"]) == []
