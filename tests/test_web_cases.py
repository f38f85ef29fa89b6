"""The dashboard's Trường hợp page and its workbook (bot/web/pages/cases.py): need to know as in
chat, on the sample province (tests.flow.seed_sample), with cases made by the case store as
the survey outcome makes them.

The cases (the people are bot/sample/people.csv's):

* U: urgent legal case at CĐCS THPT Bùi Thị Xuân itself, reported by Võ Thị Hồng Nhung about
  herself, the oldest;
* A: hardship case in its tổ Toán – Tin, reported by Phạm Minh Tuấn about Ngô Văn Lâm (ốm
  đau), newer than U;
* N: hardship case at CĐCS THCS Nguyễn Du (the same district, Đà Lạt);
* B: hardship case at CĐCS THPT Bảo Lộc (another district).

Who sees what, worked out by hand from the rule (casework's module doc): Lê Thị Mai Anh, the
chair of Bùi Thị Xuân, sees U and A in detail (U first: urgent before newer) and nothing of N
and B (outside her scope).  Trần Văn Hùng, of the Đà Lạt district union, sees counts only:
Bùi Thị Xuân 2 reported (1 urgent), Nguyễn Du 1; once A is passed up to his union he sees A in
detail and the counts keep U alone.  The admin (province) sees counts of all four: Bùi Thị Xuân
2 (1 urgent), Nguyễn Du 1, Bảo Lộc 1.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook

from storage import audit
from storage import cases as store
from storage.db import Database
from storage.models import AuditAction, Case, CaseKind, CaseStatus, utcnow
from tests.flow import seed_sample
from tests.webclient import (
    ADMIN_PHONE,
    DALAT_OFFICER_PHONE,
    Dashboard,
    dashboard,
    person_id,
    unit_id,
)

CDCS_PHONE = "0918 402 367"  # Lê Thị Mai Anh, chair of CĐCS THPT Bùi Thị Xuân
SUBJECT = "Ngô Văn Lâm"
SUBJECT_PHONE = "0357 690 218"
STORY = "Nhập viện cấp cứu sau tai nạn giao thông"
LEGAL_STORY = "Bị chậm trả lương ba tháng"


@dataclass
class World:
    db: Database
    u: int
    a: int
    n: int
    b: int


async def _case(
    db: Database,
    *,
    unit: str,
    name: str,
    text: str,
    kind: CaseKind = CaseKind.HARDSHIP,
    category: str = "om_dau",
    urgent: bool = False,
    reporter: str | None = None,
    subject: str | None = None,
) -> int:
    reported_by = await person_id(db, reporter) if reporter else None
    subject_id = await person_id(db, subject) if subject else None
    where = await unit_id(db, unit)
    async with db.session(write=True) as session:
        case = await store.create_case(
            session,
            kind=kind,
            response_id=None,
            reported_by=reported_by,
            subject_person_id=subject_id,
            subject_name=name,
            subject_member=True,
            unit_id=where,
            category=category,
            description=text,
            period_year=2026,
            urgent=urgent,
        )
    assert case.id is not None
    return case.id


@pytest.fixture
async def world(db: Database) -> World:
    await seed_sample(db)
    u = await _case(
        db,
        unit="DL-THPT-BTX",
        name="Võ Thị Hồng Nhung",
        text=LEGAL_STORY,
        kind=CaseKind.LEGAL,
        category="tien_luong",
        urgent=True,
        reporter="0387 556 120",
        subject="0387 556 120",
    )
    a = await _case(
        db,
        unit="BTX-TOAN",
        name=SUBJECT,
        text=STORY,
        reporter="0345 271 908",
        subject=SUBJECT_PHONE,
    )
    n = await _case(db, unit="DL-THCS-ND", name="Phan Thanh Sơn", text="Cháy nhà")
    b = await _case(db, unit="BL-THPT-BL", name="Tạ Đức Hiếu", text="Ốm nặng")
    return World(db, u, a, n, b)


async def _audit(db: Database, action: AuditAction) -> list[audit.AuditRow]:
    async with db.session() as session:
        return await audit.rows(session, actions=[action])


async def _status(db: Database, case_id: int) -> CaseStatus:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None
    return CaseStatus(case.status)


def _count_rows(page: str) -> list[list[str]]:
    """The rows of the counts table: the body's name, then its cells."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [
        [cell.strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


async def _page(d: Dashboard, path: str = "/truong-hop") -> str:
    response = await d.client.get(path)
    assert response.status == 200, await response.text()
    return await response.text()


async def _move(d: Dashboard, csrf: str, case_id: int, status: str) -> str:
    """Press a case's button; where the redirect leads."""
    response = await d.client.post(
        f"/truong-hop/{case_id}", data={"csrf": csrf, "status": status}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def test_the_cdcs_officer_sees_the_details_urgent_first_and_moves_a_case(
    world: World,
) -> None:
    db = world.db
    mai_anh = await person_id(db, CDCS_PHONE)
    async with dashboard(db) as d:
        csrf = await d.sign_in(CDCS_PHONE)
        page = await _page(d)
        # Both of her body's cases, the urgent one first although it is the older.
        assert page.index(f"Vụ việc pháp lý #{world.u}") < page.index(f"Trường hợp #{world.a}")
        assert "KHẨN CẤP" in page
        for shown in (SUBJECT, SUBJECT_PHONE, "Phạm Minh Tuấn", STORY, "Ốm đau, bệnh hiểm nghèo"):
            assert shown in page
        assert "Tổ công đoàn Toán – Tin" in page
        assert "chính người cần hỗ trợ" in page  # U: Nhung reported her own case
        assert "Tiền lương, phụ cấp, chế độ" in page  # U's category, from the legal form
        # Nothing of the other CĐCS's or district's cases, not even counts.
        assert "Phan Thanh Sơn" not in page and "Tạ Đức Hiếu" not in page
        assert _count_rows(page) == []
        # A's buttons: the moves of a reported hardship case.
        form = page.split(f'action="/truong-hop/{world.a}"', 1)[1].split("</form>", 1)[0]
        assert re.findall(r'name="status" value="(\w+)"', form) == [
            "visited",
            "supported",
            "withdrawn",
        ]
        views = await _audit(db, AuditAction.CASE_VIEWED)
        assert [(r.actor_id, r.case_id, r.via) for r in views] == [
            (mai_anh, world.u, "web"),
            (mai_anh, world.a, "web"),
        ]

        where = await _move(d, csrf, world.a, "visited")
        assert where == f"/truong-hop?done=changed&case={world.a}&status=visited&kind=hardship"
        assert await _status(db, world.a) == CaseStatus.VISITED
        (change,) = await _audit(db, AuditAction.CASE_STATUS)
        assert (change.actor_id, change.case_id, change.via) == (mai_anh, world.a, "web")
        assert change.detail == {"from": "reported", "to": "visited"}
        after = await _page(d, where)
        assert f"Đã cập nhật trường hợp #{world.a}: 🏠 Đã thăm hỏi." in after
        # Its history now has the visit, by her.
        card = after.split(f'id="case-{world.a}"', 1)[1].split("</article>", 1)[0]
        assert "Diễn biến" in card and "🏠 Đã thăm hỏi — Lê Thị Mai Anh" in card

        assert await _move(d, csrf, world.a, "visited") == (
            f"/truong-hop?done=unchanged&case={world.a}&status=visited&kind=hardship"
        )
        assert "Trường hợp đã ở tình trạng này." in await _page(
            d, f"/truong-hop?done=unchanged&case={world.a}&status=visited&kind=hardship"
        )
        assert "done=not_allowed" in await _move(d, csrf, world.a, "reported")
        gone = await _move(d, csrf, 999_999, "visited")
        assert gone == "/truong-hop?done=gone&case=999999&status=visited"
        assert "Không tìm thấy trường hợp này." in await _page(d, gone)
        bad = await d.client.post(
            f"/truong-hop/{world.a}", data={"csrf": csrf, "status": "lost"}, allow_redirects=False
        )
        assert bad.status == 400
    assert await _status(db, world.a) == CaseStatus.VISITED
    # The one change: the second press and the refused moves wrote nothing.
    assert len(await _audit(db, AuditAction.CASE_STATUS)) == 1


async def test_an_officer_of_the_district_sees_counts_and_may_not_move_a_case(
    world: World,
) -> None:
    db = world.db
    hung = await person_id(db, DALAT_OFFICER_PHONE)
    async with dashboard(db) as d:
        csrf = await d.sign_in(DALAT_OFFICER_PHONE)
        page = await _page(d)
        for secret in (SUBJECT, STORY, LEGAL_STORY, "Võ Thị Hồng Nhung", "Phan Thanh Sơn"):
            assert secret not in page
        assert "Trường hợp đang mở trong phạm vi của thầy/cô: 3" in page
        assert "Trong đó 🚨 1 trường hợp khẩn cấp." in page
        # The body, reported, visited, supported, total, urgent.
        assert _count_rows(page) == [
            ["CĐCS Trường THPT Bùi Thị Xuân", "2", "0", "0", "2", "1"],
            ["CĐCS Trường THCS Nguyễn Du", "1", "0", "0", "1", "0"],
        ]
        assert await _move(d, csrf, world.a, "visited") == (
            f"/truong-hop?done=forbidden&case={world.a}&status=visited"
        )
        assert "⛔ Chỉ cán bộ của CĐCS có trường hợp này" in await _page(
            d, f"/truong-hop?done=forbidden&case={world.a}&status=visited"
        )
        assert await _status(db, world.a) == CaseStatus.REPORTED
        assert await _audit(db, AuditAction.CASE_VIEWED) == []
        assert await _audit(db, AuditAction.CASE_STATUS) == []

        # Once A is passed up to his district union, he sees it in detail and may move it.
        async with db.session(write=True) as session:
            case = await session.get(Case, world.a)
            assert case is not None
            case.escalated_at = utcnow()
            case.escalated_to_unit_id = await unit_id(db, "LD-DL")
        page = await _page(d)
        assert SUBJECT in page and STORY in page and "Chuyển lên cấp trên" in page
        assert "Võ Thị Hồng Nhung" not in page  # U was not passed up
        assert "Các trường hợp khác đang mở trong phạm vi của thầy/cô: 2" in page
        assert _count_rows(page) == [
            ["CĐCS Trường THPT Bùi Thị Xuân", "1", "0", "0", "1", "1"],
            ["CĐCS Trường THCS Nguyễn Du", "1", "0", "0", "1", "0"],
        ]
        assert "done=changed" in await _move(d, csrf, world.a, "supported")
    assert await _status(db, world.a) == CaseStatus.SUPPORTED
    views = await _audit(db, AuditAction.CASE_VIEWED)
    # The page's view, then the refreshed card of the change.
    assert [(r.actor_id, r.case_id, r.via) for r in views] == [
        (hung, world.a, "web"),
        (hung, world.a, "web"),
    ]
    (change,) = await _audit(db, AuditAction.CASE_STATUS)
    assert (change.actor_id, change.via, change.detail) == (
        hung,
        "web",
        {"from": "reported", "to": "supported"},
    )


async def test_the_admin_sees_counts_of_cases_not_theirs(world: World) -> None:
    async with dashboard(world.db) as d:
        await d.sign_in(ADMIN_PHONE)
        page = await _page(d)
    assert "Trường hợp đang mở trong phạm vi của thầy/cô: 4" in page
    assert _count_rows(page) == [
        ["CĐCS Trường THPT Bùi Thị Xuân", "2", "0", "0", "2", "1"],
        ["CĐCS Trường THCS Nguyễn Du", "1", "0", "0", "1", "0"],
        ["CĐCS Trường THPT Bảo Lộc", "1", "0", "0", "1", "0"],
    ]
    for secret in (SUBJECT, STORY, "Tạ Đức Hiếu", "Ốm nặng", 'action="/truong-hop/'):
        assert secret not in page
    assert await _audit(world.db, AuditAction.CASE_VIEWED) == []


async def test_a_move_without_the_csrf_token_is_refused(world: World) -> None:
    async with dashboard(world.db) as d:
        await d.sign_in(CDCS_PHONE)
        response = await d.client.post(
            f"/truong-hop/{world.a}", data={"status": "visited"}, allow_redirects=False
        )
        assert response.status == 403
        wrong = await d.client.post(
            f"/truong-hop/{world.a}",
            data={"csrf": "not-the-token", "status": "visited"},
            allow_redirects=False,
        )
        assert wrong.status == 403
    assert await _status(world.db, world.a) == CaseStatus.REPORTED
    assert await _audit(world.db, AuditAction.CASE_STATUS) == []


def _sheet_rows(data: bytes) -> dict[str, list[list[object]]]:
    """Each sheet's rows below its header (row 4: a title, a subtitle, a blank line above)."""
    book = load_workbook(io.BytesIO(data))
    return {
        ws.title: [list(row) for row in ws.iter_rows(min_row=4, values_only=True)]
        for ws in book.worksheets
    }


async def test_the_cases_workbook_holds_what_the_officer_may_see(world: World) -> None:
    db = world.db
    mai_anh = await person_id(db, CDCS_PHONE)
    hung = await person_id(db, DALAT_OFFICER_PHONE)
    async with dashboard(db) as d:
        await d.sign_in(CDCS_PHONE)
        response = await d.client.get("/tai-ve/truong-hop.xlsx")
        assert response.status == 200
        assert "attachment" in response.headers["Content-Disposition"]
        assert "truong-hop-DL-THPT-BTX-" in response.headers["Content-Disposition"]
        mine = _sheet_rows(await response.read())
        await d.sign_in(DALAT_OFFICER_PHONE)
        response = await d.client.get("/tai-ve/truong-hop.xlsx")
        assert response.status == 200
        district = _sheet_rows(await response.read())
    cases, counts = mine["Trường hợp"], mine["Số lượng"]
    assert cases[0][:4] == ["Số", "Loại hồ sơ", "Khẩn cấp", "Đơn vị"]
    assert [row[:10] for row in cases[1:]] == [
        [
            world.u,
            "Pháp lý",
            "Có",
            "CĐCS Trường THPT Bùi Thị Xuân",
            "Võ Thị Hồng Nhung",
            "0387 556 120",
            "Chính người cần hỗ trợ",
            "Tiền lương, phụ cấp, chế độ",
            LEGAL_STORY,
            "🆕 Mới báo cáo",
        ],
        [
            world.a,
            "Khó khăn",
            None,
            "Tổ công đoàn Toán – Tin",
            SUBJECT,
            SUBJECT_PHONE,
            "Phạm Minh Tuấn",
            "Ốm đau, bệnh hiểm nghèo",
            STORY,
            "🆕 Mới báo cáo",
        ],
    ]
    # Reported when, in local time, and the history: the report, by its reporter.
    assert all(isinstance(row[10], dt.datetime) for row in cases[1:])
    step = r"\d\d:\d\d \d\d/\d\d/\d{4}: 🆕 Mới báo cáo — "
    assert re.fullmatch(step + "Võ Thị Hồng Nhung", str(cases[1][11]))
    assert re.fullmatch(step + "Phạm Minh Tuấn", str(cases[2][11]))
    assert counts[1:] == []  # nothing in her scope she may not see
    # The district officer: no case in detail, the counts by CĐCS and status.
    assert district["Trường hợp"][1:] == []
    assert district["Số lượng"][1:] == [
        ["DL-THPT-BTX", "CĐCS Trường THPT Bùi Thị Xuân", 2, 0, 0, 2, 1],
        ["DL-THCS-ND", "CĐCS Trường THCS Nguyễn Du", 1, 0, 0, 1, 0],
    ]
    # Each download is audited, and each case in it as viewed.
    exports = await _audit(db, AuditAction.REPORT_EXPORTED)
    assert [(r.actor_id, r.via, r.detail) for r in exports] == [
        (mai_anh, "web", {"what": "cases", "cases": 2}),
        (hung, "web", {"what": "cases", "cases": 0}),
    ]
    views = await _audit(db, AuditAction.CASE_VIEWED)
    assert [(r.actor_id, r.case_id, r.via) for r in views] == [
        (mai_anh, world.u, "web"),
        (mai_anh, world.a, "web"),
    ]
