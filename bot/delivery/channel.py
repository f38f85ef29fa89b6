"""What the delivery engine asks of a channel: send one outbound message, say what happened."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from storage.models import Channel


@dataclass(frozen=True)
class Outbound:
    """One message to one chat, as claimed from the outbox."""

    delivery_id: int
    channel: Channel
    external_id: str
    text: str
    ack_button: bool
    attachment_kind: str | None = None  # "document" | "photo"
    attachment_ref: str | None = None  # the platform's file id
    run_id: int | None = None  # a campaign's invitation or reminder: the survey's button
    reminds_id: int | None = None  # a notice's reminder: its button acknowledges that delivery
    locale: str | None = None  # the recipient chat's: what the channel adds speaks it

    @property
    def ack_target(self) -> int:
        """The delivery the "Đã nắm" button names: the notice's own row, for a reminder too."""
        return self.reminds_id if self.reminds_id is not None else self.delivery_id


class OutcomeKind(StrEnum):
    SENT = "sent"  # delivered; message_id set
    RETRY_AFTER = "retry_after"  # the platform asks to stop sending for retry_after seconds
    TRANSIENT = "transient"  # 5xx, timeout, network: retry later with backoff
    UNREACHABLE = "unreachable"  # blocked the bot, deactivated, chat gone
    PERMANENT = "permanent"  # the message itself is refused: retrying cannot help


@dataclass(frozen=True)
class SendOutcome:
    kind: OutcomeKind
    message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None

    @classmethod
    def sent(cls, message_id: str | int) -> SendOutcome:
        return cls(OutcomeKind.SENT, message_id=str(message_id))

    @classmethod
    def retry(cls, seconds: float, error: str | None = None) -> SendOutcome:
        return cls(OutcomeKind.RETRY_AFTER, retry_after=float(seconds), error=error)

    @classmethod
    def transient(cls, error: str) -> SendOutcome:
        return cls(OutcomeKind.TRANSIENT, error=error)

    @classmethod
    def unreachable(cls, reason: str) -> SendOutcome:
        return cls(OutcomeKind.UNREACHABLE, error=reason)

    @classmethod
    def permanent(cls, error: str) -> SendOutcome:
        return cls(OutcomeKind.PERMANENT, error=error)


class Pacer(Protocol):
    """The rate limit as seen by one send: every platform call it makes runs inside
    ``async with pacer.call():``, which waits until the call fits every limit and holds its
    place until the answer came back."""

    def call(self) -> AbstractAsyncContextManager[object]: ...

    def pause(self, seconds: float) -> None:
        """The platform said "too many requests": no call at all for ``seconds``."""


class Sender(Protocol):
    """A channel's way of sending one :class:`Outbound`.

    A message may take several platform calls (a long text in parts, an attachment then its
    text); the sender makes each one inside ``pacer.call()``, so the limits hold per call.
    Without a pacer it sends at once.  A sender never raises for platform errors: it returns a
    :class:`SendOutcome`.  Only the first call of a message may end in ``retry_after`` or
    ``transient`` (nothing was delivered yet, so it can be sent again whole); a failure after
    a part was delivered is retried by the sender itself, then reported ``permanent``.
    """

    async def send(self, message: Outbound, *, pacer: Pacer | None = None) -> SendOutcome: ...
