"""The right of correction: a member asks to correct their name, phone or unit; an officer of
their CĐCS (or above) confirms or rejects it with one press; the member is told.

The conversation is kept in the request itself: choosing a field writes a request with no
value yet (:mod:`storage.corrections`), and the member's next text, within
:data:`WAIT`, is its value.  A survey answered since then, ``/cancel`` or the "Hủy" button
ends the wait.  Once it has its value the request is complete: the officers of the member's
CĐCS are told through the outbox (the district's when none of them can be written to, as for
other new work) and decide it in ``/corrections``.

Phone numbers are checked against the roster when the officer confirms, not when the member
asks: telling a member "this number belongs to someone else" would let anyone probe whose
number is in the roster.  The officer sees the clash and rejects the request.

The audit trail records that a request was made and decided, with its field and outcome only
(never the values).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.actors import Actor, find_unit
from bot.texts import render
from storage import audit, outbox, people
from storage import corrections as store
from storage.models import (
    AuditAction,
    CorrectionRequest,
    CorrectionStatus,
    DeliveryKind,
    Person,
    Response,
    Unit,
    UnitKind,
    utcnow,
)
from surveys.phone import display_phone, normalize_phone

#: How long a chosen field waits for the member to type its value.
WAIT = dt.timedelta(minutes=15)
#: A name as the roster keeps it: at least two words, no digits, at most this long.
NAME_MAX = 120
#: How many requests ``/corrections`` shows at a time (the oldest first).
SHOWN = 20


class Field(StrEnum):
    FULL_NAME = "full_name"
    PHONE = "phone"
    UNIT = "unit"


def shown(field: str, value: str) -> str:
    """A stored value as people read it (a phone in its national form)."""
    if field == Field.PHONE and value:
        return display_phone(value)
    return value


async def deciding_body(session: AsyncSession, *, unit: Unit) -> Unit:
    """The union body whose officers decide a member's request: their CĐCS (the nearest body
    above their unit; the unit itself for someone of a district or the province)."""
    chain = await people.union_bodies_above(session, unit=unit)
    return chain[0] if chain else unit


async def _district(session: AsyncSession, *, unit: Unit) -> Unit:
    """Where a new unit is looked for: the district of the member's unit (the province for
    someone of the province's own office)."""
    chain = await people.union_bodies_above(session, unit=unit)
    for body in chain:
        if body.kind in (UnitKind.DISTRICT, UnitKind.PROVINCE):
            return body
    return chain[-1] if chain else unit


def _current(actor: Actor, field: Field) -> str:
    assert actor.person is not None
    if field == Field.FULL_NAME:
        return actor.person.full_name
    if field == Field.PHONE:
        return actor.person.phone or ""
    return actor.unit.name if actor.unit is not None else ""


@dataclass(frozen=True)
class Ask:
    """What the member is asked to type: the field, its value now, and for a unit the
    district the new one is looked for in."""

    field: Field
    current: str
    district: Unit | None = None


async def choose(session: AsyncSession, *, actor: Actor, field: Field) -> Ask:
    """The member chose the field to correct: wait for its value (any earlier wait ends)."""
    assert actor.person is not None and actor.person.id is not None and actor.unit is not None
    await store.drop_waiting(session, person_id=actor.person.id)
    body = await deciding_body(session, unit=actor.unit)
    assert body.id is not None
    await store.add(
        session,
        person_id=actor.person.id,
        field=field.value,
        old_value=_current(actor, field),
        unit_id=body.id,
    )
    district = await _district(session, unit=actor.unit) if field == Field.UNIT else None
    return Ask(field, shown(field, _current(actor, field)), district)


async def cancel(session: AsyncSession, *, actor: Actor) -> bool:
    """Stop waiting for a value; False when nothing was waiting."""
    if actor.person is None or actor.person.id is None:
        return False
    return await store.drop_waiting(session, person_id=actor.person.id) > 0


class ValueOutcome(StrEnum):
    SENT = "sent"
    BAD_NAME = "bad_name"
    BAD_PHONE = "bad_phone"
    UNIT_NOT_FOUND = "unit_not_found"
    SAME = "same"  # the value is already the roster's


@dataclass(frozen=True)
class ValueResult:
    outcome: ValueOutcome
    field: Field
    old: str = ""  # as shown
    new: str = ""  # as shown
    body: Unit | None = None  # who decides
    told: int = 0  # how many officers were written to


