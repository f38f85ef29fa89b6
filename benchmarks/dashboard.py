"""Dashboard benchmark: the province's Chỉ tiêu page over 3 million answers, beside ``/stats``.

    uv run python benchmarks/dashboard.py            # full size, the file in a temporary directory
    uv run python benchmarks/dashboard.py --keep /tmp/bench_indicators.sqlite
                                        # build the file once, reuse it on the next runs (the
                                        # same file as indicator_report.py --keep makes)
    uv run python benchmarks/dashboard.py --quick    # smoke run: 70 units, 3,000 people,
                                                     # 300,000 answers

The synthetic province of ``indicator_report.py`` (its generator, run in a child process so
that its memory does not count here): 1 province → 12 districts → CĐCS to ``--units`` units,
``--people`` people, five years of answers, exactly ``--answers`` rows in ``answers``.  The
measurement runs on a copy of the file (it writes: the tallies, the admin, the web session),
brought to the code's schema, every indicator tally deleted first, and one person of the roster
(the lowest id) made the province's admin.

Then, in this process, on one ``storage.db.Database`` (aiosqlite):

- the real dashboard, ``build_web_app(web_context(settings, db, catalog))``, served by aiohttp's
  ``AppRunner`` / ``TCPSite`` on 127.0.0.1 (a free port); the admin signs in through the real
  link flow (``web_access.issue_link``, the link's page GET, its button POST, the session
  cookie kept in the client's jar);
- ``GET /chi-tieu`` (the province, ``--year``: this year by default, asked without parameters
  then) over HTTP with an aiohttp client in the same event loop (so a request's time includes
  the client's own work, ~1 ms): the first request from cold (it computes every tally of the
  year), then ``--runs`` warm requests;
- interleaved with those, ``--runs`` times what the chat does for ``/stats``:
  ``compute_stats`` for the province and the year in a session, then
  ``render("stats.txt", "vi", report=report)``.

Every page must be a 200 holding the year's title, the province's name, every indicator code of
the ``/stats`` report and each of its computed figures (numerator/denominator as the page
writes them); then one more page and one more ``/stats`` with every SQL statement timed
(cursor events), ``GET /static/style.css`` ``--runs`` times (the HTTP floor), and with
``--profile N`` (or when the page is over the limit) N more pages under cProfile (server and
client share the loop: both are in it; SQLite's own work is on aiosqlite's thread, outside it,
and shows in the statement times).

Once the server is up, ``bot.runtime.settle_memory()`` runs as ``congdoan serve`` runs it
(``gc.freeze()`` of what is loaded, a higher gen-0 threshold, a short switch interval);
``--no-settle`` leaves Python's defaults, as ``congdoan web`` serves the dashboard alone.  The
collector's collections during the timed runs are counted (full ones timed).

Printed: the data size, the cold request, the warm median / p95 / max of the page and the
median of ``/stats`` (ms), ``ratio`` = page median / ``/stats`` median, the verdicts against
300 ms (median, and p95 as the stricter reading), and the peak RSS (``ru_maxrss``) with its
high-water mark after each stage (and the generating child's, when it ran).  Exits 1 when a
page is wrong, the page's p95 is 300 ms or more, or a process peaks at 300 MB or more.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import datetime as dt
import gc
import math
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, CookieJar, web  # noqa: E402
from markupsafe import escape  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlmodel import col  # noqa: E402

from benchmarks import indicator_report as province  # noqa: E402
from benchmarks.memory import RSS_LIMIT_MB, rss_mib  # noqa: E402
from bot.indicators import Catalog, StatsReport, compute_stats, load_catalog  # noqa: E402
from bot.services import web_access  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.texts import format_int, render  # noqa: E402
from bot.web.common import url  # noqa: E402
from bot.web.server import COOKIE, build_web_app, web_context  # noqa: E402
from storage import people  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Person, Role, utcnow  # noqa: E402

LIMIT_MS = 300.0
FULL = {"units": 700, "people": 30_000, "answers": 3_000_000}
QUICK = {"units": 70, "people": 3_000, "answers": 300_000}
AUTO_PROFILE = 10  # pages profiled when the page is over the limit and --profile is 0
PAGE = "/chi-tieu"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def p95(values: Sequence[float]) -> float:
    """The 95th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# -- the file -------------------------------------------------------------------------------------


