"""The officers' weekly digest: their units below the plan's targets, and who has not answered.

Once a week, from a configurable local weekday and time on (:class:`DigestSchedule`, in the
settings' zone), every officer and admin with ``people.weekly_digest`` on and a linked chat gets
one message (``campaign/digest.txt``): for each indicator of the catalog with a numeric target,
the units of their scope below it (rate, target and gap in percentage points, worst first, at
most :data:`UNITS_PER_INDICATOR`), and for indicators fed by a campaign, the names of the people
of each such unit who have not answered its open campaign.  A unit where too few have answered
for a verdict (the catalog's minimum coverage) is not "below target": it is listed apart, as
"chưa đủ số liệu", only where an open campaign has people there to ask (their names are what an
officer can act on).  When nothing is below target (or nothing can be measured yet), a short
message says so, and how many units have too few answers to judge.

Everything is derived from the database and the clock, as for reminders:

- :func:`digest_due` says whether ``now`` lies, in its local ISO week, at or after the
  scheduled weekday and time and outside quiet hours; so after downtime the week's digest still
  goes out later that week.
- :func:`digest_pass` records each digest in ``digests_sent`` (unique on person and ISO week)
  *before* writing it to the outbox, so a second pass that week, or a concurrent one, writes
  nothing more; at most ``schedule.batch`` officers per pass, the rest in the next passes.

Scopes are those of :mod:`bot.services.actors`: an admin's is the root unit, an officer's their
``officer_unit_id`` (else their own unit).  Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.schedule import QuietHours
from bot.indicators.catalog import Catalog, Target
from bot.indicators.compute import Figure, IndicatorResult, Standing, compute_stats
from bot.services.actors import scope_of
from bot.texts import render
from storage import campaigns as campaign_store
from storage import digests as store
from storage import outbox, people
from storage.models import DeliveryKind, Person, Unit
from surveys.names import sort_names

TEMPLATE = "campaign/digest.txt"
LOCALES = ("vi", "en")
UNITS_PER_INDICATOR = 10  # units listed per indicator, worst gap first
NAMES_PER_UNIT = 10  # names of people who have not answered, per unit listed
_HUNDRED = Decimal(100)


def _aware(moment: dt.datetime, name: str = "now") -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment


@dataclass(frozen=True)
class DigestSchedule:
    """When the week's digest goes out: from ``weekday`` (Monday = 0, as
    :meth:`datetime.date.weekday`) at local wall-clock time ``at`` on, until the end of the ISO
    week; ``batch`` officers per pass at most (the rest go in the next passes)."""

    weekday: int = 0
    at: dt.time = dt.time(8, 0)
    batch: int = 50

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")
        if self.at.tzinfo is not None:
            raise ValueError("the digest time is a local wall-clock time: pass a naive time")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")


def week_label(moment: dt.datetime, tz: tzinfo) -> str:
    """The ISO week of ``moment``'s local date: ``"2026-W49"`` (ISO year, two-digit week)."""
    year, week, _ = _aware(moment, "moment").astimezone(tz).date().isocalendar()
    return f"{year:04d}-W{week:02d}"


def digest_due(now: dt.datetime, schedule: DigestSchedule, tz: tzinfo, quiet: QuietHours) -> bool:
    """Whether this week's digest may go out at ``now``: in the local ISO week of ``now``, its
    (weekday, time) is at or after (``schedule.weekday``, ``schedule.at``), and ``now`` is not
    inside quiet hours.  True for the rest of the week once the moment has passed: whether an
    officer already had theirs is recorded in ``digests_sent``, not decided here."""
    local = _aware(now).astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    if (local.weekday(), wall) < (schedule.weekday, schedule.at):
        return False
    return not quiet.contains(now, tz)


# --------------------------------------------------------------------------- the content


