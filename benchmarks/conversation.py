"""Conversation benchmark: a member's reply time under load, through the real polling path.

    uv run python benchmarks/conversation.py             # SQLite (~5 min)
    uv run python benchmarks/conversation.py --quick     # smoke run (~2 min)
    uv run python benchmarks/conversation.py --postgres postgresql+asyncpg://postgres@127.0.0.1/test
                                                         # SQLite, then PostgreSQL (~9 min)

Members answer the standing form "Báo cáo hoàn cảnh khó khăn" again and again (/surveys, the
form's button, "1", "2", a description, "không", "📨 Gửi câu trả lời"), at a total of --rate
updates per second spread evenly over --members members: each answers every members/rate
seconds, on a fixed schedule, but never before the bot's reply to its previous answer has
arrived and THINK (1 s) has passed since (then late, and the rate falls).  The latency of
an update is measured on the fake Bot API's monotonic clock, from the moment it was queued
(available to getUpdates) to the arrival of the bot's first message-bearing call to that chat
(sendMessage, editMessageText or editMessageReplyMarkup).

Runs, each in fresh processes (the fake server and its members in one, the bot in another):

* **ours**: the real app (``build_app``, ``runner.poll`` + ``worker.run``) on a migrated SQLite
  file (or a fresh PostgreSQL schema) holding the sample province and the members, with the
  production per-chat limit (1/s) and the global limit lifted (10,000/s): the pipeline's own
  latency.  Then a ramp of shorter steps: if p99 at --rate is under 1 s, higher rates
  (members added, so that each still answers every members/rate seconds) until it passes 1 s;
  if over, lower rates (the same members, answering slower) until it is under; then two steps
  halving the bracket.
* **echo**: a plain aiogram Dispatcher (``start_polling``) answering every message with its
  text and every button with an answer and an edit, under the same load.
* **ours, production limits**: the same, with the production global limit (25 calls/s).  The
  survey costs 9 calls per 7 updates, so this limit allows ~19 updates/s: above that, the
  replies queue behind the limiter by design.  Printed for information.

Every process's peak RSS (``ru_maxrss``, with ``VmHWM`` beside it: Linux carries
``ru_maxrss`` over fork and exec, so a child's starts at this process's) is printed at the end.
The script exits 1 when a reply is lost, the bot answered with errors, on SQLite (limit lifted)
p99 ≥ 100 ms or p99 ≥ 3× the echo bot's, or when a process peaks at 300 MB or more.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import logging
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from benchmarks.memory import RSS_LIMIT_MB, rss_mib, vmhwm_mib  # noqa: E402
from storage.db import Database, normalize_url  # noqa: E402
from tests.fakebotapi import ApiCall, FakeBotAPI, FakeUser, JsonDict, UploadedFile  # noqa: E402
from tests.test_delivery_support import FIRST_CHAT  # noqa: E402

LIFTED_RATE = 10_000.0  # the global limit, "lifted"
PRODUCTION_RATE = 25.0  # Settings.delivery_rate's default
PER_CHAT_RATE = 1.0  # Settings.delivery_per_chat_rate's default
REPLY_METHODS = frozenset({"sendmessage", "editmessagetext", "editmessagereplymarkup"})
TARGET_P99 = 0.100
TARGET_RATIO = 3.0
RAMP_LIMIT = 1.0  # the ramp looks for the rate at which p99 passes this
THINK = 1.0  # a member answers at least this long after the reply it answers came

FORM = "📝 Báo cáo hoàn cảnh khó khăn"
SUBMIT = "📨 Gửi câu trả lời"


# -- what a member does -------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    step: str  # a name for the tables
    kind: str  # "text" or "click"
    value: str  # the text, or the button's label


SURVEYS = Action("/surveys", "text", "/surveys")
OPEN = Action("open form", "click", FORM)
SUBJECT = Action("q1 '1'", "text", "1")
CATEGORY = Action("q2 '2'", "text", "2")
DESCRIBE = Action("q3 text", "text", "")  # the text is made per member
URGENT = Action("q4 'không'", "text", "không")
SEND = Action("submit", "click", SUBMIT)
CYCLE = (SURVEYS, OPEN, SUBJECT, CATEGORY, DESCRIBE, URGENT, SEND)
STEPS = [a.step for a in CYCLE]


def react(reply: str) -> Action | None:
    """What a member does next, from the text of the bot's reply (None: not understood)."""
    if "Đã ghi nhận" in reply:
        return SURVEYS
    if "kiểm tra lại" in reply:
        return SEND
    for number, action in ((4, URGENT), (3, DESCRIBE), (2, CATEGORY), (1, SUBJECT)):
        if f"Câu {number}/4" in reply:
            return action
    if "Khảo sát và biểu mẫu" in reply:
        return OPEN
    return None


