"""The dashboard's Chờ xác nhận page (bot/web/pages/pending.py) and the roster workbook, on the
sample province (tests.flow.seed_sample; the people are bot/sample/people.csv's).

Requests are made as a chat makes them (bot.services.onboarding): a Telegram chat opens the
invite link of CĐCS THCS Nguyễn Du (Đà Lạt), accepts the consent text and shares a phone that
no one of the roster has (Lò Văn Páo); another chat, with no invite link, types a name (Y Bhăm
Niê): a request with no unit, which only admins see.

Roster counts by hand: CĐCS THPT Bùi Thị Xuân's subtree holds 6 people (Lê Thị Mai Anh at the
CĐCS, Ngô Văn Lâm and Huỳnh Thị Thanh Thủy in tổ Ngữ văn, Đặng Quốc Bảo, Võ Thị Hồng Nhung and
Phạm Minh Tuấn in tổ Toán – Tin: units by name, then people by given name); the Đà Lạt
district union's, 16 (Trần Văn Hùng, 6 of Bùi Thị Xuân, 5 of Nguyễn Du, 4 of Hoa Mai).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from bot.services import onboarding
from bot.services.actors import load_actor
from storage import audit
from storage.db import Database
from storage.models import (
    AuditAction,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    PendingLink,
    PendingStatus,
    Person,
    Unit,
)
from tests.flow import seed_sample
from tests.webclient import (
    ADMIN_PHONE,
    DALAT_OFFICER_PHONE,
    Dashboard,
    dashboard,
    person_id,
)

BAO_LOC_OFFICER_PHONE = "0914 738 260"  # Nguyễn Văn Thành, chair of CĐCS THPT Bảo Lộc
NEWCOMER = "Lò Văn Páo"
NEWCOMER_PHONE = "0912 345 678"
UNASSIGNED = "Y Bhăm Niê"


@dataclass
class World:
    db: Database
    asked: int  # Lò Văn Páo's request (Nguyễn Du)
    asked_chat: int
    loose: int  # Y Bhăm Niê's request (no unit)
    loose_chat: int


async def _unit(db: Database, code: str) -> Unit:
    async with db.session() as session:
        found = await session.execute(select(Unit).where(col(Unit.code) == code))
        return found.scalar_one()


async def _request(db: Database, external_id: str, *, invite: str | None) -> tuple[int, int]:
    """A chat asks to be linked as the chat layer does it: /start (with the invite code of
    ``invite``), consent, then a contact no one has (with an invite) or a typed name."""
    async with db.session(write=True) as session:
        actor = await load_actor(
            session, channel=Channel.TELEGRAM, external_id=external_id, locale="vi"
        )
        await session.flush()
        code = None
        if invite is not None:
            unit = (
                await session.execute(select(Unit).where(col(Unit.code) == invite))
            ).scalar_one()
            code = unit.invite_code
        await onboarding.start(session, actor=actor, payload=code)
        version = onboarding.consent_version(Channel.TELEGRAM)
        await onboarding.decide_consent(session, actor=actor, accepted=True, version=version)
        if invite is not None:
            link = await onboarding.link_by_contact(
                session, actor=actor, phone=NEWCOMER_PHONE, own_contact=True, name=NEWCOMER
            )
        else:
            link = await onboarding.queue_by_name(session, actor=actor, full_name=UNASSIGNED)
        assert link.outcome == onboarding.LinkOutcome.QUEUED
        assert link.pending is not None and link.pending.id is not None
        return link.pending.id, actor.chat_id


@pytest.fixture
async def world(db: Database) -> World:
    await seed_sample(db)
    asked, asked_chat = await _request(db, "tg-9001", invite="DL-THCS-ND")
    loose, loose_chat = await _request(db, "tg-9002", invite=None)
    return World(db, asked, asked_chat, loose, loose_chat)


async def _page(d: Dashboard, path: str = "/cho-xac-nhan") -> str:
    response = await d.client.get(path)
    assert response.status == 200, await response.text()
    return await response.text()


async def _post(d: Dashboard, path: str, **data: str) -> str:
    """A form sent; where the redirect leads."""
    response = await d.client.post(path, data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


def _card(page: str, pending_id: int) -> str:
    return page.split(f'id="request-{pending_id}"', 1)[1].split("</article>", 1)[0]


async def _pending(db: Database, pending_id: int) -> PendingLink:
    async with db.session() as session:
        found = await session.get(PendingLink, pending_id)
    assert found is not None
    return found


async def _chat(db: Database, chat_id: int) -> ChatIdentity:
    async with db.session() as session:
        found = await session.get(ChatIdentity, chat_id)
    assert found is not None
    return found


async def _told(db: Database, chat_id: int) -> list[str]:
    """The messages queued in the outbox for the chat."""
    async with db.session() as session:
        found = await session.execute(
            select(Delivery).where(col(Delivery.chat_id) == chat_id).order_by(col(Delivery.id))
        )
        rows = list(found.scalars())
    assert all(r.kind == DeliveryKind.MESSAGE for r in rows)
    return [r.text for r in rows]


async def _audit(db: Database, action: AuditAction) -> list[audit.AuditRow]:
    async with db.session() as session:
        return await audit.rows(session, actions=[action])


async def test_an_officer_confirms_a_request_and_the_person_is_told(world: World) -> None:
    db = world.db
    hung = await person_id(db, DALAT_OFFICER_PHONE)
    wakes: list[None] = []
    async with dashboard(db) as d:
        d.context.wake_delivery = lambda: wakes.append(None)
        csrf = await d.sign_in(DALAT_OFFICER_PHONE)
        page = await _page(d)
        card = _card(page, world.asked)
        for shown in (NEWCOMER, NEWCOMER_PHONE, "CĐCS Trường THCS Nguyễn Du"):
            assert shown in card
        assert re.findall(r'name="action" value="(\w+)"', card) == ["member", "staff", "reject"]
        assert UNASSIGNED not in page  # no unit: the admins'

        done = await _post(d, f"/cho-xac-nhan/{world.asked}", csrf=csrf, action="member")
        assert done == "/cho-xac-nhan?done=confirmed"
        after = await _page(d, done)
        assert "✅ Đã xác nhận" in after
        assert NEWCOMER not in after and "Không có ai đang chờ xác nhận liên kết." in after

        again = await _post(d, f"/cho-xac-nhan/{world.asked}", csrf=csrf, action="staff")
        assert again == "/cho-xac-nhan?done=gone"
        assert "Yêu cầu này đã được xử lý trước đó." in await _page(d, again)
    chat = await _chat(db, world.asked_chat)
    assert chat.stage == ChatStage.LINKED and chat.person_id is not None
    async with db.session() as session:
        person = await session.get(Person, chat.person_id)
        assert person is not None
        unit = await session.get(Unit, person.unit_id)
    assert (person.full_name, person.phone, person.is_member) == (NEWCOMER, "+84912345678", True)
    assert unit is not None and unit.code == "DL-THCS-ND"
    pending = await _pending(db, world.asked)
    assert (pending.status, pending.resolved_by) == (PendingStatus.CONFIRMED, hung)
    # One message for the person (the second press told nobody), and the worker woken once.
    (told,) = await _told(db, world.asked_chat)
    assert "Cán bộ công đoàn đã xác nhận" in told and NEWCOMER in told
    assert len(wakes) == 1
    (row,) = await _audit(db, AuditAction.LINK_CONFIRMED)
    assert (row.actor_id, row.via, row.person_id) == (hung, "web", person.id)
    assert row.detail == {"pending": world.asked, "added": True}


async def test_the_admin_gives_a_request_its_unit_then_rejects_it(world: World) -> None:
    db = world.db
    admin = await person_id(db, ADMIN_PHONE)
    hoa_mai = await _unit(db, "DL-MN-HM")
    async with dashboard(db) as d:
        csrf = await d.sign_in(ADMIN_PHONE)
        page = await _page(d)
        card = _card(page, world.loose)
        assert UNASSIGNED in card and "Cần gán đơn vị cho yêu cầu này trước khi xác nhận." in card
        assert "Mã hoặc tên đơn vị" in card and 'name="unit"' in card
        assert re.findall(r'name="action" value="(\w+)"', card) == ["reject"]
        path = f"/cho-xac-nhan/{world.loose}"
        # Confirming first is refused: a unit is needed.
        assert await _post(d, path, csrf=csrf, action="member") == "/cho-xac-nhan?done=needs_unit"
        assert "Yêu cầu chưa có đơn vị" in await _page(d, "/cho-xac-nhan?done=needs_unit")
        not_found = await _post(d, path + "/don-vi", csrf=csrf, unit="Trường không có thật")
        assert not_found == "/cho-xac-nhan?done=unit_not_found"
        assert "Không tìm thấy đơn vị này" in await _page(d, not_found)
        assigned = await _post(d, path + "/don-vi", csrf=csrf, unit="dl-mn-hm")
        assert assigned == "/cho-xac-nhan?done=assigned"
        card = _card(await _page(d, assigned), world.loose)
        assert "CĐCS Trường Mầm non tư thục Hoa Mai" in card
        assert re.findall(r'name="action" value="(\w+)"', card) == ["member", "staff", "reject"]
        assert await _post(d, path, csrf=csrf, action="reject") == "/cho-xac-nhan?done=rejected"
        assert "❌ Đã từ chối yêu cầu liên kết" in await _page(d, "/cho-xac-nhan?done=rejected")
    pending = await _pending(db, world.loose)
    assert (pending.status, pending.unit_id) == (PendingStatus.REJECTED, hoa_mai.id)
    assert (await _chat(db, world.loose_chat)).stage == ChatStage.CONTACT
    (told,) = await _told(db, world.loose_chat)
    assert "chưa được xác nhận" in told
    (row,) = await _audit(db, AuditAction.LINK_REJECTED)
    assert (row.actor_id, row.via, row.unit_id) == (admin, "web", hoa_mai.id)
    assert await _audit(db, AuditAction.LINK_CONFIRMED) == []


async def test_requests_outside_the_officers_scope_are_not_theirs(world: World) -> None:
    db = world.db
    async with dashboard(db) as d:
        csrf = await d.sign_in(BAO_LOC_OFFICER_PHONE)
        page = await _page(d)
        assert NEWCOMER not in page and UNASSIGNED not in page
        path = f"/cho-xac-nhan/{world.asked}"
        assert await _post(d, path, csrf=csrf, action="member") == "/cho-xac-nhan?done=forbidden"
        assert "⛔ Yêu cầu này không thuộc đơn vị" in await _page(d, "/cho-xac-nhan?done=forbidden")
        # A request with no unit is the admins' to place.
        loose = f"/cho-xac-nhan/{world.loose}"
        assert await _post(d, loose, csrf=csrf, action="reject") == "/cho-xac-nhan?done=forbidden"
        assert await _post(d, loose + "/don-vi", csrf=csrf, unit="BL-THPT-BL") == (
            "/cho-xac-nhan?done=gone"
        )
    assert (await _pending(db, world.asked)).status == PendingStatus.PENDING
    loose_request = await _pending(db, world.loose)
    assert (loose_request.status, loose_request.unit_id) == (PendingStatus.PENDING, None)
    assert await _told(db, world.asked_chat) == []


async def test_a_form_without_the_csrf_token_is_refused(world: World) -> None:
    async with dashboard(world.db) as d:
        await d.sign_in(DALAT_OFFICER_PHONE)
        refused = await d.client.post(
            f"/cho-xac-nhan/{world.asked}", data={"action": "member"}, allow_redirects=False
        )
        assert refused.status == 403
        bad = await d.client.post(
            f"/cho-xac-nhan/{world.asked}",
            data={"csrf": await d.csrf(), "action": "maybe"},
            allow_redirects=False,
        )
        assert bad.status == 400
    assert (await _pending(world.db, world.asked)).status == PendingStatus.PENDING


def _rows(data: bytes) -> list[list[object]]:
    """The roster sheet's rows from its header (row 4: a title, a subtitle, a blank line)."""
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Danh sách"]
    sheet = book["Danh sách"]
    return [list(row) for row in sheet.iter_rows(min_row=4, values_only=True)]


