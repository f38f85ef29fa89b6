"""Campaigns: frozen audiences (targets), who has not completed, reminders, progress.

A campaign run's audience is frozen at launch into ``campaign_targets`` (one row per person
expected to answer, with the unit they answer for).  Everything else is derived from those rows:

- *completed*: a completed response of the person in the run, or a participation row (anonymous
  runs); for a unit-level run (``survey_runs.per_unit``), a completed response for the target's
  unit by anyone: one answer per unit counts.
- *reminders*: a due reminder is ONE ``UPDATE campaign_targets`` (count it, stamp the pass's
  moment) and ONE ``INSERT INTO deliveries ... SELECT`` of the rows carrying that stamp, with
  each person's newest linked chat; no row goes through Python, whatever the audience size.
- *progress*: one ``GROUP BY`` per query, by run and by unit.

Functions are keyword-only after the session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Exists,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.chats import latest_linked_chat, localized, newest_chat_of
from storage.db import rowcount
from storage.models import (
    Channel,
    DeliveryKind,
    DeliveryStatus,
    ResponseState,
    Role,
    RunStatus,
    Unit,
    UnitKind,
)
from storage.notices import UnitPending, group_by_unit
from storage.outbox import mark_written
from storage.tables import (
    chats,
    definitions,
    deliveries,
    participations,
    people,
    responses,
    runs,
    targets,
    units,
)
from surveys.names import name_key  # the one order of people's names

CHUNK = 2000
CLOSED = "closed"  # the error of invitations and reminders withdrawn when their run closed
_CAMPAIGN_KINDS = (DeliveryKind.INVITATION, DeliveryKind.REMINDER)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class CampaignRun:
    """An open campaign run (a run with a closing time), as the scheduler needs it."""

    run_id: int
    definition_id: int
    key: str
    title: str
    unit_id: int
    launched_by: int | None
    opens_at: dt.datetime
    closes_at: dt.datetime
    reminder_policy: str | None  # JSON; None: the default policy
    recurrence: str
    per_unit: bool
    series_id: int | None
    run_index: int
    period_label: str | None
    audience: str | None


def _campaign_columns() -> list[Any]:
    return [
        runs.c.id,
        runs.c.definition_id,
        definitions.c.key,
        definitions.c.title,
        runs.c.unit_id,
        runs.c.launched_by,
        runs.c.opens_at,
        runs.c.closes_at,
        runs.c.reminder_policy,
        runs.c.recurrence,
        runs.c.per_unit,
        runs.c.series_id,
        runs.c.run_index,
        runs.c.period_label,
        runs.c.audience,
    ]


def _campaign_of(row: Any) -> CampaignRun:
    return CampaignRun(
        run_id=int(row.id),
        definition_id=int(row.definition_id),
        key=str(row.key),
        title=str(row.title),
        unit_id=int(row.unit_id),
        launched_by=row.launched_by,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        reminder_policy=row.reminder_policy,
        recurrence=str(row.recurrence),
        per_unit=bool(row.per_unit),
        series_id=row.series_id,
        run_index=int(row.run_index),
        period_label=row.period_label,
        audience=row.audience,
    )


async def close_expired_runs(session: AsyncSession, *, now: dt.datetime) -> list[int]:
    """Close every open run whose closing time is at or before ``now``, and withdraw their
    invitations and reminders still waiting in the outbox (``failed``, error ``closed``): a
    reminder nobody could act on is never sent.  Returns the ids of the runs closed."""
    expired = [
        int(r[0])
        for r in (
            await session.execute(
                select(runs.c.id).where(
                    runs.c.status == RunStatus.OPEN,
                    runs.c.closes_at.is_not(None),
                    runs.c.closes_at <= now,
                )
            )
        ).all()
    ]
    for start in range(0, len(expired), CHUNK):
        chunk = expired[start : start + CHUNK]
        await session.execute(
            update(runs)
            .where(runs.c.id.in_(chunk), runs.c.status == RunStatus.OPEN)
            .values(status=RunStatus.CLOSED)
        )
        await session.execute(
            update(deliveries)
            .where(
                deliveries.c.run_id.in_(chunk),
                deliveries.c.kind.in_(_CAMPAIGN_KINDS),
                deliveries.c.status == DeliveryStatus.QUEUED,
            )
            .values(status=DeliveryStatus.FAILED, error=CLOSED)
        )
    return expired


async def open_campaigns(session: AsyncSession) -> list[CampaignRun]:
    """Every open run with a closing time, with its survey's key and title, by run id."""
    stmt = (
        select(*_campaign_columns())
        .select_from(runs.join(definitions, definitions.c.id == runs.c.definition_id))
        .where(runs.c.status == RunStatus.OPEN, runs.c.closes_at.is_not(None))
        .order_by(runs.c.id)
    )
    return [_campaign_of(row) for row in (await session.execute(stmt)).all()]


