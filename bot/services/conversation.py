"""Answering a survey in chat: one question at a time, every answer stored as it arrives.

The conversation state is only the chat's ``active_response_id``; the step is derived from the
definition and the answers stored so far (``surveys.engine``), so a member can stop and resume
days later, and a restarted bot carries on where the member left off.

Each function returns a :class:`Screen`: what to show next.  Nothing here commits or sends.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import alerts, casework
from bot.services.actors import Actor
from bot.services.alerts import UrgentPolicy
from storage import campaigns, cases, people
from storage import surveys as store
from storage.models import (
    CaseKind,
    Response,
    ResponseState,
    RunStatus,
    SurveyRun,
    Unit,
    UnitKind,
    utcnow,
)
from surveys import engine
from surveys.loader import (
    builtin_definitions,
    definition_checksum,
    definition_from_json,
    definition_to_json,
)
from surveys.schema import (
    AnswerValue,
    Audience,
    Level,
    Outcome,
    Question,
    QuestionKind,
    SurveyDefinition,
)


class SurveyRegistry:
    """The built-in definitions, and definitions rebuilt from their stored rows (cached)."""

    def __init__(self, definitions: dict[str, SurveyDefinition] | None = None) -> None:
        self.builtins = definitions if definitions is not None else builtin_definitions()
        self._by_row: dict[int, SurveyDefinition] = {}
        self._row_of_key: dict[str, int] = {}
        # A run's definition never changes once written: asked for on every answer, it is
        # read once per run.
        self._definition_of_run: dict[int, int] = {}

    async def sync(self, session: AsyncSession) -> None:
        """Store each built-in definition (a changed one becomes a new version)."""
        for key, defn in self.builtins.items():
            body = definition_to_json(defn)
            row = await store.ensure_definition(
                session, key=key, title=defn.title, checksum=definition_checksum(body), body=body
            )
            assert row.id is not None
            self._by_row[row.id] = defn
            self._row_of_key[key] = row.id

    def option_label(self, survey_key: str, question_key: str, value: str) -> str:
        """The label of an option of a built-in survey (the value itself if unknown)."""
        defn = self.builtins.get(survey_key)
        if defn is None or not defn.has_question(question_key):
            return value
        option = defn.question(question_key).option(value)
        return option.label if option is not None else value

    async def row_id(self, session: AsyncSession, key: str) -> int:
        if key not in self._row_of_key:
            await self.sync(session)
        return self._row_of_key[key]

    async def by_run(self, session: AsyncSession, run_id: int) -> SurveyDefinition | None:
        """The definition a run asks (None for an unknown run)."""
        definition_id = self._definition_of_run.get(run_id)
        if definition_id is None:
            run = await store.get_run(session, run_id=run_id)
            if run is None:
                return None
            definition_id = self._definition_of_run[run_id] = run.definition_id
        return await self.by_row(session, definition_id)

    async def by_row(self, session: AsyncSession, definition_id: int) -> SurveyDefinition:
        cached = self._by_row.get(definition_id)
        if cached is None:
            row = await store.get_definition(session, definition_id=definition_id)
            if row is None:
                raise LookupError(f"survey definition {definition_id} not found")
            cached = definition_from_json(row.body, source=f"survey_definitions[{row.id}]")
            self._by_row[definition_id] = cached
        return cached


class ScreenKind(StrEnum):
    QUESTION = "question"  # ask ``question`` (with ``error`` after invalid input)
    SUMMARY = "summary"  # all answered: confirm before submit
    DONE = "done"  # submitted
    CONFIRM_STOP = "confirm_stop"  # "Dừng khảo sát" pressed: stop and drop the answers?
    CANCELLED = "cancelled"  # the member stopped the survey
    CLOSED = "closed"  # the run is closed (or its closing time has passed)
    NOT_OPEN = "not_open"  # a campaign whose opening time has not come yet
    ALREADY_DONE = "already_done"  # this person has already completed this run
    UNIT_DONE = "unit_done"  # a unit-level survey another officer already answered for the unit
    STALE = "stale"  # a button of an old question, an old or someone else's survey: ``resume``
    NONE = "none"  # no survey in progress


@dataclass(frozen=True)
class Screen:
    kind: ScreenKind
    response_id: int | None = None
    definition: SurveyDefinition | None = None
    question: Question | None = None
    #: "Câu {index}/{total}": with ``total_max`` above ``total``, answers still to come decide
    #: between ``total`` and ``total_max`` questions (see ``surveys.engine.Progress``).
    index: int = 0
    total: int = 0
    total_max: int = 0
    selected: tuple[str, ...] = ()
    error_code: str | None = None
    error_params: dict[str, Any] = field(default_factory=dict)
    summary: list[tuple[Question, str]] = field(default_factory=list)
    can_go_back: bool = False
    case_id: int | None = None
    #: With a STALE screen: where the chat is now (its current question or summary), or None
    #: when no survey is in progress.  Only ever the chat's own survey, never the one a foreign
    #: or forged button names.
    resume: Screen | None = None


@dataclass(frozen=True)
class Offer:
    """A survey the member can open from ``/surveys``."""

    key: str
    title: str
    run_id: int | None  # None: a standing form (hardship report, welfare sign-up)
    unit_name: str | None
    state: ResponseState | None


#: Forms a member can open at any time, without a campaign: each yields a case or a sign-up.
STANDING_OUTCOMES = (Outcome.HARDSHIP_CASE, Outcome.LEGAL_CASE, Outcome.WELFARE_BENEFIT)


_ENTRY_ORDER = {ResponseState.IN_PROGRESS: 0, ResponseState.COMPLETED: 1, None: 2}


def _one_entry_per_survey(offers: list[Offer]) -> list[Offer]:
    """One entry per survey: a member asked in two open runs of it (a province run and a
    CĐCS run launched before launches checked for overlap) sees the run they started or
    answered, else the older one; one person answers a survey once a period."""
    best: dict[str, Offer] = {}
    for offer in offers:  # oldest run first
        kept = best.get(offer.key)
        if kept is None or _ENTRY_ORDER.get(offer.state, 2) < _ENTRY_ORDER.get(kept.state, 2):
            best[offer.key] = offer
    return [o for o in offers if best[o.key] is o]


class Conversation:
    """The survey-answering service; one per application, stateless between calls."""

    def __init__(
        self, registry: SurveyRegistry, *, tz: dt.tzinfo, urgent: UrgentPolicy | None = None
    ) -> None:
        self.registry = registry
        self.tz = tz
        # How urgent reports alert officers (None: no alerts, for a conversation that never
        # stores a report, as the CLI's).
        self.urgent = urgent

    def year_now(self) -> int:
        return dt.datetime.now(self.tz).year

    # -- what can be answered -------------------------------------------------------------

    async def offers(self, session: AsyncSession, *, actor: Actor) -> list[Offer]:
        if actor.person is None or actor.unit is None or actor.person.id is None:
            return []
        standing = tuple(
            key for key, d in self.registry.builtins.items() if d.outcome in STANDING_OUTCOMES
        )
        result: list[Offer] = []
        runs = await store.open_runs_for_unit_path(
            session, unit_path=actor.unit.path, exclude_keys=standing
        )
        now = utcnow()
        for run, row, unit in runs:
            assert run.id is not None
            defn = await self.registry.by_row(session, row.id or 0)
            if run.closes_at is not None:
                # A campaign: offered to the people it was launched to, while it is open.
                if run.opens_at > now or run.closes_at <= now:
                    continue
                asked = await campaigns.target_of(session, run_id=run.id, person_id=actor.person.id)
                if asked is None:
                    continue
            elif defn.audience != "member":
                continue
            response = await store.response_for(session, run_id=run.id, person_id=actor.person.id)
            state = response.state if response is not None else None
            if state is None and await store.has_participated(
                session, run_id=run.id, person_id=actor.person.id
            ):
                state = ResponseState.COMPLETED
            result.append(Offer(row.key, defn.title, run.id, unit.name, state))
        result = _one_entry_per_survey(result)
        started = await self._standing_states(session, person_id=actor.person.id, keys=standing)
        for key in standing:
            form = self.registry.builtins[key]
            if form.audience == Audience.UNIT and not actor.is_officer:
                continue  # a union body's own form: its officers file it
            result.append(Offer(key, form.title, None, None, started.get(key)))
        return result

    async def _standing_states(
        self, session: AsyncSession, *, person_id: int, keys: tuple[str, ...]
    ) -> dict[str, ResponseState]:
        """Where the member is with each standing form: a report (hardship, legal) started
        and not sent is in progress, whatever survey the chat answered since; the welfare
        sign-up of this year is in progress or completed.  A sent report is not "completed":
        another one can be filed at any time."""
        year = self.year_now()
        states: dict[str, ResponseState] = {}
        for key, response, run in await store.own_responses_on_open_runs(
            session, person_id=person_id, keys=keys
        ):
            if key in states:
                continue  # the newest response of the form decides
            if self.registry.builtins[key].outcome == Outcome.WELFARE_BENEFIT:
                if run.period_year == year:
                    states[key] = response.state
            elif response.state == ResponseState.IN_PROGRESS:
                states[key] = response.state
        return states

    def launchable(self, scope: Unit | None = None) -> list[SurveyDefinition]:
        """Surveys an officer launches (the standing forms need no launch); with ``scope``,
        those that someone in it can answer (a CĐCS officer is not offered the report of the
        union bodies above the CĐCS)."""
        found = [d for d in self.registry.builtins.values() if d.outcome not in STANDING_OUTCOMES]
        if scope is None or scope.kind not in (UnitKind.GRASSROOTS, UnitKind.GROUP):
            return found
        return [d for d in found if not d.answered_by or Level.GRASSROOTS in d.answered_by]

    # -- opening and resuming -------------------------------------------------------------

    async def open(
        self, session: AsyncSession, *, actor: Actor, run_id: int | None, key: str | None
    ) -> Screen:
        """Start (or resume) a run, or a standing form by key."""
        person, unit = actor.person, actor.unit
        if person is None or unit is None or person.id is None or unit.id is None:
            return await self._stale(session, actor=actor)
        if run_id is None:
            defn_for_key = self.registry.builtins.get(key or "")
            if defn_for_key is None or defn_for_key.outcome not in STANDING_OUTCOMES:
                return await self._stale(session, actor=actor)
            if defn_for_key.audience == Audience.UNIT and not actor.is_officer:
                return await self._stale(session, actor=actor)
            run = await self._standing_run(session, actor=actor, key=defn_for_key.key)
        else:
            found = await store.get_run(session, run_id=run_id)
            if found is None or not await self._in_audience(session, run=found, unit=unit):
                return await self._stale(session, actor=actor)
            run = found
        assert run.id is not None
        defn = await self.registry.by_row(session, run.definition_id)
        closed = self._closed(run)
        if closed is not None:
            return Screen(closed, definition=defn)
        answers_for = unit.id
        if run.closes_at is not None:
            # A campaign is answered by the people it was launched to; a unit-level one for the
            # CĐCS the officer answers for.
            target = await campaigns.target_of(session, run_id=run.id, person_id=person.id)
            if target is None:
                return await self._stale(session, actor=actor)
            answers_for = target.unit_id
        response = await store.response_for(session, run_id=run.id, person_id=person.id)
        not_done = response is None or response.state != ResponseState.COMPLETED
        if (
            not_done
            and run.per_unit
            and await campaigns.unit_answered(session, run_id=run.id, unit_id=answers_for)
        ):
            return Screen(ScreenKind.UNIT_DONE, definition=defn)
        if response is None:
            if await store.has_participated(session, run_id=run.id, person_id=person.id):
                return Screen(ScreenKind.ALREADY_DONE, definition=defn)
            response = await store.start_response(
                session,
                run_id=run.id,
                person_id=person.id,
                unit_id=answers_for,
                is_member=person.is_member,
            )
        elif response.state == ResponseState.COMPLETED:
            return Screen(ScreenKind.ALREADY_DONE, definition=defn)
        elif response.state == ResponseState.ABANDONED:
            await store.reopen_response(session, response=response)
        actor.chat.active_response_id = response.id
        return await self._screen(session, response=response, defn=defn)

    async def current(self, session: AsyncSession, *, actor: Actor) -> Screen:
        """The screen of the survey in progress in this chat (after days, or a restart)."""
        loaded = await self._active(session, actor=actor, response_id=None)
        if loaded is None:
            return Screen(ScreenKind.NONE)
        response, defn = loaded
        return await self._screen(session, response=response, defn=defn)

    # -- answering ------------------------------------------------------------------------

    async def answer_text(self, session: AsyncSession, *, actor: Actor, text: str) -> Screen:
        loaded = await self._active(session, actor=actor, response_id=None)
        if loaded is None:
            return Screen(ScreenKind.NONE)
        response, defn = loaded
        assert response.id is not None
        answers = await store.load_answers(session, response_id=response.id)
        question = engine.next_question(defn, answers)
        if question is None:
            # At the summary, text is not an answer: show the summary again.
            return await self._screen(session, response=response, defn=defn, answers=answers)
        try:
            value = engine.parse_text(question, text)
        except engine.InvalidAnswer as exc:
            return await self._screen(
                session, response=response, defn=defn, answers=answers, error=exc
            )
        return await self._store(
            session, response=response, defn=defn, q=question, value=value, answers=answers
        )

    async def answer_option(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        response_id: int,
        question_key: str,
        option: int,
    ) -> Screen:
        """A button of a single-choice or yes/no question (``option`` indexes its choices)."""
        loaded = await self._current_question(session, actor, response_id, question_key)
        if isinstance(loaded, Screen):
            return loaded
        response, defn, question, answers = loaded
        value: AnswerValue
        if question.kind == QuestionKind.YES_NO and option in (0, 1):
            value = option == 0
        elif question.kind == QuestionKind.SINGLE and 0 <= option < len(question.options):
            value = question.options[option].value
        else:
            return await self._stale(session, actor=actor)
        return await self._store(
            session, response=response, defn=defn, q=question, value=value, answers=answers
        )

    async def toggle(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        response_id: int,
        question_key: str,
        option: int,
    ) -> Screen:
        """Tick or untick one choice of a multiple-choice question (kept in the draft)."""
        loaded = await self._current_question(session, actor, response_id, question_key)
        if isinstance(loaded, Screen):
            return loaded
        response, defn, question, answers = loaded
        if question.kind != QuestionKind.MULTI or not 0 <= option < len(question.options):
            return await self._stale(session, actor=actor)
        selected = engine.toggle(question, self._draft(response), question.options[option].value)
        response.draft = json.dumps(selected, ensure_ascii=False)
        await session.flush()
        return await self._screen(session, response=response, defn=defn, answers=answers)

    async def finish_multi(
        self, session: AsyncSession, *, actor: Actor, response_id: int, question_key: str
    ) -> Screen:
        """The "Xong" button of a multiple-choice question."""
        loaded = await self._current_question(session, actor, response_id, question_key)
        if isinstance(loaded, Screen):
            return loaded
        response, defn, question, answers = loaded
        if question.kind != QuestionKind.MULTI:
            return await self._stale(session, actor=actor)
        selected = self._draft(response)
        try:
            # Nothing ticked: an optional question is skipped; a required one is told to
            # choose at least one item ("empty_selection"), not that it is required.
            value = engine.check_value(
                question, selected if selected or question.required else None
            )
        except engine.InvalidAnswer as exc:
            return await self._screen(
                session, response=response, defn=defn, answers=answers, error=exc
            )
        response.draft = None
        return await self._store(
            session, response=response, defn=defn, q=question, value=value, answers=answers
        )

    async def skip(
        self, session: AsyncSession, *, actor: Actor, response_id: int, question_key: str
    ) -> Screen:
        loaded = await self._current_question(session, actor, response_id, question_key)
        if isinstance(loaded, Screen):
            return loaded
        response, defn, question, answers = loaded
        if question.required:
            return await self._screen(
                session,
                response=response,
                defn=defn,
                answers=answers,
                error=engine.InvalidAnswer("required", {}),
            )
        response.draft = None
        return await self._store(
            session, response=response, defn=defn, q=question, value=None, answers=answers
        )

    async def back(self, session: AsyncSession, *, actor: Actor, response_id: int | None) -> Screen:
        """ "Quay lại": forget the answer to the previous question and ask it again."""
        loaded = await self._active(session, actor=actor, response_id=response_id)
        if loaded is None:
            if response_id is None:
                return Screen(ScreenKind.NONE)
            return await self._stale(session, actor=actor)
        response, defn = loaded
        assert response.id is not None
        answers = await store.load_answers(session, response_id=response.id)
        previous = engine.previous_question(defn, answers)
        if previous is None:
            return await self._screen(session, response=response, defn=defn, answers=answers)
        response.draft = None
        await store.delete_answers(session, response_id=response.id, question_keys=[previous.key])
        answers.pop(previous.key, None)
        return await self._screen(session, response=response, defn=defn, answers=answers)

    async def submit(self, session: AsyncSession, *, actor: Actor, response_id: int) -> Screen:
        loaded = await self._active(session, actor=actor, response_id=response_id)
        if loaded is None:
            return await self._stale(session, actor=actor)
        response, defn = loaded
        assert response.id is not None
        answers = await store.load_answers(session, response_id=response.id)
        if not engine.is_complete(defn, answers):
            return await self._screen(session, response=response, defn=defn, answers=answers)
        run = await store.get_run(session, run_id=response.run_id)
        if run is None or self._closed(run) is not None:
            # Late: kept as it is (not counted), and the member is told politely.
            return Screen(ScreenKind.CLOSED, definition=defn)
        if run.per_unit and await campaigns.unit_answered(
            session, run_id=run.id or 0, unit_id=response.unit_id
        ):
            return Screen(ScreenKind.UNIT_DONE, definition=defn)
        case_id = await self._apply_outcome(
            session, actor=actor, defn=defn, run=run, response=response, answers=answers
        )
        await store.complete_response(session, response=response, anonymous=defn.anonymous)
        actor.chat.active_response_id = None
        return Screen(ScreenKind.DONE, response_id=response.id, definition=defn, case_id=case_id)

    async def cancel(
        self, session: AsyncSession, *, actor: Actor, response_id: int | None = None
    ) -> Screen:
        """``/cancel`` or the cancel button: the survey stops; it can be started again.

        The button names its survey (``response_id``): the one of an older or someone else's
        survey stops nothing (STALE)."""
        if response_id is not None and response_id != actor.chat.active_response_id:
            return await self._stale(session, actor=actor)
        loaded = await self._active(session, actor=actor, response_id=None)
        actor.chat.active_response_id = None
        if loaded is None:
            return Screen(ScreenKind.NONE)
        response, defn = loaded
        await store.abandon_response(session, response=response)
        return Screen(ScreenKind.CANCELLED, response_id=response.id, definition=defn)

    async def ask_stop(self, session: AsyncSession, *, actor: Actor, response_id: int) -> Screen:
        """The stop button: nothing changes yet; the screen asks whether to stop, with the
        answers given so far (``summary``), which stopping drops."""
        loaded = await self._active(session, actor=actor, response_id=response_id)
        if loaded is None:
            return await self._stale(session, actor=actor)
        response, defn = loaded
        assert response.id is not None
        answers = await store.load_answers(session, response_id=response.id)
        return Screen(
            ScreenKind.CONFIRM_STOP,
            response_id=response.id,
            definition=defn,
            summary=engine.summary(defn, answers),
        )

    async def resume(self, session: AsyncSession, *, actor: Actor, response_id: int) -> Screen:
        """Not stopping after all: the survey's current question (or summary) again."""
        loaded = await self._active(session, actor=actor, response_id=response_id)
        if loaded is None:
            return await self._stale(session, actor=actor)
        response, defn = loaded
        return await self._screen(session, response=response, defn=defn)

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _closed(run: SurveyRun) -> ScreenKind | None:
        """CLOSED once a run is closed or past its closing time (the scheduler may not have
        closed it yet), NOT_OPEN before a campaign's opening time; None while it is open."""
        now = utcnow()
        if run.status != RunStatus.OPEN or (run.closes_at is not None and run.closes_at <= now):
            return ScreenKind.CLOSED
        if run.closes_at is not None and run.opens_at > now:
            return ScreenKind.NOT_OPEN
        return None

    async def _standing_run(self, session: AsyncSession, *, actor: Actor, key: str) -> SurveyRun:
        """Hardship reports and legal requests: a run per report (a member may file several a
        year); welfare sign-up: one provincial run a year."""
        assert actor.unit is not None and actor.unit.id is not None
        defn = self.registry.builtins[key]
        year = self.year_now()
        definition_id = await self.registry.row_id(session, key)
        if defn.outcome in (Outcome.HARDSHIP_CASE, Outcome.LEGAL_CASE):
            # Resume a report in progress (the newest, even when the chat has answered
            # another survey since) rather than opening a second one.
            assert actor.person is not None and actor.person.id is not None
            for _, response, started in await store.own_responses_on_open_runs(
                session, person_id=actor.person.id, keys=(key,)
            ):
                if response.state == ResponseState.IN_PROGRESS:
                    return started
            return await store.create_run(
                session,
                definition_id=definition_id,
                unit_id=actor.unit.id,
                launched_by=None,
                period_year=year,
            )
        root = await people.root_unit(session)
        assert root is not None and root.id is not None
        run = await store.open_run_for(
            session, definition_key=key, unit_id=root.id, period_year=year
        )
        if run is None:
            run = await store.create_run(
                session,
                definition_id=definition_id,
                unit_id=root.id,
                launched_by=None,
                period_year=year,
            )
        return run

    async def _in_audience(self, session: AsyncSession, *, run: SurveyRun, unit: Unit) -> bool:
        audience = await people.get_unit(session, unit_id=run.unit_id)
        return audience is not None and unit.path.startswith(audience.path)

    async def _active(
        self, session: AsyncSession, *, actor: Actor, response_id: int | None
    ) -> tuple[Response, SurveyDefinition] | None:
        """The chat's response in progress; with ``response_id``, only if it is that one."""
        active_id = actor.chat.active_response_id
        if active_id is None or (response_id is not None and response_id != active_id):
            return None
        response = await store.get_response(session, response_id=active_id)
        if (
            response is None
            or actor.person is None
            or response.person_id != actor.person.id
            or response.state != ResponseState.IN_PROGRESS
        ):
            actor.chat.active_response_id = None
            return None
        defn = await self.registry.by_run(session, response.run_id)
        return None if defn is None else (response, defn)

    async def _stale(self, session: AsyncSession, *, actor: Actor) -> Screen:
        """A button of an older screen, or someone else's, or forged: it changes nothing, and
        the screen carries where this chat is now (``resume``): its current question or
        summary, rebuilt from the database as ``current`` does, or None with no survey in
        progress.  Pressing it again gives the same screen again."""
        loaded = await self._active(session, actor=actor, response_id=None)
        if loaded is None:
            return Screen(ScreenKind.STALE)
        response, defn = loaded
        resume = await self._screen(session, response=response, defn=defn)
        return Screen(ScreenKind.STALE, resume=resume)

    async def _current_question(
        self, session: AsyncSession, actor: Actor, response_id: int, question_key: str
    ) -> tuple[Response, SurveyDefinition, Question, dict[str, Any]] | Screen:
        """Check that a button names the question being asked now in this chat's survey."""
        loaded = await self._active(session, actor=actor, response_id=response_id)
        if loaded is None:
            return await self._stale(session, actor=actor)
        response, defn = loaded
        assert response.id is not None
        answers = await store.load_answers(session, response_id=response.id)
        question = engine.next_question(defn, answers)
        if question is None or question.key != question_key:
            return await self._stale(session, actor=actor)
        return response, defn, question, answers

    async def _store(
        self,
        session: AsyncSession,
        *,
        response: Response,
        defn: SurveyDefinition,
        q: Question,
        value: AnswerValue,
        answers: dict[str, Any],
    ) -> Screen:
        """Store ``value`` for ``q`` beside ``answers`` (every answer stored so far, as just
        loaded: the answers after it are those plus this one, with no second read)."""
        assert response.id is not None
        await store.save_answer(
            session, response=response, question_key=q.key, value=value, stored=answers.keys()
        )
        answers = {**answers, q.key: value}
        kept = engine.prune(defn, answers)
        dropped = [key for key in answers if key not in kept]
        await store.delete_answers(session, response_id=response.id, question_keys=dropped)
        return await self._screen(session, response=response, defn=defn, answers=kept)

    async def _screen(
        self,
        session: AsyncSession,
        *,
        response: Response,
        defn: SurveyDefinition,
        answers: dict[str, Any] | None = None,
        error: engine.InvalidAnswer | None = None,
    ) -> Screen:
        assert response.id is not None
        if answers is None:
            answers = await store.load_answers(session, response_id=response.id)
        question = engine.next_question(defn, answers)
        can_back = engine.previous_question(defn, answers) is not None
        if question is None:
            return Screen(
                ScreenKind.SUMMARY,
                response_id=response.id,
                definition=defn,
                summary=engine.summary(defn, answers),
                can_go_back=can_back,
            )
        counter = engine.progress(defn, answers)
        return Screen(
            ScreenKind.QUESTION,
            response_id=response.id,
            definition=defn,
            question=question,
            index=counter.index,
            total=counter.fewest,
            total_max=counter.most,
            selected=tuple(self._draft(response)) if question.kind == QuestionKind.MULTI else (),
            error_code=error.code if error else None,
            error_params=dict(error.params) if error else {},
            can_go_back=can_back,
        )

    @staticmethod
    def _draft(response: Response) -> list[str]:
        if not response.draft:
            return []
        loaded = json.loads(response.draft)
        return [str(v) for v in loaded] if isinstance(loaded, list) else []

    async def _apply_outcome(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        defn: SurveyDefinition,
        run: SurveyRun,
        response: Response,
        answers: dict[str, Any],
    ) -> int | None:
        """What a completed form creates: a hardship or legal case, or a welfare sign-up."""
        person = actor.person
        assert person is not None and person.id is not None
        if defn.outcome in (Outcome.HARDSHIP_CASE, Outcome.LEGAL_CASE):
            # A legal request is the member's own matter, or (a form answered for a unit) the
            # union body's; a hardship may be a colleague's.
            for_colleague = answers.get("subject") == "colleague"
            for_union = defn.audience == Audience.UNIT
            subject_name = str(answers.get("colleague_name") or "") if for_colleague else ""
            subject_id: int | None = None
            # Whether the subject was a member when reported: A3b and P4 count members' cases.
            # A colleague not found in the roster is not a known member.
            subject_member = False
            unit_id = response.unit_id
            if for_colleague and answers.get("colleague_phone"):
                colleague = await people.person_by_phone(
                    session, phone=str(answers["colleague_phone"])
                )
                if colleague is not None:
                    subject_id, unit_id = colleague.id, colleague.unit_id
                    subject_name = subject_name or colleague.full_name
                    subject_member = colleague.is_member
            if for_union:
                subject_name = actor.unit.name if actor.unit is not None else ""
            elif not for_colleague:
                subject_id, subject_name = person.id, person.full_name
                subject_member = person.is_member
            legal = defn.outcome == Outcome.LEGAL_CASE
            case = await cases.create_case(
                session,
                kind=CaseKind.LEGAL if legal else CaseKind.HARDSHIP,
                response_id=response.id,
                reported_by=person.id,
                subject_person_id=subject_id,
                subject_name=subject_name,
                subject_member=subject_member,
                subject_union=for_union,
                unit_id=unit_id,
                category=str(answers.get("category") or ""),
                description=str(answers.get("description") or ""),
                period_year=run.period_year,
                urgent=answers.get("urgent") is True,
            )
            if subject_id is not None and subject_id != person.id:
                # A colleague already linked hears now that a report concerns them (one who
                # links later hears it then): that it exists and who reads it, nothing more.
                await casework.tell_subjects(session, person_id=subject_id)
            if case.urgent and self.urgent is not None:
                unit = await people.get_unit(session, unit_id=unit_id)
                if unit is not None:
                    await alerts.alert_urgent(
                        session,
                        case=case,
                        unit=unit,
                        tz=self.tz,
                        escalate_after=self.urgent.escalate_after,
                    )
            # A report is a run of its own: done with, it is closed, so that the runs still
            # open for a unit (what /surveys reads) do not grow with every report ever filed.
            run.status = RunStatus.CLOSED
            return case.id
        if defn.outcome == Outcome.WELFARE_BENEFIT:
            await cases.create_benefit(
                session,
                response_id=response.id,
                person_id=person.id,
                unit_id=response.unit_id,
                offer=str(answers.get("offer") or ""),
                period_year=run.period_year,
            )
        return None
