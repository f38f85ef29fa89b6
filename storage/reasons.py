"""Why a delivery did not reach its recipient, in the few words a union officer understands.

A ``failed`` or ``unreachable`` delivery keeps in ``error`` what stopped it, written by whoever
settled the row (scrubbed by :func:`storage.redact.safe_text`):

- the outbox and the notice composer, before any send: ``never_linked`` (no linked chat),
  ``stopped`` (/stop), ``withdrawn`` (consent withdrawn, or erased), ``blocked`` (the chat was
  marked unreachable earlier), or the chat's own unreachable reason (a platform text below);
- a cancellation or an erasure: ``cancelled`` (the notice was cancelled before the row was
  sent), ``erased``; and for reminders and invitations, ``acknowledged`` (the notice was
  acknowledged meanwhile) and ``closed`` (the campaign closed): withdrawn before sending too;
- the delivery worker: ``gave up after N attempts: <the last transient error>`` (timeouts,
  5xx, network), or the platform's refusal as the channel's sender reported it;
- the claim: ``lease expired N times (worker crashed while sending)``.

The platforms' refusals (see :mod:`bot.channels.telegram_sender` and
:mod:`bot.channels.zalo.sender`): Telegram's description as is (``Forbidden: bot was blocked by
the user``, ``Forbidden: user is deactivated``, ``Forbidden: bot can't initiate conversation with
a user``, ``Bad Request: chat not found``, ``Bad Request: message is too long``), other API
errors as ``<ErrorClass>: <description>``; Zalo's description for an unreachable user (``User
has blocked the bot``, ``User not found``, "not followed" …) and ``<method>: HTTP <code>:
<description>`` for any other refusal.  A message sent in several parts adds ``(1 of 2 parts
sent)``.

No user-facing words here: the labels are written in the templates, keyed by
:class:`Reason` values.
"""

from __future__ import annotations

import re
from enum import StrEnum

from storage.campaigns import CLOSED
from storage.erasure import ERASED
from storage.models import DeliveryStatus
from storage.notices import ACKNOWLEDGED, BLOCKED, CANCELLED
from storage.outbox import NOT_LINKED, STOPPED, WITHDRAWN


class Reason(StrEnum):
    """Why a delivery failed or could not be made (in the order a report lists them)."""

    BLOCKED = "blocked"  # the member blocked the bot (or removed it)
    DEACTIVATED = "deactivated"  # the account was deleted or deactivated
    CHAT_NOT_FOUND = "chat_not_found"  # no such chat, or never started / followed the bot
    NEVER_LINKED = "never_linked"  # the person has no linked chat
    STOPPED = "stopped"  # the member turned notices off (/stop)
    WITHDRAWN = "withdrawn"  # the member withdrew their consent
    ERASED = "erased"  # the member's data was erased
    CANCELLED = "cancelled"  # withdrawn before it was sent (notice cancelled, and the like)
    GAVE_UP = "gave_up"  # temporary errors until the attempts ran out
    CRASHED = "crashed"  # the sending worker died while sending it, too often
    REFUSED = "refused"  # the platform refused the message itself (too long, bad format …)
    OTHER = "other"  # anything else, or no error kept (the retention purge blanks them)


#: Stored errors that are one of the storage layer's own words.
_EXACT: dict[str, Reason] = {
    NOT_LINKED: Reason.NEVER_LINKED,
    STOPPED: Reason.STOPPED,
    WITHDRAWN: Reason.WITHDRAWN,
    ERASED: Reason.ERASED,
    BLOCKED: Reason.BLOCKED,
    CANCELLED: Reason.CANCELLED,
    ACKNOWLEDGED: Reason.CANCELLED,  # a reminder not sent: the notice was acknowledged
    CLOSED: Reason.CANCELLED,  # an invitation or reminder not sent: the campaign closed
}

_GAVE_UP = re.compile(r"gave up after \d+ attempts?\b", re.IGNORECASE)
_CRASHED = re.compile(r"lease expired\b", re.IGNORECASE)

#: Phrases of the platforms' texts (lower case), checked in this order.
_PHRASES: tuple[tuple[Reason, tuple[str, ...]], ...] = (
    (Reason.DEACTIVATED, ("deactivated", "deleted", "account is disabled")),
    (Reason.BLOCKED, ("blocked", "kicked", "unfollow")),
    (
        Reason.CHAT_NOT_FOUND,
        (
            "chat not found",
            "user not found",
            "peer_id_invalid",
            "can't initiate conversation",
            "not interacted",
            "not followed",
            "not a follower",
        ),
    ),
)

#: A refusal of the message itself: a 4xx other than those above (Telegram's "Bad Request: …",
#: Zalo's "<method>: HTTP 400: …"), or another Telegram API error ("TelegramEntityTooLarge: …").
_REFUSED = re.compile(r"bad request|\bHTTP 4\d\d\b|^Telegram\w*:", re.IGNORECASE)


def reason_of(status: DeliveryStatus, error: str | None) -> Reason:
    """The :class:`Reason` of a ``failed`` or ``unreachable`` delivery, from its stored
    ``error`` (see the module doc).  The platforms' words for a recipient out of reach are
    read on an unreachable delivery (the senders report nothing else so), a refusal of the
    message (:attr:`Reason.REFUSED`) on a failed one; what is not recognized is
    :attr:`Reason.OTHER`."""
    if error is None:
        return Reason.OTHER
    text = error.strip()
    exact = _EXACT.get(text.lower())
    if exact is not None:
        return exact
    if _GAVE_UP.match(text):
        return Reason.GAVE_UP
    if _CRASHED.match(text):
        return Reason.CRASHED
    if status == DeliveryStatus.UNREACHABLE:
        lowered = text.lower()
        for reason, phrases in _PHRASES:
            if any(phrase in lowered for phrase in phrases):
                return reason
    elif status == DeliveryStatus.FAILED and _REFUSED.search(text):
        return Reason.REFUSED
    return Reason.OTHER
