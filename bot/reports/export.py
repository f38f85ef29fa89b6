"""A StatsReport exported the way the union reports upwards: an .xlsx workbook (a summary sheet,
one sheet per breakdown, formatted for printing, under the union's title block), a CSV of every
figure, a PNG chart of each indicator's rate against its target, or the terminal table as plain
text.

Every word comes from the templates (``stats.txt`` and ``report/labels.txt``) in the chosen
locale.  Text that comes from users (unit names, mostly) never starts a cell with ``=``, ``+``,
``-``, ``@`` (or a tab or carriage return): a spreadsheet would take it for a formula, so such a
text is prefixed with an apostrophe (formula injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.header_footer import HeaderFooterItem
from openpyxl.worksheet.header_footer import _HeaderFooterPart as _Part
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from rich.console import Console

from bot.indicators.compute import Figure, IndicatorResult, StatsReport
from bot.indicators.terminal import StatsTexts, render_stats_terminal, row_name
from bot.texts import environment

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("xlsx", "csv", "png", "txt")


def safe_text(value: str) -> str:
    """``value`` as a spreadsheet shows it literally: never read as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _Labels:
    """The macros of report/labels.txt, as plain text."""

    def __init__(self, locale: str) -> None:
        self._module: Any = environment(locale).get_template("report/labels.txt").make_module()

    def __call__(self, macro: str, *args: Any) -> str:
        return html.unescape(str(getattr(self._module, macro)(*args))).strip()


@dataclass(frozen=True)
class Line:
    """One figure of the report: the whole scope, one public side, or one child unit."""

    code: str
    name: str
    part: str  # the whole scope, "Công lập" / "Ngoài công lập", or the unit's name
    numerator: int
    denominator: int
    rate: float | None
    target: str
    met: str
    coverage_count: int
    coverage_total: int
    average: bool  # the rate is an average per CĐCS, not a share


def _line(
    texts: StatsTexts, labels: _Labels, row: IndicatorResult, part: str, f: Figure, locale: str
) -> Line:
    return Line(
        code=row.code,
        name=row_name(texts, row, locale),
        part=part,
        numerator=f.numerator,
        denominator=f.denominator,
        rate=f.rate,
        target=texts("target", f.target),
        met=labels("met", f.met),
        coverage_count=f.coverage_count,
        coverage_total=f.coverage_total,
        average=f.target.kind == "per_unit_average",
    )


def lines(report: StatsReport, locale: str) -> dict[str, list[Line]]:
    """The report's figures, by sheet: ``summary``, ``public`` and ``units``."""
    texts, labels = StatsTexts(locale), _Labels(locale)
    out: dict[str, list[Line]] = {"summary": [], "public": [], "units": []}
    for row in report.rows:
        out["summary"].append(_line(texts, labels, row, labels("whole"), row, locale))
        for key, figure in (row.by_public or {}).items():
            if figure.denominator or figure.numerator:
                part = texts("heading", key)
                out["public"].append(_line(texts, labels, row, part, figure, locale))
        for child in row.by_child:
            part = texts("direct", child.name) if child.direct else child.name
            out["units"].append(_line(texts, labels, row, part, child, locale))
    return out


_COLUMNS = (
    ("code", 8),
    ("name", 46),
    ("part", 30),
    ("numerator", 13),  # wide enough for an amount: 270,660,200
    ("denominator", 13),
    ("rate", 10),
    ("target", 22),
    ("met", 11),
    ("coverage_count", 11),
    ("coverage_total", 11),
)


def _headings(texts: StatsTexts, labels: _Labels) -> list[str]:
    from_stats = {"code", "name", "rate", "target"}
    return [texts("heading", k) if k in from_stats else labels("column", k) for k, _ in _COLUMNS]


def _values(line: Line) -> list[Any]:
    return [
        line.code,
        safe_text(line.name),
        safe_text(line.part),
        line.numerator,
        line.denominator,
        line.rate,
        line.target,
        line.met,
        line.coverage_count,
        line.coverage_total,
    ]


# --------------------------------------------------------------------------- xlsx

_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_FILLS = {
    True: PatternFill("solid", fgColor="E2EFDA"),
    False: PatternFill("solid", fgColor="FCE4D6"),
}


def _title_block(
    ws: Worksheet, labels: _Labels, report: StatsReport, union_name: str, made: str
) -> int:
    """The union's heading, as on its paper reports; returns the header row's number."""
    last = get_column_letter(len(_COLUMNS))
    ws["A1"] = labels("parent_body")
    ws["A2"] = safe_text(union_name.upper())
    ws["F1"] = labels("motto")
    ws["F2"] = labels("motto_line")
    for cell in ("A1", "F1"):
        ws[cell].font = Font(bold=False)
    for cell in ("A2", "F2"):
        ws[cell].font = Font(bold=True)
    ws.merge_cells("A1:E1")
    ws.merge_cells("A2:E2")
    ws.merge_cells(f"F1:{last}1")
    ws.merge_cells(f"F2:{last}2")
    ws["A4"] = labels("title", report.year)
    ws["A4"].font = Font(bold=True, size=14)
    ws.merge_cells(f"A4:{last}4")
    ws["A5"] = safe_text(labels("scope", report.scope_name))
    ws.merge_cells(f"A5:{last}5")
    ws["A6"] = labels("made", made)
    ws["A6"].font = Font(italic=True, size=9)
    ws.merge_cells(f"A6:{last}6")
    for row in (1, 2, 4, 5, 6):
        ws.cell(row, 1).alignment = Alignment(horizontal="center")
        ws.cell(row, 6).alignment = Alignment(horizontal="center")
    return 8


