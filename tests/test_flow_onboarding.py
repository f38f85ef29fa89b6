"""Onboarding through the real Dispatcher and Bot against the fake Bot API."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from storage.models import ChatIdentity, ChatStage, Consent, ConsentDecision, PendingLink
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot


async def test_member_links_by_sharing_contact(api: FakeBotAPI, bot: RunningBot) -> None:
    tuan = api.user(id=5001, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await tuan.send("/start")
    await api.wait_idle()
    consent = tuan.last_message()
    assert "91/2025/QH15" in consent.text
    assert "nhạy cảm" in consent.text
    await tuan.click(consent, "✅ Tôi đồng ý")
    await api.wait_idle()
    ask = tuan.last_message()
    assert ask.requests_contact
    await tuan.share_contact()
    await api.wait_idle()
    linked = tuan.last_message()
    assert "Phạm Minh Tuấn" in linked.text
    assert "Đã liên kết" in linked.text

    async with bot.db.session() as session:
        chat = (
            await session.execute(
                select(ChatIdentity).where(col(ChatIdentity.external_id) == "5001")
            )
        ).scalar_one()
        assert chat.stage == ChatStage.LINKED
        consents = list((await session.execute(select(Consent))).scalars())
        assert [c.decision for c in consents] == [ConsentDecision.ACCEPTED]
        assert consents[0].person_id == chat.person_id


async def test_declining_stores_only_the_refusal(api: FakeBotAPI, bot: RunningBot) -> None:
    lan = api.user(id=5002, first_name="Lan")
    await lan.send("/start")
    await api.wait_idle()
    await lan.click(lan.last_message(), "Không đồng ý")
    await api.wait_idle()
    assert "không đồng ý" in lan.last_message().text.lower()
    async with bot.db.session() as session:
        consents = list((await session.execute(select(Consent))).scalars())
        assert [(c.decision, c.person_id) for c in consents] == [(ConsentDecision.DECLINED, None)]
        pending = (await session.execute(select(func.count()).select_from(PendingLink))).scalar()
        assert pending == 0