async def waiting(
    session: AsyncSession, *, actor: Actor, now: dt.datetime
) -> CorrectionRequest | None:
    """The member's request waiting for the text they just typed, or None: the text is for
    someone else (a survey, onboarding).  A wait older than :data:`WAIT`, or one a survey
    answered since has overtaken, is forgotten."""
    if not actor.linked or actor.person is None or actor.person.id is None:
        return None
    request = await store.waiting_for(session, person_id=actor.person.id)
    if request is None:
        return None
    expired = now - request.created_at > WAIT
    overtaken = False
    if not expired and actor.chat.active_response_id is not None:
        response = await session.get(Response, actor.chat.active_response_id)
        overtaken = response is not None and response.updated_at > request.created_at
    if expired or overtaken:
        await store.drop_waiting(session, person_id=actor.person.id)
        return None
    return request


async def take_value(
    session: AsyncSession, *, actor: Actor, request: CorrectionRequest, text: str
) -> ValueResult:
    """The member typed the value of ``request``: check it, complete the request and tell the
    officers who decide it.  A value refused leaves the request waiting for another try."""
    assert actor.person is not None and actor.unit is not None
    field = Field(request.field)
    typed = " ".join(text.split())
    if field == Field.FULL_NAME:
        if (
            len(typed.split()) < 2
            or len(typed) > NAME_MAX
            or any(ch.isdigit() for ch in typed)
            or typed.startswith("/")
        ):
            return ValueResult(ValueOutcome.BAD_NAME, field)
        request.new_value = typed
    elif field == Field.PHONE:
        phone = normalize_phone(typed)
        if phone is None:
            return ValueResult(ValueOutcome.BAD_PHONE, field)
        request.new_value = phone
    else:
        district = await _district(session, unit=actor.unit)
        unit = await find_unit(session, text=typed, within_path=district.path)
        if unit is None:
            return ValueResult(ValueOutcome.UNIT_NOT_FOUND, field, new=typed)
        request.new_value = unit.name
        request.new_unit_id = unit.id
    if (field == Field.UNIT and request.new_unit_id == actor.person.unit_id) or (
        field != Field.UNIT and request.new_value == _current(actor, field)
    ):
        request.new_value, request.new_unit_id = "", None
        return ValueResult(ValueOutcome.SAME, field, new=shown(field, _current(actor, field)))
    request.created_at = utcnow()  # asked when complete (the officers' list is by this)
    await session.flush()
    await _record(session, AuditAction.CORRECTION_REQUESTED, actor=actor, request=request)
    body = await people.get_unit(session, unit_id=request.unit_id)
    assert body is not None
    told = await _tell_officers(session, actor=actor, request=request, body=body)
    return ValueResult(
        ValueOutcome.SENT,
        field,
        old=shown(field, request.old_value),
        new=shown(field, request.new_value),
        body=body,
        told=told,
    )


async def _tell_officers(
    session: AsyncSession, *, actor: Actor, request: CorrectionRequest, body: Unit
) -> int:
    """Queue the news of a new request to the officers of ``body`` (the next body up when
    none of them can be written to); the member is never told of their own request as an
    officer."""
    assert actor.person is not None
    chain = await people.union_bodies_above(session, unit=body) or [body]
    officers: list[people.Officer] = []
    reachable = await people.reachable_officers(
        session, unit_ids=[u.id for u in chain if u.id is not None]
    )
    for unit in chain:
        officers = [o for o in reachable.get(unit.id or 0, []) if o.person_id != actor.person.id]
        if officers:
            break
    rows = [
        {
            "kind": DeliveryKind.MESSAGE,
            "person_id": o.person_id,
            "chat_id": o.chat_id,
            "channel": o.channel,
            "external_id": o.external_id,
            "text": render(
                "officer/correction_request.txt",
                o.locale,
                id=request.id,
                person=actor.person,
                unit=actor.unit,
                field=request.field,
                old=shown(request.field, request.old_value),
                new=shown(request.field, request.new_value),
            ),
        }
        for o in officers
    ]
    return await outbox.enqueue(session, rows=rows)


@dataclass(frozen=True)
class Item:
    """A request in an officer's list."""

    id: int
    person: Person
    unit: Unit
    body: Unit
    field: str
    old: str
    new: str
    asked_at: dt.datetime


async def pending_for(session: AsyncSession, *, actor: Actor, tz: dt.tzinfo) -> list[Item]:
    """The requests an officer may decide: those of the bodies in their scope."""
    if not actor.is_officer or actor.scope is None:
        return []
    path = "/" if actor.is_admin else actor.scope.path
    found = await store.pending_in_scope(session, path=path, limit=SHOWN)
    return [
        Item(
            id=p.request.id or 0,
            person=p.person,
            unit=p.unit,
            body=p.body,
            field=p.request.field,
            old=shown(p.request.field, p.request.old_value),
            new=shown(p.request.field, p.request.new_value),
            asked_at=p.request.created_at.astimezone(tz),
        )
        for p in found
    ]