def provide(path: Path, args: argparse.Namespace, directory: Path) -> province.Peak | None:
    """The province's file: kept as it is when it exists, else generated by
    ``indicator_report.py`` in a child process (timed); that process's peak RSS."""
    if path.exists():
        print(f"{path}: exists, generation skipped (measured as it is)")
        return None
    given = {k: getattr(args, k) for k in ("people", "units", "answers", "year", "seed")}
    generation = province.parse([part for k, v in given.items() for part in (f"--{k}", str(v))])
    start = time.perf_counter()
    peak = province.generate_file(path, generation, directory)
    print(
        f"{path}: generated in {time.perf_counter() - start:.0f} s (child process, peak RSS "
        f"{peak[0]:.0f} MiB)"
    )
    return peak


def describe(path: Path, args: argparse.Namespace) -> None:
    """The data size, from the file; a warning when a kept file is not the size asked for."""
    counts, details, _ = province.db_facts(path, args.year)
    print(f"database: {path} ({path.stat().st_size / 1e6:,.0f} MB)")
    print("rows: " + ", ".join(f"{n:,} {table}" for table, n in counts.items()))
    print("  of which " + ", ".join(f"{n:,} {what}" for what, n in details.items()))
    held = {"units": counts["units"], "people": counts["people"], "answers": counts["answers"]}
    asked = {k: getattr(args, k) for k in held}
    if held != asked:
        print(f"  (asked for {asked}; the file holds {held}: measured as it is)")


# -- the measurement ------------------------------------------------------------------------------


async def make_admin(db: Database) -> tuple[int, int, str]:
    """Every tally deleted (the first page computes them), and the person of the lowest id
    made the province's admin.  (admin id, province id, province name)"""
    async with db.session(write=True) as s:
        await s.execute(text("DELETE FROM indicator_tallies"))
        root = await people.root_unit(s)
        person = (
            await s.execute(select(Person).order_by(col(Person.id)).limit(1))
        ).scalar_one_or_none()
        if root is None or root.id is None or person is None or person.id is None:
            raise SystemExit("the file has no province or no people")
        person.role, person.officer_unit_id = Role.ADMIN, None
        return person.id, root.id, root.name


async def sign_in(client: ClientSession, link: str) -> None:
    """The link's page, then its button: the session cookie is in the client's jar."""
    async with client.get(link, allow_redirects=False) as page:
        if page.status != 200:
            raise SystemExit(f"sign-in page: HTTP {page.status}")
    async with client.post(link, allow_redirects=False) as done:
        if done.status != 303 or done.headers.get("Location") != PAGE:
            raise SystemExit(f"sign-in: HTTP {done.status} to {done.headers.get('Location')}")
    if not any(cookie.key == COOKIE for cookie in client.cookie_jar):
        raise SystemExit("sign-in: no session cookie in the jar")


async def get_page(client: ClientSession, address: str) -> tuple[float, int, str]:
    """One page over HTTP: its time (headers and the whole body), status, body."""
    start = time.perf_counter()
    async with client.get(address, allow_redirects=False) as response:
        body = await response.text()
        status = response.status
    return time.perf_counter() - start, status, body


@dataclass
class StatsRun:
    """One ``/stats`` as the chat makes it: the report (in a session), then its text."""

    computed: float  # seconds: compute_stats and the session's commit
    total: float  # seconds: and the text rendered
    report: StatsReport
    message: str


async def stats_once(db: Database, scope: int, year: int, catalog: Catalog) -> StatsRun:
    start = time.perf_counter()
    async with db.session(write=True) as s:
        report = await compute_stats(s, scope_unit_id=scope, year=year, catalog=catalog)
    computed = time.perf_counter()
    message = render("stats.txt", "vi", report=report)
    return StatsRun(computed - start, time.perf_counter() - start, report, message)


