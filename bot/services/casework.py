"""Officers' follow-up of what members reported: hardship and legal cases, welfare sign-ups.

A case's details (who it is about, their phone, who reported it, what they wrote, its category
and history) are sensitive data, shown on a need-to-know basis: to the officers of the union
body the case belongs to (its CĐCS: the case's unit or the CĐCS above its tổ), and, once an
urgent case was passed up (``escalated_at``), to the officers of the body it was passed up to
(``escalated_to_unit_id``).  Every other officer in scope, admins included, sees counts by
status only.  Each showing of a case's details is a row of the audit trail (``case_viewed``,
who and which case), in the transaction that shows it; each change of status is one too
(``case_status``, from and to).  An officer's body is their office (``officer_unit_id``, else
their own unit), as for the alerts; an officer whose office is a tổ has no case of their own
(a tổ has no officers of its own: its CĐCS's answer for it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.services.actors import Actor
from bot.texts import render
from storage import audit, outbox, people
from storage import cases as store
from storage.campaigns import linked_chats
from storage.models import (
    AuditAction,
    BenefitStatus,
    Case,
    CaseKind,
    CaseStatus,
    DeliveryKind,
    Person,
    Unit,
    UnitKind,
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
    """The buttons of a case's card: the moves :data:`NEXT_STATUSES` allows from where it is."""
    return NEXT_STATUSES[CaseKind(case.kind)][CaseStatus(case.status)]


@dataclass(frozen=True)
class CaseStep:
    """One change of a case's status: to what, when, by whom (None: the reporter's report)."""

    status: CaseStatus
    at: dt.datetime
    by: str | None


@dataclass(frozen=True)
class CaseItem:
    """A case as its card shows it.  Only a view of the details (:func:`open_cases`, a change
    of status) fills in the reporter, the phone and the history, and only such a view is
    audited; an item without them names the case alone."""

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

#: The units that are union bodies (with officers of their own); a tổ's is its CĐCS.
BODIES = (UnitKind.GRASSROOTS, UnitKind.DISTRICT, UnitKind.PROVINCE)


@dataclass(frozen=True)
class Access:
    """Which cases an officer may see in detail: those of ``unit_ids`` (the units their body
    answers for directly: itself and its tổ) and those passed up to their body ``office_id``."""

    office_id: int | None
    unit_ids: frozenset[int]

    def may_see(self, case: Case) -> bool:
        if case.unit_id in self.unit_ids:
            return True
        return (
            self.office_id is not None
            and case.escalated_at is not None
            and case.escalated_to_unit_id == self.office_id
        )


NO_ACCESS = Access(None, frozenset())


def _body_of(path: str, bodies: set[int]) -> int | None:
    """The nearest union body at or above the unit at ``path`` among ``bodies``."""
    return next((i for i in reversed(people.path_ids(path)) if i in bodies), None)


def _office_id(actor: Actor) -> int | None:
    """The unit of an officer's or admin's office (as for the alerts); None for a member."""
    if not actor.is_officer or actor.person is None:
        return None
    return actor.person.officer_unit_id or actor.person.unit_id


async def may_see(session: AsyncSession, *, actor: Actor, case: Case, unit: Unit) -> bool:
    """Whether ``actor`` may see the details of ``case`` (at ``unit``): the same rule as
    :func:`access_of`, for one case (the body nearest the case's unit is the actor's office,
    or the case was passed up to it)."""
    office_id = _office_id(actor)
    if office_id is None:
        return False
    if case.escalated_at is not None and case.escalated_to_unit_id == office_id:
        return True
    chain = await people.union_bodies_above(session, unit=unit)
    return bool(chain) and chain[0].id == office_id


async def access_of(session: AsyncSession, *, actor: Actor) -> Access:
    """What ``actor`` may see in detail: nothing for a member; for an officer or admin, the
    cases of the body of their office and those passed up to it."""
    office_id = _office_id(actor)
    if office_id is None:
        return NO_ACCESS
    office = await people.get_unit(session, unit_id=office_id)
    if office is None or office.id is None:
        return NO_ACCESS
    if office.kind not in BODIES:
        return Access(office.id, frozenset())
    units = await people.units_in_subtree(session, path=office.path)
    bodies = {u.id for u in units if u.kind in BODIES and u.id is not None}
    own = frozenset(
        u.id for u in units if u.id is not None and _body_of(u.path, bodies) == office.id
    )
    return Access(office.id, own)


