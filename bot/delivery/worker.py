"""The delivery worker: claim due rows, send them under the rate limits, record the outcomes.

One loop claims a batch (a short committed transaction: rows become ``sending`` with a lease;
the next batch is claimed while the second half of this one goes out), then starts
a send per row, at most ``concurrency`` at a time.  A send holds its slot until its outcome is
*committed*: outcomes are written by a group-committing recorder (whatever results are
waiting, up to ``record_batch`` per transaction, as soon as the previous write is done; on
SQLite each write is one trip to the database's thread, on a connection held for the run).
Each channel's rows are claimed and sent by a loop of their own with their own ``concurrency``
slots (a slow or paused channel never holds up another).  So at any moment at most
``concurrency`` rows per channel are sent-or-being-sent without their outcome in the database,
and a crash (SIGKILL) can repeat at most that many messages per channel: every other claimed
row is either recorded or was never sent, and is claimed again once its lease expires (at once
when the worker restarts under the same ``owner``).

Outcomes: sent; unreachable (the chat is also marked, so later broadcasts skip it); failed
(permanent error); transient errors go back to ``queued`` with exponential backoff and jitter
until ``max_attempts`` claims, then fail.  A 429 pauses every send for its ``retry_after`` and
the row is sent again within its lease without spending an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.delivery.channel import Outbound, OutcomeKind, Sender, SendOutcome
from bot.delivery.ratelimit import Permit, RateLimiter
from storage import outbox, sqlite_driver
from storage.db import Database
from storage.models import Channel, DeliveryStatus, utcnow
from storage.outbox import Claimed, Result
from storage.redact import safe_error, safe_traceback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliverySettings:
    global_rate: float | None = 25.0  # messages per second over any 1-second window; None: off
    per_chat_rate: float | None = 1.0  # per chat; None: off
    concurrency: int = 16  # sends in flight (and the most a crash can repeat)
    batch_size: int = 200  # rows per claim
    lease_seconds: float = 60.0
    max_attempts: int = 5  # claims per row before a transient error fails it
    backoff_base: float = 2.0  # first retry after this many seconds, doubling each time
    backoff_max: float = 300.0
    jitter: float = 0.5  # up to this fraction of each backoff is taken off at random
    idle_seconds: float = 2.0  # poll interval when nothing is due (notify() wakes earlier)
    record_batch: int = 100  # outcomes per recording transaction, at most
    # Seconds an outcome may wait for others to share its write.  0: none; outcomes still
    # share writes, those that came in while the previous one was being committed.
    record_linger: float = 0.0
    rate_margin: float = 0.0  # seconds added to each rate window (see ratelimit.RateLimiter)
    max_retry_after: int = 5  # 429s one row may wait out before it counts as a failed attempt

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.batch_size < 1 or self.max_attempts < 1:
            raise ValueError("concurrency, batch_size and max_attempts must be at least 1")
        if self.lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")


@dataclass
class DrainStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    unreachable: int = 0
    retried: int = 0  # back to queued after a transient error
    released: int = 0  # back to queued unsent (lease running out, shutdown)
    batches: int = 0  # claim transactions
    writes: int = 0  # outcome-recording transactions
    elapsed: float = 0.0

    @property
    def per_second(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


class _LeaseLost(Exception):
    """The row's lease is about to run out (or the worker is stopping) before its first call."""


