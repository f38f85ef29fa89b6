"""A StatsReport exported the way the union reports upwards: an .xlsx workbook (a summary sheet,
one sheet per breakdown, formatted for printing, under the union's title block and above the
closing block of a report to superiors), a CSV of every figure, a PNG chart of each indicator's
rate against its target, or the terminal table as plain text.

Every format says what its figures rest on, as /stats does: the standing of each figure in words
(đạt, chưa đạt, chưa đủ số liệu with how many answered, chưa có số liệu, chưa báo cáo), low
coverage, the CĐCS whose staff count came from the roster (A5), and the lower bound of a rate
(those who did not answer taken as "no").  The breakdown by unit goes down the whole tree when
given a :class:`~bot.reports.tree.UnitTree`; a lone StatsReport gives its first level.

Every word comes from the templates (``stats.txt`` and ``report/labels.txt``) in the chosen
locale; the closing block's place, signer and recipients come from the settings
(:class:`SignOff`).  Text that comes from users (unit names, mostly) never starts a cell with
``=``, ``+``, ``-``, ``@`` (or a tab or carriage return): a spreadsheet would take it for a
formula, so such a text is prefixed with an apostrophe (formula injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.header_footer import HeaderFooterItem
from openpyxl.worksheet.header_footer import _HeaderFooterPart as _Part
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from rich.console import Console

from bot.indicators.compute import (
    NON_PUBLIC,
    PUBLIC,
    CoverageKind,
    Figure,
    IndicatorResult,
    Standing,
    StatsReport,
)
from bot.indicators.terminal import StatsTexts, render_stats_terminal, row_name
from bot.reports.tree import UnitTree
from bot.texts import environment, format_percent

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure as Chart

    from bot.settings import Settings

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("xlsx", "csv", "png", "txt")
_ICONS = "✅❌⚠\ufe0f "  # the icons of stats.txt's words: a spreadsheet or a chart has colours


def safe_text(value: str) -> str:
    """``value`` as a spreadsheet shows it literally: never read as a formula, and without
    the control characters a worksheet cannot hold (a unit name pasted into the roster with a
    vertical tab must not fail the whole report)."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _plain(text: str) -> str:
    """Words of stats.txt without their leading icon."""
    return text.lstrip(_ICONS)


class _Labels:
    """The macros of report/labels.txt, as plain text."""

    def __init__(self, locale: str) -> None:
        self._module: Any = environment(locale).get_template("report/labels.txt").make_module()

    def __call__(self, macro: str, *args: Any) -> str:
        return html.unescape(str(getattr(self._module, macro)(*args))).strip()


def _tree(source: StatsReport | UnitTree) -> UnitTree:
    return source if isinstance(source, UnitTree) else UnitTree(source)


@dataclass(frozen=True)
class SignOff:
    """The closing block of a report to superiors, from the settings: the place written before
    the date, the signer's title (one or more lines), the recipients ("Nơi nhận"), and the time
    zone the report's date is in."""

    place: str
    signer: tuple[str, ...]
    recipients: tuple[str, ...]
    tz: dt.tzinfo

    @classmethod
    def from_settings(cls, settings: Settings) -> SignOff:
        """REPORT_PLACE, REPORT_SIGNER_TITLE and REPORT_RECIPIENTS (lists split at ";"), TZ."""
        return cls(
            place=settings.report_place,
            signer=_items(settings.report_signer_title),
            recipients=_items(settings.report_recipients),
            tz=settings.tz,
        )


def _items(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(";") if item.strip())


# --------------------------------------------------------------------------- the lines


@dataclass(frozen=True)
class Line:
    """One figure of the report: the whole scope, one public side, or one unit of the tree."""

    code: str
    name: str
    part: str  # the whole scope, "Công lập" / "Ngoài công lập", or the unit's name
    depth: int  # in the tree of units: 0 for the scope's children, 1 for theirs, ...
    numerator: int
    denominator: int
    rate: float | None
    floor: float | None  # the lower bound: yes / all in scope (None: no rate, or meaningless)
    target: str
    standing: Standing
    verdict: str  # the standing in words: Đạt, Chưa đạt, chưa đủ số liệu (...), ...
    low: str  # the low-coverage flag: a word when coverage is below the minimum, else ""
    coverage_count: int
    coverage_total: int
    notes: str  # the low-coverage warning, A5's fallback
    average: bool  # the rate is an average per CĐCS, not a share
    parent: bool = False  # a unit whose own units are listed under it


