"""The SQLite adapter that runs a statement in one trip to aiosqlite's thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage import sqlite_driver
from storage.db import Database, create_engine

meta = MetaData()
things = Table(
    "things",
    meta,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
    Column("size", Integer),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The calls queued on aiosqlite's thread, by the name of what was called."""
    calls: list[str] = []
    original: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield calls


async def test_the_engine_of_a_sqlite_database_uses_the_one_trip_adapter(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert isinstance(db.engine.dialect.dbapi, sqlite_driver.OneTripDBAPI)
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.dbapi_connection, sqlite_driver.OneTripConnection)
            assert isinstance(raw.dbapi_connection.cursor(), sqlite_driver.OneTripCursor)
    finally:
        await db.dispose()


async def test_a_statement_costs_one_trip_where_the_stock_adapter_makes_four(
    engine: AsyncEngine, trips: list[str], tmp_path: Path
) -> None:
    query = select(things.c.name).where(things.c.size == 1)
    async with engine.connect() as conn:
        trips.clear()
        await conn.execute(things.insert(), {"name": "a", "size": 1})
        await conn.commit()
        assert trips == ["_run", "commit"]
        trips.clear()
        assert (await conn.execute(query)).all() == [("a",)]
        assert trips == ["_run"]
        trips.clear()
        await conn.commit()  # a SELECT opens no transaction: nothing to commit
        await conn.rollback()
        assert trips == []
        await conn.execute(things.insert(), {"name": "b", "size": 2})
        trips.clear()
        await conn.rollback()
        assert trips == ["rollback"]
    trips.clear()
    async with engine.connect() as conn:  # the pool rolls back what it is given back
        assert (await conn.execute(query)).all() == [("a",)]
    assert trips == ["_run"]
    stock = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    try:
        async with stock.connect() as conn:
            await conn.execute(query)  # the first statement of a connection also sets it up
            trips.clear()
            assert (await conn.execute(query)).all() == [("a",)]
            assert trips == ["cursor", "execute", "fetchall", "close"]
    finally:
        await stock.dispose()


async def test_rows_and_their_column_names_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(things.insert(), [{"name": "bút", "size": 3}, {"name": "vở", "size": 5}])
        result = await conn.execute(
            select(things.c.name, things.c.size.label("cỡ")).order_by(things.c.size)
        )
        assert list(result.keys()) == ["name", "cỡ"]
        assert [tuple(r) for r in result] == [("bút", 3), ("vở", 5)]
        one = (await conn.execute(select(things.c.name).where(things.c.size == 5))).scalar_one()
        assert one == "vở"
        none = (await conn.execute(select(things.c.name).where(things.c.size == 9))).first()
        assert none is None


async def test_fetching_in_parts_reads_every_row_once(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(things.insert(), [{"name": f"n{i}", "size": i} for i in range(7)])
        result = await conn.execute(select(things.c.size).order_by(things.c.size))
        assert [r[0] for r in result.fetchmany(3)] == [0, 1, 2]
        assert result.fetchone() == (3,)
        assert [r[0] for r in result.fetchall()] == [4, 5, 6]
        assert result.fetchone() is None


async def test_row_counts_returning_and_new_keys(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(things.insert().values(name="x", size=1))
        assert inserted.inserted_primary_key == (1,)
        returned = await conn.execute(
            things.insert().returning(things.c.id, things.c.name),
            [{"name": "y", "size": 2}, {"name": "z", "size": 2}],
        )
        assert sorted(returned.all()) == [(2, "y"), (3, "z")]
        updated = await conn.execute(
            things.update().where(things.c.size == 2).values(size=bindparam("new")), {"new": 4}
        )
        assert updated.rowcount == 2
        changed = await conn.execute(
            things.update().where(things.c.size == 4).values(size=8).returning(things.c.name)
        )
        assert sorted(changed.scalars().all()) == ["y", "z"]
        deleted = await conn.execute(things.delete().where(things.c.size == 99))
        assert deleted.rowcount == 0
        assert (await conn.execute(select(func.count()).select_from(things))).scalar() == 3


async def test_many_parameter_sets_in_one_statement(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(things.insert(), [{"name": f"m{i}", "size": i} for i in range(50)])
        result = await conn.execute(
            things.update().where(things.c.name == bindparam("n")).values(size=bindparam("s")),
            [{"n": "m1", "s": 100}, {"n": "m2", "s": 200}, {"n": "none", "s": 0}],
        )
        assert result.rowcount == 2
        total = (await conn.execute(select(func.sum(things.c.size)))).scalar()
        # 0 + 1 + ... + 49 = 1,225; m1 (1) became 100 and m2 (2) became 200.
        assert total == 1225 - 1 - 2 + 100 + 200


async def test_errors_are_sqlites_own_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(things.insert(), {"name": "a", "size": 1})
        await conn.commit()
        with pytest.raises(IntegrityError, match=r"UNIQUE constraint failed: things\.name"):
            await conn.execute(things.insert(), {"name": "a", "size": 2})
        await conn.rollback()
        with pytest.raises(OperationalError, match="no such table"):
            await conn.execute(text("SELECT * FROM nowhere"))
        await conn.rollback()
        assert (await conn.execute(select(things.c.size))).all() == [(1,)]


async def test_a_rollback_undoes_the_transactions_statements(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(things.insert(), {"name": "kept", "size": 1})
        await conn.commit()
        await conn.execute(things.insert(), {"name": "undone", "size": 2})
        await conn.rollback()
    async with engine.connect() as conn:
        names = (await conn.execute(select(things.c.name))).scalars().all()
        assert names == ["kept"]


async def test_streamed_results_still_use_a_server_side_cursor(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(things.insert(), [{"name": f"s{i}", "size": i} for i in range(25)])
    async with engine.connect() as conn:
        streamed = await conn.stream(select(things.c.size).order_by(things.c.size))
        seen = [row[0] async for row in streamed]
        assert seen == list(range(25))