@dataclass(frozen=True)
class DigestUnit:
    """A unit below an indicator's target, or (``thin``) with too few answers to judge.
    ``gap`` is target − rate, as a fraction (0.25 is 25 percentage points; 0 for a thin
    unit); ``answered``/``in_scope`` its coverage; ``pending`` the first names of who has not
    answered the open campaign feeding the indicator (at most :data:`NAMES_PER_UNIT`),
    ``pending_count`` all of them."""

    unit_id: int | None  # None: the part sitting on the scope unit itself (``direct``)
    name: str
    numerator: int
    denominator: int
    rate: float | None
    target: Target
    gap: float
    direct: bool = False
    pending: tuple[str, ...] = ()
    pending_count: int = 0
    thin: bool = False
    answered: int = 0
    in_scope: int = 0

    @property
    def pending_more(self) -> int:
        """How many of those who have not answered are not named."""
        return max(self.pending_count - len(self.pending), 0)


@dataclass(frozen=True)
class DigestIndicator:
    """One indicator with units below target.  ``target`` is the target shared by every unit
    listed (None when they differ: public and non-public units); ``more_units`` the units
    below target beyond those listed; ``campaign`` whether an open campaign feeds it (so that
    the names of who has not answered mean something)."""

    code: str
    name_vi: str
    name_en: str
    units: tuple[DigestUnit, ...]
    target: Target | None = None
    more_units: int = 0
    campaign: bool = False

    def name(self, locale: str) -> str:
        return self.name_vi if locale == "vi" else self.name_en


@dataclass(frozen=True)
class Digest:
    """One officer's weekly digest.  ``measured``: how many (indicator, unit) figures with a
    numeric target could be compared with it; none below target and ``measured > 0`` means
    every unit is on target, ``measured == 0`` that there is nothing to measure yet."""

    officer_id: int
    officer_name: str
    scope_id: int
    scope_name: str
    week: str  # "2026-W49"
    week_number: int
    week_year: int  # the ISO year of the week
    year: int  # the year of the indicators: the local year of the digest's moment
    indicators: tuple[DigestIndicator, ...] = ()
    measured: int = 0
    unmeasured: int = 0  # units with too few answers for a verdict on some indicator

    @property
    def on_target(self) -> bool:
        return not self.indicators

    @property
    def below(self) -> bool:
        """Some unit listed is below target (not only short of answers)."""
        return any(not u.thin for i in self.indicators for u in i.units)


def _gap(target: Target, numerator: int, denominator: int) -> float:
    """target − rate as a fraction, in exact arithmetic (a rate of 2/3 against 75 %)."""
    assert target.value is not None and denominator > 0
    return float((target.value * denominator - _HUNDRED * numerator) / (_HUNDRED * denominator))


def shortfalls(
    row: IndicatorResult, *, scope: Unit
) -> tuple[list[DigestUnit], int, list[DigestUnit]]:
    """The units of ``row`` below a numeric target, worst gap first (then by name); how many
    figures with a numeric target were compared; and the units with too few answers for a
    verdict (by name).  The scope's children; the scope itself when the row lists no child
    (a CĐCS without tổ).  A unit nobody in scope could answer for is in neither."""
    below: list[DigestUnit] = []
    thin: list[DigestUnit] = []
    measured = 0
    parts: list[tuple[int | None, str, bool, Figure]] = (
        [(c.unit_id, c.name, c.direct, c) for c in row.by_child]
        if row.by_child
        else [(scope.id, scope.name, False, row)]
    )
    for unit_id, name, direct, figure in parts:
        target = figure.target
        if target.rate is None:
            continue
        unit = DigestUnit(
            unit_id=None if direct else unit_id,
            name=name,
            numerator=figure.numerator,
            denominator=figure.denominator,
            rate=figure.rate,
            target=target,
            gap=0.0,
            direct=direct,
        )
        if figure.standing in (Standing.LOW_COVERAGE, Standing.NO_DATA):
            if row.coverage_kind.decides and figure.coverage_total > 0:
                thin.append(
                    dataclasses.replace(
                        unit,
                        thin=True,
                        answered=figure.coverage_count,
                        in_scope=figure.coverage_total,
                    )
                )
            continue
        if figure.met is None or figure.rate is None:
            continue
        measured += 1
        if figure.met is False:
            gap = _gap(target, figure.numerator, figure.denominator)
            below.append(dataclasses.replace(unit, gap=gap))
    below.sort(key=lambda u: (-u.gap, u.name, u.unit_id or 0))
    thin.sort(key=lambda u: (u.name, u.unit_id or 0))
    return below, measured, thin


