"""The delivery worker as a real process (``python -m bot.delivery``, the command mounted as
``congdoan deliver``) against the fake Bot API served by the test: SIGKILL in the middle of a
10,000-recipient broadcast and a restart finish the broadcast with nobody skipped and no second
copy beyond the sends in flight at the kill; SIGTERM stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

from storage.db import Database
from storage.migrate import upgrade
from storage.models import Delivery, DeliveryStatus
from tests.fakebotapi import FakeBotAPI
from tests.test_delivery_support import Recipient, enqueue_notice, seed_notice, seed_recipients

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16


async def broadcast(tmp_path: Path, api: FakeBotAPI, count: int) -> tuple[Database, str]:
    path = tmp_path / "outbox.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    recipients: list[Recipient] = await seed_recipients(db, count)
    for r in recipients:
        api.user(id=r.tg_id)
    await enqueue_notice(db, await seed_notice(db), recipients)
    return db, f"sqlite:///{path}"


async def start_worker(
    api: FakeBotAPI, url: str, log: Path, *options: str
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": url,
    }
    command = [sys.executable, "-m", "bot.delivery", "--concurrency", str(CONCURRENCY), *options]
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdout=out, stderr=out
        )


def delivered(api: FakeBotAPI) -> Counter[int]:
    return Counter(c.params["chat_id"] for c in api.calls_of("sendMessage") if c.ok)


async def wait_for_sends(api: FakeBotAPI, count: int, proc: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(30):
        seen, ok = 0, 0
        while ok < count:
            assert proc.returncode is None, "the worker ended before it was stopped"
            await asyncio.sleep(0.02)
            done = len(api.calls) - CONCURRENCY  # the last few may not be answered yet
            ok += sum(1 for c in api.calls[seen:done] if c.ok)
            seen = max(seen, done)


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
    await wait_for_sends(api, 3_000, first)
    first.send_signal(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    at_kill = sum(delivered(api).values())
    before = await statuses(db)
    assert 3_000 <= at_kill < 10_000
    assert before["sending"] > 0  # killed holding claims
    assert at_kill - CONCURRENCY <= before["sent"] <= at_kill  # recorded: all but those in flight

    second = await start_worker(api, url, log, *options)
    assert await asyncio.wait_for(second.wait(), timeout=60) == 0, log.read_text()[-3000:]

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
    worker = await start_worker(api, url, log, "--rate", "300", "--per-chat-rate", "0")
    await wait_for_sends(api, 300, worker)
    worker.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(worker.wait(), timeout=10) == 0, log.read_text()[-3000:]
    copies = delivered(api)
    assert set(copies.values()) == {1}
    sent = sum(copies.values())
    assert 300 <= sent < 2_000
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
