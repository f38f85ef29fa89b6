"""Shared fixtures: the network guard, databases (SQLite, and PostgreSQL when configured),
the sample roster, the fake Bot API and a running bot."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import Database, normalize_url
from storage.migrate import upgrade
from tests import netguard
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, running_bot, seed_sample

PG_URL = os.environ.get("TEST_POSTGRES_URL")


def pytest_report_header() -> str:
    if PG_URL:
        return f"PostgreSQL: storage and flow tests also run on {PG_URL}"
    return "PostgreSQL: TEST_POSTGRES_URL not set; the PostgreSQL variants are skipped"


@pytest.fixture(scope="session", autouse=True)
def _no_real_network() -> Iterator[None]:
    """Any connection to a host other than loopback raises RealNetworkAccess (a BaseException)."""
    netguard.install()
    yield
    netguard.uninstall()


@pytest.fixture(autouse=True)
def _no_hidden_network_attempt(request: pytest.FixtureRequest) -> Iterator[None]:
    """A refused connection made in a thread and only logged still fails the test."""
    netguard.clear_violations()
    yield
    if request.node.get_closest_marker("expected_network_refusals") is None:
        assert netguard.violations() == []
    netguard.clear_violations()


_TEMPLATE: list[Path] = []


async def _sqlite_template() -> Path:
    """A SQLite file migrated to head once per test session; each test gets a copy (running
    every migration costs about 0.7 s, a copy a millisecond).  tests/test_migrations.py runs
    them for real, down and up, and checks the result against the models."""
    if not _TEMPLATE:
        path = Path(tempfile.mkdtemp(prefix="congdoan-schema-")) / "template.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(db)
        finally:
            await db.dispose()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


async def make_database(kind: str, tmp_dir: str) -> tuple[Database, str | None]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        shutil.copyfile(await _sqlite_template(), Path(tmp_dir) / "test.db")
        return Database(f"sqlite+aiosqlite:///{tmp_dir}/test.db"), None
    if not PG_URL:
        pytest.skip("TEST_POSTGRES_URL is not set: PostgreSQL variant skipped")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(normalize_url(PG_URL))
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    db = Database(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    await upgrade(db)
    return db, schema


async def drop_database(db: Database, schema: str | None) -> None:
    await db.dispose()
    if schema is not None and PG_URL:
        admin = create_async_engine(normalize_url(PG_URL))
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[Database]:
    database, schema = await make_database(request.param, str(tmp_path))
    try:
        yield database
    finally:
        await drop_database(database, schema)


@pytest.fixture
async def sqlite_db(tmp_path: object) -> AsyncIterator[Database]:
    database, schema = await make_database("sqlite", str(tmp_path))
    try:
        yield database
    finally:
        await drop_database(database, schema)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI, db: Database) -> AsyncIterator[RunningBot]:
    """The bot running against the fake API on a database holding the sample province."""
    await seed_sample(db)
    async with running_bot(api, db) as running:
        yield running
