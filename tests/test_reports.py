"""The exported reports (bot.reports.export) of the hand-computed province of
tests/test_indicators.py: the workbook's sheets, figures and print setup, the CSV, the text
table, and user text that looks like a formula."""

from __future__ import annotations

import csv
import datetime as dt
import io
import struct

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from bot.indicators.compute import StatsReport, ranked_children, shortfall
from bot.reports.export import safe_text, to_csv, to_png, to_text, to_xlsx
from storage.db import Database
from storage.models import Unit
from tests.test_indicators import YEAR, Province, _stats, province

__all__ = ["province"]  # the fixture, used by name

MADE = dt.datetime(2026, 1, 5, 9, 30)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+84 912", "'+84 912"),
        ("-Trường", "'-Trường"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("Trường THCS Lê Lợi", "Trường THCS Lê Lợi"),
        ("A-1 = ok", "A-1 = ok"),
    ],
)
def test_safe_text(text: str, shown: str) -> None:
    assert safe_text(text) == shown


async def _province_report(db: Database, p: Province) -> StatsReport:
    return await _stats(db, p, "LD")


async def test_the_workbook(db: Database, province: Province) -> None:
    report = await _province_report(db, province)
    book = load_workbook(io.BytesIO(to_xlsx(report, "vi", union_name="CĐGD tỉnh", made_at=MADE)))
    assert book.sheetnames == ["Tổng hợp", "Công lập - ngoài công lập", "Theo đơn vị"]
    summary = book["Tổng hợp"]
    assert summary["A1"].value == "LIÊN ĐOÀN LAO ĐỘNG TỈNH LÂM ĐỒNG"
    assert summary["A2"].value == "CĐGD TỈNH"
    assert summary["A4"].value == f"BÁO CÁO KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU NĂM {YEAR}"
    assert summary["A5"].value == "Đơn vị: Công đoàn Giáo dục tỉnh Lâm Đồng"
    assert summary["A6"].value == "Lập lúc 09:30 05/01/2026 từ dữ liệu của congdoan-bot"
    assert [c.value for c in summary[8]] == [
        "Mã", "Chỉ tiêu", "Phạm vi", "Tử số", "Mẫu số", "Tỷ lệ", "Mục tiêu", "Đạt",
        "Độ phủ (số)", "Độ phủ (trên tổng)",
    ]  # fmt: skip
    rows = {r[0].value: r for r in summary.iter_rows(min_row=9)}
    assert len(rows) == 19  # one line per indicator: all are computed
    a3c = [c.value for c in rows["A3c"]]
    # by hand in tests/test_indicators.py: 8 of 20 staff, 12 answered, target ≥ 75 %
    assert a3c[2:] == ["Toàn đơn vị", 8, 20, pytest.approx(0.4), "≥ 75%", "Chưa đạt", 12, 20]
    assert rows["A3c"][5].number_format == "0.0%"
    a6 = [c.value for c in rows["A6"]]  # 3 introductions over 5 CĐCS, an average
    assert a6[3:8] == [3, 5, pytest.approx(0.6), "≥ 1,0 mỗi CĐCS", "Chưa đạt"]
    assert rows["A6"][5].number_format == "0.00"
    assert rows["P5"][3].number_format == rows["A3c"][4].number_format == "#,##0"
    # P5: amounts, in thousands of đồng (by hand: 224.000 of 250.000)
    p5 = [c.value for c in rows["P5"]]
    assert p5[1] == "Thu tài chính công đoàn so với số phải thu (nghìn đồng)"
    assert p5[3:8] == [224_000, 250_000, pytest.approx(0.896), "≥ 90% (mốc 2023)", "Chưa đạt"]
    assert [c.value for c in rows["A2a"]][5:8] == [
        pytest.approx(0.2),
        "theo công lập / ngoài công lập",
        "—",
    ]
    assert summary.freeze_panes == "C9"
    assert summary.print_title_rows == "$8:$8"
    assert summary.page_setup.orientation == "landscape"
    assert summary.column_dimensions["B"].width == 46

    public = {(r[0], r[2]): r for r in book["Công lập - ngoài công lập"].iter_rows(
        min_row=9, values_only=True
    )}  # fmt: skip
    assert public[("A3c", "Công lập")][3:5] == (5, 16)
    assert public[("A3c", "Ngoài công lập")][3:8] == (3, 4, 0.75, "≥ 75%", "Đạt")
    assert ("P2", "Ngoài công lập") not in public  # no non-public CĐCS figure for P2
    units = {(r[0], r[2]): r for r in book["Theo đơn vị"].iter_rows(min_row=9, values_only=True)}
    assert units[("A3c", "Công đoàn Giáo dục Bảo Lộc")][3:5] == (2, 9)
    assert units[("A3c", "Công đoàn Giáo dục tỉnh Lâm Đồng (trực tiếp)")][3:5] == (0, 1)


