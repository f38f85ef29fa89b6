"""Hardship and legal cases and welfare benefits created from survey outcomes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import (
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Unit,
    WelfareBenefit,
    utcnow,
)


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
) -> None:
    """Change a case's status and append the change to its history."""
    assert case.id is not None
    session.add(
        CaseEvent(
            case_id=case.id,
            from_status=case.status,
            to_status=status,
            changed_by=changed_by,
            note=note,
        )
    )
    case.status = status
    case.updated_at = utcnow()
    await session.flush()


async def cases_in_scope(
    session: AsyncSession, *, path: str, open_only: bool = True, limit: int = 50
) -> list[tuple[Case, Unit]]:
    stmt = (
        select(Case, Unit)
        .join(Unit, col(Unit.id) == col(Case.unit_id))
        .where(col(Unit.path).startswith(path))
        .order_by(col(Case.urgent).desc(), col(Case.created_at).desc(), col(Case.id).desc())
        .limit(limit)
    )
    if open_only:
        stmt = stmt.where(col(Case.status).not_in([CaseStatus.CLOSED, CaseStatus.WITHDRAWN]))
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


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
