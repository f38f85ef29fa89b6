"""Roster import: files in, units and people out; bad rows named with their row numbers."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from bot.cli.roster import roster_app
from bot.roster import (
    ImportReport,
    RosterFileError,
    RosterRejected,
    apply_plan,
    import_roster,
    plan_import,
    read_roster,
    sample_paths,
    write_csv_templates,
    write_template,
)
from storage.db import Database
from storage.migrate import upgrade

DOCS = Path(__file__).resolve().parent.parent / "docs" / "roster"
# The import's local date (the CLI passes today in the settings' time zone).
TODAY = dt.date(2026, 3, 15)

UNIT_HEADER = ["Mã đơn vị", "Tên đơn vị", "Cấp", "Đơn vị cấp trên", "Loại hình", "Số CBNGNLĐ"]
PEOPLE_HEADER = [
    "Họ và tên",
    "Số điện thoại",
    "Mã cán bộ",
    "Đơn vị",
    "Đoàn viên",
    "Giới tính",
    "Vai trò",
    "Phụ trách đơn vị",
    "Nhãn",
]


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    delimiter: str = ",",
    bom: bool = False,
) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sample_people_rows() -> list[list[str]]:
    with sample_paths()[1].open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))[1:]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


async def run_import(
    db: Database,
    paths: Sequence[Path],
    *,
    dry_run: bool = False,
    skip_bad: bool = False,
    today: dt.date = TODAY,
) -> ImportReport:
    async with db.session() as session:
        return await import_roster(session, paths, today=today, dry_run=dry_run, skip_bad=skip_bad)


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.session() as session:
        result = await session.execute(text(sql))
        return [tuple(r) for r in result.all()]


async def unit_ids(db: Database) -> dict[str, int]:
    return {code: uid for uid, code in await rows(db, "SELECT id, code FROM units")}


async def person(db: Database, name: str) -> dict[str, Any]:
    async with db.session() as session:
        result = await session.execute(
            text(
                "SELECT p.full_name, p.phone, p.staff_code, u.code AS unit, p.is_member, "
                "p.gender, p.role, o.code AS officer_unit, p.tags FROM people p "
                "JOIN units u ON u.id = p.unit_id LEFT JOIN units o ON o.id = p.officer_unit_id "
                "WHERE p.full_name = :name"
            ),
            {"name": name},
        )
        found = result.mappings().all()
    assert len(found) == 1, found
    return dict(found[0])


# ---------------------------------------------------------------------------------------------
# The sample province


async def test_sample_import_builds_the_tree(db: Database) -> None:
    report = await run_import(db, sample_paths())
    assert report.applied and report.errors == []
    assert (report.units.created, report.units.updated, report.units.unchanged) == (14, 0, 0)
    assert (report.people.created, report.people.updated, report.people.unchanged) == (40, 0, 0)

    ids = await unit_ids(db)
    paths = dict(await rows(db, "SELECT code, path FROM units"))
    ld, dl, bl, btx = ids["LD"], ids["LD-DL"], ids["LD-BL"], ids["DL-THPT-BTX"]
    assert paths["LD"] == f"/{ld}/"
    assert paths["LD-DL"] == f"/{ld}/{dl}/"
    assert paths["BL-TH-NS"] == f"/{ld}/{bl}/{ids['BL-TH-NS']}/"
    assert paths["BTX-TOAN"] == f"/{ld}/{dl}/{btx}/{ids['BTX-TOAN']}/"
    kinds = dict(await rows(db, "SELECT kind, count(*) FROM units GROUP BY kind"))
    assert kinds == {"province": 1, "district": 3, "grassroots": 8, "group": 2}
    non_public = {c for (c,) in await rows(db, "SELECT code FROM units WHERE NOT is_public")}
    assert non_public == {"DL-MN-HM", "BL-TH-NS", "DT-MN-SC"}
    staff = dict(await rows(db, "SELECT code, staff_count FROM units"))
    assert (staff["DL-THPT-BTX"], staff["BL-TH-NS"], staff["LD"], staff["BTX-VAN"]) == (6, 4, 0, 0)

    invites = dict(await rows(db, "SELECT code, invite_code FROM units"))
    grassroots = {c for c, i in invites.items() if i is not None}
    assert grassroots == {
        "DL-THPT-BTX",
        "DL-THCS-ND",
        "DL-MN-HM",
        "BL-THPT-BL",
        "BL-TH-LTT",
        "BL-TH-NS",
        "DT-THPT-DT",
        "DT-MN-SC",
    }
    codes = [invites[c] for c in grassroots]
    assert len(set(codes)) == 8
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{8,10}", c) for c in codes)

    members = dict(await rows(db, "SELECT is_member, count(*) FROM people GROUP BY is_member"))
    assert members == {1: 34, 0: 6}
    roles = dict(await rows(db, "SELECT role, count(*) FROM people GROUP BY role"))
    assert roles == {"member": 33, "officer": 6, "admin": 1}

    assert await person(db, "Nguyễn Thị Thu Hà") == {
        "full_name": "Nguyễn Thị Thu Hà",
        "phone": "+84913620145",
        "staff_code": "LD-0001",
        "unit": "LD",
        "is_member": 1,
        "gender": "female",
        "role": "admin",
        "officer_unit": "LD",
        "tags": "",
    }
    # An officer with an empty "Phụ trách đơn vị" answers for their own unit.
    assert (await person(db, "Bùi Thị Lan"))["officer_unit"] == "DL-THCS-ND"
    ngo = await person(db, "Ngô Văn Lâm")
    assert (ngo["is_member"], ngo["role"], ngo["officer_unit"], ngo["unit"]) == (
        0,
        "member",
        None,
        "BTX-VAN",
    )
    assert (await person(db, "Trịnh Thị Kim Oanh"))["staff_code"] is None


async def test_reimport_changes_nothing_and_keeps_invite_codes(db: Database) -> None:
    await run_import(db, sample_paths())
    before_units = await rows(db, "SELECT code, invite_code, path, updated_at FROM units")
    before_people = await rows(db, "SELECT id, phone, updated_at FROM people")

    report = await run_import(db, sample_paths())
    assert (report.units.created, report.units.updated, report.units.unchanged) == (0, 0, 14)
    assert (report.people.created, report.people.updated, report.people.unchanged) == (0, 0, 40)
    assert report.changes == []
    assert await rows(db, "SELECT code, invite_code, path, updated_at FROM units") == before_units
    assert await rows(db, "SELECT id, phone, updated_at FROM people") == before_people


async def test_changed_rows_update_people_matched_by_staff_code_then_phone(
    db: Database, tmp_path: Path
) -> None:
    await run_import(db, sample_paths())
    changed = sample_people_rows()
    # Row 5 (Phạm Minh Tuấn, BTX-002): new phone, matched by staff code.
    assert changed[3][0] == "Phạm Minh Tuấn"
    changed[3][1] = "0912 000 111"
    # Row 15 (Trịnh Thị Kim Oanh, no staff code): name corrected, matched by phone.
    assert changed[13][0] == "Trịnh Thị Kim Oanh"
    changed[13][0] = "Trịnh Thị Kim Oanh Em"
    # Row 11 (Đỗ Văn Khánh): moves school and becomes a non-member.
    assert changed[9][0] == "Đỗ Văn Khánh"
    changed[9][3], changed[9][4] = "BL-TH-LTT", "Không"
    people = write_csv(tmp_path / "people.csv", PEOPLE_HEADER, changed)

    report = await run_import(db, [sample_paths()[0], people], dry_run=True)
    assert (report.people.created, report.people.updated, report.people.unchanged) == (0, 3, 37)
    assert [str(c) for c in report.changes] == [
        "update Phạm Minh Tuấn (people.csv row 5): phone: +84345271908 → +84912000111",
        "update Đỗ Văn Khánh (people.csv row 11): unit: DL-THCS-ND → BL-TH-LTT, member: yes → no",
        "update Trịnh Thị Kim Oanh (people.csv row 15): "
        "name: Trịnh Thị Kim Oanh → Trịnh Thị Kim Oanh Em",
    ]
    assert (await person(db, "Phạm Minh Tuấn"))["phone"] == "+84345271908"  # dry run

    report = await run_import(db, [sample_paths()[0], people])
    assert (report.people.created, report.people.updated, report.people.unchanged) == (0, 3, 37)
    assert (await person(db, "Phạm Minh Tuấn"))["phone"] == "+84912000111"
    assert (await person(db, "Trịnh Thị Kim Oanh Em"))["phone"] == "+84901537826"
    khanh = await person(db, "Đỗ Văn Khánh")
    assert (khanh["unit"], khanh["is_member"]) == ("BL-TH-LTT", 0)
    assert len(await rows(db, "SELECT id FROM people")) == 40

    again = await run_import(db, [sample_paths()[0], people])
    assert (again.people.updated, again.people.created, again.units.updated) == (0, 0, 0)


async def test_phones_can_swap_between_two_people_in_one_import(
    db: Database, tmp_path: Path
) -> None:
    await run_import(db, sample_paths())
    changed = sample_people_rows()
    changed[3][1], changed[4][1] = changed[4][1], changed[3][1]  # Tuấn ↔ Nhung
    people = write_csv(tmp_path / "people.csv", PEOPLE_HEADER, changed)
    report = await run_import(db, [people])
    assert report.errors == []
    assert report.people.updated == 2
    assert (await person(db, "Phạm Minh Tuấn"))["phone"] == "+84387556120"
    assert (await person(db, "Võ Thị Hồng Nhung"))["phone"] == "+84345271908"


async def test_dry_run_writes_nothing(db: Database) -> None:
    report = await run_import(db, sample_paths(), dry_run=True)
    assert not report.applied
    assert (report.units.created, report.people.created) == (14, 40)
    assert str(report.changes[0]).startswith("create LD (units.csv row 2): name: Công đoàn")
    assert await rows(db, "SELECT count(*) FROM units") == [(0,)]
    assert await rows(db, "SELECT count(*) FROM people") == [(0,)]


async def test_moving_a_unit_rewrites_the_paths_of_its_subtree(
    db: Database, tmp_path: Path
) -> None:
    await run_import(db, sample_paths())
    move = write_csv(
        tmp_path / "move.csv",
        ["Mã đơn vị", "Tên đơn vị", "Cấp", "Đơn vị cấp trên"],
        [["DL-THPT-BTX", "CĐCS Trường THPT Bùi Thị Xuân", "CĐCS", "LD-BL"]],
    )
    report = await run_import(db, [move])
    assert (report.units.updated, report.units.created) == (1, 0)
    ids = await unit_ids(db)
    paths = dict(await rows(db, "SELECT code, path FROM units"))
    ld, bl, btx = ids["LD"], ids["LD-BL"], ids["DL-THPT-BTX"]
    assert paths["DL-THPT-BTX"] == f"/{ld}/{bl}/{btx}/"
    assert paths["BTX-TOAN"] == f"/{ld}/{bl}/{btx}/{ids['BTX-TOAN']}/"
    assert paths["BTX-VAN"] == f"/{ld}/{bl}/{btx}/{ids['BTX-VAN']}/"
    # Columns absent from the file leave the unit's type and staff count alone.
    assert await rows(
        db, "SELECT is_public, staff_count FROM units WHERE code = 'DL-THPT-BTX'"
    ) == [(1, 6)]


# ---------------------------------------------------------------------------------------------
# Formats and headers


async def test_english_headers_semicolons_bom_and_case(db: Database, tmp_path: Path) -> None:
    units = write_csv(
        tmp_path / "u.csv",
        ["CODE", "Name", "Level", "Parent", "Type", "Staff count"],
        [
            ["P", "Province union", "province", "", "public", ""],
            ["S1", "School one", "grassroots", "p", "non-public", "1.200"],
        ],
        delimiter=";",
        bom=True,
    )
    people = write_csv(
        tmp_path / "p.csv",
        ["HO VA TEN", "so dien thoai", "UNIT", "gender", "ROLE", "member", "STT"],
        [["An Văn Bình", "+84 912.345.678", "School one", "male", "officer", "x", "1"]],
        delimiter=";",
    )
    report = await run_import(db, [people, units])  # people first: units still applied first
    assert report.errors == [] and report.warnings == []
    assert (report.units.created, report.people.created) == (2, 1)
    assert await rows(db, "SELECT code, is_public, staff_count FROM units ORDER BY id") == [
        ("P", 1, 0),
        ("S1", 0, 1200),
    ]
    assert await person(db, "An Văn Bình") == {
        "full_name": "An Văn Bình",
        "phone": "+84912345678",
        "staff_code": None,
        "unit": "S1",
        "is_member": 1,
        "gender": "male",
        "role": "officer",
        "officer_unit": "S1",
        "tags": "",
    }


async def test_xlsx_with_both_sheets_title_row_and_numeric_cells(
    db: Database, tmp_path: Path
) -> None:
    workbook = openpyxl.Workbook()
    people = workbook.active
    assert people is not None
    people.title = "Danh sách"
    people.append(["DANH SÁCH ĐOÀN VIÊN NĂM 2025"])  # title row above the headers
    people.append(["STT", "Họ tên", "SĐT", "Đơn vị", "Giới tính", "Nhãn"])
    people.append([1, "Lê Thị Cúc", 912345678, "X1", "Nữ", "a; b;a"])
    people.append([None, None, None, None, None, None])
    people.append([2, "Hà Văn Đông", "0385123456", "X1-T1", "nam", None])
    notes = workbook.create_sheet("Hướng dẫn")
    notes.append(["Điền danh sách theo mẫu"])
    units = workbook.create_sheet("Đơn vị")
    units.append(["Mã đơn vị", "Tên đơn vị", "Cấp", "Đơn vị cấp trên", "Số CBNGNLĐ"])
    units.append(["X", "Công đoàn X", "Tỉnh", None, None])
    units.append(["X1", "CĐCS X1", "Công đoàn cơ sở", "X", 25.0])
    units.append(["X1-T1", "Tổ 1", "Tổ", "X1", None])
    path = tmp_path / "roster.xlsx"
    workbook.save(path)

    report = await run_import(db, [path])
    assert report.errors == []
    assert report.warnings == [
        "roster.xlsx [Hướng dẫn]: unrecognised headers (Điền danh sách theo mẫu): sheet skipped"
    ]
    assert (report.units.created, report.people.created) == (3, 2)
    cuc = await person(db, "Lê Thị Cúc")
    assert (cuc["phone"], cuc["unit"], cuc["gender"], cuc["tags"]) == (
        "+84912345678",
        "X1",
        "female",
        "a, b",
    )
    assert (await person(db, "Hà Văn Đông"))["unit"] == "X1-T1"
    assert await rows(db, "SELECT staff_count FROM units WHERE code = 'X1'") == [(25,)]


async def test_templates_import_cleanly_and_match_the_code(db: Database, tmp_path: Path) -> None:
    generated = write_csv_templates(tmp_path / "t")
    for path in generated:
        assert path.read_bytes() == (DOCS / path.name).read_bytes()
    report = await run_import(db, [DOCS / "units-template.csv", DOCS / "people-template.csv"])
    assert report.errors == []
    assert (report.units.created, report.people.created) == (5, 3)

    xlsx = write_template(tmp_path / "template.xlsx")
    again = await run_import(db, [xlsx])
    assert again.errors == []
    assert (again.units.unchanged, again.people.unchanged) == (5, 3)
    committed = await run_import(db, [DOCS / "roster-template.xlsx"])
    assert (committed.units.unchanged, committed.people.unchanged) == (5, 3)


def test_file_level_problems_raise_one_line(tmp_path: Path) -> None:
    with pytest.raises(RosterFileError, match="file not found"):
        read_roster([tmp_path / "nope.csv"], today=TODAY)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(RosterFileError, match=r"bad.xlsx: cannot read it as an .xlsx workbook"):
        read_roster([bad], today=TODAY)
    odd = write_csv(tmp_path / "odd.csv", ["Foo", "Bar"], [["1", "2"]])
    with pytest.raises(RosterFileError, match=r"odd.csv: unrecognised headers \(Foo, Bar\)"):
        read_roster([odd], today=TODAY)
    partial = write_csv(tmp_path / "partial.csv", ["Họ và tên", "Số điện thoại"], [["A", "1"]])
    with pytest.raises(RosterFileError, match=r"missing column\(s\) Đơn vị \(unit\)"):
        read_roster([partial], today=TODAY)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Họ và tên,Đơn vị\nLê Lợi,X\n".encode("cp1258", errors="replace"))
    with pytest.raises(RosterFileError, match="not UTF-8"):
        read_roster([latin], today=TODAY)
    (tmp_path / "old.xls").write_bytes(b"x")
    with pytest.raises(RosterFileError, match=r"old \.xls format"):
        read_roster([tmp_path / "old.xls"], today=TODAY)


# ---------------------------------------------------------------------------------------------
# Bad rows


def bad_files(tmp_path: Path) -> tuple[Path, Path]:
    units = write_csv(
        tmp_path / "units.csv",
        UNIT_HEADER,
        [
            ["P", "Tỉnh P", "Tỉnh", "", "", ""],  # 2 ok
            ["S1", "Trường S1", "CĐCS", "P", "Công lập", "10"],  # 3 ok
            ["S2", "Trường S2", "Xã", "P", "", ""],  # 4 unknown level
            ["S3", "Trường S3", "CĐCS", "NOPE", "", ""],  # 5 parent missing
            ["A", "Cụm A", "Cụm", "B", "", ""],  # 6 cycle
            ["B", "Cụm B", "Cụm", "A", "", ""],  # 7 cycle
            ["S4", "Trường S4", "CĐCS", "P", "", "-3"],  # 8 negative staff count
            ["S5", "Trường S5", "CĐCS", "P", "", "12,5"],  # 9 not a whole number
            ["S6", "Trường S6", "CĐCS", "P", "", ""],  # 10 duplicate code
            ["s6", "Trường S6 bis", "CĐCS", "P", "", ""],  # 11 duplicate code
            ["T1", "Tổ T1", "Tổ", "S2", "", ""],  # 12 parent rejected
            ["D1", "Cụm D1", "Cụm", "S1", "", ""],  # 13 district under a CĐCS
            ["S7", "", "CĐCS", "P", "Tư nhân hả", ""],  # 14 no name, unknown type
        ],
    )
    people = write_csv(
        tmp_path / "people.csv",
        PEOPLE_HEADER,
        [
            ["Người Tốt", "0912345678", "C1", "S1", "Có", "Nữ", "", "", ""],  # 2 ok
            ["", "0912345679", "", "S1", "", "", "", "", ""],  # 3 no name
            ["Sai Số", "12345", "", "S1", "", "", "", "", ""],  # 4 malformed phone
            ["Lạc Đơn Vị", "0912345680", "", "Z9", "", "", "", "", ""],  # 5 unknown unit
            ["Trùng Một", "0386000001", "", "S1", "", "", "", "", ""],  # 6 duplicate phone
            ["Trùng Hai", "0386 000 001", "", "S1", "", "", "", "", ""],  # 7 duplicate phone
            ["Mã Một", "0386000002", "K1", "S1", "", "", "", "", ""],  # 8 duplicate staff code
            ["Mã Hai", "0386000003", "k1", "S1", "", "", "", "", ""],  # 9 duplicate staff code
            ["Giới Lạ", "0386000004", "", "S1", "", "Bê đê", "", "", ""],  # 10 unknown gender
            ["Vai Lạ", "0386000005", "", "S1", "", "", "Hiệu trưởng", "", ""],  # 11 unknown role
            ["Ở Đơn Vị Hỏng", "0386000006", "", "S2", "", "", "", "", ""],  # 12 rejected unit
            ["Không Liên Lạc", "", "", "S1", "", "", "", "", ""],  # 13 no phone, no staff code
            ["Đoàn Lạ", "0386000007", "", "S1", "có lẽ", "", "", "", ""],  # 14 unknown member
            ["Người Tốt Hai", "0386000008", "", "Trường S1", "x", "", "", "", ""],  # 15 ok (name)
        ],
    )
    return units, people


EXPECTED_BAD = [
    ("units.csv", 4, "unknown level 'Xã'"),
    ("units.csv", 5, "parent unit NOPE not found"),
    ("units.csv", 6, "cycle in the unit tree: A → B → A"),
    ("units.csv", 7, "cycle in the unit tree: B → A → B"),
    ("units.csv", 8, "negative staff count -3"),
    ("units.csv", 9, "staff count '12,5' is not a whole number"),
    ("units.csv", 10, "duplicate unit code S6 (units.csv row 10, units.csv row 11)"),
    ("units.csv", 11, "duplicate unit code s6 (units.csv row 10, units.csv row 11)"),
    ("units.csv", 12, "parent unit S2 is rejected (see units.csv row 4)"),
    ("units.csv", 13, "a district unit cannot be under S1, a grassroots unit"),
    ("units.csv", 14, "no unit name; unknown type 'Tư nhân hả'"),
    ("people.csv", 3, "no name"),
    ("people.csv", 4, "malformed phone number '12345'"),
    ("people.csv", 5, "unknown unit 'Z9'"),
    ("people.csv", 6, "duplicate phone +84386000001 (rows 6, 7)"),
    ("people.csv", 7, "duplicate phone +84386000001 (rows 6, 7)"),
    ("people.csv", 8, "duplicate staff code K1 (rows 8, 9)"),
    ("people.csv", 9, "duplicate staff code k1 (rows 8, 9)"),
    ("people.csv", 10, "unknown gender 'Bê đê'"),
    ("people.csv", 11, "unknown role 'Hiệu trưởng'"),
    ("people.csv", 12, "unit S2 is rejected (see units.csv row 4)"),
    ("people.csv", 13, "no phone number and no staff code"),
    ("people.csv", 14, "unknown member value 'có lẽ'"),
]


async def test_each_bad_row_is_reported_with_its_row_number(db: Database, tmp_path: Path) -> None:
    units, people = bad_files(tmp_path)
    report = await run_import(db, [units, people])
    assert not report.applied and report.rejected
    found = [(e.where.file, e.where.row, e.reason) for e in report.errors]
    assert len(found) == len(EXPECTED_BAD)
    for (file, row, reason), (efile, erow, ereason) in zip(found, EXPECTED_BAD, strict=True):
        assert (file, row) == (efile, erow)
        assert reason.startswith(ereason), (row, reason)
    # All or nothing: not even the good rows were written.
    assert await rows(db, "SELECT count(*) FROM units") == [(0,)]
    assert await rows(db, "SELECT count(*) FROM people") == [(0,)]


async def test_skip_bad_imports_the_good_rows_only(db: Database, tmp_path: Path) -> None:
    units, people = bad_files(tmp_path)
    report = await run_import(db, [units, people], skip_bad=True)
    assert report.applied and len(report.errors) == 23
    assert (report.units.created, report.units.rejected) == (2, 11)
    assert (report.people.created, report.people.rejected) == (2, 12)
    assert sorted(c for (c,) in await rows(db, "SELECT code FROM units")) == ["P", "S1"]
    names = sorted(n for (n,) in await rows(db, "SELECT full_name FROM people"))
    assert names == ["Người Tốt", "Người Tốt Hai"]


async def test_a_phone_of_someone_else_in_the_database_is_refused(
    db: Database, tmp_path: Path
) -> None:
    await run_import(db, sample_paths())
    people = write_csv(
        tmp_path / "new.csv",
        PEOPLE_HEADER,
        [
            ["Người Mới", "0913620145", "NEW-1", "LD-DL", "Có", "", "", "", ""],
            ["Lê Thị Mai Anh", "0918402367", "BTX-002", "DL-THPT-BTX", "Có", "", "", "", ""],
        ],
    )
    report = await run_import(db, [people])
    assert [str(e) for e in report.errors] == [
        "new.csv row 2: phone +84913620145 belongs to Nguyễn Thị Thu Hà (LD) already",
        "new.csv row 3: phone +84918402367 belongs to Lê Thị Mai Anh (DL-THPT-BTX) already",
    ]
    assert report.rejected
    assert await rows(db, "SELECT count(*) FROM people") == [(40,)]


async def test_old_eleven_digit_mobile_numbers_are_stored_as_today_s(
    db: Database, tmp_path: Path
) -> None:
    """Rosters kept since before 2018 still hold 11-digit mobiles: each is stored as the number
    it became (0162 → 032, 0120 → 070, 0123 → 083, 0186 → 056, 0199 → 059, the last seven
    digits kept), also from a spreadsheet's number cell that lost the leading 0; the roster
    written again with today's numbers then changes nothing."""
    units = write_csv(
        tmp_path / "units.csv",
        UNIT_HEADER,
        [["P", "Công đoàn P", "Tỉnh", "", "Công lập", ""], ["S", "CĐCS S", "CĐCS", "P", "", ""]],
    )
    old = [
        ["Nguyễn Thị Lan", "0162 345 6789"],
        ["Trần Văn Hùng", "+84 120 456 7890"],
        ["Lê Thị Mai", "84.123.555.0101"],
        ["Phạm Văn Nam", "(0186) 222-3333"],
        ["Võ Thị Hoa", "01997654321"],
    ]
    header = ["Họ và tên", "Số điện thoại", "Đơn vị"]
    people = write_csv(tmp_path / "people.csv", header, [[*r, "S"] for r in old])
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header)
    sheet.append(["Đặng Thị Thu", 1681234567, "S"])  # 0168 123 4567 typed into a number cell
    workbook.save(tmp_path / "more.xlsx")

    report = await run_import(db, [units, people, tmp_path / "more.xlsx"])
    assert report.errors == []
    assert report.people.created == 6
    assert sorted(await rows(db, "SELECT full_name, phone FROM people")) == [
        ("Lê Thị Mai", "+84835550101"),
        ("Nguyễn Thị Lan", "+84323456789"),
        ("Phạm Văn Nam", "+84562223333"),
        ("Trần Văn Hùng", "+84704567890"),
        ("Võ Thị Hoa", "+84597654321"),
        ("Đặng Thị Thu", "+84381234567"),
    ]

    today = [
        ["Nguyễn Thị Lan", "0323 456 789"],
        ["Trần Văn Hùng", "0704 567 890"],
        ["Lê Thị Mai", "0835 550 101"],
        ["Phạm Văn Nam", "0562 223 333"],
        ["Võ Thị Hoa", "0597 654 321"],
        ["Đặng Thị Thu", "0381 234 567"],
    ]
    renewed = write_csv(tmp_path / "today.csv", header, [[*r, "S"] for r in today])
    again = await run_import(db, [units, renewed])
    assert again.errors == []
    assert (again.people.created, again.people.updated, again.people.unchanged) == (0, 0, 6)


