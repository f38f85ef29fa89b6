"""Each act on personal data leaves exactly one audit row, in the act's own transaction, with
the ids it concerns and no personal data in its detail (storage.audit)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlmodel import col

from bot.notices.audience import Audience
from bot.notices.service import ConfirmOutcome, confirm
from bot.roster import import_roster, sample_paths
from bot.services import onboarding, roles
from bot.services.actors import load_actor
from bot.services.consent import ZALO_ID_PLACEHOLDER, stored_text
from bot.services.onboarding import ZALO_CONSENT_VERSION
from storage import audit, chats
from storage.audit import AuditRow
from storage.db import Database
from storage.models import AuditAction, Channel, ChatStage, Consent, Notice, Person, Role, Unit
from tests.fakebotapi import FakeBotAPI
from tests.fakezalo import FakeZaloAPI
from tests.flow import RunningBot, RunningBoth, link, link_zalo, local_today, reply_to
from tests.test_flow_zalo import both, zalo  # noqa: F401
from tests.test_notices import LOCALE, NOW, TZ, Province, _draft, province  # noqa: F401
from tests.test_officer_news import World, build

#: b1's name and phone in the worlds below: never in an audit row's detail.
B1_NAME, B1_PHONE = "Phạm Minh Tuấn", "+84345271908"


async def trail(db: Database, *actions: AuditAction) -> list[AuditRow]:
    async with db.session() as s:
        return await audit.rows(s, actions=actions)


def no_personal_data(row: AuditRow, *texts: str) -> bool:
    """Neither the texts nor their digits alone (a phone as typed) are in the detail."""
    detail = json.dumps(row.detail, ensure_ascii=False)
    digits = [t.lstrip("+") for t in texts if t.lstrip("+").isdigit()]
    return not any(t in detail for t in (*texts, *digits, *(d[2:] for d in digits)))


async def named_world(db: Database) -> World:
    """The news world (units P > D > A, B; admin pa, officers od of D and oa of A, member b1
    of B), with b1 given a real name and phone."""
    w = await build(db)
    async with db.session() as s:
        b1 = await s.get(Person, w.people["b1"])
        assert b1 is not None
        b1.full_name, b1.phone = B1_NAME, B1_PHONE
    return w


# --------------------------------------------------------------------------- roles


async def test_a_role_change_in_chat_is_one_row(db: Database) -> None:
    w = await named_world(db)
    async with db.session() as s:
        admin = await load_actor(s, channel=Channel.TELEGRAM, external_id="tg-pa", locale="vi")
        change = await roles.set_role(
            s, actor=admin, phone="0345 271 908", role="officer", unit_code="A"
        )
        assert change.outcome == roles.RoleOutcome.SET
    async with db.session() as s:  # the same again changes nothing: no row
        admin = await load_actor(s, channel=Channel.TELEGRAM, external_id="tg-pa", locale="vi")
        again = await roles.set_role(
            s, actor=admin, phone="0345271908", role="officer", unit_code="A"
        )
        assert again.outcome == roles.RoleOutcome.SET
    [row] = await trail(db)
    assert row.action == AuditAction.ROLE_CHANGED and row.via == "chat"
    assert (row.actor_id, row.person_id, row.unit_id, row.case_id) == (
        w.people["pa"],
        w.people["b1"],
        w.units["A"],
        None,
    )
    assert row.detail == {"from": "member", "to": "officer", "unit": w.units["A"]}
    assert no_personal_data(row, B1_NAME, B1_PHONE)


async def test_a_roster_import_records_itself_and_the_roles_it_gives(
    db: Database, tmp_path: Path
) -> None:
    """The sample roster: 14 units, 40 people, of whom 7 officers or admins (Thu Hà admin;
    Hùng, Mai Anh, Bùi Thị Lan, Thành, Phùng Thị Hương, Trọng officers)."""
    units_file, people_file = sample_paths()
    async with db.session() as s:
        dry = await import_roster(s, [units_file, people_file], today=local_today(), dry_run=True)
        assert not dry.errors
    assert await trail(db) == []  # a dry run writes nothing, not even its trail
    async with db.session() as s:
        await import_roster(s, [units_file, people_file], today=local_today())
    [imported] = await trail(db, AuditAction.ROSTER_IMPORTED)
    assert (imported.via, imported.actor_id, imported.person_id, imported.unit_id) == (
        "cli",
        None,
        None,
        None,
    )
    assert imported.detail == {
        "units_created": 14,
        "units_updated": 0,
        "people_created": 40,
        "people_updated": 0,
        "bad_rows": 0,
    }
    given = await trail(db, AuditAction.ROLE_CHANGED)
    async with db.session() as s:
        officers = {
            p.id: p
            for p in (await s.execute(select(Person).where(col(Person.role) != "member"))).scalars()
        }
    assert len(officers) == 7
    assert sorted(r.person_id or 0 for r in given) == sorted(k or 0 for k in officers)
    for row in given:
        person = officers[row.person_id or 0]
        assert row.via == "cli" and row.actor_id is None
        assert row.detail == {
            "from": None,
            "to": person.role.value,
            "unit": person.officer_unit_id,
        }
        assert row.unit_id == person.officer_unit_id
        assert no_personal_data(row, person.full_name, person.phone or "")

    # Tuấn, a member, made an officer: one more import row, one role row.
    rows = list(csv.reader(people_file.read_text(encoding="utf-8-sig").splitlines()))
    tuan = next(r for r in rows if r[0] == "Phạm Minh Tuấn")
    tuan[6] = "Cán bộ công đoàn"
    changed = tmp_path / "people.csv"
    with changed.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    async with db.session() as s:
        await import_roster(s, [units_file, changed], today=local_today())
    first, second = await trail(db, AuditAction.ROSTER_IMPORTED)
    assert second.detail == {
        "units_created": 0,
        "units_updated": 0,
        "people_created": 0,
        "people_updated": 1,
        "bad_rows": 0,
    }
    async with db.session() as s:
        person = (
            await s.execute(select(Person).where(col(Person.full_name) == "Phạm Minh Tuấn"))
        ).scalar_one()
    # recorded as the people are written, before the import's own row
    [row] = [r for r in await trail(db, AuditAction.ROLE_CHANGED) if r.id > first.id]
    assert row.person_id == person.id and row.id < second.id
    # An officer without "Phụ trách đơn vị" answers for their own unit.
    assert row.detail == {"from": "member", "to": "officer", "unit": person.unit_id}
    assert no_personal_data(row, person.full_name, person.phone or "")


# --------------------------------------------------------------------------- links


async def _queue(db: Database, external_id: str, unit_id: int, phone: str | None) -> int:
    async with db.session() as s:
        actor = await load_actor(s, channel=Channel.TELEGRAM, external_id=external_id, locale="vi")
        actor.chat.stage = ChatStage.PENDING
        await s.flush()
        pending = await chats.queue_pending(
            s, chat=actor.chat, full_name="Đoàn Thị Như Ý", phone=phone, unit_id=unit_id
        )
        assert pending.id is not None
        return pending.id


async def test_an_officer_confirming_or_rejecting_a_link_is_one_row_each(db: Database) -> None:
    w = await named_world(db)
    confirmed_id = await _queue(db, "tg-new-1", w.units["A"], "+84977000111")
    rejected_id = await _queue(db, "tg-new-2", w.units["A"], None)
    async with db.session() as s:
        officer = await load_actor(s, channel=Channel.TELEGRAM, external_id="tg-oa", locale="vi")
        done = await onboarding.resolve(
            s, actor=officer, pending_id=confirmed_id, action=onboarding.ResolveAction.MEMBER
        )
        assert done.outcome == onboarding.ResolveOutcome.CONFIRMED and done.person is not None
        new_person = done.person.id
        no = await onboarding.resolve(
            s, actor=officer, pending_id=rejected_id, action=onboarding.ResolveAction.REJECT
        )
        assert no.outcome == onboarding.ResolveOutcome.REJECTED
    confirmed, rejected = await trail(db)
    assert confirmed.action == AuditAction.LINK_CONFIRMED and confirmed.via == "chat"
    assert (confirmed.actor_id, confirmed.person_id, confirmed.unit_id) == (
        w.people["oa"],
        new_person,
        w.units["A"],
    )
    assert confirmed.detail == {"pending": confirmed_id, "added": True}
    assert rejected.action == AuditAction.LINK_REJECTED and rejected.via == "chat"
    assert (rejected.actor_id, rejected.person_id, rejected.unit_id) == (
        w.people["oa"],
        None,
        w.units["A"],
    )
    assert rejected.detail == {"pending": rejected_id}
    for row in (confirmed, rejected):
        assert no_personal_data(row, "Đoàn Thị Như Ý", "+84977000111")


async def test_links_the_bot_makes_itself_say_how(db: Database) -> None:
    """By the member's own contact (Telegram), and by typed details matching an invite
    (Zalo): the bot's own decision, no actor."""
    w = await named_world(db)
    async with db.session() as s:
        tg = await load_actor(s, channel=Channel.TELEGRAM, external_id="tg-b1-new", locale="vi")
        tg.chat.stage = ChatStage.CONTACT
        by_contact = await onboarding.link_by_contact(
            s, actor=tg, phone="0345271908", own_contact=True, name="Tuấn"
        )
        assert by_contact.outcome == onboarding.LinkOutcome.LINKED
        zalo = await load_actor(s, channel=Channel.ZALO, external_id="z-b1", locale="vi")
        zalo.chat.stage = ChatStage.CONTACT
        zalo.chat.invite_unit_id = w.units["D"]
        by_details = await onboarding.link_by_details(
            s, actor=zalo, text="pham minh tuan 0345 271 908"
        )
        assert by_details.outcome == onboarding.LinkOutcome.LINKED
    contact, details = await trail(db)
    for row, by in ((contact, "contact"), (details, "details")):
        assert row.action == AuditAction.LINK_CONFIRMED and row.via == "system"
        assert (row.actor_id, row.person_id, row.unit_id) == (None, w.people["b1"], w.units["B"])
        assert row.detail == {"by": by}
        assert no_personal_data(row, B1_NAME, B1_PHONE)