def _words(texts: StatsTexts, labels: _Labels, row: IndicatorResult, f: Figure, part: bool) -> str:
    """The standing of ``f`` (the row itself, a public side or a unit) in words."""
    standing = f.standing
    if standing is Standing.NO_DATA:
        # "chưa báo cáo" for a unit without its report, "chưa có ai trả lời", ...
        return texts("no_data", row, f) if part else texts("no_data", row)
    if standing is Standing.LOW_COVERAGE:
        return _plain(texts("not_enough", f, row.coverage_kind))
    if standing is Standing.NO_VERDICT and not part and row.target.split and row.by_public:
        sides = [
            f"{texts('heading', key)}: {_words(texts, labels, row, side, True)}"
            for key in (PUBLIC, NON_PUBLIC)
            if (side := row.by_public[key]).denominator or side.coverage_total
        ]
        return " · ".join(sides) or labels("met", None)
    return labels("met", {Standing.MET: True, Standing.NOT_MET: False}.get(standing))


def _notes(texts: StatsTexts, row: IndicatorResult, f: Figure) -> list[str]:
    """What /stats says under a figure and its standing does not: a low coverage that withholds
    no verdict (A5's roster), A5's CĐCS counted from the roster."""
    notes = []
    if f.coverage_low and f.standing not in (Standing.LOW_COVERAGE, Standing.NO_DATA):
        notes.append(_plain(texts("coverage_warning", row)))
    if f.fallback_units:
        notes.append(texts("fallback", f.fallback_units))
    if f is row and row.withdrawn:  # said of the whole scope
        notes.append(texts("withdrawn", row.withdrawn))
    return notes


def _line(
    texts: StatsTexts,
    labels: _Labels,
    row: IndicatorResult,
    part: str,
    f: Figure,
    locale: str,
    *,
    is_part: bool = False,
    depth: int = 0,
    parent: bool = False,
) -> Line:
    return Line(
        code=row.code,
        name=row_name(texts, row, locale),
        part=part,
        depth=depth,
        numerator=f.numerator,
        denominator=f.denominator,
        rate=f.rate,
        floor=None if f.rate is None else f.floor,  # no rate: nothing to read cautiously
        target=texts("target", f.target),
        standing=f.standing,
        verdict=_words(texts, labels, row, f, is_part),
        low=labels("low_flag") if f.coverage_low else "",
        coverage_count=f.coverage_count,
        coverage_total=f.coverage_total,
        notes="; ".join(_notes(texts, row, f)),
        average=f.target.kind == "per_unit_average",
        parent=parent,
    )


def _unit_lines(
    texts: StatsTexts, labels: _Labels, tree: UnitTree, code: str, locale: str, depth: int
) -> Iterator[Line]:
    """The units under ``tree``'s scope for one indicator, in tree order: each unit followed
    by its own units (the part sitting on a unit itself last among them)."""
    row = next((r for r in tree.report.rows if r.code == code), None)
    if row is None:
        return
    for child in row.by_child:
        if row.coverage_kind is CoverageKind.REPORTS and not (
            child.coverage_total or child.denominator or child.numerator
        ):
            continue  # no union body there answers for this indicator (a tổ, P3's public CĐCS)
        below = None if child.direct or child.unit_id is None else tree.below.get(child.unit_id)
        part = texts("direct", child.name) if child.direct else child.name
        yield _line(
            texts,
            labels,
            row,
            part,
            child,
            locale,
            is_part=True,
            depth=depth,
            parent=below is not None,
        )
        if below is not None:
            yield from _unit_lines(texts, labels, below, code, locale, depth + 1)


def lines(source: StatsReport | UnitTree, locale: str) -> dict[str, list[Line]]:
    """The report's figures, by sheet: ``summary``, ``public`` and ``units`` (every unit of the
    tree given, each indicator's units in tree order)."""
    tree = _tree(source)
    texts, labels = StatsTexts(locale), _Labels(locale)
    out: dict[str, list[Line]] = {"summary": [], "public": [], "units": []}
    for row in tree.report.rows:
        out["summary"].append(_line(texts, labels, row, labels("whole"), row, locale))
        sides = row.by_public or {}
        for key in (PUBLIC, NON_PUBLIC):
            figure = sides.get(key)
            # a side with no unit in scope (P2's non-public side) is left out
            if figure is not None and (
                figure.denominator or figure.numerator or figure.coverage_total
            ):
                part = texts("heading", key)
                out["public"].append(_line(texts, labels, row, part, figure, locale, is_part=True))
        out["units"].extend(_unit_lines(texts, labels, tree, row.code, locale, 0))
    return out