@dataclass
class PhaseRecord:
    label: str
    rate: float
    members: int
    seconds: float
    pace: float
    sent: int = 0
    replied: int = 0
    replied_in_run: int = 0  # before the phase's end (the rest came while draining)
    lost: int = 0
    unexpected: int = 0  # replies a member did not understand (it starts over with /surveys)
    late: int = 0  # answers sent after their slot, the previous reply having come after it
    api_errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    stray: int = 0  # message calls to a member that was not waiting for one
    latencies: list[float] = field(default_factory=list)
    by_step: dict[str, list[float]] = field(default_factory=dict)
    cpu_bot: float = 0.0  # share of one core during the phase (drain excluded)
    cpu_fake: float = 0.0


@dataclass
class Pending:
    step: str
    record: PhaseRecord
    due: float  # when the answer was meant to go
    at: float = 0.0  # when it was queued (available to getUpdates)


@dataclass
class Member:
    user: FakeUser
    index: int
    mode: str  # "ours" or "echo"
    next: Action = SURVEYS
    position: int = 0  # echo: where in CYCLE
    cycles: int = 0
    waiting: Pending | None = None


# Each process's peak RSS as (ru_maxrss, VmHWM) in MiB, by name: filled as the sessions close.
PEAKS: dict[str, tuple[float, float]] = {}


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the fake server with its members, in a process of its own ---------------------------------


