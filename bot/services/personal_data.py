"""The right of access (``/dulieu``): everything held about a member, gathered once, shown in
chat and exported as a file.

:func:`gather` reads the rows (:mod:`storage.personal_data`) and turns them into
:class:`PersonalData`: codes kept as codes (the templates and the file writers put them in
words), times in the member's local time, survey answers with their question and the answer as
the survey summary shows it.  What is left out, and why:

* answers to an anonymous survey once submitted: the link to the person was cut then, so
  nothing ties them to the member any more; only that they took part (``participations``).
* a case about the member reported by someone else: that it exists, its kind, category,
  status, dates, and who can see it; not who reported it nor what they wrote.  The reporter's
  identity and words are the reporter's personal data, and disclosing them to the person they
  concern could expose the reporter (a colleague who asked for help on the member's behalf);
  the law's right of access does not reach a third party's data.  The member learns enough to
  ask their CĐCS, which can decide what to tell.

Every export leaves an audit row (:data:`AuditAction.DATA_EXPORTED`) naming the format only.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.actors import Actor
from bot.services.conversation import SurveyRegistry
from bot.texts import label
from storage import audit
from storage import personal_data as store
from storage.models import AuditAction, CaseKind, ChatIdentity
from storage.people import path_ids
from surveys import engine
from surveys.phone import display_phone
from surveys.schema import SurveyDefinition

#: The file formats a member can choose; on Zalo (no documents) the content comes as text.
FORMATS = ("xlsx", "json")
TEXT_FORMAT = "text"


def _at(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A stored time (UTC) as the member reads it: in the union's zone."""
    return value.astimezone(tz)


