"""`congdoan stats` in the terminal (bot.indicators.terminal): the report of the fixture province
of tests/test_indicators.py, printed at 80 and 120 columns.

Every line fits the width; every indicator's code and name, every unit's name (the
"<name> (trực tiếp)" row included) is there in full, wrapped but never cut; the figures are
the ones worked out by hand below from the fixture (see build_province's docstring and the
comments of test_province_2025 and test_unit_report_indicators_of_the_province).

The printed text is read back into blocks, one per indicator (its heading lines, then the rows
of its table, each row's wrapped label and result joined again), by :func:`_blocks`.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from rich.cells import cell_len
from rich.console import Console

from bot.indicators import StatsReport, compute_stats
from bot.indicators.compute import NotComputed
from bot.indicators.terminal import render_stats_terminal
from storage.db import Database
from tests.test_indicators import CATALOG, YEAR, build_province

LD = "Công đoàn Giáo dục tỉnh Lâm Đồng"
DL, BL = "Công đoàn Giáo dục Đà Lạt", "Công đoàn Giáo dục Bảo Lộc"
S1, S2 = "THPT Chu Văn An", "Trường Quốc tế Hoa Sen"
S3, S4, E1 = "THCS Lê Lợi", "Tiểu học Kim Đồng", "Mầm non Sơn Ca"
T1 = "Tổ Toán"
# The child units of each scope, by name (the part on the scope unit itself, where an
# indicator has one, comes after them as "<scope name> (trực tiếp)").
CHILDREN = {"LD": [BL, DL], "DL": [S1, S2], "BL": [E1, S3, S4], "S1": [T1]}
HEADINGS = {
    "vi": ("Phạm vi", "Tử số/mẫu số", "Tỷ lệ", "Kết quả", "Độ phủ"),
    "en": ("Scope", "Numerator/denominator", "Rate", "Result", "Coverage"),
}
WIDE = ("✅", "❌")  # one character, two cells


@pytest.fixture
async def reports(sqlite_db: Database) -> AsyncIterator[dict[str, StatsReport]]:
    async with sqlite_db.session() as s:
        p = await build_province(s)
        await s.commit()
    found = {}
    for unit in CHILDREN:
        async with sqlite_db.session() as s:
            found[unit] = await compute_stats(
                s, scope_unit_id=p.uid(unit), year=YEAR, catalog=CATALOG
            )
    yield found


def _print(report: StatsReport, width: int, locale: str = "vi") -> list[str]:
    out = io.StringIO()
    console = Console(width=width, file=out, color_system=None, legacy_windows=False)
    console.print(render_stats_terminal(report, locale))
    return [line.rstrip() for line in out.getvalue().splitlines()]


@dataclass
class Row:
    label: str
    ratio: str
    rate: str
    result: str
    coverage: str

    @property
    def figures(self) -> tuple[str, str, str, str]:
        return self.ratio, self.rate, self.result, self.coverage


@dataclass
class Block:
    heading: str  # the heading lines joined: code · name, target and coverage, notes
    rows: dict[str, Row]  # by label


def _join(parts: list[str]) -> str:
    return " ".join(part for part in parts if part)


def _blocks(lines: list[str], locale: str = "vi") -> dict[str, Block]:
    """The indicators' blocks by code.  A table row starts on the line with a figure at the
    right edge of the numerator/denominator column; the lines below it without one carry the
    rest of its wrapped label (left) and result (right).  Columns are cut at the headings'
    positions, counted in cells (a wide emoji is padded with a NUL first, then dropped)."""
    label_h, ratio_h, rate_h, _, coverage_h = HEADINGS[locale]
    blocks: dict[str, Block] = {}
    chunks: list[list[str]] = [[]]
    for line in lines[1:]:  # the title first
        if line:
            chunks[-1].append(line)
        elif chunks[-1]:
            chunks.append([])
    for chunk in filter(None, chunks):
        header_at = next(i for i, line in enumerate(chunk) if line.startswith(label_h + " "))
        header = chunk[header_at]
        ratio_end = header.index(ratio_h) + len(ratio_h)
        rate_end = header.index(rate_h) + len(rate_h)
        coverage_at = header.index(coverage_h)
        assert set(chunk[header_at + 1]) == {"─"}
        rows: list[tuple[list[str], str, str, list[str], str]] = []
        for raw in chunk[header_at + 2 :]:
            line = raw
            for emoji in WIDE:
                line = line.replace(emoji, emoji + "\0")
            line = line.ljust(coverage_at + len(coverage_h))
            start = re.search(r"(?:^|\s)(\d+/\d+)$", line[:ratio_end])
            rate = line[ratio_end:rate_end].strip()
            result = line[rate_end:coverage_at].strip().replace("\0", "")
            coverage = line[coverage_at:].strip()
            if start:
                label = line[: start.start()].strip()
                rows.append(([label], start.group(1), rate, [result], coverage))
            else:
                assert not rate and not coverage, raw  # a continuation line
                rows[-1][0].append(line[:ratio_end].strip())
                rows[-1][3].append(result)
        code = chunk[0].split(" · ")[0]
        blocks[code] = Block(
            heading=_join(chunk[:header_at]),
            rows={
                _join(label): Row(_join(label), ratio, rate, _join(result), coverage)
                for label, ratio, rate, result, coverage in rows
            },
        )
    return blocks


@pytest.mark.parametrize("width", [80, 120])
async def test_every_line_fits(reports: dict[str, StatsReport], width: int) -> None:
    for unit, report in reports.items():
        for locale in ("vi", "en"):
            lines = _print(report, width, locale)
            too_long = [line for line in lines if max(len(line), cell_len(line)) > width]
            assert too_long == [], (unit, locale)


@pytest.mark.parametrize("width", [80, 120])
async def test_codes_names_and_units_in_full(reports: dict[str, StatsReport], width: int) -> None:
    for unit, report in reports.items():
        lines = _print(report, width)
        assert lines[0].strip() == f"Chỉ tiêu năm 2025 · {report.scope_name}"
        blocks = _blocks(lines)
        assert list(blocks) == [row.code for row in report.rows]
        for row in report.rows:
            block = blocks[row.code]
            name = row.name_vi + (" (nghìn đồng)" if row.code == "P5" else "")
            assert block.heading.startswith(f"{row.code} · {name} Mục tiêu: "), block.heading
            units = [label for label in block.rows if label not in ("Công lập", "Ngoài công lập")]
            assert units[0] == "Toàn đơn vị"
            if row.by_child:
                expected = CHILDREN[unit]
                if any(child.direct for child in row.by_child):
                    expected = [*expected, f"{report.scope_name} (trực tiếp)"]
                assert units[1:] == expected, (unit, row.code)
            else:  # A5 inside one CĐCS: staff counts are kept per CĐCS, not per tổ
                assert (unit, row.code, units) == ("S1", "A5", ["Toàn đơn vị"])


async def test_province_figures_at_80_columns(reports: dict[str, StatsReport]) -> None:
    blocks = _blocks(_print(reports["LD"], 80))
    direct = f"{LD} (trực tiếp)"

    # A5: members / staff.  Members 17 (the office's pv, DL's s1a–d s1e s2a–c = 8, BL's s3a–c
    # s4a–e = 8); staff S1 8 + S2 5 = 13 (DL), S3 4 from the roster + S4 5 = 9 (BL): 22.
    # 17/22 = 77,3% < 97%.  Listed: 20 people of 22 (DL 10 of 13, BL 9 of 9, the office 1 of
    # 0).  Public S1 S3 S4: 14 of 8 + 4 + 5 = 17 (82,4%); S2 3 of 5 (60%).  The office has no
    # CĐCS, no staff: 1/0, no rate.  8/9 + 8/13 + 1/0 = 17/22.
    a5 = blocks["A5"]
    assert "Mục tiêu: ≥ 97% (mốc 2025) · Danh sách: 20/22 CBNGNLĐ" in a5.heading
    assert "2 CĐCS chưa khai số CBNGNLĐ: tính theo danh sách" in a5.heading  # S3 and E1
    assert {label: row.figures for label, row in a5.rows.items()} == {
        "Toàn đơn vị": ("17/22", "77,3%", "❌ Chưa đạt", "20/22"),
        "Công lập": ("14/17", "82,4%", "❌ Chưa đạt", "16/17"),
        "Ngoài công lập": ("3/5", "60%", "❌ Chưa đạt", "4/5"),
        BL: ("8/9", "88,9%", "❌ Chưa đạt", "9/9"),
        DL: ("8/13", "61,5%", "❌ Chưa đạt", "10/13"),
        direct: ("1/0", "", "chưa có số liệu", "1/0"),
    }

    # A3c, over those who answered: 8 yes of 11, 11 of the 20 people answered (55%): 72,7%
    # < 75%.  Public 5 of 7 with 7 of 16 answering (under 50%: no verdict); S2 3 of 4, all 4
    # answered: 75%, met.  DL 6 of 8 (8 of 10 answered); BL 2 of 3 (3 of 9); at the office
    # nobody answered (pv, 1 person).
    a3c = blocks["A3c"]
    assert "Mục tiêu: ≥ 75% · Độ phủ: 11/20 người trả lời" in a3c.heading
    assert {label: row.figures for label, row in a3c.rows.items()} == {
        "Toàn đơn vị": ("8/11", "72,7%", "❌ Chưa đạt", "11/20"),
        "Công lập": ("5/7", "71,4%", "⚠️ chưa đủ số liệu (đã trả lời 7/16)", "7/16"),
        "Ngoài công lập": ("3/4", "75%", "✅ Đạt", "4/4"),
        BL: ("2/3", "66,7%", "⚠️ chưa đủ số liệu (đã trả lời 3/9)", "3/9"),
        DL: ("6/8", "75%", "✅ Đạt", "8/10"),
        direct: ("0/0", "", "chưa có ai trả lời", "0/1"),
    }

    # A3b, members' hardship cases: S1 1 of 2, S2 0 of 1 (DL 1 of 3); S3 1 of 1, S4 2 of 2
    # (BL 3 of 3); 4 of 6 against 100%.  s3d's case (not a member) is shown apart.  No case
    # at the office: no direct row; a count of cases has no coverage column.
    a3b = blocks["A3b"]
    assert "Mục tiêu: 100% · Số trường hợp: 6" in a3b.heading
    assert "Ngoài đoàn viên (xử lý nhưng không tính vào chỉ tiêu): 1 trường hợp" in a3b.heading
    assert {label: row.figures for label, row in a3b.rows.items()} == {
        "Toàn đơn vị": ("4/6", "66,7%", "❌ Chưa đạt", ""),
        "Công lập": ("4/5", "80%", "❌ Chưa đạt", ""),
        "Ngoài công lập": ("0/1", "0%", "❌ Chưa đạt", ""),
        BL: ("3/3", "100%", "✅ Đạt", ""),
        DL: ("1/3", "33,3%", "❌ Chưa đạt", ""),
    }

    # A2a, unit reports: S1 S2 S4 reported (3 of 5 CĐCS), S1 holds dialogues: 1 of 3, no single
    # target on a mixed scope.  Public S1 S4: 1 of 2 < 100%; S2: 0 of 1 < 70%.  BL: only S4 of
    # its 3 CĐCS reported (too few for a verdict); DL: 1 of 2, public and non-public mixed.
    a2a = blocks["A2a"]
    assert "Mục tiêu: theo công lập / ngoài công lập · Độ phủ: 3/5 CĐCS đã gửi báo cáo" in (
        a2a.heading
    )
    assert {label: row.figures for label, row in a2a.rows.items()} == {
        "Toàn đơn vị": ("1/3", "33,3%", "—", "3/5"),
        "Công lập": ("1/2", "50%", "❌ Chưa đạt", "2/4"),
        "Ngoài công lập": ("0/1", "0%", "❌ Chưa đạt", "1/1"),
        BL: ("0/1", "0%", "⚠️ chưa đủ số liệu (đã báo cáo 1/3)", "1/3"),
        DL: ("1/2", "50%", "—", "2/2"),
    }

    # A4a, every level: DL's bodies (S1 S2 and DL itself) 3 proposals of 3 reports; BL: S4 only
    # reported of its 4 bodies, no proposal; the province's own report, a proposal, sits on
    # the scope unit itself: 1/1.  3 + 0 + 1 = 4 of 3 + 1 + 1 = 5.
    a4a = blocks["A4a"]
    assert a4a.rows["Toàn đơn vị"].figures == ("4/5", "80%", "✅ Đạt", "5/8")
    assert a4a.rows[direct].figures == ("1/1", "100%", "✅ Đạt", "1/1")
    assert a4a.rows[BL].figures == ("0/1", "0%", "⚠️ chưa đủ số liệu (đã báo cáo 1/4)", "1/4")

    # A7b, the district unions' own reports: DL rated "tốt", BL sent none.
    a7b = blocks["A7b"]
    assert a7b.rows[BL].figures == ("0/0", "", "chưa báo cáo", "0/1")
    assert a7b.rows[DL].figures == ("1/1", "100%", "✅ Đạt", "1/1")

    # A6: 2 + 0 + 1 = 3 introductions over 3 reports: 1,00 each, the target 1,0.
    a6 = blocks["A6"]
    assert "Mục tiêu: ≥ 1,0 mỗi CĐCS" in a6.heading
    assert a6.rows["Toàn đơn vị"].figures == ("3/3", "1,00", "✅ Đạt", "3/5")

    # P5 (thousands of đồng): 114.000 + 60.000 + 50.000 collected of 120.000 + 80.000 +
    # 50.000 due = 89,6% < 90%; DL 174.000 of 200.000 = 87%.
    p5 = blocks["P5"]
    assert p5.heading.startswith(
        "P5 · Thu tài chính công đoàn so với số phải thu (nghìn đồng) Mục tiêu: ≥ 90% (mốc 2023)"
    )
    assert p5.rows["Toàn đơn vị"].figures == ("224000/250000", "89,6%", "❌ Chưa đạt", "3/5")
    assert p5.rows[DL].figures == ("174000/200000", "87%", "❌ Chưa đạt", "2/2")


async def test_a_cdcs_with_a_to_and_a_district(reports: dict[str, StatsReport]) -> None:
    # S1: s1e (member) and s1f in its tổ Toán, s1a–d on S1 itself.  A1: 1 and 4 members,
    # no notice sent.  A3c: s1e s1f yes (2 of 2, both answered); s1a yes, s1b no (of 4).
    s1 = _blocks(_print(reports["S1"], 80))
    direct = f"{S1} (trực tiếp)"
    assert s1["A1"].rows[T1].figures == ("0/1", "", "chưa có số liệu", "0/1")
    assert s1["A1"].rows[direct].figures == ("0/4", "", "chưa có số liệu", "0/4")
    assert s1["A3c"].rows["Toàn đơn vị"].figures == ("3/4", "75%", "✅ Đạt", "4/6")
    assert s1["A3c"].rows[T1].figures == ("2/2", "100%", "✅ Đạt", "2/2")
    assert s1["A3c"].rows[direct].figures == ("1/2", "50%", "❌ Chưa đạt", "2/4")
    # The unit report is S1's own: its tổ has none to send.
    assert s1["A2a"].rows[T1].figures == ("0/0", "", "không có đơn vị thuộc diện", "0/0")
    # DL: Đà Lạt's own report (by pv) is the district's direct row of A4a.
    dl = _blocks(_print(reports["DL"], 80))
    assert dl["A4a"].rows[f"{DL} (trực tiếp)"].figures == ("1/1", "100%", "✅ Đạt", "1/1")
    assert dl["A5"].rows[S2].figures == ("3/5", "60%", "❌ Chưa đạt", "4/5")


async def test_at_120_columns_nothing_wraps(reports: dict[str, StatsReport]) -> None:
    lines = _print(reports["LD"], 120)
    blocks = _blocks(lines)
    # every row on one line: the longest label and result whole on the line of its figures
    assert f"{LD} (trực tiếp)" in [line[: len(LD) + 12] for line in lines]
    row = blocks["A3c"].rows[BL]
    assert row.figures == ("2/3", "66,7%", "⚠️ chưa đủ số liệu (đã trả lời 3/9)", "3/9")
    line = next(line for line in lines if line.startswith(BL) and "3/9)" in line)
    assert "(đã trả lời 3/9)" in line
    # the tables are as wide as they need, no wider
    assert max(cell_len(line) for line in lines if set(line) == {"─"}) < 120


async def test_english_and_what_is_not_computed(reports: dict[str, StatsReport]) -> None:
    lines = _print(reports["LD"], 80, "en")
    assert lines[0].strip() == f"Indicators for 2025 · {LD}"
    a5 = _blocks(lines, "en")["A5"]
    assert a5.heading.startswith("A5 · ")
    assert a5.rows["Whole unit"].figures == ("17/22", "77,3%", "❌ Not met", "20/22")
    assert a5.rows[f"{LD} (directly)"].figures == ("1/0", "", "no data yet", "1/0")
    # indicators the version does not compute are named under the blocks
    pending = dataclasses.replace(reports["LD"], not_computed=(NotComputed("X9", "x", "x"),))
    lines = _print(pending, 80)
    assert lines[-1] == "Chưa tính trong phiên bản này: X9"