class _LeasedPacer:
    """The limiter for one chat, refusing the first call when the lease is nearly over.
    ``call()`` is the pacer itself, an async context manager holding the call's permit (a
    message's calls are made one after another): no generator and no object per call."""

    __slots__ = ("calls", "item", "key", "limiter", "permit", "worker")

    def __init__(self, worker: DeliveryWorker, key: str, item: Claimed) -> None:
        self.worker = worker
        self.key = key
        self.item = item
        self.calls = 0
        self.limiter = worker.limiter_of(item.channel)
        self.permit: Permit | None = None

    def call(self) -> _LeasedPacer:
        return self

    async def __aenter__(self) -> float:
        permit = await self.limiter.acquire(self.key)
        if self.calls == 0:
            left = (self.item.lease_expires_at - self.worker.clock()).total_seconds()
            if left < self.worker.lease_margin or self.worker.stopping:
                permit.release()
                raise _LeaseLost()
        self.calls += 1
        self.permit = permit
        return permit.start

    async def __aexit__(self, *_exc: object) -> None:
        permit, self.permit = self.permit, None
        if permit is not None:
            permit.release()

    def pause(self, seconds: float) -> None:
        self.limiter.pause(seconds)


@dataclass(slots=True)
class _Pending:
    """An outcome waiting for its write, and the slot its send holds until then (released by
    the recorder once the write is committed: no task waits, no future per message)."""

    result: Result
    slots: asyncio.Semaphore