async def test_apply_plan_refuses_a_plan_with_bad_rows(db: Database, tmp_path: Path) -> None:
    units, people = bad_files(tmp_path)
    parsed = read_roster([units, people], today=TODAY)
    async with db.session() as session:
        plan = await plan_import(session, parsed, today=TODAY)
        with pytest.raises(RosterRejected):
            await apply_plan(session, plan)
    assert await rows(db, "SELECT count(*) FROM units") == [(0,)]


async def test_large_import_uses_bulk_statements(db: Database, tmp_path: Path) -> None:
    units = write_csv(
        tmp_path / "u.csv",
        UNIT_HEADER,
        [["P", "Tỉnh", "Tỉnh", "", "", ""]]
        + [[f"S{i}", f"Trường {i}", "CĐCS", "P", "", "300"] for i in range(20)],
    )
    people = write_csv(
        tmp_path / "p.csv",
        PEOPLE_HEADER,
        [
            [f"Người {i}", f"09123{i:05d}", f"C{i}", f"S{i % 20}", "Có", "", "", "", ""]
            for i in range(5000)
        ],
    )
    statements = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    report = await run_import(db, [units, people])
    event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert (report.units.created, report.people.created) == (21, 5000)
    assert statements < 40  # two loads, a few batches: never one statement per row
    assert await rows(db, "SELECT count(*) FROM people") == [(5000,)]


