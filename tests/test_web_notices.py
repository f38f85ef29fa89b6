"""The dashboard's Thông báo pages on the sample province: the list with its counts, one notice
(counts, reasons in Vietnamese, by unit, who has not acknowledged with phones, the reminder by
hand), the download, and what the Đà Lạt officer may not reach.

The notice: written by Nguyễn Văn Thành, chair of CĐCS Trường THPT Bảo Lộc (district of Bảo
Lộc, outside Đà Lạt's), to his whole CĐCS: 6 recipients.  Everyone but Châu Thị Diễm has a
linked Telegram chat, so confirming writes 5 queued deliveries and Diễm's unreachable
(never linked).  Then, by hand: Thành, Thảo, Vinh and Linh are sent, Hiếu's send failed
(the worker gave up on a timeout), Thảo acknowledges.  Counts: 6 recipients, 4 sent, 1 failed,
1 unreachable, 1 acknowledged: 1/4 = 25%.  Not acknowledged, in Vietnamese name order: Cao
Thị Mỹ Linh, Nguyễn Văn Thành, Lâm Quang Vinh; all three linked, so a reminder by hand writes
3 queued reminders.  A second notice, a draft, has sent nothing: its rate is "—".
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.notices.service import ConfirmOutcome, confirm, create_draft
from bot.services.actors import Actor, web_actor
from storage import audit, people
from storage import notices as notice_store
from storage.db import Database
from storage.models import (
    AuditAction,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Unit,
    utcnow,
)
from surveys.phone import normalize_phone
from tests.flow import seed_sample
from tests.webclient import ADMIN_PHONE, DALAT_OFFICER_PHONE, Dashboard, dashboard

UNIT = "BL-THPT-BL"
UNIT_NAME = "CĐCS Trường THPT Bảo Lộc"
TITLE = "Họp công đoàn tháng 12"
DRAFT_TITLE = "Kế hoạch hội thao"
PHONES = {
    "thanh": "0914 738 260",  # Nguyễn Văn Thành, the CĐCS chair: the author
    "thao": "0962 418 537",
    "vinh": "0365 902 184",
    "linh": "0817 263 940",
    "hieu": "0986 571 302",
    "diem": "0328 146 759",  # never linked
}
NAMES = {
    "thanh": "Nguyễn Văn Thành",
    "thao": "Trần Thị Phương Thảo",
    "vinh": "Lâm Quang Vinh",
    "linh": "Cao Thị Mỹ Linh",
    "hieu": "Tạ Đức Hiếu",
    "diem": "Châu Thị Diễm",
}
NOT_ACKNOWLEDGED = ["linh", "thanh", "vinh"]  # Vietnamese name order


@dataclass
class World:
    unit_id: int = 0
    admin_id: int = 0
    notice_id: int = 0
    draft_id: int = 0
    people: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)


async def _person_id(s: AsyncSession, phone: str) -> int:
    normalized = normalize_phone(phone)
    assert normalized is not None
    person = await people.person_by_phone(s, phone=normalized)
    assert person is not None and person.id is not None
    return person.id


async def _author(s: AsyncSession, w: World) -> Actor:
    actor = await web_actor(s, person_id=w.people["thanh"], locale="vi")
    assert actor is not None
    return actor


async def scene(d: Dashboard) -> World:
    """The sample province and the two notices of the module doc."""
    db, tz = d.context.db, d.context.tz
    await seed_sample(db)
    w = World()
    now = utcnow()
    async with db.session() as s:
        unit = (await s.execute(select(Unit).where(col(Unit.code) == UNIT))).scalar_one()
        assert unit.id is not None
        w.unit_id = unit.id
        w.admin_id = await _person_id(s, ADMIN_PHONE)
        for key, phone in PHONES.items():
            w.people[key] = await _person_id(s, phone)
            if key != "diem":
                s.add(
                    ChatIdentity(
                        channel=Channel.TELEGRAM,
                        external_id=f"tg-{key}",
                        person_id=w.people[key],
                        stage=ChatStage.LINKED,
                    )
                )
    async with db.session() as s:
        author = await _author(s, w)
        notice = await create_draft(s, actor=author, title=TITLE, body="Họp lúc 14h.", tz=tz)
        draft = await create_draft(s, actor=author, title=DRAFT_TITLE, body="Sắp có.", tz=tz)
        assert notice.id is not None and draft.id is not None
        w.notice_id, w.draft_id = notice.id, draft.id
    async with db.session() as s:
        done = await confirm(
            s, actor=await _author(s, w), notice_id=w.notice_id, now=now, tz=tz, default_locale="vi"
        )
    assert (done.outcome, done.queued, done.unreachable) == (ConfirmOutcome.QUEUED, 5, 1)
    async with db.session() as s:
        rows = (
            await s.execute(select(Delivery).where(col(Delivery.notice_id) == w.notice_id))
        ).scalars()
        by_person = {v: k for k, v in w.people.items()}
        w.deliveries = {by_person[r.person_id or 0]: r.id or 0 for r in rows}
        for key in ("thanh", "thao", "vinh", "linh"):
            await s.execute(
                update(Delivery)
                .where(col(Delivery.id) == w.deliveries[key])
                .values(status=DeliveryStatus.SENT, sent_at=now)
            )
        await s.execute(
            update(Delivery)
            .where(col(Delivery.id) == w.deliveries["hieu"])
            .values(status=DeliveryStatus.FAILED, error="gave up after 5 attempts: timeout")
        )
        acked = await notice_store.acknowledge(
            s, delivery_id=w.deliveries["thao"], person_id=w.people["thao"], now=now
        )
        assert acked.outcome == notice_store.ACKNOWLEDGED
    return w


def row_of(html: str, marker: str) -> str:
    """The table row of a page that holds ``marker``."""
    at = html.index(marker)
    return html[html.rindex("<tr>", 0, at) : html.index("</tr>", at)]


def cells(row: str) -> list[list[str]]:
    """The words of each data cell of a row, tags left out."""
    found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [re.sub(r"<[^>]+>", " ", c).split() for c in found]


async def reminders(db: Database) -> list[tuple[int, str]]:
    async with db.session() as s:
        found = (
            await s.execute(
                select(col(Delivery.person_id), col(Delivery.status)).where(
                    col(Delivery.kind) == DeliveryKind.REMINDER
                )
            )
        ).all()
    return sorted((int(p or 0), str(st)) for p, st in found)


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


async def test_list_shows_the_counts_and_no_rate_when_nothing_was_sent(db: Database) -> None:
    async with dashboard(db) as d:
        w = await scene(d)
        await d.sign_in(ADMIN_PHONE)
        got = await d.client.get("/thong-bao")
        assert got.status == 200
        html = await got.text()
        sent = row_of(html, TITLE)
        assert f'href="/thong-bao/{w.notice_id}"' in sent
        # recipients, sent, failed, unreachable, acknowledged (rate, then acks/sent)
        assert cells(sent)[2:] == [["6"], ["4"], ["1"], ["1"], ["25%", "1/4"]]
        draft = row_of(html, DRAFT_TITLE)
        assert "Bản nháp" in draft
        assert cells(draft)[2:] == [["0"], ["0"], ["0"], ["0"], ["—"]]
        assert "%" not in draft


async def test_detail_shows_counts_reasons_units_and_who_has_not_acknowledged(
    db: Database,
) -> None:
    async with dashboard(db) as d:
        w = await scene(d)
        await d.sign_in(ADMIN_PHONE)
        got = await d.client.get(f"/thong-bao/{w.notice_id}")
        assert got.status == 200
        html = await got.text()
        assert f"<h1>{TITLE}</h1>" in html and NAMES["thanh"] in html  # the author
        # recipients, sent, pending, failed, unreachable, withdrawn, acknowledged
        totals = row_of(html, '<td class="num">6</td>')
        assert cells(totals) == [["6"], ["4"], ["0"], ["1"], ["1"], ["0"], ["25%", "1/4"]]
        failed = row_of(html, "Lỗi mạng hoặc máy chủ kéo dài")
        assert "Lỗi khi gửi" in failed and cells(failed)[-1] == ["1"]
        unreachable = row_of(html, "Chưa liên kết với bot")
        assert "Không gửi được" in unreachable and cells(unreachable)[-1] == ["1"]
        unit = row_of(html, f'<th scope="row">{UNIT_NAME}</th>')
        assert cells(unit) == [["6"], ["4"], ["1"], ["1"], ["25%", "1/4"]]

        waiting = html[html.index('id="chua-nam"') :]
        assert "(3 người)" in waiting
        positions = [waiting.index(NAMES[k]) for k in NOT_ACKNOWLEDGED]
        assert positions == sorted(positions)
        for key in NOT_ACKNOWLEDGED:
            assert f">{PHONES[key]}</a>" in waiting
        for key in ("thao", "hieu", "diem"):
            assert NAMES[key] not in waiting
        assert f'action="/thong-bao/{w.notice_id}/nhac"' in waiting
        assert f'href="/tai-ve/thong-bao/{w.notice_id}/chua-nam.xlsx"' in waiting


async def test_remind_once_a_day_not_for_a_draft_and_csrf(db: Database) -> None:
    woken: list[int] = []
    async with dashboard(db) as d:
        d.context.wake_delivery = lambda: woken.append(1)
        w = await scene(d)
        csrf = await d.sign_in(ADMIN_PHONE)
        path = f"/thong-bao/{w.notice_id}/nhac"

        refused = await d.client.post(path, data={"csrf": "forged"}, allow_redirects=False)
        assert refused.status == 403
        assert await reminders(db) == []

        first = await d.client.post(path, data={"csrf": csrf}, allow_redirects=False)
        assert first.status == 303
        told = query_of(first.headers["Location"])
        assert told["nhac"] == ["sent"] and told["n"] == ["3"] and "u" not in told
        assert woken == [1]
        assert await reminders(db) == sorted((w.people[k], "queued") for k in NOT_ACKNOWLEDGED)
        shown = await (await d.client.get(first.headers["Location"])).text()
        assert (
            "Đã gửi lời nhắc tới 3 người chưa bấm «Đã nắm»." in shown
            or "Đã hẹn nhắc 3 người lúc" in shown  # during quiet hours
        )

        second = await d.client.post(path, data={"csrf": csrf}, allow_redirects=False)
        assert query_of(second.headers["Location"]) == {"nhac": ["nobody"]}
        assert (
            "Không còn ai để nhắc" in await (await d.client.get(second.headers["Location"])).text()
        )
        assert woken == [1] and len(await reminders(db)) == 3

        draft = await d.client.post(
            f"/thong-bao/{w.draft_id}/nhac", data={"csrf": csrf}, allow_redirects=False
        )
        assert query_of(draft.headers["Location"]) == {"nhac": ["not_sent"]}
        assert "chưa được gửi đi" in await (await d.client.get(draft.headers["Location"])).text()


async def test_download_of_who_has_not_acknowledged_is_audited(db: Database) -> None:
    async with dashboard(db) as d:
        w = await scene(d)
        await d.sign_in(ADMIN_PHONE)
        got = await d.client.get(f"/tai-ve/thong-bao/{w.notice_id}/chua-nam.xlsx")
        assert got.status == 200
        assert f"thong-bao-{w.notice_id}-chua-nam.xlsx" in got.headers["Content-Disposition"]
        sheet = load_workbook(io.BytesIO(await got.read())).active
        assert sheet is not None
        assert TITLE in str(sheet["A1"].value)
        table = [tuple(r) for r in sheet.iter_rows(min_row=4, values_only=True)]
        assert table[0] == ("Đơn vị", "Họ và tên", "Số điện thoại", "Nhận lúc")
        assert [r[:3] for r in table[1:]] == [
            (UNIT_NAME, NAMES[k], PHONES[k]) for k in NOT_ACKNOWLEDGED
        ]
        assert all(isinstance(r[3], dt.datetime) for r in table[1:])
        async with db.session() as s:
            trail = await audit.rows(s, actions=[AuditAction.REPORT_EXPORTED])
        assert [(r.via, r.actor_id, r.unit_id, r.detail) for r in trail] == [
            (
                "web",
                w.admin_id,
                w.unit_id,
                {"what": "notice_unacknowledged", "notice": w.notice_id, "rows": 3},
            )
        ]


async def test_the_dalat_officer_cannot_reach_another_districts_notice(db: Database) -> None:
    async with dashboard(db) as d:
        w = await scene(d)
        csrf = await d.sign_in(DALAT_OFFICER_PHONE)
        listing = await (await d.client.get("/thong-bao")).text()
        assert TITLE not in listing and DRAFT_TITLE not in listing
        for path in (
            f"/thong-bao/{w.notice_id}",
            f"/tai-ve/thong-bao/{w.notice_id}/chua-nam.xlsx",
        ):
            got = await d.client.get(path)
            assert got.status in (403, 404), path
            assert NAMES["linh"] not in await got.text()
        post = await d.client.post(
            f"/thong-bao/{w.notice_id}/nhac", data={"csrf": csrf}, allow_redirects=False
        )
        assert post.status in (403, 404)
        assert await reminders(db) == []
        assert (await d.client.get("/thong-bao/999999")).status == 404
        async with db.session() as s:
            assert await audit.rows(s, actions=[AuditAction.REPORT_EXPORTED]) == []
