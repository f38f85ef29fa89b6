"""Reminder-pass benchmark: one scheduler pass over a whole province's campaigns.

    uv run python benchmarks/reminders.py                 # SQLite in a temporary file
    uv run python benchmarks/reminders.py --postgres postgresql+asyncpg://postgres@127.0.0.1/test

A synthetic province (1 province → 10 districts → CĐCS to a total of ``--units`` units,
``--people`` people, ~80% with a linked Telegram chat, some stopped or blocked) runs
``--campaigns`` concurrent campaigns, each targeting the whole province, ~40% of the targets
already completed.  The closing times are staggered so that at the measured moment (10:00
local) a planned reminder moment is due for every campaign: for some the first one (3 days
before closing), for others the second (1 day before) or the last-day morning (08:00).

The data is written in the order the bot writes it, so that tables and indexes grow as they
would: the roster (Core executemany), each launch in its own transaction (targets through
``storage.campaigns.insert_targets``, one invitation per target), then the answers in time
order with the real reminder pass run at every earlier planned moment (its reminders marked
sent, as the worker would).

Measured on the same data, each in a fresh process on a fresh copy of the database:

- ours: one ``bot.campaigns.service.reminder_pass`` (committed), then a second pass at the
  same moment (must write nothing) and one a minute later (nothing due);
- naive: every target loaded as an ORM object, completions and chats per run into Python,
  ``schedule.due_reminder`` per person, one ``Delivery`` object per reminder (``add_all``) and
  each target object updated; the same counting rules, so it must write the same reminders.
  Its reads are paged (a run's targets and completed responses 1,000 at a time, each page's
  reminders flushed and the session emptied), so that it does not hold a whole run at once.

Time is measured in a run without ``tracemalloc`` (which slows Python code down severalfold);
the peak Python allocation comes from a second run, on another fresh copy, under
``tracemalloc``.  RSS is the process high-water mark (``ru_maxrss``) before and after the pass;
at the end, the peak of every process (the generation, the four measuring runs, this one)
against 300 MB.  The script exits 1 when the two paths do not write the same reminders, a
repeated pass writes any, or a process peaks at 300 MB or more.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import multiprocessing as mp
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import and_, case, event, func, insert, literal, select, text, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine  # noqa: E402
from sqlmodel import col  # noqa: E402

from benchmarks.memory import RSS_LIMIT_MB  # noqa: E402
from bot.campaigns.schedule import (  # noqa: E402
    ReminderPolicy,
    due_reminder,
    reminder_times,
)
from bot.campaigns.service import (  # noqa: E402
    INVITATION_TEMPLATE,
    LOCALES,
    REMINDER_TEMPLATE,
    policy_from_json,
    reminder_pass,
)
from bot.texts import render  # noqa: E402
from storage import campaigns as store  # noqa: E402
from storage import chats as chat_store  # noqa: E402
from storage import tables  # noqa: E402
from storage.db import Database, normalize_url  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    CampaignTarget,
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Gender,
    Participation,
    Response,
    ResponseState,
    Role,
    RunStatus,
    SurveyDefinitionRow,
    SurveyRun,
    UnitKind,
)
from storage.roster import refresh_statistics  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # the zone and language the settings give by default
LOCALE = "vi"
# The measured moment: Thursday 26/11/2026 10:00 in Asia/Ho_Chi_Minh, outside quiet hours.
NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=TZ).astimezone(dt.UTC)
OPENS = NOW - dt.timedelta(days=20)
POLICY = ReminderPolicy()  # the default: 3 days and 1 day before, 08:00 on the last day, max 3
MOMENTS = ("3 days before", "1 day before", "08:00 on the last day")
FIRST_TG_ID = 7_000_000_000
NAIVE_PAGE = 1000  # targets (and completed responses) per read of the naive pass
# The tables copied for every measurement, parents first.
TABLES = (
    "units",
    "people",
    "chat_identities",
    "survey_definitions",
    "survey_runs",
    "responses",
    "participations",
    "campaign_targets",
    "deliveries",
)

t = tables  # the Core tables
SURNAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
)  # fmt: skip
MIDDLE = ("Thị", "Văn", "Hữu", "Minh", "Thanh", "Ngọc", "Đức", "Thu", "Kim", "Quang", "Hoài")
GIVEN = (
    "An", "Bình", "Chi", "Dũng", "Em", "Giang", "Hà", "Hải", "Hạnh", "Hiền", "Hoa", "Hùng",
    "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Ngân", "Nhung", "Phúc",
    "Phương", "Quân", "Quỳnh", "Sơn", "Tâm", "Thảo", "Thắng", "Trang", "Trung", "Tú", "Tuấn",
    "Vân", "Yến",
)  # fmt: skip
SCHOOLS = ("Trường Mầm non", "Trường Tiểu học", "Trường THCS", "Trường THPT", "Trung tâm GDNN-GDTX")
TITLES = (
    "Khảo sát đời sống đoàn viên",
    "Khảo sát nhu cầu nhà ở công vụ",
    "Lấy ý kiến về chế độ làm thêm giờ",
    "Khảo sát sức khỏe nghề nghiệp",
    "Đăng ký tham quan nghỉ dưỡng hè",
    "Khảo sát hoàn cảnh khó khăn",
    "Lấy ý kiến dự thảo quy chế dân chủ",
    "Khảo sát bồi dưỡng chuyên môn",
    "Khảo sát văn hóa công sở",
    "Đánh giá hoạt động công đoàn năm học",
)


def mb(n_bytes: float) -> float:
    """Bytes in MB (10^6; tracemalloc's figures).  RSS is shown in MiB (ru_maxrss is KiB)."""
    return n_bytes / 1_000_000


def rss_kib() -> int:
    """The process's RSS high-water mark so far (KiB on Linux).

    Linux carries ``ru_maxrss`` over ``fork`` and ``exec``: a child starts from its parent's
    RSS at the fork.  Hence the generation runs in a process of its own, and the parent that
    starts the measuring processes stays small.  :func:`vmhwm_kib` is the cross-check."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def vmhwm_kib() -> int:
    """The RSS high-water mark of this process image alone (``VmHWM``; 0 if unavailable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- where a database lives -----------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """A database to open in any process: a SQLite file, or a schema of a PostgreSQL database."""

    url: str
    schema: str | None = None

    def open(self) -> Database:
        if self.schema is None:
            return Database(self.url)
        return Database(self.url, connect_args={"server_settings": {"search_path": self.schema}})


def admin_engine(url: str) -> AsyncEngine:
    return create_async_engine(normalize_url(url))


async def create_schema(url: str, schema: str) -> None:
    admin = admin_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await admin.dispose()


async def drop_schemas(url: str, schemas: Sequence[str]) -> None:
    admin = admin_engine(url)
    try:
        async with admin.begin() as conn:
            for schema in schemas:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


async def copy_schema(url: str, source: str, target: str) -> None:
    """A fresh migrated schema holding the same rows as ``source`` (constraints, indexes and
    foreign keys from the migrations, sequences moved past the copied ids), vacuumed and
    analyzed as autovacuum leaves tables some time after a bulk load: without it the first
    statements to read the copied rows pay for setting their hint bits."""
    await create_schema(url, target)
    db = Where(url, target).open()
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    admin = admin_engine(url)
    try:
        async with admin.begin() as conn:
            for table in TABLES:
                await conn.execute(
                    text(f'INSERT INTO "{target}".{table} SELECT * FROM "{source}".{table}')
                )
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('\"{target}\".{table}', 'id'), "
                        f'COALESCE((SELECT max(id) FROM "{target}".{table}), 0) + 1, false)'
                    )
                )
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in TABLES:
                await conn.execute(text(f'VACUUM (ANALYZE) "{target}".{table}'))
    finally:
        await admin.dispose()


