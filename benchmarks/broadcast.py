"""Broadcast benchmark: the outbox engine against the local fake Bot API, on SQLite.

    uv run python benchmarks/broadcast.py            # (a) 10,000 at 30/s (~5.5 min), then (b)
    uv run python benchmarks/broadcast.py --quick    # (a) with 1,500 recipients (~50 s)
    uv run python benchmarks/broadcast.py --only b   # just the throughput comparison

(a) Rate limit 30/s: the achieved rate over the whole broadcast (must be within 3% of 30/s)
    and the most sends the server saw in any 1-second window (must be ≤ 30).
(b) No limit: the engine's messages per second (claim, send, record, all committed) and a
    naive loop of ``await bot.send_message(...)`` over the same recipients against the same
    server, side by side; the engine must reach ≥ 0.8× the naive loop and ≥ 1,000 msg/s.

The fake server runs in its own process, so that it does not share the client's event loop
(and core).  Its request times come back over a small control endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402

from bot.channels.telegram import make_bot  # noqa: E402
from bot.channels.telegram_sender import TelegramSender  # noqa: E402
from bot.delivery.worker import DeliverySettings, DeliveryWorker, DrainStats  # noqa: E402
from storage import outbox  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.fakebotapi import FakeBotAPI, close_bot  # noqa: E402
from tests.test_delivery_support import (  # noqa: E402
    FIRST_CHAT,
    Recipient,
    enqueue_notice,
    seed_notice,
    seed_recipients,
)

TEXT = (
    "<b>Thông báo của Công đoàn Giáo dục tỉnh</b>\n\nKính gửi đoàn viên {n}: hội nghị "
    "triển khai nhiệm vụ năm học diễn ra vào thứ Sáu. Trân trọng."
)


# -- the fake server, in a process of its own ---------------------------------------------------


def _serve(users: int, conn: Connection) -> None:
    asyncio.run(_serve_async(users, conn))


async def _serve_async(users: int, conn: Connection) -> None:
    api = FakeBotAPI()
    await api.start()
    for i in range(users):
        api.user(id=FIRST_CHAT + i)

    async def calls(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        rows = [[c.method, c.at, c.params.get("chat_id"), c.status] for c in api.calls[since:]]
        return web.json_response({"count": len(api.calls), "calls": rows})

    control = web.Application()
    control.router.add_get("/calls", calls)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    conn.send((api.base_url, f"http://127.0.0.1:{port}", api.token))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # until the parent says stop
    await runner.cleanup()
    await api.stop()


class Server:
    def __init__(self, users: int) -> None:
        ctx = mp.get_context("spawn")
        self.parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(users, child), daemon=True)
        self.process.start()
        self.base_url, self.control_url, self.token = self.parent.recv()
        self.seen = 0

    async def calls(self) -> list[list[Any]]:
        """The calls since the last time asked: [method, monotonic time, chat_id, status]."""
        async with (
            ClientSession() as http,
            http.get(f"{self.control_url}/calls", params={"since": str(self.seen)}) as resp,
        ):
            body = await resp.json()
        self.seen += len(body["calls"])
        return list(body["calls"])

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.parent.send("stop")
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


class CpuMeter:
    """CPU seconds used by this process (all threads) and by the server, between laps."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.wall = time.monotonic()
        self.client = time.process_time()
        self.serving = server.cpu_seconds()

    def lap(self) -> str:
        wall, client, serving = time.monotonic(), time.process_time(), self.server.cpu_seconds()
        span = wall - self.wall
        text = (
            f"CPU busy: client {(client - self.client) / span:.0%}, "
            f"fake server {(serving - self.serving) / span:.0%}"
        )
        self.wall, self.client, self.serving = wall, client, serving
        return text


# -- measurements -------------------------------------------------------------------------------


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered)), default=0
    )


async def fresh_db(directory: str, name: str, recipients: int) -> tuple[Database, list[Recipient]]:
    db = Database(f"sqlite+aiosqlite:///{directory}/{name}.db")
    await upgrade(db)
    return db, await seed_recipients(db, recipients)


