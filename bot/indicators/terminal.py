"""`congdoan stats` in the terminal: a rich Table of a StatsReport.

Every text comes from the macros of ``bot/templates/stats.txt`` (the same words as in chat), so
the terminal and Telegram show the same labels in the same locale.
"""

from __future__ import annotations

import html
from typing import Any

from rich.table import Table
from rich.text import Text

from bot.indicators.compute import Figure, IndicatorResult, Standing, StatsReport
from bot.texts import environment

_STANDING_STYLE = {
    Standing.MET: "green",
    Standing.NOT_MET: "red",
    Standing.LOW_COVERAGE: "yellow",
    Standing.NO_VERDICT: "dim",
    Standing.NO_DATA: "dim",
}


class StatsTexts:
    """The macros of stats.txt, rendered to plain text (the HTML escaping undone)."""

    def __init__(self, locale: str) -> None:
        self._module: Any = environment(locale).get_template("stats.txt").make_module()

    def __call__(self, macro: str, *args: Any) -> str:
        return html.unescape(str(getattr(self._module, macro)(*args))).strip()


def row_name(texts: StatsTexts, row: IndicatorResult, locale: str) -> str:
    """The indicator's name, with the unit of its figures when they are amounts of money."""
    name = row.name(locale)
    return f"{name} ({texts('money_unit')})" if row.subject == "money" else name


def _ratio(figure: Figure) -> str:
    return f"{figure.numerator}/{figure.denominator}"


def _cell_rate(texts: StatsTexts, row: IndicatorResult) -> str:
    if row.rate is None:
        return texts("no_data", row)
    return texts("ratio", row).rsplit("= ", 1)[-1]


def render_stats_terminal(report: StatsReport, locale: str) -> Table:
    """A table of the report: one line per computed indicator, then one per child unit."""
    texts = StatsTexts(locale)
    table = Table(
        title=f"{texts('title', report)} · {report.scope_name}",
        caption=texts("pending", report) if report.not_computed else None,
        caption_justify="left",
        show_lines=False,
    )
    table.add_column(texts("heading", "code"), style="bold", no_wrap=True)
    table.add_column(texts("heading", "name"), overflow="fold", max_width=48)
    table.add_column(texts("heading", "ratio"), justify="right", no_wrap=True)
    table.add_column(texts("heading", "rate"), justify="right", no_wrap=True)
    table.add_column(texts("heading", "target"), no_wrap=True)
    table.add_column(texts("heading", "result"), overflow="fold", max_width=32)
    table.add_column(texts("heading", "coverage"), overflow="fold", max_width=40)
    for index, row in enumerate(report.rows):
        coverage = texts("coverage", row)
        if row.coverage_low:
            coverage += " " + texts("coverage_warning", row)
        if row.fallback_units:
            coverage += f" ({texts('fallback', row.fallback_units)})"
        table.add_row(
            row.code,
            row_name(texts, row, locale),
            _ratio(row),
            _cell_rate(texts, row),
            texts("target", row.target),
            Text(texts("row_verdict", row), style=_STANDING_STYLE[row.standing]),
            coverage,
            end_section=not row.by_child and not row.by_public,
        )
        sides = row.by_public or {}
        parts: list[tuple[str, Figure]] = [
            (texts("heading", key), sides[key])
            for key in ("public", "non_public")
            if key in sides and sides[key].rate is not None
        ]
        if len(parts) < 2:
            parts = []
        parts += [
            (texts("direct", child.name) if child.direct else child.name, child)
            for child in row.by_child
        ]
        for position, (label, figure) in enumerate(parts):
            if figure.rate is not None:
                rate = texts("ratio", figure).rsplit("= ", 1)[-1]
                result = texts("verdict", figure, row.coverage_kind)
            else:
                rate, result = texts("no_data", row, figure), ""
            table.add_row(
                "",
                Text(f"  {label}", style="dim"),
                _ratio(figure),
                rate,
                "",
                Text(result, style=_STANDING_STYLE[figure.standing]),
                "",
                end_section=position == len(parts) - 1 and index < len(report.rows) - 1,
            )
    return table