def page_problems(status: int, body: str, report: StatsReport, name: str) -> list[str]:
    """What is wrong with a page of the province's indicators (nothing: an empty list)."""
    if status != 200:
        return [f"HTTP {status}"]
    if not report.rows:
        return ["the /stats report has no indicator to look for"]
    wanted = [f"Chỉ tiêu năm {report.year}", str(escape(name))]
    wanted += [f">{row.code}</a>" for row in report.rows]
    wanted += [
        f"{format_int(row.numerator)}/{format_int(row.denominator)}"
        for row in report.rows
        if row.rate is not None
    ]
    return [f"missing {w!r}" for w in wanted if w not in body]


def print_statements(label: str, wall: float, timer: province.StatementTimer) -> None:
    total = sum(t for t, _, _ in timer.statements)
    print(
        f"  {label}: {ms(wall)} ms wall, of which {ms(total)} ms in "
        f"{len(timer.statements)} SQL statements; the slowest:"
    )
    for seconds, sql, _ in sorted(timer.statements, key=lambda s: s[0], reverse=True)[:3]:
        print(f"    {ms(seconds):>7} ms  {' '.join(sql.split())[:110]}")


AREAS = (  # where a function's own time goes, by the path of its file
    ("templates (Jinja2)", ("/jinja2/", "/templates/", "/markupsafe/")),
    ("SQLAlchemy", ("/sqlalchemy/", "/sqlmodel/", "greenlet")),
    ("the project (bot/, storage/)", ("/bot/", "/storage/")),
    ("aiohttp (server and client)", ("/aiohttp/", "/multidict/", "/yarl/", "/propcache/")),
    ("asyncio", ("/asyncio/",)),
)


def area(file_name: str, function: str) -> str:
    if "epoll" in function:
        return "idle: waiting on the sockets and SQLite's thread (epoll)"
    if "SimpleQueue" in function:
        return "handing statements to SQLite's thread (queue put, the GIL)"
    if file_name == "~":
        return "built-ins (getattr, hasattr, …, called from all of these)"
    for name, parts in AREAS:
        if any(part in file_name for part in parts):
            return name
    return "other"


def print_profile(profile: cProfile.Profile, pages: int, wall: float) -> None:
    """Own time (tottime) per page: by area, then the top functions.  (Cumulative times are
    not printed: SQLAlchemy's greenlet switches break cProfile's call stacks of coroutines.)"""
    found = pstats.Stats(profile).get_stats_profile().func_profiles
    by_area: dict[str, float] = {}
    for name, f in found.items():
        key = area(f.file_name, name)
        by_area[key] = by_area.get(key, 0.0) + f.tottime
    print(
        f"cProfile over {pages} more pages ({ms(wall / pages)} ms a page under the profiler; "
        "server and client share the loop); own time per page, by area:"
    )
    for name, seconds in sorted(by_area.items(), key=lambda kv: kv[1], reverse=True):
        print(f"    {ms(seconds / pages):>7} ms  {name}")
    print("  the top 15 functions by own time, per page:")
    for name, f in sorted(found.items(), key=lambda kv: kv[1].tottime, reverse=True)[:15]:
        where = f.file_name.split("/site-packages/")[-1].split("/main/")[-1]
        print(f"    {ms(f.tottime / pages):>7} ms  {where}:{f.line_number}({name})")


