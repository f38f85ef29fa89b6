"""The dashboard under test: its aiohttp application on a real socket of 127.0.0.1, on the
sample province's database, and sign-in as a person of the roster through a link the service
issues (as ``/web`` does in chat)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlmodel import col

from bot.indicators import load_catalog
from bot.services import web_access
from bot.settings import load_settings
from bot.web.common import WebContext
from bot.web.server import build_web_app, web_context
from storage import people
from storage.db import Database
from storage.models import Unit, utcnow
from surveys.phone import normalize_phone

# The sample roster's admin (province) and an officer of the Đà Lạt district union.
ADMIN_PHONE = "0913 620 145"
DALAT_OFFICER_PHONE = "0903 118 274"

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def person_id(db: Database, phone: str) -> int:
    """The id of the roster's person with ``phone`` (written in any usual way)."""
    async with db.session() as session:
        person = await people.person_by_phone(session, phone=normalize_phone(phone) or phone)
    assert person is not None and person.id is not None
    return person.id


async def unit_id(db: Database, code: str) -> int:
    """The id of the unit with ``code``."""
    async with db.session() as session:
        found = await session.scalar(select(col(Unit.id)).where(col(Unit.code) == code))
    assert found is not None
    return int(found)


@dataclass
class Dashboard:
    client: TestClient[web.Request, web.Application]
    context: WebContext

    @property
    def base(self) -> str:
        return str(self.client.make_url(""))

    async def link_for(self, phone: str) -> str:
        """A sign-in link for the person with ``phone`` (as ``/web`` would send)."""
        async with self.context.db.session(write=True) as session:
            normalized = normalize_phone(phone)
            assert normalized is not None
            person = await people.person_by_phone(session, phone=normalized)
            assert person is not None and person.id is not None
            link = await web_access.issue_link(
                session, person_id=person.id, policy=self.context.policy, now=utcnow()
            )
        assert link is not None
        return link

    async def sign_in(self, phone: str) -> str:
        """Sign in as ``phone``; the session's CSRF token."""
        link = await self.link_for(phone)
        path = link.removeprefix(self.context.policy.base_url)
        page = await self.client.get(path)
        assert page.status == 200, await page.text()
        done = await self.client.post(path, allow_redirects=False)
        assert done.status == 303, await done.text()
        return await self.csrf()

    async def csrf(self) -> str:
        page = await self.client.get("/chi-tieu")
        found = CSRF.search(await page.text())
        assert found is not None
        return found.group(1)


@asynccontextmanager
async def dashboard(db: Database, **settings: object) -> AsyncIterator[Dashboard]:
    context = web_context(load_settings(**settings), db, load_catalog())
    server = TestServer(build_web_app(context), host="127.0.0.1")
    await server.start_server()
    # The links the service makes point at the test server.
    base = str(server.make_url("")).rstrip("/")
    context.policy = dataclasses.replace(context.policy, base_url=base)
    async with TestClient(server) as client:
        yield Dashboard(client, context)
