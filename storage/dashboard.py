"""What the web dashboard shows and lets officers download, beyond the chat screens' figures:
why deliveries failed, a notice's counts by unit, who has not acknowledged a notice, a
campaign's people and answers, and the roster of a subtree.

Each function runs a fixed number of statements, whatever the number of rows, and sorts its
rows for people to read: units by name, word by word in Vietnamese order
(:func:`surveys.names.word_key`), then people by :func:`surveys.names.name_key` (sorted here,
not in SQL, so that SQLite and PostgreSQL agree).  Times are as stored: aware, in UTC.
Phones are as stored (E.164); the caller formats them.

Functions are keyword-only after the session and never commit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaigns import completed
from storage.models import (
    Channel,
    ChatStage,
    DeliveryStatus,
    ResponseState,
    Role,
    WorkStatus,
)
from storage.notices import NoticeCounts, count_columns, counts_of
from storage.reasons import Reason, reason_of
from storage.tables import (
    answers,
    chats,
    definitions,
    deliveries,
    participations,
    people,
    responses,
    runs,
    targets,
    units,
)
from surveys.loader import DefinitionError, definition_from_json
from surveys.names import NameKey, Weights, name_key, word_key
from surveys.schema import Audience, Question, QuestionKind, SurveyDefinition

UnitKey = tuple[tuple[Weights, ...], int]


def unit_key(name: str, unit_id: int) -> UnitKey:
    """The order of units in a list: by name, word by word in Vietnamese order, then id."""
    return tuple(word_key(word) for word in name.split()), unit_id


def _person_key(name: str | None, person_id: int | None) -> tuple[NameKey, int]:
    return name_key(name or ""), person_id or 0


# --------------------------------------------------------------------------- notices


@dataclass(frozen=True)
class ReasonCount:
    """How many of a notice's deliveries ended in ``status`` for ``reason``."""

    status: DeliveryStatus  # failed or unreachable
    reason: Reason
    count: int


_FINAL_BAD = (DeliveryStatus.FAILED, DeliveryStatus.UNREACHABLE)
_REASON_ORDER = {reason: index for index, reason in enumerate(Reason)}


async def notice_reasons(session: AsyncSession, *, notice_id: int) -> list[ReasonCount]:
    """The notice's failed and unreachable deliveries by (status, :class:`Reason`): the rows
    :func:`storage.notices.notice_counts` counts (its own, not its reminders, which carry no
    ``notice_id``); cancelled rows are (failed, cancelled).  Failed first, then unreachable;
    within each the largest count first (ties in the order of :class:`Reason`).  One query."""
    stmt = (
        select(deliveries.c.status, deliveries.c.error, func.count())
        .where(deliveries.c.notice_id == notice_id, deliveries.c.status.in_(_FINAL_BAD))
        .group_by(deliveries.c.status, deliveries.c.error)
    )
    totals: dict[tuple[DeliveryStatus, Reason], int] = defaultdict(int)
    for status, error, count in (await session.execute(stmt)).all():
        state = DeliveryStatus(status)
        totals[(state, reason_of(state, error))] += int(count)
    status_order = {status: index for index, status in enumerate(_FINAL_BAD)}
    return [
        ReasonCount(status, reason, count)
        for (status, reason), count in sorted(
            totals.items(),
            key=lambda item: (status_order[item[0][0]], -item[1], _REASON_ORDER[item[0][1]]),
        )
    ]


@dataclass(frozen=True)
class UnitNoticeCounts:
    """A notice's counts among the recipients whose unit (the person's own) is this one."""

    unit_id: int
    unit_code: str
    unit_name: str
    counts: NoticeCounts


async def notice_units(session: AsyncSession, *, notice_id: int) -> list[UnitNoticeCounts]:
    """The counts of :func:`storage.notices.notice_counts`, per unit of the recipients (the
    units with none are left out), by unit name.  One query."""
    unit = units.alias("recipient_unit")
    stmt = (
        select(unit.c.id, unit.c.code, unit.c.name, *count_columns())
        .select_from(
            deliveries.join(people, people.c.id == deliveries.c.person_id).join(
                unit, unit.c.id == people.c.unit_id
            )
        )
        .where(deliveries.c.notice_id == notice_id)
        .group_by(unit.c.id, unit.c.code, unit.c.name)
    )
    found = [
        UnitNoticeCounts(int(row[0]), str(row[1]), str(row[2]), counts_of(tuple(row[3:])))
        for row in (await session.execute(stmt)).all()
    ]
    return sorted(found, key=lambda u: unit_key(u.unit_name, u.unit_id))


