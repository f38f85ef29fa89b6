"""Withdrawal of consent and erasure, as Core statements in the caller's transaction.

Withdrawal (``/rutlai``) stops everything sent to the person and records the decision; the
data stays.  Erasure (``/xoadulieu``, or ``congdoan person erase``) removes who the person is
and what they wrote, and keeps the union's membership record and the counts the indicators
need.  Nothing here commits; the service (:mod:`bot.services.erasure`,
:mod:`bot.services.withdrawal`) decides, audits and commits with the caller's unit of work.

What erasure keeps, and why (the decisions behind each statement of :func:`erase`):

- The ``people`` row stays as the union's membership record (unit, gender, membership, work
  status), with a neutral marker instead of the name and no phone, staff code or tags.  The
  membership indicators keep counting it.
- The person's survey responses keep ``person_id`` (now pointing at a record with no
  identity) and their choices, yes/no and numbers; their free text (question kinds text,
  phone, date) is deleted and their draft blanked.  Cutting ``person_id`` instead would change
  the year's figures: a response without a person counts as its own respondent, so a member
  who answered several runs of a survey in a year (a monthly campaign), or who both signed up
  for and received a welfare benefit, would count several times; and a person who left the
  sector would count again.
- Cases about the person are closed (``closed`` when the union supported them, so that A3b
  and P4 keep counting them as supported) or withdrawn (not yet supported: nobody is left to
  support, and a withdrawn case counts for neither indicator, as the case lifecycle defines),
  with the subject's name replaced by the marker, the description and every note blanked, and
  the free text of the report behind them deleted.  Cases they reported about a colleague go
  on for that colleague: only the link to the reporter is cut.
- Chat identities are deleted (the foreign keys pointing at them nulled or their rows
  deleted); consent rows keep the decision, the version and the date, without the chat's id;
  the inbox rows of those chats keep only their keys (``payload`` ``{}``, no replies).
- Audit rows hold ids and counts only: they stay.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox, web
from storage.db import rowcount
from storage.models import (
    CaseStatus,
    Channel,
    ConsentDecision,
    CorrectionStatus,
    DeliveryKind,
    DeliveryStatus,
    ResponseState,
    Role,
    RunStatus,
)
from storage.tables import (
    answers,
    case_events,
    cases,
    chats,
    correction_requests,
    deliveries,
    indicator_changes,
    pending_links,
    people,
    responses,
    runs,
    targets,
)

consents_table = people.metadata.tables["consents"]
inbox_table = people.metadata.tables["inbox_updates"]

#: The error of a delivery not sent because the person withdrew their consent (the worker's
#: own, for a row that slipped through), or because it went to or named a person erased.
WITHDRAWN = outbox.WITHDRAWN
ERASED = "erased"
#: What withdrawal stops: everything but direct answers to what the person asked for (the
#: kinds the outbox holds back for a person who withdrew).
QUIET_KINDS = (
    DeliveryKind.NOTICE,
    DeliveryKind.INVITATION,
    DeliveryKind.REMINDER,
    DeliveryKind.DIGEST,
)
#: An inbox payload once scrubbed: still valid JSON, naming nobody.
SCRUBBED = "{}"
CHUNK = 500


def erased_name(person_id: int) -> str:
    """The neutral marker that replaces an erased person's name: no personal data, and still
    tells an officer reading a roster or a report what happened to the row."""
    return f"(đã xóa #{person_id})"


async def _mark_changed(session: AsyncSession, *, person_id: int) -> None:
    """Log an indicator change in every unit the person's facts are counted in, so that the
    next report recomputes those units' tallies (the triggers see no change in a person's
    consent)."""
    units = (
        select(responses.c.unit_id)
        .where(responses.c.person_id == person_id)
        .union(select(people.c.unit_id).where(people.c.id == person_id))
    )
    await session.execute(insert(indicator_changes).from_select(["unit_id"], units))


async def _stop_queued(session: AsyncSession, *, where: ColumnElement[bool], reason: str) -> int:
    """Queued deliveries matching ``where`` become final ``unreachable`` with ``reason``, so
    that the worker never sends them (rows in flight, ``sending``, are left to their lease: at
    most those few can still go out)."""
    c = deliveries.c
    result = await session.execute(
        update(deliveries)
        .where(where, c.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.UNREACHABLE, error=reason, lease_owner=None)
    )
    return rowcount(result)


async def _leave_open_campaigns(session: AsyncSession, *, person_id: int) -> int:
    """No longer a target of an open campaign: no reminder chases them, and the officers'
    "not answered yet" lists and progress figures stop counting them."""
    open_runs = select(runs.c.id).where(runs.c.status == RunStatus.OPEN)
    result = await session.execute(
        delete(targets).where(targets.c.person_id == person_id, targets.c.run_id.in_(open_runs))
    )
    return rowcount(result)


# --------------------------------------------------------------------------- withdrawal


@dataclass(frozen=True)
class Withdrawal:
    """What a withdrawal changed (counts only: what the audit row and the operator see)."""

    consents: int = 0  # consent rows written (one per chat)
    deliveries_stopped: int = 0
    responses_abandoned: int = 0
    campaigns_left: int = 0


async def withdraw(
    session: AsyncSession,
    *,
    person_id: int,
    versions: Mapping[Channel, str],
    now: dt.datetime,
) -> Withdrawal | None:
    """Record the withdrawal on the person and, as a consent decision, on each of their chats
    (with the version of the text that chat is shown); stop what was queued for them; abandon
    their survey in progress; take them out of open campaigns.  None when they had withdrawn
    already (or are not on the roster): a second withdrawal at the same moment (a double
    press) waits on the person's row and then changes nothing, on PostgreSQL as on SQLite."""
    marked = await session.execute(
        update(people)
        .where(people.c.id == person_id, people.c.consent_withdrawn_at.is_(None))
        .values(consent_withdrawn_at=now, updated_at=now)
    )
    if rowcount(marked) == 0:
        return None
    their_chats = (
        await session.execute(
            select(chats.c.channel, chats.c.external_id)
            .where(chats.c.person_id == person_id)
            .order_by(chats.c.id)
        )
    ).all()
    rows = [
        {
            "channel": channel,
            "external_id": external_id,
            "person_id": person_id,
            "decision": ConsentDecision.WITHDRAWN.value,
            "text_version": versions[Channel(channel)],
            "decided_at": now,
        }
        for channel, external_id in their_chats
    ]
    if rows:
        await session.execute(insert(consents_table), rows)
    quiet = and_(
        deliveries.c.person_id == person_id,
        deliveries.c.kind.in_([kind.value for kind in QUIET_KINDS]),
    )
    stopped = await _stop_queued(session, where=quiet, reason=WITHDRAWN)
    abandoned = rowcount(
        await session.execute(
            update(responses)
            .where(
                responses.c.person_id == person_id,
                responses.c.state == ResponseState.IN_PROGRESS,
            )
            .values(state=ResponseState.ABANDONED, draft=None, updated_at=now)
        )
    )
    await session.execute(
        update(chats).where(chats.c.person_id == person_id).values(active_response_id=None)
    )
    left = await _leave_open_campaigns(session, person_id=person_id)
    await _mark_changed(session, person_id=person_id)
    return Withdrawal(len(rows), stopped, abandoned, left)


