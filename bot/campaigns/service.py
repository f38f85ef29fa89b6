"""Campaigns: launching a survey to an audience with a deadline, and the scheduler's passes.

Launching (:func:`launch`) freezes the audience into ``campaign_targets`` and writes one
invitation per target to the outbox (``available_at``: the opening time, moved out of quiet
hours), all in the caller's transaction.  A unit-level survey targets the officer of each CĐCS
of the audience instead of every member.

The reminder pass (:func:`reminder_pass`), in the caller's transaction and derivable entirely
from the database:

1. closes every open run whose closing time has passed (their waiting invitations and reminders
   are withdrawn, so nobody is chased about a closed survey);
2. for each open campaign, asks :func:`bot.campaigns.schedule.due_reminder` for the planned
   moment due now (none during quiet hours, none once closed);
3. for each run with a due moment, one UPDATE counts a reminder on every target who has not
   completed, is under the cap and has had none since that moment, and one INSERT ... SELECT
   writes their outbox rows.

Since a target records ``last_sent_at = now``, a second pass at the same moment sends nothing,
and triggers missed during downtime collapse into one reminder.  No pass state lives in memory.

:func:`roll_series` starts the next run of each recurring campaign once its opening time has
come (after downtime: only the latest period that is still open; missed ones are not invented).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.schedule import (
    QuietHours,
    Recurrence,
    RemindedByHand,
    ReminderPolicy,
    due_reminder,
    nth_run,
    period_of,
    reminder_times,
)
from bot.notices.audience import Audience, AudienceError
from bot.notices.service import audience_units
from bot.services.actors import Actor
from bot.services.conversation import SurveyRegistry
from bot.texts import render
from storage import campaigns as store
from storage import notices as notice_store
from storage import outbox
from storage import surveys as survey_store
from storage.models import DeliveryKind, RunStatus, Unit, UnitKind, utcnow
from surveys.schema import Audience as Answerers
from surveys.schema import SurveyDefinition

REMINDER_TEMPLATE = "campaign/reminder.txt"
INVITATION_TEMPLATE = "campaign/invitation.txt"
LOCALES = ("vi", "en")


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
class Plan:
    """How a campaign is launched: what, to whom, when, how it chases and repeats."""

    key: str
    closes_at: dt.datetime
    audience: Audience = field(default_factory=Audience)
    opens_at: dt.datetime | None = None  # None: now
    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    recurrence: Recurrence = Recurrence.NONE
    # The officer was told that some of the audience are asked in another open run of the
    # survey, and launches to the others (without it, such a launch stops at OVERLAP).
    skip_asked: bool = False


class LaunchOutcome(StrEnum):
    LAUNCHED = "launched"
    UNKNOWN_SURVEY = "unknown_survey"  # no such survey, or a standing form (needs no launch)
    FORBIDDEN = "forbidden"  # not an officer, or the audience lies outside their scope
    BAD_TIMES = "bad_times"  # closing not after opening, or already past
    ALREADY = "already"  # the same survey is open for the same unit and period
    EMPTY = "empty"  # nobody to ask (no people; for a unit survey, no CĐCS officer)
    # Some of the audience are asked in another open run of the survey: nothing written; the
    # officer may launch to the others (Plan.skip_asked).  All of them: nothing to launch.
    OVERLAP = "overlap"


@dataclass(frozen=True)
class Launched:
    outcome: LaunchOutcome
    run_id: int | None = None
    title: str = ""
    scope_name: str = ""
    per_unit: bool = False
    targets: int = 0  # people expected to answer
    invited: int = 0  # invitations queued (the others are unreachable: never linked, ...)
    units_without_officer: int = 0  # unit survey: CĐCS of the audience with no officer
    opens_at: dt.datetime | None = None  # local times
    closes_at: dt.datetime | None = None
    reminders: tuple[dt.datetime, ...] = ()  # planned reminder moments, local
    period_label: str | None = None
    recurrence: Recurrence = Recurrence.NONE
    # Of the audience, how many another open run of the survey asks (people; CĐCS for a unit
    # survey), and those runs (closing times local): left to them, not asked twice.
    asked_elsewhere: int = 0
    elsewhere: tuple[store.AskedElsewhere, ...] = ()
    others: int = 0  # the rest, counted the same way: whom this run asks (or would)


@dataclass(frozen=True)
class _Audience:
    """Who a run asks, collected before anything is written."""

    targets: list[store.Target]
    chats: dict[int, store.LinkedChat]
    units_without_officer: int


def _texts(template: str, locales: Sequence[str], **context: Any) -> dict[str, str]:
    return {locale: render(template, locale, **context) for locale in locales}


async def _collect(
    session: AsyncSession,
    *,
    defn: SurveyDefinition,
    units: Sequence[Unit],
    audience: Audience,
) -> _Audience:
    """The people a run asks: the audience's people, or for a unit-level survey the officer
    of each union body of the levels answering it (CĐCS, unless the definition names others)
    in the audience's subtrees; with their linked chats."""
    paths = notice_store.minimal_paths(u.path for u in units)
    if defn.audience == Answerers.UNIT:
        kinds = [UnitKind(level.value) for level in defn.answered_by]
        officers, missing = await store.unit_officers(session, paths=paths, kinds=kinds)
        found = [store.Target(o.person_id, o.unit_id) for o in officers]
        chats = await store.linked_chats(session, person_ids=[t.person_id for t in found])
        return _Audience(found, chats, len(missing))
    recipients = await notice_store.audience_recipients(
        session,
        audience=notice_store.AudienceFilter(
            paths=paths,
            public=audience.public,
            members_only=audience.members_only,
            tag=audience.tag,
        ),
    )
    return _Audience(
        [store.Target(r.person_id, r.unit_id) for r in recipients],
        {
            r.person_id: store.LinkedChat(r.chat_id, r.channel, r.external_id, str(r.locale))
            for r in recipients
            if r.chat_id is not None and r.channel is not None
        },
        0,
    )