def _sheet(
    ws: Worksheet,
    rows: list[Line],
    texts: StatsTexts,
    labels: _Labels,
    report: StatsReport,
    union_name: str,
    made: str,
) -> None:
    header = _title_block(ws, labels, report, union_name, made)
    for index, (text, (_, width)) in enumerate(
        zip(_headings(texts, labels), _COLUMNS, strict=True), start=1
    ):
        cell = ws.cell(header, index, text)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        ws.column_dimensions[get_column_letter(index)].width = width
    for offset, line in enumerate(rows, start=1):
        r = header + offset
        for index, value in enumerate(_values(line), start=1):
            cell = ws.cell(r, index, value)
            cell.border = _BORDER
            if isinstance(value, str):
                cell.data_type = "s"  # text, whatever it looks like
            cell.alignment = Alignment(wrap_text=index in (2, 3), vertical="top")
        for column in (4, 5, 9, 10):  # counts, and P5's amounts: thousands grouped
            ws.cell(r, column).number_format = "#,##0"
        rate = ws.cell(r, 6)
        rate.number_format = "0.00" if line.average else "0.0%"
        met = {labels("met", True): True, labels("met", False): False}.get(line.met)
        if met is not None:
            ws.cell(r, 8).fill = _FILLS[met]
    ws.freeze_panes = f"C{header + 1}"  # the header and the code, name columns stay
    ws.print_title_rows = f"{header}:{header}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.oddFooter = HeaderFooterItem(center=_Part(text="&P / &N"))  # page n / of


def to_xlsx(report: StatsReport, locale: str, *, union_name: str, made_at: dt.datetime) -> bytes:
    """The workbook: a summary sheet and one sheet per breakdown, ready to print on A4."""
    texts, labels = StatsTexts(locale), _Labels(locale)
    made = made_at.strftime("%H:%M %d/%m/%Y")
    by_sheet = lines(report, locale)
    book = Workbook()
    first = book.active
    assert first is not None
    for index, key in enumerate(("summary", "public", "units")):
        ws = first if index == 0 else book.create_sheet()
        ws.title = labels("sheet", key)[:31]
        _sheet(ws, by_sheet[key], texts, labels, report, union_name, made)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- csv, txt


def _csv_rows(report: StatsReport, locale: str) -> Iterator[list[Any]]:
    texts, labels = StatsTexts(locale), _Labels(locale)
    yield [labels("column", "sheet"), *_headings(texts, labels)]
    for key, rows in lines(report, locale).items():
        for line in rows:
            values = _values(line)
            values[5] = "" if line.rate is None else round(line.rate, 4)
            yield [labels("sheet", key), *values]


def to_csv(report: StatsReport, locale: str) -> str:
    """Every figure, one per line (the sheet it belongs to first); UTF-8 with a BOM is left to
    the writer (``utf-8-sig``: what Excel needs to read Vietnamese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(_csv_rows(report, locale))
    return out.getvalue()


def to_text(report: StatsReport, locale: str, width: int = 140) -> str:
    """The terminal table, as plain text."""
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(render_stats_terminal(report, locale))
    return console.export_text()


# --------------------------------------------------------------------------- png


def to_png(report: StatsReport, locale: str) -> bytes:
    """A horizontal bar per indicator with a rate (percentage indicators with data), its
    target marked; met bars green, missed red, no verdict grey.  Rendered off-screen (Agg)."""
    from matplotlib.figure import Figure as Chart  # imported here: only exports need it

    labels = _Labels(locale)
    shown = [r for r in report.rows if r.rate is not None and r.target.kind != "per_unit_average"]
    height = 1.6 + 0.42 * max(len(shown), 1)
    chart = Chart(figsize=(9, height), dpi=120, layout="constrained")
    ax = chart.subplots()
    names = [f"{r.code} · {_short(r.name(locale))}" for r in shown][::-1]
    rates = [100 * (r.rate or 0.0) for r in shown][::-1]
    colours = [
        "#4caf50" if r.met is True else "#e57373" if r.met is False else "#9e9e9e" for r in shown
    ][::-1]
    ax.barh(names, rates, color=colours, label=labels("chart_rate"))
    marks = [
        (100 * (r.target.rate or 0.0), i)
        for i, r in enumerate(shown[::-1])
        if r.target.rate is not None
    ]
    if marks:
        ax.scatter(
            [m for m, _ in marks],
            [i for _, i in marks],
            marker="|",
            s=300,
            color="#212121",
            zorder=3,
            label=labels("chart_target"),
        )
    for i, rate in enumerate(rates):
        ax.text(rate + 1, i, f"{rate:.1f}%".replace(".", ","), va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("%")
    ax.set_title(labels("chart_title", report.year, report.scope_name), fontsize=10, loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=8, frameon=False)
    chart.text(0.01, 0.005, labels("chart_note"), fontsize=7, color="#616161")
    out = io.BytesIO()
    chart.savefig(out, format="png")
    return out.getvalue()


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