class DeliveryWorker:
    """Sends the outbox (see module doc).  ``run(stop)`` serves until ``stop`` is set;
    ``drain()`` returns once nothing is left to send."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        settings: DeliverySettings | None = None,
        *,
        owner: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
        channels: Mapping[Channel, tuple[Sender, RateLimiter]] | None = None,
    ) -> None:
        """``sender`` and ``limiter`` serve every row whose channel ``channels`` does not name
        (each channel has its own sender and its own platform limits)."""
        self.db = db
        self.sender = sender
        self.channels = dict(channels or {})
        self.settings = settings or DeliverySettings()
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}")[:64]
        self.clock = clock
        s = self.settings
        self.limiter = limiter or RateLimiter(s.global_rate, s.per_chat_rate, margin=s.rate_margin)
        self.rng = rng or random.Random()
        self.stats = DrainStats()
        self.stopping = False
        # A first call must start with this much lease left (the sender's timeouts fit in it).
        self.lease_margin = min(s.lease_seconds / 2, 15.0)
        self._wakes: set[asyncio.Event] = set()  # one per channel's loop
        self._tasks: set[asyncio.Task[None]] = set()
        self._queue: list[_Pending] = []
        self._results_ready = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._recorder: asyncio.Task[None] | None = None
        self._gathered: asyncio.Future[None] | None = None  # the recorder waits for enough
        self._write: Callable[[sqlite_driver.Work], Awaitable[None]] | None = None  # serving

    # -- public -----------------------------------------------------------------------------

    def sender_of(self, channel: Channel) -> Sender:
        found = self.channels.get(channel)
        return found[0] if found is not None else self.sender

    def limiter_of(self, channel: Channel) -> RateLimiter:
        found = self.channels.get(channel)
        return found[1] if found is not None else self.limiter

    def notify(self) -> None:
        """New rows were enqueued: claim now instead of at the next poll."""
        for wake in self._wakes:
            wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; then finish the sends in flight, record them, and
        hand the claimed but unsent rows back."""
        await self._serve(stop, drain=False)

    async def drain(
        self, *, max_wait: float | None = None, stop: asyncio.Event | None = None
    ) -> DrainStats:
        """Send until nothing is due, waiting for retries due within ``max_wait`` seconds
        (default: ``backoff_max``), or until ``stop`` is set.  Returns this drain's counts."""
        before = DrainStats(**vars(self.stats))
        started = time.monotonic()
        await self._serve(stop or asyncio.Event(), drain=True, max_wait=max_wait)
        after = self.stats
        return DrainStats(
            claimed=after.claimed - before.claimed,
            sent=after.sent - before.sent,
            failed=after.failed - before.failed,
            unreachable=after.unreachable - before.unreachable,
            retried=after.retried - before.retried,
            released=after.released - before.released,
            batches=after.batches - before.batches,
            writes=after.writes - before.writes,
            elapsed=time.monotonic() - started,
        )

    # -- the loop ---------------------------------------------------------------------------

    async def _serve(
        self, stop: asyncio.Event, *, drain: bool, max_wait: float | None = None
    ) -> None:
        """Each channel's rows are claimed and sent by a loop of their own, with their own
        ``concurrency`` slots, so that a slow or paused channel (Zalo's lower rate, a 429)
        never holds up another's; the outcomes share one recorder."""
        s = self.settings
        horizon = s.backoff_max if max_wait is None else max_wait
        self.stopping = False
        async with self.db.session(write=True) as session:
            taken = await outbox.expire_leases(session, owner=self.owner, now=self.clock())
        if taken:
            log.info("taking back %d deliveries leased by a previous run of %s", taken, self.owner)
        async with self.db.writes() as write:
            self._write = write
            try:
                await self._lanes(stop, drain=drain, horizon=horizon)
            finally:
                self._write = None

    async def _lanes(self, stop: asyncio.Event, *, drain: bool, horizon: float) -> None:
        self._recorder = asyncio.create_task(self._record_loop())
        named = list(self.channels)
        scopes: list[tuple[list[Channel] | None, bool]] = [(None, False)]
        if named:
            scopes = [(named, True)]
            scopes += [([channel], False) for channel in named]
        try:
            await asyncio.gather(
                *(
                    self._lane(stop, drain=drain, horizon=horizon, channels=c, exclude=x)
                    for c, x in scopes
                )
            )
        finally:
            self.stopping = True
            await self._settle()
            recorder, self._recorder = self._recorder, None
            if recorder is not None:
                recorder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recorder

    async def _lane(
        self,
        stop: asyncio.Event,
        *,
        drain: bool,
        horizon: float,
        channels: list[Channel] | None,
        exclude: bool,
    ) -> None:
        """Claim and send the rows of ``channels`` (all but them with ``exclude``).  The next
        claim is made once half of the current one has gone out (at least ``concurrency``
        rows still to go), so that no slot waits for a claim: a claim of 200 rows takes
        ~10-15 ms, while 16 rows go out in ~6 ms at 2,500 messages a second.  The rows of
        both stay within their lease: a claim's size lets its rows start within half the
        lease at the global rate (:meth:`_claim`), the two together within three quarters."""
        s = self.settings
        slots = asyncio.Semaphore(s.concurrency)
        wake = asyncio.Event()
        self._wakes.add(wake)
        claimed: deque[Claimed] = deque()
        ahead: asyncio.Task[list[Claimed]] | None = None  # the next claim, made early
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    if ahead is not None:
                        got, ahead = ahead, None
                        claimed = deque(await got)
                    else:
                        claimed = deque(await self._claim(channels, exclude))
                except Exception as exc:
                    if drain:
                        raise
                    log.error("claiming deliveries failed; retrying: %s", safe_traceback(exc))
                    await self._idle(stop, wake, channels, exclude, retry=True)
                    continue
                if not claimed:
                    if drain:
                        await self._settle()
                        async with self.db.session() as session:
                            due = await outbox.next_due(session, channels=channels, exclude=exclude)
                        if due is None or (due - self.clock()).total_seconds() > horizon:
                            break
                    await self._idle(stop, wake, channels, exclude)
                    continue
                early = max(s.concurrency, len(claimed) // 2)  # rows left at the next claim
                while claimed and not stop.is_set():
                    await slots.acquire()
                    if stop.is_set():
                        slots.release()
                        break
                    item = claimed.popleft()
                    task = asyncio.create_task(self._send(item, slots))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    if ahead is None and len(claimed) == early:
                        ahead = asyncio.create_task(self._claim(channels, exclude))
        finally:
            self._wakes.discard(wake)
            if ahead is not None:
                # A claim made early: its rows are handed back with the others.
                with contextlib.suppress(Exception):
                    claimed.extend(await ahead)
            if claimed:
                now = self.clock()
                await self._record_now(
                    [
                        Result(
                            item.id,
                            item.attempts,
                            DeliveryStatus.QUEUED,
                            available_at=now,
                            refund=True,
                        )
                        for item in claimed
                    ]
                )

    async def _claim(self, channels: list[Channel] | None, exclude: bool) -> list[Claimed]:
        s = self.settings
        limit = s.batch_size
        if s.global_rate:
            # Rows claimed must all start within their lease at the global rate.
            limit = min(limit, max(s.concurrency, int(s.global_rate * s.lease_seconds / 2)))
        now = self.clock()
        # The lease is the write, committed at once; what sending needs is read after it, on
        # SQLite outside the write lock, which the outcomes' writes are waiting for.  Rows
        # leased and then not read (the read failed) are taken back when their lease ends.
        async with self.db.connection(write=True) as conn:
            ids = await outbox.lease_now(
                conn,
                owner=self.owner,
                now=now,
                lease_until=now + dt.timedelta(seconds=s.lease_seconds),
                limit=limit,
                max_attempts=s.max_attempts,
                channels=channels,
                exclude=exclude,
            )
        if not ids:
            return []
        async with self.db.connection() as conn:
            claimed = await outbox.claimed(conn, ids)
        if claimed:
            self.stats.claimed += len(claimed)
            self.stats.batches += 1
            log.info("claimed %d deliveries (sent so far: %d)", len(claimed), self.stats.sent)
        return claimed

    async def _idle(
        self,
        stop: asyncio.Event,
        wake: asyncio.Event,
        channels: list[Channel] | None,
        exclude: bool,
        *,
        retry: bool = False,
    ) -> None:
        """Sleep until the next row is due (at most ``idle_seconds``), ``notify()`` or stop."""
        wait = self.settings.idle_seconds
        if not retry:
            async with self.db.session() as session:
                due = await outbox.next_due(session, channels=channels, exclude=exclude)
            if due is not None:
                # a floor, so that a row another worker is claiming right now is no busy loop
                wait = min(wait, max((due - self.clock()).total_seconds(), 0.01))
        waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _settle(self) -> None:
        """Wait for every send in flight and for its outcome to be committed."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        while self._queue:
            await self._flush()

    # -- one send ---------------------------------------------------------------------------

    async def _send(self, item: Claimed, slots: asyncio.Semaphore) -> None:
        """Deliver ``item`` and queue its outcome; its slot goes back when that is committed."""
        try:
            result = await self._deliver(item)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled: nothing to record, slot back
                slots.release()
                raise
            # A bug or an unexpected error: retry the row later.  Not the exception's own
            # text: it may quote what was being sent.
            log.error("delivery %d: unexpected error: %s", item.id, safe_traceback(exc))
            result = self._retry_or_fail(item, safe_error(exc))
        self._queue.append(_Pending(result, slots))
        self._results_ready.set()
        gathered = self._gathered
        if gathered is not None and not gathered.done() and len(self._queue) >= self._enough():
            gathered.set_result(None)

    async def _deliver(self, item: Claimed) -> Result:
        if item.skip_reason is not None:
            return Result(
                item.id, item.attempts, DeliveryStatus.UNREACHABLE, error=item.skip_reason
            )
        if not item.external_id:
            return Result(
                item.id, item.attempts, DeliveryStatus.UNREACHABLE, error=outbox.NOT_LINKED
            )
        message = Outbound(
            delivery_id=item.id,
            channel=item.channel,
            external_id=item.external_id,
            text=item.text,
            ack_button=item.ack_button,
            attachment_kind=item.attachment_kind,
            attachment_ref=item.attachment_ref,
            run_id=item.run_id,
            reminds_id=item.reminds_id,
            locale=item.locale,
        )
        pacer = _LeasedPacer(self, f"{item.channel}:{item.external_id}", item)
        waits = 0
        while True:
            try:
                outcome = await self.sender_of(item.channel).send(message, pacer=pacer)
            except _LeaseLost:
                return Result(
                    item.id,
                    item.attempts,
                    DeliveryStatus.QUEUED,
                    available_at=self.clock(),
                    refund=True,
                )
            if outcome.kind != OutcomeKind.RETRY_AFTER:
                break
            pacer.pause(outcome.retry_after or 1.0)
            waits += 1
            if waits > self.settings.max_retry_after:
                outcome = SendOutcome.transient(outcome.error or "too many requests")
                break
            pacer.calls = 0  # nothing was delivered: the next try is a first call again
        return self._result(item, outcome)

    def _result(self, item: Claimed, outcome: SendOutcome) -> Result:
        if outcome.kind == OutcomeKind.SENT:
            return Result(
                item.id, item.attempts, DeliveryStatus.SENT, platform_message_id=outcome.message_id
            )
        if outcome.kind == OutcomeKind.UNREACHABLE:
            return Result(
                item.id,
                item.attempts,
                DeliveryStatus.UNREACHABLE,
                error=outcome.error,
                chat_id=item.chat_id,
            )
        if outcome.kind == OutcomeKind.PERMANENT:
            return Result(item.id, item.attempts, DeliveryStatus.FAILED, error=outcome.error)
        return self._retry_or_fail(item, outcome.error or str(outcome.kind))

    def _retry_or_fail(self, item: Claimed, error: str) -> Result:
        s = self.settings
        if item.attempts >= s.max_attempts:
            return Result(
                item.id,
                item.attempts,
                DeliveryStatus.FAILED,
                error=f"gave up after {item.attempts} attempts: {error}",
            )
        delay = min(s.backoff_max, s.backoff_base * 2 ** (item.attempts - 1))
        delay *= 1.0 - s.jitter * self.rng.random()
        return Result(
            item.id,
            item.attempts,
            DeliveryStatus.QUEUED,
            error=error,
            available_at=self.clock() + dt.timedelta(seconds=delay),
        )

    # -- recording --------------------------------------------------------------------------

    def _enough(self) -> int:
        """Outcomes worth a write at once: most of the sends' slots, or every send there is
        (none is then left to join this write)."""
        s = self.settings
        threshold = max(1, min(s.record_batch, s.concurrency * 3 // 4))
        return min(threshold, len(self._queue) + len(self._tasks))

    async def _record_loop(self) -> None:
        linger = self.settings.record_linger
        loop = asyncio.get_running_loop()
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            if linger > 0 and len(self._queue) < self._enough():
                # Group commit: let a few more outcomes join this write, unless every send
                # is already waiting for it.  One future that the sends complete when enough
                # are in (no task and no timer per outcome: that cost ~30 µs a message).
                self._gathered = loop.create_future()
                try:
                    await asyncio.wait((self._gathered,), timeout=linger)
                finally:
                    self._gathered = None
                self._results_ready.clear()
            while self._queue:
                try:
                    await self._flush()
                except Exception as exc:
                    log.error(
                        "recording delivery outcomes failed; retrying in 1 s: %s",
                        safe_traceback(exc),
                    )
                    await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        async with self._flush_lock:
            batch = self._queue[: self.settings.record_batch]
            if not batch:
                return
            await self._record_now([p.result for p in batch])
            del self._queue[: len(batch)]
        for pending in batch:
            pending.slots.release()

    async def _record_now(self, results: list[Result]) -> None:
        work = outbox.record_work(owner=self.owner, results=results, now=self.clock())
        await (self._write or self.db.write_many)(work)
        self.stats.writes += 1
        for r in results:
            if r.status == DeliveryStatus.SENT:
                self.stats.sent += 1
            elif r.status == DeliveryStatus.FAILED:
                self.stats.failed += 1
            elif r.status == DeliveryStatus.UNREACHABLE:
                self.stats.unreachable += 1
            elif r.refund:
                self.stats.released += 1
            else:
                self.stats.retried += 1