# -- the synthetic province -----------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    run_id: int
    closes_at: dt.datetime
    moment: str  # which planned moment is due at NOW
    prior: tuple[dt.datetime, ...]  # the planned moments already served before NOW


@dataclass
class Generated:
    units: int = 0
    people: int = 0
    linked: int = 0
    stopped: int = 0
    blocked: int = 0
    targets: int = 0
    completed: int = 0
    participations: int = 0
    in_progress: int = 0
    invitations: int = 0
    earlier_reminders: int = 0
    earlier_passes: list[float] = field(default_factory=list)
    campaigns: list[Campaign] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    peak_kib: tuple[int, int] = (0, 0)  # the generating process: ru_maxrss, VmHWM at its end


def staggered(n: int) -> list[Campaign]:
    """Closing times such that at NOW one planned moment is due for every campaign, cycling
    through the policy's three moments (each a few minutes apart from the next campaign's)."""
    out = []
    for i in range(n):
        lag = dt.timedelta(minutes=3 * (i + 1))
        kind = i % 3
        if kind == 0:  # 3 days before closing is due (a few minutes ago); nothing sent yet
            closes = NOW + dt.timedelta(days=3) - lag
        elif kind == 1:  # 1 day before is due; the 3-days-before one went out
            closes = NOW + dt.timedelta(days=1) - lag
        else:  # closes today at 17:xx: the 08:00 reminder is due; the two before went out
            local = NOW.astimezone(TZ)
            closes = (local.replace(hour=17, minute=0) + lag).astimezone(dt.UTC)
        planned = reminder_times(OPENS, closes, POLICY, TZ)
        due = due_reminder(planned, 0, None, NOW, closes, POLICY, TZ)
        assert due is not None, (i, closes)
        out.append(Campaign(i + 1, closes, MOMENTS[kind], tuple(m for m in planned if m < due)))
    return out


def chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def insert_rows(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany, a chunk at a time."""
    for part in chunks(rows):
        await session.execute(insert(table), part)


async def generate(db: Database, args: argparse.Namespace) -> Generated:
    """Build the province and its campaigns (deterministic for a given ``--seed``)."""
    rng = random.Random(args.seed)
    g = Generated()
    stamp = OPENS - dt.timedelta(days=200)
    clock = time.perf_counter()

    # Roster: units, people, chats (ids given explicitly, so nothing needs RETURNING).
    districts = 10
    n_units = max(args.units, districts + 2)
    units: list[dict[str, Any]] = []

    def unit(uid: int, kind: UnitKind, parent: int | None, path: str, name: str) -> None:
        units.append(
            {
                "id": uid,
                "code": f"U{uid:05d}",
                "name": name,
                "kind": kind,
                "parent_id": parent,
                "path": path,
                "is_public": True,
                "staff_count": 0,
                "invite_code": f"INV{uid:05d}",
                "created_at": stamp,
                "updated_at": stamp,
            }
        )

    unit(1, UnitKind.PROVINCE, None, "/1/", "Công đoàn Giáo dục tỉnh")
    for d in range(2, 2 + districts):
        unit(d, UnitKind.DISTRICT, 1, f"/1/{d}/", f"Công đoàn Giáo dục huyện {d - 1}")
    cdcs: list[int] = []
    for uid in range(2 + districts, n_units + 1):
        # a tenth of the CĐCS (upper-secondary schools, centres) sit directly under the province
        parent = 1 if rng.random() < 0.1 else rng.randrange(2, 2 + districts)
        path = f"/1/{uid}/" if parent == 1 else f"/1/{parent}/{uid}/"
        unit(uid, UnitKind.GRASSROOTS, parent, path, f"{rng.choice(SCHOOLS)} số {uid}")
        cdcs.append(uid)
    weights = [rng.randint(10, 80) for _ in cdcs]

    people: list[dict[str, Any]] = []
    unit_of: dict[int, int] = {}
    officers: set[int] = set()
    for pid, uid in enumerate(rng.choices(cdcs, weights, k=args.people), start=1):
        unit_of[pid] = uid
        officer = uid not in officers
        officers.add(uid)
        people.append(
            {
                "id": pid,
                "full_name": f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                "phone": f"09{pid:08d}",
                "staff_code": f"GV{pid:06d}",
                "unit_id": uid,
                "is_member": rng.random() < 0.95,
                "gender": rng.choice((Gender.FEMALE, Gender.FEMALE, Gender.MALE)),
                "role": Role.OFFICER if officer else Role.MEMBER,
                "officer_unit_id": uid if officer else None,
                "tags": "",
                "weekly_digest": True,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )

    chats: list[dict[str, Any]] = []

    def chat(person: int | None, stage: ChatStage, **extra: Any) -> None:
        cid = len(chats) + 1
        row = {
            "id": cid,
            "channel": Channel.TELEGRAM,
            "external_id": str(FIRST_TG_ID + cid),
            "person_id": person,
            "stage": stage,
            "invite_unit_id": None,
            "stopped": False,
            "locale": "vi",
            "active_response_id": None,
            "compose_notice_id": None,
            "unreachable_at": None,
            "unreachable_reason": None,
            "created_at": stamp,
            "updated_at": stamp,
        }
        row.update(extra)
        chats.append(row)

    linked = [pid for pid in unit_of if rng.random() < 0.8]
    # A few people changed phone: an older linked chat, superseded by the newer one (max id).
    for pid in rng.sample(linked, len(linked) // 200):
        chat(pid, ChatStage.LINKED)
    for pid in linked:
        r = rng.random()
        extra: dict[str, Any] = {"locale": "en" if rng.random() < 0.05 else "vi"}
        if r < 0.03:
            extra["stopped"] = True
            g.stopped += 1
        elif r < 0.05:
            extra["unreachable_at"] = stamp + dt.timedelta(days=100)
            extra["unreachable_reason"] = "blocked"
            g.blocked += 1
        chat(pid, ChatStage.LINKED, **extra)
    for _ in range(args.people // 50):  # chats still onboarding, linked to nobody
        chat(None, rng.choice((ChatStage.CONSENT, ChatStage.CONTACT, ChatStage.PENDING)))

    async with db.session() as session:
        await insert_rows(session, t.units, units)
        await insert_rows(session, t.people, people)
        await insert_rows(session, t.chats, chats)
        # what a roster import does after a large write (storage.roster)
        await refresh_statistics(session)
    g.units, g.people, g.linked = len(units), len(people), len(linked)
    g.seconds["roster"] = time.perf_counter() - clock
    clock = time.perf_counter()

    # Campaigns: definitions, runs, targets (storage.campaigns.insert_targets), responses.
    g.campaigns = staggered(args.campaigns)
    definitions = [
        {
            "id": c.run_id,
            "key": f"bench_{c.run_id}",
            "version": 1,
            "title": TITLES[(c.run_id - 1) % len(TITLES)],
            "checksum": f"{c.run_id:064x}",
            "body": "{}",
            "created_at": OPENS,
        }
        for c in g.campaigns
    ]
    runs = [
        {
            "id": c.run_id,
            "definition_id": c.run_id,
            "unit_id": 1,
            "launched_by": 1,
            "period_year": OPENS.astimezone(TZ).year,
            "status": RunStatus.OPEN,
            "opens_at": OPENS,
            "closes_at": c.closes_at,
            "reminder_policy": None,
            "recurrence": "none",
            "audience": None,
            "per_unit": False,
            "series_id": None,
            "run_index": 0,
            "period_label": OPENS.astimezone(TZ).date().isoformat(),
        }
        for c in g.campaigns
    ]
    everyone = [store.Target(pid, uid) for pid, uid in unit_of.items()]
    async with db.session() as session:
        await insert_rows(session, t.definitions, definitions)
        await insert_rows(session, t.runs, runs)
    for c in g.campaigns:  # each launch in a transaction of its own, as bot.campaigns.launch
        async with db.session() as session:
            await store.insert_targets(session, run_id=c.run_id, rows=everyone, now=OPENS)
            g.invitations += await write_invitations(session, c)
        g.targets += len(everyone)
    g.seconds["launches"] = time.perf_counter() - clock
    clock = time.perf_counter()

    # Answers as they came in, and the reminder passes at the planned moments before NOW
    # (the real pass; its reminders then sent by the worker).
    events: list[tuple[dt.datetime, str, dict[str, Any]]] = []
    span = (NOW - OPENS).total_seconds() - 60
    for c in g.campaigns:
        share = 0.3 + 0.2 * rng.random()  # 30–50% completed, 40% on average
        for pid, uid in unit_of.items():
            r = rng.random()
            started = OPENS + dt.timedelta(seconds=rng.random() * span)
            row = {
                "run_id": c.run_id,
                "person_id": pid,
                "unit_id": uid,
                "is_member": True,
                "state": ResponseState.IN_PROGRESS,
                "draft": None,
                "started_at": started,
                "updated_at": started,
                "completed_at": None,
            }
            if r < share:
                done = started + (NOW - started) * rng.random() * 0.05
                row.update(state=ResponseState.COMPLETED, updated_at=done, completed_at=done)
                if rng.random() < 0.03:  # an anonymous answer: the link to the person cut
                    row["person_id"] = None
                    part = {"run_id": c.run_id, "person_id": pid, "completed_at": done}
                    events.append((done, "participations", part))
                    g.participations += 1
                g.completed += 1
                events.append((done, "responses", row))
            elif r < share + 0.05:
                g.in_progress += 1
                events.append((started, "responses", row))
    events.sort(key=lambda e: e[0])
    moments = [*sorted({m for c in g.campaigns for m in c.prior}), NOW]
    at = 0
    for moment in moments:
        upto = at
        while upto < len(events) and events[upto][0] < moment:
            upto += 1
        async with db.session() as session:
            for table in ("responses", "participations"):
                rows = [e[2] for e in events[at:upto] if e[1] == table]
                await insert_rows(session, getattr(t, table), rows)
        at = upto
        if moment == NOW:
            break
        await analyze(db, g)  # autovacuum has had days to do so
        started_pass = time.perf_counter()
        async with db.session() as session:
            stats = await reminder_pass(session, now=moment, tz=TZ, default_locale=LOCALE)
            await session.execute(
                update(t.deliveries)
                .where(
                    t.deliveries.c.kind == DeliveryKind.REMINDER.value,
                    t.deliveries.c.status == DeliveryStatus.QUEUED.value,
                )
                .values(
                    status=DeliveryStatus.SENT.value,
                    attempts=1,
                    sent_at=moment + dt.timedelta(minutes=5),
                )
            )
        g.earlier_reminders += stats.reminders
        g.earlier_passes.append(time.perf_counter() - started_pass)
    g.seconds["answers and earlier passes"] = time.perf_counter() - clock
    await analyze(db, g)
    return g


async def server_settings(url: str) -> str:
    admin = admin_engine(url)
    try:
        async with admin.connect() as conn:
            version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            shown = [
                f"{name} {(await conn.execute(text(f'SHOW {name}'))).scalar_one()}"
                for name in ("shared_buffers", "work_mem", "jit", "synchronous_commit")
            ]
    finally:
        await admin.dispose()
    return f"PostgreSQL {version} ({', '.join(shown)})"


async def analyze(db: Database, g: Generated) -> None:
    if db.dialect != "postgresql":
        return  # SQLite keeps the statistics of the roster import (storage.roster)
    clock = time.perf_counter()
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
    g.seconds["analyze"] = g.seconds.get("analyze", 0.0) + time.perf_counter() - clock


async def write_invitations(session: AsyncSession, c: Campaign) -> int:
    """The run's invitations as launching writes them, already sent by the worker (or
    unreachable): one per target, to the person's newest linked chat."""
    latest = (
        select(t.chats.c.person_id, func.max(t.chats.c.id).label("chat_id"))
        .where(t.chats.c.stage == ChatStage.LINKED, t.chats.c.person_id.is_not(None))
        .group_by(t.chats.c.person_id)
        .subquery("latest")
    )
    chat = t.chats
    source = t.targets.outerjoin(latest, latest.c.person_id == t.targets.c.person_id).outerjoin(
        chat, chat.c.id == latest.c.chat_id
    )
    sent_at = OPENS + dt.timedelta(minutes=10)
    body = render(
        INVITATION_TEMPLATE,
        "vi",
        title=TITLES[(c.run_id - 1) % len(TITLES)],
        intro="",
        per_unit=False,
        closes_at=c.closes_at.astimezone(TZ),
    )
    reachable = and_(chat.c.id.is_not(None), chat.c.stopped.is_(False))
    status = case(
        (reachable, literal(DeliveryStatus.SENT.value)),
        else_=literal(DeliveryStatus.UNREACHABLE.value),
    )
    rows = select(
        literal(DeliveryKind.INVITATION.value),
        t.targets.c.run_id,
        t.targets.c.person_id,
        chat.c.id,
        literal(Channel.TELEGRAM.value),
        chat.c.external_id,
        literal(body),
        literal(False),
        status,
        literal(1),
        literal(OPENS, type_=t.deliveries.c.available_at.type),
        literal(OPENS, type_=t.deliveries.c.created_at.type),
        case((reachable, literal(sent_at, type_=t.deliveries.c.sent_at.type)), else_=None),
    ).select_from(source)
    columns = [
        "kind",
        "run_id",
        "person_id",
        "chat_id",
        "channel",
        "external_id",
        "text",
        "ack_button",
        "status",
        "attempts",
        "available_at",
        "created_at",
        "sent_at",
    ]
    query = insert(t.deliveries).from_select(columns, rows.where(t.targets.c.run_id == c.run_id))
    result = await session.execute(query)
    return max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]