class LoadedFake(FakeBotAPI):
    """The fake Bot API with members that answer the form as the bot replies."""

    def __init__(self, mode: str, count: int) -> None:
        super().__init__()
        self.mode = mode
        self.members = [
            Member(self.user(id=FIRST_CHAT + i, first_name=f"Giáo viên {i}"), i, mode)
            for i in range(count)
        ]
        self.by_chat = {m.user.id: m for m in self.members}
        self.record: PhaseRecord | None = None  # the phase being run
        self.end = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def execute(
        self,
        method: str,
        params: JsonDict,
        files: dict[str, UploadedFile] | None = None,
        *,
        via: str = "http",
    ) -> tuple[int, JsonDict]:
        index = len(self.calls)  # execute records its call first, before any await
        result = await super().execute(method, params, files, via=via)
        self._observe(self.calls[index])
        return result

    def _observe(self, call: ApiCall) -> None:
        record = self.record
        if call.status != 200 and record is not None:
            record.api_errors += 1
            if len(record.error_samples) < 5:
                record.error_samples.append(f"{call.method} {call.status} {call.description}")
        if call.status != 200 or call.method.lower() not in REPLY_METHODS:
            return
        chat = call.params.get("chat_id")
        member = self.by_chat.get(chat) if isinstance(chat, int) else None
        if member is None:
            return
        pending = member.waiting
        if pending is None or pending.at == 0.0:
            if record is not None:
                record.stray += 1
            return
        member.waiting = None
        latency = call.at - pending.at
        pending.record.replied += 1
        if call.at < self.end:
            pending.record.replied_in_run += 1
        pending.record.latencies.append(latency)
        pending.record.by_step.setdefault(pending.step, []).append(latency)
        if member.mode == "ours":
            action = react(str(call.params.get("text", "")))
            if action is None:
                pending.record.unexpected += 1
                if len(pending.record.error_samples) < 5:
                    reply = str(call.params.get("text", ""))[:120]
                    pending.record.error_samples.append(f"unexpected reply: {reply!r}")
                action = SURVEYS
            member.next = action
        else:
            member.position = (member.position + 1) % len(CYCLE)
            member.next = CYCLE[member.position]
        if member.next is SURVEYS:
            member.cycles += 1
        self._plan(member, pending)

    def _plan(self, member: Member, previous: Pending) -> None:
        """The member's next answer: one pace after the previous one was due, but not sooner
        than THINK seconds after the reply came (no one reads and answers faster; and the
        per-chat limit, 1 call/s, would hold the next reply back if they did)."""
        record = self.record
        if record is None or previous.record is not record:
            return
        loop = asyncio.get_running_loop()
        earliest = loop.time() + THINK
        due = previous.due + record.pace
        if earliest > due:
            record.late += 1
            due = earliest
        if due < self.end:
            loop.call_at(due, self._fire, member, due, record)

    def _fire(self, member: Member, due: float, record: PhaseRecord) -> None:
        loop = asyncio.get_running_loop()
        if record is not self.record or member.waiting is not None or loop.time() >= self.end:
            return  # a slot of a phase that has ended, or the member still waits
        pending = Pending(member.next.step, record, due)
        member.waiting = pending
        record.sent += 1
        task = loop.create_task(self._act(member, member.next, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, member: Member, action: Action, pending: Pending) -> None:
        user = member.user
        try:
            if action.kind == "text":
                value = action.value or (
                    f"Gia đình gặp khó khăn, cần hỗ trợ (đoàn viên {member.index}, "
                    f"lần {member.cycles + 1})"
                )
                pending.at = time.monotonic()  # queued right after this, synchronously
                await user.send(value)
            elif member.mode == "ours":
                target = user.last_message()
                target.data_of(action.value)  # raises if the button is not there
                pending.at = time.monotonic()
                await user.click(target, action.value)
            else:
                pending.at = time.monotonic()
                await user.press_raw(f"echo:{action.step}", user.last_message())
        except AssertionError as exc:  # the bot's last message is not the one expected
            pending.record.unexpected += 1
            pending.record.sent -= 1
            if len(pending.record.error_samples) < 5:
                pending.record.error_samples.append(f"cannot act: {str(exc)[:120]}")
            member.waiting = None
            member.next = SURVEYS
            self._plan(member, pending)

    async def run_phase(self, spec: dict[str, Any]) -> PhaseRecord:
        rate, count, seconds = float(spec["rate"]), int(spec["members"]), float(spec["seconds"])
        record = PhaseRecord(spec["label"], rate, count, seconds, pace=count / rate)
        loop = asyncio.get_running_loop()
        bot_pid = int(spec["bot_pid"])
        cpu_bot, cpu_fake = cpu_seconds(bot_pid), time.process_time()
        start = loop.time() + 0.05
        self.record, self.end = record, start + seconds
        for k, member in enumerate(self.members[:count]):  # evenly spread, 1/rate apart
            loop.call_at(start + k / rate, self._fire, member, start + k / rate, record)
        await asyncio.sleep(self.end - loop.time())
        span = loop.time() - start
        record.cpu_bot = (cpu_seconds(bot_pid) - cpu_bot) / span
        record.cpu_fake = (time.process_time() - cpu_fake) / span
        # Drain: no new answers; wait for the replies still due.
        deadline = loop.time() + float(spec["drain"])
        while loop.time() < deadline and any(m.waiting for m in self.members):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for member in self.members:
            if member.waiting is not None:
                member.waiting.record.lost += 1
                member.waiting = None
                member.next = SURVEYS  # start over; a late reply is counted as stray
        self.record = None
        return record


def _serve(mode: str, count: int, conn: Connection) -> None:
    asyncio.run(_serve_async(mode, count, conn))


async def _serve_async(mode: str, count: int, conn: Connection) -> None:
    api = LoadedFake(mode, count)
    await api.start()
    conn.send((api.base_url, api.token))
    loop = asyncio.get_running_loop()
    try:
        while True:
            command, spec = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            record = await api.run_phase(spec)
            conn.send(asdict(record))
    finally:
        await api.stop()
    conn.send((rss_mib(), vmhwm_mib()))  # this process's peak, for the report


# -- the bots under test, in a process of their own ---------------------------------------------


@dataclass(frozen=True)
class BotSpec:
    kind: str  # "ours" or "echo"
    base_url: str
    token: str
    db_url: str = ""
    schema: str | None = None
    global_rate: float = LIFTED_RATE
    per_chat_rate: float = PER_CHAT_RATE


class Counting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.samples) < 5:
            self.samples.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")