@dataclass(frozen=True)
class UnacknowledgedLine:
    """Someone a notice reached who has not acknowledged it."""

    unit_id: int
    unit_name: str
    person_id: int
    full_name: str
    phone: str | None
    sent_at: dt.datetime | None


async def notice_unacknowledged(
    session: AsyncSession, *, notice_id: int
) -> list[UnacknowledgedLine]:
    """Everyone the notice was delivered to (status sent) who has not acknowledged it: the
    people :func:`storage.notices.not_acknowledged` counts, by unit name then name.  One
    query."""
    unit = units.alias("recipient_unit")
    stmt = (
        select(
            unit.c.id,
            unit.c.name,
            people.c.id,
            people.c.full_name,
            people.c.phone,
            deliveries.c.sent_at,
        )
        .select_from(
            deliveries.join(people, people.c.id == deliveries.c.person_id).join(
                unit, unit.c.id == people.c.unit_id
            )
        )
        .where(
            deliveries.c.notice_id == notice_id,
            deliveries.c.status == DeliveryStatus.SENT,
            deliveries.c.acknowledged_at.is_(None),
        )
    )
    found = [
        UnacknowledgedLine(int(uid), str(uname), int(pid), str(name), phone, sent_at)
        for uid, uname, pid, name, phone, sent_at in (await session.execute(stmt)).all()
    ]
    return sorted(
        found,
        key=lambda p: (unit_key(p.unit_name, p.unit_id), _person_key(p.full_name, p.person_id)),
    )


# --------------------------------------------------------------------------- campaigns


class Progress(StrEnum):
    """Where a campaign target stands."""

    DONE = "done"  # completed (a unit-level run: someone answered for the unit)
    STARTED = "started"  # a response begun and not completed (in progress, or cancelled)
    NOT_STARTED = "not_started"


@dataclass(frozen=True)
class Contact:
    """A person to call about a line."""

    person_id: int
    full_name: str
    phone: str | None


@dataclass(frozen=True)
class CampaignPerson:
    """A line of a campaign's people.

    A member run: one line per target person.  A unit-level run (``per_unit``: one answer
    per CĐCS, by any of its officers the run asks): one line per unit, naming the officer who
    answered (done) or who is answering (started), else the first of the unit's officers;
    the unit's other officers the run asks are in ``others``."""

    unit_id: int
    unit_code: str
    unit_name: str
    person_id: int
    full_name: str
    phone: str | None
    progress: Progress
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    others: tuple[Contact, ...] = ()


@dataclass(frozen=True)
class _Target:
    person_id: int
    unit_id: int
    unit_code: str
    unit_name: str
    full_name: str
    phone: str | None
    done: bool


@dataclass(frozen=True)
class _Response:
    person_id: int | None
    unit_id: int
    state: ResponseState
    started_at: dt.datetime
    completed_at: dt.datetime | None
    full_name: str | None
    phone: str | None


async def campaign_people(session: AsyncSession, *, run_id: int) -> list[CampaignPerson]:
    """Every target of the run (see :class:`CampaignPerson`), by unit name then name.

    Done is decided as :func:`storage.campaigns.progress_by_unit` decides it (the same SQL:
    :func:`storage.campaigns.completed`): a completed response of the person, or a
    participation row (an anonymous survey); for a unit-level run a completed response for
    the unit by anyone.  When: the response's completion, or the participation's.  Three
    queries."""
    unit = units.alias("target_unit")
    target_rows = (
        await session.execute(
            select(
                targets.c.person_id,
                targets.c.unit_id,
                unit.c.code,
                unit.c.name,
                people.c.full_name,
                people.c.phone,
                runs.c.per_unit,
                completed(runs.c.per_unit).label("done"),
            )
            .select_from(
                targets.join(runs, runs.c.id == targets.c.run_id)
                .join(people, people.c.id == targets.c.person_id)
                .join(unit, unit.c.id == targets.c.unit_id)
            )
            .where(targets.c.run_id == run_id)
        )
    ).all()
    if not target_rows:
        return []
    per_unit = bool(target_rows[0].per_unit)
    found = [
        _Target(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), r[5], bool(r.done))
        for r in target_rows
    ]
    answerer = people.alias("answerer")
    response_rows = (
        await session.execute(
            select(
                responses.c.person_id,
                responses.c.unit_id,
                responses.c.state,
                responses.c.started_at,
                responses.c.completed_at,
                answerer.c.full_name,
                answerer.c.phone,
            )
            .select_from(responses.outerjoin(answerer, answerer.c.id == responses.c.person_id))
            .where(responses.c.run_id == run_id)
        )
    ).all()
    found_responses = [
        _Response(
            None if r[0] is None else int(r[0]),
            int(r[1]),
            ResponseState(r[2]),
            r[3],
            r[4],
            None if r[5] is None else str(r[5]),
            r[6],
        )
        for r in response_rows
    ]
    took_part: dict[int, dt.datetime] = {
        int(pid): at
        for pid, at in (
            await session.execute(
                select(participations.c.person_id, participations.c.completed_at).where(
                    participations.c.run_id == run_id
                )
            )
        ).all()
    }
    lines = (
        _unit_lines(found, found_responses, took_part)
        if per_unit
        else _person_lines(found, found_responses, took_part)
    )
    return sorted(
        lines,
        key=lambda c: (unit_key(c.unit_name, c.unit_id), _person_key(c.full_name, c.person_id)),
    )


