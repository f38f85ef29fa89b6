"""The indicator catalog: a YAML data file (``catalog.yaml``) validated at load.

The file holds every indicator of the plan (codes, names, subject, source, targets by year and
phase, split public/non-public where the plan splits them).  :func:`load_catalog` reads and
validates it; an error names the file, the entry and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from surveys.schema import Level  # the levels of union bodies: one vocabulary for both files

DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the file, the entry and the reason."""


class Subject(StrEnum):
    MEMBER = "member"
    UNIT = "unit"
    CASE = "case"
    MONEY = "money"


class Population(StrEnum):
    """Who a member indicator counts: all staff (CBNGNLĐ) or union members (đoàn viên) only."""

    STAFF = "staff"
    MEMBERS = "members"


class AppliesTo(StrEnum):
    ALL = "all"
    PUBLIC = "public"
    NON_PUBLIC = "non_public"


class TargetKind(StrEnum):
    MIN = "min"  # rate ≥ percent
    EXACT = "exact"  # rate = 100 %
    NONE = "none"  # no number: report the figure without pass/fail
    PER_UNIT_AVERAGE = "per_unit_average"  # count / units ≥ value


# The sources the bot knows.  ``survey`` and ``unit_report`` take arguments after a colon.
_SOURCE_PATTERNS = {
    "survey": re.compile(r"^survey:[a-z0-9_]+:[a-z0-9_]+$"),
    "unit_report": re.compile(r"^unit_report:[a-z0-9_]+$"),
    "welfare_benefits": re.compile(r"^welfare_benefits$"),
    "hardship_cases": re.compile(r"^hardship_cases$"),
    "roster_membership": re.compile(r"^roster_membership$"),
    "notices_ack": re.compile(r"^notices_ack$"),
    "legal_cases": re.compile(r"^legal_cases$"),
}
_KNOWN_SOURCES = "survey:<key>:<question>, unit_report:<question>, " + ", ".join(
    k for k in _SOURCE_PATTERNS if k not in ("survey", "unit_report")
)
_KEY = re.compile(r"^[a-z0-9_]+$")

_INDICATOR_KEYS = frozenset(
    {
        "levels",
        "code",
        "name_vi",
        "name_en",
        "subject",
        "population",
        "applies_to",
        "source",
        "computed",
        "targets",
        "counts_as",
        "among",
        "out_of",
    }
)
_TARGET_KEYS = frozenset({"kind", "percent", "value", "label_vi", "label_en"})
_HUNDRED = Decimal(100)
DEFAULT_MIN_COVERAGE = 50  # percent: a verdict rests on at least half of those in scope
_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True)
class Target:
    """One target.  ``value`` is a percentage (0..100) for min/exact, an average for
    per_unit_average, None for none.  ``phase`` is the phase year it comes from (None: annual).
    ``split`` marks the "no single target" answer for a mixed scope of a split indicator."""

    kind: TargetKind
    value: Decimal | None = None
    label_vi: str | None = None
    label_en: str | None = None
    phase: int | None = None
    split: bool = False

    @property
    def rate(self) -> float | None:
        """The percentage target as a fraction (0..1), for display; None if not a percentage."""
        if self.kind in (TargetKind.MIN, TargetKind.EXACT) and self.value is not None:
            return float(self.value / _HUNDRED)
        return None

    def label(self, locale: str) -> str | None:
        return self.label_vi if locale == "vi" else (self.label_en or self.label_vi)

    def is_met(self, numerator: int, denominator: int) -> bool | None:
        """Whether numerator/denominator meets the target, in exact arithmetic; None when there
        is no rate (denominator 0) or no number to compare with.  A rate at the target is met."""
        if denominator <= 0 or self.value is None:
            return None
        if self.kind in (TargetKind.MIN, TargetKind.EXACT):
            return Decimal(numerator) * _HUNDRED >= self.value * Decimal(denominator)
        if self.kind is TargetKind.PER_UNIT_AVERAGE:
            return Decimal(numerator) >= self.value * Decimal(denominator)
        return None

    def with_phase(self, phase: int | None) -> Target:
        return Target(self.kind, self.value, self.label_vi, self.label_en, phase, self.split)


NO_TARGET = Target(TargetKind.NONE)


