"""The right of correction in chat: a member asks (/suadulieu or the button under /dulieu),
the officers of their CĐCS get it through the outbox, one press applies it, the member is told;
refusals (another CĐCS, a member, a second press, a phone that is someone else's, the member's
own request), and the same on Zalo with the district's officer deciding."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.services import erasure
from handlers.callbacks import CorrectionDecideCb
from storage import audit
from storage.db import Database
from storage.models import (
    AuditAction,
    CorrectionRequest,
    CorrectionStatus,
    Person,
    Unit,
)
from tests.fakebotapi import FakeBotAPI, FakeUser
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
from tests.test_flow_officer import open_form


async def person(db: Database, full_name: str) -> Person:
    async with db.session() as session:
        return (
            await session.execute(select(Person).where(col(Person.full_name) == full_name))
        ).scalar_one()


async def requests(db: Database) -> list[CorrectionRequest]:
    async with db.session() as session:
        stmt = select(CorrectionRequest).order_by(col(CorrectionRequest.id))
        return list((await session.execute(stmt)).scalars())


def has_text(user: FakeUser, text: str) -> bool:
    return any(text in m.text for m in user.messages())


async def test_a_member_corrects_their_phone_and_the_chairs_press_applies_it(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    mai_anh = api.user(id=7001, first_name="Mai Anh", phone="0918402367")  # chair, CĐCS BTX
    await link(api, mai_anh)
    lan = api.user(id=7101, first_name="Lan", phone="0935274681")  # chair of another CĐCS
    await link(api, lan)
    tuan = api.user(id=7002, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)

    await tuan.send("/dulieu")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "✏️ Sửa họ tên, số điện thoại, đơn vị")
    await api.wait_idle()
    chooser = tuan.last_message()
    assert "Số điện thoại: 0345 271 908" in chooser.text
    assert chooser.button_texts == ["Họ và tên", "Số điện thoại", "Đơn vị", "✖️ Thôi, không sửa"]
    await tuan.click(chooser, "Số điện thoại")
    await api.wait_idle()
    assert "Số điện thoại hiện tại: 0345 271 908" in tuan.last_message().text
    # A waiting request is no request yet: officers do not see it.
    assert await reply_to(api, mai_anh, "/corrections") == (
        "Không có đề nghị sửa dữ liệu nào đang chờ xác nhận."
    )

    refused = await reply_to(api, tuan, "0912 abc")
    assert "Số điện thoại này không hợp lệ" in refused
    same = await reply_to(api, tuan, "0345 271 908")
    assert "đúng như vậy rồi (0345 271 908)" in same
    sent = await reply_to(api, tuan, "0912 345 678")
    assert (
        "Đã gửi đề nghị sửa Số điện thoại: 0345 271 908 → 0912 345 678. "
        "Cán bộ CĐCS Trường THPT Bùi Thị Xuân sẽ xác nhận" in sent
    )
    (request,) = await requests(bot.db)
    assert (request.field, request.old_value, request.new_value) == (
        "phone",
        "+84345271908",
        "+84912345678",
    )
    assert request.status == CorrectionStatus.PENDING

    # The chair is told through the outbox; the other CĐCS's chair is not.
    await eventually(lambda: has_text(mai_anh, f"Đề nghị sửa dữ liệu #{request.id}"))
    note = next(m for m in mai_anh.messages() if "Đề nghị sửa dữ liệu" in m.text)
    assert "Phạm Minh Tuấn (Tổ công đoàn Toán – Tin)" in note.text
    assert "0345 271 908 → 0912 345 678" in note.text and "/corrections" in note.text
    assert not has_text(lan, "Đề nghị sửa dữ liệu")

    # Refusals: the chair of another CĐCS, the member himself (not an officer).
    press = CorrectionDecideCb(id=request.id or 0, ok=True).pack()
    await lan.press_raw(press)
    await api.wait_idle()
    assert "thuộc đơn vị thầy/cô không phụ trách" in lan.last_callback_answer()["text"]
    await tuan.press_raw(press)
    await api.wait_idle()
    assert "thuộc đơn vị thầy/cô không phụ trách" in tuan.last_callback_answer()["text"]
    assert (await person(bot.db, "Phạm Minh Tuấn")).phone == "+84345271908"
    assert "⛔ Lệnh này dành cho cán bộ" in await reply_to(api, tuan, "/corrections")
    # The other CĐCS's chair does not see it in her list either.
    assert "Không có đề nghị sửa dữ liệu nào" in await reply_to(api, lan, "/corrections")

    # The chair's list and her press.
    await mai_anh.send("/corrections")
    await api.wait_idle()
    item = mai_anh.last_message()
    assert f"Đề nghị #{request.id} · Phạm Minh Tuấn" in item.text
    assert item.button_texts == ["✅ Xác nhận", "❌ Từ chối"]
    await mai_anh.click(item, "✅ Xác nhận")
    await api.wait_idle()
    assert item.text == (
        "✅ Đã sửa Số điện thoại của Phạm Minh Tuấn thành «0912 345 678». "
        "Đoàn viên được báo kết quả."
    )
    assert item.buttons == []
    changed = await person(bot.db, "Phạm Minh Tuấn")
    assert changed.phone == "+84912345678"
    (request,) = await requests(bot.db)
    chair = await person(bot.db, "Lê Thị Mai Anh")
    assert request.status == CorrectionStatus.CONFIRMED
    assert request.decided_by == chair.id and request.decided_at is not None
    await eventually(lambda: has_text(tuan, "đã xác nhận đề nghị sửa Số điện thoại"))
    assert "danh sách đoàn viên nay ghi «0912 345 678»" in tuan.last_message().text

    # A second press changes nothing more.
    await mai_anh.press_raw(press, item)
    await api.wait_idle()
    assert "đã được xử lý rồi" in mai_anh.last_callback_answer()["text"]
    assert (await requests(bot.db))[0].decided_at == request.decided_at
    assert api.unanswered_callbacks() == []

    async with bot.db.session() as session:
        trail = await audit.rows(
            session,
            actions=[AuditAction.CORRECTION_REQUESTED, AuditAction.CORRECTION_DECIDED],
        )
    assert [(r.action, r.actor_id, r.person_id, r.detail) for r in trail] == [
        (
            AuditAction.CORRECTION_REQUESTED,
            changed.id,
            changed.id,
            {"field": "phone", "request": request.id},
        ),
        (
            AuditAction.CORRECTION_DECIDED,
            chair.id,
            changed.id,
            {"field": "phone", "status": "confirmed", "request": request.id},
        ),
    ]


async def test_a_phone_that_is_someone_elses_is_refused_to_the_officer(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    mai_anh = api.user(id=7001, first_name="Mai Anh", phone="0918402367")
    await link(api, mai_anh)
    nhung = api.user(id=7003, first_name="Nhung", phone="0387556120")
    await link(api, nhung)
    await nhung.send("/suadulieu")
    await api.wait_idle()
    await nhung.click(nhung.last_message(), "Số điện thoại")
    await api.wait_idle()
    # Bảo's number: the member is not told whose it is (nobody can probe the roster).
    sent = await reply_to(api, nhung, "0868 304 771")
    assert "Đã gửi đề nghị sửa Số điện thoại" in sent

    await mai_anh.send("/corrections")
    await api.wait_idle()
    item = mai_anh.last_message()
    await mai_anh.click(item, "✅ Xác nhận")
    await api.wait_idle()
    answer = mai_anh.last_callback_answer()
    assert "số 0868 304 771 đã là số của một người khác" in answer["text"]
    assert answer.get("show_alert") is True
    assert item.button_texts == ["✅ Xác nhận", "❌ Từ chối"]  # still to decide
    assert (await person(bot.db, "Võ Thị Hồng Nhung")).phone == "+84387556120"
    (request,) = await requests(bot.db)
    assert request.status == CorrectionStatus.PENDING

    await mai_anh.click(item, "❌ Từ chối")
    await api.wait_idle()
    assert "Đã từ chối đề nghị sửa Số điện thoại của Võ Thị Hồng Nhung" in item.text
    assert (await person(bot.db, "Võ Thị Hồng Nhung")).phone == "+84387556120"
    assert (await requests(bot.db))[0].status == CorrectionStatus.REJECTED
    await eventually(lambda: has_text(nhung, "chưa chấp nhận đề nghị sửa Số điện thoại"))

    # An officer's own request is decided by someone else.
    await mai_anh.send("/suadulieu")
    await api.wait_idle()
    await mai_anh.click(mai_anh.last_message(), "Họ và tên")
    await api.wait_idle()
    await reply_to(api, mai_anh, "Lê Thị Mai Anh Thư")
    own = next(r for r in await requests(bot.db) if r.field == "full_name")
    await mai_anh.press_raw(CorrectionDecideCb(id=own.id or 0, ok=True).pack())
    await api.wait_idle()
    assert "đề nghị của chính thầy/cô" in mai_anh.last_callback_answer()["text"]
    assert (await person(bot.db, "Lê Thị Mai Anh")).full_name == "Lê Thị Mai Anh"


async def test_cancel_and_a_survey_end_the_wait_for_a_value(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    tuan = api.user(id=7002, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    await tuan.send("/suadulieu")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "Họ và tên")
    await api.wait_idle()
    assert await reply_to(api, tuan, "/cancel") == "Đã thôi, không sửa thông tin nào."
    assert await requests(bot.db) == []
    # With nothing waiting, /cancel is the member router's again.
    assert await reply_to(api, tuan, "/cancel") == "Không có thao tác nào đang làm dở."
    assert "Xin chào mọi người" not in await reply_to(api, tuan, "Xin chào mọi người")
    assert await requests(bot.db) == []

    # A field chosen, then a survey opened: the typed text is the survey's answer.
    await tuan.send("/suadulieu")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "Họ và tên")
    await api.wait_idle()
    assert len(await requests(bot.db)) == 1
    await open_form(api, tuan, "Báo cáo hoàn cảnh khó khăn")
    await tuan.click(tuan.last_message(), "Của một đồng nghiệp")
    await api.wait_idle()
    answered = await reply_to(api, tuan, "Đặng Quốc Bảo")
    assert "Số điện thoại của đồng nghiệp" in answered
    assert "Đã gửi đề nghị" not in answered
    assert await requests(bot.db) == []


async def test_a_request_of_a_member_erased_meanwhile_is_not_applied(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    """The member asks, then is erased (on paper, by the operator) before the chair presses:
    the press changes nothing, and nothing of theirs is written back on the erased record."""
    mai_anh = api.user(id=7001, first_name="Mai Anh", phone="0918402367")
    await link(api, mai_anh)
    tuan = api.user(id=7002, first_name="Tuấn", phone="0345271908")
    await link(api, tuan)
    await tuan.send("/suadulieu")
    await api.wait_idle()
    await tuan.click(tuan.last_message(), "Họ và tên")
    await api.wait_idle()
    await reply_to(api, tuan, "Phạm Minh Tuân")
    await eventually(lambda: has_text(mai_anh, "Đề nghị sửa dữ liệu"))
    await mai_anh.send("/corrections")
    await api.wait_idle()
    item = mai_anh.last_message()
    tuan_id = (await person(bot.db, "Phạm Minh Tuấn")).id
    assert tuan_id is not None
    async with bot.db.session(write=True) as session:
        assert await erasure.erase_person(session, person_id=tuan_id, actor_id=None, via="cli")

    await mai_anh.click(item, "✅ Xác nhận")
    await api.wait_idle()
    assert "đã được xử lý rồi" in mai_anh.last_callback_answer()["text"]
    async with bot.db.session() as session:
        erased = await session.get(Person, tuan_id)
        assert erased is not None
        assert erased.erased_at is not None and erased.full_name != "Phạm Minh Tuân"
        decided = await audit.rows(session, actions=[AuditAction.CORRECTION_DECIDED])
    assert decided == []


# -- Zalo ----------------------------------------------------------------------------------------


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as server:
        yield server


@pytest.fixture
async def both(
    api: FakeBotAPI, zalo: FakeZaloAPI, sqlite_db: Database
) -> AsyncIterator[RunningBoth]:
    await seed_sample(sqlite_db)
    async with running_both(api, zalo, sqlite_db) as running:
        yield running


async def test_on_zalo_name_and_unit_go_to_the_district_when_the_cdcs_has_nobody(
    api: FakeBotAPI, zalo: FakeZaloAPI, both: RunningBoth
) -> None:
    # Nobody of CĐCS Bùi Thị Xuân is linked: the district's officer gets the requests.
    hung = api.user(id=7201, first_name="Hùng", phone="0903118274")
    await link(api, hung)
    tuan = zalo.user("z-tuan-01", "Tuấn")
    await link_zalo(both, tuan, unit="DL-THPT-BTX", details="Phạm Minh Tuấn, 0345271908")

    chooser = await both.say(tuan, "/suadulieu")
    assert "1. Họ và tên" in chooser and "2. Số điện thoại" in chooser and "3. Đơn vị" in chooser
    ask = await both.say(tuan, "1")
    assert "Họ và tên hiện tại: Phạm Minh Tuấn" in ask
    assert "Họ và tên cần có ít nhất hai chữ" in await both.say(tuan, "Tuân")
    sent = await both.say(tuan, "Phạm Minh Tuân")
    assert "Đã gửi đề nghị sửa Họ và tên: Phạm Minh Tuấn → Phạm Minh Tuân" in sent

    await both.say(tuan, "/suadulieu")
    ask = await both.say(tuan, "3")
    assert "thuộc Công đoàn Giáo dục thành phố Đà Lạt" in ask
    missing = await both.say(tuan, "Trường Bảo Lộc")
    assert "Không tìm thấy đơn vị «Trường Bảo Lộc»" in missing
    sent = await both.say(tuan, "ngu van")
    assert "Đã gửi đề nghị sửa Đơn vị: Tổ công đoàn Toán – Tin → Tổ công đoàn Ngữ văn" in sent

    await eventually(lambda: sum("Đề nghị sửa dữ liệu" in m.text for m in hung.messages()) == 2)
    await hung.send("/corrections")
    await api.wait_idle()
    name_item, unit_item = hung.messages()[-2:]
    assert "Phạm Minh Tuấn → Phạm Minh Tuân" in name_item.text
    assert "Tổ công đoàn Toán – Tin → Tổ công đoàn Ngữ văn" in unit_item.text
    await hung.click(unit_item, "✅ Xác nhận")
    await api.wait_idle()
    await hung.click(name_item, "✅ Xác nhận")
    await api.wait_idle()

    changed = await person(both.db, "Phạm Minh Tuân")
    async with both.db.session() as session:
        van = (await session.execute(select(Unit).where(col(Unit.code) == "BTX-VAN"))).scalar_one()
    assert changed.unit_id == van.id
    assert changed.phone == "+84345271908"
    await eventually(lambda: sum("đã xác nhận đề nghị" in t for t in tuan.received) == 2)