@dataclass(frozen=True)
class BodyCount:
    """The open cases of one union body (a CĐCS, or a body above for its own cases) that the
    viewer may not see in detail: counts by status, and how many are urgent."""

    unit: Unit
    by_status: dict[CaseStatus, int]
    urgent: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class CasesView:
    """What ``/cases`` shows an officer: the cases they may see in detail (each showing is
    audited), how many more of those there are beyond the ones shown (``more``), and the other
    open cases of their scope as counts by body and status."""

    items: list[CaseItem]
    counts: list[BodyCount]
    more: int = 0

    @property
    def counted(self) -> int:
        return sum(c.total for c in self.counts)

    @property
    def urgent_counted(self) -> int:
        return sum(c.urgent for c in self.counts)


async def open_cases(
    session: AsyncSession,
    *,
    actor: Actor,
    now: dt.datetime,
    limit: int = CASES_SHOWN,
    via: audit.Via = "chat",
) -> CasesView:
    """The open cases of the actor's scope: in detail those they may see, the first ``limit``
    (urgent first, each with who reported it, the subject's phone and its history; recorded
    as viewed and counted as opened, so no escalation) and how many more there are; the rest
    as counts by CĐCS and status (not opened)."""
    if actor.scope is None or actor.person is None:
        return CasesView([], [])
    access = await access_of(session, actor=actor)
    unit_ids = sorted(access.unit_ids)
    rows = await store.known_cases(
        session,
        path=actor.scope.path,
        unit_ids=unit_ids,
        escalated_to=access.office_id,
        limit=limit,
    )
    items = await _detailed(session, rows)
    await _viewed(session, actor=actor, found=[i.case for i in items], now=now, via=via)
    counts = await _counts(
        session, path=actor.scope.path, unit_ids=unit_ids, escalated_to=access.office_id
    )
    more = 0
    if len(rows) == limit:  # perhaps more than shown: say how many, so that no count lies
        known = await store.open_counts(
            session,
            path=actor.scope.path,
            unit_ids=unit_ids,
            escalated_to=access.office_id,
            known=True,
        )
        more = sum(c.count for c in known) - len(rows)
    return CasesView(items, counts, more)


async def _viewed(
    session: AsyncSession,
    *,
    actor: Actor,
    found: Sequence[Case],
    now: dt.datetime,
    via: audit.Via = "chat",
) -> None:
    """``actor`` was shown the details of ``found``: one ``case_viewed`` row each (naming the
    subject, so that ``congdoan audit --person`` finds who read about them), and each counts
    as opened, which is what stops an urgent case's escalation."""
    ids = [c.id for c in found if c.id is not None]
    await store.mark_opened(session, case_ids=ids, now=now)
    await audit.record_many(
        session,
        AuditAction.CASE_VIEWED,
        via=via,
        actor_id=actor.person.id if actor.person is not None else None,
        case_ids=ids,
        subjects={c.id: c.subject_person_id for c in found if c.id is not None},
        at=now,
    )