class Collections:
    """The garbage collector's collections while it is watching: (generation, seconds)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []
        self._started = 0.0

    def __enter__(self) -> Collections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seen.append((info["generation"], time.perf_counter() - self._started))

    def summary(self) -> str:
        full = [seconds for generation, seconds in self.seen if generation == 2]
        longest = f", the longest {ms(max(full))} ms" if full else ""
        return f"{len(self.seen)} collections, {len(full)} of them full{longest}"


@dataclass
class Measured:
    cold: float = 0.0
    pages: list[float] = field(default_factory=list)
    stats: list[StatsRun] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)  # GET of the stylesheet
    problems: list[str] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)  # high-water after each stage
    generation: province.Peak | None = None  # the generating child's peak RSS, if it ran
    collections: str = ""  # during the timed runs


async def measure(path: Path, args: argparse.Namespace, generation: province.Peak | None) -> int:
    settings = load_settings()
    catalog = load_catalog()
    this_year = dt.datetime.now(settings.tz).year
    address = PAGE if args.year == this_year else url(PAGE, year=args.year)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)  # a file kept from an older schema: brought to the code's
    admin, scope, name = await make_admin(db)
    m = Measured(generation=generation)
    m.rss["the imports"] = rss_mib()
    context = web_context(settings, db, catalog)
    m.rss["web_context (no aiogram: bot.runtime)"] = rss_mib()
    runner = web.AppRunner(build_web_app(context), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{int(runner.addresses[0][1])}"
    context.policy = dataclasses.replace(context.policy, base_url=base)
    try:
        async with db.session(write=True) as s:
            link = await web_access.issue_link(
                s, person_id=admin, policy=context.policy, now=utcnow()
            )
        if link is None:
            raise SystemExit("no sign-in link for the admin")
        jar = CookieJar(unsafe=True)  # an IP address: a plain jar keeps no cookie for it
        async with ClientSession(base, cookie_jar=jar) as client:
            await sign_in(client, link.removeprefix(base))
            m.rss["the server up, signed in"] = rss_mib()
            if not args.no_settle:  # as `congdoan serve` does once started
                from bot.runtime import settle_memory

                settle_memory()
            m.cold, status, body = await get_page(client, address)
            m.rss["the cold page"] = rss_mib()
            run = await stats_once(db, scope, args.year, catalog)
            m.problems += [f"cold page: {p}" for p in page_problems(status, body, run.report, name)]
            size = len(body.encode())
            with Collections() as watch:
                for i in range(args.runs):  # the page and /stats in turn: the same load on both
                    seconds, status, body = await get_page(client, address)
                    m.pages.append(seconds)
                    m.problems += [
                        f"page {i + 1}: {p}" for p in page_problems(status, body, run.report, name)
                    ]
                    run = await stats_once(db, scope, args.year, catalog)
                    m.stats.append(run)
            m.collections = watch.summary()
            for _ in range(args.runs):
                m.floor.append((await get_page(client, "/static/style.css"))[0])
            m.rss["the warm runs"] = rss_mib()

            print(f"\n== {address} of {name}, {args.year} (the admin, signed in by link) ==")
            print(
                f"page: {size:,} bytes, {len(run.report.rows)} indicators; /stats text: "
                f"{len(run.message):,} characters"
            )
            print(f"statements of one request each (after the timed runs), on {db.dialect}:")
            timer = province.StatementTimer(db.engine)
            wall, _, _ = await get_page(client, address)
            timer.close()
            print_statements("page", wall, timer)
            timer = province.StatementTimer(db.engine)
            wall = (await stats_once(db, scope, args.year, catalog)).total
            timer.close()
            print_statements("/stats", wall, timer)

            over = p95(m.pages) * 1000 >= LIMIT_MS
            pages = args.profile or (AUTO_PROFILE if over else 0)
            if pages:
                profile = cProfile.Profile()
                start = time.perf_counter()
                profile.enable()
                for _ in range(pages):
                    await get_page(client, address)
                profile.disable()
                print_profile(profile, pages, time.perf_counter() - start)
    finally:
        await runner.cleanup()
        await db.dispose()
    m.rss["the end"] = rss_mib()
    return report(m, args)


def report(m: Measured, args: argparse.Namespace) -> int:
    """The figures, printed; the exit code."""
    page_median, page_p95 = statistics.median(m.pages), p95(m.pages)
    totals = [r.total for r in m.stats]
    stats_median = statistics.median(totals)
    computed = statistics.median(r.computed for r in m.stats)
    print(f"\nfirst request, cold (every tally of {args.year} computed): {ms(m.cold)} ms")
    print(
        f"page, warm, {args.runs} requests: median {ms(page_median)} ms, p95 {ms(page_p95)} ms, "
        f"max {ms(max(m.pages))} ms (min {ms(min(m.pages))})"
    )
    print(
        f"  for reference, GET /static/style.css over the same connection (the HTTP floor): "
        f"median {ms(statistics.median(m.floor))} ms"
    )
    print(
        f"/stats (compute_stats + stats.txt), {args.runs} times: median {ms(stats_median)} ms "
        f"(compute_stats {ms(computed)} ms), p95 {ms(p95(totals))} ms, max {ms(max(totals))} ms"
    )
    print(f"ratio page / stats (medians): {page_median / stats_median:.2f}×")
    settled = "not settled (--no-settle)" if args.no_settle else "settle_memory() as `serve` does"
    print(f"garbage collector ({settled}), during the timed runs: {m.collections}")
    verdict = {True: "PASS", False: "FAIL"}
    print(
        f"page < {LIMIT_MS:.0f} ms: median {verdict[page_median * 1000 < LIMIT_MS]}; "
        f"p95 (the stricter reading) {verdict[page_p95 * 1000 < LIMIT_MS]}"
    )
    peak_mb = m.rss["the end"] * 1024 * 1024 / 1e6
    small = peak_mb < RSS_LIMIT_MB
    print(
        f"peak RSS (ru_maxrss): {m.rss['the end']:.0f} MiB ({peak_mb:.0f} MB; "
        f"< {RSS_LIMIT_MB:.0f} MB: {verdict[small]}); the high-water mark after "
        + ", ".join(f"{stage}: {mib:.0f} MiB" for stage, mib in m.rss.items())
    )
    if m.generation is not None:
        child_mb = m.generation[0] * 1024 * 1024 / 1e6
        small &= child_mb < RSS_LIMIT_MB
        print(
            f"  the generating child process: {m.generation[0]:.0f} MiB ({child_mb:.0f} MB; "
            f"< {RSS_LIMIT_MB:.0f} MB: {verdict[child_mb < RSS_LIMIT_MB]}; VmHWM "
            f"{m.generation[1]:.0f} MiB)"
        )
    if m.problems:
        print(f"pages WRONG ({len(m.problems)}):")
        for problem in m.problems[:10]:
            print(f"  {problem}")
    else:
        print(f"pages: all {args.runs + 1} were 200 with every indicator code and figure")
    return 1 if m.problems or page_p95 * 1000 >= LIMIT_MS or not small else 0


def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench_dashboard_") as tmp:
        directory = Path(tmp)
        path = Path(args.keep) if args.keep else directory / "province.sqlite"
        generation = provide(path, args, directory)
        describe(path, args)
        scratch = directory / "measured.sqlite"
        start = time.perf_counter()
        province.copy_with(path, scratch, "")
        print(f"measured on a copy of it ({time.perf_counter() - start:.1f} s to copy)")
        return asyncio.run(measure(scratch, args, generation))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller province: 70 units, 3,000 people, 300,000 answers",
    )
    parser.add_argument("--units", type=int, help="all units (700; quick 70)")
    parser.add_argument("--people", type=int, help="30,000; quick 3,000")
    parser.add_argument("--answers", type=int, help="rows of answers (3,000,000; quick 300,000)")
    parser.add_argument("--year", type=int, help="the year of the data and of the page (this year)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=30, help="warm pages and /stats (30)")
    parser.add_argument(
        "--keep",
        metavar="PATH",
        help="the SQLite file to keep (reused, not regenerated, if it exists; indicator_report.py "
        "--keep makes the same file)",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="leave the garbage collector and the switch interval at Python's defaults (as "
        "`congdoan web` runs the dashboard alone) instead of bot.runtime.settle_memory() (as "
        "`congdoan serve` does once started)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help=f"N more pages under cProfile (default 0: {AUTO_PROFILE} when the page is over "
        f"{LIMIT_MS:.0f} ms)",
    )
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.year is None:
        args.year = dt.datetime.now(load_settings().tz).year
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(main(parse()))