# --------------------------------------------------------------------------- notices


async def test_a_notice_queued_for_delivery_is_one_row(
    db: Database,
    province: Province,  # noqa: F811
) -> None:
    p = province
    notice_id = await _draft(db, p, audience=Audience(members_only=True))
    for _ in range(2):  # a double press writes nothing again
        async with db.session() as s:
            done = await confirm(
                s,
                actor=p.actor("o1", "DL"),
                notice_id=notice_id,
                now=NOW,
                tz=TZ,
                default_locale=LOCALE,
            )
            assert done.outcome in (ConfirmOutcome.QUEUED, ConfirmOutcome.ALREADY)
    [row] = await trail(db)
    async with db.session() as s:
        notice = await s.get(Notice, notice_id)
        assert notice is not None
    assert row.action == AuditAction.NOTICE_SENT and row.via == "chat"
    assert (row.actor_id, row.person_id, row.unit_id) == (p.pid("o1"), None, notice.scope_unit_id)
    # DL members: o1 a1 t1 t2 reachable; a2 stopped, b1 blocked (tests/test_notices.py)
    assert row.detail == {"notice": notice_id, "recipients": 6, "queued": 4}
    for person in p.people.values():
        assert no_personal_data(row, person.full_name)


# --------------------------------------------------------------------------- /report


