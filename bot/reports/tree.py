"""The breakdown of a report by every unit of its scope, level by level.

A :class:`~bot.indicators.compute.StatsReport` splits its figures by the scope's direct children
only.  :func:`unit_tree` adds, for each child that has units of its own (a district and its
CĐCS, a CĐCS and its tổ), that child's own report, and so on down the tree: one
``compute_stats`` per unit with children, never per leaf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.indicators.catalog import Catalog
from bot.indicators.compute import StatsReport, compute_stats
from storage import people


@dataclass(frozen=True)
class UnitTree:
    """A report and, by child unit id, the breakdown of each child with children of its own.

    ``UnitTree(report)`` (nothing below) is the first level only: what a single report holds."""

    report: StatsReport
    below: Mapping[int, UnitTree] = field(default_factory=dict)


async def unit_tree(
    session: AsyncSession, report: StatsReport, *, catalog: Catalog, tallies: bool = True
) -> UnitTree:
    """``report`` with the breakdown of every unit of its scope below its children, for the
    same year and catalog.  Reads the subtree's units once to know which have children; like
    ``compute_stats``, may write the stale tallies (the caller commits)."""
    scope = await people.get_unit(session, unit_id=report.scope_id)
    if scope is None:
        return UnitTree(report)
    subtree = await people.units_in_subtree(session, path=scope.path)
    parents = {unit.parent_id for unit in subtree if unit.parent_id is not None}

    async def grow(node: StatsReport) -> UnitTree:
        children = dict.fromkeys(
            child.unit_id
            for row in node.rows
            for child in row.by_child
            if not child.direct and child.unit_id is not None
        )
        below: dict[int, UnitTree] = {}
        for unit_id in children:
            if unit_id is None or unit_id not in parents:
                continue
            child = await compute_stats(
                session, scope_unit_id=unit_id, year=node.year, catalog=catalog, tallies=tallies
            )
            below[unit_id] = await grow(child)
        return UnitTree(node, below)

    return await grow(report)
