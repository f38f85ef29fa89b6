"""Members and officers on Zalo: the real app serving the fake Zalo Bot API (and Telegram's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlmodel import col

from storage.db import Database
from storage.models import Channel, ChatIdentity, ChatStage, Consent, PendingLink
from tests.fakebotapi import FakeBotAPI
from tests.fakezalo import FakeZaloAPI
from tests.flow import RunningBoth, invite_code, link_zalo, running_both, seed_sample

MAI_ANH = "Lê Thị Mai Anh 0918 402 367"
TUAN = "Phạm Minh Tuấn, 0345271908"


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as server:
        yield server


@pytest.fixture
async def both(api: FakeBotAPI, zalo: FakeZaloAPI, db: Database) -> AsyncIterator[RunningBoth]:
    await seed_sample(db)
    async with running_both(api, zalo, db) as running:
        yield running


async def test_a_member_links_on_zalo_with_the_invite_code_name_and_phone(
    zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    tuan = zalo.user("z-tuan-01", "Tuấn")
    code = await invite_code(both.db, "DL-THPT-BTX")
    consent = await both.say(tuan, f"/start {code}")
    assert "91/2025/QH15" in consent
    assert "mã tài khoản Zalo" in consent and "z-tuan-01" in consent
    assert "<b>" not in consent  # plain text: Zalo shows no markup
    assert "1. ✅ Tôi đồng ý" in consent
    assert "Trả lời bằng cách gõ số: 1 hoặc 2." in consent
    assert "Phiên bản văn bản: 2026.12-zalo-1" in consent

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
        assert [(c.channel, c.text_version) for c in consents] == [(Channel.ZALO, "2026.12-zalo-1")]


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