def _counted(who: _Audience, per_unit: bool) -> int:
    """People, or for a unit survey the units (one answer each)."""
    return len({t.unit_id for t in who.targets}) if per_unit else len(who.targets)


async def _leave_to_other_runs(
    session: AsyncSession,
    *,
    key: str,
    who: _Audience,
    per_unit: bool,
    opens_at: dt.datetime,
    closes_at: dt.datetime,
    tz: tzinfo,
    series_id: int | None = None,
) -> tuple[_Audience, int, tuple[store.AskedElsewhere, ...]]:
    """``who`` without those an open run of the same survey already asks in the period (a
    province run and a CĐCS run at once): one person answers a survey once, in one run, and
    sees one entry.  Returns the rest, how many were left out (people, or units for a unit
    survey) and those runs (closing times local); the runs of ``series_id`` (other periods
    of the new run's own series) do not count."""
    taken, runs = await store.asked_elsewhere(
        session,
        key=key,
        wanted=who.targets,
        per_unit=per_unit,
        opens_at=opens_at,
        closes_at=closes_at,
        series_id=series_id,
    )
    if not taken:
        return who, 0, ()
    kept = [t for t in who.targets if (t.unit_id if per_unit else t.person_id) not in taken]
    local_runs = tuple(dataclasses.replace(r, closes_at=_local(r.closes_at, tz)) for r in runs)
    return dataclasses.replace(who, targets=kept), len(taken), local_runs


async def _populate(
    session: AsyncSession,
    *,
    run_id: int,
    defn: SurveyDefinition,
    who: _Audience,
    opens_at: dt.datetime,
    closes_at: dt.datetime,
    policy: ReminderPolicy,
    now: dt.datetime,
    tz: tzinfo,
    default_locale: str,
) -> int:
    """Freeze the run's targets and queue one invitation each; how many were queued (the
    rest are written unreachable: never linked, stopped, blocked)."""
    await store.insert_targets(session, run_id=run_id, rows=who.targets, now=now)
    texts = _texts(
        INVITATION_TEMPLATE,
        LOCALES,
        title=defn.title,
        intro=defn.intro,
        per_unit=defn.audience == Answerers.UNIT,
        closes_at=closes_at.astimezone(tz),
    )
    available_at = policy.quiet.release(max(opens_at, now), tz)
    rows: list[dict[str, Any]] = []
    for target in who.targets:
        chat = who.chats.get(target.person_id)
        locale = (chat.locale if chat else None) or default_locale
        rows.append(
            {
                "kind": DeliveryKind.INVITATION,
                "run_id": run_id,
                "person_id": target.person_id,
                "chat_id": chat.chat_id if chat else None,
                "external_id": chat.external_id if chat else None,
                "channel": chat.channel if chat else None,
                "text": texts.get(locale, texts[default_locale]),
                "available_at": available_at,
                "created_at": now,
            }
        )
    await outbox.enqueue(session, rows=rows)
    return await store.queued_invitations(session, run_id=run_id)