async def test_report_in_chat_is_one_row(api: FakeBotAPI, bot: RunningBot) -> None:
    mai_anh = api.user(id=7001, first_name="Mai Anh", last_name="Lê Thị", phone="0918402367")
    await link(api, mai_anh)
    await mai_anh.send("/report")
    await api.wait_idle()
    assert mai_anh.messages()[-2].kind == "document"
    [row] = await trail(bot.db, AuditAction.REPORT_EXPORTED)
    async with bot.db.session() as s:
        person = (
            await s.execute(select(Person).where(col(Person.phone) == "+84918402367"))
        ).scalar_one()
        unit = (await s.execute(select(Unit).where(col(Unit.code) == "DL-THPT-BTX"))).scalar_one()
    assert row.via == "chat"
    assert (row.actor_id, row.person_id, row.unit_id) == (person.id, None, unit.id)
    assert row.detail == {"year": dt.datetime.now(bot.settings.tz).year, "format": "xlsx"}


# --------------------------------------------------------------------------- /audit


async def test_admins_export_the_trail_in_chat(api: FakeBotAPI, bot: RunningBot) -> None:
    """The sample import left 8 rows (7 roles given, the import); Thu Hà (the province's
    admin) linking by her contact makes 9.  Her export is the 10th."""
    thu_ha = api.user(id=7002, first_name="Thu Hà", last_name="Nguyễn Thị", phone="0913620145")
    await link(api, thu_ha)
    await thu_ha.send("/audit")
    await api.wait_idle()
    sent = thu_ha.last_message()
    assert sent.kind == "document" and sent.file is not None
    assert "🗂 Nhật ký xử lý dữ liệu cá nhân: 9 dòng." in sent.text  # the caption, as text
    assert sent.file.filename.startswith("nhat-ky-du-lieu-") and sent.file.filename.endswith(
        ".xlsx"
    )
    rows = list(load_workbook(io.BytesIO(sent.file.data))["Nhật ký"].iter_rows(values_only=True))
    assert rows[0] == (
        "#",
        "Lúc",
        "Việc đã làm",
        "Qua",
        "Người thực hiện",
        "Người có dữ liệu",
        "Trường hợp số",
        "Mã đơn vị",
        "Chi tiết (mã số, số lượng)",
    )
    assert [r[2] for r in rows[1:]] == ["Đổi quyền"] * 7 + [
        "Nhập danh sách đoàn viên",
        "Xác nhận liên kết",
    ]
    [exported] = await trail(bot.db, AuditAction.REPORT_EXPORTED)
    async with bot.db.session() as s:
        her = (
            await s.execute(select(Person).where(col(Person.phone) == "+84913620145"))
        ).scalar_one()
    assert rows[9][3:6] == ("bot tự động", None, f"Nguyễn Thị Thu Hà #{her.id}")
    assert (exported.via, exported.actor_id, exported.person_id) == ("chat", her.id, None)
    assert exported.detail == {"kind": "audit", "format": "xlsx", "rows": 9}

    usage = await reply_to(api, thu_ha, "/audit hôm qua")
    assert "Cách dùng: /audit" in usage
    tomorrow = dt.datetime.now(bot.settings.tz).date() + dt.timedelta(days=1)
    empty = await reply_to(api, thu_ha, f"/audit {tomorrow:%d/%m/%Y}")
    assert f"Nhật ký chưa có dòng nào từ ngày {tomorrow:%d/%m/%Y}." in empty
    assert len(await trail(bot.db, AuditAction.REPORT_EXPORTED)) == 1  # nothing sent: no row