class GcPauses:
    """The full (generation 2) collections of the process and how long each stopped it."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)


def _run_bot(spec: BotSpec, conn: Connection) -> None:
    counting = Counting()
    logging.basicConfig(level=logging.WARNING, handlers=[counting])
    gc_pauses = GcPauses()
    run = _ours if spec.kind == "ours" else _echo
    stats = asyncio.run(run(spec, conn, gc_pauses))
    stats["gc_pauses"] = list(gc_pauses.pauses)
    stats["warnings"] = counting.count
    stats["warning_samples"] = counting.samples
    stats["peak_rss"] = (rss_mib(), vmhwm_mib())
    conn.send(stats)


async def _ours(spec: BotSpec, conn: Connection, gc_pauses: GcPauses) -> dict[str, Any]:
    from bot.app import build_app
    from bot.runtime import settle_memory
    from bot.settings import Settings
    from tests.fakebotapi import close_bot

    db = open_db(spec.db_url, spec.schema)
    settings = Settings(
        telegram_api_url=spec.base_url,
        database_url=db.url,
        delivery_rate=spec.global_rate,
        delivery_per_chat_rate=spec.per_chat_rate,
    )
    app = await build_app(settings, token=spec.token, db=db)
    settle_memory()  # as `serve` does once started
    stop = asyncio.Event()
    polling = asyncio.create_task(app.runner.poll(stop, poll_seconds=1))
    working = asyncio.create_task(app.worker.run(stop))
    conn.send(("ready", os.getpid()))
    gc_pauses.pauses.clear()  # those of the imports and the start are not the load's
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    stop.set()
    await asyncio.wait_for(polling, timeout=30)
    await asyncio.wait_for(working, timeout=30)
    await close_bot(app.bot)
    await db.dispose()
    return {"runner": asdict(app.runner.stats), "replies": asdict(app.runner.replies.stats)}


async def _echo(spec: BotSpec, conn: Connection, gc_pauses: GcPauses) -> dict[str, Any]:
    from aiogram import Dispatcher
    from aiogram.types import CallbackQuery, Message

    from bot.channels.telegram import make_bot
    from tests.fakebotapi import close_bot

    bot = make_bot(spec.token, spec.base_url)
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(f"{query.data} {query.id}")

    polling = asyncio.create_task(
        dp.start_polling(bot, polling_timeout=1, handle_signals=False, close_bot_session=False)
    )
    conn.send(("ready", os.getpid()))
    gc_pauses.pauses.clear()
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await dp.stop_polling()
    await asyncio.wait_for(polling, timeout=30)
    await close_bot(bot)
    return {}


# -- databases ----------------------------------------------------------------------------------


def open_db(url: str, schema: str | None) -> Database:
    if schema is None:
        return Database(url)
    return Database(url, connect_args={"server_settings": {"search_path": schema}})


async def prepare_db(
    url: str | None, directory: str, name: str, count: int
) -> tuple[str, str | None]:
    """A migrated database with the sample province and ``count`` linked members: a SQLite file
    in ``directory``, or a fresh schema of the PostgreSQL database ``url``."""
    from bot.roster import import_roster, sample_paths
    from storage.migrate import upgrade
    from tests.test_delivery_support import seed_recipients

    schema: str | None = None
    if url is None:
        url = f"sqlite+aiosqlite:///{directory}/{name}.db"
    else:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_async_engine(normalize_url(url))
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
    db = open_db(url, schema)
    try:
        await upgrade(db)
        async with db.session() as session:
            today = dt.datetime.now(dt.UTC).date()  # the sample roster has no leaving dates
            report = await import_roster(session, sample_paths(), today=today)
        assert not report.errors, report.errors
        await seed_recipients(db, count)
    finally:
        await db.dispose()
    return normalize_url(url), schema


async def drop_schema(url: str, schema: str) -> None:
    admin = create_async_engine(normalize_url(url))
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()


# -- orchestration (plain, synchronous: the parent only waits) ---------------------------------


class Session:
    """A fake server process with its members and a bot process, for a sequence of phases."""

    def __init__(self, name: str, mode: str, count: int, bot: BotSpec) -> None:
        self.name = name  # for the peaks' report
        ctx = mp.get_context("spawn")
        self.fake_conn, child = ctx.Pipe()
        self.fake = ctx.Process(target=_serve, args=(mode, count, child), daemon=True)
        self.fake.start()
        base_url, token = self.fake_conn.recv()
        spec = BotSpec(
            bot.kind, base_url, token, bot.db_url, bot.schema, bot.global_rate, bot.per_chat_rate
        )
        self.bot_conn, child = ctx.Pipe()
        self.bot = ctx.Process(target=_run_bot, args=(spec, child), daemon=True)
        self.bot.start()
        if not self.bot_conn.poll(120):
            raise RuntimeError("the bot did not start")
        _, self.bot_pid = self.bot_conn.recv()
        self.bot_stats: dict[str, Any] = {}

    def phase(
        self, label: str, rate: float, members: int, seconds: float, drain: float = 60.0
    ) -> dict[str, Any]:
        spec = {
            "label": label,
            "rate": rate,
            "members": members,
            "seconds": seconds,
            "drain": drain,
            "bot_pid": self.bot_pid,
        }
        self.fake_conn.send(("phase", spec))
        result: dict[str, Any] = self.fake_conn.recv()
        return result

    def close(self) -> None:
        if self.bot.is_alive():
            self.bot_conn.send("stop")
            if self.bot_conn.poll(60):
                self.bot_stats = self.bot_conn.recv()
            self.bot.join(timeout=10)
            if self.bot.is_alive():
                self.bot.kill()
        if "peak_rss" in self.bot_stats:
            PEAKS[f"{self.name}: bot"] = self.bot_stats["peak_rss"]
        if self.fake.is_alive():
            self.fake_conn.send(("stop", None))
            if self.fake_conn.poll(30):
                PEAKS[f"{self.name}: fake and members"] = self.fake_conn.recv()
            self.fake.join(timeout=10)
            if self.fake.is_alive():
                self.fake.kill()


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "—"
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def errors_of(result: dict[str, Any]) -> int:
    return int(result["api_errors"]) + int(result["unexpected"])


def summary(result: dict[str, Any]) -> dict[str, float]:
    lat = result["latencies"]
    return {q: pct(lat, v) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))} | {
        "max": max(lat) if lat else math.nan
    }


HEADER = (
    f"{'run':<36} {'rate/s':>7} {'members':>7} {'sent':>6} {'replied':>7} {'lost':>4} "
    f"{'errors':>6} {'p50':>10} {'p95':>10} {'p99':>10} {'max':>10} {'sent/s':>7} "
    f"{'replies/s':>9} {'CPU bot':>7} {'fake':>5}"
)


def row(name: str, result: dict[str, Any]) -> str:
    s = summary(result)
    return (
        f"{name:<36} {result['rate']:>7g} {result['members']:>7} {result['sent']:>6} "
        f"{result['replied']:>7} {result['lost']:>4} {errors_of(result):>6} "
        f"{ms(s['p50']):>10} {ms(s['p95']):>10} {ms(s['p99']):>10} {ms(s['max']):>10} "
        f"{result['sent'] / result['seconds']:>7.1f} "
        f"{result['replied_in_run'] / result['seconds']:>9.1f} {result['cpu_bot']:>7.0%} "
        f"{result['cpu_fake']:>5.0%}"
    )


def by_step(name: str, result: dict[str, Any]) -> str:
    parts = []
    for step in STEPS:
        values = result["by_step"].get(step, [])
        if values:
            parts.append(f"{step}: {ms(pct(values, 0.5))} / {ms(pct(values, 0.99))}")
    return f"    {name}, p50 / p99 by step: " + "; ".join(parts)


def notes(result: dict[str, Any]) -> list[str]:
    out = []
    if result["late"]:
        out.append(
            f"{result['late']} answers went after their slot (the reply came less than "
            f"{THINK:g} s before it)"
        )
    if result["stray"]:
        out.append(f"{result['stray']} message calls to members not waiting for one")
    out.extend(result["error_samples"])
    return out


@dataclass
class Plan:
    rate: float
    members: int
    seconds: float
    warmup: float
    step_seconds: float
    up: list[float]  # ramp rates tried while p99 stays under 1 s (main rate's p99 under it)
    down: list[float]  # tried while p99 stays over 1 s (main rate's p99 over it)
    bisections: int  # further steps halving the bracket found
    production: bool

    def members_at(self, rate: float) -> int:
        """Members for a ramp step: each still answers every members/rate (main) seconds, so
        a higher rate has more members; a lower rate has the same members, answering slower."""
        return max(self.members, math.ceil(rate * self.members / self.rate))

    @property
    def most_members(self) -> int:
        return max([self.members] + [self.members_at(r) for r in self.up])


@dataclass
class Ramp:
    """The rates tried and their p99, and where p99 passes 1 s."""

    tried: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    under: float | None = None  # the highest rate seen with p99 ≤ 1 s
    over: float | None = None  # the lowest rate seen with p99 > 1 s

    def add(self, rate: float, result: dict[str, Any]) -> bool:
        """Record a step; True when its p99 is over 1 s."""
        self.tried.append((rate, result))
        if summary(result)["p99"] > RAMP_LIMIT:
            self.over = rate if self.over is None else min(self.over, rate)
            return True
        self.under = rate if self.under is None else max(self.under, rate)
        return False

    def verdict(self) -> str:
        if self.over is None:
            return f"p99 stays under 1 s up to {self.under:g} updates/s (the highest tried)"
        step = dict(self.tried)[self.over]
        got = f"{ms(summary(step)['p99'])}, {step['sent'] / step['seconds']:.0f} updates/s sent"
        if self.under is None:
            return f"p99 is over 1 s at every rate tried, down to {self.over:g} updates/s ({got})"
        return (
            f"p99 passes 1 s between {self.under:g} and {self.over:g} updates/s "
            f"(at {self.over:g}: {got})"
        )


def run_ours(
    plan: Plan, label: str, db_url: str, schema: str | None, global_rate: float, ramp: bool
) -> tuple[list[tuple[str, dict[str, Any]]], Ramp, dict[str, Any]]:
    session = Session(
        label, "ours", plan.most_members, BotSpec("ours", "", "", db_url, schema, global_rate)
    )
    out: list[tuple[str, dict[str, Any]]] = []
    search = Ramp()

    def step(rate: float) -> bool:
        name = f"  ramp {rate:g}/s"
        result = session.phase(name.strip(), rate, plan.members_at(rate), plan.step_seconds)
        out.append((name, result))
        print(row(name, result), flush=True)
        return search.add(rate, result)

    try:
        session.phase("warm-up", plan.rate, plan.members, plan.warmup)
        main = session.phase(label, plan.rate, plan.members, plan.seconds)
        out.append((label, main))
        print(row(label, main), flush=True)
        if ramp:
            over = search.add(plan.rate, main)
            for rate in plan.down if over else plan.up:
                if step(rate) != over:
                    break
            for _ in range(plan.bisections):
                if search.under is None or search.over is None:
                    break
                middle = round((search.under + search.over) / 2)
                if middle in (search.under, search.over):
                    break
                step(middle)
    finally:
        session.close()
    return out, search, session.bot_stats


def run_on(
    url: str | None,
    directory: str,
    name: str,
    plan: Plan,
    label: str,
    global_rate: float,
    ramp: bool,
) -> tuple[list[tuple[str, dict[str, Any]]], Ramp, dict[str, Any]]:
    """``run_ours`` on a database prepared for it (a SQLite file in ``directory``, or a fresh
    PostgreSQL schema at ``url``, dropped afterwards)."""
    db_url, schema = asyncio.run(prepare_db(url, directory, name, plan.most_members))
    try:
        return run_ours(plan, label, db_url, schema, global_rate, ramp)
    finally:
        if schema is not None:
            asyncio.run(drop_schema(db_url, schema))


def run_echo(plan: Plan) -> dict[str, Any]:
    session = Session("echo bot", "echo", plan.members, BotSpec("echo", "", ""))
    try:
        session.phase("warm-up", plan.rate, plan.members, plan.warmup)
        result = session.phase("echo", plan.rate, plan.members, plan.seconds)
    finally:
        session.close()
    print(row("echo bot (plain aiogram)", result), flush=True)
    return result


def bot_notes(stats: dict[str, Any]) -> list[str]:
    out = []
    pauses = stats.get("gc_pauses", [])
    if pauses:
        out.append(
            f"full garbage collections in the bot: {len(pauses)}, "
            f"{ms(sum(pauses))} in all, longest {ms(max(pauses))}"
        )
    if stats.get("warnings"):
        out.append(f"{stats['warnings']} warnings/errors logged: {stats['warning_samples']}")
    if stats.get("runner"):
        out.append(f"runner {stats['runner']}")
    if stats.get("replies"):
        out.append(f"replies {stats['replies']}")
    return out


def main(args: argparse.Namespace) -> int:
    plan = Plan(
        rate=args.rate,
        members=args.members,
        seconds=args.seconds or (15.0 if args.quick else 60.0),
        warmup=3.0 if args.quick else 5.0,
        step_seconds=args.step_seconds or (8.0 if args.quick else 15.0),
        up=[args.rate * f for f in ((1.5, 3) if args.quick else (1.5, 2, 3, 4, 6, 8))],
        down=[args.rate * f for f in ((0.5,) if args.quick else (0.75, 0.5, 0.25, 0.1))],
        bisections=0 if args.quick else 2,
        production=not args.skip_production,
    )
    print(
        f"{plan.members} members answering {FORM!r} at {plan.rate:g} updates/s for "
        f"{plan.seconds:g} s (each every {plan.members / plan.rate:g} s), after a "
        f"{plan.warmup:g} s warm-up; ramp steps of {plan.step_seconds:g} s.\n"
        "Latency: update queued at the fake → the bot's first message call to that chat, on "
        "the fake's clock.  CPU: share of one core.  "
        f"Load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)"
    )
    print(HEADER, flush=True)
    table: list[tuple[str, dict[str, Any]]] = []
    lines: list[str] = []
    ok = True
    databases: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.postgres:
        databases.append(("PostgreSQL", args.postgres))
    echo: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as directory:
        for name, url in databases:
            label = f"ours {name}, global limit lifted"
            results, ramp, stats = run_on(url, directory, "lifted", plan, label, LIFTED_RATE, True)
            main_result = results[0][1]
            table.extend(results)
            lines.append(by_step(label, main_result))
            lines.extend(f"    {label}: {line}" for line in bot_notes(stats))
            for step_name, result in results:
                lines.extend(f"    {step_name.strip()}: {line}" for line in notes(result))
                ok &= result["lost"] == 0 and errors_of(result) == 0
            if echo is None:
                echo = run_echo(plan)
                lines.append(by_step("echo bot", echo))
                lines.extend(f"    echo bot: {line}" for line in notes(echo))
                ok &= echo["lost"] == 0 and errors_of(echo) == 0
                table.append(("echo bot (plain aiogram)", echo))
            p99 = summary(main_result)["p99"]
            ratio = p99 / summary(echo)["p99"]
            lines.append(f"{name}: ratio (ours p99 / echo p99) = {ratio:.2f}")
            lines.append(f"{name}: ramp: {ramp.verdict()}")
            if name == "SQLite":
                meets = p99 < TARGET_P99 and ratio < TARGET_RATIO
                ok &= meets
                lines.append(
                    f"{name}: target p99 < {TARGET_P99 * 1000:.0f} ms and < {TARGET_RATIO:g}× "
                    f"echo at {plan.rate:g}/s: p99 {ms(p99)}, ratio {ratio:.2f} → "
                    f"{'MET' if meets else 'MISSED'}"
                )
            if plan.production:
                label = f"ours {name}, limit {PRODUCTION_RATE:g}/s"
                prod, _, stats = run_on(
                    url, directory, "production", plan, label, PRODUCTION_RATE, False
                )
                result = prod[0][1]
                table.append((label, result))
                lines.extend(f"    {label}: {line}" for line in notes(result) + bot_notes(stats))
                lines.append(
                    f"{name}: with the production limit ({PRODUCTION_RATE:g} calls/s, this survey "
                    f"9 calls per 7 updates: ≤ {PRODUCTION_RATE * 7 / 9:.1f} updates/s) the "
                    f"replies came at {result['replied_in_run'] / result['seconds']:.1f}/s "
                    "(information, not judged)"
                )
                ok &= result["lost"] == 0 and errors_of(result) == 0
    print(f"\nSummary (load average at the end: {os.getloadavg()[0]:.2f})")
    print(HEADER)
    for name, result in table:
        print(row(name, result))
    for line in lines:
        print(line)
    ok &= report_peaks()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def report_peaks() -> bool:
    """Every process's peak RSS, printed; whether all are under RSS_LIMIT_MB."""
    peaks = {"this process (orchestration, the databases prepared)": (rss_mib(), vmhwm_mib())}
    peaks.update(PEAKS)
    worst = max(rss for rss, _ in peaks.values())
    worst_mb = worst * 1024 * 1024 / 1e6
    verdict = "PASS" if worst_mb < RSS_LIMIT_MB else "FAIL"
    print(
        f"peak RSS (ru_maxrss): {worst:.0f} MiB ({worst_mb:.0f} MB; < {RSS_LIMIT_MB:.0f} MB in "
        f"every process: {verdict}); by process (VmHWM):"
    )
    for name, (rss, hwm) in peaks.items():
        print(f"    {name}: {rss:.0f} MiB ({hwm:.0f})")
    return verdict == "PASS"


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="15 s runs and a short ramp")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database")
    parser.add_argument("--seconds", type=float, default=None, help="default 60 (quick: 15)")
    parser.add_argument("--rate", type=float, default=100.0, help="updates per second")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--step-seconds", type=float, default=None, help="ramp step, default 15")
    parser.add_argument(
        "--skip-production", action="store_true", help="skip the runs with the 25/s limit"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse()))
