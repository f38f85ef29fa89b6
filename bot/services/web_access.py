"""Signing in to the dashboard without a password: ``/web`` in chat sends an officer a link
that works once, for a few minutes, and only for them; pressing its button opens a session
bound to the browser by an HttpOnly cookie.  Only the SHA-256 of each token is stored
(:mod:`storage.web`).

The link itself names nobody: a random token.  Opening it (a GET, which Telegram's link preview
may also do) uses nothing; the button on that page (a POST) signs in.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.actors import Actor
from bot.settings import LOCALES, Settings
from storage import audit, web
from storage.models import AuditAction, Person, Role
from storage.tables import chats

#: Sign-in links and sessions that ended this long ago are deleted (when a new link is made).
FORGET_AFTER = dt.timedelta(days=1)

#: The path of a sign-in link, before its token.
SIGN_IN_PATH = "/dang-nhap/"


@dataclass(frozen=True)
class WebPolicy:
    """What the settings say of the dashboard's sign-in: where it is, how long a link lasts,
    how long a session may idle, and its longest life."""

    base_url: str
    default_locale: str
    link_minutes: int = 10
    idle: dt.timedelta = dt.timedelta(hours=2)
    longest: dt.timedelta = dt.timedelta(hours=12)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebPolicy:
        return cls(
            base_url=settings.web_url(),
            default_locale=settings.locale,
            link_minutes=settings.web_link_minutes,
            idle=dt.timedelta(hours=settings.web_session_hours),
        )

    @property
    def secure(self) -> bool:
        """Served over HTTPS: the cookie is Secure."""
        return self.base_url.startswith("https://")


def _may_sign_in(person: Person | None) -> bool:
    return (
        person is not None
        and person.erased_at is None
        and person.role in (Role.OFFICER, Role.ADMIN)
    )


async def issue_link(
    session: AsyncSession, *, person_id: int, policy: WebPolicy, now: dt.datetime
) -> str | None:
    """A new single-use sign-in link for an officer or admin; None for anyone else."""
    person = await session.get(Person, person_id)
    if not _may_sign_in(person):
        return None
    await web.forget_old(session, before=now - FORGET_AFTER)
    token = secrets.token_urlsafe(32)
    await web.add_sign_in(
        session,
        person_id=person_id,
        token=token,
        now=now,
        expires_at=now + dt.timedelta(minutes=policy.link_minutes),
    )
    return f"{policy.base_url}{SIGN_IN_PATH}{token}"


async def link_for(
    session: AsyncSession, *, actor: Actor, policy: WebPolicy, now: dt.datetime
) -> str | None:
    """``/web``: a link for the officer or admin writing; None for a member."""
    if not actor.is_officer or actor.person is None or actor.person.id is None:
        return None
    return await issue_link(session, person_id=actor.person.id, policy=policy, now=now)


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token and the forms' CSRF token (both shown once)."""

    token: str
    csrf: str
    person_id: int
    locale: str


async def _locale_of(session: AsyncSession, person_id: int, default: str) -> str:
    """The language of the person's most recently used chat, else the settings'."""
    c = chats.c
    found = await session.scalar(
        select(c.locale)
        .where(c.person_id == person_id)
        .order_by(c.used_at.desc().nulls_last(), c.id.desc())
        .limit(1)
    )
    return found if found in LOCALES else default


async def sign_in(
    session: AsyncSession, *, token: str, policy: WebPolicy, now: dt.datetime
) -> SignedIn | None:
    """Use a link and open a session; None when the link is unknown, used, expired, or its
    person may not sign in (any more)."""
    person_id = await web.redeem_sign_in(session, token=token, now=now)
    if person_id is None:
        return None
    if not _may_sign_in(await session.get(Person, person_id)):
        return None
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    locale = await _locale_of(session, person_id, policy.default_locale)
    await web.add_session(
        session,
        token=cookie,
        csrf=csrf,
        person_id=person_id,
        locale=locale,
        now=now,
        expires_at=now + policy.idle,
        ends_at=now + policy.longest,
    )
    await audit.record(session, AuditAction.WEB_SIGNED_IN, via="web", actor_id=person_id, at=now)
    return SignedIn(cookie, csrf, person_id, locale)