@dataclass(frozen=True)
class TargetRule:
    """The target of a period: the same for all units, or split public / non-public."""

    public: Target
    non_public: Target
    split: bool

    def pick(self, public: bool | None) -> Target:
        if public is None:
            return Target(TargetKind.NONE, split=True) if self.split else self.public
        return self.public if public else self.non_public


@dataclass(frozen=True)
class Indicator:
    code: str
    name_vi: str
    name_en: str
    subject: Subject
    source: str
    population: Population = Population.MEMBERS
    applies_to: AppliesTo = AppliesTo.ALL
    computed: bool = False
    annual: TargetRule | None = None
    phases: tuple[tuple[int, TargetRule], ...] = ()
    # unit_report: the answers of a single-choice question that count (default: yes)
    counts_as: tuple[str, ...] = ()
    # unit_report: only the units answering yes to this question are counted (P1: eligible)
    among: str | None = None
    # unit_report, subject money: the integer question summed into the denominator (P5: due)
    out_of: str | None = None
    # unit_report: the levels of the union bodies counted (the plan's "các cấp công đoàn")
    levels: tuple[Level, ...] = (Level.GRASSROOTS,)

    @property
    def upper_levels(self) -> bool:
        """It counts union bodies above the CĐCS too (or only)."""
        return self.levels != (Level.GRASSROOTS,)

    @property
    def source_kind(self) -> str:
        return self.source.split(":", 1)[0]

    @property
    def is_amount(self) -> bool:
        """Money (P5): a sum of amounts over a sum of amounts."""
        return self.out_of is not None

    @property
    def is_average(self) -> bool:
        """Its targets are averages per unit (A6): the numerator is a sum of counts."""
        rules = [r for r in (self.annual, *(rule for _, rule in self.phases)) if r is not None]
        return any(
            t.kind is TargetKind.PER_UNIT_AVERAGE for r in rules for t in (r.public, r.non_public)
        )

    def name(self, locale: str) -> str:
        return self.name_vi if locale == "vi" else self.name_en


@dataclass(frozen=True)
class Catalog:
    indicators: tuple[Indicator, ...]
    path: Path | None = None
    # Below this share (percent) of those in scope answering, a rate is shown without a
    # verdict ("chưa đủ số liệu"): the file's ``min_coverage``.
    min_coverage: int = DEFAULT_MIN_COVERAGE
    _by_code: Mapping[str, Indicator] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {i.code: i for i in self.indicators})

    def get(self, code: str) -> Indicator:
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"no indicator {code!r} in the catalog") from None

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.indicators]

    @property
    def computed(self) -> list[Indicator]:
        return [i for i in self.indicators if i.computed]

    @property
    def not_computed(self) -> list[Indicator]:
        return [i for i in self.indicators if not i.computed]

    def target_for(self, code: str, year: int, public: bool | None = None) -> Target:
        """The target of ``code`` in ``year``: the latest phase at or before the year, else the
        annual target, else none.  ``public`` picks the public/non-public side of a split target
        (None: a mixed scope); an indicator for public (non-public) units only has no target on
        the other side."""
        indicator = self.get(code)
        if (indicator.applies_to is AppliesTo.PUBLIC and public is False) or (
            indicator.applies_to is AppliesTo.NON_PUBLIC and public is True
        ):
            return NO_TARGET
        rule: TargetRule | None = indicator.annual
        phase: int | None = None
        for phase_year, phase_rule in indicator.phases:  # sorted by year
            if phase_year <= year:
                rule, phase = phase_rule, phase_year
        if rule is None:
            return NO_TARGET
        return rule.pick(public).with_phase(phase)