async def test_the_roster_workbook_of_a_unit_in_scope(db: Database) -> None:
    await seed_sample(db)
    btx = await _unit(db, "DL-THPT-BTX")
    bao_loc = await _unit(db, "BL-THPT-BL")
    dalat = await _unit(db, "LD-DL")
    hung = await person_id(db, DALAT_OFFICER_PHONE)
    async with dashboard(db) as d:
        await d.sign_in(DALAT_OFFICER_PHONE)
        response = await d.client.get(f"/tai-ve/danh-sach.xlsx?unit={btx.id}")
        assert response.status == 200
        assert "danh-sach-DL-THPT-BTX-" in response.headers["Content-Disposition"]
        rows = _rows(await response.read())
        refused = await d.client.get(f"/tai-ve/danh-sach.xlsx?unit={bao_loc.id}")
        assert refused.status == 403
        whole = await d.client.get("/tai-ve/danh-sach.xlsx")  # his scope: the district
        assert whole.status == 200
        district = _rows(await whole.read())
    assert rows[0] == [
        "Mã đơn vị",
        "Đơn vị",
        "Họ và tên",
        "Số điện thoại",
        "Đoàn viên",
        "Vai trò",
        "Phụ trách đơn vị",
        "Trạng thái",
        "Ngày nghỉ",
        "Đã liên kết qua",
    ]
    assert [r[2] for r in rows[1:]] == [
        "Lê Thị Mai Anh",
        "Ngô Văn Lâm",
        "Huỳnh Thị Thanh Thủy",
        "Đặng Quốc Bảo",
        "Võ Thị Hồng Nhung",
        "Phạm Minh Tuấn",
    ]
    officer = "Cán bộ công đoàn"
    member = "Đoàn viên, người lao động (không có quyền cán bộ)"
    assert rows[1] == [
        "DL-THPT-BTX",
        "CĐCS Trường THPT Bùi Thị Xuân",
        "Lê Thị Mai Anh",
        "0918 402 367",
        "Có",
        officer,
        "CĐCS Trường THPT Bùi Thị Xuân",
        "Đang công tác",
        None,
        None,
    ]
    assert rows[2] == [
        "BTX-VAN",
        "Tổ công đoàn Ngữ văn",
        "Ngô Văn Lâm",
        "0357 690 218",
        "Không",
        member,
        None,
        "Đang công tác",
        None,
        None,
    ]
    assert len(district) - 1 == 16
    exports = await _audit(db, AuditAction.REPORT_EXPORTED)
    assert [(r.actor_id, r.via, r.unit_id, r.detail) for r in exports] == [
        (hung, "web", btx.id, {"what": "roster", "people": 6}),
        (hung, "web", dalat.id, {"what": "roster", "people": 16}),
    ]
