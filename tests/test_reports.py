"""The exported reports (bot.reports.export, bot.reports.tree) of a small province built below,
every expected figure worked out by hand from it: the workbook's sheets, standings in words, lower
bounds, notes, tree of units and closing block; the CSV; the chart's bars; the text table; user
text that looks like a formula.

The province (year 2025):

unit                              public staff  people (members / non-members)
LD  Công đoàn Giáo dục tỉnh …    —      0      nobody
BL  Công đoàn Giáo dục Bảo Lộc   —      0      nobody
  S3  THCS Lê Lợi                 yes    0      c1 c2 / c3   (no staff count: the roster's 3)
  S4  Tiểu học Kim Đồng           yes    3      d1 d2 d3
DL  Công đoàn Giáo dục Đà Lạt    —      0      nobody
  S1  THPT Chu Văn An             yes    4      a1 a2 a3 a4
  S2  Trường Quốc tế Hoa Sen      no     2      b1 b2
12 people, 11 members; staff 4 + 2 + 3 (S3 from the roster) + 3 = 12.

Activity survey (A3c, ≥ 75 %, over all staff): a1 yes, a2 yes, a3 no, b1 yes, b2 yes, d1 no.
Welfare (A3a, ≥ 20 %): a1 signed up, confirmed.  No training survey (A4b), no case (A3b, P4).
Unit reports (A2a: 100 % public, ≥ 70 % non-public; A6: ≥ 1,0 per CĐCS): S1 dialogue yes,
2 introductions; S2 dialogue yes, 0; S4 dialogue no, 0; S3 sent none.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.indicators import StatsReport, compute_stats, load_catalog
from bot.reports.export import (
    SignOff,
    chart_bars,
    draw_chart,
    safe_text,
    to_csv,
    to_png,
    to_text,
    to_xlsx,
)
from bot.reports.tree import UnitTree, unit_tree
from bot.settings import load_settings
from storage.db import Database
from storage.models import (
    Answer,
    BenefitStatus,
    Person,
    Response,
    ResponseState,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
    UnitKind,
    WelfareBenefit,
)
from tests.test_indicators import Province, _people, _unit

CATALOG = load_catalog()
YEAR = 2025
# 18:30 UTC on 4 January is 01:30 on 5 January in Vietnam (UTC+7): the report's local date.
MADE = dt.datetime(2026, 1, 4, 18, 30, tzinfo=dt.UTC)
SIGNOFF = SignOff(
    place="Lâm Đồng",
    signer=("TM. BAN THƯỜNG VỤ", "CHỦ TỊCH"),
    recipients=("LĐLĐ tỉnh Lâm Đồng (b/c)", "Lưu: VT"),
    tz=ZoneInfo("Asia/Ho_Chi_Minh"),
)
BL, DL = "Công đoàn Giáo dục Bảo Lộc", "Công đoàn Giáo dục Đà Lạt"
S1, S2, S3, S4 = "THPT Chu Văn An", "Trường Quốc tế Hoa Sen", "THCS Lê Lợi", "Tiểu học Kim Đồng"

# --------------------------------------------------------------------------- the province


async def _run(s: AsyncSession, p: Province, survey: str) -> int:
    definition = SurveyDefinitionRow(
        key=survey, version=1, title=survey, checksum=survey, body="{}"
    )
    s.add(definition)
    await s.flush()
    assert definition.id is not None
    run = SurveyRun(definition_id=definition.id, unit_id=p.uid("LD"), period_year=YEAR)
    s.add(run)
    await s.flush()
    assert run.id is not None
    return run.id


async def _answer(
    s: AsyncSession, p: Province, run_id: int, who: str, **answers: bool | int
) -> Response:
    person = p.people[who]
    assert person.id is not None
    response = Response(
        run_id=run_id,
        person_id=person.id,
        unit_id=person.unit_id,
        is_member=person.is_member,
        state=ResponseState.COMPLETED,
    )
    s.add(response)
    await s.flush()
    assert response.id is not None
    s.add_all(
        Answer(response_id=response.id, question_key=key, value=json.dumps(value))
        for key, value in answers.items()
    )
    await s.flush()
    return response


async def build_small(s: AsyncSession) -> Province:
    p = Province()
    await _unit(s, p, "LD", "Công đoàn Giáo dục tỉnh Lâm Đồng", UnitKind.PROVINCE, None)
    await _unit(s, p, "BL", BL, UnitKind.DISTRICT, "LD")
    await _unit(s, p, "DL", DL, UnitKind.DISTRICT, "LD")
    await _unit(s, p, "S1", S1, UnitKind.GRASSROOTS, "DL", staff=4)
    await _unit(s, p, "S2", S2, UnitKind.GRASSROOTS, "DL", public=False, staff=2)
    await _unit(s, p, "S3", S3, UnitKind.GRASSROOTS, "BL", staff=0)
    await _unit(s, p, "S4", S4, UnitKind.GRASSROOTS, "BL", staff=3)
    await _people(s, p, "S1", "a1 a2 a3 a4")
    await _people(s, p, "S2", "b1 b2")
    await _people(s, p, "S3", "c1 c2", "c3")
    await _people(s, p, "S4", "d1 d2 d3")

    activity = await _run(s, p, "activity_participation")
    for who, yes in (("a1", 1), ("a2", 1), ("a3", 0), ("b1", 1), ("b2", 1), ("d1", 0)):
        await _answer(s, p, activity, who, participated=bool(yes))

    welfare = await _run(s, p, "welfare_signup")
    signed = await _answer(s, p, welfare, "a1")
    a1 = p.people["a1"]
    assert a1.id is not None
    s.add(
        WelfareBenefit(
            response_id=signed.id,
            person_id=a1.id,
            unit_id=a1.unit_id,
            offer="bank",
            status=BenefitStatus.CONFIRMED,
            period_year=YEAR,
        )
    )

    report = await _run(s, p, "unit_report")
    await _answer(s, p, report, "a1", periodic_dialogue=True, party_introductions=2)
    await _answer(s, p, report, "b1", periodic_dialogue=True, party_introductions=0)
    await _answer(s, p, report, "d1", periodic_dialogue=False, party_introductions=0)
    await s.flush()
    return p


@pytest.fixture
async def small(db: Database) -> Province:
    async with db.session() as s:
        return await build_small(s)


async def _report(db: Database, p: Province, unit: str = "LD") -> StatsReport:
    async with db.session() as s:
        return await compute_stats(s, scope_unit_id=p.uid(unit), year=YEAR, catalog=CATALOG)


async def _tree(db: Database, p: Province, unit: str = "LD") -> UnitTree:
    async with db.session() as s:
        report = await compute_stats(s, scope_unit_id=p.uid(unit), year=YEAR, catalog=CATALOG)
        return await unit_tree(s, report, catalog=CATALOG)


def _table(ws: Worksheet) -> dict[tuple[str, str], list[object]]:
    """The sheet's lines by (code, part)."""
    return {
        (str(r[0]), str(r[2])): list(r)
        for r in ws.iter_rows(min_row=9, values_only=True)
        if r[0] is not None and r[3] is not None
    }


