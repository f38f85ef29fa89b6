"""Officers' follow-up of what members reported: hardship and legal cases, welfare sign-ups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.services.actors import Actor
from storage import cases as store
from storage.models import (
    BenefitStatus,
    Case,
    CaseKind,
    CaseStatus,
    Person,
    Unit,
    WelfareBenefit,
    utcnow,
)
from surveys.phone import display_phone

#: The moves an officer may make from each status, by kind of case.  Hardship: reported →
#: visited → supported → closed.  Legal: reported → supported (the union advised or represented
#: the member: P4 counts it) → closed; there is no visit.  A case not supported may be
#: withdrawn (a duplicate report, a request taken back): it then counts nowhere.
NEXT_STATUSES: dict[CaseKind, dict[CaseStatus, tuple[CaseStatus, ...]]] = {
    CaseKind.HARDSHIP: {
        CaseStatus.REPORTED: (CaseStatus.VISITED, CaseStatus.SUPPORTED, CaseStatus.WITHDRAWN),
        CaseStatus.VISITED: (CaseStatus.SUPPORTED, CaseStatus.WITHDRAWN),
        CaseStatus.SUPPORTED: (CaseStatus.CLOSED,),
        CaseStatus.CLOSED: (),
        CaseStatus.WITHDRAWN: (),
    },
    CaseKind.LEGAL: {
        CaseStatus.REPORTED: (CaseStatus.SUPPORTED, CaseStatus.WITHDRAWN),
        CaseStatus.VISITED: (CaseStatus.SUPPORTED, CaseStatus.WITHDRAWN),  # not reached
        CaseStatus.SUPPORTED: (CaseStatus.CLOSED,),
        CaseStatus.CLOSED: (),
        CaseStatus.WITHDRAWN: (),
    },
}


def next_statuses(case: Case) -> tuple[CaseStatus, ...]:
    return NEXT_STATUSES[CaseKind(case.kind)][CaseStatus(case.status)]


@dataclass(frozen=True)
class CaseStep:
    """One change of a case's status: to what, when, by whom (None: the reporter's report)."""

    status: CaseStatus
    at: dt.datetime
    by: str | None


@dataclass(frozen=True)
class CaseItem:
    case: Case
    unit: Unit
    next_statuses: tuple[CaseStatus, ...]
    reporter: str | None = None  # who reported it (None: not known any more)
    subject_phone: str | None = None  # the subject's phone, as the roster or the report gave it
    history: tuple[CaseStep, ...] = ()

    @property
    def for_self(self) -> bool:
        """The reporter reported their own case."""
        return (
            self.case.subject_person_id is not None
            and self.case.subject_person_id == self.case.reported_by
        )


#: How many cases ``/cases`` shows (urgent first, then the newest).
CASES_SHOWN = 20


async def open_cases(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, limit: int = CASES_SHOWN
) -> list[CaseItem]:
    """The open cases of the actor's scope, urgent first, each with who reported it, the
    subject's phone and its history; the urgent ones shown count as opened (no escalation)."""
    if actor.scope is None:
        return []
    rows = await store.cases_in_scope(session, path=actor.scope.path, open_only=True, limit=limit)
    items = await _detailed(session, rows)
    await store.mark_opened(session, case_ids=[i.case.id for i in items if i.case.id], now=now)
    return items


async def _detailed(session: AsyncSession, rows: list[tuple[Case, Unit]]) -> list[CaseItem]:
    """The cases with their reporter, their subject's phone and their history."""
    if not rows:
        return []
    facts = await store.case_facts(session, found=[c for c, _ in rows])
    items: list[CaseItem] = []
    for case, unit in rows:
        phone: str | None = None
        if case.subject_person_id is not None:
            phone = facts.phones.get(case.subject_person_id)
        elif case.response_id is not None:
            phone = facts.typed_phones.get(case.response_id)
        items.append(
            CaseItem(
                case,
                unit,
                next_statuses(case),
                reporter=facts.names.get(case.reported_by) if case.reported_by else None,
                subject_phone=display_phone(phone) if phone else None,
                history=tuple(CaseStep(*step) for step in facts.events.get(case.id or 0, ())),
            )
        )
    return items


class ChangeOutcome(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # already in that status (a double press)
    NOT_ALLOWED = "not_allowed"  # not a move from the current status
    FORBIDDEN = "forbidden"
    GONE = "gone"


async def change_case(
    session: AsyncSession, *, actor: Actor, case_id: int, status: CaseStatus
) -> tuple[ChangeOutcome, CaseItem | None]:
    if not actor.is_officer or actor.person is None:
        return ChangeOutcome.FORBIDDEN, None
    case = await session.get(Case, case_id)
    if case is None:
        return ChangeOutcome.GONE, None
    unit = await session.get(Unit, case.unit_id)
    if unit is None or not actor.can_see(unit):
        return ChangeOutcome.FORBIDDEN, None
    await store.mark_opened(session, case_ids=[case_id], now=utcnow())
    if case.status == status:
        outcome = ChangeOutcome.UNCHANGED
    elif status not in next_statuses(case):
        outcome = ChangeOutcome.NOT_ALLOWED
    else:
        await store.set_case_status(session, case=case, status=status, changed_by=actor.person.id)
        outcome = ChangeOutcome.CHANGED
    (item,) = await _detailed(session, [(case, unit)])
    return outcome, item


@dataclass(frozen=True)
class BenefitItem:
    benefit: WelfareBenefit
    person: Person
    unit: Unit


async def requested_benefits(session: AsyncSession, *, actor: Actor) -> list[BenefitItem]:
    if actor.scope is None:
        return []
    stmt = (
        select(WelfareBenefit, Person, Unit)
        .join(Person, col(Person.id) == col(WelfareBenefit.person_id))
        .join(Unit, col(Unit.id) == col(WelfareBenefit.unit_id))
        .where(col(Unit.path).startswith(actor.scope.path))
        .where(col(WelfareBenefit.status) == BenefitStatus.REQUESTED)
        .order_by(col(WelfareBenefit.created_at), col(WelfareBenefit.id))
        .limit(50)
    )
    return [BenefitItem(b, p, u) for b, p, u in (await session.execute(stmt)).all()]


async def decide_benefit(
    session: AsyncSession, *, actor: Actor, benefit_id: int, confirm: bool
) -> tuple[ChangeOutcome, WelfareBenefit | None]:
    """Confirm that the member received the offer (it then counts for A3a), or cancel it."""
    if not actor.is_officer or actor.person is None:
        return ChangeOutcome.FORBIDDEN, None
    benefit = await session.get(WelfareBenefit, benefit_id)
    if benefit is None:
        return ChangeOutcome.GONE, None
    unit = await session.get(Unit, benefit.unit_id)
    if unit is None or not actor.can_see(unit):
        return ChangeOutcome.FORBIDDEN, None
    target = BenefitStatus.CONFIRMED if confirm else BenefitStatus.CANCELLED
    if benefit.status == target:
        return ChangeOutcome.UNCHANGED, benefit
    if benefit.status != BenefitStatus.REQUESTED:
        return ChangeOutcome.NOT_ALLOWED, benefit
    benefit.status = target
    benefit.confirmed_by = actor.person.id
    benefit.confirmed_at = utcnow()
    await session.flush()
    return ChangeOutcome.CHANGED, benefit
