"""Everything the database holds about one person (or one chat not linked yet), read for the
right of access (``/dulieu``).

A handful of set-based queries, one per kind of data, each keyed by the person (or their
chats): no query per row.  Rows come back as plain dataclasses; the service
(:mod:`bot.services.personal_data`) turns codes into words and UTC into local time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, case, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Consent, UnitKind
from storage.people import path_ids
from storage.tables import (
    answers,
    benefits,
    cases,
    chats,
    correction_requests,
    definitions,
    deliveries,
    notices,
    participations,
    pending_links,
    people,
    responses,
    runs,
    units,
)

# Not among storage.tables: looked up here.
consents: Table = Consent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PersonRow:
    id: int
    full_name: str
    phone: str | None
    staff_code: str | None
    unit_name: str
    unit_code: str
    is_member: bool
    gender: str
    role: str
    officer_unit_name: str | None
    tags: str
    work_status: str
    left_on: dt.date | None
    consent_withdrawn_at: dt.datetime | None
    created_at: dt.datetime


@dataclass(frozen=True)
class ChatRow:
    id: int
    channel: str
    external_id: str
    stage: str
    stopped: bool
    chosen: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class ConsentRow:
    channel: str
    decision: str
    text_version: str
    decided_at: dt.datetime


@dataclass(frozen=True)
class ResponseRow:
    id: int
    definition_id: int
    title: str
    period_year: int
    period_label: str | None
    state: str
    started_at: dt.datetime
    completed_at: dt.datetime | None


@dataclass(frozen=True)
class AnswerRow:
    response_id: int
    question_key: str
    value: str  # JSON, as stored


@dataclass(frozen=True)
class ParticipationRow:
    title: str
    period_year: int
    period_label: str | None
    completed_at: dt.datetime


@dataclass(frozen=True)
class CaseRow:
    id: int
    kind: str
    category: str
    status: str
    urgent: bool
    reported_by: int | None
    subject_person_id: int | None
    subject_name: str
    subject_union: bool
    description: str
    unit_path: str
    passed_up_to: int | None  # the body an urgent case was passed up to (None: not, or nobody)
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class BenefitRow:
    offer: str
    status: str
    period_year: int
    created_at: dt.datetime
    confirmed_at: dt.datetime | None


@dataclass(frozen=True)
class NoticeRow:
    title: str
    status: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    acknowledged_at: dt.datetime | None


@dataclass(frozen=True)
class CorrectionRow:
    field: str
    old_value: str
    new_value: str
    status: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class LinkRequestRow:
    full_name: str
    phone: str | None
    status: str
    created_at: dt.datetime
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class Held:
    """What is held about one person, row by row."""

    person: PersonRow
    chats: list[ChatRow]
    consents: list[ConsentRow]
    responses: list[ResponseRow]
    answers: list[AnswerRow]
    participations: list[ParticipationRow]
    cases: list[CaseRow]
    bodies: dict[int, tuple[str, str]]  # unit id → (kind, name): bodies above or sharing cases
    benefits: list[BenefitRow]
    notices: list[NoticeRow]
    corrections: list[CorrectionRow]
    link_requests: list[LinkRequestRow]


def _rows(result: Any, cls: type[Any]) -> list[Any]:
    return [cls(**dict(row)) for row in result.mappings().all()]


async def person_row(session: AsyncSession, *, person_id: int) -> PersonRow | None:
    p, u = people.c, units.c
    office = units.alias("office")
    stmt = (
        select(
            p.id,
            p.full_name,
            p.phone,
            p.staff_code,
            u.name.label("unit_name"),
            u.code.label("unit_code"),
            p.is_member,
            p.gender,
            p.role,
            office.c.name.label("officer_unit_name"),
            p.tags,
            p.work_status,
            p.left_on,
            p.consent_withdrawn_at,
            p.created_at,
        )
        .select_from(
            people.join(units, u.id == p.unit_id).outerjoin(
                office, office.c.id == p.officer_unit_id
            )
        )
        .where(p.id == person_id)
    )
    found = _rows(await session.execute(stmt), PersonRow)
    return found[0] if found else None


def _chat_columns() -> list[Any]:
    c = chats.c
    return [
        c.id,
        c.channel,
        c.external_id,
        c.stage,
        c.stopped,
        c.chosen_at.is_not(None).label("chosen"),
        c.created_at,
    ]


async def chat_rows(
    session: AsyncSession, *, person_id: int | None = None, chat_id: int | None = None
) -> list[ChatRow]:
    """The person's chats, or one chat (not linked yet)."""
    c = chats.c
    where = c.person_id == person_id if person_id is not None else c.id == chat_id
    stmt = select(*_chat_columns()).where(where).order_by(c.id)
    return list(_rows(await session.execute(stmt), ChatRow))


async def consent_rows(
    session: AsyncSession, *, person_id: int | None, chats_of: Sequence[ChatRow]
) -> list[ConsentRow]:
    """The decisions on the consent text recorded for the person, or on any of their chats
    (a decision taken before linking names the chat only)."""
    k = consents.c
    keys = [(ch.channel, ch.external_id) for ch in chats_of]
    conditions = []
    if person_id is not None:
        conditions.append(k.person_id == person_id)
    if keys:
        conditions.append(tuple_(k.channel, k.external_id).in_(keys))
    if not conditions:
        return []
    stmt = (
        select(k.channel, k.decision, k.text_version, k.decided_at)
        .where(or_(*conditions))
        .order_by(k.decided_at, k.id)
    )
    return list(_rows(await session.execute(stmt), ConsentRow))


