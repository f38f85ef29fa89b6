"""The database engine and sessions.

Nothing here runs at import: the entry point builds a :class:`Database` from the settings and
passes it down.  SQLite (aiosqlite) by default, PostgreSQL (asyncpg) by URL.

SQLite lets one connection write at a time, and a transaction that read before it writes
fails at once ("database is locked", whatever the busy timeout) when another connection
committed in between.  So on SQLite the write transactions of one process take turns on an
asyncio lock (``session(write=True)``): they queue in order instead of sleeping in SQLite's
busy handler or failing, and nothing slow may happen while one is open (replies are sent after
the commit).  Other processes (a CLI import beside ``serve``) still meet the busy timeout.
On PostgreSQL the flag changes nothing: rows are locked, not the database.

Statement parameters (what members typed) are kept out of error messages and logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_driver


def normalize_url(url: str) -> str:
    """Give a plain ``sqlite:///`` or ``postgresql://`` URL its async driver."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif driver in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(
    url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    url = normalize_url(url)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    extra: dict[str, Any] = {"module": sqlite_driver.dbapi()} if sqlite else {}
    engine = create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=not sqlite,
        hide_parameters=True,
        connect_args=connect_args or {},
        **extra,
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """An engine and its session factory; one session per unit of work."""

    def __init__(
        self, url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None
    ) -> None:
        self.url = normalize_url(url)
        self.connect_args = dict(connect_args or {})
        self.engine = create_engine(self.url, echo=echo, connect_args=connect_args)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self, *, write: bool = False) -> AsyncIterator[AsyncSession]:
        """A session committed when the block ends without error, rolled back otherwise.

        ``write``: the block writes (after reading, perhaps); on SQLite it waits for the
        process's other write transactions to end first (see the module doc).
        """
        if write and self._writer is not None:
            async with self._writer, self._session() as session:
                yield session
        else:
            async with self._session() as session:
                yield session

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()


def describe_error(exc: BaseException) -> str:
    """An error for a log line or a stored row: its type and the first line of its message,
    never the statement's parameters (answers, free text).  For a database error, the driver's
    own error (``IntegrityError: UNIQUE constraint failed: people.phone``)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        inner: BaseException = exc.orig
        name = f"{type(exc).__name__}({type(inner).__name__})"
    else:
        inner, name = exc, type(exc).__name__
    text = str(inner).strip().splitlines()
    first = text[0] if text else ""
    return f"{name}: {first}"[:500] if first else name


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE changed (0 where the driver does not say)."""
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