def _local(value: dt.datetime, tz: tzinfo) -> dt.datetime:
    return value.astimezone(tz)


async def launch(
    session: AsyncSession,
    *,
    actor: Actor,
    plan: Plan,
    definitions: Mapping[str, SurveyDefinition],
    definition_id: int | None,
    now: dt.datetime | None = None,
    tz: tzinfo,
    default_locale: str,
) -> Launched:
    """Launch a campaign on the actor's behalf (see the module doc); never commits.

    ``definitions`` are the launchable surveys by key and ``definition_id`` the stored row of
    ``plan.key`` (the caller syncs the registry).
    """
    moment = (now or utcnow()).astimezone(dt.UTC)
    defn = definitions.get(plan.key)
    if defn is None or defn.outcome is not None or definition_id is None:
        return Launched(LaunchOutcome.UNKNOWN_SURVEY)
    if not actor.is_officer or actor.person is None:
        return Launched(LaunchOutcome.FORBIDDEN, title=defn.title)
    try:
        units = await audience_units(session, actor=actor, audience=plan.audience)
    except AudienceError:
        return Launched(LaunchOutcome.FORBIDDEN, title=defn.title)
    opens_at = (plan.opens_at or moment).astimezone(dt.UTC)
    closes_at = plan.closes_at.astimezone(dt.UTC)
    if closes_at <= opens_at or closes_at <= moment:
        return Launched(LaunchOutcome.BAD_TIMES, title=defn.title)
    scope = units[0] if len(units) == 1 else actor.scope
    assert scope is not None and scope.id is not None
    recurrence = Recurrence(plan.recurrence)
    label = period_of(opens_at, recurrence, tz)
    # One open campaign of a survey per unit: per period for a recurring one, at all for a
    # one-off (two identical surveys open at once would confuse members).
    same_period = label if recurrence is not Recurrence.NONE else None
    if await store.open_campaign_for(
        session, key=plan.key, unit_id=scope.id, period_label=same_period
    ):
        return Launched(LaunchOutcome.ALREADY, title=defn.title, scope_name=scope.name)
    per_unit = defn.audience == Answerers.UNIT
    who = await _collect(session, defn=defn, units=units, audience=plan.audience)
    who, asked, elsewhere = await _leave_to_other_runs(
        session,
        key=plan.key,
        who=who,
        per_unit=per_unit,
        opens_at=opens_at,
        closes_at=closes_at,
        tz=tz,
    )
    if asked and (not plan.skip_asked or not who.targets):
        return Launched(
            LaunchOutcome.OVERLAP,
            title=defn.title,
            scope_name=scope.name,
            per_unit=per_unit,
            targets=len(who.targets),
            asked_elsewhere=asked,
            others=_counted(who, per_unit),
            elsewhere=elsewhere,
        )
    if not who.targets:
        return Launched(
            LaunchOutcome.EMPTY,
            title=defn.title,
            scope_name=scope.name,
            per_unit=per_unit,
            units_without_officer=who.units_without_officer,
        )
    run = await survey_store.create_run(
        session,
        definition_id=definition_id,
        unit_id=scope.id,
        launched_by=actor.person.id,
        period_year=opens_at.astimezone(tz).year,
        opens_at=opens_at,
        closes_at=closes_at,
        reminder_policy=policy_to_json(plan.policy),
        recurrence=recurrence.value,
        audience=plan.audience.to_json(),
        per_unit=per_unit,
        period_label=label,
        series=recurrence is not Recurrence.NONE,
    )
    assert run.id is not None
    invited = await _populate(
        session,
        run_id=run.id,
        defn=defn,
        who=who,
        opens_at=opens_at,
        closes_at=closes_at,
        policy=plan.policy,
        now=moment,
        tz=tz,
        default_locale=default_locale,
    )
    planned = reminder_times(opens_at, closes_at, plan.policy, tz)
    return Launched(
        LaunchOutcome.LAUNCHED,
        run_id=run.id,
        title=defn.title,
        scope_name=scope.name,
        per_unit=per_unit,
        targets=len(who.targets),
        invited=invited,
        units_without_officer=who.units_without_officer,
        opens_at=_local(opens_at, tz),
        closes_at=_local(closes_at, tz),
        reminders=tuple(_local(t, tz) for t in planned) if plan.policy.max_per_person else (),
        period_label=label,
        recurrence=recurrence,
        asked_elsewhere=asked,
        others=_counted(who, per_unit),
        elsewhere=elsewhere,
    )


