"""The delivery worker as a real process (``python -m bot.delivery``, the command mounted as
``congdoan deliver``) against the fake Bot API served by the test: SIGKILL in the middle of a
10,000-recipient broadcast and a restart finish the broadcast with nobody skipped and no second
copy beyond the sends in flight at the kill; SIGTERM stops cleanly.

Nothing here waits for an amount of time: each step waits for an event of the worker (its
readiness line, a count of sends the fake answered, its exit).  The time limits are only failure
guards, so that a worker that hangs fails the test instead of blocking the run; however slow the
machine (a loaded CI runner, the interpreter's start-up, the imports), they are never what
passes or fails it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from storage.db import Database
from storage.migrate import upgrade
from storage.models import Delivery, DeliveryStatus
from tests.fakebotapi import FakeBotAPI
from tests.test_delivery_support import Recipient, enqueue_notice, seed_notice, seed_recipients

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16
# Failure guards only (see the module doc): how long a step may take before the test gives up.
GUARD_SECONDS = 300.0
# What the worker logs once it is ready: settings read, schema checked, SIGTERM/SIGINT handlers
# installed, before its first claim (bot/delivery/cli.py, serve_worker).
READY = re.compile(rb"delivery worker \S+ started")


@dataclass
class Worker:
    """One run of the worker; its output goes to ``log`` (shared by the runs of a test) from
    ``log_start`` on."""

    proc: asyncio.subprocess.Process
    log: Path
    log_start: int

    def output(self) -> bytes:
        return self.log.read_bytes()[self.log_start :]

    def tail(self) -> str:
        return self.output()[-3000:].decode("utf-8", "replace")

    def check_running(self) -> None:
        if self.proc.returncode is not None:
            pytest.fail(
                f"the worker ended ({self.proc.returncode}) before it was stopped:\n{self.tail()}"
            )

    async def ready(self) -> None:
        """Until the worker logs its readiness line."""
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                while not READY.search(self.output()):
                    self.check_running()
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pytest.fail(f"no readiness line in {GUARD_SECONDS:.0f} s:\n{self.tail()}")

    async def sent(self, api: FakeBotAPI, count: int) -> None:
        """Until the fake has answered at least ``count`` sends with success (since the test
        began)."""
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                seen, ok = 0, 0
                while ok < count:
                    self.check_running()
                    await asyncio.sleep(0.02)
                    # the calls in order, up to the first one not answered yet
                    while seen < len(api.calls) and api.calls[seen].status is not None:
                        call = api.calls[seen]
                        if call.ok and call.method == "sendMessage":
                            ok += 1
                        seen += 1
        except TimeoutError:
            pytest.fail(f"{count} sends not reached in {GUARD_SECONDS:.0f} s:\n{self.tail()}")

    async def exit_code(self) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout=GUARD_SECONDS)
        except TimeoutError:
            pytest.fail(f"the worker did not exit in {GUARD_SECONDS:.0f} s:\n{self.tail()}")


async def broadcast(tmp_path: Path, api: FakeBotAPI, count: int) -> tuple[Database, str]:
    path = tmp_path / "outbox.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    recipients: list[Recipient] = await seed_recipients(db, count)
    for r in recipients:
        api.user(id=r.tg_id)
    await enqueue_notice(db, await seed_notice(db), recipients)
    return db, f"sqlite:///{path}"


async def start_worker(api: FakeBotAPI, url: str, log: Path, *options: str) -> Worker:
    """Start a worker and return once it is ready (see `READY`)."""
    env = {
        **os.environ,
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": url,
    }
    command = [sys.executable, "-m", "bot.delivery", "--concurrency", str(CONCURRENCY), *options]
    with log.open("ab") as out:
        log_start = out.seek(0, os.SEEK_END)
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdout=out, stderr=out
        )
    worker = Worker(proc, log, log_start)
    await worker.ready()
    return worker


def delivered(api: FakeBotAPI) -> Counter[int]:
    return Counter(c.params["chat_id"] for c in api.calls_of("sendMessage") if c.ok)


async def statuses(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(col(Delivery.status), func.count()).group_by(col(Delivery.status))
        )
        return {DeliveryStatus(s).value: n for s, n in rows.all()}


async def test_sigkill_mid_broadcast_then_restart_finishes_it(
    tmp_path: Path, api: FakeBotAPI
) -> None:
    db, url = await broadcast(tmp_path, api, 10_000)
    log = tmp_path / "worker.log"
    options = ("--rate", "0", "--per-chat-rate", "0", "--owner", "crash-test", "--drain")
    first = await start_worker(api, url, log, *options)
    await first.sent(api, 3_000)
    # No await between the count and the kill: the fake (served by this event loop) answers
    # nothing more in between, so the kill lands mid-broadcast however fast the worker sends.
    first.proc.send_signal(signal.SIGKILL)
    assert await first.exit_code() == -signal.SIGKILL
    at_kill = sum(delivered(api).values())
    before = await statuses(db)
    assert 3_000 <= at_kill < 10_000
    assert before["sending"] > 0  # killed holding claims
    assert at_kill - CONCURRENCY <= before["sent"] <= at_kill  # recorded: all but those in flight

    second = await start_worker(api, url, log, *options)
    assert await second.exit_code() == 0, second.tail()

    copies = delivered(api)
    assert len(copies) == 10_000  # nobody skipped
    twice = {chat: n for chat, n in copies.items() if n > 1}
    assert all(n == 2 for n in twice.values())
    assert len(twice) <= CONCURRENCY  # only what was in flight at the kill
    assert await statuses(db) == {"sent": 10_000}
    await db.dispose()


async def test_sigterm_stops_cleanly(tmp_path: Path, api: FakeBotAPI) -> None:
    db, url = await broadcast(tmp_path, api, 2_000)
    log = tmp_path / "worker.log"
    # At 100/s the 2,000 sends take 20 s from the first one: the stop lands mid-broadcast
    # unless the worker takes that long to act on SIGTERM.
    worker = await start_worker(api, url, log, "--rate", "100", "--per-chat-rate", "0")
    await worker.sent(api, 100)
    worker.proc.send_signal(signal.SIGTERM)
    assert await worker.exit_code() == 0, worker.tail()
    copies = delivered(api)
    assert set(copies.values()) == {1}
    sent = sum(copies.values())
    assert 100 <= sent < 2_000
    # every send was recorded; the claimed rows not yet sent went back to the queue
    assert await statuses(db) == {"sent": sent, "queued": 2_000 - sent}
    async with db.session() as session:
        attempts = set(
            (
                await session.execute(
                    select(col(Delivery.attempts)).where(
                        col(Delivery.status) == DeliveryStatus.QUEUED
                    )
                )
            ).scalars()
        )
    assert attempts == {0}
    await db.dispose()