# -- the two paths --------------------------------------------------------------------------------


async def naive_pass(session: AsyncSession, *, now: dt.datetime) -> int:
    """The reminder pass written without set-based SQL: everything through Python objects."""
    default = ReminderPolicy()
    runs = (
        await session.execute(
            select(SurveyRun, col(SurveyDefinitionRow.title))
            .join(SurveyDefinitionRow, col(SurveyDefinitionRow.id) == col(SurveyRun.definition_id))
            .where(col(SurveyRun.status) == RunStatus.OPEN, col(SurveyRun.closes_at).is_not(None))
            .order_by(col(SurveyRun.id))
        )
    ).all()
    chats: dict[int, ChatIdentity] = {}
    linked = (
        select(ChatIdentity)
        .where(
            col(ChatIdentity.channel) == Channel.TELEGRAM,
            col(ChatIdentity.stage) == ChatStage.LINKED,
            col(ChatIdentity.person_id).is_not(None),
        )
        .order_by(col(ChatIdentity.id))
    )
    for row in (await session.execute(linked)).scalars():
        assert row.person_id is not None
        chats[row.person_id] = row  # the newest linked chat wins
    written = 0
    for run, title in runs:
        assert run.id is not None and run.closes_at is not None
        if run.closes_at <= now:
            continue
        policy = policy_from_json(run.reminder_policy, default)
        planned = reminder_times(run.opens_at, run.closes_at, policy, TZ)
        closes_local = run.closes_at.astimezone(TZ)
        texts = {
            loc: render(REMINDER_TEMPLATE, loc, title=title, closes_at=closes_local, manual=False)
            for loc in LOCALES
        }
        completed = await session.stream_scalars(
            select(Response)
            .where(col(Response.run_id) == run.id, col(Response.state) == ResponseState.COMPLETED)
            .execution_options(yield_per=NAIVE_PAGE)
        )
        done_people: set[int] = set()
        done_units: set[int] = set()
        async for response in completed:
            if response.person_id is not None:
                done_people.add(response.person_id)
            done_units.add(response.unit_id)
        took_part = await session.execute(
            select(Participation).where(col(Participation.run_id) == run.id)
        )
        done_people.update(p.person_id for p in took_part.scalars())
        # The run's targets in pages of NAIVE_PAGE (in person order), each page's reminders
        # and target updates flushed and the session emptied before the next (the completed
        # responses above are read NAIVE_PAGE at a time too): still one object per target, per
        # completion and per reminder, without holding a run's 30,000 targets, its reminders
        # and its responses at once (in one go the process peaked at 309-323 MiB of RSS, and
        # 567 MiB in the run under tracemalloc).
        after = 0
        while (
            page := (
                await session.execute(
                    select(CampaignTarget)
                    .where(
                        col(CampaignTarget.run_id) == run.id, col(CampaignTarget.person_id) > after
                    )
                    .order_by(col(CampaignTarget.person_id))
                    .limit(NAIVE_PAGE)
                )
            )
            .scalars()
            .all()
        ):
            after = page[-1].person_id
            new: list[Delivery] = []
            for target in page:
                if target.person_id in done_people or (
                    run.per_unit and target.unit_id in done_units
                ):
                    continue
                due = due_reminder(
                    planned, target.sent_count, target.last_sent_at, now, run.closes_at, policy, TZ
                )
                if due is None:
                    continue
                chat = chats.get(target.person_id)
                error: str | None = None
                if chat is None:
                    error = chat_store.NEVER_LINKED
                elif chat.unreachable_at is not None:
                    error = chat.unreachable_reason or "blocked"
                elif chat.stopped:
                    error = chat_store.STOPPED
                new.append(
                    Delivery(
                        kind=DeliveryKind.REMINDER,
                        run_id=run.id,
                        person_id=target.person_id,
                        chat_id=chat.id if chat else None,
                        channel=Channel.TELEGRAM,
                        external_id=chat.external_id if chat else None,
                        text=texts.get(chat.locale, texts[LOCALE]) if chat else texts[LOCALE],
                        ack_button=False,
                        status=(
                            DeliveryStatus.QUEUED if error is None else DeliveryStatus.UNREACHABLE
                        ),
                        attempts=0,
                        available_at=now,
                        error=error,
                        created_at=now,
                    )
                )
                target.sent_count += 1
                target.last_sent_at = now
            session.add_all(new)
            await session.flush()
            written += len(new)
            session.expunge_all()  # the chats stay usable: loaded, detached, never expired
    return written


