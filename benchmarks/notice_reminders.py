"""Notice-reminder benchmark: the automatic "not acknowledged" pass the scheduler runs each tick.

    uv run python benchmarks/notice_reminders.py            # SQLite in a temporary file

A synthetic province of ``--people`` people in ``--units`` units, ~80% with a linked Telegram
chat, receives ``--notices`` notices (one delivery per person each, written as the bot writes
them), the worker having sent every reachable one; ~60% of the deliveries are acknowledged.
The notices went out 48 hours (and a few minutes) before the measured moment, so for every
notice the automatic reminder is due at once: the worst case.  Then:

- ours: ``bot.notices.service.ack_reminder_pass`` (committed); the same pass again at the same
  moment (must write nothing) and one a minute later: what every tick costs when nothing is due;
- naive, on a fresh copy: the unacknowledged sent deliveries as ORM objects, each one's
  reminders counted with a query, the person's newest chat looked up, one ``Delivery`` object
  per reminder (``add_all``).  It must write the same reminders.

Everything runs in this one process; its peak RSS (``ru_maxrss``) is printed at the end, with
its high-water mark after each stage.  Prints the figures and the ratio; exits 1 when the two
paths disagree, a repeated pass writes, or the process peaks at 300 MB or more.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from benchmarks.memory import RSS_LIMIT_MB, rss_mib  # noqa: E402
from bot.notices.service import (  # noqa: E402
    REMINDER_LOCALES,
    REMINDER_TEMPLATE,
    AckReminderPolicy,
    ack_reminder_pass,
)
from bot.texts import render  # noqa: E402
from storage import notices as store  # noqa: E402
from storage import tables  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Person,
    Unit,
    UnitKind,
)

# Thursday 26/11/2026 10:00 in Vietnam (03:00 UTC), outside quiet hours.
TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # the zone and language the settings give by default
LOCALE = "vi"
NOW = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
POLICY = AckReminderPolicy()  # 48 hours, one automatic reminder, at most 3 in all
SENT = NOW - POLICY.after - dt.timedelta(minutes=5)


async def generate(db: Database, args: argparse.Namespace) -> dict[str, int]:
    rng = random.Random(args.seed)
    units: list[dict[str, Any]] = [
        {"id": 1, "code": "LD", "name": "CĐGD tỉnh", "kind": UnitKind.PROVINCE, "path": "/1/"}
    ]
    for uid in range(2, args.units + 1):
        units.append(
            {
                "id": uid,
                "code": f"U{uid:05d}",
                "name": f"Trường {uid}",
                "kind": UnitKind.GRASSROOTS,
                "parent_id": 1,
                "path": f"/1/{uid}/",
            }
        )
    people: list[dict[str, Any]] = [
        {"id": pid, "full_name": f"Người {pid}", "unit_id": rng.randint(2, args.units)}
        for pid in range(1, args.people + 1)
    ]
    linked = [p["id"] for p in people if rng.random() < 0.8]
    chats: list[dict[str, Any]] = [
        {
            "id": i,
            "person_id": pid,
            "channel": Channel.TELEGRAM,
            "external_id": str(7_000_000_000 + pid),
            "stage": ChatStage.LINKED,
            "stopped": rng.random() < 0.02,
        }
        for i, pid in enumerate(linked, start=1)
    ]
    chat_of = {c["person_id"]: c for c in chats}
    notices = [
        {
            "id": n,
            "scope_unit_id": 1,
            "title": f"Thông báo số {n}",
            "body": "Kính gửi {{ ten }}.",
            "status": NoticeStatus.QUEUED,
            "period_year": 2026,
            "queued_at": SENT,
        }
        for n in range(1, args.notices + 1)
    ]
    counted = {"deliveries": 0, "due": 0}

    def outbox_rows() -> Iterator[dict[str, Any]]:
        """The deliveries, made as they are inserted (300,000 dicts at once were ~270 MiB)."""
        for n in range(1, args.notices + 1):
            text = f"📢 <b>Thông báo: Thông báo số {n}</b>\n\n" + "Nội dung thông báo. " * 20
            for p in people:
                c = chat_of.get(p["id"])
                reachable = c is not None and not c["stopped"]
                acknowledged = reachable and rng.random() < 0.6
                counted["deliveries"] += 1
                counted["due"] += reachable and not acknowledged
                yield store.delivery_row(
                    notice_id=n,
                    person_id=p["id"],
                    chat_id=c["id"] if c else None,
                    channel=Channel.TELEGRAM,
                    external_id=c["external_id"] if c else None,
                    text=text,
                    status=DeliveryStatus.SENT if reachable else DeliveryStatus.UNREACHABLE,
                    available_at=SENT,
                    created_at=SENT,
                ) | {
                    "sent_at": SENT if reachable else None,
                    "acknowledged_at": SENT if acknowledged else None,
                }

    async with db.session() as s:  # the roster as ORM objects (their defaults), then the outbox
        for model, rows in (
            (Unit, units),
            (Person, people),
            (ChatIdentity, chats),
            (Notice, notices),
        ):
            s.add_all([model(**row) for row in rows])
            await s.flush()
        made = outbox_rows()
        while chunk := list(itertools.islice(made, 5000)):
            await s.execute(insert(tables.deliveries), chunk)
    return {"people": len(people), "linked": len(linked), **counted}


async def ours(db: Database) -> tuple[list[float], list[int]]:
    times, written = [], []
    for moment in (NOW, NOW, NOW + dt.timedelta(minutes=1)):
        start = time.perf_counter()
        async with db.session() as s:
            written.append(
                await ack_reminder_pass(s, now=moment, policy=POLICY, tz=TZ, default_locale=LOCALE)
            )
        times.append(time.perf_counter() - start)
    return times, written


async def naive(db: Database) -> tuple[float, int]:
    """Per delivery: count its reminders, find the newest chat, add a reminder object."""
    start = time.perf_counter()
    headers = {
        loc: render(REMINDER_TEMPLATE, loc, manual=False) + "\n\n" for loc in REMINDER_LOCALES
    }
    cap = min(POLICY.automatic, POLICY.max_per_person)
    async with db.session() as s:
        since = NOW - POLICY.reach
        notice_ids = (
            await s.execute(
                select(tables.notices.c.id).where(
                    tables.notices.c.status == NoticeStatus.QUEUED,
                    func.coalesce(tables.notices.c.send_at, tables.notices.c.queued_at) >= since,
                )
            )
        ).scalars()
        # The rows themselves in pages of 1,000, each page's reminders flushed and the session
        # emptied: the naive path stays naive (a query per delivery) without holding 94,000
        # ORM objects and their texts at once (1.19 GB of RSS).
        wanted = (
            (
                await s.execute(
                    select(col(Delivery.id))
                    .where(
                        col(Delivery.notice_id).in_(list(notice_ids)),
                        col(Delivery.kind) == DeliveryKind.NOTICE,
                        col(Delivery.status) == DeliveryStatus.SENT,
                        col(Delivery.acknowledged_at).is_(None),
                    )
                    .order_by(col(Delivery.id))
                )
            )
            .scalars()
            .all()
        )
        written = 0
        for page in _pages([i for i in wanted if i is not None], 1000):
            originals = (
                await s.execute(select(Delivery).where(col(Delivery.id).in_(page)))
            ).scalars()
            new = []
            for o in originals:
                if o.sent_at is None or o.sent_at.replace(tzinfo=dt.UTC) > NOW - POLICY.after:
                    continue
                earlier = (
                    await s.execute(select(func.count()).where(col(Delivery.reminds_id) == o.id))
                ).scalar_one()
                if earlier >= cap:
                    continue
                chat = (
                    await s.execute(
                        select(ChatIdentity)
                        .where(
                            col(ChatIdentity.person_id) == o.person_id,
                            col(ChatIdentity.channel) == Channel.TELEGRAM,
                            col(ChatIdentity.stage) == ChatStage.LINKED,
                        )
                        .order_by(col(ChatIdentity.id).desc())
                        .limit(1)
                    )
                ).scalar_one_or_none()
                usable = chat is not None and not chat.stopped and chat.unreachable_at is None
                locale = chat.locale if chat is not None and chat.locale in headers else LOCALE
                new.append(
                    Delivery(
                        kind=DeliveryKind.REMINDER,
                        reminds_id=o.id,
                        person_id=o.person_id,
                        chat_id=chat.id if chat else None,
                        external_id=chat.external_id if chat else None,
                        text=headers[locale] + o.text,
                        ack_button=True,
                        status=DeliveryStatus.QUEUED if usable else DeliveryStatus.UNREACHABLE,
                        available_at=NOW,
                        created_at=NOW,
                    )
                )
            s.add_all(new)
            await s.flush()
            written += len(new)
            s.expunge_all()
    return time.perf_counter() - start, written


def _pages(ids: list[int], size: int) -> Iterator[list[int]]:
    """``ids`` in runs of ``size`` (itertools.batched is Python 3.12's)."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def reminders(db: Database) -> set[tuple[int, int, str]]:
    async with db.session() as s:
        rows = await s.execute(
            select(col(Delivery.reminds_id), col(Delivery.person_id), col(Delivery.status)).where(
                col(Delivery.reminds_id).is_not(None)
            )
        )
        return {(int(a or 0), int(b or 0), str(c)) for a, b, c in rows.all()}


async def main(args: argparse.Namespace) -> int:
    rss: dict[str, float] = {}  # the high-water mark after each stage
    code = await compare(args, rss)
    rss["the end"] = rss_mib()
    peak_mb = rss["the end"] * 1024 * 1024 / 1e6
    verdict = "PASS" if peak_mb < RSS_LIMIT_MB else "FAIL"
    print(
        f"peak RSS (ru_maxrss): {rss['the end']:.0f} MiB ({peak_mb:.0f} MB; "
        f"< {RSS_LIMIT_MB:.0f} MB: {verdict}); the high-water mark after "
        + ", ".join(f"{stage}: {mib:.0f} MiB" for stage, mib in rss.items())
    )
    return code if verdict == "PASS" else 1


async def compare(args: argparse.Namespace, rss: dict[str, float]) -> int:
    """Generate, run both paths, compare; the exit code of that part."""
    rss["the imports"] = rss_mib()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.db"
        db = Database(f"sqlite+aiosqlite:///{source}")
        await upgrade(db)
        clock = time.perf_counter()
        facts = await generate(db, args)
        await db.dispose()
        rss["the generation"] = rss_mib()
        print(
            f"{facts['people']:,} people ({facts['linked']:,} linked), {args.notices} notices, "
            f"{facts['deliveries']:,} deliveries, {facts['due']:,} sent and not acknowledged "
            f"(generated in {time.perf_counter() - clock:.1f} s)"
        )
        results = {}
        for name in ("ours", "naive")[: 1 if args.ours_only else 2]:
            copy = Path(tmp) / f"{name}.db"
            shutil.copyfile(source, copy)
            db = Database(f"sqlite+aiosqlite:///{copy}")
            if name == "ours":
                before = rss_mib()
                times, written = await ours(db)
                results[name] = (times[0], written[0])
                print(
                    f"ours : {written[0]:,} reminders in {times[0]:.2f} s "
                    f"(RSS high-water {before:.0f} → {rss_mib():.0f} MiB); again at the same "
                    f"moment: {written[1]} in {times[1]:.2f} s; a minute later (a tick with "
                    f"nothing due): {written[2]} in {times[2]:.2f} s"
                )
                if written[1] or written[2]:
                    print("FAIL: a repeated pass wrote reminders")
                    return 1
            else:
                seconds, count = await naive(db)
                results[name] = (seconds, count)
                print(f"naive: {count:,} reminders in {seconds:.2f} s")
            results[name + "_rows"] = await reminders(db)  # type: ignore[assignment]
            await db.dispose()
            rss[name] = rss_mib()
        if args.ours_only:
            return 0
        if results["ours_rows"] != results["naive_rows"]:
            print("FAIL: the two paths wrote different reminders")
            return 1
        print(f"ratio: naive / ours = {results['naive'][0] / results['ours'][0]:.1f}×")
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--units", type=int, default=700)
    parser.add_argument("--notices", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ours-only", action="store_true", help="skip the naive path")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
