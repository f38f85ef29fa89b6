"""SQLAlchemy's aiosqlite adapter, with one trip to the connection's thread per statement.

aiosqlite runs every call of the ``sqlite3`` module on a thread of its own and hands the
result back to the event loop.  SQLAlchemy's adapter makes four such calls for one statement
(open a cursor, execute, fetch the rows, close the cursor), and each trip costs far more than
the statement itself: on the 2-core machine of ``benchmarks/sqlite_driver.py`` a primary-key
SELECT costs ~400 µs of CPU through the stock adapter, of which SQLite's own work is ~4 µs.
Every update a member sends runs about a dozen statements, so the trips were most of the cost
of a reply (issue 12).

Here a statement is one call on aiosqlite's thread: cursor, execute, fetch, close, with the
rows, the description, the row count and the last row id brought back together.  Everything
else (the connection, commits, rollbacks, server-side cursors, the exceptions) is aiosqlite's
and SQLAlchemy's own; the module is handed to the engine with ``create_async_engine(...,
module=dbapi())``.

It reaches one private method of aiosqlite's connection (``_execute``, which queues a call on
the thread, the way SQLAlchemy's own adapter queues its isolation-level change) and one
private attribute (``_conn``, the ``sqlite3`` connection); the lock file pins aiosqlite, and
the whole suite runs through this path.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.util import EMPTY_DICT

Outcome = tuple[list[Any], Any, int, int | None]


def _run(connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """On aiosqlite's thread: the whole statement, and what SQLAlchemy reads of its cursor."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        # Rows first: SQLite counts the rows of an INSERT/UPDATE ... RETURNING as they are read.
        rows = cursor.fetchall() if description else []
        return rows, description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statements each cost one trip to the connection's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No aiosqlite cursor is opened: each statement opens and closes its own, on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before an INSERT, as in sqlite3

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> OneTripCursor:
        async with self._adapt_connection._execute_mutex:
            (
                rows,
                self._description,
                self._rowcount,
                self._lastrowid,
            ) = await self._connection._execute(_run, self._connection, operation, parameters, many)
        self._rows = collections.deque(rows)
        return self

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor was closed on the thread."""

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        raise sqlite3.NotSupportedError("SQLite statements have one result set")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's connection, with the one-trip cursor, and no trip for a commit or a rollback
    with no transaction open: ``sqlite3`` does nothing then, and a pooled connection is rolled
    back each time it is given back, after every read-only session and every commit."""

    __slots__ = ()
    _cursor_cls = OneTripCursor

    def commit(self) -> None:
        if self._connection._connection is None or self._connection.in_transaction:
            super().commit()  # closed: the stock adapter's error

    def rollback(self) -> None:
        if self._connection._connection is not None and self._connection.in_transaction:
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


def dbapi() -> OneTripDBAPI:
    """The module to give ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)


# -- many rows, one commit, one trip ------------------------------------------------------------


class Prepared:
    """A statement compiled once for SQLite: its SQL, and how one row of parameters becomes
    the positional values ``sqlite3`` binds (each value through its column type's processor,
    as SQLAlchemy's execution would; the values the statement carries itself made once)."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        carried = compiled.construct_params(_check=False) or {}
        order = compiled.positiontup or ()
        processors: dict[str, Callable[[Any], Any] | None] = {}
        self.fixed: dict[str, Any] = {}
        for name in order:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            processors[name] = process
            if not bind.required:
                value = carried[name]
                self.fixed[name] = process(value) if process is not None else value
        self.slots: tuple[tuple[str, Callable[[Any], Any] | None], ...] = tuple(
            (name, processors[name]) for name in order
        )

    def row(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out: list[Any] = []
        for name, process in self.slots:
            if name in params:
                value = params[name]
                out.append(process(value) if process is not None else value)
            else:
                out.append(self.fixed[name])
        return tuple(out)


_prepared: dict[int, tuple[ClauseElement, Prepared]] = {}


def prepare(statement: ClauseElement, dialect: Dialect) -> Prepared:
    """``statement`` compiled for ``dialect`` (SQLite), once per statement object."""
    found = _prepared.get(id(statement))
    if found is None or found[0] is not statement:
        found = (statement, Prepared(statement, dialect))
        _prepared[id(statement)] = found
    return found[1]


Work = Sequence[tuple[Executable, Sequence[Mapping[str, Any]]]]
A = TypeVar("A")


def _commit_all(raw: sqlite3.Connection, work: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    """On aiosqlite's thread: every statement over its rows, then the commit."""
    for sql, rows in work:
        raw.executemany(sql, rows)
    raw.commit()


async def commit_many(conn: AsyncConnection, work: Work) -> None:
    """Run each statement of ``work`` over its rows (``executemany``) and commit, all in one
    trip to the connection's thread; ``conn`` must have no transaction of its own open.

    For the outbox's outcomes: SQLAlchemy's ``execute`` and ``commit`` cost two trips and
    ~500 µs of CPU a transaction around a few microseconds of SQLite's work, and a write
    holds up the sends whose outcomes it records."""
    dialect = conn.dialect
    batches = []
    for statement, rows in work:
        if rows:
            ready = prepare(cast(ClauseElement, statement), dialect)
            batches.append((ready.sql, [ready.row(r) for r in rows]))
    if batches:
        await in_one_trip(conn, _commit_all, batches, what=[sql for sql, _rows in batches])


T = TypeVar("T")


def one_trip(conn: AsyncConnection) -> bool:
    """Whether ``conn`` is SQLite through this module's driver, as :func:`in_one_trip` needs
    (``Database`` makes every SQLite engine so)."""
    return conn.dialect.name == "sqlite" and isinstance(
        getattr(conn.dialect, "loaded_dbapi", None), OneTripDBAPI
    )


async def in_one_trip(
    conn: AsyncConnection,
    work: Callable[[sqlite3.Connection, A], T],
    arg: A,
    *,
    what: Sequence[str],
) -> T:
    """``work(raw, arg)`` on aiosqlite's thread, given the ``sqlite3`` connection of ``conn``
    (which must have no transaction of its own open): one trip for what would be several
    statements, fetches and a commit through SQLAlchemy.  On any error the transaction
    ``work`` began is rolled back, and a ``sqlite3`` error becomes SQLAlchemy's, as from any
    other statement, with its parameters hidden (``what``: the statements, for the message)."""
    raw = await conn.get_raw_connection()
    adapted = raw.dbapi_connection
    assert isinstance(adapted, OneTripConnection), "in_one_trip needs the one-trip driver"
    try:
        async with adapted._execute_mutex:
            return cast(T, await adapted._connection._execute(_rolled_back, work, adapted, arg))
    except sqlite3.Error as exc:
        raise DBAPIError.instance(
            "; ".join(what), None, exc, sqlite3.Error, hide_parameters=True, dialect=conn.dialect
        ) from exc


def _rolled_back(work: Callable[[sqlite3.Connection, Any], T], adapted: Any, arg: Any) -> T:
    raw = adapted._connection._conn
    try:
        return work(raw, arg)
    except BaseException:
        raw.rollback()
        raise