def _person_lines(
    found: Sequence[_Target],
    found_responses: Sequence[_Response],
    took_part: Mapping[int, dt.datetime],
) -> list[CampaignPerson]:
    own = {r.person_id: r for r in found_responses if r.person_id is not None}
    lines = []
    for t in found:
        response = own.get(t.person_id)
        finished: dt.datetime | None = None
        if response is not None and response.state == ResponseState.COMPLETED:
            finished = response.completed_at
        finished = finished or took_part.get(t.person_id)
        if t.done:
            progress = Progress.DONE
        elif response is not None:
            progress = Progress.STARTED
        else:
            progress = Progress.NOT_STARTED
        lines.append(
            CampaignPerson(
                unit_id=t.unit_id,
                unit_code=t.unit_code,
                unit_name=t.unit_name,
                person_id=t.person_id,
                full_name=t.full_name,
                phone=t.phone,
                progress=progress,
                started_at=None if response is None else response.started_at,
                finished_at=finished if t.done else None,
            )
        )
    return lines


def _unit_lines(
    found: Sequence[_Target],
    found_responses: Sequence[_Response],
    took_part: Mapping[int, dt.datetime],
) -> list[CampaignPerson]:
    by_unit: dict[int, list[_Target]] = defaultdict(list)
    for t in found:
        by_unit[t.unit_id].append(t)
    lines = []
    for unit_id, officers in by_unit.items():
        officers.sort(key=lambda t: _person_key(t.full_name, t.person_id))
        ids = {t.person_id for t in officers}
        theirs = [r for r in found_responses if r.unit_id == unit_id or r.person_id in ids]
        done = any(t.done for t in officers)
        answered = sorted(
            (r for r in theirs if r.state == ResponseState.COMPLETED),
            key=lambda r: (r.completed_at or r.started_at, r.started_at),
        )
        begun = sorted(
            (r for r in theirs if r.state != ResponseState.COMPLETED),
            key=lambda r: r.started_at,
            reverse=True,
        )
        chosen: _Response | None = None
        finished: dt.datetime | None = None
        if done and answered:
            chosen = answered[0]
            finished = chosen.completed_at
        elif done:
            finished = min((took_part[i] for i in ids if i in took_part), default=None)
        elif begun:
            chosen = begun[0]
        first = officers[0]
        if chosen is not None and chosen.person_id is not None and chosen.full_name is not None:
            person_id, name, phone = chosen.person_id, chosen.full_name, chosen.phone
        else:
            person_id, name, phone = first.person_id, first.full_name, first.phone
        if done:
            progress = Progress.DONE
        elif begun:
            progress = Progress.STARTED
        else:
            progress = Progress.NOT_STARTED
        lines.append(
            CampaignPerson(
                unit_id=unit_id,
                unit_code=first.unit_code,
                unit_name=first.unit_name,
                person_id=person_id,
                full_name=name,
                phone=phone,
                progress=progress,
                started_at=None if chosen is None else chosen.started_at,
                finished_at=finished,
                others=tuple(
                    Contact(t.person_id, t.full_name, t.phone)
                    for t in officers
                    if t.person_id != person_id
                ),
            )
        )
    return lines


@dataclass(frozen=True)
class QuestionColumn:
    """A question of the survey, as a column of its answers."""

    key: str
    prompt: str  # the question's text, from the definition (the key when unknown)
    kind: QuestionKind | None  # None: a key the definition does not have


#: An answer as shown: a choice as its option label (several joined with "; "), yes/no as a
#: bool (the caller words it), an integer, a date, a text or a phone (E.164, as stored), None
#: when not answered.
AnswerCell = str | int | bool | dt.date | None


