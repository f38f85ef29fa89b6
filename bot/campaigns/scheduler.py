"""The scheduler: APScheduler (3.x, asyncio) ticking the campaign passes, one process at a time.

Nothing is scheduled per message or per person.  One interval job calls :meth:`Scheduler.tick`,
which, in one transaction, starts the runs of recurring campaigns whose period has come, closes
expired runs and writes the reminders due (:mod:`bot.campaigns.service`), and, on the digest
day, the officers' weekly digests; the delivery worker sends what it wrote.  Then, in a
transaction of its own, it folds the indicator change log into the units' versions
(:func:`storage.indicators.fold_changes`), so that the log stays short; and the first tick of
each local day runs the retention purge (``upkeep``, :mod:`bot.services.retention`).
Everything a tick decides is derived from the database and the clock, so a restart rebuilds
it and a tick after a day of downtime sends each missed reminder once (and purges once).

Only one process may tick against a database: the *leader*.  On PostgreSQL leadership is a
session-level advisory lock (``pg_try_advisory_lock``) held on a dedicated connection for as
long as the process lives; on SQLite an exclusive ``flock`` on a file beside the database.  Both
are released by the operating system or the server when the process dies, so a crashed leader
never blocks its successor.  A process that is not the leader tries again at every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.campaigns import service
from bot.campaigns.schedule import ReminderPolicy
from bot.notices.service import AckReminderPolicy, ack_reminder_pass
from bot.services.conversation import SurveyRegistry
from storage import indicators as indicator_store
from storage.db import Database
from storage.models import utcnow
from storage.redact import safe_traceback

log = logging.getLogger(__name__)

#: The advisory lock key of the scheduler (any 64-bit number the project owns).
ADVISORY_KEY = 0x636F_6E67_646F_616E  # "congdoan"


class Leadership(Protocol):
    """Who may tick: ``acquire`` is cheap once held, and never blocks."""

    async def acquire(self) -> bool: ...

    async def release(self) -> None: ...


class AdvisoryLock:
    """Leadership through a PostgreSQL session-level advisory lock on its own connection."""

    def __init__(self, db: Database, key: int = ADVISORY_KEY) -> None:
        self.db = db
        self.key = key
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection died, and the lock with it
                log.warning("scheduler lock connection lost; trying to take the lock again")
                await self._drop()
        conn = await self.db.engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await conn.commit()
        finally:
            await conn.close()


class FileLock:
    """Leadership through an exclusive, non-blocking ``flock`` on a file (SQLite)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    async def acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    async def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


class AlwaysLeader:
    """An in-memory SQLite database belongs to one process: nobody to share it with."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def leadership_for(db: Database) -> Leadership:
    """The lock that elects one scheduler for this database."""
    if db.dialect == "postgresql":
        return AdvisoryLock(db)
    database = make_url(db.url).database
    if not database or database == ":memory:":
        return AlwaysLeader()
    return FileLock(Path(os.path.abspath(database + ".scheduler.lock")))


@dataclass(frozen=True)
class SchedulerSettings:
    """What the passes need from the settings: ``tz`` and ``default_locale`` are the
    settings' ``Settings.tz`` and ``Settings.locale`` (no default here)."""

    tz: dt.tzinfo
    default_locale: str
    interval_seconds: float = 60.0
    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    ack_policy: AckReminderPolicy = field(default_factory=AckReminderPolicy)


@dataclass(frozen=True)
class TickStats:
    rolled: int  # new runs of recurring campaigns
    reminders: service.PassStats
    digests: int
    notice_reminders: int = 0  # reminders of notices not acknowledged
    escalated: int = 0  # urgent cases nobody opened in time, sent to the next level up
    announced: int = 0  # officers told of new cases and link requests (one message each)


DigestPass = Callable[[Any, dt.datetime], Any]  # (session, now) -> awaitable of a count
#: Daily upkeep (the retention purge): given the tick's time, it decides itself whether it is
#: due and runs in transactions of its own; see :func:`bot.services.retention.daily`.
Upkeep = Callable[[dt.datetime], Awaitable[object]]


class Scheduler:
    """Ticks the campaign passes (see the module doc); ``clock`` is injectable for tests."""

    def __init__(
        self,
        db: Database,
        registry: SurveyRegistry,
        settings: SchedulerSettings,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        leadership: Leadership | None = None,
        digest: DigestPass | None = None,
        escalate: DigestPass | None = None,
        announce: DigestPass | None = None,
        on_written: Callable[[], None] | None = None,
        upkeep: Upkeep | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.leadership = leadership or leadership_for(db)
        self.digest = digest
        self.escalate = escalate
        self.announce = announce
        self.on_written = on_written
        self.upkeep = upkeep
        self._aps: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()

    async def tick(self) -> TickStats | None:
        """One pass over everything due now; None when another process is the leader."""
        async with self._lock:
            if not await self.leadership.acquire():
                log.debug("another process runs the scheduler; tick skipped")
                return None
            now = self.clock()
            s = self.settings
            async with self.db.session(write=True) as session:
                rolled = await service.roll_series(
                    session,
                    now=now,
                    registry=self.registry,
                    tz=s.tz,
                    policy_default=s.policy,
                    default_locale=s.default_locale,
                )
                passed = await service.reminder_pass(
                    session,
                    now=now,
                    tz=s.tz,
                    policy_default=s.policy,
                    default_locale=s.default_locale,
                )
                acks = await ack_reminder_pass(
                    session,
                    now=now,
                    policy=s.ack_policy,
                    tz=s.tz,
                    default_locale=s.default_locale,
                )
                digests = int(await self.digest(session, now)) if self.digest else 0
                escalated = int(await self.escalate(session, now)) if self.escalate else 0
                announced = int(await self.announce(session, now)) if self.announce else 0
            # the indicator change log, kept short
            async with self.db.session(write=True) as session:
                await indicator_store.fold_changes(session)
            stats = TickStats(len(rolled), passed, digests, acks, escalated, announced)
            if self.upkeep is not None:
                try:
                    await self.upkeep(now)
                except Exception as exc:  # the passes above are committed; the next tick retries
                    log.error(
                        "the daily retention purge failed; the next tick tries again: %s",
                        safe_traceback(exc),
                    )
            if rolled or passed.reminders or digests or acks or escalated or announced:
                log.info(
                    "scheduler: %d new runs, %d reminders, %d notice reminders, %d digests, "
                    "%d runs closed, %d urgent cases escalated, %d officers told of new work",
                    len(rolled),
                    passed.reminders,
                    acks,
                    digests,
                    passed.runs_closed,
                    escalated,
                    announced,
                )
                if self.on_written is not None:
                    self.on_written()
            return stats

    async def _safe_tick(self) -> None:
        try:
            await self.tick()
        except Exception as exc:  # (a driver's full error may quote a row: not logged)
            log.error("scheduler tick failed; the next tick tries again: %s", safe_traceback(exc))

    def start(self) -> None:
        """Start ticking now and every ``interval_seconds`` (missed ticks coalesce)."""
        aps = AsyncIOScheduler(timezone=dt.UTC)
        aps.add_job(
            self._safe_tick,
            IntervalTrigger(seconds=self.settings.interval_seconds),
            id="campaign-tick",
            next_run_time=dt.datetime.now(dt.UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        aps.start()
        self._aps = aps

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        async with self._lock:  # let a tick in progress finish
            await self.leadership.release()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set (what ``congdoan serve`` runs beside the bot)."""
        self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
