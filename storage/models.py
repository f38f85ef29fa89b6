"""The database tables (SQLModel on SQLAlchemy 2).

Everything that must survive a crash lives here: the roster (units, people), chat identities and
consent, survey definitions, runs, responses and answers, hardship cases, welfare benefits and the
inbox of incoming updates.  Times are stored as timezone-aware UTC.

Subtree queries use ``Unit.path``: a materialized path of ids (``/1/4/17/``), so "every unit under
district 4" is ``path LIKE '/1/4/%'`` and indicator counts stay single SQL aggregations.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _enum(enum: type[StrEnum], length: int = 16) -> Any:
    """Store an enum as its value in a VARCHAR (no native PostgreSQL type to migrate)."""
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps the zone; SQLite keeps none and hands back naive values, which would not
    compare with aware ones.  Normalizing here, once, spares every reader a special case.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(dt.UTC)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def _ts(nullable: bool = False) -> Column[dt.datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class UnitKind(StrEnum):
    """Levels of the unit tree: province → district → CĐCS (grassroots union) → tổ công đoàn."""

    PROVINCE = "province"
    DISTRICT = "district"
    GRASSROOTS = "grassroots"
    GROUP = "group"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class WorkStatus(StrEnum):
    """Whether a person still works in the sector (the roster's "Trạng thái")."""

    ACTIVE = "active"  # đang công tác
    RETIRED = "retired"  # đã nghỉ (hưu, thôi việc)
    MOVED = "moved"  # chuyển đi (ra khỏi ngành, khỏi tỉnh)


class Role(StrEnum):
    MEMBER = "member"
    OFFICER = "officer"
    ADMIN = "admin"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    ZALO = "zalo"
    LOCAL = "local"

    @property
    def has_buttons(self) -> bool:
        """Whether a message on this channel carries buttons (Telegram's, and the terminal
        demo's, which shows them); on Zalo they are said in words and typed."""
        return self is not Channel.ZALO


class ConsentDecision(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # /rutlai: consent given before is taken back


class ChatStage(StrEnum):
    """Where a chat is in onboarding.

    new → consent (asked) → contact (consent given, waiting for phone or invite) →
    pending (an officer must confirm) → linked.  ``declined`` when consent was refused.
    """

    NEW = "new"
    CONSENT = "consent"
    CONTACT = "contact"
    PENDING = "pending"
    LINKED = "linked"
    DECLINED = "declined"


class PendingStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class RunStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ResponseState(StrEnum):
    """in_progress → completed, or in_progress → abandoned (cancelled by the member)."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class CaseStatus(StrEnum):
    """Case lifecycle.  Hardship: reported → visited → supported → closed (visited is optional).
    Legal: reported → supported (the union advised or represented the member) → closed.
    Withdrawn (a duplicate, or the member no longer needs the union) ends a case that was not
    supported; it counts for neither A3b nor P4."""

    REPORTED = "reported"
    VISITED = "visited"
    SUPPORTED = "supported"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class CaseKind(StrEnum):
    """What a case is about: hardship to support (A3b), or a legal matter needing the union's
    advice or representation (P4)."""

    HARDSHIP = "hardship"
    LEGAL = "legal"


class BenefitStatus(StrEnum):
    """Welfare sign-up: requested → confirmed (counts for A3a) or → cancelled."""

    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Unit(SQLModel, table=True):
    __tablename__ = "units"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=255)
    kind: UnitKind = Field(sa_type=_enum(UnitKind))
    parent_id: int | None = Field(default=None, foreign_key="units.id", index=True)
    path: str = Field(default="", index=True, max_length=512)
    is_public: bool = Field(default=True)
    staff_count: int = Field(default=0, ge=0)
    invite_code: str | None = Field(default=None, unique=True, max_length=32)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Person(SQLModel, table=True):
    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    full_name: str = Field(max_length=255)
    phone: str | None = Field(default=None, unique=True, max_length=16)
    staff_code: str | None = Field(default=None, unique=True, max_length=64)
    unit_id: int = Field(foreign_key="units.id", index=True)
    is_member: bool = Field(default=True)
    gender: Gender = Field(default=Gender.UNKNOWN, sa_type=_enum(Gender))
    role: Role = Field(default=Role.MEMBER, sa_type=_enum(Role))
    officer_unit_id: int | None = Field(default=None, foreign_key="units.id")
    tags: str = Field(default="", max_length=255)
    # Left the sector (retired, moved out) on ``left_on``: out of every indicator of that year
    # and later; their facts of earlier years stay there.
    work_status: WorkStatus = Field(
        default=WorkStatus.ACTIVE,
        sa_column=Column(_enum(WorkStatus), nullable=False, server_default=WorkStatus.ACTIVE.value),
    )
    left_on: dt.date | None = Field(default=None)
    # The person withdrew their consent (/rutlai): nothing more is sent to them, and their
    # answers to surveys that are not anonymous no longer count in any indicator.
    consent_withdrawn_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Their personal data was erased (/xoadulieu, or by an officer on a paper request): the row
    # stays as the union's membership record, with no name, phone, staff code or tags.
    erased_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Officers: whether the weekly below-target digest is sent to them (/digest off|on).
    weekly_digest: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class ChatIdentity(SQLModel, table=True):
    """A chat on a channel, and the person it is linked to (once linked)."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(sa_type=_enum(Channel))
    external_id: str = Field(max_length=64)
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    stage: ChatStage = Field(default=ChatStage.NEW, sa_type=_enum(ChatStage))
    invite_unit_id: int | None = Field(default=None, foreign_key="units.id")
    stopped: bool = Field(default=False)
    locale: str = Field(default="vi", max_length=8)
    active_response_id: int | None = Field(default=None)
    compose_notice_id: int | None = Field(default=None)
    # A channel without buttons (Zalo): the numbered choices last shown, as JSON.
    menu: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Which of a person's chats is written to: the one chosen with /kenh, else the one they
    # last wrote from (kept to within minutes), else the newest (storage.chats).
    used_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    chosen_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    unreachable_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    unreachable_reason: str | None = Field(default=None, max_length=255)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Consent(SQLModel, table=True):
    """One consent decision, with the version of the text shown.  Append-only."""

    __tablename__ = "consents"

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(sa_type=_enum(Channel))
    external_id: str = Field(max_length=64, index=True)
    person_id: int | None = Field(default=None, foreign_key="people.id")
    decision: ConsentDecision = Field(sa_type=_enum(ConsentDecision))
    text_version: str = Field(max_length=32)
    decided_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class PendingLink(SQLModel, table=True):
    """A chat that matched nobody in the roster, queued for an officer to confirm."""

    __tablename__ = "pending_links"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(foreign_key="chat_identities.id", index=True)
    full_name: str = Field(max_length=255)
    phone: str | None = Field(default=None, max_length=16)
    unit_id: int | None = Field(default=None, foreign_key="units.id", index=True)
    status: PendingStatus = Field(default=PendingStatus.PENDING, sa_type=_enum(PendingStatus))
    person_id: int | None = Field(default=None, foreign_key="people.id")
    resolved_by: int | None = Field(default=None, foreign_key="people.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    resolved_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class SurveyDefinitionRow(SQLModel, table=True):
    """A survey definition file as loaded, versioned by content checksum."""

    __tablename__ = "survey_definitions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, index=True)
    version: int = Field(default=1)
    title: str = Field(max_length=255)
    checksum: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class SurveyRun(SQLModel, table=True):
    """One launch of a survey definition to an audience (a unit subtree).

    A *campaign* is a run with a closing time whose audience was frozen at launch into
    :class:`CampaignTarget` rows (who is expected to answer); reminders chase the targets that
    have not completed.  A recurring campaign is a series of runs: the first run's id is the
    ``series_id`` of every run of the series, ``run_index`` counts from 0, and each run is
    counted in its own ``period_label`` (``2026-11``, ``2026-Q4``, ``2026``).
    """

    __tablename__ = "survey_runs"
    __table_args__ = (UniqueConstraint("series_id", "run_index", name="uq_survey_runs_series_run"),)

    id: int | None = Field(default=None, primary_key=True)
    definition_id: int = Field(foreign_key="survey_definitions.id", index=True)
    unit_id: int = Field(foreign_key="units.id")
    launched_by: int | None = Field(default=None, foreign_key="people.id")
    period_year: int = Field(index=True)
    status: RunStatus = Field(default=RunStatus.OPEN, sa_type=_enum(RunStatus))
    opens_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    closes_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Campaign settings (issue 4): the reminder policy as JSON (NULL: the default policy) and
    # how the campaign repeats (none | monthly | quarterly | yearly).
    reminder_policy: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recurrence: str = Field(
        default="none", sa_column=Column(String(16), nullable=False, server_default="none")
    )
    # The audience as launched (JSON of bot.notices.Audience; NULL: the unit subtree).
    audience: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A unit-level survey: answered by the officer of each CĐCS, one answer per unit counts.
    per_unit: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    series_id: int | None = Field(default=None, foreign_key="survey_runs.id", index=True)
    run_index: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    period_label: str | None = Field(default=None, max_length=16)


class Response(SQLModel, table=True):
    """One person's answers to one run.  Unique per (run, person) while the person is known.

    For anonymous surveys the link to the person is cut on completion (``person_id`` set to NULL)
    and a :class:`Participation` row records only that the person took part.
    """

    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("run_id", "person_id"),
        # The responses of a year's runs in some units: what an indicator tally refresh reads.
        Index("ix_responses_run_unit", "run_id", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="survey_runs.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    is_member: bool = Field(default=True)
    state: ResponseState = Field(default=ResponseState.IN_PROGRESS, sa_type=_enum(ResponseState))
    draft: str | None = Field(default=None, max_length=2000)
    started_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    completed_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Participation(SQLModel, table=True):
    """That a person completed an anonymous run, without pointing at their answers."""

    __tablename__ = "participations"
    __table_args__ = (UniqueConstraint("run_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="survey_runs.id", index=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    completed_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Answer(SQLModel, table=True):
    """One answer, JSON-encoded; re-answering a question (after "Quay lại") replaces it."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_key"),
        Index("ix_answers_question_value", "question_key", "value"),
    )

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="responses.id", index=True)
    question_key: str = Field(max_length=64)
    value: str = Field(max_length=4000)
    answered_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class Case(SQLModel, table=True):
    """A case members reported for officers to follow up: a hardship (``kind`` hardship) or a
    legal matter (``kind`` legal: advice, a dispute, litigation)."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_kind_year", "kind", "period_year"),
        Index("ix_cases_urgent_waiting", "urgent", "escalated_at", "opened_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: CaseKind = Field(
        default=CaseKind.HARDSHIP,
        sa_column=Column(_enum(CaseKind), nullable=False, server_default=CaseKind.HARDSHIP.value),
    )
    response_id: int | None = Field(default=None, foreign_key="responses.id", unique=True)
    reported_by: int | None = Field(default=None, foreign_key="people.id")
    subject_person_id: int | None = Field(default=None, foreign_key="people.id")
    subject_name: str = Field(max_length=255)
    # The subject was a union member when the case was reported (A3b and P4 count only these
    # and the union body's own cases); a colleague not found in the roster is not a known one.
    subject_member: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    # The case is the union body's own (an officer's legal case for their CĐCS): P4 counts it.
    subject_union: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    unit_id: int = Field(foreign_key="units.id", index=True)
    category: str = Field(default="", max_length=64)
    description: str = Field(default="", max_length=4000)
    status: CaseStatus = Field(default=CaseStatus.REPORTED, sa_type=_enum(CaseStatus))
    period_year: int = Field(index=True)
    # The reporter asked for urgent support: the CĐCS's officers are alerted at once, and the
    # next level up when no officer has opened the case (``opened_at``) in time.
    urgent: bool = Field(
        default=False, sa_column=Column(Boolean(), nullable=False, server_default=false())
    )
    opened_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    escalated_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The union body the case was passed up to (set with ``escalated_at`` when someone above
    # the CĐCS was alerted): its officers see the case's details too (need to know).
    escalated_to_unit_id: int | None = Field(default=None, foreign_key="units.id")
    # The subject (a colleague named by the reporter) was told, on linking, that a report
    # concerns them and who can see it (not what it says).
    subject_told_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class CaseEvent(SQLModel, table=True):
    """Every status change of a case, with who made it.  Append-only."""

    __tablename__ = "case_events"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    from_status: CaseStatus | None = Field(default=None, sa_type=_enum(CaseStatus))
    to_status: CaseStatus = Field(sa_type=_enum(CaseStatus))
    changed_by: int | None = Field(default=None, foreign_key="people.id")
    note: str = Field(default="", max_length=1000)
    changed_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class WelfareBenefit(SQLModel, table=True):
    """A member's sign-up for a partner offer; counts for A3a once confirmed."""

    __tablename__ = "welfare_benefits"
    __table_args__ = (UniqueConstraint("response_id"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int | None = Field(default=None, foreign_key="responses.id")
    person_id: int = Field(foreign_key="people.id", index=True)
    unit_id: int = Field(foreign_key="units.id", index=True)
    offer: str = Field(max_length=64)
    status: BenefitStatus = Field(default=BenefitStatus.REQUESTED, sa_type=_enum(BenefitStatus))
    period_year: int = Field(index=True)
    confirmed_by: int | None = Field(default=None, foreign_key="people.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    confirmed_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class NoticeStatus(StrEnum):
    """draft → queued (deliveries written; sent when due) ; draft → cancelled."""

    DRAFT = "draft"
    QUEUED = "queued"
    CANCELLED = "cancelled"


class DeliveryKind(StrEnum):
    NOTICE = "notice"
    INVITATION = "invitation"  # a campaign opened: the survey's button
    REMINDER = "reminder"  # a campaign not answered or a notice not acknowledged yet
    DIGEST = "digest"  # an officer's weekly below-target digest
    MESSAGE = "message"


class DeliveryStatus(StrEnum):
    """One outbound message to one person: a durable state machine.

    queued → sending (claimed: a lease with an expiry, committed before any HTTP call) →
    sent (with the platform's message id) | failed (permanent error, or retries exhausted) |
    unreachable (blocked the bot, deactivated, never linked, or stopped notices);
    sending → queued again on a transient error (retry later, with backoff) or when the lease
    expired (the worker died): a crash never loses a row, and only rows in flight at the crash
    can be sent twice.  sent, failed and unreachable are final.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


class Notice(SQLModel, table=True):
    """A notice an officer disseminates (tuyên truyền) to an audience."""

    __tablename__ = "notices"

    id: int | None = Field(default=None, primary_key=True)
    author_id: int | None = Field(default=None, foreign_key="people.id")
    scope_unit_id: int = Field(foreign_key="units.id", index=True)
    title: str = Field(max_length=255)
    body: str = Field(sa_column=Column(Text, nullable=False))
    audience: str = Field(default="{}", max_length=2000)  # JSON, see bot.notices.Audience
    attachment_kind: str | None = Field(default=None, max_length=16)  # document | photo
    attachment_ref: str | None = Field(default=None, max_length=255)  # platform file id
    status: NoticeStatus = Field(default=NoticeStatus.DRAFT, sa_type=_enum(NoticeStatus))
    compose_step: str | None = Field(default=None, max_length=16)  # while a draft, in chat
    period_year: int = Field(index=True)
    send_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    queued_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Delivery(SQLModel, table=True):
    """The outbox: one row per (message, recipient).  See :class:`DeliveryStatus`."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # A notice reaches a person once.  Partial: the rows of no notice (invitations,
        # reminders, digests: most of the outbox) stay out of it and cost no index insert.
        Index(
            "uq_deliveries_notice_person",
            "notice_id",
            "person_id",
            unique=True,
            sqlite_where=text("notice_id IS NOT NULL"),
            postgresql_where=text("notice_id IS NOT NULL"),
        ),
        # A claim reads the oldest due rows in this order and stops (migration 0017).
        Index("ix_deliveries_due", "status", "available_at", "id"),
        # The deliveries a notice reminder may be for: sent and not acknowledged.  Partial, so
        # the scheduler's pass reads only those (not every row and its text) at each tick.
        Index(
            "ix_deliveries_unacknowledged",
            "notice_id",
            "sent_at",
            sqlite_where=text("notice_id IS NOT NULL AND acknowledged_at IS NULL"),
            postgresql_where=text("notice_id IS NOT NULL AND acknowledged_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: DeliveryKind = Field(default=DeliveryKind.NOTICE, sa_type=_enum(DeliveryKind))
    # notice_id is looked up through the unique (notice_id, person_id) index; nothing looks
    # deliveries up by chat, so neither has an index of its own (each costs every insert).
    notice_id: int | None = Field(default=None, foreign_key="notices.id")
    run_id: int | None = Field(default=None, foreign_key="survey_runs.id", index=True)
    # A reminder of a notice not acknowledged: the notice's own delivery to the person.  Its
    # "Đã nắm" button acknowledges that row; the reminders of a row are counted through it.
    reminds_id: int | None = Field(default=None, foreign_key="deliveries.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    chat_id: int | None = Field(default=None, foreign_key="chat_identities.id")
    # The chat's channel; none when the person has no linked chat (the row is unreachable).
    channel: Channel | None = Field(default=None, sa_type=_enum(Channel))
    external_id: str | None = Field(default=None, max_length=64)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    ack_button: bool = Field(default=False)
    status: DeliveryStatus = Field(default=DeliveryStatus.QUEUED, sa_type=_enum(DeliveryStatus))
    attempts: int = Field(default=0)
    available_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    platform_message_id: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    sent_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    acknowledged_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class InboxUpdate(SQLModel, table=True):
    """Every incoming update, written before it is confirmed to the platform.

    received (handled_at and failed_at NULL) → handled (``handled_at``, with the ``replies``
    to send, in the transaction of the update's effects) → replied (``replied_at``: every reply
    sent or given up) ; received → set aside (``failed_at``: every attempt failed, or the update
    cannot be read; ``error`` says why; an operator may replay it, back to received).
    Unique on (channel, update_key), the platform's own id of the update (Telegram's update id
    as text, Zalo's message id): an update delivered twice is stored and handled once.
    ``update_id`` orders a chat's updates (Telegram's update id, Zalo's message time in ms).
    """

    __tablename__ = "inbox_updates"
    __table_args__ = (
        UniqueConstraint("channel", "update_key", name="uq_inbox_updates_channel_update_key"),
        # What the runner reads: the updates waiting, and the replies not yet out.
        Index(
            "ix_inbox_pending",
            "id",
            sqlite_where=text("handled_at IS NULL AND failed_at IS NULL"),
            postgresql_where=text("handled_at IS NULL AND failed_at IS NULL"),
        ),
        Index(
            "ix_inbox_unreplied",
            "id",
            sqlite_where=text("handled_at IS NOT NULL AND replied_at IS NULL"),
            postgresql_where=text("handled_at IS NOT NULL AND replied_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(sa_type=_enum(Channel))
    update_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    update_key: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = Field(default=0)
    error: str | None = Field(default=None, max_length=2000)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    handled_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    failed_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    replies: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    replied_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class CampaignTarget(SQLModel, table=True):
    """One person a campaign run expects an answer from, frozen at launch, and what was sent
    to them about it: the automatic reminders (how many, the last one) and the last by-hand
    reminder.  ``unit_id`` is the unit they answer for: their own unit, or for a unit-level
    survey the CĐCS they are the officer of.  From these rows and the run's closing time and
    policy every reminder still due is derivable: no scheduler job per person."""

    __tablename__ = "campaign_targets"
    # (run_id, person_id) is the only index a pass needs: a run's targets come in person order,
    # so the reminder UPDATE and the completion lookups walk their indexes sequentially (an
    # index on (run_id, unit_id) made SQLite take them in unit order: twice the time).
    __table_args__ = (UniqueConstraint("run_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="survey_runs.id")
    person_id: int = Field(foreign_key="people.id", index=True)
    unit_id: int = Field(foreign_key="units.id")
    sent_count: int = Field(default=0)
    last_sent_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_manual_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class DigestSent(SQLModel, table=True):
    """That an officer's weekly digest for an ISO week (``2026-W49``) was written to the
    outbox: at most one per officer per week, however often the scheduler ticks."""

    __tablename__ = "digests_sent"
    __table_args__ = (UniqueConstraint("person_id", "week"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="people.id")
    week: str = Field(max_length=10)
    sent_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class OfficerNews(SQLModel, table=True):
    """What an officer was last told of in the batched announcement of new work: the newest
    case and link request announced to them (ids only grow), and when.  One row per officer,
    written by the scheduler's pass."""

    __tablename__ = "officer_news"

    person_id: int = Field(foreign_key="people.id", primary_key=True)
    last_case_id: int = Field(default=0)
    last_pending_id: int = Field(default=0)
    announced_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class IndicatorVersion(SQLModel, table=True):
    """How often the facts an indicator counts have changed in a unit: a counter per unit,
    bumped when a report applies the :class:`IndicatorChange` rows that database triggers
    (migration 0008) log whenever a row the indicators read changes there (a response or
    answer, a person, a benefit, a case, a notice delivery, the unit).
    :class:`IndicatorTally` rows computed at an older version are stale."""

    __tablename__ = "indicator_versions"

    unit_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int = Field(default=1, sa_column=Column(BigInteger, nullable=False))


class IndicatorChange(SQLModel, table=True):
    """A change to a fact an indicator counts, in a unit, logged by a trigger (migration 0008)
    and not yet turned into a bump of the unit's :class:`IndicatorVersion` (the next report
    does that, deleting the rows).  Insert-only for writers: no lock on a shared row."""

    __tablename__ = "indicator_changes"

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    unit_id: int


class IndicatorTally(SQLModel, table=True):
    """The counts of one indicator source for one unit and year (``n1`` … ``n6``, named by the
    source: see ``storage.indicators``), as of ``version`` of the unit's
    :class:`IndicatorVersion`.  Derived data: a report recomputes the stale rows from the
    facts, then sums these instead of reading every answer.  No foreign key: a deleted unit's
    rows are deleted by its trigger, and nothing else points here."""

    __tablename__ = "indicator_tallies"
    # Clustered on the key on SQLite: a report reads a year's rows in order, with no lookups.
    __table_args__ = {"sqlite_with_rowid": False}

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    unit_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(primary_key=True, max_length=96)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    n1: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n2: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n3: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n4: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n5: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n6: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class AuditAction(StrEnum):
    """What an audit row records.  Personal data never goes into an audit row: ids, counts
    and kinds only, so the trail itself needs no erasure."""

    ROLE_CHANGED = "role_changed"
    CASE_VIEWED = "case_viewed"
    CASE_STATUS = "case_status"
    LINK_CONFIRMED = "link_confirmed"
    LINK_REJECTED = "link_rejected"
    DATA_EXPORTED = "data_exported"  # /dulieu: a person's own data
    REPORT_EXPORTED = "report_exported"  # /report, the CLI's reports, the audit's own export
    ROSTER_IMPORTED = "roster_imported"
    NOTICE_SENT = "notice_sent"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    ERASED = "erased"
    CORRECTION_REQUESTED = "correction_requested"
    CORRECTION_DECIDED = "correction_decided"
    YEAR_CLOSED = "year_closed"
    PURGED = "purged"
    WEB_SIGNED_IN = "web_signed_in"  # a sign-in link used: a dashboard session opened


class AuditEvent(SQLModel, table=True):
    """One thing done to or with personal data: who (``actor_id``; NULL with ``via`` cli or
    system), what, about whom (``person_id``), and on which case or unit.  Append-only: a
    trigger (migration 0015) refuses updates; the retention purge deletes the oldest rows."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    action: AuditAction = Field(sa_type=_enum(AuditAction, 32))
    via: str = Field(max_length=16)  # chat | cli | system | web
    actor_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))


class ConsentText(SQLModel, table=True):
    """The wording of a consent text as shown, by version: what a member agreed to.  The
    hash ties the wording to the version; a new wording needs a new version."""

    __tablename__ = "consent_texts"

    version: str = Field(primary_key=True, max_length=32)
    locale: str = Field(primary_key=True, max_length=8)
    sha256: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())


class CorrectionStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class CorrectionRequest(SQLModel, table=True):
    """A member's request to correct their name, phone or unit, for their CĐCS officer to
    confirm or reject.  The values are personal data: erasure blanks them."""

    __tablename__ = "correction_requests"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    field: str = Field(max_length=16)  # full_name | phone | unit
    old_value: str = Field(default="", max_length=255)
    new_value: str = Field(default="", max_length=255)
    new_unit_id: int | None = Field(default=None, foreign_key="units.id")
    unit_id: int = Field(foreign_key="units.id", index=True)  # whose officers decide
    status: CorrectionStatus = Field(
        default=CorrectionStatus.PENDING, sa_type=_enum(CorrectionStatus)
    )
    decided_by: int | None = Field(default=None, foreign_key="people.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    decided_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ClosedYear(SQLModel, table=True):
    """A year an admin closed: its indicator figures were frozen into
    :class:`IndicatorSnapshot` rows, which its reports read from then on, so that neither the
    retention purge nor a withdrawal or erasure changes them."""

    __tablename__ = "closed_years"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    closed_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    # The local day of ``closed_at`` (the union's time zone when it was closed): what the
    # reports print, "(số liệu đã chốt ngày dd/mm/yyyy)", without a zone to guess later.
    closed_on: dt.date
    closed_by: int | None = Field(default=None, foreign_key="people.id")


class IndicatorSnapshot(SQLModel, table=True):
    """A closed year's :class:`IndicatorTally` rows as they were when the year was closed."""

    __tablename__ = "indicator_snapshots"
    __table_args__ = {"sqlite_with_rowid": False}

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    unit_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(primary_key=True, max_length=96)
    n1: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n2: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n3: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n4: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n5: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    n6: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class WebSignIn(SQLModel, table=True):
    """A single-use sign-in link to the dashboard, sent to an officer by ``/web``: only the
    SHA-256 of its token is stored, so the table cannot be used to sign in."""

    __tablename__ = "web_sign_ins"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: dt.datetime = Field(sa_column=_ts())
    used_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class WebSession(SQLModel, table=True):
    """A signed-in browser: the SHA-256 of its cookie's token, its CSRF token, its locale, and
    when it ends (``expires_at``: idle; ``ends_at``: at the latest; ``ended_at``: signed out)."""

    __tablename__ = "web_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    csrf: str = Field(max_length=64)
    person_id: int = Field(foreign_key="people.id", index=True)
    locale: str = Field(max_length=8)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: dt.datetime = Field(sa_column=_ts())
    ends_at: dt.datetime = Field(sa_column=_ts())
    ended_at: dt.datetime | None = Field(default=None, sa_column=_ts(nullable=True))