async def consent_again(session: AsyncSession, *, person_id: int, now: dt.datetime) -> None:
    """The person accepted the consent text again after a withdrawal: things are sent to
    them again and their answers count again."""
    await session.execute(
        update(people)
        .where(people.c.id == person_id)
        .values(consent_withdrawn_at=None, updated_at=now)
    )
    await _mark_changed(session, person_id=person_id)


# --------------------------------------------------------------------------- the inbox


def _ids_in(node: Any, out: set[str]) -> None:
    """Every ``id`` of a ``from`` or ``chat`` object anywhere in an update (Telegram: the
    sender and their private chat; Zalo: ``message.chat.id`` and ``message.from.id``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("from", "chat") and isinstance(value, dict):
                ident = value.get("id")
                if isinstance(ident, str | int) and not isinstance(ident, bool):
                    out.add(str(ident))
            _ids_in(value, out)
    elif isinstance(node, list):
        for item in node:
            _ids_in(item, out)


def names_chat(payload: str, external_id: str) -> bool:
    """Whether a stored update comes from (or is about) the chat ``external_id``."""
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    found: set[str] = set()
    _ids_in(data, found)
    return external_id in found


def _scrub(ids: Sequence[int], now: dt.datetime) -> Any:
    """Empty the stored updates ``ids``; an unanswered one counts as answered, so that no
    reply is ever sent from what was erased."""
    c = inbox_table.c
    return (
        update(inbox_table)
        .where(c.id.in_(list(ids)))
        .values(payload=SCRUBBED, replies=None, replied_at=func.coalesce(c.replied_at, now))
    )


async def scrub_inbox(
    session: AsyncSession,
    *,
    chats_of: Iterable[tuple[Channel | str, str]] = (),
    mentions: Sequence[str] = (),
    current: int | None = None,
    now: dt.datetime,
) -> int:
    """Scrub the stored updates of the chats ``chats_of`` ((channel, external id) pairs),
    and every stored update mentioning one of ``mentions`` (a name, a phone number, a text
    being erased) in what it says or in the replies it was given, once
    handled or set aside: the payload becomes ``{}`` and the replies are dropped; the row
    stays, so that the platform's update is still known as handled.  ``current``: the
    update being handled now, scrubbed too (its replies are written after this, without
    personal data).  Updates still waiting are left: they are handled first, then scrubbed by
    the retention purge."""
    c = inbox_table.c
    done = or_(c.handled_at.is_not(None), c.failed_at.is_not(None))
    found: set[int] = set()
    for channel, external_id in chats_of:
        if not external_id:
            continue
        rows = (
            await session.execute(
                select(c.id, c.payload).where(
                    c.channel == Channel(channel),
                    c.payload.contains(external_id, autoescape=True),
                    done,
                )
            )
        ).all()
        found.update(int(i) for i, payload in rows if names_chat(payload, external_id))
    for text in mentions:
        if not text:
            continue
        holds = or_(
            c.payload.contains(text, autoescape=True), c.replies.contains(text, autoescape=True)
        )
        rows = (await session.execute(select(c.id).where(holds, done))).all()
        found.update(int(r[0]) for r in rows)
    if current is not None:
        found.add(current)
    ids = sorted(found)
    for start in range(0, len(ids), CHUNK):
        await session.execute(_scrub(ids[start : start + CHUNK], now))
    return len(ids)


async def forget_chat(session: AsyncSession, *, chat_id: int) -> None:
    """Delete a chat that never linked (consent declined): its consent rows stay, as the
    proof of the decision; the chat row goes with everything the platform told about it."""
    await session.execute(delete(pending_links).where(pending_links.c.chat_id == chat_id))
    await session.execute(
        update(deliveries)
        .where(deliveries.c.chat_id == chat_id)
        .values(chat_id=None, external_id=None)
    )
    await session.execute(delete(chats).where(chats.c.id == chat_id))


# --------------------------------------------------------------------------- erasure


@dataclass(frozen=True)
class Erasure:
    """What an erasure changed, by kind (counts only)."""

    chats: int = 0
    consents: int = 0
    inbox_updates: int = 0
    answers: int = 0
    responses: int = 0
    cases_closed: int = 0
    cases_withdrawn: int = 0
    cases_anonymised: int = 0
    cases_unlinked: int = 0  # reported by them about a colleague: the case goes on
    deliveries: int = 0
    pending_links: int = 0
    corrections: int = 0
    campaigns_left: int = 0

    def as_detail(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


def phone_forms(phone: str | None) -> list[str]:
    """The ways a stored phone (E.164, ``+84912345678``) is commonly written, to find it in
    free text: the national number's digits (inside ``0912…``, ``+84912…`` and ``84912…``),
    and grouped with spaces, dots or dashes."""
    if not phone:
        return []
    digits = "".join(ch for ch in phone if ch.isdigit())
    national = digits[2:] if digits.startswith("84") else digits.lstrip("0")
    if len(national) < 8:
        return [national] if national else []
    local = "0" + national
    forms = {national}
    for sep in (" ", ".", "-"):
        forms.add(sep.join((local[:4], local[4:7], local[7:])))
        forms.add(sep.join((national[:3], national[3:6], national[6:])))
        forms.add(sep.join((local[:3], local[3:6], local[6:])))
    return sorted(forms)


def text_forms(text: str) -> list[str]:
    """``text`` as written, and as JSON escapes it (an inbox payload may be stored with
    ``\\uXXXX`` escapes)."""
    if not text:
        return []
    escaped = json.dumps(text)[1:-1]
    return sorted({text, escaped})


def definitions_of(person_id: int) -> Select[Any]:
    """(definition id, body) of every survey the person answered or that a case about them
    was reported through: what tells the service which answers are free text."""
    about = _about(person_id)
    return (
        select(runs.c.definition_id)
        .select_from(responses.join(runs, runs.c.id == responses.c.run_id))
        .where(or_(responses.c.person_id == person_id, responses.c.id.in_(about)))
        .distinct()
    )


#: Free-text values shorter than this are not looked for elsewhere: "không" or a short date
#: would match unrelated updates and messages.
MENTION_MIN = 8
#: Nor a name shorter than this ("An", a roster row with a given name only): it would match
#: (case-insensitively, on SQLite) a word of every other message, and stop those queued.
NAME_MIN = 5


def _about(person_id: int) -> Select[Any]:
    """The responses behind the cases about the person (a colleague's report of them)."""
    return select(cases.c.response_id).where(
        cases.c.subject_person_id == person_id, cases.c.response_id.is_not(None)
    )


async def _free_text_values(
    session: AsyncSession, *, person_id: int, free_text: Mapping[int, frozenset[str]]
) -> list[str]:
    """The free-text answers an erasure deletes, to look for where else they were stored
    (the update that typed them, the summary shown before sending, a message quoting them)."""
    values: set[str] = set()
    mine = or_(responses.c.person_id == person_id, responses.c.id.in_(_about(person_id)))
    for definition_id, keys in free_text.items():
        if not keys:
            continue
        rows = (
            await session.execute(
                select(answers.c.value)
                .select_from(
                    answers.join(responses, responses.c.id == answers.c.response_id).join(
                        runs, runs.c.id == responses.c.run_id
                    )
                )
                .where(
                    runs.c.definition_id == definition_id,
                    answers.c.question_key.in_(sorted(keys)),
                    mine,
                )
            )
        ).all()
        for (raw,) in rows:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
            if isinstance(value, str) and len(value.strip()) >= MENTION_MIN:
                values.add(value.strip())
    return sorted(values)


async def _delete_free_text(
    session: AsyncSession, *, response_ids: Select[Any], free_text: Mapping[int, frozenset[str]]
) -> int:
    """Delete the answers to free-text questions (per definition) of ``response_ids``."""
    deleted = 0
    for definition_id, keys in free_text.items():
        if not keys:
            continue
        of_definition = (
            select(responses.c.id)
            .select_from(responses.join(runs, runs.c.id == responses.c.run_id))
            .where(runs.c.definition_id == definition_id, responses.c.id.in_(response_ids))
        )
        result = await session.execute(
            delete(answers).where(
                answers.c.response_id.in_(of_definition), answers.c.question_key.in_(sorted(keys))
            )
        )
        deleted += rowcount(result)
    return deleted


async def _anonymise_cases(
    session: AsyncSession,
    *,
    person_id: int,
    actor_id: int | None,
    free_text: Mapping[int, frozenset[str]],
    now: dt.datetime,
) -> tuple[int, int, int, int]:
    """Cases about the person: closed or withdrawn, anonymised, their report's free text
    deleted.  Returns (closed, withdrawn, anonymised, free-text answers deleted)."""
    c = cases.c
    about = (
        await session.execute(
            select(c.id, c.status).where(c.subject_person_id == person_id).order_by(c.id)
        )
    ).all()
    if not about:
        return 0, 0, 0, 0
    ids = [int(i) for i, _ in about]
    ends = {
        CaseStatus.SUPPORTED.value: CaseStatus.CLOSED,
        CaseStatus.REPORTED.value: CaseStatus.WITHDRAWN,
        CaseStatus.VISITED.value: CaseStatus.WITHDRAWN,
    }
    changed: list[dict[str, Any]] = []
    for case_id, status in about:
        end = ends.get(str(status))
        if end is not None:
            changed.append(
                {
                    "case_id": case_id,
                    "from_status": str(status),
                    "to_status": end.value,
                    "changed_by": actor_id,
                    "note": "",
                    "changed_at": now,
                }
            )
            await session.execute(
                update(cases).where(c.id == case_id).values(status=end.value, updated_at=now)
            )
    report_responses = select(c.response_id).where(c.id.in_(ids), c.response_id.is_not(None))
    deleted = await _delete_free_text(session, response_ids=report_responses, free_text=free_text)
    await session.execute(
        update(responses).where(responses.c.id.in_(report_responses)).values(draft=None)
    )
    for case_id in ids:
        await session.execute(
            update(cases)
            .where(c.id == case_id)
            .values(
                subject_name=erased_name(person_id),
                description="",
                subject_person_id=None,
                updated_at=now,
            )
        )
    await session.execute(update(case_events).where(case_events.c.case_id.in_(ids)).values(note=""))
    if changed:
        await session.execute(insert(case_events), changed)
    closed = sum(1 for row in changed if row["to_status"] == CaseStatus.CLOSED.value)
    return closed, len(changed) - closed, len(ids), deleted


async def erase(
    session: AsyncSession,
    *,
    person_id: int,
    free_text: Mapping[int, frozenset[str]],
    actor_id: int | None,
    current_update: int | None,
    now: dt.datetime,
) -> Erasure | None:
    """Erase the person (see the module doc for what goes and what stays); None when there
    is no such person or they were erased already.  ``free_text``: per survey definition id
    (:func:`definitions_of`), the keys of its free-text questions.  ``current_update``: the
    inbox row of the update asking for it, scrubbed with the chat's others."""
    p = people.c
    # Locked until the commit (PostgreSQL; SQLite's writes are serialized anyway): a second
    # erasure of the same person at the same moment (a double press, the chat and the command
    # line) waits here, then reads ``erased_at`` set and does nothing.
    row = (
        await session.execute(
            select(p.full_name, p.phone, p.erased_at).where(p.id == person_id).with_for_update()
        )
    ).first()
    if row is None or row.erased_at is not None:
        return None
    full_name, phone = str(row.full_name), row.phone
    ch = chats.c
    their_chats = (
        await session.execute(
            select(ch.id, ch.channel, ch.external_id).where(
                or_(
                    ch.person_id == person_id,
                    ch.id.in_(
                        select(pending_links.c.chat_id).where(
                            pending_links.c.person_id == person_id
                        )
                    ),
                )
            )
        )
    ).all()
    chat_ids = [int(r.id) for r in their_chats]
    pairs = [(Channel(r.channel), str(r.external_id)) for r in their_chats]

    # Deliveries to them, or whose text names them or quotes what they wrote: nothing more of
    # those goes out (a queued one blanked would go out empty), and what went out keeps its
    # status and times only.
    said = await _free_text_values(session, person_id=person_id, free_text=free_text)
    mentions = [
        *(text_forms(full_name) if len(full_name.strip()) >= NAME_MIN else []),
        *phone_forms(phone),
        *(f for v in said for f in text_forms(v)),
    ]
    d = deliveries.c
    targeted = [d.person_id == person_id]
    if chat_ids:
        targeted.append(d.chat_id.in_(chat_ids))
    to_them = or_(*targeted)
    touching = or_(to_them, *(d.text.contains(m, autoescape=True) for m in mentions))
    await _stop_queued(session, where=touching, reason=ERASED)
    touched = rowcount(await session.execute(update(deliveries).where(touching).values(text="")))
    await session.execute(update(deliveries).where(to_them).values(external_id=None, chat_id=None))

    # Link requests: those of their chats go with the chats; others naming them are blanked.
    pl = pending_links.c
    pending = 0
    if chat_ids:
        pending += rowcount(
            await session.execute(delete(pending_links).where(pl.chat_id.in_(chat_ids)))
        )
    naming = [pl.person_id == person_id]
    if phone:
        naming.append(pl.phone == phone)
    pending += rowcount(
        await session.execute(
            update(pending_links).where(or_(*naming)).values(full_name="", phone=None)
        )
    )

    # Consents: the decisions stay (what was decided, on which version, when), not the chat.
    cs = consents_table.c
    of_chats = [cs.person_id == person_id]
    if pairs:
        of_chats.append(tuple_(cs.channel, cs.external_id).in_([(c.value, e) for c, e in pairs]))
    consents_done = rowcount(
        await session.execute(update(consents_table).where(or_(*of_chats)).values(external_id=""))
    )

    inbox_done = await scrub_inbox(
        session, chats_of=pairs, mentions=mentions, current=current_update, now=now
    )
    if chat_ids:
        await session.execute(delete(chats).where(ch.id.in_(chat_ids)))
    # The dashboard: their sign-in links and sessions (an officer erased is signed out).
    await web.forget_person(session, person_id=person_id)

    # Answers: free text deleted, drafts blanked, nothing in progress.
    theirs = select(responses.c.id).where(responses.c.person_id == person_id)
    deleted_answers = await _delete_free_text(session, response_ids=theirs, free_text=free_text)
    await session.execute(
        update(responses)
        .where(responses.c.person_id == person_id, responses.c.state == ResponseState.IN_PROGRESS)
        .values(state=ResponseState.ABANDONED, updated_at=now)
    )
    responses_done = rowcount(
        await session.execute(
            update(responses).where(responses.c.person_id == person_id).values(draft=None)
        )
    )

    closed, withdrawn, anonymised, case_answers = await _anonymise_cases(
        session, person_id=person_id, actor_id=actor_id, free_text=free_text, now=now
    )
    unlinked = rowcount(
        await session.execute(
            update(cases).where(cases.c.reported_by == person_id).values(reported_by=None)
        )
    )

    cr = correction_requests.c
    await session.execute(
        update(correction_requests)
        .where(cr.person_id == person_id, cr.status == CorrectionStatus.PENDING)
        .values(status=CorrectionStatus.REJECTED, decided_at=now)
    )
    corrections = rowcount(
        await session.execute(
            update(correction_requests)
            .where(cr.person_id == person_id)
            .values(old_value="", new_value="")
        )
    )
    left = await _leave_open_campaigns(session, person_id=person_id)

    await session.execute(
        update(people)
        .where(p.id == person_id)
        .values(
            full_name=erased_name(person_id),
            phone=None,
            staff_code=None,
            tags="",
            role=Role.MEMBER.value,
            officer_unit_id=None,
            erased_at=now,
            updated_at=now,
        )
    )
    await _mark_changed(session, person_id=person_id)
    return Erasure(
        chats=len(chat_ids),
        consents=consents_done,
        inbox_updates=inbox_done,
        answers=deleted_answers + case_answers,
        responses=responses_done,
        cases_closed=closed,
        cases_withdrawn=withdrawn,
        cases_anonymised=anonymised,
        cases_unlinked=unlinked,
        deliveries=touched,
        pending_links=pending,
        corrections=corrections,
        campaigns_left=left,
    )
