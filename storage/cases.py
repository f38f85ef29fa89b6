"""Hardship and legal cases and welfare benefits created from survey outcomes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from storage.db import rowcount
from storage.models import (
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Unit,
    WelfareBenefit,
    utcnow,
)
from storage.tables import answers, case_events, cases, people


async def create_case(
    session: AsyncSession,
    *,
    kind: CaseKind = CaseKind.HARDSHIP,
    response_id: int | None,
    reported_by: int | None,
    subject_person_id: int | None,
    subject_name: str,
    subject_member: bool,
    subject_union: bool = False,
    unit_id: int,
    category: str,
    description: str,
    period_year: int,
    urgent: bool = False,
) -> Case:
    case = Case(
        urgent=urgent,
        kind=kind,
        response_id=response_id,
        reported_by=reported_by,
        subject_person_id=subject_person_id,
        subject_name=subject_name,
        subject_member=subject_member,
        subject_union=subject_union,
        unit_id=unit_id,
        category=category,
        description=description,
        period_year=period_year,
    )
    session.add(case)
    await session.flush()
    assert case.id is not None
    session.add(CaseEvent(case_id=case.id, to_status=CaseStatus.REPORTED, changed_by=reported_by))
    await session.flush()
    return case


async def set_case_status(
    session: AsyncSession,
    *,
    case: Case,
    status: CaseStatus,
    changed_by: int | None,
    note: str = "",
) -> bool:
    """Change a case's status, if it is still the one read (``case.status``), and append the
    change to its history.  False, with nothing written, when someone changed it first: two
    officers pressing at once both read the old status, and only one move may follow from it
    (the second ``UPDATE`` waits for the first and then matches no row, whatever the
    database)."""
    assert case.id is not None
    before, now = CaseStatus(case.status), utcnow()
    result = await session.execute(
        update(cases)
        .where(cases.c.id == case.id, cases.c.status == before.value)
        .values(status=status.value, updated_at=now)
    )
    if rowcount(result) != 1:
        await session.refresh(case)  # as the one who was first left it
        return False
    session.add(
        CaseEvent(
            case_id=case.id, from_status=before, to_status=status, changed_by=changed_by, note=note
        )
    )
    set_committed_value(case, "status", status)
    set_committed_value(case, "updated_at", now)
    await session.flush()
    return True


def _need_to_know(unit_ids: Sequence[int], escalated_to: int | None) -> ColumnElement[bool]:
    """The cases an officer may see in detail: those of ``unit_ids`` (their body's own unit and
    its tổ), and those passed up to their body ``escalated_to``.

    Never NULL, so that its negation counts every other case: a case whose escalation found
    nobody above (``escalated_at`` set, ``escalated_to_unit_id`` NULL) would make a bare
    ``escalated_to_unit_id = :id`` NULL, and ``NOT NULL`` drops the row from the counts."""
    own = col(Case.unit_id).in_(list(unit_ids))
    if escalated_to is None:
        return own
    passed_up = and_(
        col(Case.escalated_at).is_not(None),
        col(Case.escalated_to_unit_id).is_not(None),
        col(Case.escalated_to_unit_id) == escalated_to,
    )
    return or_(own, passed_up)


async def known_cases(
    session: AsyncSession,
    *,
    path: str,
    unit_ids: Sequence[int],
    escalated_to: int | None,
    limit: int = 50,
) -> list[tuple[Case, Unit]]:
    """The open cases of the subtree at ``path`` an officer may see in detail (see
    :func:`_need_to_know`), urgent first, then the newest."""
    stmt = (
        select(Case, Unit)
        .join(Unit, col(Unit.id) == col(Case.unit_id))
        .where(
            col(Unit.path).startswith(path),
            col(Case.status).not_in([CaseStatus.CLOSED, CaseStatus.WITHDRAWN]),
            _need_to_know(unit_ids, escalated_to),
        )
        .order_by(col(Case.urgent).desc(), col(Case.created_at).desc(), col(Case.id).desc())
        .limit(limit)
    )
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


@dataclass(frozen=True)
class CaseCount:
    """How many open cases of one unit have one status (and urgency): a count, no case."""

    unit_id: int
    unit_path: str
    status: CaseStatus
    urgent: bool
    count: int


async def open_counts(
    session: AsyncSession,
    *,
    path: str,
    unit_ids: Sequence[int],
    escalated_to: int | None,
    known: bool = False,
) -> list[CaseCount]:
    """The open cases of the subtree at ``path`` an officer may NOT see in detail (``known``:
    those they may), counted by unit, status and urgency (one aggregate statement: no case row
    leaves the database)."""
    need_to_know = _need_to_know(unit_ids, escalated_to)
    stmt = (
        select(
            col(Case.unit_id),
            col(Unit.path),
            col(Case.status),
            col(Case.urgent),
            func.count(col(Case.id)),
        )
        .join(Unit, col(Unit.id) == col(Case.unit_id))
        .where(
            col(Unit.path).startswith(path),
            col(Case.status).not_in([CaseStatus.CLOSED, CaseStatus.WITHDRAWN]),
            need_to_know if known else not_(need_to_know),
        )
        .group_by(col(Case.unit_id), col(Unit.path), col(Case.status), col(Case.urgent))
    )
    return [
        CaseCount(int(unit_id), str(unit_path), CaseStatus(status), bool(urgent), int(n))
        for unit_id, unit_path, status, urgent, n in (await session.execute(stmt)).all()
    ]


async def create_benefit(
    session: AsyncSession,
    *,
    response_id: int | None,
    person_id: int,
    unit_id: int,
    offer: str,
    period_year: int,
) -> WelfareBenefit:
    benefit = WelfareBenefit(
        response_id=response_id,
        person_id=person_id,
        unit_id=unit_id,
        offer=offer,
        period_year=period_year,
    )
    session.add(benefit)
    await session.flush()
    return benefit


# -- urgent cases ---------------------------------------------------------------------------


async def urgent_unopened(
    session: AsyncSession, *, reported_before: dt.datetime, limit: int = 200
) -> list[tuple[Case, Unit]]:
    """Urgent cases still as reported, that no officer has opened and nobody above was told
    of, reported before ``reported_before``; oldest first."""
    stmt = (
        select(Case, Unit)
        .join(Unit, col(Unit.id) == col(Case.unit_id))
        .where(
            col(Case.urgent).is_(True),
            col(Case.opened_at).is_(None),
            col(Case.escalated_at).is_(None),
            col(Case.status) == CaseStatus.REPORTED,
            col(Case.created_at) <= reported_before,
        )
        .order_by(col(Case.id))
        .limit(limit)
    )
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def mark_opened(session: AsyncSession, *, case_ids: Sequence[int], now: dt.datetime) -> None:
    """An officer saw these cases (their card in ``/cases``, or a change of status)."""
    if not case_ids:
        return
    await session.execute(
        update(cases)
        .where(cases.c.id.in_(list(case_ids)), cases.c.opened_at.is_(None))
        .values(opened_at=now)
    )


@dataclass(frozen=True)
class CaseFacts:
    """What a case card shows beyond the case row, for several cases at once: people's names
    and roster phones by id, the colleague's phone typed in each report (by response id), and
    each case's status changes (status, when, by whom) in order."""

    names: dict[int, str]
    phones: dict[int, str | None]
    typed_phones: dict[int, str]
    events: dict[int, list[tuple[CaseStatus, dt.datetime, str | None]]]


