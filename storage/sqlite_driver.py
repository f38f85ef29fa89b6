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
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
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
