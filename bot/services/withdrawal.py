"""Withdrawal of consent (``/rutlai``), consenting again, and forgetting a declined chat.

Withdrawal is recorded as a consent decision (``withdrawn``, on each of the person's chats,
with the version of the text that chat is shown) and on the person
(``people.consent_withdrawn_at``).  From then on nothing is sent to them but the answers to
what they ask themselves: no notices, no survey invitations, no reminders, no digests (every
query that picks a person's chat leaves them out, see :func:`storage.chats.latest_linked_chat`;
rows already queued are made final ``unreachable`` now, and the delivery worker skips any that
slipped through).  Their survey in progress is abandoned and they leave open campaigns.  Their
answers to surveys that are not anonymous stop counting in the indicators (the indicator SQL
leaves out the answers of people who withdrew).  They can still read and export their data
(``/dulieu``), have it erased (``/xoadulieu``), and consent again (``/start``: accepting the
current text clears the withdrawal).

What the union keeps after a withdrawal, because the law lets it process the data without
consent (Law on Personal Data Protection No. 91/2025/QH15: processing needed to perform a legal
obligation, or a contract, or to protect life and health; the Trade Union Law 2024 on
membership):

- the membership record (name, unit, membership, gender, work status): the roster of members
  the Trade Union Law and the union's charter require it to keep, counted in the membership
  indicators (and the dues records kept outside this bot);
- the hardship and legal cases the union is handling for or about the person, and their
  history, until they are closed and the retention period for closed cases ends: stopping
  support half-way could harm the person, and the union must account for support it gave;
- confirmed welfare benefits (what a partner granted the member: the union accounts for it);
- the consent decisions themselves and the audit trail (proof of what was decided, ids and
  counts only).

Their survey answers stay stored (they can still see and export them, or erase them) but are
no longer used.  Erasure (:mod:`bot.services.erasure`) removes the rest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import onboarding
from bot.services.actors import Actor
from storage import audit, chats
from storage import erasure as store
from storage.models import AuditAction, Channel, ChatStage, ConsentDecision, utcnow


class WithdrawOutcome(StrEnum):
    """What ``/rutlai`` did, which the reply tells (``member/withdraw_done.txt``)."""

    WITHDRAWN = "withdrawn"
    ALREADY = "already"  # withdrawn before
    FORGOTTEN = "forgotten"  # a chat not linked yet: it is forgotten, as on declining
    NOTHING = "nothing"  # no consent was given on this chat


@dataclass(frozen=True)
class WithdrawResult:
    """The outcome, and for a withdrawal its counts (what the audit row holds)."""

    outcome: WithdrawOutcome
    counts: store.Withdrawal | None = None


def current_versions() -> dict[Channel, str]:
    """The version of the consent text each channel shows now."""
    return {channel: onboarding.consent_version(channel) for channel in Channel}


def is_withdrawn(actor: Actor) -> bool:
    """Whether the linked person behind the chat has withdrawn their consent."""
    return (
        actor.linked and actor.person is not None and actor.person.consent_withdrawn_at is not None
    )


async def withdraw_person(
    session: AsyncSession,
    *,
    person_id: int,
    actor_id: int | None,
    via: audit.Via,
    now: dt.datetime | None = None,
) -> store.Withdrawal | None:
    """Withdraw a person's consent (in chat by themselves, or by an officer on a request on
    paper) and audit it; None (nothing done, nothing audited) when they had withdrawn
    already."""
    counts = await store.withdraw(
        session, person_id=person_id, versions=current_versions(), now=now or utcnow()
    )
    if counts is None:
        return None
    await audit.record(
        session,
        AuditAction.CONSENT_WITHDRAWN,
        via=via,
        actor_id=actor_id,
        person_id=person_id,
        detail={
            "consents": counts.consents,
            "deliveries_stopped": counts.deliveries_stopped,
            "responses_abandoned": counts.responses_abandoned,
            "campaigns_left": counts.campaigns_left,
        },
    )
    return counts


async def withdraw(session: AsyncSession, *, actor: Actor, inbox_id: int | None) -> WithdrawResult:
    """``/rutlai`` confirmed.  A chat that gave consent but is not linked yet is forgotten
    (its consent rows stay with the withdrawal added)."""
    chat = actor.chat
    if not actor.linked or actor.person is None:
        if chat.stage not in (ChatStage.CONTACT, ChatStage.PENDING):
            return WithdrawResult(WithdrawOutcome.NOTHING)
        await chats.record_consent(
            session,
            chat=chat,
            decision=ConsentDecision.WITHDRAWN,
            text_version=onboarding.consent_version(chat.channel),
        )
        await forget_chat(session, actor=actor, inbox_id=inbox_id)
        return WithdrawResult(WithdrawOutcome.FORGOTTEN)
    person = actor.person
    assert person.id is not None
    if person.consent_withdrawn_at is not None:
        return WithdrawResult(WithdrawOutcome.ALREADY)
    await session.flush()
    now = utcnow()
    counts = await withdraw_person(
        session, person_id=person.id, actor_id=person.id, via="chat", now=now
    )
    if counts is None:  # a press just before this one withdrew them
        return WithdrawResult(WithdrawOutcome.ALREADY)
    # The loaded row, as the statement left it (read again by this update's later steps).
    person.consent_withdrawn_at = now
    chat.active_response_id = None
    return WithdrawResult(WithdrawOutcome.WITHDRAWN, counts)


async def consent_again(
    session: AsyncSession, *, actor: Actor, accepted: bool, version: str
) -> bool | None:
    """A person who withdrew answers the consent text again: accepting the current version
    clears the withdrawal (True); declining keeps it (False); a press on an old version's
    button changes nothing (None: show the text again)."""
    person = actor.person
    if (
        person is None
        or person.id is None
        or version != onboarding.consent_version(actor.chat.channel)
    ):
        return None
    decision = ConsentDecision.ACCEPTED if accepted else ConsentDecision.DECLINED
    await chats.record_consent(session, chat=actor.chat, decision=decision, text_version=version)
    if not accepted:
        return False
    await store.consent_again(session, person_id=person.id, now=utcnow())
    person.consent_withdrawn_at = None
    return True


async def forget_chat(session: AsyncSession, *, actor: Actor, inbox_id: int | None) -> None:
    """A chat that declined consent (or withdrew it before being linked) keeps nothing but
    its consent rows: the decision, the version and the chat's id, the proof that it was
    asked and what it answered (and what ``/privacy`` shows if it writes again).  The chat
    row, its link request and the stored updates with the platform's name, username and
    phone contact go now (the update being handled included)."""
    chat = actor.chat
    assert chat.id is not None
    await session.flush()
    await store.scrub_inbox(
        session, chats_of=[(chat.channel, chat.external_id)], current=inbox_id, now=utcnow()
    )
    await store.forget_chat(session, chat_id=chat.id)
    # The row is gone: what this update still does to the object must not be written.
    session.expunge(chat)