# ----------------------------------------------------------------------------- loading


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Read and validate a catalog file (default: the packaged ``catalog.yaml``)."""
    file = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{file}: cannot read the catalog: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{file}: not valid YAML: {exc}") from exc
    return parse_catalog(data, file)


def parse_catalog(data: Any, file: Path | str = "<catalog>") -> Catalog:
    if not isinstance(data, dict) or not isinstance(data.get("indicators"), list):
        raise CatalogError(f"{file}: expected a mapping with an 'indicators' list")
    indicators: list[Indicator] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["indicators"], start=1):
        indicator = _parse_indicator(entry, f"{file}: indicator #{index}")
        if indicator.code in seen:
            raise CatalogError(
                f"{file}: indicator #{index} ({indicator.code}): duplicate code {indicator.code!r}"
            )
        seen.add(indicator.code)
        indicators.append(indicator)
    minimum = data.get("min_coverage", DEFAULT_MIN_COVERAGE)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or not 0 <= minimum <= 100:
        raise CatalogError(
            f"{file}: min_coverage must be a whole percentage from 0 to 100, not {minimum!r}"
        )
    return Catalog(tuple(indicators), Path(file), min_coverage=minimum)


def _parse_indicator(entry: Any, where: str) -> Indicator:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a mapping, got {type(entry).__name__}")
    code = entry.get("code")
    if not isinstance(code, str) or not code.strip():
        raise CatalogError(f"{where}: missing 'code'")
    where = f"{where} ({code})"
    unknown = sorted(str(k) for k in entry if k not in _INDICATOR_KEYS)
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(unknown)}")
    names = []
    for key in ("name_vi", "name_en"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise CatalogError(f"{where}: missing '{key}'")
        names.append(value.strip())
    subject = _enum_value(Subject, entry.get("subject"), where, "subject")
    population = _enum_value(
        Population, entry.get("population", Population.MEMBERS.value), where, "population"
    )
    applies_to = _enum_value(
        AppliesTo, entry.get("applies_to", AppliesTo.ALL.value), where, "applies_to"
    )
    source = entry.get("source")
    if not isinstance(source, str):
        raise CatalogError(f"{where}: missing 'source'")
    kind = source.split(":", 1)[0]
    pattern = _SOURCE_PATTERNS.get(kind)
    if pattern is None or not pattern.match(source):
        raise CatalogError(f"{where}: unknown source {source!r} (known: {_KNOWN_SOURCES})")
    computed = entry.get("computed", False)
    if not isinstance(computed, bool):
        raise CatalogError(f"{where}: 'computed' must be true or false")
    if computed and kind == "survey" and subject is not Subject.MEMBER:
        raise CatalogError(f"{where}: a survey indicator computed here must have subject member")
    annual, phases = _parse_targets(entry.get("targets"), where)
    counts_as = entry.get("counts_as", [])
    among = entry.get("among")
    if (counts_as or among is not None) and kind != "unit_report":
        raise CatalogError(f"{where}: 'counts_as' and 'among' are for unit_report sources only")
    if not isinstance(counts_as, list) or not all(
        isinstance(v, str) and _KEY.match(v) for v in counts_as
    ):
        raise CatalogError(f"{where}: 'counts_as' must be a list of answer values (a-z, 0-9, _)")
    if among is not None and (not isinstance(among, str) or not _KEY.match(among)):
        raise CatalogError(f"{where}: 'among' must name a yes/no question of the unit report")
    out_of = entry.get("out_of")
    if out_of is not None and (kind != "unit_report" or subject is not Subject.MONEY):
        raise CatalogError(f"{where}: 'out_of' is for unit_report sources of subject money only")
    if out_of is not None and (not isinstance(out_of, str) or not _KEY.match(out_of)):
        raise CatalogError(f"{where}: 'out_of' must name an integer question of the unit report")
    if kind == "unit_report" and subject is Subject.MONEY and out_of is None:
        raise CatalogError(f"{where}: a money indicator needs 'out_of' (the amount due)")
    if kind == "unit_report" and subject not in (Subject.UNIT, Subject.MONEY):
        raise CatalogError(f"{where}: a unit_report indicator must have subject unit or money")
    raw_levels = entry.get("levels", [Level.GRASSROOTS.value])
    if "levels" in entry and kind != "unit_report":
        raise CatalogError(f"{where}: 'levels' is for unit_report sources only")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise CatalogError(f"{where}: 'levels' must be a list of grassroots, district, province")
    levels = tuple(_enum_value(Level, value, where, "levels") for value in raw_levels)
    if len(set(levels)) != len(levels):
        raise CatalogError(f"{where}: a level is listed twice in 'levels'")
    levels = tuple(level for level in Level if level in levels)  # top-down order
    if applies_to is not AppliesTo.ALL and levels != (Level.GRASSROOTS,):
        raise CatalogError(f"{where}: 'applies_to' (public or not) concerns CĐCS only")
    return Indicator(
        code=code.strip(),
        name_vi=names[0],
        name_en=names[1],
        subject=subject,
        source=source,
        population=population,
        applies_to=applies_to,
        computed=computed,
        annual=annual,
        phases=phases,
        counts_as=tuple(counts_as),
        among=among,
        out_of=out_of,
        levels=levels,
    )


def _enum_value(enum: type[_E], value: Any, where: str, key: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(m.value for m in enum)
        raise CatalogError(f"{where}: unknown {key} {value!r} (known: {known})") from None


def _parse_targets(
    value: Any, where: str
) -> tuple[TargetRule | None, tuple[tuple[int, TargetRule], ...]]:
    if value is None:
        return None, ()
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: 'targets' must be a mapping with 'annual' and/or 'phases'")
    unknown = sorted(str(k) for k in value if k not in ("annual", "phases"))
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) in targets: {', '.join(unknown)}")
    annual = _parse_rule(value["annual"], f"{where} annual target") if "annual" in value else None
    phases_raw = value.get("phases") or {}
    if not isinstance(phases_raw, dict):
        raise CatalogError(f"{where}: 'phases' must map a year to a target")
    phases: list[tuple[int, TargetRule]] = []
    for year, rule in phases_raw.items():
        if isinstance(year, bool) or not isinstance(year, int):
            raise CatalogError(f"{where}: phase year {year!r} is not an integer")
        if not 1900 <= year <= 2200:
            raise CatalogError(f"{where}: phase year {year} is out of range")
        phases.append((year, _parse_rule(rule, f"{where} phase {year}")))
    phases.sort(key=lambda item: item[0])
    return annual, tuple(phases)


def _parse_rule(value: Any, where: str) -> TargetRule:
    if isinstance(value, dict) and ("public" in value or "non_public" in value):
        unknown = sorted(str(k) for k in value if k not in ("public", "non_public"))
        if unknown or "public" not in value or "non_public" not in value:
            raise CatalogError(f"{where}: a split target needs exactly 'public' and 'non_public'")
        return TargetRule(
            _parse_target(value["public"], f"{where} (public)"),
            _parse_target(value["non_public"], f"{where} (non_public)"),
            split=True,
        )
    target = _parse_target(value, where)
    return TargetRule(target, target, split=False)


def _parse_target(value: Any, where: str) -> Target:
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: expected a mapping like {{kind: min, percent: 75}}")
    unknown = sorted(str(k) for k in value if k not in _TARGET_KEYS)
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kind = _enum_value(TargetKind, value.get("kind"), where, "target kind")
    labels = (value.get("label_vi"), value.get("label_en"))
    for label in labels:
        if label is not None and not isinstance(label, str):
            raise CatalogError(f"{where}: labels must be text")
    if kind is TargetKind.MIN:
        percent = _number(value.get("percent"), where, "percent")
        if not Decimal(0) <= percent <= _HUNDRED:
            raise CatalogError(f"{where}: target {value.get('percent')}% is outside 0–100%")
        return Target(kind, percent, labels[0], labels[1])
    if kind is TargetKind.EXACT:
        if "percent" in value and _number(value["percent"], where, "percent") != _HUNDRED:
            raise CatalogError(f"{where}: an exact target is 100% (use kind: min otherwise)")
        return Target(kind, _HUNDRED, labels[0], labels[1])
    if kind is TargetKind.PER_UNIT_AVERAGE:
        average = _number(value.get("value"), where, "value")
        if average < 0:
            raise CatalogError(f"{where}: the average target must not be negative")
        return Target(kind, average, labels[0], labels[1])
    if "percent" in value or "value" in value:
        raise CatalogError(f"{where}: a target of kind none has no number")
    return Target(kind, None, labels[0], labels[1])


def _number(value: Any, where: str, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CatalogError(f"{where}: '{key}' must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise CatalogError(f"{where}: '{key}' must be a number, got {value!r}") from None
    if not number.is_finite():
        raise CatalogError(f"{where}: '{key}' must be a finite number")
    return number
