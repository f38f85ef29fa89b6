"""Reminder planning rules of campaigns (bot.campaigns.schedule): pure, clock passed in.

Local times are Asia/Ho_Chi_Minh (UTC+7, no daylight saving); every expected value below was
worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.campaigns.schedule import (
    QuietHours,
    Recurrence,
    ReminderPolicy,
    due_reminder,
    manual_reminder_allowed,
    next_run,
    nth_run,
    period_of,
    reminder_times,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def L(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A local (Asia/Ho_Chi_Minh) moment."""
    return datetime(y, mo, d, h, mi, s, tzinfo=VN)


def U(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


OPENS = L(2026, 11, 20, 8, 0)
CLOSES = L(2026, 11, 28, 17, 0)  # = 28/11/2026 10:00 UTC
DEFAULT = ReminderPolicy()


# --- quiet hours -------------------------------------------------------------------------------


def test_quiet_hours_contains_boundaries() -> None:
    q = QuietHours()
    assert q.contains(L(2026, 11, 24, 21, 0), VN)
    assert q.contains(L(2026, 11, 24, 23, 59), VN)
    assert q.contains(L(2026, 11, 24, 0, 0), VN)
    assert q.contains(L(2026, 11, 24, 6, 59), VN)
    assert not q.contains(L(2026, 11, 24, 7, 0), VN)
    assert not q.contains(L(2026, 11, 24, 20, 59), VN)
    assert not q.contains(L(2026, 11, 24, 12, 0), VN)
    # 14:30 UTC is 21:30 local: quiet; 23:30 UTC is 06:30 local the next day: quiet
    assert q.contains(U(2026, 11, 24, 14, 30), VN)
    assert q.contains(U(2026, 11, 24, 23, 30), VN)
    # 00:30 UTC is 07:30 local: not quiet (although 00:30 would be quiet in UTC)
    assert not q.contains(U(2026, 11, 25, 0, 30), VN)


def test_quiet_hours_release() -> None:
    q = QuietHours()
    assert q.release(L(2026, 11, 24, 22, 30), VN) == L(2026, 11, 25, 7, 0)
    assert q.release(L(2026, 11, 24, 21, 0), VN) == L(2026, 11, 25, 7, 0)
    assert q.release(L(2026, 11, 24, 23, 59, 59), VN) == L(2026, 11, 25, 7, 0)
    assert q.release(L(2026, 11, 25, 0, 0), VN) == L(2026, 11, 25, 7, 0)
    assert q.release(L(2026, 11, 25, 6, 59), VN) == L(2026, 11, 25, 7, 0)
    # year end
    assert q.release(L(2026, 12, 31, 22, 0), VN) == L(2027, 1, 1, 7, 0)
    # outside quiet hours: the very same moment
    for moment in (L(2026, 11, 25, 7, 0), L(2026, 11, 25, 20, 59), L(2026, 11, 25, 12, 0)):
        assert q.release(moment, VN) is moment


def test_quiet_hours_release_keeps_the_callers_zone() -> None:
    # 15:30 UTC = 22:30 local → 07:00 local next day = 00:00 UTC on 25/11
    released = QuietHours().release(U(2026, 11, 24, 15, 30), VN)
    assert released == U(2026, 11, 25, 0, 0)
    assert released.utcoffset() == timedelta(0)


def test_quiet_hours_not_crossing_midnight_and_empty() -> None:
    lunch = QuietHours(time(12, 0), time(13, 30))
    assert lunch.release(L(2026, 11, 24, 12, 15), VN) == L(2026, 11, 24, 13, 30)
    assert lunch.release(L(2026, 11, 24, 12, 0), VN) == L(2026, 11, 24, 13, 30)
    assert not lunch.contains(L(2026, 11, 24, 13, 30), VN)
    assert not lunch.contains(L(2026, 11, 24, 11, 59), VN)
    assert not lunch.contains(L(2026, 11, 24, 22, 0), VN)
    none = QuietHours(time(7, 0), time(7, 0))
    assert not none.contains(L(2026, 11, 24, 7, 0), VN)
    assert not none.contains(L(2026, 11, 24, 23, 0), VN)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        QuietHours().contains(datetime(2026, 11, 24, 22, 0), VN)
    with pytest.raises(ValueError):
        reminder_times(datetime(2026, 11, 20), CLOSES, DEFAULT, VN)


# --- planned reminder times ---------------------------------------------------------------------


def test_default_offsets_and_last_day_morning() -> None:
    planned = reminder_times(OPENS, CLOSES, DEFAULT, VN)
    # 3 days before: 25/11 17:00; 1 day before: 27/11 17:00; last-day morning: 28/11 08:00
    assert planned == [L(2026, 11, 25, 17, 0), L(2026, 11, 27, 17, 0), L(2026, 11, 28, 8, 0)]
    assert planned == [U(2026, 11, 25, 10, 0), U(2026, 11, 27, 10, 0), U(2026, 11, 28, 1, 0)]
    assert all(moment.utcoffset() == timedelta(0) for moment in planned)


def test_only_times_strictly_inside_the_campaign() -> None:
    # opening on 26/11 09:00 drops the 25/11 reminder
    assert reminder_times(L(2026, 11, 26, 9, 0), CLOSES, DEFAULT, VN) == [
        L(2026, 11, 27, 17, 0),
        L(2026, 11, 28, 8, 0),
    ]
    # opening exactly at a planned moment drops it (strictly after opening)
    assert reminder_times(L(2026, 11, 27, 17, 0), CLOSES, DEFAULT, VN) == [L(2026, 11, 28, 8, 0)]
    # no last-day morning
    no_morning = ReminderPolicy(last_day_morning=None)
    assert reminder_times(OPENS, CLOSES, no_morning, VN) == [
        L(2026, 11, 25, 17, 0),
        L(2026, 11, 27, 17, 0),
    ]


def test_early_closing_releases_offsets_and_drops_the_morning() -> None:
    # closing 28/11 06:30: 25/11 06:30 and 27/11 06:30 are quiet → 07:00 the same day;
    # the 08:00 morning reminder of 28/11 would come after closing → dropped
    closes = L(2026, 11, 28, 6, 30)
    assert reminder_times(OPENS, closes, DEFAULT, VN) == [
        L(2026, 11, 25, 7, 0),
        L(2026, 11, 27, 7, 0),
    ]


def test_late_closing_moves_offsets_to_the_next_morning() -> None:
    # closing 28/11 23:00: 25/11 23:00 → 26/11 07:00; 27/11 23:00 → 28/11 07:00; morning 08:00
    closes = L(2026, 11, 28, 23, 0)
    assert reminder_times(OPENS, closes, DEFAULT, VN) == [
        L(2026, 11, 26, 7, 0),
        L(2026, 11, 28, 7, 0),
        L(2026, 11, 28, 8, 0),
    ]


def test_release_past_closing_is_dropped() -> None:
    # closing 28/11 06:30 with a 2-hour offset: 04:30 → 07:00, after closing → dropped
    policy = ReminderPolicy(offsets=(timedelta(hours=2),), last_day_morning=None)
    assert reminder_times(OPENS, L(2026, 11, 28, 6, 30), policy, VN) == []


def test_reminders_landing_on_the_same_moment_count_once() -> None:
    # closing 28/11 08:00: 10 h before = 27/11 22:00 → 28/11 07:00; 9 h before = 27/11 23:00
    # → 28/11 07:00; the morning at 07:00 is 28/11 07:00 too: one reminder
    policy = ReminderPolicy(
        offsets=(timedelta(hours=10), timedelta(hours=9)), last_day_morning=time(7, 0)
    )
    assert reminder_times(OPENS, L(2026, 11, 28, 8, 0), policy, VN) == [L(2026, 11, 28, 7, 0)]


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        ReminderPolicy(offsets=(timedelta(0),))
    with pytest.raises(ValueError):
        ReminderPolicy(offsets=(timedelta(hours=-1),))
    with pytest.raises(ValueError):
        ReminderPolicy(max_per_person=-1)


# --- due reminders ------------------------------------------------------------------------------

PLANNED = [L(2026, 11, 25, 17, 0), L(2026, 11, 27, 17, 0), L(2026, 11, 28, 8, 0)]


def test_nothing_due_before_the_first_planned_moment() -> None:
    assert due_reminder(PLANNED, 0, None, L(2026, 11, 25, 16, 59), CLOSES, DEFAULT, VN) is None
    assert due_reminder(PLANNED, 0, None, L(2026, 11, 25, 17, 0), CLOSES, DEFAULT, VN) == L(
        2026, 11, 25, 17, 0
    )


def test_sent_reminder_is_not_sent_again() -> None:
    sent_at = L(2026, 11, 25, 17, 0, 5)
    assert due_reminder(PLANNED, 1, sent_at, L(2026, 11, 25, 17, 1), CLOSES, DEFAULT, VN) is None
    assert due_reminder(PLANNED, 1, sent_at, L(2026, 11, 27, 16, 59), CLOSES, DEFAULT, VN) is None
    assert due_reminder(PLANNED, 1, sent_at, L(2026, 11, 27, 17, 0), CLOSES, DEFAULT, VN) == L(
        2026, 11, 27, 17, 0
    )


def test_two_days_of_downtime_send_one_reminder_then_the_next_planned_one() -> None:
    policy = ReminderPolicy(
        offsets=(timedelta(days=3), timedelta(days=2), timedelta(days=1)), max_per_person=4
    )
    planned = reminder_times(OPENS, CLOSES, policy, VN)
    assert planned == [
        L(2026, 11, 25, 17, 0),
        L(2026, 11, 26, 17, 0),
        L(2026, 11, 27, 17, 0),
        L(2026, 11, 28, 8, 0),
    ]
    # the bot was down from 25/11 16:00 to 27/11 18:00: three triggers missed → ONE reminder,
    # for the latest of them
    restart = L(2026, 11, 27, 18, 0)
    assert due_reminder(planned, 0, None, restart, CLOSES, policy, VN) == L(2026, 11, 27, 17, 0)
    sent_at = L(2026, 11, 27, 18, 0, 3)
    # the next passes send nothing more until the next planned moment
    assert due_reminder(planned, 1, sent_at, L(2026, 11, 27, 18, 1), CLOSES, policy, VN) is None
    assert due_reminder(planned, 1, sent_at, L(2026, 11, 28, 7, 59), CLOSES, policy, VN) is None
    assert due_reminder(planned, 1, sent_at, L(2026, 11, 28, 8, 0), CLOSES, policy, VN) == L(
        2026, 11, 28, 8, 0
    )


def test_restart_during_quiet_hours_waits_for_their_end() -> None:
    # down from 24/11 until 27/11 23:00 (quiet): nothing then; at 07:00 the 27/11 17:00 one
    restart = L(2026, 11, 27, 23, 0)
    assert due_reminder(PLANNED, 0, None, restart, CLOSES, DEFAULT, VN) is None
    assert due_reminder(PLANNED, 0, None, L(2026, 11, 28, 6, 59), CLOSES, DEFAULT, VN) is None
    assert due_reminder(PLANNED, 0, None, L(2026, 11, 28, 7, 0), CLOSES, DEFAULT, VN) == L(
        2026, 11, 27, 17, 0
    )


def test_closed_campaign_gets_no_reminder() -> None:
    last = L(2026, 11, 27, 17, 0, 5)
    assert due_reminder(PLANNED, 1, last, L(2026, 11, 28, 16, 59), CLOSES, DEFAULT, VN) == L(
        2026, 11, 28, 8, 0
    )
    assert due_reminder(PLANNED, 1, last, L(2026, 11, 28, 17, 0), CLOSES, DEFAULT, VN) is None
    # back after a long downtime, the campaign having closed meanwhile: nothing
    assert due_reminder(PLANNED, 0, None, L(2026, 12, 1, 9, 0), CLOSES, DEFAULT, VN) is None


def test_max_per_person() -> None:
    now = L(2026, 11, 28, 9, 0)
    last = L(2026, 11, 27, 17, 0, 5)
    assert due_reminder(PLANNED, 2, last, now, CLOSES, DEFAULT, VN) == L(2026, 11, 28, 8, 0)
    assert due_reminder(PLANNED, 3, last, now, CLOSES, DEFAULT, VN) is None
    one = ReminderPolicy(max_per_person=1)
    assert due_reminder(PLANNED, 1, last, now, CLOSES, one, VN) is None
    zero = ReminderPolicy(max_per_person=0)
    assert due_reminder(PLANNED, 0, None, now, CLOSES, zero, VN) is None


def test_due_reminder_is_in_utc() -> None:
    due = due_reminder(PLANNED, 0, None, L(2026, 11, 25, 18, 0), CLOSES, DEFAULT, VN)
    assert due == U(2026, 11, 25, 10, 0)
    assert due is not None and due.utcoffset() == timedelta(0)


# --- manual reminders ---------------------------------------------------------------------------


def test_manual_reminder_once_per_local_day() -> None:
    assert manual_reminder_allowed(None, L(2026, 11, 24, 10, 0), VN)
    last = L(2026, 11, 24, 8, 0)
    assert not manual_reminder_allowed(last, L(2026, 11, 24, 23, 59), VN)
    assert manual_reminder_allowed(last, L(2026, 11, 25, 0, 0), VN)
    # 24/11 23:30 local and 25/11 00:10 local are the same UTC day (16:30, 17:10) but not the
    # same local day: allowed
    assert manual_reminder_allowed(L(2026, 11, 24, 23, 30), L(2026, 11, 25, 0, 10), VN)
    # 25/11 06:50 local (24/11 23:50 UTC) and 25/11 07:10 local (25/11 00:10 UTC): same local
    # day, refused
    assert not manual_reminder_allowed(U(2026, 11, 24, 23, 50), U(2026, 11, 25, 0, 10), VN)


# --- recurrence -------------------------------------------------------------------------------


def test_period_labels() -> None:
    moment = U(2026, 11, 24, 10, 0)
    assert period_of(moment, Recurrence.YEARLY, VN) == "2026"
    assert period_of(moment, Recurrence.QUARTERLY, VN) == "2026-Q4"
    assert period_of(moment, Recurrence.MONTHLY, VN) == "2026-11"
    assert period_of(moment, Recurrence.NONE, VN) == "2026-11-24"


def test_period_follows_the_local_date() -> None:
    # 31/12/2026 20:00 UTC is 01/01/2027 03:00 local
    new_year = U(2026, 12, 31, 20, 0)
    assert period_of(new_year, Recurrence.YEARLY, VN) == "2027"
    assert period_of(new_year, Recurrence.QUARTERLY, VN) == "2027-Q1"
    assert period_of(new_year, Recurrence.MONTHLY, VN) == "2027-01"
    assert period_of(new_year, Recurrence.NONE, VN) == "2027-01-01"
    # 30/06 16:59 UTC = 23:59 local (Q2); 17:00 UTC = 01/07 00:00 local (Q3)
    assert period_of(U(2026, 6, 30, 16, 59), Recurrence.QUARTERLY, VN) == "2026-Q2"
    assert period_of(U(2026, 6, 30, 17, 0), Recurrence.QUARTERLY, VN) == "2026-Q3"
    assert period_of(L(2026, 3, 31, 23, 0), Recurrence.QUARTERLY, VN) == "2026-Q1"
    assert period_of(L(2026, 4, 1, 0, 0), Recurrence.QUARTERLY, VN) == "2026-Q2"
    assert period_of(L(2026, 9, 30, 12, 0), Recurrence.QUARTERLY, VN) == "2026-Q3"


def test_recurrence_values() -> None:
    assert [r.value for r in Recurrence] == ["none", "monthly", "quarterly", "yearly"]
    assert Recurrence("quarterly") is Recurrence.QUARTERLY


def test_next_run_monthly_at_month_ends() -> None:
    # 31/01 in a leap year → 29/02; in a common year → 28/02
    assert next_run(L(2028, 1, 31, 8, 0), L(2028, 1, 31, 17, 0), Recurrence.MONTHLY, VN) == (
        L(2028, 2, 29, 8, 0),
        L(2028, 2, 29, 17, 0),
    )
    assert next_run(L(2027, 1, 31, 8, 0), L(2027, 1, 31, 17, 0), Recurrence.MONTHLY, VN) == (
        L(2027, 2, 28, 8, 0),
        L(2027, 2, 28, 17, 0),
    )
    # 31/03 → 30/04; December → January of the next year
    assert next_run(L(2027, 3, 31, 8, 0), L(2027, 4, 5, 17, 0), Recurrence.MONTHLY, VN) == (
        L(2027, 4, 30, 8, 0),
        L(2027, 5, 5, 17, 0),
    )
    assert next_run(L(2026, 12, 15, 8, 0), L(2026, 12, 31, 17, 0), Recurrence.MONTHLY, VN) == (
        L(2027, 1, 15, 8, 0),
        L(2027, 1, 31, 17, 0),
    )


def test_next_run_quarterly_and_yearly() -> None:
    assert next_run(L(2026, 11, 30, 8, 0), L(2026, 12, 31, 17, 0), Recurrence.QUARTERLY, VN) == (
        L(2027, 2, 28, 8, 0),
        L(2027, 3, 31, 17, 0),
    )
    assert next_run(L(2027, 11, 30, 8, 0), L(2027, 12, 31, 17, 0), Recurrence.QUARTERLY, VN) == (
        L(2028, 2, 29, 8, 0),
        L(2028, 3, 31, 17, 0),
    )
    # 29/02/2028 → 28/02/2029; 28/02/2027 → 28/02/2028 (not 29)
    assert next_run(L(2028, 2, 29, 8, 0), L(2028, 3, 15, 17, 0), Recurrence.YEARLY, VN) == (
        L(2029, 2, 28, 8, 0),
        L(2029, 3, 15, 17, 0),
    )
    assert next_run(L(2027, 2, 28, 8, 0), L(2027, 3, 1, 17, 0), Recurrence.YEARLY, VN) == (
        L(2028, 2, 28, 8, 0),
        L(2028, 3, 1, 17, 0),
    )


def test_next_run_is_computed_in_local_time_and_returned_in_utc() -> None:
    # 30/04/2027 20:00 UTC is 01/05 03:00 local → 01/06 03:00 local = 31/05 20:00 UTC
    opens, closes = next_run(U(2027, 4, 30, 20, 0), U(2027, 5, 10, 10, 0), Recurrence.MONTHLY, VN)
    assert opens == U(2027, 5, 31, 20, 0)
    assert closes == U(2027, 6, 10, 10, 0)
    assert opens.utcoffset() == timedelta(0) and closes.utcoffset() == timedelta(0)


def test_nth_run_counts_from_the_first_run_without_drift() -> None:
    first = (L(2027, 1, 31, 8, 0), L(2027, 1, 31, 17, 0))
    assert nth_run(*first, Recurrence.MONTHLY, 0, VN) == first
    assert nth_run(*first, Recurrence.MONTHLY, 2, VN) == (
        L(2027, 3, 31, 8, 0),
        L(2027, 3, 31, 17, 0),
    )
    assert nth_run(*first, Recurrence.MONTHLY, 3, VN) == (
        L(2027, 4, 30, 8, 0),
        L(2027, 4, 30, 17, 0),
    )
    # chaining next_run drifts: 31/01 → 28/02 → 28/03
    second = next_run(*first, Recurrence.MONTHLY, VN)
    assert next_run(*second, Recurrence.MONTHLY, VN) == (
        L(2027, 3, 28, 8, 0),
        L(2027, 3, 28, 17, 0),
    )


def test_next_run_keeps_closing_after_opening_when_clamped() -> None:
    # 30/01 18:00 – 31/01 08:00 (14 h): both days clamp to 28/02, which would close before
    # opening; the run keeps its 14 h from 28/02 18:00 → 01/03 08:00
    assert next_run(L(2027, 1, 30, 18, 0), L(2027, 1, 31, 8, 0), Recurrence.MONTHLY, VN) == (
        L(2027, 2, 28, 18, 0),
        L(2027, 3, 1, 8, 0),
    )


def test_next_run_refusals() -> None:
    with pytest.raises(ValueError):
        next_run(OPENS, CLOSES, Recurrence.NONE, VN)
    with pytest.raises(ValueError):
        next_run(CLOSES, OPENS, Recurrence.MONTHLY, VN)
    with pytest.raises(ValueError):
        nth_run(OPENS, CLOSES, Recurrence.MONTHLY, -1, VN)


# --- properties -------------------------------------------------------------------------------

BASE = L(2026, 1, 1, 0, 0)
wall_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))
quiet_hours = st.builds(QuietHours, wall_times, wall_times)
policies = st.builds(
    ReminderPolicy,
    offsets=st.lists(
        st.integers(1, 14 * 24 * 60).map(lambda m: timedelta(minutes=m)), max_size=5
    ).map(tuple),
    last_day_morning=st.none() | wall_times,
    max_per_person=st.integers(0, 5),
    quiet=quiet_hours,
)
campaigns = st.tuples(st.integers(0, 4 * 365 * 24 * 60), st.integers(1, 30 * 24 * 60)).map(
    lambda t: (BASE + timedelta(minutes=t[0]), BASE + timedelta(minutes=t[0] + t[1]))
)