def campaign_key(source: str) -> str | None:
    """The survey key of the campaign feeding an indicator source: ``survey:<key>:<question>``
    → ``<key>``, ``unit_report:<question>`` → ``unit_report``; None for other sources."""
    kind, _, rest = source.partition(":")
    if kind == "survey":
        return rest.split(":", 1)[0] or None
    if kind == "unit_report":
        return "unit_report"
    return None


@dataclass(frozen=True)
class _Pending:
    """Who has not answered the open campaigns of one survey key in a scope, by target path."""

    names: Mapping[str, list[str]] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)

    def of(self, path: str, *, exact: bool) -> tuple[tuple[str, ...], int]:
        """The names and count under ``path``; only the unit ``path`` itself when ``exact``
        (the people sitting on the scope unit).  The names are the first NAMES_PER_UNIT in
        Vietnamese name order of the whole subtree: each unit's list holds its first ones in
        that order, so the first of their union are the subtree's first."""

        def inside(p: str) -> bool:
            return p == path if exact else p.startswith(path)

        names: set[str] = set()
        for p, found in self.names.items():
            if inside(p):
                names.update(found)
        count = sum(n for p, n in self.counts.items() if inside(p))
        return tuple(sort_names(names)[:NAMES_PER_UNIT]), max(count, len(names))


@dataclass(frozen=True)
class _Findings:
    """What a scope's digest says, whoever reads it."""

    indicators: tuple[DigestIndicator, ...]
    measured: int
    unmeasured: int = 0


async def _findings(
    session: AsyncSession, *, scope: Unit, now: dt.datetime, catalog: Catalog, tz: tzinfo
) -> _Findings:
    assert scope.id is not None
    year = now.astimezone(tz).year
    report = await compute_stats(session, scope_unit_id=scope.id, year=year, catalog=catalog)
    found: list[tuple[IndicatorResult, list[DigestUnit], str | None]] = []
    measured = 0
    unmeasured: set[tuple[int | None, bool]] = set()
    for row in report.rows:
        below, compared, thin = shortfalls(row, scope=scope)
        measured += compared
        unmeasured.update((u.unit_id, u.direct) for u in thin)
        if below or thin:
            found.append((row, below + thin, campaign_key(catalog.get(row.code).source)))
    keys = sorted({key for _, _, key in found if key is not None})
    open_runs = await campaign_store.open_campaign_ids_for(session, survey_keys=keys, now=now)
    pending: dict[str, _Pending] = {}
    for survey_key in keys:
        run_ids = open_runs.get(survey_key, [])
        if run_ids:
            pending[survey_key] = _Pending(
                await campaign_store.pending_in_subtree(
                    session, run_ids=run_ids, path=scope.path, limit_per_unit=NAMES_PER_UNIT
                ),
                await store.pending_counts_in_subtree(session, run_ids=run_ids, path=scope.path),
            )
    child_ids = sorted(
        {
            u.unit_id
            for _, units, key in found
            if key is not None and key in pending
            for u in units
            if u.unit_id
        }
    )
    paths = {
        int(u.id): u.path
        for u in await campaign_store.units_by_id(session, unit_ids=child_ids)
        if u.id is not None
    }
    paths[scope.id] = scope.path  # a scope without children is its own (only) unit
    indicators: list[DigestIndicator] = []
    for row, units, key in found:
        who = pending.get(key) if key else None
        if who is not None:
            units = [_with_pending(u, who, paths, scope) for u in units]
        # Below target: every unit.  Too few answers: only where an open campaign has
        # someone there to ask (the names are what an officer can act on).
        chosen = [u for u in units if not u.thin or u.pending_count]
        if not chosen:
            continue
        listed = chosen[:UNITS_PER_INDICATOR]
        targets = {u.target for u in listed}
        indicators.append(
            DigestIndicator(
                code=row.code,
                name_vi=row.name_vi,
                name_en=row.name_en,
                units=tuple(listed),
                target=next(iter(targets)) if len(targets) == 1 else None,
                more_units=len(chosen) - len(listed),
                campaign=who is not None,
            )
        )
    return _Findings(tuple(indicators), measured, len(unmeasured))


