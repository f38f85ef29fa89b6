"""A strict sliding-window rate limiter: never more than N calls in ANY 1-second window, as the
receiving server counts them, and starts evenly spaced (1/N s apart) rather than in bursts.

A token bucket lets a full bucket burst on top of the steady rate, so some 1-second windows see
more than the rate.  Here each call holds a slot from its start until one window after it
*completed*: a call may start only while fewer than N calls are in flight or completed within
the last window.  Counting from completion rather than start makes the bound hold on the
server's clock whatever the network and event-loop delays: a request arrives after it starts
and before its answer comes back, so if N+1 requests arrived within one window, the last of
them to start would have found the other N in flight or completed less than a window earlier,
and waited.  The cost is one request latency per window turnover (a few milliseconds against a
local server).  The same holds per chat (one call per second by default), and a platform's
"retry after" pauses every call.

A rate ``r`` ≥ 1 allows ``floor(r)`` calls per second; a rate below 1 allows one call every
``1/r`` seconds; ``None`` means unlimited.

Calls are urgent (a reply to a member who is waiting for it) or not (a broadcast, a reminder):
one limiter serves both, and a call that is not urgent gives way whenever an urgent one is
waiting for the global window, so a member in the middle of a survey is answered first however
large the broadcast going out.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SlidingWindow:
    """Calls in flight, the completion times of the calls that ended within the window, and
    an even pace: starts are spread ``span / count`` apart rather than sent in bursts."""

    def __init__(self, rate: float, *, margin: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("a rate must be positive (use None for unlimited)")
        self.count = max(1, int(rate)) if rate >= 1 else 1
        self.span = (1.0 if rate >= 1 else 1.0 / rate) + margin
        self.gap = self.span / self.count
        # A start late by up to this much (a sleep overshooting) is made up by the next one,
        # so the pace does not drift below the rate; the window still caps every second.
        self.slack = min(self.gap / 2, 0.005)
        self.inflight = 0
        self.done: deque[float] = deque()  # completion times, oldest first
        self.next_at = float("-inf")

    def occupied(self, now: float) -> int:
        while self.done and self.done[0] + self.span <= now:
            self.done.popleft()
        return self.inflight + len(self.done)

    def wait(self, now: float) -> float | None:
        """0 when one more call fits now; else the seconds until one may, or None when every
        slot is held by a call in flight (then a completion must come first)."""
        paced = self.next_at - now
        if self.occupied(now) < self.count:
            return max(paced, 0.0)
        if self.done:
            return max(self.done[0] + self.span - now, paced)
        return None

    def start(self, now: float) -> None:
        self.inflight += 1
        on_schedule = now - self.next_at <= self.slack
        self.next_at = (self.next_at if on_schedule else now) + self.gap

    def finish(self, now: float) -> None:
        self.inflight -= 1
        self.done.append(now)

    def idle(self, now: float) -> bool:
        return self.occupied(now) == 0 and self.next_at <= now


@dataclass
class _ChatState:
    window: SlidingWindow
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass
class Permit:
    """One call's place in the windows; ``release()`` when its answer came back."""

    limiter: RateLimiter
    start: float
    chat: _ChatState | None
    counted: bool
    released: bool = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.limiter._finish(self)


class RateLimiter:
    """Global and per-chat limits, with a global pause for a platform's 429.

    ``margin`` lengthens every window a little more, for a receiver whose clock or counting
    differs slightly from ours.
    """

    def __init__(
        self,
        global_rate: float | None = 25.0,
        per_chat_rate: float | None = 1.0,
        *,
        margin: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._global = SlidingWindow(global_rate, margin=margin) if global_rate else None
        self._lock = asyncio.Lock()
        self._urgent_lock = asyncio.Lock()
        self._urgent_waiting = 0
        self._urgent_gone = asyncio.Event()
        self._chats: dict[str, _ChatState] = {}
        self._paused_until = float("-inf")
        self._finished = asyncio.Event()
        self._acquired = 0

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def pause(self, seconds: float) -> None:
        """No call starts before ``seconds`` from now (a 429's retry_after)."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    @asynccontextmanager
    async def slot(self, key: str | None = None, *, urgent: bool = False) -> AsyncIterator[float]:
        """Hold a place for one call to chat ``key`` for the duration of the block (the call);
        yields the start time.  ``urgent`` calls go before the others (see the module doc)."""
        permit = await self.acquire(key, urgent=urgent)
        try:
            yield permit.start
        finally:
            permit.release()

    async def acquire(self, key: str | None = None, *, urgent: bool = False) -> Permit:
        """Wait until one call (to chat ``key``) fits every limit; the returned permit must be
        released when the call has completed."""
        if self.per_chat_rate is None or key is None:
            start = await self._acquire_global(urgent)
            return Permit(self, start, None, self._global is not None)
        state = self._chats.get(key)
        if state is None:
            state = _ChatState(SlidingWindow(self.per_chat_rate, margin=self.margin))
            self._chats[key] = state
        state.users += 1
        try:
            async with state.lock:
                while (wait := state.window.wait(self._clock())) != 0:
                    await self._wait(wait)
                # Time only moves on while the global slot is awaited: the chat still fits.
                start = await self._acquire_global(urgent)
                state.window.start(start)
                return Permit(self, start, state, self._global is not None)
        finally:
            state.users -= 1
            self._acquired += 1
            if self._acquired % 1000 == 0:
                self._forget_idle()

    async def _acquire_global(self, urgent: bool = False) -> float:
        window = self._global
        if window is None:
            while (paused := self._paused_until - self._clock()) > 0:
                await self._sleep(paused)
            return self._clock()
        if urgent:
            self._urgent_waiting += 1
        try:
            # Urgent calls queue among themselves; the others queue behind their own lock and
            # step aside while an urgent call waits.  Both start only through the one window.
            async with self._urgent_lock if urgent else self._lock:
                while True:
                    if not urgent and self._urgent_waiting:
                        await self._urgent_gone.wait()
                        continue
                    now = self._clock()
                    paused = self._paused_until - now
                    fits = window.wait(now)
                    if fits == 0 and paused <= 0:
                        window.start(now)
                        return now
                    if paused > 0:
                        await self._sleep(paused)
                    else:
                        await self._wait(fits)
        finally:
            if urgent:
                self._urgent_waiting -= 1
                if not self._urgent_waiting:
                    self._urgent_gone.set()
                    self._urgent_gone = asyncio.Event()

    async def _wait(self, seconds: float | None) -> None:
        if seconds is None:
            await self._finished.wait()  # every slot is in flight: wait for a completion
        else:
            await self._sleep(seconds)

    def _finish(self, permit: Permit) -> None:
        now = self._clock()
        if permit.counted and self._global is not None:
            self._global.finish(now)
        if permit.chat is not None:
            permit.chat.window.finish(now)
        self._finished.set()
        self._finished = asyncio.Event()

    def _forget_idle(self) -> None:
        now = self._clock()
        idle = [k for k, s in self._chats.items() if s.users == 0 and s.window.idle(now)]
        for key in idle:
            del self._chats[key]
