"""Reminder planning rules for campaigns — pure functions, no I/O, no database, no scheduler.

Everything here takes timezone-aware datetimes (a naive one raises ``ValueError``) and a zone
(the settings' ``Settings.tz``, always passed by the caller) for the rules that speak in local
wall-clock time: quiet hours, the last-day morning, calendar periods.  Returned moments are in
UTC unless stated otherwise.

The model the scheduler builds on (everything derivable from the database):

- :func:`reminder_times` gives the planned reminder moments of a campaign; they depend only on
  the campaign's opening and closing time and its :class:`ReminderPolicy`, so they never need to
  be stored.
- :func:`due_reminder` decides, for one person who has not completed, from what was stored
  about them (how many reminders were sent, when the last one went out) whether a reminder is
  due *now*.  It returns the planned moment being honoured: the latest one that is ``<= now``
  and strictly after ``last_sent_at``.  The caller sends, then records ``last_sent_at = now``
  and ``sent_count + 1``; after that every planned moment up to ``now`` is ``<= last_sent_at``,
  so several triggers missed during downtime collapse into one reminder and a second pass sends
  no duplicate.
- :func:`manual_reminder_allowed` rules an officer's by-hand reminder: at most once per *local
  calendar day* per person (not a sliding 24 h: "already reminded today" is what an officer
  sees).  Whether a manual reminder also counts in ``sent_count``/``last_sent_at`` for the
  automatic ones is the caller's choice; if it does, a planned moment before it is considered
  served.
- :func:`period_of` and :func:`next_run` / :func:`nth_run` handle recurring campaigns.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Generic, TypeVar

__all__ = [
    "DEFAULT_LAST_DAY_MORNING",
    "DEFAULT_OFFSETS",
    "QuietHours",
    "Recurrence",
    "ReminderPolicy",
    "due_reminder",
    "manual_reminder_allowed",
    "next_run",
    "nth_run",
    "period_of",
    "reminder_times",
]

DEFAULT_OFFSETS: tuple[timedelta, ...] = (timedelta(days=3), timedelta(days=1))
DEFAULT_LAST_DAY_MORNING: time | None = time(8, 0)


def _aware(moment: datetime, name: str = "moment") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment


def _at_local(day: date, wall: time, tz: tzinfo) -> datetime:
    """The instant at wall-clock ``wall`` on ``day`` in ``tz``, in UTC."""
    return datetime.combine(day, wall.replace(tzinfo=None), tzinfo=tz).astimezone(UTC)


_Outcome = TypeVar("_Outcome", bound=StrEnum)


@dataclass(frozen=True)
class RemindedByHand(Generic[_Outcome]):
    """What an officer's "🔔 Nhắc …" press did (a campaign's or a notice's), with its outcome."""

    outcome: _Outcome
    count: int = 0  # reminders queued to send
    unreachable: int = 0  # people not reminded because they have no usable chat
    at: datetime | None = None  # local time they go out, when held back by quiet hours


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local time during which nobody gets a reminder.

    ``start`` is inside the window, ``end`` is not (21:00–07:00: 21:00 and 06:59 are quiet,
    07:00 and 20:59 are not).  ``start > end`` means the window crosses midnight; ``start ==
    end`` means no quiet hours at all.
    """

    start: time = time(21, 0)
    end: time = time(7, 0)

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet hours are local wall-clock times: pass naive times")

    def contains(self, moment: datetime, tz: tzinfo) -> bool:
        """Whether ``moment`` falls inside quiet hours in zone ``tz``."""
        wall = _aware(moment).astimezone(tz).time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def release(self, moment: datetime, tz: tzinfo) -> datetime:
        """``moment`` itself when outside quiet hours, else the end of those quiet hours.

        The result of a move is expressed in ``moment``'s own zone (compare instants, not wall
        times): 22:30 → 07:00 the next day, 06:59 → 07:00 the same day.
        """
        if not self.contains(moment, tz):
            return moment
        local = moment.astimezone(tz)
        day = local.date()
        if self.start > self.end and local.time().replace(tzinfo=None) >= self.start:
            day += timedelta(days=1)  # evening part of a window crossing midnight
        assert moment.tzinfo is not None
        return _at_local(day, self.end, tz).astimezone(moment.tzinfo)


@dataclass(frozen=True)
class ReminderPolicy:
    """How a campaign chases those who have not completed.

    ``offsets``: reminders this long before closing; ``last_day_morning``: a reminder at this
    local time on the closing day (``None``: none); ``max_per_person``: the most automatic
    reminders one person gets in one campaign (run); ``quiet``: the quiet hours.
    """

    offsets: tuple[timedelta, ...] = DEFAULT_OFFSETS
    last_day_morning: time | None = DEFAULT_LAST_DAY_MORNING
    max_per_person: int = 3
    quiet: QuietHours = field(default_factory=QuietHours)

    def __post_init__(self) -> None:
        if any(offset <= timedelta(0) for offset in self.offsets):
            raise ValueError("reminder offsets must be positive (a time before closing)")
        if self.max_per_person < 0:
            raise ValueError("max_per_person must not be negative")
        if self.last_day_morning is not None and self.last_day_morning.tzinfo is not None:
            raise ValueError("last_day_morning is a local wall-clock time: pass a naive time")


def reminder_times(
    opens_at: datetime,
    closes_at: datetime,
    policy: ReminderPolicy,
    tz: tzinfo,
) -> list[datetime]:
    """The planned reminder moments of a campaign, in UTC, sorted, without duplicates.

    Each candidate (``closes_at - offset`` for every offset, and the last-day morning) is first
    released from quiet hours, then kept only if strictly after ``opens_at`` and strictly before
    ``closes_at``; candidates that land on the same instant count once.
    """
    _aware(opens_at, "opens_at")
    _aware(closes_at, "closes_at")
    candidates = [closes_at - offset for offset in policy.offsets]
    if policy.last_day_morning is not None:
        closing_day = closes_at.astimezone(tz).date()
        candidates.append(_at_local(closing_day, policy.last_day_morning, tz))
    planned = {policy.quiet.release(moment, tz).astimezone(UTC) for moment in candidates}
    return sorted(moment for moment in planned if opens_at < moment < closes_at)


def due_reminder(
    planned: Sequence[datetime],
    sent_count: int,
    last_sent_at: datetime | None,
    now: datetime,
    closes_at: datetime,
    policy: ReminderPolicy,
    tz: tzinfo,
) -> datetime | None:
    """The planned moment a reminder is due for now, or ``None`` when none should go out.

    For a person who has not completed: the latest planned moment ``<= now`` that is strictly
    after ``last_sent_at`` (any, when nothing was sent yet).  ``None`` when the campaign has
    closed (``now >= closes_at``), when ``sent_count >= policy.max_per_person``, when ``now`` is
    inside quiet hours (the same moment becomes due again at their end), or when nothing new is
    due.  The result is in UTC.
    """
    _aware(now, "now")
    _aware(closes_at, "closes_at")
    if last_sent_at is not None:
        _aware(last_sent_at, "last_sent_at")
    if now >= closes_at or sent_count >= policy.max_per_person:
        return None
    if policy.quiet.contains(now, tz):
        return None
    latest: datetime | None = None
    for moment in planned:
        if _aware(moment, "planned moment") <= now and (latest is None or moment > latest):
            latest = moment
    if latest is None or (last_sent_at is not None and latest <= last_sent_at):
        return None
    return latest.astimezone(UTC)


def manual_reminder_allowed(
    last_sent_at: datetime | None,
    now: datetime,
    tz: tzinfo,
) -> bool:
    """Whether an officer may remind a person by hand now.

    At most once per local calendar day: allowed when ``last_sent_at`` (the person's last
    by-hand reminder in this campaign) is ``None`` or fell on an earlier local day than ``now``.
    A by-hand reminder asked for during quiet hours should be sent at
    ``policy.quiet.release(now, tz)``; this function does not decide that.
    """
    _aware(now, "now")
    if last_sent_at is None:
        return True
    _aware(last_sent_at, "last_sent_at")
    return last_sent_at.astimezone(tz).date() < now.astimezone(tz).date()


class Recurrence(StrEnum):
    NONE = "none"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def months(self) -> int:
        """The length of one period in months (0 for a one-off campaign)."""
        return _MONTHS[self]


_MONTHS: dict[Recurrence, int] = {
    Recurrence.NONE: 0,
    Recurrence.MONTHLY: 1,
    Recurrence.QUARTERLY: 3,
    Recurrence.YEARLY: 12,
}


def period_of(moment: datetime, recurrence: Recurrence, tz: tzinfo) -> str:
    """The label of the period ``moment`` falls in, by its local date.

    yearly ``"2026"``, quarterly ``"2026-Q4"``, monthly ``"2026-11"``; a one-off campaign
    (``Recurrence.NONE``) is labelled by the local day itself, ``"2026-11-24"``.
    """
    day = _aware(moment).astimezone(tz).date()
    match Recurrence(recurrence):
        case Recurrence.YEARLY:
            return f"{day.year:04d}"
        case Recurrence.QUARTERLY:
            return f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}"
        case Recurrence.MONTHLY:
            return f"{day.year:04d}-{day.month:02d}"
        case Recurrence.NONE:
            return day.isoformat()
    raise AssertionError(recurrence)  # pragma: no cover


def _add_months(moment: datetime, months: int, tz: tzinfo) -> datetime:
    """Same local wall-clock time ``months`` later; a day the month lacks becomes its last."""
    local = moment.astimezone(tz)
    index = local.year * 12 + (local.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return _at_local(date(year, month, day), local.time().replace(tzinfo=None), tz)


def nth_run(
    opens_at: datetime,
    closes_at: datetime,
    recurrence: Recurrence,
    n: int,
    tz: tzinfo,
) -> tuple[datetime, datetime]:
    """The ``n``-th run after the given (first) run, both moments in UTC (``n = 0``: itself).

    Each moment keeps its local wall-clock time and moves ``n`` periods in the calendar, a day
    the target month lacks becoming that month's last day (31/01 monthly → 28/02 or 29/02).
    Counting from the *first* run avoids the drift of chaining :func:`next_run` (31/01 → 28/02
    → 28/03 instead of 31/03).  Should clamping ever put closing at or before opening, the run
    keeps its original length from the new opening.  ``Recurrence.NONE`` raises ``ValueError``.
    """
    _aware(opens_at, "opens_at")
    _aware(closes_at, "closes_at")
    recurrence = Recurrence(recurrence)
    if recurrence is Recurrence.NONE:
        raise ValueError("a one-off campaign has no next run")
    if n < 0:
        raise ValueError("n must not be negative")
    if closes_at <= opens_at:
        raise ValueError("closes_at must be after opens_at")
    months = recurrence.months * n
    new_opens = _add_months(opens_at, months, tz)
    new_closes = _add_months(closes_at, months, tz)
    if new_closes <= new_opens:
        new_closes = new_opens + (closes_at - opens_at)
    return new_opens, new_closes


def next_run(
    opens_at: datetime,
    closes_at: datetime,
    recurrence: Recurrence,
    tz: tzinfo,
) -> tuple[datetime, datetime]:
    """The run of the next period (see :func:`nth_run`, of which this is ``n = 1``)."""
    return nth_run(opens_at, closes_at, recurrence, 1, tz)
