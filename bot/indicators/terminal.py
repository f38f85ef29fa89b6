"""`congdoan stats` in the terminal: a StatsReport, one block per indicator.

Each block is a heading (the code and the indicator's name, then its target and coverage) and a
compact table of its figures: the whole scope first, then the public and non-public sides, then
one line per child unit (the people and cases attached to the scope unit itself on a
"<name> (trực tiếp)" line).  The wide text (names, results) wraps, so every figure, code and name
stays legible in an 80-column terminal; a wider terminal gives the table more room.

Every text comes from the macros of ``bot/templates/stats.txt`` (the same words as in chat) and,
for the table's first column, of ``bot/templates/report/labels.txt`` (the words of the exported
reports), so the terminal, Telegram and the exports show the same labels in the same locale.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from bot.indicators.compute import CoverageKind, Figure, IndicatorResult, Standing, StatsReport
from bot.texts import environment

_STANDING_STYLE = {
    Standing.MET: "green",
    Standing.NOT_MET: "red",
    Standing.LOW_COVERAGE: "yellow",
    Standing.NO_VERDICT: "dim",
    Standing.NO_DATA: "dim",
}


class _Macros:
    """The macros of a template, rendered to plain text (the HTML escaping undone)."""

    template = ""

    def __init__(self, locale: str) -> None:
        self._module: Any = environment(locale).get_template(self.template).make_module()

    def __call__(self, macro: str, *args: Any) -> str:
        return html.unescape(str(getattr(self._module, macro)(*args))).strip()


class StatsTexts(_Macros):
    """The macros of stats.txt, rendered to plain text (the HTML escaping undone)."""

    template = "stats.txt"


class _ReportLabels(_Macros):
    """The macros of report/labels.txt (the words of the exported reports)."""

    template = "report/labels.txt"


def row_name(texts: StatsTexts, row: IndicatorResult, locale: str) -> str:
    """The indicator's name, with the unit of its figures when they are amounts of money."""
    name = row.name(locale)
    return f"{name} ({texts('money_unit')})" if row.subject == "money" else name


def _ratio(figure: Figure) -> str:
    return f"{figure.numerator}/{figure.denominator}"


def _rate(texts: StatsTexts, figure: Figure) -> str:
    """The rate alone (75%, 72,7%, an average 0,67), or nothing without one."""
    return "" if figure.rate is None else texts("ratio", figure).rsplit("= ", 1)[-1]


def _coverage(row: IndicatorResult, figure: Figure) -> str:
    """Those who answered (reported, are listed...) out of those in scope; nothing for cases,
    where the number of cases is the denominator already."""
    if row.coverage_kind is CoverageKind.CASES:
        return ""
    return f"{figure.coverage_count}/{figure.coverage_total}"


def _heading(texts: StatsTexts, row: IndicatorResult, locale: str) -> Text:
    """The indicator's code and name, then its target, coverage and notes (wrapped by rich)."""
    heading = Text.assemble((row.code, "bold"), " · ", (row_name(texts, row, locale), "bold"))
    details = f"{texts('heading', 'target')}: {texts('target', row.target)}"
    if row.coverage_kind is not CoverageKind.CASES or row.denominator > 0:
        details += f" · {texts('coverage', row)}"
    lines = [heading, Text(details)]
    if row.coverage_low:
        lines.append(Text(texts("coverage_warning", row), style="yellow"))
    if row.fallback_units:
        lines.append(Text(texts("fallback", row.fallback_units), style="italic dim"))
    if row.apart:
        lines.append(Text(texts("apart", row.apart), style="italic dim"))
    if row.withdrawn:
        lines.append(Text(texts("withdrawn", row.withdrawn), style="italic dim"))
    return Text("\n").join(lines)


@dataclass(frozen=True)
class _Line:
    """One line of an indicator's table: the whole scope, a public side or a child unit."""

    label: Text
    ratio: str
    rate: str
    result: Text
    coverage: str

    @property
    def cells(self) -> tuple[Text | str, ...]:
        return (self.label, self.ratio, self.rate, self.result, self.coverage)