class DecideOutcome(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    GONE = "gone"  # decided already (a second press), or no such request
    FORBIDDEN = "forbidden"  # not an officer of the request's CĐCS or above
    OWN = "own"  # an officer's own request: someone else decides it
    PHONE_TAKEN = "phone_taken"  # the new number is another person's in the roster
    UNIT_GONE = "unit_gone"  # the new unit was removed from the roster since


@dataclass(frozen=True)
class Decision:
    outcome: DecideOutcome
    field: str = ""
    person: Person | None = None
    new: str = ""


async def decide(
    session: AsyncSession, *, actor: Actor, request_id: int, confirm: bool
) -> Decision:
    """An officer's press: apply the correction (confirm) or not (reject), record who and
    when, and tell the member through the outbox.  Every refusal changes nothing."""
    if not actor.is_officer or actor.person is None or actor.person.id is None:
        return Decision(DecideOutcome.FORBIDDEN)
    request = await session.get(CorrectionRequest, request_id)
    if (
        request is None
        or request.status != CorrectionStatus.PENDING
        or (request.new_value == "" and request.new_unit_id is None)
    ):
        return Decision(DecideOutcome.GONE)
    body = await people.get_unit(session, unit_id=request.unit_id)
    if body is None or not actor.can_see(body):
        return Decision(DecideOutcome.FORBIDDEN)
    if request.person_id == actor.person.id:
        return Decision(DecideOutcome.OWN)
    person = await session.get(Person, request.person_id)
    if person is None or person.erased_at is not None:
        # Erased meanwhile: nothing of theirs is written back (the erasure rejected the
        # request; this holds should it not have).
        return Decision(DecideOutcome.GONE)
    field, new = request.field, shown(request.field, request.new_value)
    if confirm:
        if field == Field.PHONE:
            holder = await people.person_by_phone(session, phone=request.new_value)
            if holder is not None and holder.id != person.id:
                return Decision(DecideOutcome.PHONE_TAKEN, field, person, new)
        unit: Unit | None = None
        if field == Field.UNIT:
            unit = (
                await people.get_unit(session, unit_id=request.new_unit_id)
                if request.new_unit_id is not None
                else None
            )
            if unit is None:
                return Decision(DecideOutcome.UNIT_GONE, field, person, new)
    status = CorrectionStatus.CONFIRMED if confirm else CorrectionStatus.REJECTED
    if not await store.decide(
        session, request_id=request_id, status=status, decided_by=actor.person.id
    ):
        return Decision(DecideOutcome.GONE)
    if confirm:
        if field == Field.FULL_NAME:
            person.full_name = request.new_value
        elif field == Field.PHONE:
            person.phone = request.new_value
        elif unit is not None and unit.id is not None:
            person.unit_id = unit.id
        person.updated_at = utcnow()
    await session.flush()
    await _record(
        session, AuditAction.CORRECTION_DECIDED, actor=actor, request=request, status=status
    )
    await _tell_member(session, person=person, field=field, new=new, confirmed=confirm)
    outcome = DecideOutcome.CONFIRMED if confirm else DecideOutcome.REJECTED
    return Decision(outcome, field, person, new)


async def _record(
    session: AsyncSession,
    action: AuditAction,
    *,
    actor: Actor,
    request: CorrectionRequest,
    status: CorrectionStatus | None = None,
) -> None:
    """A request's row in the audit trail, about the member whose data it corrects: its field,
    its id and, once decided, how; never the values (they are the member's data)."""
    detail: dict[str, str | int | None] = {"field": request.field, "request": request.id}
    if status is not None:
        detail["status"] = status.value
    await audit.record(
        session,
        action,
        via="chat",
        actor_id=actor.person.id if actor.person is not None else None,
        person_id=request.person_id,
        unit_id=request.unit_id,
        detail=detail,
    )


async def _tell_member(
    session: AsyncSession, *, person: Person, field: str, new: str, confirmed: bool
) -> int:
    assert person.id is not None
    chat = await store.chat_of(session, person_id=person.id)
    if chat is None:  # no chat left to tell (unlinked since): the roster shows the result
        return 0
    row = {
        "kind": DeliveryKind.MESSAGE,
        "person_id": person.id,
        "chat_id": chat.id,
        "channel": chat.channel,
        "external_id": chat.external_id,
        "text": render(
            "member/correction_decided.txt",
            chat.locale,
            field=field,
            new=new,
            confirmed=confirmed,
        ),
    }
    return await outbox.enqueue(session, rows=[row])
