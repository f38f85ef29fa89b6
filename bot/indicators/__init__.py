"""Indicators: the catalog (a data file), their computation from the database, and reports."""

from bot.indicators.catalog import (
    DEFAULT_CATALOG,
    Catalog,
    CatalogError,
    Indicator,
    Target,
    TargetKind,
    load_catalog,
)
from bot.indicators.compute import (
    ChildResult,
    CoverageKind,
    Figure,
    IndicatorResult,
    NotComputed,
    Standing,
    StatsReport,
    UnknownScope,
    compute_stats,
)

__all__ = [
    "DEFAULT_CATALOG",
    "Catalog",
    "CatalogError",
    "ChildResult",
    "CoverageKind",
    "Figure",
    "Indicator",
    "IndicatorResult",
    "NotComputed",
    "Standing",
    "StatsReport",
    "Target",
    "TargetKind",
    "UnknownScope",
    "compute_stats",
    "load_catalog",
]