def _local(value: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    """:func:`_at` for a time that may not have come yet (not sent, not decided)."""
    return _at(value, tz) if value is not None else None


def phone_shown(phone: str | None) -> str:
    """A stored phone (E.164) as people read it; "" for none."""
    return display_phone(phone) if phone else ""


@dataclass(frozen=True)
class Record:
    """The roster record."""

    full_name: str
    phone: str | None  # E.164
    staff_code: str | None
    unit_name: str
    unit_code: str
    is_member: bool
    gender: str
    role: str
    officer_unit_name: str | None
    tags: tuple[str, ...]
    work_status: str
    left_on: dt.date | None
    consent_withdrawn_at: dt.datetime | None
    since: dt.datetime

    @property
    def phone_shown(self) -> str:
        return phone_shown(self.phone)


@dataclass(frozen=True)
class ChatItem:
    channel: str
    account_id: str
    stage: str
    stopped: bool
    chosen: bool
    since: dt.datetime


@dataclass(frozen=True)
class ConsentItem:
    channel: str
    decision: str
    version: str
    at: dt.datetime


@dataclass(frozen=True)
class AnswerItem:
    question: str  # the question's key
    prompt: str
    value: Any  # as stored (JSON)
    shown: str


@dataclass(frozen=True)
class ResponseItem:
    survey: str
    period: str
    state: str
    started_at: dt.datetime
    completed_at: dt.datetime | None
    anonymous: bool
    answers: tuple[AnswerItem, ...]


@dataclass(frozen=True)
class ParticipationItem:
    survey: str
    period: str
    completed_at: dt.datetime


@dataclass(frozen=True)
class CaseItem:
    """A case the member reported (``reported``) or that concerns them (``about_me``).

    ``subject_name`` and ``description`` are what the member wrote: None for a case someone
    else reported about them (module doc)."""

    id: int
    kind: str
    category: str
    status: str
    urgent: bool
    reported: bool
    about_me: bool
    subject_name: str | None
    description: str | None
    visible_to: tuple[str, ...]
    reported_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class BenefitItem:
    offer: str
    offer_label: str
    status: str
    year: int
    signed_up_at: dt.datetime
    confirmed_at: dt.datetime | None


@dataclass(frozen=True)
class NoticeItem:
    title: str
    status: str
    queued_at: dt.datetime
    sent_at: dt.datetime | None
    acknowledged_at: dt.datetime | None


@dataclass(frozen=True)
class CorrectionItem:
    field: str
    old_value: str
    new_value: str
    status: str
    asked_at: dt.datetime
    decided_at: dt.datetime | None

    @property
    def old_shown(self) -> str:
        return phone_shown(self.old_value) if self.field == "phone" else self.old_value

    @property
    def new_shown(self) -> str:
        return phone_shown(self.new_value) if self.field == "phone" else self.new_value


@dataclass(frozen=True)
class LinkRequestItem:
    full_name: str
    phone: str | None
    status: str
    asked_at: dt.datetime
    resolved_at: dt.datetime | None

    @property
    def phone_shown(self) -> str:
        return phone_shown(self.phone)


@dataclass(frozen=True)
class PersonalData:
    """Everything held about one member, ready to show or write (module doc)."""

    made_at: dt.datetime
    record: Record | None  # None: a chat not linked to the roster
    chats: tuple[ChatItem, ...]
    consents: tuple[ConsentItem, ...]
    responses: tuple[ResponseItem, ...] = ()
    participations: tuple[ParticipationItem, ...] = ()
    cases: tuple[CaseItem, ...] = ()
    benefits: tuple[BenefitItem, ...] = ()
    notices: tuple[NoticeItem, ...] = ()
    corrections: tuple[CorrectionItem, ...] = ()
    link_requests: tuple[LinkRequestItem, ...] = ()

    @property
    def answers_count(self) -> int:
        return sum(len(r.answers) for r in self.responses)

    @property
    def acknowledged_count(self) -> int:
        return sum(1 for n in self.notices if n.acknowledged_at is not None)


def _chat(row: store.ChatRow, tz: dt.tzinfo) -> ChatItem:
    since = _at(row.created_at, tz)
    return ChatItem(row.channel, row.external_id, row.stage, row.stopped, row.chosen, since)


def _consent(row: store.ConsentRow, tz: dt.tzinfo) -> ConsentItem:
    return ConsentItem(row.channel, row.decision, row.text_version, _at(row.decided_at, tz))


def _link_request(row: store.LinkRequestRow, tz: dt.tzinfo) -> LinkRequestItem:
    asked, resolved = _at(row.created_at, tz), _local(row.resolved_at, tz)
    return LinkRequestItem(row.full_name, row.phone, row.status, asked, resolved)


def _period(year: int, label_: str | None) -> str:
    return label_ or str(year)


def _answer(defn: SurveyDefinition | None, key: str, stored: str, locale: str) -> AnswerItem:
    try:
        value = json.loads(stored)
    except ValueError:
        value = stored
    if defn is None or not defn.has_question(key):
        return AnswerItem(key, key, value, str(value))
    question = defn.question(key)
    shown = engine.display_value(
        question,
        value,
        yes_label=label("yes", locale),
        no_label=label("no", locale),
    )
    return AnswerItem(key, question.prompt, value, shown)


def _case_form(kind: str, subject_union: bool) -> str:
    """The form whose options name a case's category (as /cases shows it)."""
    if kind == CaseKind.HARDSHIP.value:
        return "hardship_case"
    return "legal_union_case" if subject_union else "legal_consultation"


def _visible_to(row: store.CaseRow, bodies: dict[int, tuple[str, str]]) -> tuple[str, ...]:
    """The union bodies whose officers see the case's details, as
    :mod:`bot.services.casework` decides: its CĐCS (the nearest body above its unit), and the
    body it was passed up to, which need not be the next one (the province, when the district
    had nobody to write to) and may be none (nobody above could be written to)."""
    cdcs = next((i for i in reversed(path_ids(row.unit_path)) if i in bodies), None)
    seeing = [i for i in (cdcs, row.passed_up_to) if i is not None and i in bodies]
    return tuple(bodies[i][1] for i in dict.fromkeys(seeing))


async def gather(
    session: AsyncSession,
    *,
    person_id: int,
    registry: SurveyRegistry,
    tz: dt.tzinfo,
    locale: str,
) -> PersonalData | None:
    """Everything held about a roster person (module doc); None if there is no such person."""
    held = await store.held_about(session, person_id=person_id)
    if held is None:
        return None
    p = held.person
    record = Record(
        full_name=p.full_name,
        phone=p.phone,
        staff_code=p.staff_code,
        unit_name=p.unit_name,
        unit_code=p.unit_code,
        is_member=p.is_member,
        gender=p.gender,
        role=p.role,
        officer_unit_name=p.officer_unit_name,
        tags=tuple(t.strip() for t in p.tags.split(",") if t.strip()),
        work_status=p.work_status,
        left_on=p.left_on,
        consent_withdrawn_at=_local(p.consent_withdrawn_at, tz),
        since=_at(p.created_at, tz),
    )
    by_response: dict[int, list[store.AnswerRow]] = {}
    for answer in held.answers:
        by_response.setdefault(answer.response_id, []).append(answer)
    definitions: dict[int, SurveyDefinition | None] = {}
    responses: list[ResponseItem] = []
    for r in held.responses:
        if r.definition_id not in definitions:
            try:
                definitions[r.definition_id] = await registry.by_row(session, r.definition_id)
            except (LookupError, ValueError):
                definitions[r.definition_id] = None
        defn = definitions[r.definition_id]
        order = {k: i for i, k in enumerate(defn.question_keys)} if defn is not None else {}
        rows = sorted(by_response.get(r.id, []), key=lambda a: order.get(a.question_key, 999))
        responses.append(
            ResponseItem(
                survey=r.title,
                period=_period(r.period_year, r.period_label),
                state=r.state,
                started_at=_at(r.started_at, tz),
                completed_at=_local(r.completed_at, tz),
                anonymous=defn.anonymous if defn is not None else False,
                answers=tuple(_answer(defn, a.question_key, a.value, locale) for a in rows),
            )
        )
    participations = [
        ParticipationItem(
            row.title, _period(row.period_year, row.period_label), _at(row.completed_at, tz)
        )
        for row in held.participations
    ]
    case_items = []
    for c in held.cases:
        reported = c.reported_by == person_id
        case_items.append(
            CaseItem(
                id=c.id,
                kind=c.kind,
                category=registry.option_label(
                    _case_form(c.kind, c.subject_union), "category", c.category
                )
                if c.category
                else "",
                status=c.status,
                urgent=c.urgent,
                reported=reported,
                about_me=c.subject_person_id == person_id,
                subject_name=c.subject_name if reported else None,
                description=c.description if reported else None,
                visible_to=_visible_to(c, held.bodies),
                reported_at=_at(c.created_at, tz),
                updated_at=_at(c.updated_at, tz),
            )
        )
    benefits = [
        BenefitItem(
            offer=b.offer,
            offer_label=registry.option_label("welfare_signup", "offer", b.offer),
            status=b.status,
            year=b.period_year,
            signed_up_at=_at(b.created_at, tz),
            confirmed_at=_local(b.confirmed_at, tz),
        )
        for b in held.benefits
    ]
    notices = [
        NoticeItem(
            n.title,
            n.status,
            _at(n.created_at, tz),
            _local(n.sent_at, tz),
            _local(n.acknowledged_at, tz),
        )
        for n in held.notices
    ]
    corrections = [
        CorrectionItem(
            k.field,
            k.old_value,
            k.new_value,
            k.status,
            _at(k.created_at, tz),
            _local(k.decided_at, tz),
        )
        for k in held.corrections
    ]
    data = PersonalData(
        made_at=dt.datetime.now(tz).replace(microsecond=0),
        record=record,
        chats=tuple(_chat(c, tz) for c in held.chats),
        consents=tuple(_consent(c, tz) for c in held.consents),
        responses=tuple(responses),
        participations=tuple(participations),
        cases=tuple(case_items),
        benefits=tuple(benefits),
        notices=tuple(notices),
        corrections=tuple(corrections),
        link_requests=tuple(_link_request(r, tz) for r in held.link_requests),
    )
    return data


async def gather_unlinked(
    session: AsyncSession, *, chat: ChatIdentity, tz: dt.tzinfo
) -> PersonalData:
    """What is held about a chat not linked to the roster: the chat itself, its decisions on
    the consent text and, if it asked to be linked, what it typed then."""
    assert chat.id is not None
    chat_list = await store.chat_rows(session, chat_id=chat.id)
    consent_list = await store.consent_rows(session, person_id=None, chats_of=chat_list)
    requests = await store.link_request_rows(session, person_id=None, chats_of=chat_list)
    return PersonalData(
        made_at=dt.datetime.now(tz).replace(microsecond=0),
        record=None,
        chats=tuple(_chat(c, tz) for c in chat_list),
        consents=tuple(_consent(c, tz) for c in consent_list),
        link_requests=tuple(_link_request(r, tz) for r in requests),
    )


async def record_export(session: AsyncSession, *, actor: Actor, fmt: str) -> None:
    """The audit row of an export: who, whose (the same person), in which format."""
    assert actor.person is not None
    await audit.record(
        session,
        AuditAction.DATA_EXPORTED,
        via="chat",
        actor_id=actor.person.id,
        person_id=actor.person.id,
        detail={"format": fmt},
    )
