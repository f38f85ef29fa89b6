"""Erasure (``/xoadulieu``, or ``congdoan person erase`` on a request on paper).

Erasure removes who the person is and what they wrote, in one transaction: the roster record
stays as the union's membership record with a neutral marker for the name and no phone, staff
code or tags; their chats and what the platforms told about them go; their free-text answers
go; cases about them are closed and anonymised; their other answers stay as counts behind a
record that names nobody.  :mod:`storage.erasure` says statement by statement what goes, what
stays and why (so that the indicator figures do not move).  Irreversible: the chat asks twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import withdrawal
from bot.services.actors import Actor
from storage import audit
from storage import erasure as store
from storage.models import (
    AuditAction,
    utcnow,
)
from storage.tables import definitions
from surveys.loader import definition_from_json
from surveys.schema import QuestionKind

#: Answers that are the member's own words or identify someone: deleted by an erasure.
FREE_TEXT_KINDS = frozenset({QuestionKind.TEXT, QuestionKind.PHONE, QuestionKind.DATE})


async def free_text_keys(session: AsyncSession, *, person_id: int) -> dict[int, frozenset[str]]:
    """Per survey definition the person's answers (or a report about them) went through,
    the keys of its free-text questions."""
    ids = store.definitions_of(person_id)
    rows = (
        await session.execute(
            select(definitions.c.id, definitions.c.body).where(definitions.c.id.in_(ids))
        )
    ).all()
    found: dict[int, frozenset[str]] = {}
    for definition_id, body in rows:
        defn = definition_from_json(body, source=f"survey definition {definition_id}")
        found[int(definition_id)] = frozenset(
            q.key for q in defn.questions if q.kind in FREE_TEXT_KINDS
        )
    return found


async def erase_person(
    session: AsyncSession,
    *,
    person_id: int,
    actor_id: int | None,
    via: audit.Via,
    current_update: int | None = None,
) -> store.Erasure | None:
    """Erase one person and audit it (counts only); None when there is no such person or they
    were erased already."""
    free_text = await free_text_keys(session, person_id=person_id)
    counts = await store.erase(
        session,
        person_id=person_id,
        free_text=free_text,
        actor_id=actor_id,
        current_update=current_update,
        now=utcnow(),
    )
    if counts is None:
        return None
    await audit.record(
        session,
        AuditAction.ERASED,
        via=via,
        actor_id=actor_id,
        person_id=person_id,
        detail=counts.as_detail(),
    )
    return counts


class EraseOutcome(StrEnum):
    """What ``/xoadulieu`` did, which the reply tells (``member/erase_done.txt``)."""

    ERASED = "erased"
    FORGOTTEN = "forgotten"  # a chat not linked: forgotten, as on declining
    NOTHING = "nothing"  # nothing held about this chat but what it is asking now


@dataclass(frozen=True)
class EraseResult:
    """The outcome, and for an erasure its counts (what the audit row holds)."""

    outcome: EraseOutcome
    counts: store.Erasure | None = None


async def erase_self(session: AsyncSession, *, actor: Actor, inbox_id: int | None) -> EraseResult:
    """``/xoadulieu`` confirmed twice, by the member themselves."""
    chat = actor.chat
    if not actor.linked or actor.person is None or actor.person.id is None:
        forgotten = await withdrawal.withdraw(session, actor=actor, inbox_id=inbox_id)
        if forgotten.outcome != withdrawal.WithdrawOutcome.FORGOTTEN:
            return EraseResult(EraseOutcome.NOTHING)
        return EraseResult(EraseOutcome.FORGOTTEN)
    person = actor.person
    assert person.id is not None
    await session.flush()
    counts = await erase_person(
        session, person_id=person.id, actor_id=person.id, via="chat", current_update=inbox_id
    )
    # The statements changed and deleted these rows: the objects loaded for this update must
    # not be written back over them.
    session.expunge(chat)
    session.expunge(person)
    if actor.unit is not None and actor.unit in session:
        session.expunge(actor.unit)
    return EraseResult(EraseOutcome.ERASED, counts)