_COLUMNS = (
    ("code", 8),
    ("name", 40),
    ("part", 30),
    ("numerator", 13),  # wide enough for an amount: 270,660,200
    ("denominator", 13),
    ("rate", 9),
    ("floor", 9),
    ("target", 20),
    ("result", 26),
    ("low", 9),
    ("coverage_count", 10),
    ("coverage_total", 10),
    ("notes", 30),
)
_COLUMN = {key: index for index, (key, _) in enumerate(_COLUMNS, start=1)}
_FROM_STATS = frozenset({"code", "name", "rate", "target", "result"})


def _headings(texts: StatsTexts, labels: _Labels) -> list[str]:
    return [texts("heading", k) if k in _FROM_STATS else labels("column", k) for k, _ in _COLUMNS]


def _values(line: Line) -> list[Any]:
    return [
        line.code,
        safe_text(line.name),
        safe_text(line.part),
        line.numerator,
        line.denominator,
        line.rate,
        line.floor,
        line.target,
        safe_text(line.verdict),
        line.low,
        line.coverage_count,
        line.coverage_total,
        safe_text(line.notes),
    ]


# --------------------------------------------------------------------------- xlsx

_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_FILLS = {
    Standing.MET: PatternFill("solid", fgColor="E2EFDA"),
    Standing.NOT_MET: PatternFill("solid", fgColor="FCE4D6"),
    Standing.LOW_COVERAGE: PatternFill("solid", fgColor="FFF2CC"),
}
_WRAPPED = frozenset({_COLUMN["name"], _COLUMN["part"], _COLUMN["result"], _COLUMN["notes"]})
_LEFT_HALF = (1, 5)  # columns A-E: the union's name, "Người lập", "Nơi nhận"
_RIGHT_HALF = (6, len(_COLUMNS))  # F to the last: the motto, the date, the signer


def _put(
    ws: Worksheet,
    row: int,
    columns: tuple[int, int],
    value: str,
    *,
    font: Font | None = None,
    horizontal: str = "center",
    literal: bool = False,
) -> None:
    """``value`` in a cell merged over ``columns`` of ``row``; ``literal``: a text starting
    with a formula sign, kept as text (Excel's quote prefix, not shown)."""
    first, last = columns
    cell = ws.cell(row, first, value)
    cell.data_type = "s"
    cell.quotePrefix = literal
    cell.alignment = Alignment(horizontal=horizontal, vertical="top", wrap_text=True)
    if font is not None:
        cell.font = font
    if last > first:
        ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)


def _title_block(
    ws: Worksheet,
    labels: _Labels,
    report: StatsReport,
    union_name: str,
    made: str,
    frozen: str = "",
) -> int:
    """The union's heading, as on its paper reports; returns the header row's number.
    ``frozen``: a closed year's "(số liệu đã chốt ngày …)", after the line saying when the
    report was made."""
    everything = (1, len(_COLUMNS))
    _put(ws, 1, _LEFT_HALF, labels("parent_body"), font=Font(bold=False))
    _put(ws, 2, _LEFT_HALF, safe_text(union_name.upper()), font=Font(bold=True))
    _put(ws, 1, _RIGHT_HALF, labels("motto"), font=Font(bold=False))
    _put(ws, 2, _RIGHT_HALF, labels("motto_line"), font=Font(bold=True))
    _put(ws, 4, everything, labels("title", report.year), font=Font(bold=True, size=14))
    _put(ws, 5, everything, safe_text(labels("scope", report.scope_name)))
    made_line = labels("made", made) + (f" {frozen}" if frozen else "")
    _put(ws, 6, everything, made_line, font=Font(italic=True, size=9))
    return 8


def _footnotes(
    ws: Worksheet, row: int, texts: StatsTexts, labels: _Labels, report: StatsReport
) -> int:
    """How a rate is counted and what the lower bound is, under the table; returns the next
    free row."""
    notes = [texts("footnote", report), labels("floor_note")]
    if report.not_computed:
        notes.append(texts("pending", report))
    for note in notes:
        _put(
            ws,
            row,
            (1, len(_COLUMNS)),
            note,
            font=Font(italic=True, size=9),
            horizontal="left",
        )
        ws.row_dimensions[row].height = 27  # two lines of 9 pt
        row += 1
    return row


