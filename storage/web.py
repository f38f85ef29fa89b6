"""The dashboard's sign-in links and sessions (``web_sign_ins``, ``web_sessions``).

Only the SHA-256 of a token is stored: whoever reads the database cannot sign in with what it
holds.  Keyword-only functions that never commit, as everywhere in ``storage``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import rowcount
from storage.tables import web_sessions, web_sign_ins


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def add_sign_in(
    session: AsyncSession, *, person_id: int, token: str, now: dt.datetime, expires_at: dt.datetime
) -> None:
    await session.execute(
        insert(web_sign_ins).values(
            token_hash=token_hash(token), person_id=person_id, created_at=now, expires_at=expires_at
        )
    )


class LinkState(StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


async def sign_in_state(session: AsyncSession, *, token: str, now: dt.datetime) -> LinkState:
    """What a link is now, without using it (the page shown before the press)."""
    s = web_sign_ins.c
    row = (
        await session.execute(
            select(s.used_at, s.expires_at).where(s.token_hash == token_hash(token))
        )
    ).first()
    if row is None:
        return LinkState.UNKNOWN
    if row.used_at is not None:
        return LinkState.USED
    return LinkState.VALID if row.expires_at > now else LinkState.EXPIRED


async def redeem_sign_in(session: AsyncSession, *, token: str, now: dt.datetime) -> int | None:
    """Use a link: the person it was sent to, or None when it is unknown, used or expired.
    One conditional UPDATE: of two presses at once, one wins."""
    s = web_sign_ins.c
    digest = token_hash(token)
    done = await session.execute(
        update(web_sign_ins)
        .where(s.token_hash == digest, s.used_at.is_(None), s.expires_at > now)
        .values(used_at=now)
    )
    if rowcount(done) != 1:
        return None
    person = await session.scalar(select(s.person_id).where(s.token_hash == digest))
    return int(person) if person is not None else None


@dataclass(frozen=True)
class LiveSession:
    id: int
    person_id: int
    csrf: str
    locale: str
    expires_at: dt.datetime
    ends_at: dt.datetime


async def add_session(
    session: AsyncSession,
    *,
    token: str,
    csrf: str,
    person_id: int,
    locale: str,
    now: dt.datetime,
    expires_at: dt.datetime,
    ends_at: dt.datetime,
) -> None:
    await session.execute(
        insert(web_sessions).values(
            token_hash=token_hash(token),
            csrf=csrf,
            person_id=person_id,
            locale=locale,
            created_at=now,
            expires_at=expires_at,
            ends_at=ends_at,
        )
    )


async def live_session(
    session: AsyncSession, *, token: str, now: dt.datetime
) -> LiveSession | None:
    """The session of a cookie's token, unless it ended, idled out or reached its end."""
    w = web_sessions.c
    row = (
        await session.execute(
            select(w.id, w.person_id, w.csrf, w.locale, w.expires_at, w.ends_at).where(
                w.token_hash == token_hash(token),
                w.ended_at.is_(None),
                w.expires_at > now,
                w.ends_at > now,
            )
        )
    ).first()
    if row is None:
        return None
    return LiveSession(
        int(row.id), int(row.person_id), str(row.csrf), str(row.locale), row.expires_at, row.ends_at
    )


async def touch_session(
    session: AsyncSession, *, session_id: int, expires_at: dt.datetime, locale: str | None = None
) -> None:
    values: dict[str, object] = {"expires_at": expires_at}
    if locale is not None:
        values["locale"] = locale
    await session.execute(
        update(web_sessions).where(web_sessions.c.id == session_id).values(**values)
    )


async def end_session(session: AsyncSession, *, session_id: int, now: dt.datetime) -> None:
    await session.execute(
        update(web_sessions).where(web_sessions.c.id == session_id).values(ended_at=now)
    )


async def end_sessions_of(session: AsyncSession, *, person_id: int, now: dt.datetime) -> int:
    """Sign a person out everywhere (their role was taken away, they were erased)."""
    w = web_sessions.c
    return rowcount(
        await session.execute(
            update(web_sessions)
            .where(w.person_id == person_id, w.ended_at.is_(None))
            .values(ended_at=now)
        )
    )


async def forget_old(session: AsyncSession, *, before: dt.datetime) -> int:
    """Delete the links and sessions over before ``before``: they can serve nobody again."""
    s, w = web_sign_ins.c, web_sessions.c
    links = rowcount(
        await session.execute(
            delete(web_sign_ins).where(or_(s.expires_at < before, s.used_at < before))
        )
    )
    sessions = rowcount(
        await session.execute(
            delete(web_sessions).where(
                or_(w.expires_at < before, w.ends_at < before, w.ended_at < before)
            )
        )
    )
    return links + sessions


async def forget_person(session: AsyncSession, *, person_id: int) -> None:
    """Erasure: nothing of the person's sign-ins or sessions stays."""
    await session.execute(delete(web_sign_ins).where(web_sign_ins.c.person_id == person_id))
    await session.execute(delete(web_sessions).where(web_sessions.c.person_id == person_id))