# ---------------------------------------------------------------------------------------------
# The CLI

runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)

    async def create() -> None:
        database = Database(url)
        await upgrade(database)
        await database.dispose()

    asyncio.run(create())
    return url


def test_cli_imports_then_reimports_nothing(cli_db: str) -> None:
    units, people = (str(p) for p in sample_paths())
    result = runner.invoke(roster_app, ["import", units, people])
    assert result.exit_code == 0, result.output
    assert "Import done." in result.output
    assert re.search(r"Units\s*│\s*14\s*│\s*0\s*│\s*0\s*│\s*0", result.output)
    assert re.search(r"People\s*│\s*40\s*│\s*0\s*│\s*0\s*│\s*0", result.output)

    again = runner.invoke(roster_app, ["import", units, people])
    assert again.exit_code == 0
    assert re.search(r"People\s*│\s*0\s*│\s*0\s*│\s*40\s*│\s*0", again.output)


def test_cli_dry_run_lists_changes(cli_db: str) -> None:
    result = runner.invoke(roster_app, ["import", *map(str, sample_paths()), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was written." in result.output
    assert "create Nguyễn Thị Thu Hà (people.csv row 2): phone: +84913620145" in result.output
    assert "... and 34 more" in result.output  # 54 changes, the first 20 shown


def test_cli_bad_rows_exit_1_and_suggest_skip_bad(cli_db: str, tmp_path: Path) -> None:
    units, people = bad_files(tmp_path)
    result = runner.invoke(roster_app, ["import", str(units), str(people)])
    assert result.exit_code == 1
    assert "23 bad row(s):" in result.output
    assert "people.csv row 4: malformed phone number '12345'" in result.output
    assert "Nothing was imported: 23 bad row(s)." in result.output
    assert "--skip-bad" in result.output
    assert "Traceback" not in result.output

    skipped = runner.invoke(roster_app, ["import", str(units), str(people), "--skip-bad"])
    assert skipped.exit_code == 0
    assert "Imported the good rows; skipped 23 bad row(s)." in skipped.output


def test_cli_file_problems_exit_2(cli_db: str, tmp_path: Path) -> None:
    missing = runner.invoke(roster_app, ["import", str(tmp_path / "nope.xlsx")])
    assert missing.exit_code == 2
    assert missing.output.strip() == f"{tmp_path / 'nope.xlsx'}: file not found"

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really")
    unreadable = runner.invoke(roster_app, ["import", str(broken)])
    assert unreadable.exit_code == 2
    assert "broken.xlsx: cannot read it as an .xlsx workbook" in unreadable.output

    odd = write_csv(tmp_path / "odd.csv", ["Foo", "Bar"], [["1", "2"]])
    unknown = runner.invoke(roster_app, ["import", str(odd)])
    assert unknown.exit_code == 2
    assert "odd.csv: unrecognised headers (Foo, Bar)" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1


def test_cli_refuses_an_old_schema_and_bad_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    units = str(sample_paths()[0])
    result = runner.invoke(roster_app, ["import", units])
    assert result.exit_code == 2
    assert result.output.strip() == "Database schema is out of date; run: congdoan db upgrade"

    monkeypatch.setenv("BOT_LOCALE", "fr")
    result = runner.invoke(roster_app, ["import", units])
    assert result.exit_code == 2
    assert result.output.strip().startswith("BOT_LOCALE is invalid")


def test_cli_template_writes_an_importable_workbook(cli_db: str, tmp_path: Path) -> None:
    target = tmp_path / "out" / "mau.xlsx"
    result = runner.invoke(roster_app, ["template", str(target)])
    assert result.exit_code == 0, result.output
    workbook = openpyxl.load_workbook(target)
    assert workbook.sheetnames == ["Đơn vị", "Nhân sự"]
    imported = runner.invoke(roster_app, ["import", str(target)])
    assert imported.exit_code == 0, imported.output
    assert re.search(r"People\s*│\s*3\s*│", imported.output)


async def test_two_rows_matching_one_person_are_refused(db: Database, tmp_path: Path) -> None:
    await run_import(db, sample_paths())
    people = write_csv(
        tmp_path / "p.csv",
        PEOPLE_HEADER,
        [
            # Tuấn by staff code (new phone) and Tuấn again by his old phone: ambiguous.
            ["Phạm Minh Tuấn", "0912000111", "BTX-002", "BTX-TOAN", "Có", "Nam", "", "", ""],
            ["Phạm Tuấn", "0345271908", "", "BTX-TOAN", "Có", "Nam", "", "", ""],
        ],
    )
    report = await run_import(db, [people])
    assert [str(e) for e in report.errors] == [
        "p.csv row 2: rows 2, 3 all match Phạm Minh Tuấn (BTX-TOAN) in the database",
        "p.csv row 3: rows 2, 3 all match Phạm Minh Tuấn (BTX-TOAN) in the database",
    ]
    assert (await person(db, "Phạm Minh Tuấn"))["phone"] == "+84345271908"


# ---------------------------------------------------------------------------------------------
# Leaving the sector: "Trạng thái" and "Ngày nghỉ"

LEFT_HEADER = ["Họ và tên", "Mã cán bộ", "Đơn vị", "Trạng thái", "Ngày nghỉ"]


async def statuses(db: Database) -> dict[str, tuple[str, str | None]]:
    """Name → (work status, leaving date as stored) of everyone who is not active."""
    found = await rows(
        db, "SELECT full_name, work_status, left_on FROM people WHERE work_status != 'active'"
    )
    return {name: (status, str(left) if left is not None else None) for name, status, left in found}


async def test_status_and_leaving_date_columns(db: Database, tmp_path: Path) -> None:
    await run_import(db, sample_paths())
    left = write_csv(
        tmp_path / "left.csv",
        LEFT_HEADER,
        [
            ["Phạm Minh Tuấn", "BTX-002", "BTX-TOAN", "Đã nghỉ", "30/06/2025"],  # 2
            ["Võ Thị Hồng Nhung", "BTX-003", "BTX-TOAN", "nghỉ hưu", ""],  # 3: today
            ["Đặng Quốc Bảo", "BTX-004", "BTX-TOAN", "Chuyển công tác", "2026-01-05"],  # 4
            ["Huỳnh Thị Thanh Thủy", "BTX-005", "BTX-VAN", "", ""],  # 5: active, as before
            ["Ngô Văn Lâm", "BTX-006", "BTX-VAN", "ĐANG CÔNG TÁC", ""],  # 6: active
            ["Bùi Thị Lan", "ND-001", "DL-THCS-ND", "thôi việc", "1/9/2025"],  # 7
            ["Đỗ Văn Khánh", "ND-002", "DL-THCS-ND", "chuyển khỏi ngành", "15/03/2026"],  # 8
        ],
    )
    report = await run_import(db, [left], dry_run=True)
    assert report.errors == []
    assert (report.people.created, report.people.updated, report.people.unchanged) == (0, 5, 2)
    assert [str(c) for c in report.changes] == [
        "update Phạm Minh Tuấn (left.csv row 2): status: active → retired, left on: — → 30/06/2025",
        # no date: the day of the import
        "update Võ Thị Hồng Nhung (left.csv row 3): status: active → retired, "
        "left on: — → 15/03/2026",
        "update Đặng Quốc Bảo (left.csv row 4): status: active → moved, left on: — → 05/01/2026",
        "update Bùi Thị Lan (left.csv row 7): status: active → retired, left on: — → 01/09/2025",
        # leaving today is not in the future
        "update Đỗ Văn Khánh (left.csv row 8): status: active → moved, left on: — → 15/03/2026",
    ]
    assert await statuses(db) == {}  # dry run

    report = await run_import(db, [left])
    assert report.applied and report.people.updated == 5
    expected = {
        "Phạm Minh Tuấn": ("retired", "2025-06-30"),
        "Võ Thị Hồng Nhung": ("retired", "2026-03-15"),
        "Đặng Quốc Bảo": ("moved", "2026-01-05"),
        "Bùi Thị Lan": ("retired", "2025-09-01"),
        "Đỗ Văn Khánh": ("moved", "2026-03-15"),
    }
    assert await statuses(db) == expected
    # The columns the file left out are kept: Lan is still the officer of her CĐCS, phones stay.
    lan = await person(db, "Bùi Thị Lan")
    assert (lan["phone"], lan["role"], lan["officer_unit"]) == (
        "+84935274681",
        "officer",
        "DL-THCS-ND",
    )

    # The same file a month later changes nothing: Nhung keeps the date she was recorded with.
    again = await run_import(db, [left], today=dt.date(2026, 4, 15))
    assert (again.people.updated, again.changes) == (0, [])
    # Files without the columns leave the statuses alone.
    sample = await run_import(db, sample_paths(), today=dt.date(2026, 4, 15))
    assert (sample.people.updated, sample.people.unchanged) == (0, 40)
    assert await statuses(db) == expected


async def test_english_headers_coming_back_and_a_new_person_who_left(
    db: Database, tmp_path: Path
) -> None:
    await run_import(db, sample_paths())
    gone = write_csv(
        tmp_path / "gone.csv",
        LEFT_HEADER,
        [["Phạm Minh Tuấn", "BTX-002", "BTX-TOAN", "Đã nghỉ", ""]],
    )
    await run_import(db, [gone])
    assert await statuses(db) == {"Phạm Minh Tuấn": ("retired", "2026-03-15")}

    back = write_csv(
        tmp_path / "back.csv",
        ["full name", "staff code", "unit", "status", "left on"],
        [
            ["Phạm Minh Tuấn", "BTX-002", "BTX-TOAN", "active", ""],  # 2: back, no date
            ["Người Mới", "NEW-1", "BTX-VAN", "moved", "02/03/2026"],  # 3: new, already gone
        ],
    )
    report = await run_import(db, [back])
    assert report.errors == []
    assert [str(c) for c in report.changes] == [
        "update Phạm Minh Tuấn (back.csv row 2): status: retired → active, left on: 15/03/2026 → —",
        "create Người Mới (back.csv row 3): phone: —, staff code: NEW-1, unit: BTX-VAN, "
        "member: yes, role: member, status: moved, left on: 02/03/2026",
    ]
    assert await statuses(db) == {"Người Mới": ("moved", "2026-03-02")}
    assert await rows(db, "SELECT left_on FROM people WHERE full_name = 'Phạm Minh Tuấn'") == [
        (None,)
    ]


async def test_xlsx_date_cells_and_other_headers(db: Database, tmp_path: Path) -> None:
    await run_import(db, sample_paths())
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Họ tên", "Mã CB", "Đơn vị", "Tình trạng", "Ngày thôi"])
    sheet.append(["Phạm Minh Tuấn", "BTX-002", "BTX-TOAN", "Chuyển đi", dt.datetime(2025, 8, 31)])
    sheet.append(["Võ Thị Hồng Nhung", "BTX-003", "BTX-TOAN", "nghỉ việc", dt.date(2026, 2, 1)])
    path = tmp_path / "left.xlsx"
    workbook.save(path)
    report = await run_import(db, [path])
    assert report.errors == [] and report.warnings == []
    assert await statuses(db) == {
        "Phạm Minh Tuấn": ("moved", "2025-08-31"),
        "Võ Thị Hồng Nhung": ("retired", "2026-02-01"),
    }


async def test_bad_statuses_and_leaving_dates(db: Database, tmp_path: Path) -> None:
    await run_import(db, sample_paths())
    bad = write_csv(
        tmp_path / "bad.csv",
        LEFT_HEADER,
        [
            ["Phạm Minh Tuấn", "BTX-002", "BTX-TOAN", "nghỉ phép", ""],  # 2
            ["Võ Thị Hồng Nhung", "BTX-003", "BTX-TOAN", "Đã nghỉ", "31/02/2025"],  # 3
            ["Đặng Quốc Bảo", "BTX-004", "BTX-TOAN", "Đang công tác", "01/02/2026"],  # 4
            ["Huỳnh Thị Thanh Thủy", "BTX-005", "BTX-VAN", "Chuyển đi", "16/03/2026"],  # 5
            ["Ngô Văn Lâm", "BTX-006", "BTX-VAN", "", "01/01/2026"],  # 6: empty is active
            ["Bùi Thị Lan", "ND-001", "DL-THCS-ND", "Đã nghỉ", "hôm qua"],  # 7
        ],
    )
    report = await run_import(db, [bad])
    assert report.rejected
    assert [str(e) for e in report.errors] == [
        "bad.csv row 2: unknown status 'nghỉ phép' (use Đang công tác, Đã nghỉ or Chuyển đi)",
        "bad.csv row 3: Ngày nghỉ '31/02/2025' is not a date (use dd/mm/yyyy)",
        "bad.csv row 4: Ngày nghỉ is set but the status is Đang công tác",
        "bad.csv row 5: Ngày nghỉ 16/03/2026 is in the future",
        "bad.csv row 6: Ngày nghỉ is set but the status is Đang công tác",
        "bad.csv row 7: Ngày nghỉ 'hôm qua' is not a date (use dd/mm/yyyy)",
    ]
    assert await statuses(db) == {}


async def test_a_date_without_a_status_column(db: Database, tmp_path: Path) -> None:
    await run_import(db, sample_paths())
    gone = write_csv(
        tmp_path / "gone.csv",
        LEFT_HEADER,
        [["Võ Thị Hồng Nhung", "BTX-003", "BTX-TOAN", "Đã nghỉ", ""]],
    )
    await run_import(db, [gone])
    dates = write_csv(
        tmp_path / "dates.csv",
        ["Họ và tên", "Mã cán bộ", "Đơn vị", "Ngày nghỉ"],
        [
            ["Phạm Minh Tuấn", "BTX-002", "BTX-TOAN", "01/02/2026"],  # 2: active: refused
            ["Võ Thị Hồng Nhung", "BTX-003", "BTX-TOAN", "01/02/2026"],  # 3: corrects her date
        ],
    )
    report = await run_import(db, [dates], skip_bad=True)
    assert [str(e) for e in report.errors] == [
        "dates.csv row 2: Ngày nghỉ is set but the status is Đang công tác (no Trạng thái column)"
    ]
    assert (report.people.updated, report.people.rejected) == (1, 1)
    assert [str(c) for c in report.changes] == [
        "update Võ Thị Hồng Nhung (dates.csv row 3): left on: 15/03/2026 → 01/02/2026"
    ]
    assert await statuses(db) == {"Võ Thị Hồng Nhung": ("retired", "2026-02-01")}