# --------------------------------------------------------------------------- tests


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


def test_signoff_from_the_settings() -> None:
    settings = load_settings(
        REPORT_PLACE=" Đà Lạt ",
        REPORT_SIGNER_TITLE="TM. BAN THƯỜNG VỤ; CHỦ TỊCH",
        REPORT_RECIPIENTS="LĐLĐ tỉnh (b/c);; Lưu: VT ",
        TZ="Asia/Ho_Chi_Minh",
    )
    signoff = SignOff.from_settings(settings)
    assert signoff.place == "Đà Lạt"
    assert signoff.signer == ("TM. BAN THƯỜNG VỤ", "CHỦ TỊCH")
    assert signoff.recipients == ("LĐLĐ tỉnh (b/c)", "Lưu: VT")
    assert signoff.tz == ZoneInfo("Asia/Ho_Chi_Minh")


async def test_the_summary_sheet(db: Database, small: Province) -> None:
    tree = await _tree(db, small)
    data = to_xlsx(tree, "vi", union_name="CĐGD tỉnh", made_at=MADE, signoff=SIGNOFF)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Tổng hợp", "Công lập - ngoài công lập", "Theo đơn vị"]
    summary = book["Tổng hợp"]
    assert summary["A1"].value == "LIÊN ĐOÀN LAO ĐỘNG TỈNH LÂM ĐỒNG"
    assert summary["A2"].value == "CĐGD TỈNH"
    assert summary["A4"].value == f"BÁO CÁO KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU NĂM {YEAR}"
    assert summary["A5"].value == "Đơn vị: Công đoàn Giáo dục tỉnh Lâm Đồng"
    assert summary["A6"].value == "Lập lúc 01:30 05/01/2026 từ dữ liệu của congdoan-bot"
    assert [c.value for c in summary[8]] == [
        "Mã", "Chỉ tiêu", "Phạm vi", "Tử số", "Mẫu số", "Tỷ lệ", "Cận dưới", "Mục tiêu",
        "Kết quả", "Độ phủ thấp", "Độ phủ (số)", "Độ phủ (trên tổng)", "Ghi chú",
    ]  # fmt: skip
    rows = _table(summary)
    assert len(rows) == 20  # one line per indicator: all are computed
    whole = "Toàn đơn vị"
    # A3c: yes a1 a2 b1 b2 = 4 of the 6 who answered (66,7 % < 75 %); 6 of 12 staff answered,
    # 50 %: enough for a verdict.  Lower bound: 4 of all 12 = 33,3 %.
    a3c = rows[("A3c", whole)]
    assert a3c[3:12] == [4, 6, pytest.approx(4 / 6), pytest.approx(4 / 12), "≥ 75%",
                         "Chưa đạt", None, 6, 12]  # fmt: skip
    # A3a: a1 confirmed, 1 of 11 members; 1 of 11 signed up (9 % < 50 %): no verdict.
    a3a = rows[("A3a", whole)]
    assert a3a[3:6] == [1, 11, pytest.approx(1 / 11)]
    assert a3a[8:12] == ["chưa đủ số liệu (đã đăng ký 1/11)", "Có", 1, 11]
    # A4b: no training survey: no rate at all, never 0 %.
    a4b = rows[("A4b", whole)]
    assert (a4b[5], a4b[8]) == (None, "chưa có số liệu")
    assert rows[("A3b", whole)][8] == "chưa có trường hợp"
    # A5: 11 members of 12 staff (S3 counted from its roster: 3) = 91,7 % < 97 %.
    a5 = rows[("A5", whole)]
    assert a5[3:6] == [11, 12, pytest.approx(11 / 12)]
    assert a5[6] is None  # no lower bound for the roster
    assert a5[8] == "Chưa đạt"
    assert a5[12] == "1 CĐCS chưa khai số CBNGNLĐ: tính theo danh sách"
    # A6: 2 + 0 + 0 introductions over the 3 CĐCS that reported = 0,67 < 1 each; lower bound
    # over all 4 CĐCS: 0,5.
    a6 = rows[("A6", whole)]
    assert a6[3:9] == [2, 3, pytest.approx(2 / 3), pytest.approx(0.5), "≥ 1,0 mỗi CĐCS",
                       "Chưa đạt"]  # fmt: skip
    # A2a: a mixed scope has no single target: each side's standing.  Public S1 yes, S4 no
    # (1 of 2, 100 % wanted); non-public S2 yes (1 of 1, ≥ 70 %).
    a2a = rows[("A2a", whole)]
    assert a2a[3:5] == [2, 3]
    assert a2a[7:9] == [
        "theo công lập / ngoài công lập",
        "Công lập: Chưa đạt · Ngoài công lập: Đạt",
    ]

    cells = {
        (c.row, c.column): c for line in summary.iter_rows() for c in line if isinstance(c, Cell)
    }  # merged cells aside
    assert cells[(9, 6)].number_format == cells[(9, 7)].number_format == "0.0%"
    a6_row = next(r for (r, c), cell in cells.items() if c == 1 and cell.value == "A6")
    assert cells[(a6_row, 6)].number_format == cells[(a6_row, 7)].number_format == "0.00"
    assert summary.freeze_panes == "C9"
    assert summary.print_title_rows == "$8:$8"
    assert summary.page_setup.orientation == "landscape"

    # Under the table: how a rate is counted and the lower bound, then the closing block.
    texts = {cell.value: (r, c) for (r, c), cell in cells.items() if isinstance(cell.value, str)}
    last = 8 + 20  # the heading in row 8, then one row per indicator
    footnote = next(t for t in texts if t.startswith("Tỷ lệ = tử số/mẫu số"))
    assert texts[footnote] == (last + 2, 1)
    assert texts[next(t for t in texts if t.startswith("Cận dưới: "))] == (last + 3, 1)
    dated = texts["Lâm Đồng, ngày 05 tháng 01 năm 2026"]  # local date of the fixed clock
    assert dated == (last + 5, 6)  # right half
    assert texts["Người lập"] == (dated[0] + 1, 1)  # left
    assert texts["TM. BAN THƯỜNG VỤ"] == (dated[0] + 1, 6)  # right
    assert texts["CHỦ TỊCH"] == (dated[0] + 2, 6)
    received = texts["Nơi nhận:"]
    assert received[1] == 1 and received[0] > dated[0] + 3  # room to sign
    assert texts["- LĐLĐ tỉnh Lâm Đồng (b/c);"] == (received[0] + 1, 1)
    assert texts["- Lưu: VT."] == (received[0] + 2, 1)
    assert cells[(received[0] + 1, 1)].quotePrefix  # a leading "-" kept as text


