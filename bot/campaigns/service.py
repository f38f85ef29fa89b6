"""The reminder pass: what the scheduler calls, derivable entirely from the database.

One pass, in the caller's transaction:

1. closes every open run whose closing time has passed;
2. for each open run with a closing time, computes its planned reminder moments
   (:func:`bot.campaigns.schedule.reminder_times`, from its policy) and, if any is already due,
   loads in ONE query everyone of every such run who has not completed, with their reminder
   state;
3. asks :func:`bot.campaigns.schedule.due_reminder` for each of them, enqueues one REMINDER
   delivery per person due through the outbox (unreachable chats are written ``unreachable``
   there), and counts the reminder in their state in the same transaction.

Since the state records ``last_sent_at = now``, a second pass at the same moment sends nothing,
and triggers missed during downtime collapse into one reminder.  No pass state lives in memory.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.schedule import (
    DEFAULT_TZ,
    QuietHours,
    ReminderPolicy,
    due_reminder,
    reminder_times,
)
from bot.texts import render
from storage import campaigns as store
from storage import outbox
from storage.models import DeliveryKind

TEMPLATE = "campaign/reminder.txt"
DEFAULT_LOCALE = "vi"


class PolicyError(ValueError):
    """A stored reminder policy is not valid JSON of the expected shape."""


def _hhmm(value: dt.time) -> str:
    return value.strftime("%H:%M")


def _time(value: Any, key: str) -> dt.time:
    if not isinstance(value, str):
        raise PolicyError(f"{key} must be a string HH:MM, got {value!r}")
    try:
        return dt.time.fromisoformat(value)
    except ValueError as error:
        raise PolicyError(f"{key} must be HH:MM, got {value!r}") from error


def policy_to_json(policy: ReminderPolicy) -> str:
    """A policy as stored in ``survey_runs.reminder_policy`` (offsets in minutes, local times
    as HH:MM)."""
    return json.dumps(
        {
            "offsets_minutes": [int(o.total_seconds() // 60) for o in policy.offsets],
            "last_day_morning": (
                None if policy.last_day_morning is None else _hhmm(policy.last_day_morning)
            ),
            "max_per_person": policy.max_per_person,
            "quiet_start": _hhmm(policy.quiet.start),
            "quiet_end": _hhmm(policy.quiet.end),
        },
        sort_keys=True,
    )


def policy_from_json(text: str | None, default: ReminderPolicy) -> ReminderPolicy:
    """The policy a run stores; ``None`` (or a missing key) takes ``default``'s value."""
    if text is None:
        return default
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(f"reminder policy is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise PolicyError("reminder policy must be a JSON object")
    offsets = default.offsets
    if "offsets_minutes" in data:
        raw = data["offsets_minutes"]
        if not isinstance(raw, list) or not all(isinstance(m, int) for m in raw):
            raise PolicyError("offsets_minutes must be a list of whole minutes")
        offsets = tuple(dt.timedelta(minutes=m) for m in raw)
    morning = default.last_day_morning
    if "last_day_morning" in data:
        value = data["last_day_morning"]
        morning = None if value is None else _time(value, "last_day_morning")
    maximum = data.get("max_per_person", default.max_per_person)
    if not isinstance(maximum, int):
        raise PolicyError("max_per_person must be a whole number")
    quiet = QuietHours(
        start=_time(data["quiet_start"], "quiet_start")
        if "quiet_start" in data
        else default.quiet.start,
        end=_time(data["quiet_end"], "quiet_end") if "quiet_end" in data else default.quiet.end,
    )
    try:
        return ReminderPolicy(
            offsets=offsets, last_day_morning=morning, max_per_person=maximum, quiet=quiet
        )
    except ValueError as error:
        raise PolicyError(str(error)) from error


@dataclass(frozen=True)
class PassStats:
    """What one reminder pass did."""

    runs_closed: int  # open runs closed because their closing time had passed
    runs_open: int  # open runs with a closing time looked at
    runs_due: int  # of those, runs with a planned reminder at or before now
    pending: int  # people of those runs who have not completed
    reminders: int  # reminders written to the outbox (queued or unreachable)


async def reminder_pass(
    session: AsyncSession,
    *,
    now: dt.datetime,
    tz: tzinfo = DEFAULT_TZ,
    policy_default: ReminderPolicy | None = None,
) -> PassStats:
    """Close expired runs, then enqueue every reminder due at ``now``; never commits.

    Calling it twice at the same ``now`` enqueues nothing the second time; after downtime, one
    pass sends each person at most one reminder (for the latest missed planned moment).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    now = now.astimezone(dt.UTC)  # SQLite compares stored UTC wall times
    default = policy_default or ReminderPolicy()
    closed = await store.close_expired_runs(session, now=now)
    runs = await store.open_runs_with_deadline(session)
    planned: dict[int, tuple[store.CampaignRun, ReminderPolicy, list[dt.datetime]]] = {}
    for run in runs:
        policy = policy_from_json(run.reminder_policy, default)
        times = reminder_times(run.opens_at, run.closes_at, policy, tz)
        if policy.max_per_person > 0 and any(moment <= now for moment in times):
            planned[run.run_id] = (run, policy, times)
    pending = await store.pending_people(session, run_ids=sorted(planned))
    rows: list[dict[str, Any]] = []
    sent: list[tuple[int, int]] = []
    texts: dict[tuple[int, str], str] = {}
    for person in pending:
        run, policy, times = planned[person.run_id]
        due = due_reminder(
            times, person.sent_count, person.last_sent_at, now, run.closes_at, policy, tz
        )
        if due is None:
            continue
        locale = person.locale or DEFAULT_LOCALE
        key = (run.run_id, locale)
        if key not in texts:
            texts[key] = render(
                TEMPLATE, locale, title=run.title, closes_at=run.closes_at.astimezone(tz)
            )
        rows.append(
            {
                "kind": DeliveryKind.REMINDER,
                "person_id": person.person_id,
                "chat_id": person.chat_id,
                "external_id": person.external_id,
                "text": texts[key],
                "available_at": now,
                "created_at": now,
            }
        )
        sent.append((run.run_id, person.person_id))
    inserted = await outbox.enqueue(session, rows=rows)
    await store.record_reminders_sent(session, sent=sent, at=now)
    return PassStats(
        runs_closed=closed,
        runs_open=len(runs),
        runs_due=len(planned),
        pending=len(pending),
        reminders=inserted,
    )
