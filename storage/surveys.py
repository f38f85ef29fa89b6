"""Survey definitions, runs, responses and answers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from storage.db import rowcount
from storage.models import (
    Answer,
    Participation,
    Response,
    ResponseState,
    RunStatus,
    SurveyDefinitionRow,
    SurveyRun,
    Unit,
    utcnow,
)
from storage.people import path_ids


async def ensure_definition(
    session: AsyncSession, *, key: str, title: str, checksum: str, body: str
) -> SurveyDefinitionRow:
    """The stored row for a definition text; a changed text becomes a new version."""
    stmt = (
        select(SurveyDefinitionRow)
        .where(col(SurveyDefinitionRow.key) == key)
        .order_by(col(SurveyDefinitionRow.version).desc())
    )
    rows = list((await session.execute(stmt)).scalars())
    for row in rows:
        if row.checksum == checksum:
            return row
    version = (rows[0].version + 1) if rows else 1
    row = SurveyDefinitionRow(key=key, version=version, title=title, checksum=checksum, body=body)
    session.add(row)
    await session.flush()
    return row


async def get_definition(
    session: AsyncSession, *, definition_id: int
) -> SurveyDefinitionRow | None:
    return await session.get(SurveyDefinitionRow, definition_id)


async def create_run(
    session: AsyncSession,
    *,
    definition_id: int,
    unit_id: int,
    launched_by: int | None,
    period_year: int,
    opens_at: dt.datetime | None = None,
    closes_at: dt.datetime | None = None,
    reminder_policy: str | None = None,
    recurrence: str = "none",
    audience: str | None = None,
    per_unit: bool = False,
    period_label: str | None = None,
    series: bool = False,
    series_id: int | None = None,
    run_index: int = 0,
) -> SurveyRun:
    """A new run; ``series=True`` makes it the first run of a new recurring series (its own
    id becomes the series id), ``series_id`` adds it to an existing one."""
    run = SurveyRun(
        definition_id=definition_id,
        unit_id=unit_id,
        launched_by=launched_by,
        period_year=period_year,
        opens_at=opens_at or utcnow(),
        closes_at=closes_at,
        reminder_policy=reminder_policy,
        recurrence=recurrence,
        audience=audience,
        per_unit=per_unit,
        period_label=period_label,
        series_id=series_id,
        run_index=run_index,
    )
    session.add(run)
    await session.flush()
    if series and series_id is None:
        run.series_id = run.id
        await session.flush()
    return run


async def get_run(session: AsyncSession, *, run_id: int) -> SurveyRun | None:
    return await session.get(SurveyRun, run_id)


async def open_run_for(
    session: AsyncSession, *, definition_key: str, unit_id: int, period_year: int
) -> SurveyRun | None:
    """An open run of a definition (any version) launched for exactly this unit and year."""
    stmt = (
        select(SurveyRun)
        .join(SurveyDefinitionRow, col(SurveyDefinitionRow.id) == col(SurveyRun.definition_id))
        .where(col(SurveyDefinitionRow.key) == definition_key)
        .where(col(SurveyRun.unit_id) == unit_id)
        .where(col(SurveyRun.period_year) == period_year)
        .where(col(SurveyRun.status) == RunStatus.OPEN)
        .order_by(col(SurveyRun.id).desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_runs_for_unit_path(
    session: AsyncSession, *, unit_path: str, exclude_keys: tuple[str, ...] = ()
) -> list[tuple[SurveyRun, SurveyDefinitionRow, Unit]]:
    """Open runs whose audience (a unit subtree) contains the unit at ``unit_path``."""
    ancestor_ids = path_ids(unit_path)
    stmt = (
        select(SurveyRun, SurveyDefinitionRow, Unit)
        .join(SurveyDefinitionRow, col(SurveyDefinitionRow.id) == col(SurveyRun.definition_id))
        .join(Unit, col(Unit.id) == col(SurveyRun.unit_id))
        .where(col(SurveyRun.status) == RunStatus.OPEN)
        .where(col(SurveyRun.unit_id).in_(ancestor_ids))
        .order_by(col(SurveyRun.id))
    )
    if exclude_keys:
        stmt = stmt.where(col(SurveyDefinitionRow.key).not_in(exclude_keys))
    return [(r[0], r[1], r[2]) for r in (await session.execute(stmt)).all()]


async def own_responses_on_open_runs(
    session: AsyncSession, *, person_id: int, keys: Collection[str]
) -> list[tuple[str, Response, SurveyRun]]:
    """A person's responses in progress or completed (not abandoned) on the open runs of
    these definitions (any version), with the definition's key and the run, newest first:
    the standing forms a member has started or filed."""
    stmt = (
        select(col(SurveyDefinitionRow.key), Response, SurveyRun)
        .join(SurveyRun, col(SurveyRun.id) == col(Response.run_id))
        .join(SurveyDefinitionRow, col(SurveyDefinitionRow.id) == col(SurveyRun.definition_id))
        .where(col(Response.person_id) == person_id)
        .where(col(Response.state) != ResponseState.ABANDONED)
        .where(col(SurveyRun.status) == RunStatus.OPEN)
        .where(col(SurveyDefinitionRow.key).in_(list(keys)))
        .order_by(col(Response.id).desc())
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(stmt)).all()]


async def response_for(session: AsyncSession, *, run_id: int, person_id: int) -> Response | None:
    stmt = select(Response).where(
        col(Response.run_id) == run_id, col(Response.person_id) == person_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def has_participated(session: AsyncSession, *, run_id: int, person_id: int) -> bool:
    stmt = select(col(Participation.id)).where(
        col(Participation.run_id) == run_id, col(Participation.person_id) == person_id
    )
    return (await session.execute(stmt)).first() is not None


async def start_response(
    session: AsyncSession, *, run_id: int, person_id: int, unit_id: int, is_member: bool
) -> Response:
    response = Response(run_id=run_id, person_id=person_id, unit_id=unit_id, is_member=is_member)
    session.add(response)
    await session.flush()
    return response


async def get_response(session: AsyncSession, *, response_id: int) -> Response | None:
    return await session.get(Response, response_id)


async def load_answers(session: AsyncSession, *, response_id: int) -> dict[str, Any]:
    stmt = select(col(Answer.question_key), col(Answer.value)).where(
        col(Answer.response_id) == response_id
    )
    return {key: json.loads(value) for key, value in (await session.execute(stmt)).all()}


async def save_answer(
    session: AsyncSession,
    *,
    response: Response,
    question_key: str,
    value: Any,
    stored: Collection[str] | None = None,
) -> None:
    """Insert or replace one answer (re-answering after "back" replaces it).

    ``stored``: the keys the response has answers for, when the caller has just read them
    (then a new answer is inserted without looking for an old one)."""
    assert response.id is not None
    encoded = json.dumps(value, ensure_ascii=False)
    now = utcnow()
    # Statements, not ORM objects: the answer row is never read back in this transaction, and
    # the unit of work's flush cost more than the two writes (this runs on every answer).
    replaced = False
    if stored is None or question_key in stored:
        result = await session.execute(
            update(Answer)
            .where(col(Answer.response_id) == response.id)
            .where(col(Answer.question_key) == question_key)
            .values(value=encoded, answered_at=now)
        )
        replaced = rowcount(result) > 0
    if not replaced:
        await session.execute(
            insert(Answer).values(
                response_id=response.id, question_key=question_key, value=encoded, answered_at=now
            )
        )
    await session.execute(
        update(Response).where(col(Response.id) == response.id).values(updated_at=now)
    )
    set_committed_value(response, "updated_at", now)


async def delete_answers(
    session: AsyncSession, *, response_id: int, question_keys: list[str]
) -> None:
    if not question_keys:
        return
    await session.execute(
        delete(Answer)
        .where(col(Answer.response_id) == response_id)
        .where(col(Answer.question_key).in_(question_keys))
    )


async def complete_response(session: AsyncSession, *, response: Response, anonymous: bool) -> None:
    """Mark completed; for an anonymous survey, cut the link to the person."""
    response.state = ResponseState.COMPLETED
    response.completed_at = utcnow()
    response.updated_at = response.completed_at
    response.draft = None
    if anonymous and response.person_id is not None:
        session.add(Participation(run_id=response.run_id, person_id=response.person_id))
        response.person_id = None
    await session.flush()


async def abandon_response(session: AsyncSession, *, response: Response) -> None:
    response.state = ResponseState.ABANDONED
    response.draft = None
    response.updated_at = utcnow()
    await session.flush()


async def reopen_response(session: AsyncSession, *, response: Response) -> None:
    """Start an abandoned response again from the beginning."""
    assert response.id is not None
    await session.execute(delete(Answer).where(col(Answer.response_id) == response.id))
    response.state = ResponseState.IN_PROGRESS
    response.draft = None
    response.started_at = utcnow()
    response.updated_at = response.started_at
    await session.flush()