async def test_the_workbook_in_english(db: Database, province: Province) -> None:
    report = await _province_report(db, province)
    book = load_workbook(io.BytesIO(to_xlsx(report, "en", union_name="X", made_at=MADE)))
    assert book.sheetnames == ["Summary", "Public - non-public", "By unit"]
    assert book["Summary"]["A4"].value == f"REPORT ON THE INDICATORS FOR {YEAR}"
    assert book["Summary"]["H8"].value == "Met"


async def test_unit_names_never_start_a_formula(db: Database, province: Province) -> None:
    async with db.session() as s:
        await s.execute(
            update(Unit).where(Unit.code == "BL").values(name="=cmd|'/c calc'!A0")  # type: ignore[arg-type]
        )
    report = await _province_report(db, province)
    data = to_xlsx(report, "vi", union_name="@union", made_at=MADE)
    book = load_workbook(io.BytesIO(data))
    assert book["Tổng hợp"]["A2"].value == "'@UNION"
    names = [r[2] for r in book["Theo đơn vị"].iter_rows(min_row=9, values_only=True)]
    assert "'=cmd|'/c calc'!A0" in names
    for ws in book.worksheets:
        for row in ws.iter_rows(values_only=True):
            for value in row:
                assert not (isinstance(value, str) and value.startswith(("=", "+", "-", "@")))
    lines = list(csv.reader(io.StringIO(to_csv(report, "vi"))))
    assert all(not cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)


async def test_the_csv_and_the_text(db: Database, province: Province) -> None:
    report = await _province_report(db, province)
    lines = list(csv.reader(io.StringIO(to_csv(report, "vi"))))
    assert lines[0][:4] == ["Bảng", "Mã", "Chỉ tiêu", "Phạm vi"]
    by_key = {(line[0], line[1], line[3]): line for line in lines[1:]}
    assert by_key[("Tổng hợp", "A3c", "Toàn đơn vị")][4:9] == [
        "8",
        "20",
        "0.4",
        "≥ 75%",
        "Chưa đạt",
    ]
    assert by_key[("Tổng hợp", "A3a", "Toàn đơn vị")][6] == "0.1765"  # 3/17
    assert by_key[("Theo đơn vị", "A5", "Công đoàn Giáo dục tỉnh Lâm Đồng (trực tiếp)")][6] == ""
    text = to_text(report, "vi")
    assert "A3c" in text and "8/20" in text and "40%" in text and "<b>" not in text


async def test_the_chart(db: Database, province: Province) -> None:
    report = await _province_report(db, province)
    data = to_png(report, "vi")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    # 9 in × 120 dpi wide; 1.6 + 0.42 × 18 bars (19 rows, A6 is an average) in tall
    assert (width, height) == (1080, round((1.6 + 0.42 * 18) * 120))


async def test_children_furthest_below_target_first(db: Database, province: Province) -> None:
    report = await _province_report(db, province)
    a3c = next(r for r in report.rows if r.code == "A3c")
    # by hand: the provincial office 0/1 (75 points short), BL 2/9 (52.8), DL 6/10 (15)
    ranked = ranked_children(a3c)
    assert [(c.code, c.direct) for c in ranked] == [("LD", True), ("BL", False), ("DL", False)]
    assert [round(shortfall(c) or 0, 3) for c in ranked] == [0.75, 0.528, 0.15]
    a2a = next(r for r in report.rows if r.code == "A2a")  # districts: no single target
    assert [c.code for c in ranked_children(a2a)] == ["BL", "DL"]  # then by name
    assert shortfall(a2a) is None