@dataclass(frozen=True)
class AnswerRow:
    """One submitted response.  For an anonymous survey no name, phone nor time (the
    participation rows say who took part and when: a time here would tell whose answers
    these are)."""

    unit_id: int
    unit_code: str
    unit_name: str  # the unit answered for (the respondent's, or the CĐCS of a unit report)
    full_name: str | None
    phone: str | None
    completed_at: dt.datetime | None
    answers: Mapping[str, AnswerCell]  # by question key; every column's key is present


@dataclass(frozen=True)
class CampaignAnswers:
    """The submitted responses of a run, and their columns in the definition's order."""

    run_id: int
    survey_key: str
    title: str
    anonymous: bool
    per_unit: bool
    questions: tuple[QuestionColumn, ...]
    rows: tuple[AnswerRow, ...]
    # Responses left out: their respondent withdrew their consent, and the survey is a
    # member's own (not anonymous, not a unit report): their answers are no longer used.
    withheld: int = 0


MULTI_SEPARATOR = "; "


def _shown(question: Question | None, stored: str) -> AnswerCell:
    """A stored (JSON) answer as shown (see :data:`AnswerCell`)."""
    try:
        value = json.loads(stored)
    except ValueError:
        return stored
    if value is None:
        return None
    kind = question.kind if question is not None else None
    if question is not None and kind == QuestionKind.SINGLE and isinstance(value, str):
        option = question.option(value)
        return option.label if option is not None else value
    if isinstance(value, list):
        labels = []
        for item in value:
            option = question.option(str(item)) if question is not None else None
            labels.append(option.label if option is not None else str(item))
        return MULTI_SEPARATOR.join(labels)
    if kind == QuestionKind.DATE and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, bool | int | str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _definition(body: str, definition_id: int) -> SurveyDefinition | None:
    try:
        return definition_from_json(body, source=f"survey_definitions[{definition_id}]")
    except DefinitionError:
        return None


async def campaign_answers(session: AsyncSession, *, run_id: int) -> CampaignAnswers | None:
    """The run's completed responses, one row each (see :class:`AnswerRow`), by unit name
    then respondent name (anonymous: then by the answers themselves), with the questions of
    the run's definition in order; None when there is no such run.  A definition that cannot
    be read is taken as anonymous, its columns the answers' keys.  Three queries."""
    head = (
        await session.execute(
            select(
                definitions.c.id,
                definitions.c.key,
                definitions.c.title,
                definitions.c.body,
                runs.c.per_unit,
            )
            .select_from(runs.join(definitions, definitions.c.id == runs.c.definition_id))
            .where(runs.c.id == run_id)
        )
    ).first()
    if head is None:
        return None
    defn = _definition(str(head.body), int(head.id))
    anonymous = defn is None or defn.anonymous
    per_unit = bool(head.per_unit) or (defn is not None and defn.audience == Audience.UNIT)
    unit = units.alias("response_unit")
    respondent = people.alias("respondent")
    response_rows = (
        await session.execute(
            select(
                responses.c.id,
                unit.c.id,
                unit.c.code,
                unit.c.name,
                responses.c.completed_at,
                respondent.c.full_name,
                respondent.c.phone,
                respondent.c.consent_withdrawn_at,
            )
            .select_from(
                responses.join(unit, unit.c.id == responses.c.unit_id).outerjoin(
                    respondent, respondent.c.id == responses.c.person_id
                )
            )
            .where(responses.c.run_id == run_id, responses.c.state == ResponseState.COMPLETED)
        )
    ).all()
    completed_ids = (
        select(responses.c.id)
        .where(responses.c.run_id == run_id, responses.c.state == ResponseState.COMPLETED)
        .scalar_subquery()
    )
    stored: dict[int, dict[str, str]] = defaultdict(dict)
    seen_keys: list[str] = []
    for response_id, key, value in (
        await session.execute(
            select(answers.c.response_id, answers.c.question_key, answers.c.value)
            .where(answers.c.response_id.in_(completed_ids))
            .order_by(answers.c.response_id, answers.c.id)
        )
    ).all():
        stored[int(response_id)][str(key)] = str(value)
        if key not in seen_keys:
            seen_keys.append(str(key))
    columns = [QuestionColumn(q.key, q.prompt, q.kind) for q in defn.questions] if defn else []
    known = {c.key for c in columns}
    columns += [QuestionColumn(k, k, None) for k in seen_keys if k not in known]
    questions = {q.key: q for q in defn.questions} if defn else {}
    rows: list[AnswerRow] = []
    withheld = 0
    for response_id, uid, code, uname, completed_at, name, phone, withdrawn_at in response_rows:
        if not anonymous and not per_unit and withdrawn_at is not None:
            withheld += 1
            continue
        given = stored.get(int(response_id), {})
        shown = {
            c.key: _shown(questions.get(c.key), given[c.key]) if c.key in given else None
            for c in columns
        }
        rows.append(
            AnswerRow(
                unit_id=int(uid),
                unit_code=str(code),
                unit_name=str(uname),
                full_name=None if anonymous or name is None else str(name),
                phone=None if anonymous else phone,
                completed_at=None if anonymous else completed_at,
                answers=shown,
            )
        )
    if anonymous:
        rows.sort(
            key=lambda r: (
                unit_key(r.unit_name, r.unit_id),
                tuple(_sortable(r.answers[c.key]) for c in columns),
            )
        )
    else:
        rows.sort(
            key=lambda r: (
                unit_key(r.unit_name, r.unit_id),
                name_key(r.full_name or ""),
                r.completed_at or dt.datetime.min.replace(tzinfo=dt.UTC),
            )
        )
    return CampaignAnswers(
        run_id=run_id,
        survey_key=str(head.key),
        title=str(head.title),
        anonymous=anonymous,
        per_unit=per_unit,
        questions=tuple(columns),
        rows=tuple(rows),
        withheld=withheld,
    )