async def engine_run(
    server: Server,
    db: Database,
    recipients: list[Recipient],
    settings: DeliverySettings,
) -> tuple[DrainStats, float, list[list[Any]]]:
    notice = await seed_notice(db)
    started = time.monotonic()
    await enqueue_notice(db, notice, recipients, text=TEXT)
    enqueue_seconds = time.monotonic() - started
    bot = make_bot(server.token, server.base_url)
    try:
        await server.calls()  # skip earlier calls
        worker = DeliveryWorker(db, TelegramSender(bot), settings, owner="bench")
        stats = await worker.drain()
    finally:
        await close_bot(bot)
    async with db.session() as session:
        counts = (await outbox.counts(session, notice_ids=[notice]))[notice]
    assert counts["sent"] == len(recipients), counts
    return stats, enqueue_seconds, await server.calls()


async def naive_run(server: Server, recipients: list[Recipient]) -> float:
    bot = make_bot(server.token, server.base_url)
    try:
        started = time.monotonic()
        for n, r in enumerate(recipients):
            await bot.send_message(r.tg_id, TEXT.format(n=n))
        return time.monotonic() - started
    finally:
        await close_bot(bot)


async def part_a(server: Server, directory: str, recipients: int, rate: float) -> bool:
    print(f"(a) {recipients:,} recipients at {rate:g} messages/s (limit on, per chat 1/s)")
    db, people = await fresh_db(directory, "a", recipients)
    try:
        stats, enqueue_s, calls = await engine_run(
            server, db, people, DeliverySettings(global_rate=rate, per_chat_rate=1.0)
        )
    finally:
        await db.dispose()
    times = [c[1] for c in calls if c[0].lower() == "sendmessage"]
    span = max(times) - min(times)
    achieved = (len(times) - 1) / span  # sends per second between the first and the last
    peak = max_in_window(times)
    within = abs(achieved - rate) / rate <= 0.03
    print(f"    enqueue: {enqueue_s:.2f} s; broadcast: {stats.elapsed:.1f} s")
    print(
        f"    achieved rate: {achieved:.2f}/s ({(achieved / rate - 1) * 100:+.2f}% of {rate:g}); "
        f"most in any 1-second window (server clock): {peak}"
    )
    ok = within and peak <= rate
    print(f"    {'PASS' if ok else 'FAIL'}: within 3% of {rate:g}/s and never above it")
    return ok


async def part_b(server: Server, directory: str, recipients: int, concurrency: int) -> bool:
    print(f"(b) {recipients:,} recipients, no limit: the engine vs a naive send loop")
    db, people = await fresh_db(directory, "b", recipients)
    try:
        cpu = CpuMeter(server)
        naive_s = await naive_run(server, people)
        naive_cpu = cpu.lap()
        await server.calls()
        stats, enqueue_s, _ = await engine_run(
            server,
            db,
            people,
            DeliverySettings(global_rate=None, per_chat_rate=None, concurrency=concurrency),
        )
        engine_cpu = cpu.lap()
    finally:
        await db.dispose()
    naive = len(people) / naive_s
    engine = stats.sent / stats.elapsed
    ratio = engine / naive
    print(f"    naive loop : {naive:8.0f} msg/s ({naive_s:.2f} s; {naive_cpu})")
    print(
        f"    engine     : {engine:8.0f} msg/s ({stats.elapsed:.2f} s; {stats.batches} claims, "
        f"{stats.writes} outcome writes; "
        f"enqueue {enqueue_s:.2f} s not included; {engine_cpu})"
    )
    print(f"    ratio      : {ratio:.2f}x")
    ok = ratio >= 0.8 and engine >= 1000
    print(f"    {'PASS' if ok else 'FAIL'}: engine >= 0.8x naive and >= 1,000 msg/s")
    return ok


async def main(args: argparse.Namespace) -> int:
    users = max(args.recipients, args.quick_recipients if args.quick else 0)
    server = Server(users)
    ok = True
    try:
        with tempfile.TemporaryDirectory() as directory:
            if args.only in (None, "a"):
                count = args.quick_recipients if args.quick else args.recipients
                ok &= await part_a(server, directory, count, args.rate)
            if args.only in (None, "b"):
                ok &= await part_b(server, directory, args.recipients, args.concurrency)
    finally:
        server.stop()
    return 0 if ok else 1


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000, help="default: 10,000")
    parser.add_argument("--quick", action="store_true", help="(a) with --quick-recipients only")
    parser.add_argument("--quick-recipients", type=int, default=1_500)
    parser.add_argument("--rate", type=float, default=30.0, help="(a)'s limit, default 30/s")
    parser.add_argument("--concurrency", type=int, default=16, help="(b)'s engine concurrency")
    parser.add_argument("--only", choices=["a", "b"], default=None)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
