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

A URL that names no usable database raises :class:`DatabaseUrlError` when the engine is built;
a database that cannot be opened or reached (a missing folder, a closed port, a wrong password)
raises :class:`DatabaseUnavailable` from the first statement, whatever the driver's own error
(an ``OSError`` from asyncpg, an ``OperationalError`` from SQLite), so that a caller can tell
"no database" from a failing statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_driver
from storage.redact import safe_error

_aiosqlite_log = logging.getLogger("aiosqlite")

EXPECTED_URL = "sqlite:///path/to/file.db or postgresql://user:password@host/name"


class DatabaseUrlError(ValueError):
    """The URL names no database this code can use (one line, no password in it)."""


class DatabaseUnavailable(Exception):
    """The database could not be opened or reached (one line, no password in it); the
    driver's error is the ``__cause__``."""


def normalize_url(url: str) -> str:
    """Give a plain ``sqlite:///`` or ``postgresql://`` URL its async driver; raises
    :class:`DatabaseUrlError` for anything but a SQLite or PostgreSQL URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"not a database URL; expected {EXPECTED_URL}") from None
    driver = parsed.drivername
    if driver in ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif driver in (
        "postgresql",
        "postgres",
        "postgresql+psycopg2",
        "postgresql+psycopg",
        "postgresql+asyncpg",
    ):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise DatabaseUrlError(f"{driver!r} databases are not supported; expected {EXPECTED_URL}")
    return parsed.render_as_string(hide_password=False)


def _shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _sqlite_file_problem(url: URL) -> str | None:
    """Why a SQLite file URL cannot be opened, when it shows without trying: its folder is
    missing, or it names a folder.  (Checked before connecting: aiosqlite's thread outlives a
    failed connect and may print a traceback of its own after the event loop has closed.)"""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(url.database).expanduser().absolute()
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    if path.is_dir():
        return f"{path} is a folder"
    return None


def _unavailable(url: URL, reason: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"cannot open the database {_shown(url)}: {reason}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _connect_or_explain(url: URL) -> Callable[[Dialect, Any, Any, Any], Any]:
    """A ``do_connect`` listener: the driver's connect, its failure a :class:`DatabaseUnavailable`
    (the driver raises ``OSError``, its own errors or SQLAlchemy's, depending on the cause)."""

    def connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        problem = _sqlite_file_problem(url)
        if problem is not None:
            raise _unavailable(url, problem)
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            raise _unavailable(url, _first_line(exc)) from exc

    return connect


def _sqlite_setup(url: URL) -> Callable[[Any, Any], None]:
    """A ``connect`` listener: the pragmas; a file that is no SQLite database fails here, the
    first time it is read (a :class:`DatabaseUnavailable` too)."""

    def setup(dbapi_connection: Any, record: Any) -> None:
        try:
            _sqlite_pragmas(dbapi_connection, record)
        except Exception as exc:
            raise _unavailable(url, _first_line(exc)) from exc

    return setup


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
    event.listen(engine.sync_engine, "do_connect", _connect_or_explain(make_url(url)))
    if engine.dialect.name == "sqlite":
        # aiosqlite logs every statement with its parameters (what members typed) at DEBUG,
        # which ``serve --verbose`` turns on: never below INFO.
        _aiosqlite_log.setLevel(max(logging.INFO, _aiosqlite_log.level))
        event.listen(engine.sync_engine, "connect", _sqlite_setup(make_url(url)))
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

    @asynccontextmanager
    async def connection(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction, committed when the block ends without error:
        for the outbox's hot statements (claims, outcomes), which need no ORM session (its
        set-up and teardown cost ~100 µs of CPU a transaction).  ``write`` as for
        :meth:`session`."""
        if write and self._writer is not None:
            async with self._writer, self.engine.begin() as conn:
                yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    async def write_many(self, work: sqlite_driver.Work) -> None:
        """Each statement of ``work`` over its rows (``executemany``), in one transaction,
        committed; on SQLite in one trip to the connection's thread (see
        :func:`storage.sqlite_driver.commit_many`), taking its turn as ``write`` blocks do."""
        if self._writer is not None:
            async with self._writer, self.engine.connect() as conn:
                await sqlite_driver.commit_many(conn, work)
        else:
            async with self.engine.begin() as conn:
                for statement, rows in work:
                    if rows:
                        await conn.execute(statement, list(rows))

    @asynccontextmanager
    async def writes(self) -> AsyncIterator[Callable[[sqlite_driver.Work], Awaitable[None]]]:
        """:meth:`write_many` for a run of writes (the delivery worker's outcomes, for as long
        as it serves): on SQLite the connection is held for all of them, sparing each write
        the pool's checkout and return (~100 µs of CPU); on PostgreSQL each write takes a
        pooled connection, as ``write_many`` does."""
        if self._writer is None:
            yield self.write_many
            return
        async with self.engine.connect() as conn:

            async def write(work: sqlite_driver.Work) -> None:
                assert self._writer is not None
                async with self._writer:
                    await sqlite_driver.commit_many(conn, work)

            yield write

    async def dispose(self) -> None:
        await self.engine.dispose()


def describe_error(exc: BaseException) -> str:
    """An error for a log line or a stored row: its type and the first line of its message,
    never the statement's parameters (answers, free text).  For a database error, the driver's
    own error (``IntegrityError: UNIQUE constraint failed: people.phone``).  Quoted values
    and digit runs are masked too (:func:`storage.redact.safe_error`)."""
    return safe_error(exc)


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE changed (0 where the driver does not say)."""
    return max(int(getattr(result, "rowcount", 0) or 0), 0)
