"""Retention: how long each kind of data is kept, and the purge that enforces it.

The law keeps personal data only as long as its purpose needs it.  The purpose of each kind,
and so its retention (the settings ``RETAIN_*``, see :class:`RetentionPolicy`):

- an update in the inbox exists to be handled and answered; once answered it is only what a
  member typed (days);  one set aside waits for an operator's replay (a few weeks);
- a delivery (the outbox) proves a notice reached a member, which the year's A1 indicator
  counts: it stays while its year is open, and is deleted after ``RETAIN_DELIVERY_DAYS`` only
  once the year is closed (its figures frozen in the year's snapshot); its error text helps
  an operator for a few weeks only;
- a case closed or withdrawn is the union's record for some years, then anonymised or deleted
  (:func:`storage.retention._case_due` says which), its status changes and the answers of the
  report behind it (what the member wrote) deleted;
- a rejected link request holds the name and phone of someone who is not linked: weeks;
- the audit trail holds ids and counts only, kept for years.

The purge never changes a closed year's figures (its reports read the snapshot) and never
deletes what an open year's indicators count.  It runs once a day, from the scheduler's tick
(:func:`daily`, in polling and webhook mode alike), and on demand (``congdoan purge``; with
``--dry-run`` it only counts).  Each real purge leaves one audit row (``purged``) with its
counts, and that row is also how the scheduler knows the day's purge was done: a restart does
not purge twice in a day, and after days of downtime the purge runs once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from storage import audit
from storage import retention as store
from storage.db import Database
from storage.models import AuditAction
from storage.retention import Cutoffs, Kind
from storage.tables import audit_events

log = logging.getLogger(__name__)

#: Rows per statement: small enough that a chunk's transaction (and SQLite's write lock)
#: lasts milliseconds, large enough that a million rows take a few hundred statements.
CHUNK = 5000


def _years_before(moment: dt.datetime, years: int) -> dt.datetime:
    """The same day ``years`` earlier (28 February for a 29th): retention in years is
    counted in calendar years, as the union's rules state it, not in days."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind is kept (the settings ``RETAIN_*``)."""

    inbox_days: int = 7
    failed_inbox_days: int = 30
    delivery_days: int = 400
    delivery_errors_days: int = 30
    closed_cases_years: int = 5
    rejected_links_days: int = 30
    audit_years: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            inbox_days=settings.retain_inbox_days,
            failed_inbox_days=settings.retain_failed_inbox_days,
            delivery_days=settings.retain_delivery_days,
            delivery_errors_days=settings.retain_delivery_errors_days,
            closed_cases_years=settings.retain_closed_cases_years,
            rejected_links_days=settings.retain_rejected_links_days,
            audit_years=settings.retain_audit_years,
        )

    def cutoffs(self, now: dt.datetime) -> Cutoffs:
        def days(n: int) -> dt.datetime:
            return now - dt.timedelta(days=n)

        return Cutoffs(
            inbox=days(self.inbox_days),
            failed_inbox=days(self.failed_inbox_days),
            deliveries=days(self.delivery_days),
            delivery_errors=days(self.delivery_errors_days),
            cases=_years_before(now, self.closed_cases_years),
            rejected_links=days(self.rejected_links_days),
            audit=_years_before(now, self.audit_years),
        )

    def rules(self) -> list[KindRule]:
        """Each kind with what it is and the setting that keeps it (for the operator)."""
        cases = ("RETAIN_CLOSED_CASES_YEARS", f"{self.closed_cases_years} years")
        return [
            KindRule(
                Kind.INBOX,
                "inbox updates handled and answered",
                "RETAIN_INBOX_DAYS",
                f"{self.inbox_days} days",
            ),
            KindRule(
                Kind.FAILED_INBOX,
                "inbox updates set aside",
                "RETAIN_FAILED_INBOX_DAYS",
                f"{self.failed_inbox_days} days",
            ),
            KindRule(
                Kind.DELIVERIES,
                "deliveries and their reminders (open years' notices kept)",
                "RETAIN_DELIVERY_DAYS",
                f"{self.delivery_days} days",
            ),
            KindRule(
                Kind.DELIVERY_ERRORS,
                "delivery error texts blanked",
                "RETAIN_DELIVERY_ERRORS_DAYS",
                f"{self.delivery_errors_days} days",
            ),
            KindRule(Kind.AUDIT, "audit rows", "RETAIN_AUDIT_YEARS", f"{self.audit_years} years"),
            KindRule(Kind.CASES_DELETED, "closed cases of closed years deleted", *cases),
            KindRule(
                Kind.CASES_ANONYMISED,
                "closed cases anonymised (still named by audit rows)",
                *cases,
            ),
            KindRule(Kind.CASE_EVENTS, "status changes of those cases", *cases),
            KindRule(Kind.CASE_REPORTS, "answers of the reports behind those cases", *cases),
            KindRule(
                Kind.REJECTED_LINKS,
                "rejected link requests",
                "RETAIN_REJECTED_LINKS_DAYS",
                f"{self.rejected_links_days} days",
            ),
        ]