def test_the_date_line_in_the_style_of_documents() -> None:
    from bot.reports.export import _date_words

    assert _date_words(dt.date(2026, 1, 5)) == ("05", "01", "2026")
    assert _date_words(dt.date(2026, 2, 15)) == ("15", "02", "2026")
    assert _date_words(dt.date(2026, 11, 3)) == ("03", "11", "2026")


async def test_the_public_sheet(db: Database, small: Province) -> None:
    tree = await _tree(db, small)
    book = load_workbook(io.BytesIO(to_xlsx(tree, "vi", union_name="X", made_at=MADE,
                                            signoff=SIGNOFF)))  # fmt: skip
    public = _table(book["Công lập - ngoài công lập"])
    # A3c public (S1, S3, S4: 10 people): yes a1 a2 of a1 a2 a3 d1 who answered; 4 of 10
    # answered (40 % < 50 %): no verdict.  Lower bound 2 of 10.
    side = public[("A3c", "Công lập")]
    assert side[3:12] == [2, 4, pytest.approx(0.5), pytest.approx(0.2), "≥ 75%",
                          "chưa đủ số liệu (đã trả lời 4/10)", "Có", 4, 10]  # fmt: skip
    # non-public (S2): b1 b2, 2 of 2 = 100 % ≥ 75 %.
    assert public[("A3c", "Ngoài công lập")][3:10] == [2, 2, 1, 1, "≥ 75%", "Đạt", None]
    # A2a public: S1 yes of S1 S4 who reported; lower bound over S1 S3 S4: 1 of 3.
    a2a = public[("A2a", "Công lập")]
    assert a2a[3:9] == [1, 2, 0.5, pytest.approx(1 / 3), "100%", "Chưa đạt"]
    assert ("P2", "Ngoài công lập") not in public  # P2 is for public units: no such side