async def case_facts(session: AsyncSession, *, found: Sequence[Case]) -> CaseFacts:
    """The facts of :class:`CaseFacts` for ``found``, in three statements whatever their number."""
    p, a, e = people.c, answers.c, case_events.c
    ids = [c.id for c in found if c.id is not None]
    people_ids = sorted({i for c in found for i in (c.reported_by, c.subject_person_id) if i})
    rows = (
        await session.execute(select(p.id, p.full_name, p.phone).where(p.id.in_(people_ids)))
    ).all()
    responses = [c.response_id for c in found if c.response_id is not None]
    typed: dict[int, str] = {}
    phone_answers = select(a.response_id, a.value).where(
        a.response_id.in_(responses), a.question_key == "colleague_phone"
    )
    for response_id, value in (await session.execute(phone_answers)).all():
        decoded = json.loads(value)  # "bỏ qua" leaves null
        if isinstance(decoded, str) and decoded:
            typed[int(response_id)] = decoded
    changers = people.alias("changer")
    history = (
        select(e.case_id, e.to_status, e.changed_at, changers.c.full_name)
        .select_from(case_events.outerjoin(changers, changers.c.id == e.changed_by))
        .where(e.case_id.in_(ids))
        .order_by(e.case_id, e.changed_at, e.id)
    )
    events: dict[int, list[tuple[CaseStatus, dt.datetime, str | None]]] = {}
    for case_id, status, at, by in (await session.execute(history)).all():
        events.setdefault(int(case_id), []).append((CaseStatus(status), at, by))
    return CaseFacts(
        names={int(r.id): str(r.full_name) for r in rows},
        phones={int(r.id): r.phone for r in rows},
        typed_phones=typed,
        events=events,
    )


async def untold_about(session: AsyncSession, *, person_id: int) -> list[Case]:
    """The cases someone else reported about ``person_id`` that they were not told of yet
    (a withdrawn report is not told: it is no more)."""
    stmt = (
        select(Case)
        .where(
            col(Case.subject_person_id) == person_id,
            col(Case.subject_told_at).is_(None),
            col(Case.reported_by).is_not(None),
            col(Case.reported_by) != person_id,
            col(Case.status) != CaseStatus.WITHDRAWN,
        )
        .order_by(col(Case.id))
    )
    return list((await session.execute(stmt)).scalars())


async def mark_told(session: AsyncSession, *, case_ids: Sequence[int], at: dt.datetime) -> None:
    """The subject of these cases was told of them."""
    if case_ids:
        await session.execute(
            update(cases).where(cases.c.id.in_(list(case_ids))).values(subject_told_at=at)
        )
