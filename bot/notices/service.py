"""Notices for officers and members: draft, preview, confirm (enqueue), cancel, list, detail,
acknowledge.  No aiogram here: handlers and the CLI call these with plain values and render the
``notice/*.txt`` templates with what comes back.

Who may do what:

- an officer (or admin) writes drafts; the audience must lie within their scope
  (:meth:`Actor.can_see`), and the scope is checked again at confirmation;
- the author previews, edits and confirms their draft;
- an officer whose scope holds the notice's scope unit (an admin: any) lists it, sees its
  detail and may cancel it;
- a member acknowledges only deliveries made to them; anything else is answered harmlessly.

Confirmation writes one delivery per recipient in the same transaction as the draft → queued
change: ``queued`` for a reachable linked chat, ``unreachable`` with the reason (never_linked,
stopped, blocked) for the others, so the counts show them.  ``available_at`` is the send time
(or now): a scheduled notice is simply rows the worker does not claim before they are due.

Cancelling turns the still-queued rows into ``failed`` with the error ``cancelled`` (kept, not
deleted, so the notice's history stays complete; they are counted apart as ``cancelled``);
rows the worker already claimed finish normally.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.campaigns.schedule import QuietHours, RemindedByHand
from bot.notices.audience import Audience, AudienceError, AudienceSpec
from bot.notices.render import (
    MAX_SOURCE,
    TELEGRAM_LIMIT,
    HtmlProblem,
    NoticeTemplate,
    NoticeTemplateError,
    compile_notice,
    validate_html,
)
from bot.services.actors import Actor
from bot.texts import render
from storage import audit
from storage import notices as store
from storage.models import (
    AuditAction,
    Channel,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Person,
    Unit,
    utcnow,
)

MAX_TITLE = 255
ATTACHMENT_KINDS = ("document", "photo")
MESSAGE_TEMPLATE = "notice/message.txt"


class NoticeError(Exception):
    """A request the service refuses; ``code``: not_found, forbidden, not_draft, title_empty,
    title_too_long, body_too_long, bad_attachment."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class Attachment:
    kind: str  # document | photo
    ref: str  # the platform's file id


# --------------------------------------------------------------------------- helpers