async def test_on_zalo_audit_says_no_file_and_the_zalo_wording_is_stored(
    zalo: FakeZaloAPI,  # noqa: F811
    both: RunningBoth,  # noqa: F811
) -> None:
    """Zalo sends no files: /audit says where to get the trail, and records nothing.  The
    consent given on Zalo names the Zalo version, whose wording is stored."""
    mai = zalo.user("z-mai-anh", "Mai Anh")
    await link_zalo(both, mai, unit="DL-THPT-BTX", details="Lê Thị Mai Anh 0918 402 367")
    async with both.db.session() as s:  # made an admin (the province's has no invite link)
        await s.execute(
            update(Person).where(col(Person.phone) == "+84918402367").values(role=Role.ADMIN)
        )
    answer = await both.say(mai, "/audit")
    assert "Zalo chưa cho bot gửi tệp" in answer and "congdoan audit" in answer
    assert await trail(both.db, AuditAction.REPORT_EXPORTED) == []
    [linked] = await trail(both.db, AuditAction.LINK_CONFIRMED)
    assert (linked.via, linked.detail) == ("system", {"by": "details"})
    async with both.db.session() as s:
        [decision] = (await s.execute(select(Consent))).scalars()
        assert decision.text_version == ZALO_CONSENT_VERSION
        for locale in ("vi", "en"):
            stored = await stored_text(s, version=ZALO_CONSENT_VERSION, locale=locale)
            assert stored is not None and ZALO_ID_PLACEHOLDER in stored