class StatementTimer:
    """The time of every statement the engine runs (cursor execute to its return)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.rows: list[tuple[str, float, int]] = []
        self.on = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        started = conn.info["bench_started"].pop()
        if self.on:
            rowcount = getattr(cursor, "rowcount", -1)
            self.rows.append((statement, time.perf_counter() - started, int(rowcount or 0)))

    def take(self) -> list[tuple[str, float, int]]:
        rows, self.rows = self.rows, []
        return rows


@dataclass
class Lap:
    seconds: float
    written: int
    commit_seconds: float = 0.0
    statements: list[tuple[str, float, int]] = field(default_factory=list)
    runs_due: int = -1


@dataclass
class Measured:
    path: str
    laps: dict[str, Lap] = field(default_factory=dict)
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    hwm_after_kib: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    peak_bytes: int | None = None  # tracemalloc, in the traced run
    traced_seconds: float | None = None
    digest: str = ""
    rows: int = 0
    peak_kib: tuple[int, int] = (0, 0)  # the measuring process: ru_maxrss, VmHWM at its end
    traced_peak_kib: tuple[int, int] = (0, 0)  # the same, of the run under tracemalloc


async def one_pass(db: Database, path: str, now: dt.datetime, timer: StatementTimer | None) -> Lap:
    if timer is not None:
        timer.on = True
    started = time.perf_counter()
    runs_due = -1
    async with db.session() as session:
        if path == "ours":
            stats = await reminder_pass(session, now=now, tz=TZ, default_locale=LOCALE)
            written, runs_due = stats.reminders, stats.runs_due
        else:
            written = await naive_pass(session, now=now)
        before_commit = time.perf_counter()
    ended = time.perf_counter()
    lap = Lap(ended - started, written, ended - before_commit, runs_due=runs_due)
    if timer is not None:
        timer.on = False
        lap.statements = timer.take()
    return lap


async def digest(db: Database) -> tuple[str, int]:
    """A checksum of every reminder written and every target's counters (to compare paths)."""
    h = hashlib.sha256()
    n = 0
    d = t.deliveries.c
    queries = [
        select(
            d.run_id, d.person_id, d.chat_id, d.external_id, d.status, d.error, d.text,
            d.available_at, d.created_at, d.attempts, d.ack_button,
        )
        .where(d.kind == DeliveryKind.REMINDER.value)
        .order_by(d.run_id, d.person_id, d.created_at),
        select(
            t.targets.c.run_id, t.targets.c.person_id, t.targets.c.sent_count,
            t.targets.c.last_sent_at,
        ).order_by(t.targets.c.run_id, t.targets.c.person_id),
    ]  # fmt: skip
    async with db.session() as session:
        for query in queries:
            result = await session.stream(query)
            async for part in result.partitions(10_000):
                for row in part:
                    h.update(repr(tuple(row)).encode())
                    n += 1
    return h.hexdigest()[:16], n