def as_utc(value: dt.datetime) -> dt.datetime:
    """A datetime in UTC; a naive one (as SQLite returns them) is taken as UTC already."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def local(value: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    return None if value is None else as_utc(value).astimezone(tz)


def period_year(when: dt.datetime, tz: dt.tzinfo) -> int:
    """The year a notice counts for (A1): its send time, in ``tz`` (the settings' zone)."""
    return as_utc(when).astimezone(tz).year


def _status(notice: Notice) -> NoticeStatus:
    return NoticeStatus(notice.status)


def _person_id(actor: Actor) -> int | None:
    return actor.person.id if actor.linked and actor.person is not None else None


def _is_author(actor: Actor, notice: Notice) -> bool:
    pid = _person_id(actor)
    return actor.is_officer and pid is not None and notice.author_id == pid


async def _can_oversee(session: AsyncSession, actor: Actor, notice: Notice) -> bool:
    """An officer whose scope holds the notice's scope unit, or the author."""
    if _is_author(actor, notice):
        return True
    unit = await session.get(Unit, notice.scope_unit_id)
    return unit is not None and actor.can_see(unit)


@lru_cache(maxsize=64)
def _header_and_footer(locale: str, title: str, buttons: bool) -> tuple[str, str]:
    """notice/message.txt around a placeholder body: what comes before and after the body."""
    marker = "\x00BODY\x00"
    text = render(MESSAGE_TEMPLATE, locale, title=title, body=Markup(marker), buttons=buttons)
    before, _, after = text.partition(marker)
    return before, after


def member_message(title: str, body: str, locale: str, *, channel: Channel | None) -> str:
    """The notice as a member receives it on ``channel``: notice/message.txt with the rendered
    body (the line about the «Đã nắm» button only where there is one to press)."""
    buttons = channel is not None and channel.has_buttons
    before, after = _header_and_footer(locale, title, buttons)
    return f"{before}{body}{after}"


# --------------------------------------------------------------------------- audience


@dataclass(frozen=True)
class AudienceSummary:
    """An audience in words: the scope, the chosen units (names), and the narrowing filters."""

    scope_name: str
    units: tuple[str, ...]  # empty: the whole scope
    public: bool | None
    members_only: bool
    tag: str | None


async def audience_units(
    session: AsyncSession, *, actor: Actor, audience: Audience, scope: Unit | None = None
) -> list[Unit]:
    """The subtrees of an audience (``scope``, default the actor's, when it names none), checked
    against what the actor may see.  Raises :class:`AudienceError` (unknown_unit,
    out_of_scope)."""
    if not audience.unit_ids:
        root = scope or actor.scope
        if root is None or not actor.can_see(root):
            raise AudienceError("the audience is outside your scope", code="out_of_scope")
        return [root]
    found = {
        u.id: u
        for u in (
            await session.execute(select(Unit).where(col(Unit.id).in_(audience.unit_ids)))
        ).scalars()
    }
    units: list[Unit] = []
    for unit_id in audience.unit_ids:
        unit = found.get(unit_id)
        if unit is None:
            raise AudienceError(
                f"no unit with id {unit_id}", code="unknown_unit", detail=str(unit_id)
            )
        if not actor.can_see(unit):
            raise AudienceError(
                f"unit {unit.code} is outside your scope", code="out_of_scope", detail=unit.code
            )
        units.append(unit)
    return units


async def resolve_audience(session: AsyncSession, *, actor: Actor, spec: AudienceSpec) -> Audience:
    """An audience written on the command line (unit codes) as unit ids, within the actor's
    scope.  Raises :class:`AudienceError` naming the unit."""
    ids: list[int] = []
    for code in spec.unit_codes:
        unit = (
            await session.execute(select(Unit).where(func.lower(col(Unit.code)) == code.lower()))
        ).scalar_one_or_none()
        if unit is None or unit.id is None:
            raise AudienceError(f"no unit with code {code!r}", code="unknown_unit", detail=code)
        if not actor.can_see(unit):
            raise AudienceError(
                f"unit {code!r} is outside your scope", code="out_of_scope", detail=code
            )
        ids.append(unit.id)
    return spec.with_unit_ids(tuple(dict.fromkeys(ids)))


def _filter(audience: Audience, units: Sequence[Unit]) -> store.AudienceFilter:
    return store.AudienceFilter(
        paths=tuple(u.path for u in units),
        public=audience.public,
        members_only=audience.members_only,
        tag=audience.tag,
    )


async def _summary(
    session: AsyncSession, notice: Notice, audience: Audience, units: Sequence[Unit]
) -> AudienceSummary:
    scope = await session.get(Unit, notice.scope_unit_id)
    return AudienceSummary(
        scope_name=scope.name if scope is not None else "",
        units=tuple(u.name for u in units) if audience.unit_ids else (),
        public=audience.public,
        members_only=audience.members_only,
        tag=audience.tag,
    )


# --------------------------------------------------------------------------- drafts


def _check_fields(title: str | None, body: str | None, attachment: Attachment | None) -> None:
    if title is not None and len(title) > MAX_TITLE:
        raise NoticeError("title_too_long", f"the title has more than {MAX_TITLE} characters")
    if body is not None and len(body) > MAX_SOURCE:
        raise NoticeError("body_too_long", f"the body has more than {MAX_SOURCE} characters")
    if attachment is not None and (attachment.kind not in ATTACHMENT_KINDS or not attachment.ref):
        raise NoticeError("bad_attachment", "an attachment is a document or a photo with a file id")


async def create_draft(
    session: AsyncSession,
    *,
    actor: Actor,
    title: str,
    body: str,
    audience: Audience | None = None,
    send_at: dt.datetime | None = None,
    attachment: Attachment | None = None,
    compose_step: str | None = None,
    now: dt.datetime | None = None,
    tz: dt.tzinfo,
) -> Notice:
    """A draft notice of the actor, scoped to their unit (its year: the send time's, in
    ``tz``).  Raises :class:`NoticeError` (forbidden, title_too_long, body_too_long,
    bad_attachment) or :class:`AudienceError`."""
    if not actor.is_officer or actor.scope is None or actor.scope.id is None:
        raise NoticeError("forbidden", "only union officers write notices")
    audience = audience or Audience()
    _check_fields(title, body, attachment)
    await audience_units(session, actor=actor, audience=audience)
    when = send_at or now or utcnow()
    return await store.create_notice(
        session,
        author_id=_person_id(actor),
        scope_unit_id=actor.scope.id,
        title=title.strip(),
        body=body,
        audience=audience.to_json(),
        period_year=period_year(when, tz),
        send_at=as_utc(send_at) if send_at is not None else None,
        attachment_kind=attachment.kind if attachment else None,
        attachment_ref=attachment.ref if attachment else None,
        compose_step=compose_step,
    )


class _Keep:
    """Leave a field as it is (:func:`update_draft`)."""


KEEP: Any = _Keep()


async def update_draft(
    session: AsyncSession,
    *,
    actor: Actor,
    notice_id: int,
    title: str | None = KEEP,
    body: str | None = KEEP,
    audience: Audience = KEEP,
    send_at: dt.datetime | None = KEEP,
    attachment: Attachment | None = KEEP,
    compose_step: str | None = KEEP,
    tz: dt.tzinfo,
) -> Notice:
    """Change fields of the actor's draft (those not given stay; a new send time sets the
    year, in ``tz``).  Raises :class:`NoticeError` (not_found, forbidden, not_draft, …) or
    :class:`AudienceError`."""
    notice = await store.get_notice(session, notice_id=notice_id)
    if notice is None:
        raise NoticeError("not_found")
    if not _is_author(actor, notice):
        raise NoticeError("forbidden")
    if notice.status != NoticeStatus.DRAFT:
        raise NoticeError("not_draft")
    _check_fields(
        None if title is KEEP else title,
        None if body is KEEP else body,
        None if attachment is KEEP else attachment,
    )
    if title is not KEEP:
        notice.title = (title or "").strip()
    if body is not KEEP:
        notice.body = body or ""
    if audience is not KEEP:
        scope = await session.get(Unit, notice.scope_unit_id)
        await audience_units(session, actor=actor, audience=audience, scope=scope)
        notice.audience = audience.to_json()
    if send_at is not KEEP:
        notice.send_at = as_utc(send_at) if send_at is not None else None
        notice.period_year = period_year(send_at or utcnow(), tz)
    if attachment is not KEEP:
        notice.attachment_kind = attachment.kind if attachment else None
        notice.attachment_ref = attachment.ref if attachment else None
    if compose_step is not KEEP:
        notice.compose_step = compose_step
    await session.flush()
    return notice


# --------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class Preview:
    """What the author sees before confirming."""

    notice: Notice
    body: str  # the body rendered for the author as the sample recipient ("" on error)
    message: str  # the whole notice as a member would receive it ("" on error)
    error: NoticeTemplateError | None
    problems: tuple[HtmlProblem, ...]
    audience: AudienceSummary
    counts: store.AudienceCounts
    send_at: dt.datetime | None  # local time (the caller's zone), None: at once
    year: int

    @property
    def length(self) -> int:
        return len(self.message)

    @property
    def too_long(self) -> bool:
        """Longer than one Telegram message: the delivery engine splits it at paragraphs."""
        return self.length > TELEGRAM_LIMIT

    @property
    def missing_title(self) -> bool:
        return not self.notice.title.strip()

    @property
    def missing_body(self) -> bool:
        return not self.notice.body.strip()

    @property
    def ok(self) -> bool:
        """Whether confirming would broadcast it."""
        return (
            self.error is None
            and not self.problems
            and not self.missing_title
            and not self.missing_body
            and self.counts.total > 0
        )


def _sample(actor: Actor, scope_name: str) -> tuple[str, str]:
    name = actor.person.full_name if actor.person is not None else ""
    unit = actor.unit.name if actor.unit is not None else scope_name
    return name, unit


async def preview(
    session: AsyncSession,
    *,
    actor: Actor,
    notice: Notice,
    now: dt.datetime | None = None,
    tz: dt.tzinfo,
) -> Preview:
    """Render the draft for its author as the sample recipient, check its HTML and count the
    audience.  Raises :class:`NoticeError` (forbidden) when the actor is not the author, and
    :class:`AudienceError` when the audience left the author's scope."""
    if not _is_author(actor, notice):
        raise NoticeError("forbidden")
    audience = Audience.from_json(notice.audience)
    scope = await session.get(Unit, notice.scope_unit_id)
    units = await audience_units(session, actor=actor, audience=audience, scope=scope)
    summary = await _summary(session, notice, audience, units)
    year = period_year(notice.send_at or now or utcnow(), tz)
    body, message = "", ""
    error: NoticeTemplateError | None = None
    problems: tuple[HtmlProblem, ...] = ()
    try:
        name, unit = _sample(actor, summary.scope_name)
        body = compile_notice(notice.body).render(name=name, unit=unit, year=year)
        message = member_message(notice.title, body, actor.locale, channel=actor.chat.channel)
        problems = tuple(validate_html(body))  # lines as the officer wrote them
    except NoticeTemplateError as exc:
        error = exc
    counts = await store.audience_counts(session, audience=_filter(audience, units))
    return Preview(
        notice=notice,
        body=body,
        message=message,
        error=error,
        problems=problems,
        audience=summary,
        counts=counts,
        send_at=local(notice.send_at, tz),
        year=year,
    )


# --------------------------------------------------------------------------- confirm


class ConfirmOutcome(StrEnum):
    QUEUED = "queued"  # deliveries written: sent now, or when due
    ALREADY = "already"  # confirmed before (a double press): nothing written again
    CANCELLED = "cancelled"  # the notice was cancelled
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"  # not the author, or the audience left the author's scope
    INVALID = "invalid"  # template error, HTML problems, no title or body
    EMPTY = "empty"  # nobody in the audience


@dataclass(frozen=True)
class Confirmed:
    outcome: ConfirmOutcome
    notice: Notice | None = None
    queued: int = 0  # deliveries to send
    unreachable: int = 0  # deliveries recorded as unreachable
    send_at: dt.datetime | None = None  # local time of a scheduled send; None: now
    error: NoticeTemplateError | None = None
    problems: tuple[HtmlProblem, ...] = ()


def _texts(
    template: NoticeTemplate,
    title: str,
    recipients: Sequence[store.Recipient],
    year: int,
    default_locale: str,
) -> list[str]:
    """The message of each recipient: one compiled template, rendered once when it uses no
    variable, else once per recipient (names are escaped by the sandbox)."""
    shared = None if template.personal else template.render(name="", unit="", year=year)
    texts: list[str] = []
    for r in recipients:
        body = (
            shared
            if shared is not None
            else template.render(name=r.full_name, unit=r.unit_name, year=year)
        )
        texts.append(member_message(title, body, r.locale or default_locale, channel=r.channel))
    return texts


async def confirm(
    session: AsyncSession,
    *,
    actor: Actor,
    notice_id: int,
    now: dt.datetime,
    tz: dt.tzinfo,
    default_locale: str,
    quiet: QuietHours | None = None,
) -> Confirmed:
    """Broadcast the actor's draft: one delivery per recipient, in this transaction.

    A scheduled notice follows the campaigns' rule: due inside ``quiet`` hours, it goes out
    at their end.  "Send now" is the officer's explicit choice and is not held back."""
    now = as_utc(now)
    notice = await store.get_notice(session, notice_id=notice_id)
    if notice is None:
        return Confirmed(ConfirmOutcome.NOT_FOUND)
    if not _is_author(actor, notice):
        return Confirmed(ConfirmOutcome.FORBIDDEN, notice)
    if notice.status == NoticeStatus.QUEUED:
        return Confirmed(ConfirmOutcome.ALREADY, notice, send_at=local(notice.send_at, tz))
    if notice.status == NoticeStatus.CANCELLED:
        return Confirmed(ConfirmOutcome.CANCELLED, notice)
    audience = Audience.from_json(notice.audience)
    scope = await session.get(Unit, notice.scope_unit_id)
    try:
        units = await audience_units(session, actor=actor, audience=audience, scope=scope)
    except AudienceError:
        return Confirmed(ConfirmOutcome.FORBIDDEN, notice)
    if not notice.title.strip() or not notice.body.strip():
        return Confirmed(ConfirmOutcome.INVALID, notice)
    send_at = as_utc(notice.send_at) if notice.send_at is not None else None
    available_at = send_at if send_at is not None and send_at > now else now
    if quiet is not None and available_at > now:
        available_at = quiet.release(available_at, tz).astimezone(dt.UTC)
    year = period_year(send_at or now, tz)
    try:
        template = compile_notice(notice.body)
        name, unit = _sample(actor, scope.name if scope else "")
        sample = template.render(name=name, unit=unit, year=year)
    except NoticeTemplateError as exc:
        return Confirmed(ConfirmOutcome.INVALID, notice, error=exc)
    problems = tuple(validate_html(sample))
    if problems:
        return Confirmed(ConfirmOutcome.INVALID, notice, problems=problems)
    recipients = await store.audience_recipients(session, audience=_filter(audience, units))
    if not recipients:
        return Confirmed(ConfirmOutcome.EMPTY, notice)
    try:
        texts = _texts(template, notice.title, recipients, year, default_locale)
    except NoticeTemplateError as exc:  # a recipient's name made it fail (too long…)
        return Confirmed(ConfirmOutcome.INVALID, notice, error=exc)
    assert notice.id is not None
    if not await store.mark_queued(session, notice_id=notice.id, queued_at=now, period_year=year):
        await session.refresh(notice)
        if _status(notice) == NoticeStatus.CANCELLED:
            return Confirmed(ConfirmOutcome.CANCELLED, notice)
        return Confirmed(ConfirmOutcome.ALREADY, notice, send_at=local(notice.send_at, tz))
    rows: list[dict[str, Any]] = []
    queued = 0
    for recipient, text in zip(recipients, texts, strict=True):
        reason = recipient.reason
        queued += reason is None
        rows.append(
            store.delivery_row(
                notice_id=notice.id,
                person_id=recipient.person_id,
                chat_id=recipient.chat_id,
                channel=recipient.channel,
                external_id=recipient.external_id,
                text=text,
                status=DeliveryStatus.QUEUED if reason is None else DeliveryStatus.UNREACHABLE,
                error=reason,
                available_at=available_at,
                created_at=now,
                ack_button=True,
            )
        )
    await store.insert_deliveries(session, rows=rows)
    await audit.record(
        session,
        AuditAction.NOTICE_SENT,
        # The command line acts through a stand-in chat that is never stored.
        via="cli" if actor.chat.id is None else "chat",
        actor_id=_person_id(actor),
        unit_id=notice.scope_unit_id,
        detail={"notice": notice.id, "recipients": len(rows), "queued": queued},
    )
    return Confirmed(
        ConfirmOutcome.QUEUED,
        notice,
        queued=queued,
        unreachable=len(rows) - queued,
        send_at=local(available_at, tz) if available_at > now else None,
    )


# --------------------------------------------------------------------------- cancel


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    ALREADY = "already"  # cancelled before
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Cancelled:
    outcome: CancelOutcome
    notice: Notice | None = None
    withdrawn: int = 0  # deliveries that were still waiting and will not be sent


async def cancel(session: AsyncSession, *, actor: Actor, notice_id: int) -> Cancelled:
    """Cancel a draft, or what is not sent yet of a queued (e.g. scheduled) notice."""
    notice = await store.get_notice(session, notice_id=notice_id)
    if notice is None:
        return Cancelled(CancelOutcome.NOT_FOUND)
    if not actor.is_officer or not await _can_oversee(session, actor, notice):
        return Cancelled(CancelOutcome.FORBIDDEN)
    assert notice.id is not None
    withdrawn = await store.cancel_notice(session, notice_id=notice.id)
    if withdrawn is None:
        return Cancelled(CancelOutcome.ALREADY, notice)
    return Cancelled(CancelOutcome.CANCELLED, notice, withdrawn)


# --------------------------------------------------------------------------- list, detail


@dataclass(frozen=True)
class NoticeSummary:
    id: int
    title: str
    status: NoticeStatus
    scope_name: str
    author_name: str | None
    created_at: dt.datetime  # local times (in the zone the caller passed)
    send_at: dt.datetime | None
    queued_at: dt.datetime | None
    scheduled: bool  # queued, with a send time still ahead
    attachment_kind: str | None
    counts: store.NoticeCounts


def _summary_of(row: store.NoticeRow, now: dt.datetime, tz: dt.tzinfo) -> NoticeSummary:
    n = row.notice
    assert n.id is not None
    created = local(n.created_at, tz)
    assert created is not None
    return NoticeSummary(
        id=n.id,
        title=n.title,
        status=NoticeStatus(n.status),
        scope_name=row.scope_name,
        author_name=row.author_name,
        created_at=created,
        send_at=local(n.send_at, tz),
        queued_at=local(n.queued_at, tz),
        scheduled=n.status == NoticeStatus.QUEUED
        and n.send_at is not None
        and as_utc(n.send_at) > now,
        attachment_kind=n.attachment_kind,
        counts=row.counts,
    )


async def list_for(
    session: AsyncSession,
    *,
    actor: Actor,
    now: dt.datetime | None = None,
    limit: int = 20,
    tz: dt.tzinfo,
) -> list[NoticeSummary]:
    """The notices of the actor's scope (and their own), newest first, with live counts."""
    if not actor.is_officer or actor.scope is None:
        return []
    rows = await store.notices_in_scope(
        session, path=actor.scope.path, author_id=_person_id(actor), limit=limit
    )
    moment = as_utc(now or utcnow())
    return [_summary_of(r, moment, tz) for r in rows]


@dataclass(frozen=True)
class NoticeDetail:
    summary: NoticeSummary
    audience: AudienceSummary
    not_acknowledged: tuple[store.UnitPending, ...]  # delivered, not acknowledged, by unit

    @property
    def not_acknowledged_total(self) -> int:
        return sum(u.count for u in self.not_acknowledged)


async def detail(
    session: AsyncSession,
    *,
    actor: Actor,
    notice_id: int,
    names_per_unit: int | None = 30,
    now: dt.datetime | None = None,
    tz: dt.tzinfo,
) -> NoticeDetail | None:
    """A notice's counts and who has not acknowledged it, by unit; None when the notice does not
    exist or is outside the actor's scope."""
    notice = await store.get_notice(session, notice_id=notice_id)
    if notice is None or not actor.is_officer or not await _can_oversee(session, actor, notice):
        return None
    assert notice.id is not None
    scope = await session.get(Unit, notice.scope_unit_id)
    author = None
    if notice.author_id is not None:
        person = await session.get(Person, notice.author_id)
        author = person.full_name if person is not None else None
    counts = await store.notice_counts(session, notice_id=notice.id)
    row = store.NoticeRow(notice, scope.name if scope else "", author, counts)
    audience = Audience.from_json(notice.audience)
    units = [
        u
        for u in (
            await session.execute(select(Unit).where(col(Unit.id).in_(audience.unit_ids)))
        ).scalars()
    ]
    pending = await store.not_acknowledged(
        session, notice_id=notice.id, names_per_unit=names_per_unit
    )
    return NoticeDetail(
        summary=_summary_of(row, as_utc(now or utcnow()), tz),
        audience=await _summary(session, notice, audience, units),
        not_acknowledged=tuple(pending),
    )


# --------------------------------------------------------------------------- acknowledge


class AckOutcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"  # pressed before
    NOT_FOUND = "not_found"  # not a delivery to this member (forged, mangled, someone else's)


@dataclass(frozen=True)
class Acknowledgement:
    outcome: AckOutcome
    title: str | None = None  # the notice's title when the delivery is the member's


async def acknowledge(
    session: AsyncSession, *, actor: Actor, delivery_id: int, now: dt.datetime | None = None
) -> Acknowledgement:
    """The member pressed "Đã nắm" on a delivery: recorded once, whatever the notice's age."""
    pid = _person_id(actor)
    if pid is None:
        return Acknowledgement(AckOutcome.NOT_FOUND)
    result = await store.acknowledge(
        session, delivery_id=delivery_id, person_id=pid, now=as_utc(now or utcnow())
    )
    if result.outcome == store.NOT_FOUND:
        return Acknowledgement(AckOutcome.NOT_FOUND)
    title = None
    if result.notice_id is not None:
        notice = await store.get_notice(session, notice_id=result.notice_id)
        title = notice.title if notice is not None else None
    if result.outcome == store.ACKNOWLEDGED:
        return Acknowledgement(AckOutcome.ACKNOWLEDGED, title)
    return Acknowledgement(AckOutcome.ALREADY, title)


# --------------------------------------------------------------------------- reminders

REMINDER_TEMPLATE = "notice/reminder.txt"
REMINDER_LOCALES = ("vi", "en")


@dataclass(frozen=True)
class AckReminderPolicy:
    """How members who have not pressed "Đã nắm" are reminded of a notice.

    Automatically: ``automatic`` reminders (0: none), the first ``after`` the notice reached
    them, each next one ``after`` the previous, only for notices sent within ``window`` (an
    old notice is not dug up), never during ``quiet`` hours.  By hand (the notice's detail):
    at most once a local day per person.  Both together: at most ``max_per_person``
    reminders per person per notice.
    """

    after: dt.timedelta = dt.timedelta(hours=48)
    automatic: int = 1
    max_per_person: int = 3
    quiet: QuietHours = field(default_factory=QuietHours)
    window: dt.timedelta = dt.timedelta(days=7)

    @property
    def reach(self) -> dt.timedelta:
        """How far back the automatic pass looks: the window, or longer when the reminders
        it allows would not fit in it."""
        return max(self.window, self.after * (self.automatic + 1))


def _reminder_headers(*, manual: bool) -> dict[str, str]:
    return {
        locale: render(REMINDER_TEMPLATE, locale, manual=manual) + "\n\n"
        for locale in REMINDER_LOCALES
    }


async def ack_reminder_pass(
    session: AsyncSession,
    *,
    now: dt.datetime,
    policy: AckReminderPolicy | None = None,
    tz: dt.tzinfo,
    default_locale: str,
) -> int:
    """Write the automatic reminders due at ``now`` (none during quiet hours: they wait for
    the first pass after them); never commits.  Everything it needs is in the outbox, so a
    second pass at the same moment writes nothing, and after downtime each person gets at most
    one reminder per notice.  Returns how many were written."""
    p = policy or AckReminderPolicy()
    moment = as_utc(now)
    cap = min(p.automatic, p.max_per_person)
    if cap <= 0 or p.after <= dt.timedelta(0) or p.quiet.contains(moment, tz):
        return 0
    ids = await store.notices_sent_since(session, since=moment - p.reach)
    batch = store.AckReminderBatch(
        headers=_reminder_headers(manual=False),
        default_locale=default_locale,
        now=moment,
        max_per_delivery=cap,
    )
    return await store.remind_unacknowledged(
        session,
        notice_ids=ids,
        batch=batch,
        # the previous reminder exactly ``after`` ago does not count as recent: the next is due
        not_since=moment - p.after + dt.timedelta(microseconds=1),
        sent_before=moment - p.after,
    )


class AckRemindOutcome(StrEnum):
    SENT = "sent"  # reminders written (they may wait for the end of quiet hours)
    NOBODY = "nobody"  # everyone acknowledged, was reminded today, or had every reminder
    NOT_SENT = "not_sent"  # a draft or a cancelled notice
    NOT_FOUND = "not_found"


AckReminders = RemindedByHand[AckRemindOutcome]


async def remind_unacknowledged(
    session: AsyncSession,
    *,
    actor: Actor,
    notice_id: int,
    now: dt.datetime | None = None,
    policy: AckReminderPolicy | None = None,
    tz: dt.tzinfo,
    default_locale: str,
) -> AckReminders:
    """An officer reminds everyone who received the notice and has not acknowledged it: at
    most once a local day per person and ``max_per_person`` in all; during quiet hours the
    reminders wait for their end."""
    notice = await store.get_notice(session, notice_id=notice_id)
    if notice is None or not actor.is_officer or not await _can_oversee(session, actor, notice):
        return AckReminders(AckRemindOutcome.NOT_FOUND)
    if notice.status != NoticeStatus.QUEUED:
        return AckReminders(AckRemindOutcome.NOT_SENT)
    assert notice.id is not None
    p = policy or AckReminderPolicy()
    moment = as_utc(now or utcnow())
    day_start = dt.datetime.combine(moment.astimezone(tz).date(), dt.time(0, 0), tzinfo=tz)
    at = p.quiet.release(moment, tz).astimezone(dt.UTC)
    batch = store.AckReminderBatch(
        headers=_reminder_headers(manual=True),
        default_locale=default_locale,
        now=moment,
        max_per_delivery=p.max_per_person,
        available_at=at,
    )
    written = await store.remind_unacknowledged(
        session, notice_ids=[notice.id], batch=batch, not_since=day_start.astimezone(dt.UTC)
    )
    if written == 0:
        return AckReminders(AckRemindOutcome.NOBODY)
    queued, unreachable = await store.ack_reminders_written(session, notice_id=notice.id, at=moment)
    return AckReminders(
        AckRemindOutcome.SENT, queued, unreachable, local(at, tz) if at > moment else None
    )