async def test_the_units_sheet_is_the_tree(db: Database, small: Province) -> None:
    tree = await _tree(db, small)
    book = load_workbook(io.BytesIO(to_xlsx(tree, "vi", union_name="X", made_at=MADE,
                                            signoff=SIGNOFF)))  # fmt: skip
    ws = book["Theo đơn vị"]
    a3c = [r for r in ws.iter_rows(min_row=9) if r[0].value == "A3c"]
    # each district followed by its CĐCS, indented under it
    assert [r[2].value for r in a3c] == [BL, S3, S4, DL, S1, S2]
    assert [r[2].alignment.indent for r in a3c] == [0, 2, 2, 0, 2, 2]
    assert [bool(r[2].font.b) for r in a3c] == [True, False, False, True, False, False]
    units = _table(ws)
    # BL: d1 answered no, 1 of 6 staff answered (< 50 %); S3: nobody answered; S4: d1, 1 of 3.
    assert units[("A3c", BL)][3:10] == [0, 1, 0, 0, "≥ 75%", "chưa đủ số liệu (đã trả lời 1/6)",
                                        "Có"]  # fmt: skip
    assert units[("A3c", S3)][5] is None and units[("A3c", S3)][8] == "chưa có ai trả lời"
    assert units[("A3c", S4)][8] == "chưa đủ số liệu (đã trả lời 1/3)"
    # DL: 4 yes of 5 who answered = 80 %, 5 of 6 answered; S1: a1 a2 of a1 a2 a3 = 66,7 %.
    assert units[("A3c", DL)][3:9] == [4, 5, 0.8, pytest.approx(4 / 6), "≥ 75%", "Đạt"]
    assert units[("A3c", S1)][3:9] == [2, 3, pytest.approx(2 / 3), 0.5, "≥ 75%", "Chưa đạt"]
    assert units[("A3c", S2)][8] == "Đạt"
    # A2a: S3 sent no report: "chưa báo cáo", never 0/1; S4 reported no dialogue (100 % wanted).
    assert [r[2].value for r in ws.iter_rows(min_row=9) if r[0].value == "A2a"] == [
        BL, S3, S4, DL, S1, S2,
    ]  # fmt: skip
    assert units[("A2a", S3)][3:9] == [0, 0, None, None, "100%", "chưa báo cáo"]
    assert units[("A2a", S4)][8] == "Chưa đạt"
    assert units[("A2a", S2)][7:9] == ["≥ 70%", "Đạt"]  # the non-public target
    assert units[("A2a", BL)][8] == "—"  # a district: no single target
    # A5 in BL: c1 c2 d1 d2 d3 = 5 of 3 (S3's roster) + 3 staff; S3 itself 2 of 3.
    assert units[("A5", BL)][3:5] == [5, 6]
    fallback = "1 CĐCS chưa khai số CBNGNLĐ: tính theo danh sách"
    assert units[("A5", BL)][12] == units[("A5", S3)][12] == fallback
    assert units[("A5", DL)][12] is None


