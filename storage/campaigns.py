"""Campaigns: open runs with a deadline, who has not completed them, and reminder states.

Who still owes an answer is ONE select for any number of runs: the people of each run's unit
subtree (the materialized path), minus those with a completed response or a participation row
(anonymous runs), each with their newest linked chat on the channel and their reminder state
LEFT JOINed.  Reminder states are written in bulk (an upsert on (run, person)).  Functions are
keyword-only after the session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.models import Channel, ChatStage, ResponseState, RunStatus

_tables = SQLModel.metadata.tables
units: Table = _tables["units"]
people: Table = _tables["people"]
chats: Table = _tables["chat_identities"]
runs: Table = _tables["survey_runs"]
definitions: Table = _tables["survey_definitions"]
responses: Table = _tables["responses"]
participations: Table = _tables["participations"]
states: Table = _tables["reminder_states"]

CHUNK = 2000


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


@dataclass(frozen=True)
class CampaignRun:
    """An open run with a closing time, as the reminder pass needs it."""

    run_id: int
    title: str
    unit_id: int
    opens_at: dt.datetime
    closes_at: dt.datetime
    reminder_policy: str | None  # JSON; None: the default policy
    recurrence: str


@dataclass(frozen=True)
class Pending:
    """One person who has not completed a run, their chat (if linked) and reminder state."""

    run_id: int
    person_id: int
    chat_id: int | None
    external_id: str | None
    locale: str | None
    sent_count: int
    last_sent_at: dt.datetime | None
    last_manual_at: dt.datetime | None


async def close_expired_runs(session: AsyncSession, *, now: dt.datetime) -> int:
    """Close every open run whose closing time is at or before ``now``; how many were."""
    result = await session.execute(
        update(runs)
        .where(
            runs.c.status == RunStatus.OPEN,
            runs.c.closes_at.is_not(None),
            runs.c.closes_at <= now,
        )
        .values(status=RunStatus.CLOSED)
    )
    return max(getattr(result, "rowcount", 0) or 0, 0)


async def open_runs_with_deadline(session: AsyncSession) -> list[CampaignRun]:
    """Every open run with a closing time, with its survey's title, by run id."""
    stmt = (
        select(
            runs.c.id,
            definitions.c.title,
            runs.c.unit_id,
            runs.c.opens_at,
            runs.c.closes_at,
            runs.c.reminder_policy,
            runs.c.recurrence,
        )
        .select_from(runs.join(definitions, definitions.c.id == runs.c.definition_id))
        .where(runs.c.status == RunStatus.OPEN, runs.c.closes_at.is_not(None))
        .order_by(runs.c.id)
    )
    out: list[CampaignRun] = []
    for row in (await session.execute(stmt)).all():
        opens_at, closes_at = row.opens_at, row.closes_at
        assert opens_at is not None and closes_at is not None
        out.append(
            CampaignRun(
                run_id=int(row.id),
                title=str(row.title),
                unit_id=int(row.unit_id),
                opens_at=opens_at,
                closes_at=closes_at,
                reminder_policy=row.reminder_policy,
                recurrence=str(row.recurrence),
            )
        )
    return out


async def pending_people(
    session: AsyncSession,
    *,
    run_ids: Sequence[int],
    channel: Channel = Channel.TELEGRAM,
) -> list[Pending]:
    """The people of each run's audience (its unit subtree) who have not completed it: no
    completed response and no participation row.  One query for all the runs, ordered by run
    and person."""
    if not run_ids:
        return []
    run_unit = units.alias("run_unit")
    person_unit = units.alias("person_unit")
    linked = chats.alias("linked_chat")
    latest = (
        select(linked.c.person_id, func.max(linked.c.id).label("chat_id"))
        .where(
            linked.c.channel == channel,
            linked.c.stage == ChatStage.LINKED,
            linked.c.person_id.is_not(None),
        )
        .group_by(linked.c.person_id)
        .subquery("latest_chat")
    )
    completed = exists().where(
        responses.c.run_id == runs.c.id,
        responses.c.person_id == people.c.id,
        responses.c.state == ResponseState.COMPLETED,
    )
    participated = exists().where(
        participations.c.run_id == runs.c.id,
        participations.c.person_id == people.c.id,
    )
    source: Any = (
        runs.join(run_unit, run_unit.c.id == runs.c.unit_id)
        .join(person_unit, person_unit.c.path.startswith(run_unit.c.path))
        .join(people, people.c.unit_id == person_unit.c.id)
        .outerjoin(latest, latest.c.person_id == people.c.id)
        .outerjoin(chats, chats.c.id == latest.c.chat_id)
        .outerjoin(
            states,
            (states.c.run_id == runs.c.id) & (states.c.person_id == people.c.id),
        )
    )
    stmt = (
        select(
            runs.c.id.label("run_id"),
            people.c.id.label("person_id"),
            chats.c.id.label("chat_id"),
            chats.c.external_id,
            chats.c.locale,
            states.c.sent_count,
            states.c.last_sent_at,
            states.c.last_manual_at,
        )
        .select_from(source)
        .where(runs.c.id.in_(list(run_ids)), ~completed, ~participated)
        .order_by(runs.c.id, people.c.id)
    )
    return [
        Pending(
            run_id=int(row.run_id),
            person_id=int(row.person_id),
            chat_id=row.chat_id,
            external_id=row.external_id,
            locale=row.locale,
            sent_count=int(row.sent_count or 0),
            last_sent_at=row.last_sent_at,
            last_manual_at=row.last_manual_at,
        )
        for row in (await session.execute(stmt)).all()
    ]


async def record_reminders_sent(
    session: AsyncSession, *, sent: Sequence[tuple[int, int]], at: dt.datetime
) -> None:
    """Count one automatic reminder sent at ``at`` for each (run_id, person_id): insert the
    state with ``sent_count = 1``, or add one to an existing state (one upsert per chunk)."""
    if not sent:
        return
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    values = [
        {"run_id": run_id, "person_id": person_id, "sent_count": 1, "last_sent_at": at}
        for run_id, person_id in sent
    ]
    for start in range(0, len(values), CHUNK):
        stmt = insert(states).values(values[start : start + CHUNK])
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "person_id"],
            set_={
                "sent_count": states.c.sent_count + 1,
                "last_sent_at": stmt.excluded.last_sent_at,
            },
        )
        await session.execute(stmt)


async def reminder_state(
    session: AsyncSession, *, run_id: int, person_id: int
) -> tuple[int, dt.datetime | None, dt.datetime | None] | None:
    """(sent_count, last_sent_at, last_manual_at) of one person in one run, or None."""
    row = (
        await session.execute(
            select(states.c.sent_count, states.c.last_sent_at, states.c.last_manual_at).where(
                states.c.run_id == run_id, states.c.person_id == person_id
            )
        )
    ).first()
    if row is None:
        return None
    return int(row.sent_count), row.last_sent_at, row.last_manual_at
