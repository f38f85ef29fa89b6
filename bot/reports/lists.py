"""Plain lists as an .xlsx workbook: who has not acknowledged a notice, a campaign's people or
answers, a roster.  Each sheet has a bold title line, an optional subtitle, then a table: a
header row (bold, filled as the indicator reports' headers, frozen, with an autofilter) and
the rows, columns fitted to their content (capped), dates dd/mm/yyyy, times HH:MM dd/mm/yyyy.

The caller gives every word (titles, headers: from the templates) and the values, times
already in local time (naive or aware: written naive, as shown).  Every text goes through
:func:`bot.reports.personal.cell_text`: never read as a formula, without the control
characters a worksheet refuses.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from bot.reports.personal import cell_text

Value = str | int | float | dt.date | dt.datetime | None

DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "hh:mm dd/mm/yyyy"
MIN_WIDTH = 8
MAX_WIDTH = 60
SHEET_NAME_MAX = 31  # Excel's limit

_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")  # as bot.reports.export's headers
_NOT_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class ListSheet:
    """One sheet of a list workbook."""

    name: str  # the tab's name (made valid: at most 31 characters, none of []:*?/\)
    title: str
    subtitle: str | None
    headers: Sequence[str]
    rows: Sequence[Sequence[Value]]


def list_xlsx(
    *,
    title: str,
    subtitle: str | None,
    headers: Sequence[str],
    rows: Sequence[Sequence[Value]],
    sheet: str,
) -> bytes:
    """A workbook of one list (see the module doc)."""
    return lists_xlsx([ListSheet(sheet, title, subtitle, headers, rows)])


def lists_xlsx(sheets: Sequence[ListSheet]) -> bytes:
    """A workbook of several lists, one sheet each, in order (at least one sheet)."""
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook has its one sheet
    used: set[str] = set()
    for index, spec in enumerate(sheets):
        ws = first if index == 0 else book.create_sheet()
        ws.title = _sheet_name(spec.name, used)
        _fill(ws, spec)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(name: str, used: set[str]) -> str:
    """``name`` as a valid tab name not yet taken (case-insensitively, as Excel compares)."""
    base = " ".join(_NOT_IN_SHEET_NAMES.sub(" ", name).split()).strip("'").strip() or "Sheet"
    candidate = base[:SHEET_NAME_MAX]
    number = 1
    while candidate.lower() in used:
        number += 1
        suffix = f" ({number})"
        candidate = base[: SHEET_NAME_MAX - len(suffix)] + suffix
    used.add(candidate.lower())
    return candidate


def _cell_value(value: Value) -> Value:
    if isinstance(value, str):
        return cell_text(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)  # already local: a worksheet holds no zone
    return value


def _shown_length(value: Value) -> int:
    """About how many characters the cell shows (for the column's width)."""
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return len("00:00 00/00/0000")
    if isinstance(value, dt.date):
        return len("00/00/0000")
    if isinstance(value, str):
        return max(len(line) for line in value.split("\n"))
    return len(str(value))


def _fill(ws: Worksheet, spec: ListSheet) -> None:
    columns = max([len(spec.headers), *(len(row) for row in spec.rows)], default=0)
    title = ws.cell(1, 1, cell_text(spec.title))
    title.font = Font(bold=True, size=14)
    header = 3
    if spec.subtitle:
        sub = ws.cell(2, 1, cell_text(spec.subtitle))
        sub.font = Font(italic=True)
        header = 4
    widths = [0] * columns
    for index, text in enumerate(spec.headers, start=1):
        shown = cell_text(text)
        cell = ws.cell(header, index, shown)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        widths[index - 1] = _shown_length(shown)
    for offset, row in enumerate(spec.rows, start=1):
        r = header + offset
        for index, value in enumerate(row, start=1):
            written = _cell_value(value)
            cell = ws.cell(r, index, written)
            cell.border = _BORDER
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if isinstance(value, dt.datetime):
                cell.number_format = DATETIME_FORMAT
            elif isinstance(value, dt.date):
                cell.number_format = DATE_FORMAT
            widths[index - 1] = max(widths[index - 1], _shown_length(written))
    for index, longest in enumerate(widths, start=1):
        width = min(MAX_WIDTH, max(MIN_WIDTH, longest + 2))
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = f"A{header + 1}"
    if columns:
        last = get_column_letter(columns)
        ws.auto_filter.ref = f"A{header}:{last}{header + len(spec.rows)}"
        ws.print_title_rows = f"{header}:{header}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