async def test_a_lone_report_gives_the_first_level(db: Database, small: Province) -> None:
    report = await _report(db, small)
    book = load_workbook(io.BytesIO(to_xlsx(report, "vi", union_name="X", made_at=MADE,
                                            signoff=SIGNOFF)))  # fmt: skip
    a3c = [r[2] for r in book["Theo đơn vị"].iter_rows(min_row=9, values_only=True)
           if r[0] == "A3c"]  # fmt: skip
    assert a3c == [BL, DL]


async def test_the_workbook_in_english(db: Database, small: Province) -> None:
    report = await _report(db, small)
    book = load_workbook(io.BytesIO(to_xlsx(report, "en", union_name="X", made_at=MADE,
                                            signoff=SIGNOFF)))  # fmt: skip
    assert book.sheetnames == ["Summary", "Public - non-public", "By unit"]
    assert book["Summary"]["A4"].value == f"REPORT ON THE INDICATORS FOR {YEAR}"
    assert book["Summary"]["I8"].value == "Result"
    assert _table(book["Summary"])[("A5", "Whole unit")][8] == "Not met"


async def test_unit_names_never_start_a_formula(db: Database, small: Province) -> None:
    async with db.session() as s:
        await s.execute(
            update(Unit).where(Unit.code == "BL").values(name="=cmd|'/c calc'!A0")  # type: ignore[arg-type]
        )
    tree = await _tree(db, small)
    data = to_xlsx(tree, "vi", union_name="@union", made_at=MADE, signoff=SIGNOFF)
    book = load_workbook(io.BytesIO(data))
    assert book["Tổng hợp"]["A2"].value == "'@UNION"
    names = [r[2] for r in book["Theo đơn vị"].iter_rows(min_row=9, values_only=True)]
    assert "'=cmd|'/c calc'!A0" in names
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
                    assert cell.quotePrefix and value.startswith("- ")  # "Nơi nhận"'s list
    lines = list(csv.reader(io.StringIO(to_csv(tree, "vi"))))
    assert all(not cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)
    assert "'=cmd|'/c calc'!A0" in [line[3] for line in lines]


