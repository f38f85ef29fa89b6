"""The SQLite adapter: SQLAlchemy's stock aiosqlite adapter beside ours, on the same file.

    uv run python benchmarks/sqlite_driver.py            # ~20 s
    uv run python benchmarks/sqlite_driver.py --rounds 500

Both engines run the same work, alternately, in the same process (with the GIL switch
interval ``serve`` sets):

* **select**: a primary-key SELECT of one row, a statement built once;
* **transaction**: what one member's answer writes, in the shape of the conversation path:
  read a row, insert a row, update a row, commit.

For each, the wall time and the process's CPU time (both threads: the event loop's and
aiosqlite's) per operation, and the ratio stock / ours.  A bare ``sqlite3`` loop gives the floor:
what SQLite itself costs.  The process's peak RSS (``ru_maxrss``) is printed at the end.  Exits 1
when ours is not faster than the stock adapter on both, or the process peaks at 300 MB or more.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine  # noqa: E402

from benchmarks.memory import RSS_LIMIT_MB, rss_mib  # noqa: E402
from storage.db import create_engine  # noqa: E402

meta = MetaData()
rows = Table(
    "rows",
    meta,
    Column("id", Integer, primary_key=True),
    Column("owner", Integer, nullable=False),
    Column("value", String, nullable=False),
)
BY_ID = select(rows.c.id, rows.c.owner, rows.c.value).where(rows.c.id == bindparam("id"))
ADD = rows.insert()
CHANGE = rows.update().where(rows.c.id == bindparam("target")).values(value=bindparam("v"))
SEED = 1_000


async def _select(engine: AsyncEngine, n: int) -> None:
    async with engine.connect() as conn:
        for i in range(n):
            (await conn.execute(BY_ID, {"id": i % SEED + 1})).first()


async def _transaction(engine: AsyncEngine, n: int) -> None:
    for i in range(n):
        async with engine.begin() as conn:
            (await conn.execute(BY_ID, {"id": i % SEED + 1})).first()
            await conn.execute(ADD, {"owner": i, "value": "câu trả lời"})
            await conn.execute(CHANGE, {"target": i % SEED + 1, "v": f"v{i}"})


async def _timed(work: Callable[[], Coroutine[Any, Any, None]], n: int) -> tuple[float, float]:
    """Microseconds of wall time and of CPU per operation."""
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    return (time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6


def _floor(path: Path, n: int) -> float:
    """Microseconds per primary-key SELECT through the bare sqlite3 module."""
    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        for i in range(n):
            conn.execute(
                "SELECT id, owner, value FROM rows WHERE id = ?", (i % SEED + 1,)
            ).fetchone()
        return (time.perf_counter() - started) / n * 1e6
    finally:
        conn.close()


async def run(rounds: int) -> int:
    sys.setswitchinterval(0.0001)  # as `serve` runs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        ours = create_engine(url)  # storage.db's engine: the one-trip adapter, WAL
        async with ours.begin() as conn:
            await conn.run_sync(meta.create_all)
            await conn.execute(ADD, [{"owner": i, "value": "x"} for i in range(SEED)])
        stock = create_async_engine(url)
        engines = {"stock aiosqlite adapter": stock, "ours (one trip)": ours}
        results: dict[str, dict[str, tuple[float, float]]] = {name: {} for name in engines}
        works = {"select": _select, "transaction": _transaction}
        for engine in engines.values():  # warm both: connections, compiled statements
            for work in works.values():
                await work(engine, 50)
        for _ in range(2):  # alternate, twice, keep the better: the machine is shared
            for kind, work in works.items():
                for name, engine in engines.items():
                    n = rounds * (4 if kind == "select" else 1)
                    measured = await _timed(functools.partial(work, engine, n), n)
                    best = results[name].get(kind)
                    if best is None or measured[0] < best[0]:
                        results[name][kind] = measured
        floor = _floor(path, rounds * 4)
        await stock.dispose()
        await ours.dispose()

    print(f"SQLite {sqlite3.sqlite_version}; per operation, best of two alternating runs")
    print(f"{'':28}{'select wall':>13}{'CPU':>10}{'transaction wall':>19}{'CPU':>10}")
    for name, by_kind in results.items():
        s, t = by_kind["select"], by_kind["transaction"]
        print(f"{name:28}{s[0]:10.0f} µs{s[1]:7.0f} µs{t[0]:16.0f} µs{t[1]:7.0f} µs")
    print(f"{'bare sqlite3 (the floor)':28}{floor:10.1f} µs")
    old, new = results["stock aiosqlite adapter"], results["ours (one trip)"]
    ok = True
    for kind in works:
        wall, cpu = old[kind][0] / new[kind][0], old[kind][1] / new[kind][1]
        print(f"ratio stock / ours, {kind}: wall {wall:.2f}×, CPU {cpu:.2f}×")
        ok = ok and wall > 1 and cpu > 1
    print("PASS" if ok else "FAIL: ours is not faster than the stock adapter")
    peak = rss_mib()
    peak_mb = peak * 1024 * 1024 / 1e6
    small = peak_mb < RSS_LIMIT_MB
    print(
        f"peak RSS (ru_maxrss): {peak:.0f} MiB ({peak_mb:.0f} MB; < {RSS_LIMIT_MB:.0f} MB: "
        f"{'PASS' if small else 'FAIL'})"
    )
    return 0 if ok and small else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1000, help="transactions per run")
    return asyncio.run(run(parser.parse_args().rounds))


if __name__ == "__main__":
    sys.exit(main())