@given(campaign=campaigns, policy=policies)
def test_planned_times_are_never_quiet_and_inside_the_campaign(
    campaign: tuple[datetime, datetime], policy: ReminderPolicy
) -> None:
    opens, closes = campaign
    planned = reminder_times(opens, closes, policy, VN)
    assert len(planned) <= len(policy.offsets) + (policy.last_day_morning is not None)
    for moment in planned:
        assert not policy.quiet.contains(moment, VN)
        assert opens < moment < closes
    assert all(a < b for a, b in pairwise(planned))


@given(
    campaign=campaigns,
    policy=policies,
    now_at=st.floats(-0.2, 1.2),
    last_at=st.none() | st.floats(-0.2, 1.2),
    sent=st.integers(0, 6),
)
def test_due_reminder_is_never_quiet_nor_after_closing(
    campaign: tuple[datetime, datetime],
    policy: ReminderPolicy,
    now_at: float,
    last_at: float | None,
    sent: int,
) -> None:
    opens, closes = campaign
    span = closes - opens
    now = opens + span * now_at
    last = None if last_at is None else opens + span * last_at
    planned = reminder_times(opens, closes, policy, VN)
    due = due_reminder(planned, sent, last, now, closes, policy, VN)
    if due is not None:
        assert due in planned
        assert not policy.quiet.contains(due, VN)
        assert not policy.quiet.contains(now, VN)
        assert due <= now < closes
        assert last is None or due > last
        assert sent < policy.max_per_person


