"""The retention purge's statements: what each kind of old data is, counted or removed.

Each kind is a condition on its table (:class:`Cutoffs` gives the times).  :func:`count`
says how many rows a kind would touch; :func:`apply_chunk` removes (or blanks) at most
``limit`` of them, the lowest ids above ``after``, and returns the ids it took, so that a
caller can commit between chunks: a province's outbox holds millions of rows, and on SQLite a
write transaction locks the whole database for as long as it lasts.  Every function runs in
the caller's transaction and never commits.

The kinds, in the order the purge applies them (the order matters: a later kind's count
assumes the earlier ones are done, and :func:`count` counts it that way, so that a dry run
announces what the real run then does):

- ``inbox``: updates handled and answered before ``Cutoffs.inbox``;
- ``failed_inbox``: updates set aside before ``Cutoffs.failed_inbox`` (kept longer, for an
  operator's replay; they hold what the member typed all the same);
- ``deliveries``: outbox rows in a final state (sent, failed, unreachable) finished before
  ``Cutoffs.deliveries``, except the deliveries of a notice whose year is not closed (A1
  counts them: a closed year's reports read its snapshot instead), and except a row a
  notice reminder still in flight points at; the reminders of a row go with it (their
  ``reminds_id`` is a foreign key, and a reminder without its notice delivery means nothing);
  a reminder whose notice delivery stays is kept too, since the reminder pass counts the
  reminders a delivery had, and would otherwise remind again;
- ``delivery_errors``: the ``error`` text of the final rows that stay, finished before
  ``Cutoffs.delivery_errors``, blanked;
- ``audit``: audit rows older than ``Cutoffs.audit``;
- ``cases_deleted``, ``cases_anonymised``, ``case_events``, ``case_reports``: see
  :func:`_case_due`;
- ``rejected_links``: link requests rejected before ``Cutoffs.rejected_links`` (the name and
  phone of someone who was not linked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    delete,
    exists,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import rowcount
from storage.models import CaseStatus, DeliveryStatus, InboxUpdate, PendingStatus
from storage.tables import (
    answers,
    audit_events,
    case_events,
    cases,
    closed_years,
    deliveries,
    notices,
    pending_links,
    responses,
)

INBOX: Table = InboxUpdate.__table__  # type: ignore[attr-defined]
FINAL = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.UNREACHABLE)
CASE_ENDS = (CaseStatus.CLOSED, CaseStatus.WITHDRAWN)


class Kind(StrEnum):
    """What the purge removes, in the order it does it (see the module doc)."""

    INBOX = "inbox"
    FAILED_INBOX = "failed_inbox"
    DELIVERIES = "deliveries"
    DELIVERY_ERRORS = "delivery_errors"
    AUDIT = "audit"
    CASES_DELETED = "cases_deleted"
    CASES_ANONYMISED = "cases_anonymised"
    CASE_EVENTS = "case_events"
    CASE_REPORTS = "case_reports"
    REJECTED_LINKS = "rejected_links"


#: What a chunk of cases does (:func:`_cases_chunk`).
_CASE_KINDS = (Kind.CASES_DELETED, Kind.CASES_ANONYMISED, Kind.CASE_EVENTS, Kind.CASE_REPORTS)

#: The kinds a purge applies chunk by chunk (the case kinds go together, see _cases_chunk).
STEPS: tuple[Kind, ...] = (
    Kind.INBOX,
    Kind.FAILED_INBOX,
    Kind.DELIVERIES,
    Kind.DELIVERY_ERRORS,
    Kind.AUDIT,
    Kind.CASES_DELETED,
    Kind.REJECTED_LINKS,
)


@dataclass(frozen=True)
class Cutoffs:
    """For each kind, the moment before which its rows go (UTC)."""

    inbox: dt.datetime
    failed_inbox: dt.datetime
    deliveries: dt.datetime
    delivery_errors: dt.datetime
    cases: dt.datetime
    rejected_links: dt.datetime
    audit: dt.datetime


# -- conditions -----------------------------------------------------------------------------


def _inbox_due(cut: Cutoffs) -> ColumnElement[bool]:
    """Handled and answered (an update whose replies are not out yet is still needed)."""
    c = INBOX.c
    return (
        c.handled_at.is_not(None)
        & c.replied_at.is_not(None)
        & c.failed_at.is_(None)
        & (c.handled_at < cut.inbox)
    )


def _failed_inbox_due(cut: Cutoffs) -> ColumnElement[bool]:
    c = INBOX.c
    return c.failed_at.is_not(None) & (c.failed_at < cut.failed_inbox)


def _year_closed(year: ColumnElement[int]) -> ColumnElement[bool]:
    """The year's figures are frozen: what only its indicators count may go."""
    return exists(select(closed_years.c.year).where(closed_years.c.year == year))