# --------------------------------------------------------------------------- the passes


@dataclass(frozen=True)
class PassStats:
    """What one reminder pass did."""

    runs_closed: int  # open runs closed because their closing time had passed
    runs_open: int  # open campaigns looked at
    runs_due: int  # of those, runs with a reminder moment due now
    reminders: int  # reminders written to the outbox (queued or unreachable)


def run_policy(run: store.CampaignRun, default: ReminderPolicy) -> ReminderPolicy:
    return policy_from_json(run.reminder_policy, default)


async def reminder_pass(
    session: AsyncSession,
    *,
    now: dt.datetime,
    tz: tzinfo,
    policy_default: ReminderPolicy | None = None,
    default_locale: str,
) -> PassStats:
    """Close expired runs, then write every reminder due at ``now``; never commits.

    Calling it twice at the same ``now`` writes nothing the second time; after downtime, one
    pass sends each person at most one reminder (for the latest missed planned moment).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    now = now.astimezone(dt.UTC)
    default = policy_default or ReminderPolicy()
    closed = await store.close_expired_runs(session, now=now)
    campaigns = await store.open_campaigns(session)
    due_runs = 0
    written = 0
    for run in campaigns:
        policy = run_policy(run, default)
        planned = reminder_times(run.opens_at, run.closes_at, policy, tz)
        due_at = due_reminder(planned, 0, None, now, run.closes_at, policy, tz)
        if due_at is None:
            continue
        due_runs += 1
        texts = _texts(
            REMINDER_TEMPLATE,
            LOCALES,
            title=run.title,
            closes_at=run.closes_at.astimezone(tz),
            manual=False,
        )
        batch = store.ReminderBatch(
            run_id=run.run_id,
            per_unit=run.per_unit,
            texts=texts,
            default_locale=default_locale,
            now=now,
        )
        written += await store.send_due_reminders(
            session, batch=batch, due_at=due_at, max_per_person=policy.max_per_person
        )
    return PassStats(
        runs_closed=len(closed), runs_open=len(campaigns), runs_due=due_runs, reminders=written
    )


@dataclass(frozen=True)
class Rolled:
    """A new run of a recurring series."""

    series_id: int
    run_id: int
    period_label: str
    targets: int


async def roll_series(
    session: AsyncSession,
    *,
    now: dt.datetime,
    registry: SurveyRegistry,
    tz: tzinfo,
    policy_default: ReminderPolicy | None = None,
    default_locale: str,
) -> list[Rolled]:
    """Start the run of the current period of every recurring series whose newest run is
    from an earlier period (the survey as it was launched: the same stored version)."""
    now = now.astimezone(dt.UTC)
    default = policy_default or ReminderPolicy()
    rolled: list[Rolled] = []
    for latest in await store.latest_of_recurring_series(session):
        assert latest.series_id is not None
        first = await store.get_campaign(session, run_id=latest.series_id)
        if first is None:
            continue
        recurrence = Recurrence(latest.recurrence)
        index = latest.run_index
        # The newest period whose opening has come and whose closing has not passed.
        while True:
            opens, _closes = nth_run(first.opens_at, first.closes_at, recurrence, index + 1, tz)
            if opens > now:
                break
            index += 1
        if index == latest.run_index:
            continue
        opens_at, closes_at = nth_run(first.opens_at, first.closes_at, recurrence, index, tz)
        if closes_at <= now:
            continue  # that period is over too: nothing left to ask
        defn = await registry.by_row(session, latest.definition_id)
        audience = Audience.from_json(latest.audience)
        units = await store.units_by_id(session, unit_ids=audience.unit_ids or (latest.unit_id,))
        run = await survey_store.create_run(
            session,
            definition_id=latest.definition_id,
            unit_id=latest.unit_id,
            launched_by=latest.launched_by,
            period_year=opens_at.astimezone(tz).year,
            opens_at=opens_at,
            closes_at=closes_at,
            reminder_policy=latest.reminder_policy,
            recurrence=recurrence.value,
            audience=latest.audience,
            per_unit=latest.per_unit,
            period_label=period_of(opens_at, recurrence, tz),
            series_id=latest.series_id,
            run_index=index,
        )
        assert run.id is not None
        who = await _collect(session, defn=defn, units=units, audience=audience)
        # The officer agreed at launch that those another run asks are left to it.
        who, _, _ = await _leave_to_other_runs(
            session,
            key=defn.key,
            who=who,
            per_unit=latest.per_unit,
            opens_at=opens_at,
            closes_at=closes_at,
            tz=tz,
            series_id=latest.series_id,
        )
        await _populate(
            session,
            run_id=run.id,
            defn=defn,
            who=who,
            opens_at=opens_at,
            closes_at=closes_at,
            policy=run_policy(latest, default),
            now=now,
            tz=tz,
            default_locale=default_locale,
        )
        rolled.append(Rolled(latest.series_id, run.id, run.period_label or "", len(who.targets)))
    return rolled


# --------------------------------------------------------------------------- officers' views


@dataclass(frozen=True)
class CampaignSummary:
    run_id: int
    title: str
    scope_name: str
    status: RunStatus
    per_unit: bool
    opens_at: dt.datetime  # local
    closes_at: dt.datetime  # local
    period_label: str | None
    recurrence: Recurrence
    targets: int
    done: int
    units: int
    units_done: int

    @property
    def rate(self) -> float | None:
        """Completed share: of people, or of units for a unit-level survey."""
        if self.per_unit:
            return self.units_done / self.units if self.units else None
        return self.done / self.targets if self.targets else None


def _summary(row: store.CampaignRow, tz: tzinfo) -> CampaignSummary:
    run = row.run
    return CampaignSummary(
        run_id=run.run_id,
        title=run.title,
        scope_name=row.unit_name,
        status=row.status,
        per_unit=run.per_unit,
        opens_at=_local(run.opens_at, tz),
        closes_at=_local(run.closes_at, tz),
        period_label=run.period_label,
        recurrence=Recurrence(run.recurrence),
        targets=row.targets,
        done=row.done,
        units=row.units,
        units_done=row.units_done,
    )


async def campaigns_for(
    session: AsyncSession, *, actor: Actor, tz: tzinfo, limit: int = 15
) -> list[CampaignSummary]:
    """The campaigns launched within the actor's scope, newest first, with progress."""
    if not actor.is_officer or actor.scope is None:
        return []
    rows = await store.campaigns_in_scope(session, path=actor.scope.path, limit=limit)
    return [_summary(r, tz) for r in rows]