ticks = st.one_of(
    st.integers(1, 90),  # a pass every few minutes
    st.integers(12 * 60, 4 * 24 * 60),  # downtime of half a day to four days
).map(lambda m: timedelta(minutes=m))


@settings(deadline=None, max_examples=150)
@given(campaign=campaigns, policy=policies, gaps=st.lists(ticks, max_size=120))
def test_simulated_clock_with_downtime_respects_every_rule(
    campaign: tuple[datetime, datetime], policy: ReminderPolicy, gaps: list[timedelta]
) -> None:
    opens, closes = campaign
    planned = reminder_times(opens, closes, policy, VN)
    sent_count, last_sent_at = 0, None
    honoured: list[datetime] = []
    now = opens
    steps = iter(gaps)
    while now < closes + timedelta(days=1):
        due = due_reminder(planned, sent_count, last_sent_at, now, closes, policy, VN)
        if due is not None:
            assert now < closes
            assert not policy.quiet.contains(now, VN)
            honoured.append(due)
            sent_count, last_sent_at = sent_count + 1, now
            # a second pass at the same moment (another worker, a retry) sends nothing
            assert due_reminder(planned, sent_count, last_sent_at, now, closes, policy, VN) is None
        now += next(steps, timedelta(minutes=45))
    assert sent_count <= policy.max_per_person
    assert sent_count <= len(planned)
    assert all(a < b for a, b in pairwise(honoured))