async def latest_of_recurring_series(session: AsyncSession) -> list[CampaignRun]:
    """The newest run of every recurring series (open or closed), by series."""
    newest = (
        select(runs.c.series_id, func.max(runs.c.run_index).label("last"))
        .where(runs.c.series_id.is_not(None), runs.c.recurrence != "none")
        .group_by(runs.c.series_id)
        .subquery("newest")
    )
    stmt = (
        select(*_campaign_columns())
        .select_from(
            runs.join(definitions, definitions.c.id == runs.c.definition_id).join(
                newest,
                and_(newest.c.series_id == runs.c.series_id, newest.c.last == runs.c.run_index),
            )
        )
        .order_by(runs.c.series_id)
    )
    return [_campaign_of(row) for row in (await session.execute(stmt)).all()]


async def get_campaign(session: AsyncSession, *, run_id: int) -> CampaignRun | None:
    stmt = (
        select(*_campaign_columns())
        .select_from(runs.join(definitions, definitions.c.id == runs.c.definition_id))
        .where(runs.c.id == run_id, runs.c.closes_at.is_not(None))
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else _campaign_of(row)


async def open_campaign_for(
    session: AsyncSession, *, key: str, unit_id: int, period_label: str | None
) -> int | None:
    """The open campaign of a survey (any version) for exactly this unit and period
    (``period_label=None``: any period)."""
    row = (
        await session.execute(
            select(runs.c.id)
            .select_from(runs.join(definitions, definitions.c.id == runs.c.definition_id))
            .where(
                definitions.c.key == key,
                runs.c.unit_id == unit_id,
                runs.c.status == RunStatus.OPEN,
                runs.c.closes_at.is_not(None),
                true() if period_label is None else runs.c.period_label == period_label,
            )
            .limit(1)
        )
    ).first()
    return None if row is None else int(row[0])


async def units_by_id(session: AsyncSession, *, unit_ids: Sequence[int]) -> list[Unit]:
    """The units with these ids, in the order given; unknown ids are skipped."""
    found = {
        u.id: u
        for u in (
            await session.execute(select(Unit).where(units.c.id.in_(list(unit_ids))))
        ).scalars()
    }
    return [found[i] for i in unit_ids if i in found]


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class LinkedChat:
    chat_id: int
    channel: Channel
    external_id: str | None
    locale: str  # chat_identities.locale: never NULL


async def linked_chats(
    session: AsyncSession, *, person_ids: Sequence[int]
) -> dict[int, LinkedChat]:
    """Each person's newest linked chat, on whichever channel (people without one are left
    out)."""
    out: dict[int, LinkedChat] = {}
    latest = latest_linked_chat()
    for start in range(0, len(person_ids), CHUNK):
        chunk = list(person_ids[start : start + CHUNK])
        stmt = (
            select(
                latest.c.person_id,
                chats.c.id,
                chats.c.channel,
                chats.c.external_id,
                chats.c.locale,
            )
            .select_from(latest.join(chats, chats.c.id == latest.c.chat_id))
            .where(latest.c.person_id.in_(chunk))
        )
        rows = (await session.execute(stmt)).all()
        for person_id, chat_id, channel, external_id, locale in rows:
            out[int(person_id)] = LinkedChat(
                int(chat_id), Channel(channel), external_id, str(locale)
            )
    return out


async def queued_invitations(session: AsyncSession, *, run_id: int) -> int:
    """How many invitations of the run wait in the outbox to be sent (not unreachable)."""
    return int(
        (
            await session.execute(
                select(func.count()).where(
                    deliveries.c.run_id == run_id,
                    deliveries.c.kind == DeliveryKind.INVITATION,
                    deliveries.c.status == DeliveryStatus.QUEUED,
                )
            )
        ).scalar_one()
    )


@dataclass(frozen=True)
class Target:
    """One person a run expects an answer from, and the unit they answer for."""

    person_id: int
    unit_id: int


async def insert_targets(
    session: AsyncSession, *, run_id: int, rows: Sequence[Target], now: dt.datetime
) -> None:
    """Freeze a run's audience (a person listed twice counts once)."""
    if not rows:
        return
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    stmt = insert(targets).on_conflict_do_nothing(index_elements=["run_id", "person_id"])
    values = [
        {
            "run_id": run_id,
            "person_id": t.person_id,
            "unit_id": t.unit_id,
            "sent_count": 0,
            "created_at": now,
        }
        for t in rows
    ]
    for start in range(0, len(values), CHUNK):
        await session.execute(stmt, values[start : start + CHUNK])


@dataclass(frozen=True)
class AskedElsewhere:
    """An open run of the same survey that already asks some of a new run's audience."""

    run_id: int
    unit_name: str  # the unit the run was launched for
    closes_at: dt.datetime
    count: int  # how many of the new audience it asks (people; units for a unit survey)


async def asked_elsewhere(
    session: AsyncSession,
    *,
    key: str,
    wanted: Sequence[Target],
    per_unit: bool,
    opens_at: dt.datetime,
    closes_at: dt.datetime,
    series_id: int | None = None,
) -> tuple[set[int], list[AskedElsewhere]]:
    """Who of ``wanted`` an open run of the survey ``key`` (any version) already asks during
    [``opens_at``, ``closes_at``): person ids (unit ids for a unit survey, where one answer
    per unit counts), and those runs, oldest first.  One person answers a survey once a
    period: a run launched over another one leaves them to it.  The runs of ``series_id``
    (the new run's own series: other periods) do not count."""
    want = {t.unit_id if per_unit else t.person_id for t in wanted}
    column = targets.c.unit_id if per_unit else targets.c.person_id
    stmt = (
        select(runs.c.id, units.c.name, runs.c.closes_at, column)
        .select_from(
            targets.join(runs, runs.c.id == targets.c.run_id)
            .join(definitions, definitions.c.id == runs.c.definition_id)
            .join(units, units.c.id == runs.c.unit_id)
        )
        .where(
            definitions.c.key == key,
            runs.c.status == RunStatus.OPEN,
            runs.c.closes_at.is_not(None),
            runs.c.closes_at > opens_at,
            runs.c.opens_at < closes_at,
            true()
            if series_id is None
            else or_(runs.c.series_id.is_(None), runs.c.series_id != series_id),
        )
        .order_by(runs.c.id)
    )
    taken: set[int] = set()
    found: dict[int, tuple[str, dt.datetime, set[int]]] = {}
    for run_id, unit_name, run_closes, asked in (await session.execute(stmt)).all():
        if asked in want:
            taken.add(int(asked))
            found.setdefault(int(run_id), (str(unit_name), run_closes, set()))[2].add(int(asked))
    return taken, [
        AskedElsewhere(run_id, name, closes, len(ids))
        for run_id, (name, closes, ids) in found.items()
    ]


async def target_of(session: AsyncSession, *, run_id: int, person_id: int) -> Target | None:
    row = (
        await session.execute(
            select(targets.c.person_id, targets.c.unit_id).where(
                targets.c.run_id == run_id, targets.c.person_id == person_id
            )
        )
    ).first()
    return None if row is None else Target(int(row.person_id), int(row.unit_id))


async def unit_answered(session: AsyncSession, *, run_id: int, unit_id: int) -> bool:
    """Whether a completed response for ``unit_id`` exists in the run (unit-level surveys)."""
    row = (
        await session.execute(
            select(responses.c.id)
            .where(
                responses.c.run_id == run_id,
                responses.c.unit_id == unit_id,
                responses.c.state == ResponseState.COMPLETED,
            )
            .limit(1)
        )
    ).first()
    return row is not None


@dataclass(frozen=True)
class UnitOfficer:
    """The officer of a union body (a CĐCS, or one above), who answers a unit-level survey
    for it."""

    person_id: int
    unit_id: int  # the union body


async def unit_officers(
    session: AsyncSession,
    *,
    paths: Sequence[str],
    kinds: Sequence[UnitKind] = (UnitKind.GRASSROOTS,),
) -> tuple[list[UnitOfficer], list[int]]:
    """The officers of every union body of the levels ``kinds`` inside the subtrees ``paths``
    (the subtrees' own units included), and the bodies with none.

    An officer answers for the unit of their office (``officer_unit_id``), or their own unit
    when no office is set.
    """
    office = units.alias("office")
    if not paths:
        return [], []
    inside = or_(*(office.c.path.startswith(p, autoescape=True) for p in paths))
    office_id = func.coalesce(people.c.officer_unit_id, people.c.unit_id)
    stmt = (
        select(people.c.id, office.c.id.label("unit_id"))
        .select_from(people.join(office, office.c.id == office_id))
        .where(
            people.c.role.in_([Role.OFFICER, Role.ADMIN]), office.c.kind.in_(list(kinds)), inside
        )
        .order_by(office.c.id, people.c.id)
    )
    officers = [UnitOfficer(int(r.id), int(r.unit_id)) for r in (await session.execute(stmt)).all()]
    covered = {o.unit_id for o in officers}
    all_cdcs = select(units.c.id).where(
        units.c.kind.in_(list(kinds)),
        or_(*(units.c.path.startswith(p, autoescape=True) for p in paths)),
    )
    missing = sorted(
        int(r[0]) for r in (await session.execute(all_cdcs)).all() if int(r[0]) not in covered
    )
    return officers, missing


# --------------------------------------------------------------------------- completion


def _completion(per_unit: bool | ColumnElement[bool]) -> tuple[Exists, Exists]:
    """(answered, took part): the two ways a target row completes its run."""
    t = targets.c
    by_person = responses.c.person_id == t.person_id
    by_unit = responses.c.unit_id == t.unit_id
    if isinstance(per_unit, bool):
        who: ColumnElement[bool] = or_(by_person, by_unit) if per_unit else by_person
    else:
        who = or_(by_person, and_(per_unit, by_unit))
    answered = (
        exists()
        .where(responses.c.run_id == t.run_id, responses.c.state == ResponseState.COMPLETED, who)
        .correlate_except(responses)
    )
    took_part = (
        exists()
        .where(participations.c.run_id == t.run_id, participations.c.person_id == t.person_id)
        .correlate_except(participations)
    )
    return answered, took_part


def completed(per_unit: bool | ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether the target row has completed its run (see the module doc)."""
    answered, took_part = _completion(per_unit)
    return or_(answered, took_part)


def not_completed(per_unit: bool | ColumnElement[bool]) -> ColumnElement[bool]:
    """The negation of :func:`completed`, written as two NOT EXISTS: PostgreSQL plans those
    as anti-joins, where ``NOT (EXISTS … OR EXISTS …)`` hashes every completed response of
    every run (measured: the reminder UPDATE twice as slow, a no-op pass 13×)."""
    answered, took_part = _completion(per_unit)
    return and_(~answered, ~took_part)


# --------------------------------------------------------------------------- reminders


@dataclass(frozen=True)
class ReminderBatch:
    """What one reminder statement pair does for one run."""

    run_id: int
    per_unit: bool
    texts: Mapping[str, str]  # locale → the message; ``default_locale`` must be a key
    default_locale: str
    now: dt.datetime  # stamped on the targets, and the deliveries' available_at
    available_at: dt.datetime | None = None  # None: now


async def _enqueue_stamped(
    session: AsyncSession, batch: ReminderBatch, stamp: ColumnElement[bool]
) -> int:
    """INSERT INTO deliveries SELECT the run's targets matching ``stamp``: one reminder each,
    written ``unreachable`` (with the reason) for people without a usable chat."""
    to = newest_chat_of(targets, targets.c.person_id)
    text = localized(batch.texts, batch.default_locale, to.locale)
    at = batch.available_at or batch.now
    select_rows = (
        select(
            literal(DeliveryKind.REMINDER.value),
            targets.c.run_id,
            targets.c.person_id,
            to.chat_id,
            to.channel,
            to.external_id,
            text,
            literal(False),
            to.status,
            literal(0),
            literal(at, type_=deliveries.c.available_at.type),
            to.reason,
            literal(batch.now, type_=deliveries.c.created_at.type),
        )
        .select_from(to.source)
        .where(targets.c.run_id == batch.run_id, stamp)
        # In person order, the rows go into the outbox's person-keyed indexes sequentially:
        # about half the time of an insert in any other order (measured).
        .order_by(targets.c.person_id)
    )
    columns = [
        "kind",
        "run_id",
        "person_id",
        "chat_id",
        "channel",
        "external_id",
        "text",
        "ack_button",
        "status",
        "attempts",
        "available_at",
        "error",
        "created_at",
    ]
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    result = await session.execute(insert(deliveries).from_select(columns, select_rows))
    return mark_written(session, rowcount(result))


async def send_due_reminders(
    session: AsyncSession,
    *,
    batch: ReminderBatch,
    due_at: dt.datetime,
    max_per_person: int,
) -> int:
    """Remind every target of the run who has not completed, has had fewer than
    ``max_per_person`` automatic reminders and none since ``due_at`` (the planned moment
    being honoured).  Counts the reminder on each target (``last_sent_at = now``) and writes
    the outbox rows, in two statements.  Returns how many reminders were written."""
    t = targets.c
    changed = await session.execute(
        update(targets)
        .where(
            t.run_id == batch.run_id,
            t.sent_count < max_per_person,
            or_(t.last_sent_at.is_(None), t.last_sent_at < due_at),
            not_completed(batch.per_unit),
        )
        .values(sent_count=t.sent_count + 1, last_sent_at=batch.now)
    )
    if rowcount(changed) == 0:
        return 0
    return await _enqueue_stamped(session, batch, t.last_sent_at == batch.now)


async def send_manual_reminders(
    session: AsyncSession, *, batch: ReminderBatch, not_since: dt.datetime
) -> int:
    """An officer's by-hand reminder: every target of the run who has not completed and was
    not reminded by hand since ``not_since`` (the start of the local day).  Does not count
    against the automatic reminders.  Returns how many reminders were written."""
    t = targets.c
    changed = await session.execute(
        update(targets)
        .where(
            t.run_id == batch.run_id,
            or_(t.last_manual_at.is_(None), t.last_manual_at < not_since),
            not_completed(batch.per_unit),
        )
        .values(last_manual_at=batch.now)
    )
    if rowcount(changed) == 0:
        return 0
    return await _enqueue_stamped(session, batch, t.last_manual_at == batch.now)


async def reminders_written(
    session: AsyncSession, *, run_id: int, at: dt.datetime
) -> tuple[int, int]:
    """(queued, unreachable): the run's reminders written at ``at`` (one pass or press)."""
    rows = (
        await session.execute(
            select(deliveries.c.status, func.count())
            .where(
                deliveries.c.run_id == run_id,
                deliveries.c.kind == DeliveryKind.REMINDER,
                deliveries.c.created_at == at,
            )
            .group_by(deliveries.c.status)
        )
    ).all()
    by_status = {str(status): int(n) for status, n in rows}
    return by_status.get(DeliveryStatus.QUEUED.value, 0), by_status.get(
        DeliveryStatus.UNREACHABLE.value, 0
    )


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class UnitProgress:
    """A run's targets in one unit: how many there are and how many completed."""

    unit_id: int
    unit_name: str
    targets: int
    done: int


async def progress_by_unit(
    session: AsyncSession, *, run_ids: Sequence[int]
) -> dict[int, list[UnitProgress]]:
    """For each run, its targets and completions per unit (one GROUP BY), by unit name."""
    out: dict[int, list[UnitProgress]] = {rid: [] for rid in run_ids}
    if not run_ids:
        return out
    unit = units.alias("target_unit")
    done = func.coalesce(func.sum(case((completed(runs.c.per_unit), 1), else_=0)), 0)
    stmt = (
        select(targets.c.run_id, unit.c.id, unit.c.name, func.count(), done)
        .select_from(
            targets.join(runs, runs.c.id == targets.c.run_id).join(
                unit, unit.c.id == targets.c.unit_id
            )
        )
        .where(targets.c.run_id.in_(list(run_ids)))
        .group_by(targets.c.run_id, unit.c.id, unit.c.name)
        .order_by(targets.c.run_id, unit.c.name, unit.c.id)
    )
    for run_id, unit_id, name, count, finished in (await session.execute(stmt)).all():
        out[int(run_id)].append(UnitProgress(int(unit_id), str(name), int(count), int(finished)))
    return out


async def pending_by_unit(
    session: AsyncSession,
    *,
    run_id: int,
    per_unit: bool,
    names_per_unit: int | None = None,
    unit_ids: Sequence[int] | None = None,
) -> list[UnitPending]:
    """Who has not completed the run, by unit name then person name in Vietnamese order (one
    query; the names sorted and capped by :func:`storage.notices.group_by_unit`)."""
    unit = units.alias("target_unit")
    stmt = (
        select(unit.c.id, unit.c.name, people.c.full_name)
        .select_from(
            targets.join(people, people.c.id == targets.c.person_id).join(
                unit, unit.c.id == targets.c.unit_id
            )
        )
        .where(targets.c.run_id == run_id, not_completed(per_unit))
        .order_by(unit.c.name, unit.c.id)
    )
    if unit_ids is not None:
        stmt = stmt.where(targets.c.unit_id.in_(list(unit_ids)))
    return group_by_unit((await session.execute(stmt)).all(), names_per_unit)


async def pending_in_subtree(
    session: AsyncSession, *, run_ids: Sequence[int], path: str, limit_per_unit: int
) -> dict[str, list[str]]:
    """The names of the targets of any of ``run_ids`` inside the subtree ``path`` who have
    not completed, keyed by the path of the unit they answer for (at most ``limit_per_unit``
    names each: the first in Vietnamese name order, sorted here rather than in SQL)."""
    if not run_ids:
        return {}
    unit = units.alias("target_unit")
    stmt = (
        select(unit.c.path, people.c.full_name)
        .distinct()
        .select_from(
            targets.join(runs, runs.c.id == targets.c.run_id)
            .join(people, people.c.id == targets.c.person_id)
            .join(unit, unit.c.id == targets.c.unit_id)
        )
        .where(
            targets.c.run_id.in_(list(run_ids)),
            unit.c.path.startswith(path, autoescape=True),
            not_completed(runs.c.per_unit),
        )
    )
    found: dict[str, list[str]] = {}
    for unit_path, name in (await session.execute(stmt)).all():
        found.setdefault(str(unit_path), []).append(str(name))
    return {
        path: sorted(names, key=name_key)[:limit_per_unit] for path, names in sorted(found.items())
    }


@dataclass(frozen=True)
class CampaignRow:
    """A campaign run launched in a scope, with its overall progress."""

    run: CampaignRun
    status: RunStatus
    unit_name: str
    targets: int
    done: int
    units: int
    units_done: int


def _campaign_rows() -> Any:
    """Campaign runs with their scope's name and target/completion counts (by person, and by
    unit for unit-level runs), as one SELECT to narrow down."""
    scope = units.alias("run_scope")
    done_flag = case((completed(runs.c.per_unit), 1), else_=0)
    per_target = (
        select(
            targets.c.run_id.label("run_id"),
            targets.c.unit_id.label("unit_id"),
            done_flag.label("done"),
        )
        .select_from(targets.join(runs, runs.c.id == targets.c.run_id))
        .subquery("per_target")
    )
    per_unit_counts = (
        select(
            per_target.c.run_id,
            per_target.c.unit_id,
            func.count().label("n"),
            func.sum(per_target.c.done).label("d"),
        )
        .group_by(per_target.c.run_id, per_target.c.unit_id)
        .subquery("per_unit_counts")
    )
    totals = (
        select(
            per_unit_counts.c.run_id,
            func.sum(per_unit_counts.c.n).label("targets"),
            func.sum(per_unit_counts.c.d).label("done"),
            func.count().label("units"),
            func.sum(case((per_unit_counts.c.d > 0, 1), else_=0)).label("units_done"),
        )
        .group_by(per_unit_counts.c.run_id)
        .subquery("totals")
    )
    stmt = (
        select(
            *_campaign_columns(),
            runs.c.status,
            scope.c.name.label("scope_name"),
            func.coalesce(totals.c.targets, 0),
            func.coalesce(totals.c.done, 0),
            func.coalesce(totals.c.units, 0),
            func.coalesce(totals.c.units_done, 0),
        )
        .select_from(
            runs.join(definitions, definitions.c.id == runs.c.definition_id)
            .join(scope, scope.c.id == runs.c.unit_id)
            .outerjoin(totals, totals.c.run_id == runs.c.id)
        )
        .where(runs.c.closes_at.is_not(None))
    )
    return stmt, scope


def _campaign_row(row: Any) -> CampaignRow:
    n, d, u, ud = (int(v) for v in tuple(row)[-4:])
    return CampaignRow(_campaign_of(row), RunStatus(row.status), str(row.scope_name), n, d, u, ud)


async def campaigns_in_scope(
    session: AsyncSession, *, path: str, limit: int = 20, include_closed: bool = True
) -> list[CampaignRow]:
    """Campaign runs whose audience unit lies in the subtree ``path``, newest first."""
    stmt, scope = _campaign_rows()
    stmt = (
        stmt.where(scope.c.path.startswith(path, autoescape=True))
        .order_by(runs.c.id.desc())
        .limit(limit)
    )
    if not include_closed:
        stmt = stmt.where(runs.c.status == RunStatus.OPEN)
    return [_campaign_row(row) for row in (await session.execute(stmt)).all()]


async def campaign_row(session: AsyncSession, *, run_id: int) -> CampaignRow | None:
    stmt, _scope = _campaign_rows()
    row = (await session.execute(stmt.where(runs.c.id == run_id))).first()
    return None if row is None else _campaign_row(row)


async def open_campaign_ids_for(
    session: AsyncSession, *, survey_keys: Sequence[str], now: dt.datetime
) -> dict[str, list[int]]:
    """The open campaign runs (already opened at ``now``) of each survey key."""
    out: dict[str, list[int]] = {k: [] for k in survey_keys}
    if not survey_keys:
        return out
    stmt = (
        select(definitions.c.key, runs.c.id)
        .select_from(runs.join(definitions, definitions.c.id == runs.c.definition_id))
        .where(
            runs.c.status == RunStatus.OPEN,
            runs.c.closes_at.is_not(None),
            runs.c.opens_at <= now,
            definitions.c.key.in_(list(survey_keys)),
        )
        .order_by(runs.c.id)
    )
    for key, run_id in (await session.execute(stmt)).all():
        out[str(key)].append(int(run_id))
    return out