def _finished() -> ColumnElement[dt.datetime]:
    """When a final delivery ended: sent, or last due (a failure, an unreachable chat)."""
    d = deliveries.c
    return func.coalesce(d.sent_at, d.available_at)


def _original_due(cut: Cutoffs) -> ColumnElement[bool]:
    """A delivery no reminder points at, or whose reminders are all final, that may go."""
    d = deliveries.c
    pending = deliveries.alias("pending_reminder")
    notice_closed = exists(
        select(notices.c.id).where(notices.c.id == d.notice_id, _year_closed(notices.c.period_year))
    )
    return (
        d.status.in_(FINAL)
        & d.reminds_id.is_(None)
        & (_finished() < cut.deliveries)
        & (d.notice_id.is_(None) | notice_closed)
        & ~exists(
            select(pending.c.id).where(pending.c.reminds_id == d.id, pending.c.status.not_in(FINAL))
        )
    )


def _originals_due(cut: Cutoffs) -> Select[Any]:
    return select(deliveries.c.id).where(_original_due(cut))


def _delivery_errors_due(cut: Cutoffs) -> ColumnElement[bool]:
    """Final rows with an error, finished before the cut-off, that the purge keeps."""
    d = deliveries.c
    # (reminds_id IS NOT NULL first: NULL IN (…) is NULL, and NOT NULL would drop the row)
    going = _original_due(cut) | (
        d.reminds_id.is_not(None) & d.reminds_id.in_(_originals_due(cut).scalar_subquery())
    )
    return d.status.in_(FINAL) & d.error.is_not(None) & (_finished() < cut.delivery_errors) & ~going


def _audited(cut: Cutoffs) -> ColumnElement[bool]:
    """The case is named by an audit row the purge keeps."""
    a = audit_events.c
    return exists(select(a.id).where(a.case_id == cases.c.id, a.at >= cut.audit))


def _case_due(cut: Cutoffs) -> ColumnElement[bool]:
    """A case past retention: closed or withdrawn, of a closed year (its figures are frozen
    in the year's snapshot, and no open year's indicator counts it), and unchanged since
    ``Cutoffs.cases``.

    The audit trail is append-only (a trigger refuses an UPDATE, so its ``case_id`` cannot be
    cleared) and names the case: while an audit row the purge keeps names it, the case stays
    as an anonymous shell (no names, no free text, no link to the people concerned or to the
    report's answers; kind, unit, year, status and the member/union flags stay, which is all
    the indicators read).  Once the trail's own retention has removed those rows, the next
    purge deletes the shell.  Its events (status changes, with officers' notes) go in either
    case: the audit trail keeps who changed what, by id.  So do the answers of the report it
    was made from (``case_reports``: what the member wrote about the hardship or the dispute,
    the most sensitive text the bot holds; no indicator reads them, the indicators count
    cases); the response row stays, without a draft, as a survey's record that it was
    answered.
    """
    c = cases.c
    return c.status.in_(CASE_ENDS) & _year_closed(c.period_year) & (c.updated_at < cut.cases)


def _case_named() -> ColumnElement[bool]:
    """The case still holds something about a person (not anonymised yet)."""
    c = cases.c
    return or_(
        c.subject_name != "",
        c.description != "",
        c.reported_by.is_not(None),
        c.subject_person_id.is_not(None),
        c.response_id.is_not(None),
    )