@dataclass(frozen=True)
class UnitLine:
    unit_id: int
    unit_name: str
    targets: int
    done: int
    pending_names: tuple[str, ...]
    pending: int

    @property
    def rate(self) -> float | None:
        return self.done / self.targets if self.targets else None


@dataclass(frozen=True)
class CampaignDetail:
    summary: CampaignSummary
    units: tuple[UnitLine, ...]  # lowest completion first
    next_reminder: dt.datetime | None  # the next planned automatic reminder, local

    @property
    def pending(self) -> int:
        return sum(u.pending for u in self.units)


async def _visible_campaign(
    session: AsyncSession, actor: Actor, run_id: int
) -> store.CampaignRow | None:
    if not actor.is_officer or actor.scope is None:
        return None
    row = await store.campaign_row(session, run_id=run_id)
    if row is None:
        return None
    unit = await session.get(Unit, row.run.unit_id)
    return row if unit is not None and actor.can_see(unit) else None


async def detail(
    session: AsyncSession,
    *,
    actor: Actor,
    run_id: int,
    now: dt.datetime | None = None,
    tz: tzinfo,
    names_per_unit: int = 30,
    policy_default: ReminderPolicy | None = None,
) -> CampaignDetail | None:
    """A campaign's completion by unit and who has not finished; None if not visible."""
    row = await _visible_campaign(session, actor, run_id)
    if row is None:
        return None
    run = row.run
    progress = (await store.progress_by_unit(session, run_ids=[run.run_id]))[run.run_id]
    pending = {
        p.unit_id: p
        for p in await store.pending_by_unit(
            session, run_id=run.run_id, per_unit=run.per_unit, names_per_unit=names_per_unit
        )
    }
    lines = []
    for unit in progress:
        waiting = pending.get(unit.unit_id)
        done = unit.done
        if run.per_unit:
            done = unit.targets if unit.done else 0
        lines.append(
            UnitLine(
                unit.unit_id,
                unit.unit_name,
                unit.targets,
                done,
                waiting.names if waiting else (),
                waiting.count if waiting else 0,
            )
        )
    lines.sort(key=lambda u: (u.rate if u.rate is not None else 2.0, u.unit_name))
    policy = run_policy(run, policy_default or ReminderPolicy())
    planned = reminder_times(run.opens_at, run.closes_at, policy, tz)
    moment = (now or utcnow()).astimezone(dt.UTC)
    return CampaignDetail(
        summary=_summary(row, tz),
        units=tuple(lines),
        next_reminder=next((_local(t, tz) for t in planned if t > moment), None),
    )