async def link_request_rows(
    session: AsyncSession, *, person_id: int | None, chats_of: Sequence[ChatRow]
) -> list[LinkRequestRow]:
    """Requests to be linked that the person's chats made (what they typed)."""
    pl = pending_links.c
    conditions = []
    if person_id is not None:
        conditions.append(pl.person_id == person_id)
    if chats_of:
        conditions.append(pl.chat_id.in_([ch.id for ch in chats_of]))
    if not conditions:
        return []
    stmt = (
        select(pl.full_name, pl.phone, pl.status, pl.created_at, pl.resolved_at)
        .where(or_(*conditions))
        .order_by(pl.created_at, pl.id)
    )
    return list(_rows(await session.execute(stmt), LinkRequestRow))


async def held_about(session: AsyncSession, *, person_id: int) -> Held | None:
    """Everything held about a roster person, in a dozen queries whatever its size."""
    person = await person_row(session, person_id=person_id)
    if person is None:
        return None
    chat_list = await chat_rows(session, person_id=person_id)
    consent_list = await consent_rows(session, person_id=person_id, chats_of=chat_list)

    r, s, d = responses.c, runs.c, definitions.c
    stmt = (
        select(
            r.id,
            s.definition_id,
            d.title,
            s.period_year,
            s.period_label,
            r.state,
            r.started_at,
            r.completed_at,
        )
        .select_from(
            responses.join(runs, s.id == r.run_id).join(definitions, d.id == s.definition_id)
        )
        .where(r.person_id == person_id)
        .order_by(r.started_at, r.id)
    )
    response_list: list[ResponseRow] = _rows(await session.execute(stmt), ResponseRow)
    answer_list: list[AnswerRow] = []
    if response_list:
        a = answers.c
        stmt = (
            select(a.response_id, a.question_key, a.value)
            .where(a.response_id.in_([x.id for x in response_list]))
            .order_by(a.response_id, a.id)
        )
        answer_list = _rows(await session.execute(stmt), AnswerRow)

    pa = participations.c
    stmt = (
        select(d.title, s.period_year, s.period_label, pa.completed_at)
        .select_from(
            participations.join(runs, s.id == pa.run_id).join(definitions, d.id == s.definition_id)
        )
        .where(pa.person_id == person_id)
        .order_by(pa.completed_at, pa.id)
    )
    participation_list: list[ParticipationRow] = _rows(
        await session.execute(stmt), ParticipationRow
    )

    k, u = cases.c, units.c
    stmt = (
        select(
            k.id,
            k.kind,
            k.category,
            k.status,
            k.urgent,
            k.reported_by,
            k.subject_person_id,
            k.subject_name,
            k.subject_union,
            k.description,
            u.path.label("unit_path"),
            case((k.escalated_at.is_not(None), k.escalated_to_unit_id), else_=None).label(
                "passed_up_to"
            ),
            k.created_at,
            k.updated_at,
        )
        .select_from(cases.join(units, u.id == k.unit_id))
        .where(or_(k.reported_by == person_id, k.subject_person_id == person_id))
        .order_by(k.created_at, k.id)
    )
    case_list: list[CaseRow] = _rows(await session.execute(stmt), CaseRow)
    bodies: dict[int, tuple[str, str]] = {}
    ids = sorted(
        {i for c in case_list for i in path_ids(c.unit_path)}
        | {c.passed_up_to for c in case_list if c.passed_up_to is not None}
    )
    if ids:
        kinds = [UnitKind.GRASSROOTS.value, UnitKind.DISTRICT.value, UnitKind.PROVINCE.value]
        stmt = select(u.id, u.kind, u.name).where(u.id.in_(ids), u.kind.in_(kinds))
        found = (await session.execute(stmt)).all()
        bodies = {int(row[0]): (str(row[1]), str(row[2])) for row in found}

    b = benefits.c
    stmt = (
        select(b.offer, b.status, b.period_year, b.created_at, b.confirmed_at)
        .where(b.person_id == person_id)
        .order_by(b.created_at, b.id)
    )
    benefit_list: list[BenefitRow] = _rows(await session.execute(stmt), BenefitRow)

    dl, n = deliveries.c, notices.c
    stmt = (
        select(n.title, dl.status, dl.created_at, dl.sent_at, dl.acknowledged_at)
        .select_from(deliveries.join(notices, n.id == dl.notice_id))
        .where(and_(dl.person_id == person_id, dl.notice_id.is_not(None)))
        .order_by(dl.created_at, dl.id)
    )
    notice_list: list[NoticeRow] = _rows(await session.execute(stmt), NoticeRow)

    cr = correction_requests.c
    stmt = (
        select(cr.field, cr.old_value, cr.new_value, cr.status, cr.created_at, cr.decided_at)
        .where(cr.person_id == person_id)
        .order_by(cr.created_at, cr.id)
    )
    correction_list: list[CorrectionRow] = _rows(await session.execute(stmt), CorrectionRow)
    link_list = await link_request_rows(session, person_id=person_id, chats_of=chat_list)
    return Held(
        person=person,
        chats=chat_list,
        consents=consent_list,
        responses=response_list,
        answers=answer_list,
        participations=participation_list,
        cases=case_list,
        bodies=bodies,
        benefits=benefit_list,
        notices=notice_list,
        corrections=correction_list,
        link_requests=link_list,
    )
