"""Whether a chat can be written to: Telegram tells us at once when a member blocks the bot."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.actors import Actor
from storage.models import utcnow

BLOCKED = "blocked"


async def set_reachable(session: AsyncSession, *, actor: Actor, reachable: bool) -> bool:
    """Record a block or unblock; returns whether anything changed.

    A blocked chat is skipped (and counted as unreachable) by later broadcasts, before any send
    fails.
    """
    chat = actor.chat
    if reachable:
        if chat.unreachable_at is None:
            return False
        chat.unreachable_at = None
        chat.unreachable_reason = None
    else:
        if chat.unreachable_at is not None:
            return False
        chat.unreachable_at = utcnow()
        chat.unreachable_reason = BLOCKED
    chat.updated_at = utcnow()
    await session.flush()
    return True