def _date_words(day: dt.date) -> tuple[str, str, str]:
    """Day, month and year as administrative documents write them: a 0 before a day under 10
    and before the months 1 and 2 (Nghị định 30/2020/NĐ-CP)."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{day.day:02d}", month, str(day.year)


def _closing_block(
    ws: Worksheet, row: int, labels: _Labels, signoff: SignOff, made_on: dt.date
) -> None:
    """The date (right), "Người lập" (left) and the signer's title (right), room to sign, then
    "Nơi nhận:" and its list (left)."""
    dated = labels("dated", signoff.place, *_date_words(made_on))
    _put(ws, row, _RIGHT_HALF, safe_text(dated), font=Font(italic=True))
    row += 1
    _put(ws, row, _LEFT_HALF, labels("prepared_by"), font=Font(bold=True))
    for offset, title in enumerate(signoff.signer):
        _put(ws, row + offset, _RIGHT_HALF, safe_text(title), font=Font(bold=True))
    row += max(len(signoff.signer), 1) + 4  # room for the signatures
    _put(
        ws,
        row,
        _LEFT_HALF,
        labels("recipients"),
        font=Font(bold=True, italic=True, size=9),
        horizontal="left",
    )
    for index, recipient in enumerate(signoff.recipients, start=1):
        end = "." if index == len(signoff.recipients) else ";"
        _put(
            ws,
            row + index,
            _LEFT_HALF,
            f"- {recipient}{end}",
            font=Font(size=9),
            horizontal="left",
            literal=True,
        )


def _sheet(
    ws: Worksheet,
    rows: list[Line],
    texts: StatsTexts,
    labels: _Labels,
    report: StatsReport,
    union_name: str,
    made: str,
) -> int:
    """The title block, the table and its footnotes; returns the next free row."""
    frozen = texts("frozen", report) if report.frozen_on else ""
    header = _title_block(ws, labels, report, union_name, made, frozen)
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
            cell.alignment = Alignment(wrap_text=index in _WRAPPED, vertical="top")
        part = ws.cell(r, _COLUMN["part"])
        part.alignment = Alignment(wrap_text=True, vertical="top", indent=2 * line.depth)
        if line.parent:
            part.font = Font(bold=True)
        for key in ("numerator", "denominator", "coverage_count", "coverage_total"):
            ws.cell(r, _COLUMN[key]).number_format = "#,##0"  # P5's amounts: thousands grouped
        for key in ("rate", "floor"):
            ws.cell(r, _COLUMN[key]).number_format = "0.00" if line.average else "0.0%"
        fill = _FILLS.get(line.standing)
        if fill is not None:
            ws.cell(r, _COLUMN["result"]).fill = fill
    ws.freeze_panes = f"C{header + 1}"  # the header and the code, name columns stay
    ws.print_title_rows = f"{header}:{header}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.oddFooter = HeaderFooterItem(center=_Part(text="&P / &N"))  # page n / of
    return _footnotes(ws, header + len(rows) + 2, texts, labels, report)


def to_xlsx(
    source: StatsReport | UnitTree,
    locale: str,
    *,
    union_name: str,
    made_at: dt.datetime,
    signoff: SignOff,
) -> bytes:
    """The workbook: a summary sheet closed as a report to superiors, a sheet by public side
    and one by unit (the whole tree given), ready to print on A4.  ``made_at`` is shown in
    ``signoff.tz`` (a naive time is taken as local already)."""
    tree = _tree(source)
    texts, labels = StatsTexts(locale), _Labels(locale)
    local = made_at.astimezone(signoff.tz) if made_at.tzinfo is not None else made_at
    made = local.strftime("%H:%M %d/%m/%Y")
    by_sheet = lines(tree, locale)
    book = Workbook()
    first = book.active
    assert first is not None
    for index, key in enumerate(("summary", "public", "units")):
        ws = first if index == 0 else book.create_sheet()
        ws.title = labels("sheet", key)[:31]
        end = _sheet(ws, by_sheet[key], texts, labels, tree.report, union_name, made)
        if key == "summary":
            _closing_block(ws, end + 1, labels, signoff, local.date())
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --------------------------------------------------------------------------- csv, txt


def _csv_rows(source: StatsReport | UnitTree, locale: str) -> Iterator[list[Any]]:
    texts, labels = StatsTexts(locale), _Labels(locale)
    yield [labels("column", "sheet"), *_headings(texts, labels)]
    rate, floor = _COLUMN["rate"] - 1, _COLUMN["floor"] - 1
    for key, rows in lines(source, locale).items():
        for line in rows:
            values = _values(line)
            for index in (rate, floor):
                values[index] = "" if values[index] is None else round(values[index], 4)
            yield [labels("sheet", key), *values]


def to_csv(source: StatsReport | UnitTree, locale: str) -> str:
    """Every figure, one per line after one header line (the sheet it belongs to first), with
    the workbook's columns: the standing in words, the low-coverage flag, the lower bound and
    the notes.  UTF-8 with a BOM is left to the writer (``utf-8-sig``: what Excel needs to read
    Vietnamese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(_csv_rows(source, locale))
    return out.getvalue()


def to_text(source: StatsReport | UnitTree, locale: str, width: int = 140) -> str:
    """The terminal table, as plain text, with how a rate is counted under it."""
    report = _tree(source).report
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(render_stats_terminal(report, locale))
    console.print(StatsTexts(locale)("footnote", report))
    return console.export_text()


# --------------------------------------------------------------------------- png

_COLOURS = {
    Standing.MET: "#4caf50",
    Standing.NOT_MET: "#e57373",
    Standing.NO_VERDICT: "#9e9e9e",
    Standing.LOW_COVERAGE: "#d6d6d6",
    Standing.NO_DATA: "#9e9e9e",
}
_HATCH = "///"  # low coverage: a rate without a verdict
_NAME_WIDTH = 48  # characters per line of an indicator's name
_TEXT_WIDTH = 46  # characters per line of the words beside a bar


@dataclass(frozen=True)
class ChartBar:
    """One bar of the chart: an indicator, or one public side of a split target."""

    label: str  # the code and name (and the side), wrapped: lines joined by "\n"
    value: float | None  # the bar's length, percent (of the target, for an average); None: none
    target: float | None  # where the target mark goes, percent; None: no number to mark
    standing: Standing
    text: str  # beside the bar: the figure and what it rests on, or why there is no bar


def _chart_bar(
    texts: StatsTexts,
    labels: _Labels,
    row: IndicatorResult,
    f: Figure,
    name: str,
    side: str = "",
) -> ChartBar:
    part = bool(side)
    label = _wrapped(name, side)
    if f.rate is None:
        words = texts("no_data", row, f) if part else texts("no_data", row)
        return ChartBar(label, None, None, f.standing, words)
    text = texts("ratio", f)
    target = f.target
    if target.kind == "per_unit_average":
        wanted = float(target.value or 0)
        value = 100 * f.rate / wanted if wanted > 0 else 100 * f.rate
        mark = 100.0 if wanted > 0 else None
        if wanted > 0:
            text += " " + labels("chart_of_target", format_percent(value / 100))
    else:
        value = 100 * f.rate
        mark = None if target.rate is None or target.value is None else float(target.value)
    if f.standing is Standing.LOW_COVERAGE:
        text += " · " + _plain(texts("not_enough", f, row.coverage_kind))
    return ChartBar(label, value, mark, f.standing, text)


def chart_bars(source: StatsReport | UnitTree, locale: str) -> list[ChartBar]:
    """The chart's bars, top to bottom: every indicator with a rate (A6, an average per CĐCS,
    as a percentage of its target), one bar per public side where the target is split (A2a,
    A2b, A7, P1 on a mixed scope); an indicator without data has its name and no bar."""
    report = _tree(source).report
    texts, labels = StatsTexts(locale), _Labels(locale)
    bars = []
    for row in report.rows:
        name = f"{row.code} · {row_name(texts, row, locale)}"
        if row.rate is not None and row.target.split and row.by_public:
            for key in (PUBLIC, NON_PUBLIC):
                side = row.by_public[key]
                if side.denominator or side.coverage_total:
                    bars.append(_chart_bar(texts, labels, row, side, name, texts("heading", key)))
        else:
            bars.append(_chart_bar(texts, labels, row, row, name))
    return bars


def _wrapped(name: str, side: str) -> str:
    """An indicator's name on lines of at most _NAME_WIDTH characters, never cut; a public
    side in brackets after it, on a line of its own if it does not fit on the last one."""
    wrapped = textwrap.wrap(name, _NAME_WIDTH)
    if side:
        side = f"({side})"
        if len(wrapped[-1]) + 1 + len(side) <= _NAME_WIDTH:
            wrapped[-1] += " " + side
        else:
            wrapped.append(side)
    return "\n".join(wrapped)


def _mpl(text: str) -> str:
    """Text as matplotlib draws it literally (a pair of $ would start math)."""
    return text.replace("$", r"\$")


def _chart_notes(texts: StatsTexts, labels: _Labels, report: StatsReport) -> str:
    """How to read the chart, then what /stats says under a figure and no bar shows: a low
    coverage that withholds no verdict (A5's roster), A5's CĐCS counted from the roster."""
    notes = textwrap.wrap(labels("chart_note", report.min_coverage), 150)
    notes += [f"{row.code}: {note}" for row in report.rows for note in _notes(texts, row, row)]
    if report.not_computed:
        notes.append(texts("pending", report))
    return "\n".join(notes)


def draw_chart(source: StatsReport | UnitTree, locale: str) -> Chart:
    """The chart of :func:`chart_bars`: a horizontal bar per figure against its target mark,
    met green, not met red, no verdict grey, low coverage grey and hatched, with a legend and
    the notes under it.  Drawn off-screen (no pyplot)."""
    from matplotlib.figure import Figure as Chart  # imported here: only exports need it
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    report = _tree(source).report
    texts, labels = StatsTexts(locale), _Labels(locale)
    bars = chart_bars(report, locale)
    words = ["\n".join(textwrap.wrap(bar.text, _TEXT_WIDTH)) for bar in bars]
    slots = [
        0.5 + 0.32 * max(bar.label.count("\n"), text.count("\n"))
        for bar, text in zip(bars, words, strict=True)
    ]
    centres, y = [], 0.0
    for slot in slots:
        centres.append(y + slot / 2)
        y += slot
    values = [v for b in bars for v in (b.value, b.target) if v is not None]
    top = max(100.0, min(max(values, default=100.0), 150.0))  # an average far above: clipped

    notes = _chart_notes(texts, labels, report)
    height = 2.3 + 0.12 * notes.count("\n") + 0.44 * y
    chart = Chart(figsize=(11, height), dpi=110, layout="constrained")
    ax = chart.subplots()
    for bar, text, centre in zip(bars, words, centres, strict=True):
        if bar.value is None:
            ax.text(
                1, centre, _mpl(text), va="center", fontsize=7.5, style="italic", color="#616161"
            )
            continue
        length = min(bar.value, top)
        low = bar.standing is Standing.LOW_COVERAGE
        ax.barh(
            centre,
            length,
            height=0.42,
            color=_COLOURS[bar.standing],
            hatch=_HATCH if low else None,
            edgecolor="#757575" if low else _COLOURS[bar.standing],
        )
        mark = 0.0 if bar.target is None else min(bar.target, top)
        if bar.target is not None:
            ax.vlines(mark, centre - 0.3, centre + 0.3, colors="#212121", lw=2)
        ax.text(max(length, mark) + top * 0.012, centre, _mpl(text), va="center", fontsize=7.5)
    ax.set_yticks(centres, [_mpl(b.label) for b in bars], fontsize=8)
    ax.set_ylim(y, 0)  # the first indicator at the top
    ax.set_xlim(0, top * 1.6)  # room for the words beside the bars
    ticks = list(range(0, int(top) + 1, 25))
    ax.set_xticks(ticks, [f"{t}%" for t in ticks], fontsize=8)
    ax.set_xlabel(_mpl(notes), loc="left", fontsize=7, color="#616161", labelpad=10)
    ax.grid(axis="x", color="#eeeeee")
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.set_title(
        _mpl(
            labels("chart_title", report.year, report.scope_name)
            + (f" {texts('frozen', report)}" if report.frozen_on else "")
        ),
        fontsize=10,
        loc="left",
    )
    handles: list[Artist] = [
        Patch(facecolor=_COLOURS[s], label=labels("chart_legend", s.value, report.min_coverage))
        for s in (Standing.MET, Standing.NOT_MET, Standing.NO_VERDICT)
    ]
    handles.append(
        Patch(
            facecolor=_COLOURS[Standing.LOW_COVERAGE],
            edgecolor="#757575",
            hatch=_HATCH,
            label=labels("chart_legend", Standing.LOW_COVERAGE.value, report.min_coverage),
        )
    )
    target = labels("chart_legend", "target", report.min_coverage)
    handles.append(
        Line2D([], [], color="#212121", marker="|", ls="none", ms=12, mew=2, label=target)
    )
    chart.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    return chart


def to_png(source: StatsReport | UnitTree, locale: str) -> bytes:
    """The chart of :func:`draw_chart` as a PNG."""
    out = io.BytesIO()
    draw_chart(source, locale).savefig(out, format="png")
    return out.getvalue()