def _with_pending(
    unit: DigestUnit, who: _Pending, paths: Mapping[int, str], scope: Unit
) -> DigestUnit:
    if unit.direct:
        names, count = who.of(scope.path, exact=True)
    else:
        path = paths.get(unit.unit_id) if unit.unit_id is not None else None
        if path is None:
            return unit
        names, count = who.of(path, exact=False)
    return dataclasses.replace(unit, pending=names, pending_count=count)


def _digest(officer: Person, scope: Unit, now: dt.datetime, tz: tzinfo, f: _Findings) -> Digest:
    assert officer.id is not None and scope.id is not None
    local = now.astimezone(tz)
    iso_year, iso_week, _ = local.date().isocalendar()
    return Digest(
        officer_id=officer.id,
        officer_name=officer.full_name,
        scope_id=scope.id,
        scope_name=scope.name,
        week=week_label(now, tz),
        week_number=iso_week,
        week_year=iso_year,
        year=local.year,
        indicators=f.indicators,
        measured=f.measured,
        unmeasured=f.unmeasured,
    )


async def build_digest(
    session: AsyncSession,
    *,
    officer: Person,
    scope: Unit,
    now: dt.datetime,
    catalog: Catalog,
    tz: tzinfo,
) -> Digest:
    """The digest of ``officer`` for the unit subtree ``scope`` as of ``now``: the catalog's
    indicators for the local year of ``now``, and the open campaigns at ``now``."""
    _aware(now)
    found = await _findings(session, scope=scope, now=now, catalog=catalog, tz=tz)
    return _digest(officer, scope, now, tz, found)


def render_digest(digest: Digest, locale: str) -> str:
    return render(TEMPLATE, locale, digest=digest)


# --------------------------------------------------------------------------- the pass


async def digest_pass(
    session: AsyncSession,
    *,
    now: dt.datetime,
    catalog: Catalog,
    tz: tzinfo,
    schedule: DigestSchedule | None = None,
    quiet: QuietHours | None = None,
    default_locale: str,
) -> int:
    """Write this week's digest of up to ``schedule.batch`` officers who have not had it yet
    (see the module doc); never commits.  Returns how many digests were written to the outbox
    (a stopped or blocked chat's is written ``unreachable``, as for every outbox row)."""
    schedule = schedule or DigestSchedule()
    quiet = quiet or QuietHours()
    if not digest_due(now, schedule, tz, quiet):
        return 0
    week = week_label(now, tz)
    due = await store.officers_due(session, week=week, limit=schedule.batch)
    by_scope: dict[int, _Findings] = {}  # officers of one unit (and all admins) share a scope
    written = 0
    for officer_chat in due:
        # Claim first: a concurrent pass (or a retry) that finds the row writes nothing.
        if not await store.mark_sent(session, person_id=officer_chat.person_id, week=week, at=now):
            continue
        officer = await people.get_person(session, person_id=officer_chat.person_id)
        scope = await scope_of(session, person=officer) if officer is not None else None
        if officer is None or scope is None or scope.id is None:
            continue  # nothing to report on; recorded all the same, so the batch moves on
        if scope.id not in by_scope:
            by_scope[scope.id] = await _findings(
                session, scope=scope, now=now, catalog=catalog, tz=tz
            )
        digest = _digest(officer, scope, now, tz, by_scope[scope.id])
        locale = officer_chat.locale if officer_chat.locale in LOCALES else default_locale
        text = render_digest(digest, locale)
        written += await outbox.enqueue(
            session,
            rows=[
                {
                    "kind": DeliveryKind.DIGEST,
                    "person_id": officer_chat.person_id,
                    "chat_id": officer_chat.chat_id,
                    "external_id": officer_chat.external_id,
                    "channel": officer_chat.channel,
                    "text": text,
                    "available_at": now,
                    "created_at": now,
                }
            ],
        )
    return written


__all__ = [
    "NAMES_PER_UNIT",
    "TEMPLATE",
    "UNITS_PER_INDICATOR",
    "Digest",
    "DigestIndicator",
    "DigestSchedule",
    "DigestUnit",
    "build_digest",
    "campaign_key",
    "digest_due",
    "digest_pass",
    "render_digest",
    "shortfalls",
    "week_label",
]