def _sortable(value: AnswerCell) -> tuple[int, str]:
    """A total order over mixed answers (unanswered first), for the rows of an anonymous
    survey: an order that says nothing of who answered when."""
    if value is None:
        return 0, ""
    if isinstance(value, bool):
        return 1, str(int(value))
    if isinstance(value, int):
        return 2, f"{value:020d}" if value >= 0 else f"-{-value:020d}"
    if isinstance(value, dt.date):
        return 3, value.isoformat()
    return 4, value


# --------------------------------------------------------------------------- roster


@dataclass(frozen=True)
class RosterLine:
    """A person of the roster (never an erased one)."""

    unit_id: int
    unit_code: str
    unit_name: str
    person_id: int
    full_name: str
    phone: str | None
    is_member: bool
    role: Role
    office_name: str | None  # an officer's union body (officer_unit_id), when set
    work_status: WorkStatus
    left_on: dt.date | None
    channels: tuple[Channel, ...]  # the channels of their linked chats, in Channel order

    @property
    def linked(self) -> bool:
        return bool(self.channels)


async def roster_lines(session: AsyncSession, *, path: str) -> list[RosterLine]:
    """Everyone whose unit lies in the subtree ``path`` (the unit's own materialized path
    included), but the erased, by unit name then name.  Two queries."""
    unit = units.alias("person_unit")
    office = units.alias("office")
    inside = [unit.c.path.startswith(path, autoescape=True), people.c.erased_at.is_(None)]
    rows = (
        await session.execute(
            select(
                unit.c.id,
                unit.c.code,
                unit.c.name,
                people.c.id,
                people.c.full_name,
                people.c.phone,
                people.c.is_member,
                people.c.role,
                office.c.name,
                people.c.work_status,
                people.c.left_on,
            )
            .select_from(
                people.join(unit, unit.c.id == people.c.unit_id).outerjoin(
                    office, office.c.id == people.c.officer_unit_id
                )
            )
            .where(*inside)
        )
    ).all()
    linked: dict[int, set[Channel]] = defaultdict(set)
    for person_id, channel in (
        await session.execute(
            select(chats.c.person_id, chats.c.channel)
            .distinct()
            .select_from(
                chats.join(people, people.c.id == chats.c.person_id).join(
                    unit, unit.c.id == people.c.unit_id
                )
            )
            .where(chats.c.stage == ChatStage.LINKED, *inside)
        )
    ).all():
        linked[int(person_id)].add(Channel(channel))
    order = list(Channel)
    found = [
        RosterLine(
            unit_id=int(r[0]),
            unit_code=str(r[1]),
            unit_name=str(r[2]),
            person_id=int(r[3]),
            full_name=str(r[4]),
            phone=r[5],
            is_member=bool(r[6]),
            role=Role(r[7]),
            office_name=None if r[8] is None else str(r[8]),
            work_status=WorkStatus(r[9]),
            left_on=r[10],
            channels=tuple(sorted(linked.get(int(r[3]), ()), key=order.index)),
        )
        for r in rows
    ]
    return sorted(
        found,
        key=lambda p: (unit_key(p.unit_name, p.unit_id), _person_key(p.full_name, p.person_id)),
    )