@dataclass(frozen=True)
class KindRule:
    """One line of the operator's table: a kind, what it is, and the setting that keeps it."""

    kind: Kind
    what: str
    setting: str
    kept: str


Counts = dict[Kind, int]


async def plan(session: AsyncSession, policy: RetentionPolicy, now: dt.datetime) -> Counts:
    """How many rows of each kind a purge at ``now`` would remove or blank (changes
    nothing).  Each kind is counted as the purge finds it, the earlier kinds done."""
    cut = policy.cutoffs(now)
    return {kind: await store.count(session, kind, cut) for kind in Kind}


async def purge(
    db: Database,
    policy: RetentionPolicy,
    now: dt.datetime,
    *,
    via: audit.Via,
    dry_run: bool = False,
    chunk: int = CHUNK,
) -> Counts:
    """Purge what is past retention at ``now`` and return the counts by kind; with
    ``dry_run``, only count (:func:`plan`).

    Takes the database rather than a session: each chunk of ``chunk`` rows commits on its
    own, so that no transaction holds SQLite's write lock for long (the bot keeps answering
    meanwhile).  A purge stopped half-way leaves every row either gone or whole, and no audit
    row: the next one finishes the job.  The audit row (with the counts) commits last.
    """
    if dry_run:
        async with db.session() as session:
            return await plan(session, policy, now)
    cut = policy.cutoffs(now)
    done: Counts = dict.fromkeys(Kind, 0)
    for kind in store.STEPS:
        after = 0
        while True:
            async with db.session(write=True) as session:
                step = await store.apply_chunk(session, kind, cut, after=after, limit=chunk)
            for each, n in step.done.items():
                done[each] += n
            if len(step.ids) < chunk:
                break
            after = step.ids[-1]
    async with db.session(write=True) as session:
        await audit.record(
            session,
            AuditAction.PURGED,
            via=via,
            detail={kind.value: n for kind, n in done.items()},
            at=now,
        )
    return done


async def last_purged_at(session: AsyncSession) -> dt.datetime | None:
    """When the latest real purge ran (its audit row), if any did."""
    stmt = select(func.max(audit_events.c.at)).where(
        audit_events.c.action == AuditAction.PURGED.value
    )
    last: dt.datetime | None = (await session.execute(stmt)).scalar_one_or_none()
    if last is None:
        return None
    return last if last.tzinfo is not None else last.replace(tzinfo=dt.UTC)


async def daily(
    db: Database, policy: RetentionPolicy, now: dt.datetime, *, tz: dt.tzinfo
) -> Counts | None:
    """The scheduler's purge: once per local day (``tz``), the first tick of a day that has
    none yet; None when today's was done (by this process, an earlier one, or the CLI)."""
    async with db.session() as session:
        last = await last_purged_at(session)
    if last is not None and last.astimezone(tz).date() >= now.astimezone(tz).date():
        return None
    counts = await purge(db, policy, now, via="system")
    log.info(
        "retention purge: %s",
        ", ".join(f"{kind.value} {n}" for kind, n in counts.items()),
    )
    return counts
