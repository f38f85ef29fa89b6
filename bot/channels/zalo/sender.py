"""Sending one outbox message through the Zalo Bot Platform (the delivery engine's Sender).

A render function turns the :class:`Outbound` into a `ZaloMessage`: the texts to send, each
within Zalo's 2000 characters, and optionally a photo (a public URL; Zalo takes no uploads).
The photo goes first with the first part as its caption; then each remaining part is one
sendMessage.  Every call runs inside ``pacer.call()`` when a pacer is given.

Errors map to outcomes: rate limited → retry_after; transient (5xx, network, timeout) and a
refused token (the operator's to fix, as on Telegram) → transient; unreachable (blocked,
unknown user) → unreachable; any other refusal → permanent.  Only the first call of a message
is reported as retry_after/transient (nothing was delivered yet); later parts are retried here
a few times with backoff, then the message is reported permanent, so that no part is ever sent
twice by the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass

from bot.channels.zalo.api import ZaloBotClient, ZaloError, ZaloErrorKind
from bot.delivery.channel import Outbound, OutcomeKind, Pacer, SendOutcome


@dataclass(frozen=True)
class ZaloMessage:
    """What one outbound message becomes on Zalo: texts, and a photo sent before them."""

    parts: tuple[str, ...]
    photo_url: str | None = None


Render = Callable[[Outbound], ZaloMessage]
Call = Callable[[], Awaitable[str]]  # one Bot API call; returns the message id


def classify(error: ZaloError) -> SendOutcome:
    """The outcome a failed Bot API call means."""
    kind = error.kind
    if kind == ZaloErrorKind.RATE_LIMITED:
        return SendOutcome.retry(error.retry_after or 1.0, str(error))
    if kind in (ZaloErrorKind.TRANSIENT, ZaloErrorKind.UNAUTHORIZED):
        # A refused token is the operator's to fix (as on Telegram): the rows wait for it.
        return SendOutcome.transient(str(error))
    if kind == ZaloErrorKind.UNREACHABLE:
        return SendOutcome.unreachable(error.description)
    return SendOutcome.permanent(str(error))


class ZaloSender:
    """A :class:`bot.delivery.channel.Sender` for Zalo."""

    def __init__(
        self,
        client: ZaloBotClient,
        render: Render,
        *,
        retries: int = 3,  # extra tries of a later part
        backoff: float = 0.5,  # seconds before the first of them, doubled after each
    ) -> None:
        self.client = client
        self.render = render
        self.retries = retries
        self.backoff = backoff

    def plan(self, message: Outbound) -> list[Call]:
        """The Bot API calls that deliver ``message``, in order."""
        rendered = self.render(message)
        chat_id = message.external_id
        parts = list(rendered.parts)
        calls: list[Call] = []
        photo_url = rendered.photo_url
        if photo_url:
            caption = parts.pop(0) if parts else None

            def photo() -> Awaitable[str]:
                return self.client.send_photo(chat_id, photo_url, caption)

            calls.append(photo)
        for part in parts:

            def text(part: str = part) -> Awaitable[str]:
                return self.client.send_message(chat_id, part)

            calls.append(text)
        return calls

    async def send(self, message: Outbound, *, pacer: Pacer | None = None) -> SendOutcome:
        calls = self.plan(message)
        if not calls:
            return SendOutcome.permanent("nothing to send")
        last_id = ""
        for index, call in enumerate(calls):
            if index == 0:
                try:
                    async with pacer.call() if pacer is not None else nullcontext():
                        last_id = await call()
                except ZaloError as error:
                    return classify(error)
                continue
            outcome = await self._continue(call, pacer)
            if outcome.kind != OutcomeKind.SENT:
                done = f"{index} of {len(calls)} parts sent"
                if outcome.kind == OutcomeKind.UNREACHABLE:
                    return SendOutcome.unreachable(f"{outcome.error} ({done})")
                return SendOutcome.permanent(f"{outcome.error} ({done})")
            assert outcome.message_id is not None
            last_id = outcome.message_id
        return SendOutcome.sent(last_id)

    async def _continue(self, call: Call, pacer: Pacer | None) -> SendOutcome:
        """A later part: retried here when rate limited or transient (the first part is out)."""
        delay = self.backoff
        outcome = SendOutcome.transient("not tried")
        for attempt in range(self.retries + 1):
            if attempt:
                if outcome.kind == OutcomeKind.RETRY_AFTER and pacer is not None:
                    pacer.pause(outcome.retry_after or 1.0)
                elif outcome.kind == OutcomeKind.RETRY_AFTER:
                    await asyncio.sleep(outcome.retry_after or 1.0)
                else:
                    await asyncio.sleep(delay)
                    delay *= 2
            try:
                async with pacer.call() if pacer is not None else nullcontext():
                    return SendOutcome.sent(await call())
            except ZaloError as error:
                outcome = classify(error)
            if outcome.kind not in (OutcomeKind.RETRY_AFTER, OutcomeKind.TRANSIENT):
                return outcome
        return outcome