async def _counts(
    session: AsyncSession, *, path: str, unit_ids: list[int], escalated_to: int | None
) -> list[BodyCount]:
    """The open cases under ``path`` outside the viewer's need to know, by body (in tree
    order) and status."""
    found = await store.open_counts(
        session, path=path, unit_ids=unit_ids, escalated_to=escalated_to
    )
    if not found:
        return []
    above = {i for row in found for i in people.path_ids(row.unit_path)}
    stmt = select(Unit).where(col(Unit.id).in_(sorted(above)), col(Unit.kind).in_(BODIES))
    bodies = {u.id: u for u in (await session.execute(stmt)).scalars() if u.id is not None}
    by_body: dict[int, tuple[dict[CaseStatus, int], list[int]]] = {}
    for row in found:
        body = _body_of(row.unit_path, set(bodies))
        if body is None:
            continue  # a unit outside the union tree: not reached (every unit is under one)
        statuses, urgent = by_body.setdefault(body, ({}, [0]))
        statuses[row.status] = statuses.get(row.status, 0) + row.count
        urgent[0] += row.count if row.urgent else 0
    order = list(CaseStatus)
    return [
        BodyCount(
            bodies[body],
            dict(sorted(statuses.items(), key=lambda kv: order.index(kv[0]))),
            urgent[0],
        )
        for body, (statuses, urgent) in sorted(by_body.items(), key=lambda kv: bodies[kv[0]].path)
    ]


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
    session: AsyncSession,
    *,
    actor: Actor,
    case_id: int,
    status: CaseStatus,
    via: audit.Via = "chat",
) -> tuple[ChangeOutcome, CaseItem | None]:
    """Move a case to ``status``: only for an officer who may see its details.  A change is
    recorded in the case's history and the audit trail (``case_status``, from and to), and
    the refreshed card the officer is shown then is a view of the details (``case_viewed``).
    Any other outcome shows nothing of the case but its number and kind: its item carries no
    details (no reporter, phone or history), and leaves no view in the trail."""
    if not actor.is_officer or actor.person is None:
        return ChangeOutcome.FORBIDDEN, None
    case = await session.get(Case, case_id)
    if case is None:
        return ChangeOutcome.GONE, None
    unit = await session.get(Unit, case.unit_id)
    if unit is None or not actor.can_see(unit):
        return ChangeOutcome.FORBIDDEN, None
    if not await may_see(session, actor=actor, case=case, unit=unit):
        return ChangeOutcome.FORBIDDEN, None
    now = utcnow()
    # A press on the card's buttons: the officer has it before them (the escalation stops).
    await store.mark_opened(session, case_ids=[case_id], now=now)
    if case.status == status:
        return ChangeOutcome.UNCHANGED, CaseItem(case, unit, next_statuses(case))
    if status not in next_statuses(case):
        return ChangeOutcome.NOT_ALLOWED, CaseItem(case, unit, next_statuses(case))
    before = CaseStatus(case.status)
    if not await store.set_case_status(
        session, case=case, status=status, changed_by=actor.person.id
    ):
        # Another officer's press came first: the case is as they left it.
        same = case.status == status
        outcome = ChangeOutcome.UNCHANGED if same else ChangeOutcome.NOT_ALLOWED
        return outcome, CaseItem(case, unit, next_statuses(case))
    await audit.record(
        session,
        AuditAction.CASE_STATUS,
        via=via,
        actor_id=actor.person.id,
        person_id=case.subject_person_id,
        case_id=case_id,
        unit_id=case.unit_id,
        detail={"from": before.value, "to": status.value},
    )
    (item,) = await _detailed(session, [(case, unit)])
    await _viewed(session, actor=actor, found=[case], now=now, via=via)  # the refreshed card
    return ChangeOutcome.CHANGED, item


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


async def tell_subjects(session: AsyncSession, *, person_id: int) -> int:
    """Tell the person, on the chat written to them, of each case someone else reported about
    them and they were not told of yet: that it exists and who reads it (the officers of its
    CĐCS, and of the level it may be passed up to), never what it says nor who made it.  Once
    per case (``cases.subject_told_at``), so it is called both when a case is reported about
    someone linked and when a person links.  Returns how many messages were queued; none while
    they have no chat (they are told when they link)."""
    found = await store.untold_about(session, person_id=person_id)
    if not found:
        return 0
    chat = (await linked_chats(session, person_ids=[person_id])).get(person_id)
    if chat is None:
        return 0
    rows = []
    for case in found:
        unit = await people.get_unit(session, unit_id=case.unit_id)
        above = await people.union_bodies_above(session, unit=unit) if unit else []
        cdcs = next((b.name for b in above if b.kind == UnitKind.GRASSROOTS), "")
        text = render("member/case_concerns_you.txt", chat.locale, kind=case.kind, cdcs=cdcs)
        rows.append(
            {
                "kind": DeliveryKind.MESSAGE,
                "person_id": person_id,
                "chat_id": chat.chat_id,
                "channel": chat.channel,
                "external_id": chat.external_id,
                "text": text,
            }
        )
    written = await outbox.enqueue(session, rows=rows)
    await store.mark_told(session, case_ids=[c.id for c in found if c.id is not None], at=utcnow())
    return written
