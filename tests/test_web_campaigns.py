"""The dashboard's Khảo sát pages on the sample province: the list, one campaign (rate, who has
not answered with phones, the reminder by hand), the two downloads, and what the Đà Lạt
officer may not reach.

The campaign (launched by the admin for CĐCS Trường THPT Bảo Lộc, in the district of Bảo Lộc:
outside Đà Lạt's) asks its 6 people.  By hand:

- Trần Thị Phương Thảo completed (participated: yes, activities: Văn nghệ and Tham quan,
  times: 4, suggestion given); Lâm Quang Vinh started and did not finish; the other four have
  not begun: 1/6 done = 16,7%;
- not answered, by name in Vietnamese order (given name first): Châu Thị Diễm, Tạ Đức Hiếu,
  Cao Thị Mỹ Linh, Nguyễn Văn Thành, Lâm Quang Vinh (Trần Thị Phương Thảo sorts between
  Thành and Vinh in the full list);
- Vinh and Linh have a linked Telegram chat, the others none: a reminder by hand writes 2
  queued and 3 unreachable (Diễm, Hiếu, Thành).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.campaigns import service
from bot.notices.audience import Audience
from bot.services.actors import web_actor
from bot.services.conversation import Conversation, SurveyRegistry
from storage import audit, people
from storage import surveys as survey_store
from storage.db import Database
from storage.models import (
    AuditAction,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    Unit,
    utcnow,
)
from surveys.loader import definition_checksum, definition_to_json
from surveys.phone import normalize_phone
from tests.flow import seed_sample
from tests.webclient import ADMIN_PHONE, DALAT_OFFICER_PHONE, Dashboard, dashboard

ACTIVITY = "activity_participation"
ACTIVITY_TITLE = "Tham gia hoạt động văn hóa, thể thao, tham quan, nghỉ mát"
UNIT = "BL-THPT-BL"
UNIT_NAME = "CĐCS Trường THPT Bảo Lộc"
PHONES = {
    "thanh": "0914 738 260",  # Nguyễn Văn Thành, the CĐCS chair
    "thao": "0962 418 537",  # Trần Thị Phương Thảo
    "vinh": "0365 902 184",  # Lâm Quang Vinh
    "linh": "0817 263 940",  # Cao Thị Mỹ Linh
    "hieu": "0986 571 302",  # Tạ Đức Hiếu
    "diem": "0328 146 759",  # Châu Thị Diễm
}
NAMES = {
    "thanh": "Nguyễn Văn Thành",
    "thao": "Trần Thị Phương Thảo",
    "vinh": "Lâm Quang Vinh",
    "linh": "Cao Thị Mỹ Linh",
    "hieu": "Tạ Đức Hiếu",
    "diem": "Châu Thị Diễm",
}
NOT_ANSWERED = ["diem", "hieu", "linh", "thanh", "vinh"]  # Vietnamese name order


@dataclass
class World:
    unit_id: int = 0
    admin_id: int = 0
    people: dict[str, int] = field(default_factory=dict)


async def _person_id(s: AsyncSession, phone: str) -> int:
    normalized = normalize_phone(phone)
    assert normalized is not None
    person = await people.person_by_phone(s, phone=normalized)
    assert person is not None and person.id is not None
    return person.id


async def build(db: Database) -> World:
    """The sample province, with Vinh and Linh linked to Telegram."""
    await seed_sample(db)
    w = World()
    async with db.session() as s:
        unit = (await s.execute(select(Unit).where(col(Unit.code) == UNIT))).scalar_one()
        assert unit.id is not None
        w.unit_id = unit.id
        w.admin_id = await _person_id(s, ADMIN_PHONE)
        for key, phone in PHONES.items():
            w.people[key] = await _person_id(s, phone)
        for key in ("vinh", "linh"):
            s.add(
                ChatIdentity(
                    channel=Channel.TELEGRAM,
                    external_id=f"tg-{key}",
                    person_id=w.people[key],
                    stage=ChatStage.LINKED,
                )
            )
    return w


async def launch(d: Dashboard, w: World, *, anonymous: bool = False) -> int:
    """The admin launches the activity survey (or an anonymous copy of it) for the unit."""
    registry = SurveyRegistry()  # one per database: it keeps the stored rows' ids
    defn = next(
        x for x in Conversation(registry, tz=d.context.tz).launchable() if x.key == ACTIVITY
    )
    now = utcnow()
    async with d.context.db.session() as s:
        if anonymous:
            defn = dataclasses.replace(defn, key="anon_activity", anonymous=True)
            body = definition_to_json(defn)
            row = await survey_store.ensure_definition(
                s, key=defn.key, title=defn.title, checksum=definition_checksum(body), body=body
            )
            definition_id = row.id
        else:
            definition_id = await registry.row_id(s, ACTIVITY)
        actor = await web_actor(s, person_id=w.admin_id, locale="vi")
        assert actor is not None
        done = await service.launch(
            s,
            actor=actor,
            plan=service.Plan(
                key=defn.key,
                closes_at=now + dt.timedelta(days=7),
                audience=Audience(unit_ids=(w.unit_id,)),
            ),
            definitions={defn.key: defn},
            definition_id=definition_id,
            now=now,
            tz=d.context.tz,
            default_locale="vi",
        )
    assert done.outcome == service.LaunchOutcome.LAUNCHED and done.run_id is not None
    assert done.targets == 6
    return done.run_id


ANSWERS: dict[str, object] = {
    "participated": True,
    "activities": ["van_nghe", "tham_quan"],
    "times": 4,
    "suggestion": "Thêm giải bóng chuyền",
}


async def answer(
    db: Database, w: World, run_id: int, key: str, *, finish: bool, anon: bool
) -> None:
    async with db.session() as s:
        response = await survey_store.start_response(
            s, run_id=run_id, person_id=w.people[key], unit_id=w.unit_id, is_member=True
        )
        if finish:
            for question, value in ANSWERS.items():
                await survey_store.save_answer(
                    s, response=response, question_key=question, value=value
                )
            await survey_store.complete_response(s, response=response, anonymous=anon)


async def scene(d: Dashboard, w: World, *, anonymous: bool = False) -> int:
    run_id = await launch(d, w, anonymous=anonymous)
    await answer(d.context.db, w, run_id, "thao", finish=True, anon=anonymous)
    await answer(d.context.db, w, run_id, "vinh", finish=False, anon=anonymous)
    return run_id


def rows_of(data: bytes) -> list[tuple[object, ...]]:
    """The table of a list workbook: the header row (after the title and subtitle) and on."""
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    return [tuple(r) for r in sheet.iter_rows(min_row=4, values_only=True)]


async def reminders(db: Database, run_id: int) -> list[tuple[int, str]]:
    async with db.session() as s:
        found = (
            await s.execute(
                select(col(Delivery.person_id), col(Delivery.status)).where(
                    col(Delivery.run_id) == run_id, col(Delivery.kind) == DeliveryKind.REMINDER
                )
            )
        ).all()
    return sorted((int(p or 0), str(st)) for p, st in found)


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


async def test_list_and_detail_show_rates_and_who_has_not_answered(db: Database) -> None:
    w = await build(db)
    async with dashboard(db) as d:
        run_id = await scene(d, w)
        await d.sign_in(ADMIN_PHONE)
        listing = await d.client.get("/khao-sat")
        assert listing.status == 200
        text = await listing.text()
        assert f'href="/khao-sat/{run_id}"' in text and ACTIVITY_TITLE in text
        assert "16,7%" in text and "1/6 người" in text and "Đang mở" in text

        page = await d.client.get(f"/khao-sat/{run_id}")
        assert page.status == 200
        html = await page.text()
        assert "16,7%" in html and "1/6 người" in html
        assert "Nhắc tự động tiếp theo" in html
        assert "Người chưa trả lời (5)" in html
        # By unit: the one unit, 1 of 6, 5 not answered.
        assert re.search(rf"<th scope=\"row\">{UNIT_NAME}</th>\s*<td><strong>16,7%</strong>", html)
        # Everyone who has not answered, in Vietnamese name order, each with their phone.
        waiting = html[html.index('id="chua-tra-loi"') :]
        positions = [waiting.index(NAMES[k]) for k in NOT_ANSWERED]
        assert positions == sorted(positions)
        assert NAMES["thao"] not in waiting
        for key in NOT_ANSWERED:
            assert f">{PHONES[key]}</a>" in waiting
        assert f'href="tel:{normalize_phone(PHONES["vinh"])}"' in waiting
        assert waiting.count("Đang trả lời dở") == 1  # Vinh
        assert waiting.count("Chưa bắt đầu") == 4
        assert f'action="/khao-sat/{run_id}/nhac"' in html


async def test_remind_by_hand_once_a_day_and_csrf(db: Database) -> None:
    w = await build(db)
    woken: list[int] = []
    async with dashboard(db) as d:
        d.context.wake_delivery = lambda: woken.append(1)
        run_id = await scene(d, w)
        csrf = await d.sign_in(ADMIN_PHONE)

        refused = await d.client.post(f"/khao-sat/{run_id}/nhac", allow_redirects=False)
        assert refused.status == 403
        assert await reminders(db, run_id) == []

        first = await d.client.post(
            f"/khao-sat/{run_id}/nhac", data={"csrf": csrf}, allow_redirects=False
        )
        assert first.status == 303
        told = query_of(first.headers["Location"])
        assert told["nhac"] == ["sent"] and told["n"] == ["2"] and told["u"] == ["3"]
        assert woken == [1]
        p = w.people
        assert await reminders(db, run_id) == sorted(
            [(p["vinh"], "queued"), (p["linh"], "queued")]
            + [(p[k], "unreachable") for k in ("diem", "hieu", "thanh")]
        )
        shown = await (await d.client.get(first.headers["Location"])).text()
        assert "3 người chưa liên kết với bot" in shown
        assert (
            "Đã gửi lời nhắc tới 2 người chưa trả lời." in shown
            or "Đã hẹn nhắc 2 người lúc" in shown  # during quiet hours
        )

        second = await d.client.post(
            f"/khao-sat/{run_id}/nhac", data={"csrf": csrf}, allow_redirects=False
        )
        assert second.status == 303
        assert query_of(second.headers["Location"]) == {"nhac": ["nobody"]}
        assert woken == [1]
        assert len(await reminders(db, run_id)) == 5
        again = await (await d.client.get(second.headers["Location"])).text()
        assert "Không còn ai để nhắc" in again


async def test_downloads_hold_the_people_and_answers_and_are_audited(db: Database) -> None:
    w = await build(db)
    async with dashboard(db) as d:
        run_id = await scene(d, w)
        await d.sign_in(ADMIN_PHONE)

        got = await d.client.get(f"/tai-ve/khao-sat/{run_id}/nguoi-tra-loi.xlsx")
        assert got.status == 200
        assert f"khao-sat-{run_id}-nguoi-tra-loi.xlsx" in got.headers["Content-Disposition"]
        table = rows_of(await got.read())
        assert table[0] == ("Đơn vị", "Họ và tên", "Số điện thoại", "Tình trạng",
                            "Thời điểm (trả lời xong, hoặc bắt đầu)")  # fmt: skip
        order = ["diem", "hieu", "linh", "thanh", "thao", "vinh"]
        assert [(r[0], r[1], r[2]) for r in table[1:]] == [
            (UNIT_NAME, NAMES[k], PHONES[k]) for k in order
        ]
        states = {str(r[1]): r[3] for r in table[1:]}
        assert states == {
            NAMES["diem"]: "Chưa trả lời",
            NAMES["hieu"]: "Chưa trả lời",
            NAMES["linh"]: "Chưa trả lời",
            NAMES["thanh"]: "Chưa trả lời",
            NAMES["thao"]: "Đã trả lời",
            NAMES["vinh"]: "Đang trả lời dở",
        }
        when = {str(r[1]): r[4] for r in table[1:]}
        assert isinstance(when[NAMES["thao"]], dt.datetime)
        assert isinstance(when[NAMES["vinh"]], dt.datetime)
        assert when[NAMES["diem"]] is None

        got = await d.client.get(f"/tai-ve/khao-sat/{run_id}/cau-tra-loi.xlsx")
        assert got.status == 200
        table = rows_of(await got.read())
        assert table[0][:4] == ("Đơn vị", "Họ và tên", "Số điện thoại", "Trả lời xong lúc")
        assert len(table) == 2  # the header and Thảo's response
        row = dict(zip(table[0], table[1], strict=True))
        assert (row["Đơn vị"], row["Họ và tên"], row["Số điện thoại"]) == (
            UNIT_NAME,
            NAMES["thao"],
            PHONES["thao"],
        )
        prompts = [str(h) for h in table[0][4:]]
        assert len(prompts) == 5 and prompts[1] == "Thầy/cô đã tham gia những hoạt động nào?"
        assert table[1][4:] == ("Có", "Văn nghệ; Tham quan", 4, None, "Thêm giải bóng chuyền")

        async with db.session() as s:
            trail = await audit.rows(s, actions=[AuditAction.REPORT_EXPORTED])
        assert [
            (r.via, r.actor_id, r.unit_id, r.detail["what"], r.detail["run"]) for r in trail
        ] == [
            ("web", w.admin_id, w.unit_id, "campaign_people", run_id),
            ("web", w.admin_id, w.unit_id, "campaign_answers", run_id),
        ]
        assert [r.detail["rows"] for r in trail] == [6, 1]


async def test_an_anonymous_survey_gives_answers_without_who(db: Database) -> None:
    w = await build(db)
    async with dashboard(db) as d:
        run_id = await scene(d, w, anonymous=True)
        await d.sign_in(ADMIN_PHONE)
        page = await (await d.client.get(f"/khao-sat/{run_id}")).text()
        assert "1/6 người" in page and "Người chưa trả lời (5)" in page  # took part: Thảo

        got = await d.client.get(f"/tai-ve/khao-sat/{run_id}/cau-tra-loi.xlsx")
        assert got.status == 200
        data = await got.read()
        table = rows_of(data)
        assert table[0][0] == "Đơn vị" and "Họ và tên" not in table[0]
        assert table[1] == (UNIT_NAME, "Có", "Văn nghệ; Tham quan", 4, None,
                            "Thêm giải bóng chuyền")  # fmt: skip
        sheet = load_workbook(io.BytesIO(data)).active
        assert sheet is not None
        cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c]
        assert not any(NAMES["thao"] in c or PHONES["thao"] in c for c in cells)
        assert any("ẩn danh" in c for c in cells)


async def test_the_dalat_officer_cannot_reach_another_districts_campaign(db: Database) -> None:
    w = await build(db)
    async with dashboard(db) as d:
        run_id = await scene(d, w)
        csrf = await d.sign_in(DALAT_OFFICER_PHONE)
        listing = await (await d.client.get("/khao-sat")).text()
        assert ACTIVITY_TITLE not in listing and "Chưa có đợt khảo sát nào" in listing
        for path in (
            f"/khao-sat/{run_id}",
            f"/tai-ve/khao-sat/{run_id}/nguoi-tra-loi.xlsx",
            f"/tai-ve/khao-sat/{run_id}/cau-tra-loi.xlsx",
        ):
            got = await d.client.get(path)
            assert got.status in (403, 404), path
            assert NAMES["thao"] not in await got.text()
        post = await d.client.post(
            f"/khao-sat/{run_id}/nhac", data={"csrf": csrf}, allow_redirects=False
        )
        assert post.status in (403, 404)
        assert await reminders(db, run_id) == []
        assert (await d.client.get("/khao-sat/999999")).status == 404
        assert (await d.client.get("/khao-sat/abc")).status == 404
        async with db.session() as s:
            assert await audit.rows(s, actions=[AuditAction.REPORT_EXPORTED]) == []


async def test_a_unit_survey_lists_the_cdcs_not_answered_with_their_officers(db: Database) -> None:
    """The unit report, launched for the district of Bảo Lộc: its CĐCS with an officer are
    THPT Bảo Lộc (Nguyễn Văn Thành) and Tiểu học Lý Tự Trọng (Phùng Thị Hương); Thành answers
    for his CĐCS: 1/2 CĐCS = 50%, Lý Tự Trọng not answered."""
    w = await build(db)
    async with dashboard(db) as d:
        registry = SurveyRegistry()
        launchable = Conversation(registry, tz=d.context.tz).launchable()
        defn = next(x for x in launchable if x.key == "unit_report")
        now = utcnow()
        async with db.session() as s:
            district = (await s.execute(select(Unit).where(col(Unit.code) == "LD-BL"))).scalar_one()
            assert district.id is not None
            actor = await web_actor(s, person_id=w.admin_id, locale="vi")
            assert actor is not None
            done = await service.launch(
                s,
                actor=actor,
                plan=service.Plan(
                    key=defn.key,
                    closes_at=now + dt.timedelta(days=5),
                    audience=Audience(unit_ids=(district.id,)),
                ),
                definitions={defn.key: defn},
                definition_id=await registry.row_id(s, defn.key),
                now=now,
                tz=d.context.tz,
                default_locale="vi",
            )
        assert done.run_id is not None and (done.targets, done.units_without_officer) == (2, 1)
        run_id = done.run_id
        async with db.session() as s:
            response = await survey_store.start_response(
                s, run_id=run_id, person_id=w.people["thanh"], unit_id=w.unit_id, is_member=True
            )
            await survey_store.save_answer(
                s, response=response, question_key="periodic_dialogue", value=True
            )
            await survey_store.complete_response(s, response=response, anonymous=False)
        await d.sign_in(ADMIN_PHONE)
        html = await (await d.client.get(f"/khao-sat/{run_id}")).text()
        assert "50%" in html and "1/2 CĐCS" in html
        waiting = html[html.index('id="chua-tra-loi"') :]
        assert "CĐCS chưa trả lời (1)" in waiting
        assert "CĐCS Trường Tiểu học Lý Tự Trọng" in waiting and "Phùng Thị Hương" in waiting
        assert ">0945 382 610</a>" in waiting and NAMES["thanh"] not in waiting

        got = await d.client.get(f"/tai-ve/khao-sat/{run_id}/nguoi-tra-loi.xlsx")
        table = rows_of(await got.read())
        assert table[0] == ("Đơn vị", "Cán bộ công đoàn", "Số điện thoại", "Tình trạng",
                            "Thời điểm (trả lời xong, hoặc bắt đầu)",
                            "Cán bộ khác của CĐCS")  # fmt: skip
        assert [r[:4] for r in table[1:]] == [
            (UNIT_NAME, NAMES["thanh"], PHONES["thanh"], "Đã trả lời"),
            ("CĐCS Trường Tiểu học Lý Tự Trọng", "Phùng Thị Hương", "0945 382 610", "Chưa trả lời"),
        ]
        got = await d.client.get(f"/tai-ve/khao-sat/{run_id}/cau-tra-loi.xlsx")
        table = rows_of(await got.read())
        assert table[1][:3] == (UNIT_NAME, NAMES["thanh"], PHONES["thanh"])
        assert table[1][4] == "Có" and len(table) == 2