def _lines(texts: StatsTexts, labels: _ReportLabels, row: IndicatorResult) -> list[_Line]:
    """The figures of one indicator: the whole scope, its public sides, its child units (the
    part attached to the scope unit itself last, as "<name> (trực tiếp)")."""
    sides = row.by_public or {}
    parts: list[tuple[str, Figure]] = [
        (texts("heading", key), sides[key])
        for key in ("public", "non_public")
        if key in sides and sides[key].rate is not None
    ]
    if len(parts) < 2:  # one side only: the same figures as the whole
        parts = []
    if row.rate is None:
        result = texts("no_data", row)
    elif parts:  # a target per side: each side's verdict is on its own line below
        result = texts("verdict", row, row.coverage_kind)
    else:
        result = texts("row_verdict", row)
    lines = [
        _Line(
            Text(labels("whole"), style="bold"),
            _ratio(row),
            _rate(texts, row),
            Text(result, style=_STANDING_STYLE[row.standing]),
            _coverage(row, row),
        )
    ]
    children = [
        (texts("direct", child.name) if child.direct else child.name, child)
        for child in row.by_child
    ]
    for group, style in ((parts, "italic"), (children, "")):
        for label, figure in group:
            if figure.rate is not None:
                words = texts("verdict", figure, row.coverage_kind)
            else:
                words = texts("no_data", row, figure)
            lines.append(
                _Line(
                    Text(label, style=style),
                    _ratio(figure),
                    _rate(texts, figure),
                    Text(words, style=_STANDING_STYLE[figure.standing]),
                    _coverage(row, figure),
                )
            )
    return lines


_GAP = 2  # between two columns: the separator of box.SIMPLE_HEAD and one space of padding
_RESULT_SHARE = 0.4  # of the room the unit's name and the result share, the result's at least


class _Columns:
    """The columns of every indicator's table, sized once for the whole report so that the
    tables line up: the figures at their widest; the unit's name and the result at their
    widest too when the terminal has room, else sharing what is left (the result keeping at
    least ``_RESULT_SHARE`` of it, so that its few words stay on one or two lines; the names
    wrap)."""

    def __init__(self, headings: tuple[str, ...], blocks: list[list[_Line]]) -> None:
        self.headings = headings
        self.widths = [
            max(
                [cell_len(headings[index])]
                + [cell_len(str(line.cells[index])) for lines in blocks for line in lines]
            )
            for index in range(len(headings))
        ]

    @property
    def natural(self) -> int:
        """The width of a table whose text needs no wrapping."""
        return sum(self.widths) + _GAP * (len(self.widths) - 1)

    def fitted(self, width: int) -> list[int]:
        """The columns' widths in ``width`` characters."""
        label, ratio, rate, result, coverage = self.widths
        room = width - (ratio + rate + coverage) - _GAP * (len(self.widths) - 1)
        if label + result > room:  # too narrow: names wrap, and results if need be
            result = max(min(result, max(room - label, int(room * _RESULT_SHARE))), 1)
            label = max(room - result, 1)
        return [label, ratio, rate, result, coverage]

    def table(self, lines: list[_Line], width: int) -> Table:
        label_width, ratio_width, rate_width, result_width, coverage_width = self.fitted(width)
        label, ratio, rate, result, coverage = self.headings
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        # Text wraps at spaces (a word longer than its column is folded); figures never do.
        table.add_column(label, width=label_width, overflow="fold")
        table.add_column(ratio, justify="right", no_wrap=True, width=ratio_width)
        table.add_column(rate, justify="right", no_wrap=True, width=rate_width)
        table.add_column(result, width=result_width, overflow="fold")
        table.add_column(coverage, justify="right", no_wrap=True, width=coverage_width)
        for line in lines:
            table.add_row(*line.cells)
        return table


class _Figures:
    """An indicator's table, laid out for the width it is given when it is printed."""

    def __init__(self, columns: _Columns, lines: list[_Line]) -> None:
        self.columns = columns
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.columns.table(self.lines, min(options.max_width, self.columns.natural))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(1, min(options.max_width, self.columns.natural))


def render_stats_terminal(report: StatsReport, locale: str) -> Table:
    """The report as a grid of blocks, one per computed indicator (its heading, then a table of
    its figures), under the report's title; the indicators not computed yet in its caption."""
    texts, labels = StatsTexts(locale), _ReportLabels(locale)
    blocks = [_lines(texts, labels, row) for row in report.rows]
    columns = _Columns(
        (
            labels("column", "part"),
            texts("heading", "ratio"),
            texts("heading", "rate"),
            texts("heading", "result"),
            texts("heading", "coverage"),
        ),
        blocks,
    )
    grid = Table(
        title=f"{texts('title', report)} · {report.scope_name}",
        title_style="bold",
        caption=texts("pending", report) if report.not_computed else None,
        caption_justify="left",
        box=None,
        show_header=False,
        expand=True,
        padding=(0, 0, 1, 0),  # a blank line after each block
        pad_edge=False,
    )
    grid.add_column(overflow="fold")
    for row, lines in zip(report.rows, blocks, strict=True):
        grid.add_row(Group(_heading(texts, row, locale), _Figures(columns, lines)))
    return grid