class ManualOutcome(StrEnum):
    SENT = "sent"  # reminders written (some may wait for the end of quiet hours)
    NOBODY = "nobody"  # everyone has answered or was reminded by hand today
    CLOSED = "closed"
    NOT_FOUND = "not_found"


ManualReminders = RemindedByHand[ManualOutcome]


async def remind_by_hand(
    session: AsyncSession,
    *,
    actor: Actor,
    run_id: int,
    now: dt.datetime | None = None,
    tz: tzinfo,
    quiet: QuietHours | None = None,
    default_locale: str,
) -> ManualReminders:
    """An officer reminds everyone who has not finished, at most once a day per person
    (:func:`bot.campaigns.schedule.manual_reminder_allowed`); during quiet hours the
    reminders wait for their end."""
    row = await _visible_campaign(session, actor, run_id)
    if row is None:
        return ManualReminders(ManualOutcome.NOT_FOUND)
    moment = (now or utcnow()).astimezone(dt.UTC)
    run = row.run
    if row.status != RunStatus.OPEN or run.closes_at <= moment:
        return ManualReminders(ManualOutcome.CLOSED)
    day_start = dt.datetime.combine(
        moment.astimezone(tz).date(), dt.time(0, 0), tzinfo=tz
    ).astimezone(dt.UTC)
    # Admits exactly those for whom schedule.manual_reminder_allowed(last_manual_at, now):
    # no by-hand reminder yet, or the last one before today's local midnight.
    hours = quiet or QuietHours()
    at = hours.release(moment, tz)
    texts = _texts(
        REMINDER_TEMPLATE,
        LOCALES,
        title=run.title,
        closes_at=_local(run.closes_at, tz),
        manual=True,
    )
    batch = store.ReminderBatch(
        run_id=run.run_id,
        per_unit=run.per_unit,
        texts=texts,
        default_locale=default_locale,
        now=moment,
        available_at=at,
    )
    count = await store.send_manual_reminders(session, batch=batch, not_since=day_start)
    if count == 0:
        return ManualReminders(ManualOutcome.NOBODY)
    queued, unreachable = await store.reminders_written(session, run_id=run.run_id, at=moment)
    return ManualReminders(
        ManualOutcome.SENT, queued, unreachable, _local(at, tz) if at > moment else None
    )


async def set_weekly_digest(session: AsyncSession, *, actor: Actor, enabled: bool) -> None:
    """An officer turns their weekly below-target digest on or off."""
    if actor.person is None or not actor.is_officer:
        return
    actor.person.weekly_digest = enabled
    await session.flush()