async def statuses(db: Database) -> dict[str, int]:
    """The reminders the measured pass wrote, by status (and reason, when unreachable)."""
    d = t.deliveries.c
    query = (
        select(d.status, d.error, func.count())
        .where(d.kind == DeliveryKind.REMINDER.value, d.created_at == NOW)
        .group_by(d.status, d.error)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return {f"{status}" + (f" ({error})" if error else ""): int(n) for status, error, n in rows}


async def measure_async(where: Where, path: str, traced: bool) -> Measured:
    db = where.open()
    out = Measured(path)
    try:
        timer = StatementTimer(db.engine) if path == "ours" and not traced else None
        async with db.session() as session:  # connect (and warm the pool) before timing
            await session.execute(text("SELECT 1"))
        out.rss_before_kib = rss_kib()
        if traced:
            tracemalloc.start()
            tracemalloc.reset_peak()
            lap = await one_pass(db, path, NOW, None)
            out.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out.traced_seconds = lap.seconds
            out.laps["first"] = lap
            out.rss_after_kib, out.hwm_after_kib = rss_kib(), vmhwm_kib()
            return out
        out.laps["first"] = await one_pass(db, path, NOW, timer)
        out.rss_after_kib, out.hwm_after_kib = rss_kib(), vmhwm_kib()
        out.laps["again, same moment"] = await one_pass(db, path, NOW, timer)
        out.laps["a minute later"] = await one_pass(db, path, NOW + dt.timedelta(minutes=1), timer)
        out.digest, out.rows = await digest(db)
        out.statuses = await statuses(db)
        return out
    finally:
        await db.dispose()


def measure(where: Where, path: str, traced: bool) -> Measured:
    """Entry point of a measuring process."""
    m = asyncio.run(measure_async(where, path, traced))
    m.peak_kib = (rss_kib(), vmhwm_kib())
    return m


def in_fresh_process(where: Where, path: str, traced: bool) -> Measured:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(measure, where, path, traced).result()


def generate_in_process(where: Where, args: argparse.Namespace) -> Generated:
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(build_sync, where, args).result()


# -- orchestration --------------------------------------------------------------------------------


class Copies:
    """Fresh copies of the generated database, one per measurement."""

    def __init__(self, source: Where, directory: str) -> None:
        self.source = source
        self.directory = directory

    def make(self, name: str) -> Where:
        if self.source.schema is None:
            src = self.source.url.split("///", 1)[1]
            dst = f"{self.directory}/{name}.db"
            shutil.copyfile(src, dst)
            if Path(f"{src}-wal").exists():  # normally checkpointed away when the engine closed
                shutil.copyfile(f"{src}-wal", f"{dst}-wal")
            where = Where(f"sqlite+aiosqlite:///{dst}")
        else:
            schema = f"{self.source.schema}_{name}"
            asyncio.run(copy_schema(self.source.url, self.source.schema, schema))
            where = Where(self.source.url, schema)
        return where

    def drop(self, where: Where) -> None:
        if where.schema is None:
            Path(where.url.split("///", 1)[1]).unlink(missing_ok=True)
        else:
            asyncio.run(drop_schemas(where.url, [where.schema]))


def run_path(copies: Copies, path: str) -> Measured:
    timed_copy = copies.make(f"{path}_timed")
    try:
        timed = in_fresh_process(timed_copy, path, traced=False)
    finally:
        copies.drop(timed_copy)
    traced_copy = copies.make(f"{path}_traced")
    try:
        traced = in_fresh_process(traced_copy, path, traced=True)
    finally:
        copies.drop(traced_copy)
    timed.peak_bytes = traced.peak_bytes
    timed.traced_seconds = traced.traced_seconds
    timed.traced_peak_kib = traced.peak_kib
    if traced.laps["first"].written != timed.laps["first"].written:
        print(f"  !! {path}: the traced run wrote {traced.laps['first'].written:,} reminders")
        timed.digest += "!"
    return timed


def label(statement: str) -> str:
    words = " ".join(statement.split())
    for key in ("UPDATE ", "INSERT INTO ", "DELETE FROM "):
        if words.startswith(key):
            return " ".join(words.split()[: len(key.split()) + 1])
    if words.startswith("SELECT"):
        head = words.split(" FROM ", 1)
        tables = head[1].split()[0] if len(head) > 1 else ""
        return f"SELECT … FROM {tables}"
    return words[:40]


def print_statements(lap: Lap) -> None:
    groups: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for statement, seconds, rows in lap.statements:
        groups[label(statement)].append((seconds, rows))
    total = sum(s for _, s, _ in lap.statements)
    print(f"      {'statement':<40} {'count':>5} {'seconds':>8} {'max':>7} {'rows':>8}")
    for name, items in sorted(groups.items(), key=lambda kv: -sum(s for s, _ in kv[1])):
        seconds = sum(s for s, _ in items)
        rows = sum(max(r, 0) for _, r in items)
        worst = max(s for s, _ in items)
        print(f"      {name:<40} {len(items):>5} {seconds:>8.3f} {worst:>7.3f} {rows:>8,}")
    other = lap.seconds - total - lap.commit_seconds
    print(f"      {'commit':<40} {'':>5} {lap.commit_seconds:>8.3f}")
    print(f"      {'Python, outside statements':<40} {'':>5} {other:>8.3f}")


def report(ours: Measured, naive: Measured) -> bool:
    def row(m: Measured) -> tuple[str, ...]:
        lap = m.laps["first"]
        peak = "-" if m.peak_bytes is None else f"{mb(m.peak_bytes):.1f}"
        return (
            m.path,
            f"{lap.written:,}",
            f"{lap.seconds:.2f}",
            peak,
            f"{m.rss_after_kib / 1024:.0f} (+{(m.rss_after_kib - m.rss_before_kib) / 1024:.0f})",
            "-" if m.traced_seconds is None else f"{m.traced_seconds:.2f}",
        )

    header = ("path", "reminders", "seconds", "peak MB", "RSS MiB (+pass)", "s traced")
    table = [header, row(ours), row(naive)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    o, n = ours.laps["first"], naive.laps["first"]
    ratio_time = n.seconds / o.seconds
    parts = [f"time {ratio_time:.1f}x"]
    if ours.peak_bytes and naive.peak_bytes:
        parts.append(f"peak {naive.peak_bytes / ours.peak_bytes:.0f}x")
    parts.append(f"RSS {naive.rss_after_kib / ours.rss_after_kib:.1f}x")
    print(f"  naive/ours: {', '.join(parts)}")
    print(
        f"  RSS high-water of each process image alone (VmHWM): ours "
        f"{ours.hwm_after_kib / 1024:.0f} MiB, naive {naive.hwm_after_kib / 1024:.0f} MiB"
    )
    print("  later passes (nothing due):")
    for name in ("again, same moment", "a minute later"):
        lo, ln = ours.laps[name], naive.laps[name]
        print(
            f"    {name:<20} ours {lo.seconds:6.2f} s ({lo.written} written)   "
            f"naive {ln.seconds:6.2f} s ({ln.written} written)"
        )
    ok = True
    if o.written != n.written:
        print(f"  FAIL: ours wrote {o.written:,} reminders, naive {n.written:,}")
        ok = False
    elif ours.digest != naive.digest:
        print(f"  FAIL: same count, different rows (checksums {ours.digest} / {naive.digest})")
        ok = False
    else:
        print(f"  same reminders and target counters on both paths (checksum {ours.digest})")
    for m in (ours, naive):
        for name in ("again, same moment", "a minute later"):
            if m.laps[name].written:
                print(f"  FAIL: {m.path}: the pass '{name}' wrote {m.laps[name].written:,}")
                ok = False
    return ok


def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as directory:
        if args.postgres:
            source = Where(args.postgres, f"bench_{uuid.uuid4().hex[:10]}")
            asyncio.run(create_schema(source.url, source.schema or ""))
        else:
            source = Where(f"sqlite+aiosqlite:///{directory}/province.db")
        try:
            return run(args, source, directory)
        finally:
            if source.schema is not None:
                asyncio.run(drop_schemas(source.url, [source.schema]))


async def build(source: Where, args: argparse.Namespace) -> Generated:
    db = source.open()
    try:
        await upgrade(db)
        return await generate(db, args)
    finally:
        await db.dispose()  # SQLite: the last connection closing checkpoints the WAL


def build_sync(source: Where, args: argparse.Namespace) -> Generated:
    """Entry point of the generating process."""
    g = asyncio.run(build(source, args))
    g.peak_kib = (rss_kib(), vmhwm_kib())
    return g


def run(args: argparse.Namespace, source: Where, directory: str) -> int:
    if source.schema:
        kind = asyncio.run(server_settings(source.url))
    else:
        kind = f"SQLite {sqlite3.sqlite_version}"
    print(
        f"Reminder pass: {args.people:,} people, {args.units:,} units, {args.campaigns} "
        f"campaigns on {kind}; now = {NOW.astimezone(TZ):%d/%m/%Y %H:%M} local"
    )
    started = time.perf_counter()
    g = generate_in_process(source, args)
    took = time.perf_counter() - started
    print(
        f"  generated in {took:.1f} s ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in g.seconds.items())
        + ")"
    )
    print(
        f"  {g.units:,} units, {g.people:,} people, {g.linked:,} with a linked chat "
        f"({g.stopped:,} stopped, {g.blocked:,} blocked); {g.targets:,} targets, "
        f"{g.completed:,} completed ({g.participations:,} anonymously), {g.in_progress:,} in "
        f"progress; in the outbox: {g.invitations:,} invitations, {g.earlier_reminders:,} "
        f"earlier reminders (from {len(g.earlier_passes)} passes at the earlier moments: "
        f"{min(g.earlier_passes, default=0):.2f}–{max(g.earlier_passes, default=0):.2f} s each)"
    )
    for c in g.campaigns:
        print(
            f"    run {c.run_id:>2}: closes {c.closes_at.astimezone(TZ):%d/%m %H:%M}, due: "
            f"{c.moment}" + (f" ({len(c.prior)} sent before)" if c.prior else "")
        )
    if source.schema is None:
        print(f"  database file: {mb(Path(source.url.split('///', 1)[1]).stat().st_size):.0f} MB")
    copies = Copies(source, directory)
    print("  measuring ours …", flush=True)
    ours = run_path(copies, "ours")
    print(
        f"    {ours.laps['first'].runs_due} of {len(g.campaigns)} runs had a reminder due; "
        "written: " + ", ".join(f"{n:,} {k}" for k, n in sorted(ours.statuses.items()))
    )
    print("    where the first pass's time goes:")
    print_statements(ours.laps["first"])
    print("  measuring naive …", flush=True)
    naive = run_path(copies, "naive")
    print()
    ok = report(ours, naive)
    lap = ours.laps["first"]
    rss = ours.rss_after_kib / 1024
    peak = mb(ours.peak_bytes or 0)
    holds = lap.seconds < 2 and rss < 200 and peak < 200
    print(
        f"  target (one pass under 2 s and under 200 MB): {'HOLDS' if holds else 'MISSED'} "
        f"({lap.seconds:.2f} s, RSS high-water {rss:.0f} MiB, peak Python allocation {peak:.1f} MB)"
    )
    rss_ok = report_peaks(g, ours, naive)
    return 0 if ok and rss_ok else 1


def report_peaks(g: Generated, ours: Measured, naive: Measured) -> bool:
    """Every process's RSS high-water mark (``ru_maxrss`` at its end; ``VmHWM`` beside it),
    against RSS_LIMIT_MB; whether all are under it."""
    peaks = {
        "generation": g.peak_kib,
        "ours": ours.peak_kib,
        "ours, traced": ours.traced_peak_kib,
        "naive": naive.peak_kib,
        "naive, traced": naive.traced_peak_kib,
        "this process": (rss_kib(), vmhwm_kib()),
    }
    worst = max(kib for kib, _ in peaks.values()) / 1024
    worst_mb = worst * 1024 * 1024 / 1e6
    verdict = "PASS" if worst_mb < RSS_LIMIT_MB else "FAIL"
    print(
        f"  peak RSS (ru_maxrss): {worst:.0f} MiB ({worst_mb:.0f} MB; < {RSS_LIMIT_MB:.0f} MB in "
        f"every process: {verdict}); by process (VmHWM): "
        + ", ".join(
            f"{name} {kib / 1024:.0f} ({hwm / 1024:.0f})" for name, (kib, hwm) in peaks.items()
        )
        + " MiB"
    )
    return verdict == "PASS"


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--people", type=int, default=30_000, help="default: 30,000")
    parser.add_argument(
        "--units", type=int, default=700, help="all units, province and districts included (700)"
    )
    parser.add_argument("--campaigns", type=int, default=10, help="default: 10")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--postgres", metavar="URL", help="a PostgreSQL database (a fresh schema is used)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse()))