async def test_the_csv(db: Database, small: Province) -> None:
    tree = await _tree(db, small)
    lines = list(csv.reader(io.StringIO(to_csv(tree, "vi"))))
    assert lines[0] == [
        "Bảng", "Mã", "Chỉ tiêu", "Phạm vi", "Tử số", "Mẫu số", "Tỷ lệ", "Cận dưới", "Mục tiêu",
        "Kết quả", "Độ phủ thấp", "Độ phủ (số)", "Độ phủ (trên tổng)", "Ghi chú",
    ]  # fmt: skip
    assert all(len(line) == len(lines[0]) for line in lines)  # one header, then figures
    by_key = {(line[0], line[1], line[3]): line[4:] for line in lines[1:]}
    assert by_key[("Tổng hợp", "A3c", "Toàn đơn vị")] == [
        "4", "6", "0.6667", "0.3333", "≥ 75%", "Chưa đạt", "", "6", "12", "",
    ]  # fmt: skip
    assert by_key[("Tổng hợp", "A3a", "Toàn đơn vị")][5:7] == [
        "chưa đủ số liệu (đã đăng ký 1/11)",
        "Có",
    ]
    assert by_key[("Tổng hợp", "A4b", "Toàn đơn vị")][2] == ""  # no rate
    assert by_key[("Tổng hợp", "A4b", "Toàn đơn vị")][5] == "chưa có số liệu"
    assert by_key[("Tổng hợp", "A5", "Toàn đơn vị")][9] == (
        "1 CĐCS chưa khai số CBNGNLĐ: tính theo danh sách"
    )
    assert by_key[("Theo đơn vị", "A2a", S3)][5] == "chưa báo cáo"
    units = [line[3] for line in lines if line[:2] == ["Theo đơn vị", "A3c"]]
    assert units == [BL, S3, S4, DL, S1, S2]


async def test_the_text(db: Database, small: Province) -> None:
    text = to_text(await _report(db, small), "vi")
    assert "A3c" in text and "4/6" in text and "66,7%" in text and "<b>" not in text
    assert "Tỷ lệ = tử số/mẫu số" in text


async def test_the_chart_bars(db: Database, small: Province) -> None:
    report = await _report(db, small)
    bars = chart_bars(report, "vi")
    by_label = {bar.label.replace("\n", " "): bar for bar in bars}
    names = {r.code: r.name_vi for r in report.rows}
    # every indicator once, but the split ones on a mixed scope: one bar per side
    split = {"A2a", "A2b", "A7", "P1"}
    sides = [b for b in bars if b.label.endswith(("(Công lập)", "(Ngoài công lập)"))]
    assert {b.label.split(" · ")[0] for b in sides} <= split
    # A2a: public S1 yes, S4 no = 50 % against 100 %; non-public S2 1 of 1 against 70 %.
    public = by_label[f"A2a · {names['A2a']} (Công lập)"]
    non_public = by_label[f"A2a · {names['A2a']} (Ngoài công lập)"]
    assert (public.value, public.target, public.standing) == (50.0, 100.0, "not_met")
    assert (non_public.value, non_public.target, non_public.standing) == (100.0, 70.0, "met")
    # A6: 0,67 introductions per CĐCS against 1,0: drawn as 66,7 % of its target.
    a6 = by_label[f"A6 · {names['A6']}"]
    assert a6.value == pytest.approx(200 / 3) and a6.target == 100.0
    assert a6.text == "2/3 = 0,67 bằng 66,7% mục tiêu"
    # A3a: low coverage, a bar without a verdict, saying why.
    a3a = by_label[f"A3a · {names['A3a']}"]
    assert a3a.standing == "low_coverage" and a3a.target == 20.0
    assert a3a.text == "1/11 = 9,1% · chưa đủ số liệu (đã đăng ký 1/11)"
    # no data: the name and the words, no bar
    a4b = by_label[f"A4b · {names['A4b']}"]
    assert (a4b.value, a4b.text) == (None, "chưa có số liệu")
    assert by_label[f"P4 · {names['P4']}"].text == "chưa có trường hợp"
    # names are wrapped, never cut
    assert all(len(line) <= 48 for b in bars for line in b.label.split("\n"))
    assert any("\n" in b.label for b in bars) and not any("…" in b.label for b in bars)
    assert f"A8a · {names['A8a']}" in by_label