def _case_reports(cut: Cutoffs) -> Select[Any]:
    """The responses behind the cases past retention that still point at them."""
    c = cases.c
    return select(c.response_id).where(_case_due(cut), c.response_id.is_not(None))


def _case_has_events() -> ColumnElement[bool]:
    return exists(select(case_events.c.id).where(case_events.c.case_id == cases.c.id))


def _rejected_links_due(cut: Cutoffs) -> ColumnElement[bool]:
    p = pending_links.c
    return (p.status == PendingStatus.REJECTED) & (
        func.coalesce(p.resolved_at, p.created_at) < cut.rejected_links
    )


# -- counting -------------------------------------------------------------------------------


async def _scalar(session: AsyncSession, stmt: Select[Any]) -> int:
    return int((await session.execute(stmt)).scalar_one() or 0)


async def count(session: AsyncSession, kind: Kind, cut: Cutoffs) -> int:
    """How many rows ``kind`` would remove or blank now, the earlier kinds done."""
    n = func.count()
    if kind is Kind.INBOX:
        return await _scalar(session, select(n).select_from(INBOX).where(_inbox_due(cut)))
    if kind is Kind.FAILED_INBOX:
        return await _scalar(session, select(n).select_from(INBOX).where(_failed_inbox_due(cut)))
    if kind is Kind.DELIVERIES:
        originals = await _scalar(
            session, select(n).select_from(deliveries).where(_original_due(cut))
        )
        reminders = await _scalar(
            session,
            select(n)
            .select_from(deliveries)
            .where(deliveries.c.reminds_id.in_(_originals_due(cut).scalar_subquery())),
        )
        return originals + reminders
    if kind is Kind.DELIVERY_ERRORS:
        return await _scalar(
            session, select(n).select_from(deliveries).where(_delivery_errors_due(cut))
        )
    if kind is Kind.AUDIT:
        stmt = select(n).select_from(audit_events).where(audit_events.c.at < cut.audit)
        return await _scalar(session, stmt)
    if kind is Kind.CASES_DELETED:
        stmt = select(n).select_from(cases).where(_case_due(cut), ~_audited(cut))
        return await _scalar(session, stmt)
    if kind is Kind.CASES_ANONYMISED:
        stmt = select(n).select_from(cases).where(_case_due(cut), _audited(cut), _case_named())
        return await _scalar(session, stmt)
    if kind is Kind.CASE_EVENTS:
        due = select(cases.c.id).where(_case_due(cut)).scalar_subquery()
        stmt = select(n).select_from(case_events).where(case_events.c.case_id.in_(due))
        return await _scalar(session, stmt)
    if kind is Kind.CASE_REPORTS:
        reports = _case_reports(cut).scalar_subquery()
        stmt = select(n).select_from(answers).where(answers.c.response_id.in_(reports))
        return await _scalar(session, stmt)
    if kind is Kind.REJECTED_LINKS:
        stmt = select(n).select_from(pending_links).where(_rejected_links_due(cut))
        return await _scalar(session, stmt)
    raise ValueError(f"unknown kind {kind}")


