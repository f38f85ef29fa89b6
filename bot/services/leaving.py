"""Officers record who left the sector (retired, moved out) and who came back: ``/left``.

``/left PHONE STATUS [dd/mm/yyyy]`` is checked first (:func:`check_leave`: the person, the
officer's scope, the date) and written only once the officer confirms (:func:`apply_leave`,
which checks everything again: the confirmation's button comes back from the client).

A person who left drops out of every indicator of the year they left and later; their facts of
earlier years stay there (``storage/indicators.py``).  Nothing else is recorded.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.roster import parse_day, parse_work_status
from bot.services.actors import Actor
from storage import people
from storage.models import Person, Unit, WorkStatus
from surveys.phone import normalize_phone


class LeaveOutcome(StrEnum):
    CONFIRM = "confirm"  # checked: ask the officer to confirm
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # already recorded so (or a second press)
    USAGE = "usage"  # no phone, no status, or words it does not know
    NO_PERSON = "no_person"
    FORBIDDEN = "forbidden"  # not of the officer's units
    BAD_DATE = "bad_date"
    FUTURE = "future"
    ACTIVE_DATE = "active_date"  # a leaving date for someone active
    GONE = "gone"  # the person is no longer in the roster


@dataclass(frozen=True)
class LeaveCommand:
    """``/left``'s words: the phone as typed, the status, and the date as typed (if any)."""

    phone: str
    status: WorkStatus
    date_text: str | None


@dataclass(frozen=True)
class LeaveResult:
    outcome: LeaveOutcome
    person: Person | None = None
    unit: Unit | None = None
    status: WorkStatus | None = None  # the new status
    left_on: dt.date | None = None  # the new leaving date
    old_status: WorkStatus | None = None
    old_left_on: dt.date | None = None
    date_text: str | None = None  # a date that was refused, as typed


_PHONE_WORD = re.compile(r"[0-9+().\-]+")


def parse_command(args: str | None) -> LeaveCommand | None:
    """``PHONE STATUS [DATE]``: the phone may be written in groups ("0918 402 367"), the status
    in several words ("đang công tác"); a last word with a digit is the date.  None when
    something is missing or the status is not one of đã nghỉ / chuyển đi / đang công tác."""
    words = (args or "").split()
    split = 0
    while split < len(words) and _PHONE_WORD.fullmatch(words[split]):
        split += 1
    phone, rest = " ".join(words[:split]), words[split:]
    date_text = rest.pop() if rest and any(ch.isdigit() for ch in rest[-1]) else None
    status_text = " ".join(rest)
    status = parse_work_status(status_text) if status_text else None
    if not phone or status is None:
        return None
    return LeaveCommand(phone=phone, status=status, date_text=date_text)


def _leaving_date(
    person: Person, status: WorkStatus, typed: dt.date | None, today: dt.date
) -> dt.date | None:
    """Active: none.  Left: the date typed, else the one already recorded if they had left
    already (so that re-stating it changes nothing), else today."""
    if status == WorkStatus.ACTIVE:
        return None
    if typed is not None:
        return typed
    if person.work_status != WorkStatus.ACTIVE and person.left_on is not None:
        return person.left_on
    return today


async def _visible_person(
    session: AsyncSession, actor: Actor, person: Person | None
) -> tuple[LeaveOutcome | None, Unit | None]:
    if person is None:
        return LeaveOutcome.GONE, None
    unit = await people.get_unit(session, unit_id=person.unit_id)
    if unit is None or not actor.can_see(unit):
        return LeaveOutcome.FORBIDDEN, None
    return None, unit


async def check_leave(
    session: AsyncSession, *, actor: Actor, args: str | None, today: dt.date
) -> LeaveResult:
    """What ``/left`` would change, checked but not written (``CONFIRM``), or why not.

    ``today`` is the local date in the union's time zone: the default leaving date, and the
    latest one accepted.
    """
    if not actor.is_officer:
        return LeaveResult(LeaveOutcome.FORBIDDEN)
    command = parse_command(args)
    normalized = normalize_phone(command.phone) if command is not None else None
    if command is None or normalized is None:
        return LeaveResult(LeaveOutcome.USAGE)
    person = await people.person_by_phone(session, phone=normalized)
    if person is None:
        return LeaveResult(LeaveOutcome.NO_PERSON)
    refused, unit = await _visible_person(session, actor, person)
    if refused is not None:
        return LeaveResult(refused)
    typed: dt.date | None = None
    if command.date_text is not None:
        typed = parse_day(command.date_text)
        if typed is None:
            return LeaveResult(LeaveOutcome.BAD_DATE, date_text=command.date_text)
        if command.status == WorkStatus.ACTIVE:
            return LeaveResult(LeaveOutcome.ACTIVE_DATE, person=person, unit=unit)
        if typed > today:
            return LeaveResult(LeaveOutcome.FUTURE, left_on=typed)
    left_on = _leaving_date(person, command.status, typed, today)
    same = command.status == person.work_status and left_on == person.left_on
    return LeaveResult(
        LeaveOutcome.UNCHANGED if same else LeaveOutcome.CONFIRM,
        person=person,
        unit=unit,
        status=command.status,
        left_on=left_on,
        old_status=person.work_status,
        old_left_on=person.left_on,
    )


async def apply_leave(
    session: AsyncSession,
    *,
    actor: Actor,
    person_id: int,
    status: WorkStatus,
    left_on: dt.date | None,
    today: dt.date,
) -> LeaveResult:
    """Write the confirmed change, after checking again who confirms it and what it names."""
    if not actor.is_officer:
        return LeaveResult(LeaveOutcome.FORBIDDEN)
    person = await people.get_person(session, person_id=person_id)
    refused, unit = await _visible_person(session, actor, person)
    if refused is not None or person is None:
        return LeaveResult(refused or LeaveOutcome.GONE)
    if status == WorkStatus.ACTIVE and left_on is not None:
        return LeaveResult(LeaveOutcome.ACTIVE_DATE, person=person, unit=unit)
    if status != WorkStatus.ACTIVE and left_on is None:
        return LeaveResult(LeaveOutcome.BAD_DATE, date_text="")
    if left_on is not None and left_on > today:
        return LeaveResult(LeaveOutcome.FUTURE, left_on=left_on)
    old_status, old_left_on = person.work_status, person.left_on
    changed = status != old_status or left_on != old_left_on
    if changed:
        await people.set_work_status(session, person=person, status=status, left_on=left_on)
    return LeaveResult(
        LeaveOutcome.CHANGED if changed else LeaveOutcome.UNCHANGED,
        person=person,
        unit=unit,
        status=status,
        left_on=left_on,
        old_status=old_status,
        old_left_on=old_left_on,
    )