async def test_the_chart_drawn(db: Database, small: Province) -> None:
    report = await _report(db, small)
    bars = chart_bars(report, "vi")
    chart = draw_chart(report, "vi")
    ax = chart.axes[0]
    drawn = [p for p in ax.patches]
    assert len(drawn) == sum(b.value is not None for b in bars)  # no bar without data
    hatched = [p for p in drawn if p.get_hatch()]
    assert len(hatched) == sum(b.standing == "low_coverage" and b.value is not None for b in bars)
    assert [t.get_text() for t in ax.get_yticklabels()] == [b.label for b in bars]
    legend = chart.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "Đạt",
        "Chưa đạt",
        "Không đánh giá (mục tiêu không có số)",
        "Chưa đủ số liệu (độ phủ dưới 50%)",
        "Mục tiêu",
    ]
    notes = " ".join(ax.get_xlabel().split())  # wrapped
    assert "A6 là số bình quân mỗi CĐCS" in notes
    assert "A5: 1 CĐCS chưa khai số CBNGNLĐ: tính theo danh sách" in notes
    words = [t.get_text() for t in ax.texts]
    assert "chưa có số liệu" in words and "chưa có trường hợp" in words
    data = to_png(report, "vi")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")


async def test_the_tree_computes_only_units_with_children(db: Database, small: Province) -> None:
    tree = await _tree(db, small)
    assert set(tree.below) == {small.uid("BL"), small.uid("DL")}  # not the CĐCS: no tổ
    assert tree.below[small.uid("BL")].report.scope_code == "BL"
    assert tree.below[small.uid("BL")].below == {}
    async with db.session() as s:  # a tổ under S1: S1 gets a breakdown of its own
        await _unit(s, small, "T1", "Tổ Toán", UnitKind.GROUP, "S1")
        moved = (await s.execute(select(Person).where(col(Person.full_name) == "a4"))).scalar_one()
        moved.unit_id = small.uid("T1")
    tree = await _tree(db, small)
    s1 = tree.below[small.uid("DL")].below[small.uid("S1")]
    assert s1.report.scope_code == "S1"
    book = load_workbook(io.BytesIO(to_xlsx(tree, "vi", union_name="X", made_at=MADE,
                                            signoff=SIGNOFF)))  # fmt: skip
    ws = book["Theo đơn vị"]
    a3c = [(r[2].value, r[2].alignment.indent) for r in ws.iter_rows(min_row=9)
           if r[0].value == "A3c"]  # fmt: skip
    assert a3c == [
        (BL, 0), (S3, 2), (S4, 2), (DL, 0), (S1, 2), ("Tổ Toán", 4),
        (f"{S1} (trực tiếp)", 4), (S2, 2),
    ]  # fmt: skip
    # a tổ sends no unit report: it is not listed for A2a
    assert "Tổ Toán" not in [r[2].value for r in ws.iter_rows(min_row=9) if r[0].value == "A2a"]


async def test_a_control_character_in_a_unit_name_does_not_break_the_workbook(
    db: Database, small: Province
) -> None:
    async with db.session() as s:
        await s.execute(
            update(Unit).where(Unit.code == "BL").values(name="Bảo\x0bLộc")  # type: ignore[arg-type]
        )
    tree = await _tree(db, small)
    book = load_workbook(io.BytesIO(to_xlsx(tree, "vi", union_name="X", made_at=MADE,
                                            signoff=SIGNOFF)))  # fmt: skip
    names = [r[2] for r in book["Theo đơn vị"].iter_rows(min_row=9, values_only=True)]
    assert "BảoLộc" in names