# -- removing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """What one chunk did: the ids it took (the last is where the next chunk starts) and the
    rows it changed, by kind."""

    ids: Sequence[int]
    done: dict[Kind, int]


async def _ids(
    session: AsyncSession, stmt: Select[Any], key: ColumnElement[int], after: int, limit: int
) -> list[int]:
    """The next ``limit`` ids of ``stmt`` above ``after``: keyset pagination, so that each
    chunk costs the same however far the purge has gone."""
    stmt = stmt.where(key > after).order_by(key).limit(limit)
    return [int(i) for i in (await session.execute(stmt)).scalars()]


async def _delete_ids(session: AsyncSession, table: Table, ids: Sequence[int]) -> int:
    """Delete the rows of ``table`` with these ids (none: no statement)."""
    if not ids:
        return 0
    return rowcount(await session.execute(delete(table).where(table.c.id.in_(ids))))


async def apply_chunk(
    session: AsyncSession, kind: Kind, cut: Cutoffs, *, after: int, limit: int
) -> Chunk:
    """Remove (or blank) up to ``limit`` rows of ``kind``, the lowest ids above ``after``.

    ``Kind.CASES_DELETED`` handles the three case kinds together, a chunk of cases at a time.
    """
    if kind in (Kind.INBOX, Kind.FAILED_INBOX):
        due = _inbox_due(cut) if kind is Kind.INBOX else _failed_inbox_due(cut)
        ids = await _ids(session, select(INBOX.c.id).where(due), INBOX.c.id, after, limit)
        return Chunk(ids, {kind: await _delete_ids(session, INBOX, ids)})
    if kind is Kind.DELIVERIES:
        d = deliveries.c
        ids = await _ids(session, _originals_due(cut), d.id, after, limit)
        if not ids:
            return Chunk(ids, {kind: 0})
        reminders = rowcount(await session.execute(delete(deliveries).where(d.reminds_id.in_(ids))))
        originals = rowcount(await session.execute(delete(deliveries).where(d.id.in_(ids))))
        return Chunk(ids, {kind: reminders + originals})
    if kind is Kind.DELIVERY_ERRORS:
        d = deliveries.c
        stmt = select(d.id).where(_delivery_errors_due(cut))
        ids = await _ids(session, stmt, d.id, after, limit)
        blanked = 0
        if ids:
            result = await session.execute(
                update(deliveries).where(d.id.in_(ids)).values(error=null())
            )
            blanked = rowcount(result)
        return Chunk(ids, {kind: blanked})
    if kind is Kind.AUDIT:
        a = audit_events.c
        ids = await _ids(session, select(a.id).where(a.at < cut.audit), a.id, after, limit)
        return Chunk(ids, {kind: await _delete_ids(session, audit_events, ids)})
    if kind is Kind.CASES_DELETED:
        return await _cases_chunk(session, cut, after=after, limit=limit)
    if kind is Kind.REJECTED_LINKS:
        p = pending_links.c
        stmt = select(p.id).where(_rejected_links_due(cut))
        ids = await _ids(session, stmt, p.id, after, limit)
        return Chunk(ids, {kind: await _delete_ids(session, pending_links, ids)})
    raise ValueError(f"{kind} is applied with {Kind.CASES_DELETED}")


async def _cases_chunk(session: AsyncSession, cut: Cutoffs, *, after: int, limit: int) -> Chunk:
    """A chunk of cases past retention: events and report answers deleted, then each case
    deleted, or anonymised while the audit trail names it (see :func:`_case_due`)."""
    c = cases.c
    stmt = select(c.id).where(
        _case_due(cut), or_(~_audited(cut), _case_named(), _case_has_events())
    )
    ids = await _ids(session, stmt, c.id, after, limit)
    done = dict.fromkeys(_CASE_KINDS, 0)
    if not ids:
        return Chunk(ids, done)
    done[Kind.CASE_EVENTS] = rowcount(
        await session.execute(delete(case_events).where(case_events.c.case_id.in_(ids)))
    )
    reports = select(c.response_id).where(c.id.in_(ids), c.response_id.is_not(None))
    done[Kind.CASE_REPORTS] = rowcount(
        await session.execute(delete(answers).where(answers.c.response_id.in_(reports)))
    )
    await session.execute(update(responses).where(responses.c.id.in_(reports)).values(draft=None))
    done[Kind.CASES_ANONYMISED] = rowcount(
        await session.execute(
            update(cases)
            .where(c.id.in_(ids), _audited(cut), _case_named())
            .values(
                subject_name="",
                description="",
                reported_by=null(),
                subject_person_id=null(),
                response_id=null(),
            )
        )
    )
    done[Kind.CASES_DELETED] = rowcount(
        await session.execute(delete(cases).where(c.id.in_(ids), ~_audited(cut)))
    )
    return Chunk(ids, done)
