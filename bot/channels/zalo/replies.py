"""Replies on Zalo: the answers of one update, sent after its commit, paced and retried.

The unit of work has already made them Zalo's (:class:`bot.channels.zalo.inbound.ZaloAdapter`:
plain text, numbered choices, no edits), so each reply is a text: cut to Zalo's 2000
characters, each part one ``sendMessage``.  As on Telegram (``bot.channels.telegram_replies``),
every call waits for its place in Zalo's global and per-chat windows as an urgent call, a 429
pauses every Zalo call and the call is tried again, 5xx, network errors and timeouts are retried
with backoff and jitter, and a chat that blocked the bot gets nothing more of this update.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from bot.channels.telegram_replies import ReplyCall, ReplySettings, ReplyStats
from bot.channels.zalo.api import ZaloBotClient, ZaloError, ZaloErrorKind
from bot.channels.zalo.text import split
from bot.delivery.ratelimit import RateLimiter
from storage.models import Channel

log = logging.getLogger(__name__)


class _GiveUp(Exception):
    """A call failed every try (5xx, timeouts) or 429 too often."""


class ZaloReplySender:
    """Sends the replies of one update at a time, in order, as urgent calls (module doc)."""

    channel = Channel.ZALO

    def __init__(
        self,
        client: ZaloBotClient,
        limiter: RateLimiter,
        settings: ReplySettings | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.settings = settings or ReplySettings()
        self.rng = rng or random.Random()
        self.stats = ReplyStats()

    async def send_all(self, calls: Sequence[ReplyCall]) -> bool:
        """Send every text, in order.  Returns False when something could not be delivered;
        never raises for Zalo's errors."""
        complete = True
        blocked: set[str] = set()
        for call in calls:
            if call.kind != "send" or not call.text.strip() or call.chat_id in blocked:
                continue
            for part in split(call.text):
                try:
                    await self._call(call.chat_id, part)
                except ZaloError as error:
                    if error.kind == ZaloErrorKind.UNREACHABLE:
                        log.info(
                            "Zalo chat %s cannot be written to: its replies are dropped",
                            call.chat_id,
                        )
                        self.stats.dropped_blocked += 1
                        blocked.add(call.chat_id)
                    else:
                        log.warning("Zalo refused a reply to %s: %s", call.chat_id, error)
                    complete = False
                    break
                except _GiveUp as exc:
                    log.warning("a reply to Zalo chat %s was given up: %s", call.chat_id, exc)
                    self.stats.given_up += 1
                    complete = False
                    break
        return complete

    async def _call(self, chat_id: str, text: str) -> None:
        s = self.settings
        key = f"{self.channel}:{chat_id}"
        failures = waits = 0
        while True:
            self.stats.calls += 1
            try:
                async with self.limiter.slot(key, urgent=True):
                    await self.client.call(
                        "sendMessage", {"chat_id": chat_id, "text": text}, timeout=s.timeout
                    )
                self.stats.sent += 1
                return
            except ZaloError as error:
                if error.kind == ZaloErrorKind.RATE_LIMITED:
                    waits += 1
                    self.stats.retried_429 += 1
                    self.limiter.pause(error.retry_after or 1.0)
                    if waits > s.max_retry_after:
                        raise _GiveUp(f"429 {waits} times") from None
                    continue
                if error.kind not in (ZaloErrorKind.TRANSIENT, ZaloErrorKind.UNAUTHORIZED):
                    raise
                failures += 1
                if failures >= s.max_attempts:
                    raise _GiveUp(f"{error} ({failures} times)") from None
                self.stats.retried_transient += 1
                delay = min(s.backoff_max, s.backoff_base * 2 ** (failures - 1))
                await asyncio.sleep(delay * (1.0 - s.jitter * self.rng.random()))
