"""Indicator-report benchmark: a full province report over five years of survey answers.

    uv run python benchmarks/indicator_report.py                 # SQLite in a temporary file
    uv run python benchmarks/indicator_report.py --keep /tmp/bench_indicators.sqlite
                                        # build the file once, reuse it on the next runs
    uv run python benchmarks/indicator_report.py --keep /tmp/bench_indicators.sqlite \
        --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test [--keep-postgres]
                                        # and the same on a PostgreSQL copy, for information

A synthetic province (1 province → 12 districts → CĐCS to a total of ``--units`` units, ~30% of
the CĐCS non-public) with ``--people`` people (~92% union members) answers surveys in chat from
``--year`` − 4 to ``--year``: each year a unit report (per-unit run, ~85% of the CĐCS, a few
twice: the later one supersedes), a training survey (when ``training_participation`` is
shipped), the standing welfare sign-up (one provincial run a year, a benefit per completed
sign-up, some confirmed), hardship reports and legal requests (a run per report, a case per
completed one); the report year also has two activity surveys and 6 notices delivered to the
members (~70% acknowledged). The earlier years carry as many more activity campaigns as it takes
for ``answers`` to hold exactly ``--answers`` rows: most of the table is history the report must
skip. Answers are written as the bot writes them (``answers.value`` JSON: ``true``, ``"tot"``,
``3``, ``["van_nghe"]``, ``null`` for a skipped optional question), following each definition's
questions and ``show_if`` conditions; ~4% of the responses are in progress, ~2% abandoned, ~3%
of the completed ones anonymous-style (person cut, a participation row). Everything is bulk Core
``insert()`` (executemany, a transaction per year) and reproducible for a given ``--seed``.

Statistics: the bot runs ``ANALYZE`` only after a roster import of 1,000 rows or more
(``storage.roster.refresh_statistics``); ``storage/db.py`` and ``storage/migrate.py`` never do.
So the generation analyzes once after writing the roster, as the import would, and the survey
tables (filled afterwards) have no statistics.  The measurement runs on that file; the same
figures on a copy analyzed after the generation (as a later roster import would leave it) and
on a copy without any statistics are printed for information.

Measured in a fresh process (so that the generation does not inflate its RSS), through one
``storage.db.Database`` (aiosqlite; asyncpg for PostgreSQL), on a copy of the file brought to
the code's schema (the measurement writes), every indicator tally deleted first:
``bot.indicators.compute.compute_stats`` for the province and ``--year`` with the shipped
catalog (every computed indicator, split public/non-public and by district) once from cold
(every tally of the year computed), then ``--runs`` times with nothing stale (what the issue's
criteria judge), then ``--runs`` times with ``tallies=False`` (the same figures computed from
the facts every time, storing nothing: the comparison); ``SELECT count(*) FROM answers``
``--runs`` times, in the same run; one more report with every statement timed (cursor events):
the slowest are printed with their time (``--plans N``: and the query plans of the N slowest).
Then three rounds of live traffic: in each, about 330 answers arrive in 40 CĐCS (5 people each
answer the year's first activity survey, each in a transaction of its own, as the bot writes
them) and one report is timed, which recomputes those units' tallies; each round's figures
are compared with the facts'.  Criteria (from the issue): the report's median under 1 s and
under 3× the count's median, the process's peak RSS (``ru_maxrss``, at its end) under 300 MB;
and the tallies' figures equal to the facts' (before and after the live answers).  Exits 1 when
one fails, or when any other process of the run (the generation, the measurements of the
variants, this one: each printed with its peak at the end) peaks at 300 MB or more.  For
reference, the script also prints how SQLite answers the count (from the entries of an index,
reading no row) and the time of a statement that does read every row of ``answers``.

PostgreSQL (``--postgres URL``, for information): once the SQLite file exists, the schema
``--postgres-schema`` (``bench_indicators``; nothing else of the database is touched) is dropped,
created and migrated (``storage.migrate.upgrade``, the connections' ``search_path`` set to it),
every table's rows are copied from the file, parents first, by binary ``COPY`` in batches, the id
sequences set past the copied ids, and the tables get ``VACUUM ANALYZE`` (autovacuum would do
that on a server).  ``--keep-postgres`` skips all that when the schema's comment (written last)
shows it filled from the same rows.  Then the same measurement runs there in a fresh process
(``EXPLAIN`` for the plans; asyncpg prepares every statement and, after 5 runs on the pooled
connection, the plan cache may switch to a generic plan, planned without the values: each slow
statement says which plan it ran with, from ``pg_prepared_statements``, and a generic one is
explained as such) and is printed in a section of its own, the criteria marked as information:
the exit code stays SQLite's, except that it is 1 too when the report's figures on PostgreSQL
differ from SQLite's (a cross-check of the SQL on both engines).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Boolean, DateTime, Table, event, insert, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine  # noqa: E402
from sqlalchemy.types import TypeDecorator  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from benchmarks.memory import RSS_LIMIT_MB, rss_mib, vmhwm_mib  # noqa: E402
from bot.indicators.catalog import TargetKind, load_catalog  # noqa: E402
from bot.indicators.compute import StatsReport, compute_stats  # noqa: E402
from storage import notices as notice_store  # noqa: E402
from storage.db import Database, normalize_url  # noqa: E402
from storage.indicators import fold_changes  # noqa: E402
from storage.migrate import head_revision, upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    BenefitStatus,
    CaseKind,
    CaseStatus,
    Channel,
    DeliveryStatus,
    Gender,
    NoticeStatus,
    ResponseState,
    Role,
    RunStatus,
    UnitKind,
)
from storage.people import root_unit  # noqa: E402
from storage.roster import refresh_statistics  # noqa: E402
from surveys import builtin_definitions, definition_checksum, definition_to_json  # noqa: E402
from surveys.schema import AnswerValue, Condition, Question, QuestionKind  # noqa: E402
from surveys.schema import SurveyDefinition as Definition  # noqa: E402

UTC = dt.UTC
TABLES: dict[str, Table] = dict(SQLModel.metadata.tables)
# Rows are buffered across tables and written parents first, so foreign keys always resolve.
WRITE_ORDER = (
    "survey_runs",
    "responses",
    "participations",
    "answers",
    "cases",
    "welfare_benefits",
    "notices",
    "deliveries",
)
BATCH = 20_000  # rows buffered before an executemany round
COUNT = "SELECT count(*) FROM answers"
READ_ALL = "SELECT sum(length(value)) FROM answers"  # for reference: reads every row
COUNTED = ("units", "people", "survey_definitions", *WRITE_ORDER)  # printed after generation
EXPLAIN = {"sqlite": "EXPLAIN QUERY PLAN", "postgresql": "EXPLAIN"}  # by dialect

# The PostgreSQL copy (--postgres): every table of the models, parents first.
SCHEMA = "bench_indicators"
# Not the tallies (derived: the copy's first report computes them) nor the indicator change
# log (transient); a version row per unit is written after the copy.
COPY_ORDER = tuple(
    table.name
    for table in SQLModel.metadata.sorted_tables
    if table.name not in ("indicator_tallies", "indicator_versions", "indicator_changes")
)
COPY_BATCH = 50_000  # rows a COPY

ACTIVITY = "activity_participation"
TRAINING = "training_participation"
WELFARE = "welfare_signup"
UNIT_REPORT = "unit_report"
HARDSHIP = "hardship_case"
LEGAL = "legal_consultation"

# Per 30,000 people, each year.
WELFARE_PER_YEAR = 5_000
HARDSHIP_PER_YEAR = 300
LEGAL_PER_YEAR = 120
NOTICES = 6

# A person asked to answer a campaign: completed / in progress / abandoned / nothing.
COMPLETED_SHARE = 0.80
IN_PROGRESS_SHARE = 0.04
ABANDONED_SHARE = 0.02
ANONYMOUS_SHARE = 0.03  # of the completed: the person cut, a participation row kept

# yes/no questions: the share of "yes" (one number, or (public CĐCS, non-public CĐCS)).
YES_SHARE: dict[str, float | tuple[float, float]] = {
    "activity_participation.participated": 0.72,
    "training_participation.participated": 0.83,
    "unit_report.womens_committee_eligible": 0.6,
    "unit_report.womens_committee": 0.85,
    "unit_report.coordination_rules": (0.9, 0.55),
    "unit_report.collective_agreement": (0.12, 0.7),
    "unit_report.financial_audit": (0.85, 0.6),
    "hardship_case.urgent": 0.25,
}
DEFAULT_YES = 0.8

DISTRICTS = (
    "Đà Lạt", "Bảo Lộc", "Lạc Dương", "Đơn Dương", "Đức Trọng", "Lâm Hà", "Đam Rông",
    "Di Linh", "Bảo Lâm", "Đạ Huoai", "Đạ Tẻh", "Cát Tiên",
)  # fmt: skip
SCHOOL_KINDS = (
    "Trường Mầm non", "Trường Tiểu học", "Trường THCS", "Trường TH&THCS", "Trường THPT",
    "Trung tâm GDNN-GDTX",
)  # fmt: skip
SCHOOL_NAMES = (
    "Lê Lợi", "Quang Trung", "Nguyễn Du", "Chu Văn An", "Trần Phú", "Hùng Vương", "Kim Đồng",
    "Võ Thị Sáu", "Lý Tự Trọng", "Phan Bội Châu", "Nguyễn Trãi", "Hoa Hồng", "Sơn Ca",
    "Họa Mi", "Bình Minh", "Ka Đô", "Lộc Thanh", "Tân Hà", "Đinh Văn", "Liên Nghĩa",
)  # fmt: skip
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "K'", "Ka")
MIDDLE = ("Thị", "Văn", "Ngọc", "Minh", "Thanh", "Hoài", "Đức", "Kim", "Quốc", "Bảo")
GIVEN = (
    "An", "Bích", "Cường", "Diệp", "Dung", "Hạnh", "Hòa", "Hùng", "Hương", "Khoa", "Lan",
    "Liên", "Loan", "Mai", "My", "Nga", "Nhàn", "Oanh", "Phong", "Phượng", "Quyên", "Sang",
    "Thủy", "Tín", "Trâm", "Uyên", "Vinh", "Xuân", "Yến", "H'Hen",
)  # fmt: skip
PHRASES = (
    "Mong công đoàn tổ chức thêm hoạt động cho giáo viên vùng xa.",
    "Đề nghị thông báo sớm hơn để sắp xếp công việc.",
    "Cần hỗ trợ chi phí đi lại cho đoàn viên ở điểm trường lẻ.",
    "Gia đình khó khăn, chồng bị bệnh nặng, con còn nhỏ.",
    "Nhà bị hư hỏng sau đợt mưa lớn, cần hỗ trợ sửa chữa.",
    "Không có ý kiến thêm, cảm ơn công đoàn.",
)


Peak = tuple[float, float]  # a process's ru_maxrss and VmHWM at its end, MiB


# -- the synthetic province -----------------------------------------------------------------------

Row = tuple[str, dict[str, Any]]


@dataclass
class Province:
    year: int
    seed: int
    definitions: dict[str, tuple[int, Definition]]  # key → (row id, definition)
    cdcs: list[int] = field(default_factory=list)
    public: dict[int, bool] = field(default_factory=dict)
    members_of: dict[int, list[int]] = field(default_factory=dict)  # CĐCS → its people
    unit_of: list[int] = field(default_factory=list)  # person id → unit id (index 0 unused)
    member: list[bool] = field(default_factory=list)
    name: list[str] = field(default_factory=list)

    @property
    def people(self) -> int:
        return len(self.unit_of) - 1

    def scaled(self, per_30000: int) -> int:
        return max(1, round(per_30000 * self.people / 30_000))

    def rng(self, *part: object) -> random.Random:
        """A generator of its own for each part, so that a part can be counted beforehand."""
        return random.Random(":".join(str(p) for p in (self.seed, *part)))


class Ids:
    """Sequential primary keys, per table."""

    def __init__(self) -> None:
        self.last: Counter[str] = Counter()

    def take(self, table: str) -> int:
        self.last[table] += 1
        return self.last[table]


def at(year: int, month: int, day: int, hour: int = 2) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def build_roster(
    args: argparse.Namespace, definitions: dict[str, tuple[int, Definition]]
) -> tuple[Province, list[dict[str, Any]], list[dict[str, Any]]]:
    """Units and people (rows for the insert), and the province they describe."""
    p = Province(year=args.year, seed=args.seed, definitions=definitions)
    rng = p.rng("roster")
    created = at(args.year - 5, 8, 1)
    stamp = {"created_at": created, "updated_at": created}
    units: list[dict[str, Any]] = [
        {
            "id": 1,
            "code": "LD",
            "name": "Công đoàn Giáo dục tỉnh Lâm Đồng",
            "kind": UnitKind.PROVINCE,
            "parent_id": None,
            "path": "/1/",
            "is_public": True,
            "staff_count": 0,
            **stamp,
        }
    ]
    n_districts = max(1, min(12, (args.units - 1) // 10))
    districts = list(range(2, 2 + n_districts))
    for i, uid in enumerate(districts):
        name = DISTRICTS[i] if i < len(DISTRICTS) else f"Cụm {i + 1}"
        units.append(
            {
                "id": uid,
                "code": f"H{i + 1:02d}",
                "name": f"Công đoàn ngành Giáo dục {name}",
                "kind": UnitKind.DISTRICT,
                "parent_id": 1,
                "path": f"/1/{uid}/",
                "is_public": True,
                "staff_count": 0,
                **stamp,
            }
        )
    for uid in range(2 + n_districts, args.units + 1):
        district = rng.choice(districts)
        public = rng.random() >= 0.3
        kind = rng.choice(SCHOOL_KINDS)
        label = f"{kind}{'' if public else ' tư thục'} {rng.choice(SCHOOL_NAMES)} ({uid})"
        units.append(
            {
                "id": uid,
                "code": f"CS{uid:04d}",
                "name": label,
                "kind": UnitKind.GRASSROOTS,
                "parent_id": district,
                "path": f"/1/{district}/{uid}/",
                "is_public": public,
                "staff_count": 0,  # set below, once the people are placed
                **stamp,
            }
        )
        p.cdcs.append(uid)
        p.public[uid] = public
        p.members_of[uid] = []
    if not p.cdcs:
        raise SystemExit("--units leaves no CĐCS: use at least 3 units")
    # Every CĐCS gets a few people, the rest go by a skewed size (schools differ a lot).
    weights = [rng.lognormvariate(0.0, 0.6) for _ in p.cdcs]
    placed = [p.cdcs[i % len(p.cdcs)] for i in range(min(args.people, 3 * len(p.cdcs)))]
    placed += rng.choices(p.cdcs, weights=weights, k=args.people - len(placed))
    rng.shuffle(placed)
    p.unit_of = [0, *placed]
    p.member = [False] + [rng.random() < 0.92 for _ in placed]
    p.name = [""] + [person_name(rng) for _ in placed]
    for pid, uid in enumerate(placed, start=1):
        p.members_of[uid].append(pid)
    officers = {ids[0]: uid for uid, ids in p.members_of.items() if ids}
    people = [
        {
            "id": pid,
            "full_name": p.name[pid],
            "phone": f"09{pid:08d}" if rng.random() < 0.7 else None,
            "staff_code": f"GV{pid:06d}",
            "unit_id": uid,
            "is_member": p.member[pid],
            "gender": rng.choice((Gender.FEMALE, Gender.FEMALE, Gender.MALE)),
            "role": Role.OFFICER if pid in officers else Role.MEMBER,
            "officer_unit_id": officers.get(pid),
            "tags": "",
            "weekly_digest": True,
            **stamp,
        }
        for pid, uid in enumerate(placed, start=1)
    ]
    for row in units:
        uid = row["id"]
        if uid in p.members_of:
            n = len(p.members_of[uid])
            row["staff_count"] = 0 if rng.random() < 0.03 else n + rng.randint(0, max(1, n // 8))
    return p, units, people


def visible(condition: Condition | None, given: dict[str, AnswerValue]) -> bool:
    if condition is None:
        return True
    value = given.get(condition.question)
    if value is None:
        return False
    if isinstance(value, bool):
        return ("yes" if value else "no") in condition.values
    if isinstance(value, list):
        return any(v in condition.values for v in value)
    return str(value) in condition.values


def value_for(
    key: str,
    q: Question,
    given: dict[str, AnswerValue],
    rng: random.Random,
    public: bool,
    year: int,
) -> AnswerValue:
    """A plausible answer to one question, of the type the survey engine stores."""
    name = f"{key}.{q.key}"
    kind = q.kind
    if not q.required and kind in (QuestionKind.TEXT, QuestionKind.PHONE) and rng.random() < 0.8:
        return None  # skipped ("bỏ qua")
    if kind is QuestionKind.YES_NO:
        share = YES_SHARE.get(name, DEFAULT_YES)
        if isinstance(share, tuple):
            share = share[0] if public else share[1]
        return rng.random() < share
    if kind is QuestionKind.SINGLE:
        values = q.option_values
        return rng.choices(values, weights=range(len(values), 0, -1))[0]
    if kind is QuestionKind.MULTI:
        chosen = [v for v in q.option_values if rng.random() < 0.3]
        return chosen or [rng.choice(q.option_values)]
    if kind is QuestionKind.INTEGER:
        low = q.min_value if q.min_value is not None else 0
        high = q.max_value if q.max_value is not None else low + 100
        if name == "unit_report.finance_due":
            number = rng.randrange(30_000, 900_000, 100)  # thousands of đồng
        elif name == "unit_report.finance_collected":
            due = given.get("finance_due")
            base = due if isinstance(due, int) and not isinstance(due, bool) else 300_000
            number = int(round(base * rng.uniform(0.82, 1.04), -2))
        elif name == "unit_report.party_introductions":
            number = rng.choices(range(6), weights=(30, 30, 20, 10, 6, 4))[0]
        else:
            number = low + int(rng.expovariate(100 / max(1, high - low)))
        return int(min(high, max(low, number)))
    if kind is QuestionKind.TEXT:
        if q.key.endswith("name"):
            return person_name(rng)
        return rng.choice(PHRASES)[: q.max_length or None]
    if kind is QuestionKind.PHONE:
        return f"+849{rng.randrange(10_000_000, 100_000_000)}"
    if kind is QuestionKind.DATE:
        return at(year, rng.randint(1, 12), rng.randint(1, 28)).date().isoformat()
    raise ValueError(f"{name}: no generator for {kind}")


def answer_set(
    p: Province, key: str, rng: random.Random, public: bool, year: int
) -> list[tuple[str, AnswerValue]]:
    """A complete set of answers, question by question, as the conditions show them."""
    defn = p.definitions[key][1]
    given: dict[str, AnswerValue] = {}
    for q in defn.questions:
        if visible(q.show_if, given):
            given[q.key] = value_for(key, q, given, rng, public, year)
    return list(given.items())


class RunRows:
    """A new run, and the rows of the responses to it."""

    def __init__(
        self,
        p: Province,
        ids: Ids,
        key: str,
        year: int,
        opens: dt.datetime,
        *,
        unit_id: int = 1,
        per_unit: bool = False,
        closes: dt.datetime | None = None,
        label: str | None = None,
    ) -> None:
        self.p, self.ids = p, ids
        self.id = ids.take("survey_runs")
        self.row = {
            "id": self.id,
            "definition_id": p.definitions[key][0],
            "unit_id": unit_id,
            "launched_by": None,
            "period_year": year,
            "status": RunStatus.OPEN if year >= p.year else RunStatus.CLOSED,
            "opens_at": opens,
            "closes_at": closes,
            "recurrence": "none",
            "per_unit": per_unit,
            "run_index": 0,
            "period_label": label,
        }

    def response(
        self,
        person_id: int,
        unit_id: int,
        state: ResponseState,
        answers: Sequence[tuple[str, AnswerValue]],
        started: dt.datetime,
        anonymous: bool = False,
    ) -> Iterator[Row]:
        """One response, its answers (a minute apart) and, anonymous-style, its participation
        (the response's id is ``self.ids.last["responses"]`` once the first row is taken)."""
        rid = self.ids.take("responses")
        done = started + dt.timedelta(minutes=len(answers) + 1)
        response = {
            "id": rid,
            "run_id": self.id,
            "person_id": None if anonymous else person_id,
            "unit_id": unit_id,
            "is_member": self.p.member[person_id],
            "state": state,
            "draft": None,
            "started_at": started,
            "updated_at": done,
            "completed_at": done if state is ResponseState.COMPLETED else None,
        }
        yield "responses", response
        if anonymous:
            yield (
                "participations",
                {"run_id": self.id, "person_id": person_id, "completed_at": done},
            )
        for i, (question_key, value) in enumerate(answers):
            answer = {
                "response_id": rid,
                "question_key": question_key,
                "value": json.dumps(value, ensure_ascii=False),
                "answered_at": started + dt.timedelta(minutes=i, seconds=20),
            }
            yield "answers", answer


def campaign(
    p: Province, ids: Ids, key: str, year: int, month: int, index: int, quota: int | None = None
) -> Iterator[Row]:
    """A run of a member survey sent to the whole province; with a quota, it stops once that
    many answers are written (the last response then left in progress)."""
    rng = p.rng(key, year, index)
    opens = at(year, month, 5)
    closes = opens + dt.timedelta(days=28)
    run = RunRows(p, ids, key, year, opens, closes=closes, label=f"{year}-{month:02d}")
    yield "survey_runs", run.row
    order = list(range(1, p.people + 1))
    rng.shuffle(order)
    written = 0
    for pid in order:
        if quota is not None and written >= quota:
            break
        draw = rng.random()
        if draw >= COMPLETED_SHARE + IN_PROGRESS_SHARE + ABANDONED_SHARE:
            continue
        unit = p.unit_of[pid]
        answers = answer_set(p, key, rng, p.public[unit], year)
        state = ResponseState.COMPLETED
        if draw >= COMPLETED_SHARE + IN_PROGRESS_SHARE:
            state = ResponseState.ABANDONED
        elif draw >= COMPLETED_SHARE:
            state = ResponseState.IN_PROGRESS
        if state is not ResponseState.COMPLETED:
            answers = answers[: rng.randrange(len(answers))]
        if quota is not None and written + len(answers) > quota:
            answers, state = answers[: quota - written], ResponseState.IN_PROGRESS
        anonymous = state is ResponseState.COMPLETED and rng.random() < ANONYMOUS_SHARE
        started = opens + dt.timedelta(minutes=rng.randrange(27 * 24 * 60))
        yield from run.response(pid, unit, state, answers, started, anonymous)
        written += len(answers)


def unit_reports(p: Province, ids: Ids, year: int) -> Iterator[Row]:
    """The year's unit report: answered by the officer of ~85% of the CĐCS; a few CĐCS
    answered twice (another officer, earlier: the later report supersedes it)."""
    rng = p.rng(UNIT_REPORT, year)
    opens = at(year, 11, 15)
    run = RunRows(p, ids, UNIT_REPORT, year, opens, per_unit=True, label=str(year))
    yield "survey_runs", run.row
    for uid in p.cdcs:
        people = p.members_of[uid]
        draw = rng.random()
        if not people or draw >= 0.87:
            continue
        officer, public = people[0], p.public[uid]
        started = opens + dt.timedelta(minutes=rng.randrange(30 * 24 * 60))
        answers = answer_set(p, UNIT_REPORT, rng, public, year)
        if draw >= 0.85:  # started, not sent
            answers = answers[: rng.randrange(len(answers))]
            yield from run.response(officer, uid, ResponseState.IN_PROGRESS, answers, started)
            continue
        if len(people) > 1 and rng.random() < 0.04:  # superseded by the officer's report
            earlier = answer_set(p, UNIT_REPORT, rng, public, year)
            before = started - dt.timedelta(days=3)
            yield from run.response(people[1], uid, ResponseState.COMPLETED, earlier, before)
        yield from run.response(officer, uid, ResponseState.COMPLETED, answers, started)


def welfare(p: Province, ids: Ids, year: int) -> Iterator[Row]:
    """The standing welfare sign-up (one provincial run a year), a benefit per completion."""
    rng = p.rng(WELFARE, year)
    opens = at(year, 1, 2)
    run = RunRows(p, ids, WELFARE, year, opens, label=str(year))
    yield "survey_runs", run.row
    for pid in rng.sample(range(1, p.people + 1), min(p.people, p.scaled(WELFARE_PER_YEAR))):
        unit = p.unit_of[pid]
        answers = answer_set(p, WELFARE, rng, p.public[unit], year)
        started = opens + dt.timedelta(minutes=rng.randrange(330 * 24 * 60))
        if rng.random() < 0.03:
            yield from run.response(pid, unit, ResponseState.IN_PROGRESS, [], started)
            continue
        yield from run.response(pid, unit, ResponseState.COMPLETED, answers, started)
        draw = rng.random()
        status = BenefitStatus.REQUESTED
        if draw < 0.55:
            status = BenefitStatus.CONFIRMED
        elif draw < 0.6:
            status = BenefitStatus.CANCELLED
        confirmed = status is BenefitStatus.CONFIRMED
        confirmed_at = started + dt.timedelta(days=rng.randint(1, 20))
        benefit = {
            "response_id": ids.last["responses"],
            "person_id": pid,
            "unit_id": unit,
            "offer": str(dict(answers).get("offer") or ""),
            "status": status,
            "period_year": year,
            "confirmed_by": p.members_of[unit][0] if confirmed else None,
            "created_at": started,
            "confirmed_at": confirmed_at if confirmed else None,
        }
        yield "welfare_benefits", benefit


def hardship(p: Province, ids: Ids, year: int, key: str = HARDSHIP) -> Iterator[Row]:
    """Hardship reports (or legal requests, ``key`` LEGAL): a run per report (the reporter's
    unit), a case per completed one."""
    rng = p.rng(key, year)
    legal = key == LEGAL
    statuses = (CaseStatus.REPORTED, CaseStatus.VISITED, CaseStatus.SUPPORTED, CaseStatus.CLOSED)
    weights = (30, 0, 50, 20) if legal else (30, 15, 35, 20)  # a legal case has no visit
    for _ in range(p.scaled(LEGAL_PER_YEAR if legal else HARDSHIP_PER_YEAR)):
        reporter = rng.randint(1, p.people)
        unit = p.unit_of[reporter]
        started = at(year, rng.randint(1, 11), rng.randint(1, 28), rng.randint(0, 12))
        run = RunRows(p, ids, key, year, started, unit_id=unit)
        yield "survey_runs", run.row
        answers = answer_set(p, key, rng, p.public[unit], year)
        if rng.random() < 0.04:
            answers = answers[: rng.randrange(len(answers))]
            yield from run.response(reporter, unit, ResponseState.IN_PROGRESS, answers, started)
            continue
        yield from run.response(reporter, unit, ResponseState.COMPLETED, answers, started)
        given = dict(answers)
        subject, name = reporter, p.name[reporter]
        if given.get("subject") == "colleague":  # found by phone half of the time
            subject = rng.choice(p.members_of[unit]) if rng.random() < 0.5 else 0
            name = str(given.get("colleague_name") or "") or p.name[subject]
        case = {
            "kind": CaseKind.LEGAL if legal else CaseKind.HARDSHIP,
            "response_id": ids.last["responses"],
            "reported_by": reporter,
            "subject_person_id": subject or None,
            "subject_name": name,
            "unit_id": unit,
            "category": str(given.get("category") or ""),
            "description": str(given.get("description") or ""),
            "status": rng.choices(statuses, weights=weights)[0],
            "period_year": year,
            "created_at": started,
            "updated_at": started + dt.timedelta(days=rng.randint(0, 40)),
        }
        yield "cases", case


def notices(p: Province, ids: Ids, year: int) -> Iterator[Row]:
    """Notices of the year to every member: sent to the ~92% with a linked chat (the others
    unreachable); ~70% of the sent ones acknowledged, most members pressing "Đã nắm" on every
    notice or on few of them."""
    rng = p.rng("notices", year)
    members = [pid for pid in range(1, p.people + 1) if p.member[pid]]
    linked = {pid: rng.random() < 0.92 for pid in members}
    diligence = {pid: 0.95 if rng.random() < 0.6 else 0.35 for pid in members}
    for n in range(NOTICES):
        queued = at(year, 2 + n, 10)
        title = f"Thông báo số {n + 1}/{year} của Công đoàn Giáo dục tỉnh"
        notice_id = ids.take("notices")
        notice: dict[str, Any] = {
            "id": notice_id,
            "author_id": None,
            "scope_unit_id": 1,
            "title": title,
            "body": "Kính gửi các thầy cô. " * 10,
            "audience": "{}",
            "status": NoticeStatus.QUEUED,
            "period_year": year,
            "created_at": queued,
            "queued_at": queued,
        }
        yield "notices", notice
        body = f"📢 <b>{title}</b>\n\n" + "Nội dung thông báo. " * 15
        for pid in members:
            sent = linked[pid]
            row = notice_store.delivery_row(
                notice_id=notice_id,
                person_id=pid,
                chat_id=None,
                channel=Channel.TELEGRAM,
                external_id=str(7_000_000_000 + pid) if sent else None,
                text=body,
                status=DeliveryStatus.SENT if sent else DeliveryStatus.UNREACHABLE,
                available_at=queued,
                created_at=queued,
            )
            acknowledged = sent and rng.random() < diligence[pid]
            row["sent_at"] = queued + dt.timedelta(seconds=pid // 30) if sent else None
            row["acknowledged_at"] = (
                queued + dt.timedelta(hours=rng.randint(1, 72)) if acknowledged else None
            )
            yield "deliveries", row


def fixed_parts(p: Province, ids: Ids, year: int) -> list[Iterator[Row]]:
    """What a year holds whatever the answer target, in the order it is written."""
    parts = []
    if year == p.year:
        parts += [campaign(p, ids, ACTIVITY, year, 3, 0), campaign(p, ids, ACTIVITY, year, 9, 1)]
    if TRAINING in p.definitions:
        parts.append(campaign(p, ids, TRAINING, year, 4, 0))
    parts += [welfare(p, ids, year), hardship(p, ids, year), hardship(p, ids, year, LEGAL)]
    if year == p.year:
        parts.append(notices(p, ids, year))
    parts.append(unit_reports(p, ids, year))
    return parts


def count_answers(parts: Iterable[Iterator[Row]]) -> int:
    return sum(1 for part in parts for table, _ in part if table == "answers")


class Writer:
    """Buffers rows of every table and writes them by executemany, parents first."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.buffers: dict[str, list[dict[str, Any]]] = {t: [] for t in WRITE_ORDER}
        self.pending = 0
        self.counts: Counter[str] = Counter()

    async def write(self, rows: Iterable[Row]) -> None:
        for table, row in rows:
            self.buffers[table].append(row)
            self.counts[table] += 1
            self.pending += 1
            if self.pending >= BATCH:
                await self.flush()

    async def flush(self) -> None:
        for table in WRITE_ORDER:
            if self.buffers[table]:
                await self.conn.execute(insert(TABLES[table]), self.buffers[table])
                self.buffers[table] = []
        self.pending = 0


async def generate(path: Path, args: argparse.Namespace) -> None:
    clock = time.perf_counter()
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    shipped = builtin_definitions()
    keys = [k for k in (ACTIVITY, TRAINING, WELFARE, UNIT_REPORT, HARDSHIP, LEGAL) if k in shipped]
    missing = {ACTIVITY, WELFARE, UNIT_REPORT, HARDSHIP, LEGAL} - set(keys)
    if missing:
        raise SystemExit(f"survey definitions not shipped: {', '.join(sorted(missing))}")
    definitions = {key: (i, shipped[key]) for i, key in enumerate(keys, start=1)}
    p, units, people = build_roster(args, definitions)
    async with db.engine.begin() as conn:  # the registry syncs the definitions at start-up
        rows = []
        for key, (row_id, defn) in definitions.items():
            body = definition_to_json(defn)
            rows.append(
                {
                    "id": row_id,
                    "key": key,
                    "version": 1,
                    "title": defn.title,
                    "checksum": definition_checksum(body),
                    "body": body,
                    "created_at": at(args.year - 5, 7, 1),
                }
            )
        await conn.execute(insert(TABLES["survey_definitions"]), rows)
    async with db.session() as s:  # the roster import, then its ANALYZE (>= 1,000 rows)
        for table, batch in (("units", units), ("people", people)):
            for start in range(0, len(batch), BATCH):
                await s.execute(insert(TABLES[table]), batch[start : start + BATCH])
        await refresh_statistics(s)
    print(
        f"roster: {len(units):,} units ({len(p.cdcs):,} CĐCS, "
        f"{sum(not v for v in p.public.values()):,} non-public), {p.people:,} people "
        f"({sum(p.member):,} members); {', '.join(keys)}",
        flush=True,
    )

    history = list(range(args.year - 4, args.year))
    fixed = sum(count_answers(fixed_parts(p, Ids(), y)) for y in (*history, args.year))
    natural = count_answers([campaign(p, Ids(), ACTIVITY, history[0], 1, 0)])
    left = args.answers - fixed
    planned = math.ceil(left / (natural * 0.97)) if left > 0 and natural else 0
    per_year = [planned // len(history) + (i < planned % len(history)) for i in range(len(history))]
    print(
        f"answers: {fixed:,} in the fixed parts; {max(0, left):,} in {planned} more activity "
        f"campaigns of {history[0]}–{history[-1]} ({natural:,} answers when all answer)",
        flush=True,
    )
    ids = Ids()
    runs_left = planned
    for year, n in (*zip(history, per_year, strict=True), (args.year, 0)):
        year_clock = time.perf_counter()
        async with db.engine.begin() as conn:
            writer = Writer(conn)
            index = 0
            while index < n or (year == history[-1] and left > 0 and index < n + 12):
                quota = left // max(1, runs_left)
                before = writer.counts["answers"]
                month = 1 + index * 12 // max(n, 1) if index < n else 12
                await writer.write(campaign(p, ids, ACTIVITY, year, month, index, quota))
                left -= writer.counts["answers"] - before
                runs_left = max(0, runs_left - 1)
                index += 1
            for part in fixed_parts(p, ids, year):
                await writer.write(part)
            await writer.flush()
        counts = ", ".join(f"{rows:,} {table}" for table, rows in writer.counts.items())
        print(f"  {year}: {counts} ({time.perf_counter() - year_clock:.1f} s)", flush=True)
    async with db.session() as s:  # as the scheduler's ticks would have, minute by minute
        await fold_changes(s)
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    await db.dispose()
    print(f"generated in {time.perf_counter() - clock:.1f} s", flush=True)


# -- the measurement ------------------------------------------------------------------------------


class StatementTimer:
    """Times every statement of an engine (cursor events), with its parameters."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.statements: list[tuple[float, str, Any]] = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, _statement: str, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        started = conn.info["bench_started"].pop()
        self.statements.append((time.perf_counter() - started, statement, parameters))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def figures(report: StatsReport) -> list[str]:
    out = []
    for row in report.rows:
        average = row.target.kind is TargetKind.PER_UNIT_AVERAGE
        rate = "–" if row.rate is None else f"{row.rate:.2f}/unit" if average else f"{row.rate:.0%}"
        out.append(
            f"{row.code} {row.numerator:,}/{row.denominator:,} {rate} "
            f"(coverage {row.coverage_count:,}/{row.coverage_total:,})"
        )
    return out


def open_database(target: str, schema: str) -> Database:
    """A ``Database`` on a SQLite file (a path) or a URL; on PostgreSQL its connections use
    ``schema`` alone (``search_path`` sent by asyncpg when it connects, so no transaction
    rollback undoes it)."""
    url = normalize_url(target if "://" in target else f"sqlite+aiosqlite:///{target}")
    if make_url(url).get_backend_name() != "postgresql":
        return Database(url)
    return Database(url, connect_args={"server_settings": {"search_path": schema}})


async def timed_scalar(db: Database, sql: str, runs: int) -> tuple[list[float], Any]:
    """The times of ``runs`` executions of a one-value statement (a session each), its value."""
    times, value = [], None
    for _ in range(runs):
        start = time.perf_counter()
        async with db.session() as s:
            value = (await s.execute(text(sql))).scalar_one()
        times.append(time.perf_counter() - start)
    return times, value


def plan_lines(rows: Iterable[Sequence[Any]]) -> list[str]:
    """The text of a plan: SQLite's ``detail`` column, PostgreSQL's one ``QUERY PLAN`` column."""
    return [str(row[-1]) for row in rows]


async def plan_counts(conn: AsyncConnection) -> dict[str, tuple[int, int]]:
    """PostgreSQL: how often each statement prepared on the connection (asyncpg prepares every
    one) ran with a generic and with a custom plan.  After 5 custom plans the plan cache may
    settle on a generic one, planned without the parameters' values."""
    rows = await conn.exec_driver_sql(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    )
    return {
        str(row["statement"]): (int(row["generic_plans"]), int(row["custom_plans"]))
        for row in rows.mappings()
    }


def plan_note(counts: dict[str, tuple[int, int]], statement: str) -> str:
    if statement not in counts:
        return ""
    generic, custom = counts[statement]
    return f"{'generic' if generic else 'custom'} plan; runs: {custom} custom, {generic} generic"


async def query_plan(
    conn: AsyncConnection, dialect: str, statement: str, parameters: Any, generic: bool
) -> tuple[str, list[str]]:
    """The plan of a statement as planned with its values, or (``generic``, PostgreSQL) the
    generic plan the plan cache runs it with: how it is explained, and the plan."""
    if not generic:
        rows = await conn.exec_driver_sql(f"{EXPLAIN[dialect]} {statement}", parameters)
        return EXPLAIN[dialect], plan_lines(rows.all())
    await conn.exec_driver_sql(f"PREPARE bench_generic AS {statement}")
    await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    nulls = ", ".join(["NULL"] * len(parameters))  # a generic plan does not use the values
    rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE bench_generic({nulls})")
    plan = plan_lines(rows.all())
    await conn.exec_driver_sql("RESET plan_cache_mode")
    await conn.exec_driver_sql("DEALLOCATE bench_generic")
    return "EXPLAIN EXECUTE (the generic plan, plan_cache_mode = force_generic_plan)", plan


LIVE_UNITS = 40  # CĐCS in which new answers arrive between two reports
LIVE_PER_UNIT = 5  # new answers in each


async def answer_live(db: Database, year: int, round_: int) -> int:
    """New answers as they arrive between two reports: ``LIVE_PER_UNIT`` people in each of
    ``LIVE_UNITS`` CĐCS (other CĐCS each round) who had not answered the year's first activity
    survey answer it now, each in a transaction of its own, as the bot writes them (the response,
    its answers, then completed).  Returns the answers written."""
    written = 0
    async with db.session() as s:
        run_id = (
            await s.execute(
                text(
                    "SELECT r.id FROM survey_runs r JOIN survey_definitions d "
                    "ON d.id = r.definition_id WHERE d.key = :key AND r.period_year = :year "
                    "ORDER BY r.id LIMIT 1"
                ),
                {"key": ACTIVITY, "year": year},
            )
        ).scalar_one()
        units = [
            row[0]
            for row in await s.execute(
                text(
                    "SELECT id FROM units WHERE kind = 'grassroots' ORDER BY id "
                    "LIMIT :n OFFSET :skip"
                ),
                {"n": LIVE_UNITS, "skip": round_ * LIVE_UNITS},
            )
        ]
        chosen = []
        for unit_id in units:
            chosen += [
                tuple(row)
                for row in await s.execute(
                    text(
                        "SELECT p.id, p.is_member, p.unit_id FROM people p "
                        "WHERE p.unit_id = :unit AND NOT EXISTS (SELECT 1 FROM responses r "
                        "WHERE r.run_id = :run AND r.person_id = p.id) ORDER BY p.id LIMIT :n"
                    ),
                    {"unit": unit_id, "run": run_id, "n": LIVE_PER_UNIT},
                )
            ]
    for person_id, is_member, unit_id in chosen:
        now = dt.datetime.now(UTC)
        async with db.session() as s:
            response_id = (
                await s.execute(
                    insert(TABLES["responses"]).returning(TABLES["responses"].c.id),
                    {
                        "run_id": run_id,
                        "person_id": person_id,
                        "unit_id": unit_id,
                        "is_member": bool(is_member),
                        "state": ResponseState.IN_PROGRESS,
                        "started_at": now,
                        "updated_at": now,
                    },
                )
            ).scalar_one()
            await s.execute(
                insert(TABLES["answers"]),
                [
                    {
                        "response_id": response_id,
                        "question_key": key,
                        "value": value,
                        "answered_at": now,
                    }
                    for key, value in (("participated", "true"), ("forms", '["van_nghe"]'))
                ],
            )
            await s.execute(
                update(TABLES["responses"])
                .where(TABLES["responses"].c.id == response_id)
                .values(state=ResponseState.COMPLETED, completed_at=now)
            )
            written += 2
    return written


async def timed_report(db: Database, root_id: int, args: argparse.Namespace, **kw: Any) -> Any:
    catalog = load_catalog()
    start = time.perf_counter()
    async with db.session() as s:
        report = await compute_stats(
            s, scope_unit_id=root_id, year=args.year, catalog=catalog, **kw
        )
    return time.perf_counter() - start, report


async def measure(target: str, args: argparse.Namespace) -> dict[str, Any]:
    db = open_database(target, args.postgres_schema)
    explain = EXPLAIN[db.dialect]
    if db.dialect == "sqlite":  # a file kept from an older schema: brought to the code's
        await upgrade(db)
    async with db.session() as s:  # the pooled connection, opened (with its settings) untimed
        root = await root_unit(s)
        # every tally of the year dropped: the first report computes them all, from cold
        await s.execute(text("DELETE FROM indicator_tallies"))
    assert root is not None and root.id is not None
    baseline, baseline_hwm = rss_mib(), vmhwm_mib()
    cold, report = await timed_report(db, root.id, args)
    report_times = []
    for _ in range(args.runs):
        seconds, report = await timed_report(db, root.id, args)
        report_times.append(seconds)
    facts_times = []
    facts_report: StatsReport | None = None
    for _ in range(args.runs):
        seconds, facts_report = await timed_report(db, root.id, args, tallies=False)
        facts_times.append(seconds)
    assert facts_report is not None
    peak, peak_hwm = rss_mib(), vmhwm_mib()
    count_times, answers = await timed_scalar(db, COUNT, args.runs)
    read_times, _ = await timed_scalar(db, READ_ALL, args.runs)
    async with db.session() as s:
        count_plan = plan_lines(await s.execute(text(f"{explain} {COUNT}")))
    timer = StatementTimer(db.engine)
    start = time.perf_counter()
    async with db.session() as s:
        await compute_stats(s, scope_unit_id=root.id, year=args.year, catalog=load_catalog())
    profiled = time.perf_counter() - start
    timer.close()
    slowest = sorted(timer.statements, key=lambda t: t[0], reverse=True)
    plans: list[tuple[str, list[str]]] = []
    async with db.engine.connect() as conn:  # the one pooled connection the reports ran on
        counts = await plan_counts(conn) if db.dialect == "postgresql" else {}
        for _, statement, parameters in slowest[: args.plans]:
            generic = counts.get(statement, (0, 0))[0] > 0
            plans.append(await query_plan(conn, db.dialect, statement, parameters, generic))
    # Live: answers arrive in a few CĐCS between reports; each report recomputes those.
    live = []
    for round_ in range(3):
        written = await answer_live(db, args.year, round_)
        seconds, live_report = await timed_report(db, root.id, args)
        _, live_facts = await timed_report(db, root.id, args, tallies=False)
        live.append(
            {
                "answers": written,
                "seconds": seconds,
                "same": figures(live_report) == figures(live_facts),
                "a3c": figures(live_report)[[r.code for r in live_report.rows].index("A3c")],
            }
        )
    await db.dispose()
    return {
        "end": rss_mib(),  # the process's high-water mark at its end: what the criterion judges
        "end_hwm": vmhwm_mib(),
        "engine": db.dialect,
        "answers": answers,
        "indicators": len(report.rows),
        "children": len(report.rows[0].by_child) if report.rows else 0,
        "figures": figures(report),
        "facts_figures": figures(facts_report),
        "cold": cold,
        "report": report_times,
        "facts": facts_times,
        "live": live,
        "count": count_times,
        "count_plan": count_plan,
        "read": read_times,
        "baseline": baseline,
        "baseline_hwm": baseline_hwm,
        "peak": peak,
        "peak_hwm": peak_hwm,
        "profiled": profiled,
        "statements": len(timer.statements),
        "statement_total": sum(t for t, _, _ in timer.statements),
        "slowest": [(t, " ".join(s.split()), plan_note(counts, s)) for t, s, _ in slowest[:5]],
        "plans": [
            (how, " ".join(s.split()), plan)
            for (_, s, _), (how, plan) in zip(slowest, plans, strict=False)
        ],
    }


def in_child(mode: str, target: str, args: argparse.Namespace, result: Path | None = None) -> None:
    """Run this script in a fresh process (its RSS not inflated by this one's work)."""
    command = [sys.executable, str(Path(__file__).resolve()), mode, target]
    command += ["--people", str(args.people), "--units", str(args.units)]
    command += ["--answers", str(args.answers), "--year", str(args.year), "--seed", str(args.seed)]
    command += ["--runs", str(args.runs), "--plans", str(args.plans)]
    command += ["--postgres-schema", args.postgres_schema]
    if args.postgres:
        command += ["--postgres", args.postgres] + ["--keep-postgres"] * args.keep_postgres
    if result is not None:
        command += ["--result", str(result)]
    subprocess.run(command, check=True)


def child_peak(mode: str, target: str, args: argparse.Namespace, directory: Path) -> Peak:
    """``in_child`` for the generation or the PostgreSQL copy; that process's peak RSS."""
    result = directory / f"peak{mode}.json"
    in_child(mode, target, args, result)
    rss, hwm = json.loads(result.read_text())
    result.unlink()
    return float(rss), float(hwm)


def report_peaks(peaks: dict[str, Peak]) -> bool:
    """Every process's peak RSS (``ru_maxrss``; ``VmHWM`` of the process image beside it),
    printed; whether all are under RSS_LIMIT_MB."""
    peaks = {**peaks, "this process": (rss_mib(), vmhwm_mib())}
    worst = max(rss for rss, _ in peaks.values())
    worst_mb = worst * 1024 * 1024 / 1e6
    verdict = "PASS" if worst_mb < RSS_LIMIT_MB else "FAIL"
    print(
        f"\npeak RSS (ru_maxrss): {worst:.0f} MiB ({worst_mb:.0f} MB; < {RSS_LIMIT_MB:.0f} MB in "
        f"every process: {verdict}); by process (VmHWM): "
        + ", ".join(f"{name} {rss:.0f} ({hwm:.0f})" for name, (rss, hwm) in peaks.items())
        + " MiB"
    )
    return verdict == "PASS"


def measured(target: str, name: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """:func:`measure` in a fresh process, on a SQLite file (a path) or a URL."""
    result = directory / f"{name}.json"
    in_child("--measure-only", target, args, result)
    data: dict[str, Any] = json.loads(result.read_text())
    return data


def db_facts(path: Path, year: int) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Row counts, a few details, and the tables that have planner statistics."""
    conn = sqlite3.connect(path)
    try:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}
        queries = {
            "answers of the report year": (
                "SELECT count(*) FROM answers a JOIN responses r ON r.id = a.response_id "
                "JOIN survey_runs s ON s.id = r.run_id WHERE s.period_year = ?",
                (year,),
            ),
            "completed responses": ("SELECT count(*) FROM responses WHERE state = 'completed'", ()),
            "anonymous responses": ("SELECT count(*) FROM responses WHERE person_id IS NULL", ()),
            "acknowledged deliveries": (
                "SELECT count(*) FROM deliveries WHERE acknowledged_at IS NOT NULL",
                (),
            ),
            "confirmed benefits": (
                "SELECT count(*) FROM welfare_benefits WHERE status = 'confirmed'",
                (),
            ),
            "supported cases": (
                "SELECT count(*) FROM cases WHERE status IN ('supported', 'closed')",
                (),
            ),
        }
        details = {
            name: conn.execute(sql, params).fetchone()[0] for name, (sql, params) in queries.items()
        }
        try:
            analyzed = [r[0] for r in conn.execute("SELECT DISTINCT tbl FROM sqlite_stat1")]
        except sqlite3.OperationalError:  # never analyzed
            analyzed = []
    finally:
        conn.close()
    return counts, details, sorted(analyzed)


def copy_with(path: Path, target: Path, sql: str) -> float:
    """Copy the database file and run ``sql`` on the copy; the time that took."""
    shutil.copyfile(path, target)
    start = time.perf_counter()
    conn = sqlite3.connect(target)
    try:
        conn.executescript(sql)
        conn.commit()
    finally:
        conn.close()
    return time.perf_counter() - start


def summary(m: dict[str, Any]) -> tuple[float, float, float, float]:
    report = statistics.median(m["report"])
    count = statistics.median(m["count"])
    return report, count, report / count if count else math.inf, m["end"] * 1024 * 1024 / 1e6


def criteria(m: dict[str, Any]) -> dict[str, bool]:
    report, _, ratio, peak_mb = summary(m)
    return {
        "report < 1 s": report < 1.0,
        "report < 3× count": ratio < 3.0,
        f"peak RSS < {RSS_LIMIT_MB:.0f} MB": peak_mb < RSS_LIMIT_MB,
        "tallies = facts": m["figures"] == m["facts_figures"] and all(x["same"] for x in m["live"]),
    }


def verdicts(checks: dict[str, bool]) -> str:
    return "; ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in checks.items())


def count_note(m: dict[str, Any]) -> str:
    """How the engine answers ``SELECT count(*)``, from its plan."""
    if m["engine"] == "sqlite":
        plan = "; ".join(m["count_plan"])
        return f"SQLite answers the count from an index alone ({plan}), reading no row"
    nodes = [line for i, line in enumerate(m["count_plan"]) if i == 0 or "->" in line]
    steps = [re.sub(r"\s+\(cost=[^)]*\)", "", line).strip(" ->") for line in nodes]
    return f"PostgreSQL plans the count as {' ← '.join(steps)}"


def print_measurement(m: dict[str, Any], args: argparse.Namespace) -> None:
    report, count, ratio, peak_mb = summary(m)
    print(
        f"report {args.year} of the province: {m['indicators']} indicators, split public/"
        f"non-public and by {m['children']} children; {m['statements']} statements"
    )
    for i in range(0, len(m["figures"]), 3):
        print("  " + "; ".join(m["figures"][i : i + 3]))
    print(
        f"{COUNT}: {m['answers']:,} rows, median {count * 1000:.0f} ms "
        f"(of {args.runs}: {', '.join(f'{t * 1000:.0f}' for t in m['count'])} ms)"
    )
    print(f"first report, every tally of the year computed (cold): {m['cold'] * 1000:.0f} ms")
    print(
        f"full report from the tallies (nothing stale): median {report * 1000:.0f} ms "
        f"(of {args.runs}: {', '.join(f'{t * 1000:.0f}' for t in m['report'])} ms)"
    )
    facts = statistics.median(m["facts"])
    print(
        f"the same report from the facts (no tallies, the previous path): median "
        f"{facts * 1000:.0f} ms (of {args.runs}: "
        f"{', '.join(f'{t * 1000:.0f}' for t in m['facts'])} ms): "
        f"{facts / report:.1f}× the tallies' time; same figures: "
        f"{'yes' if m['figures'] == m['facts_figures'] else 'NO'}"
    )
    for x in m["live"]:
        print(
            f"  after {x['answers']} new answers in {LIVE_UNITS} CĐCS: report "
            f"{x['seconds'] * 1000:.0f} ms (the stale units recomputed); {x['a3c']}; "
            f"same figures as from the facts: {'yes' if x['same'] else 'NO'}"
        )
    print(f"ratio report / count: {ratio:.2f}×")
    read = statistics.median(m["read"])
    print(
        f"  for reference: {count_note(m)}; {READ_ALL}, which reads every row, takes "
        f"{read * 1000:.0f} ms (report / that: {report / read:.2f}×)"
    )
    print(
        f"RSS (ru_maxrss): {m['baseline']:.0f} MiB after the imports, {m['peak']:.0f} MiB after "
        f"the reports, {m['end']:.0f} MiB ({peak_mb:.0f} MB) at the process's end (the peak); "
        f"VmHWM of the process image alone {m['baseline_hwm']:.0f} → {m['peak_hwm']:.0f} → "
        f"{m['end_hwm']:.0f} MiB"
    )
    print(
        f"statements of one report (timed: {m['profiled'] * 1000:.0f} ms, of which "
        f"{m['statement_total'] * 1000:.0f} ms in the {m['statements']} statements); "
        "the slowest:"
    )
    for seconds, sql, note in m["slowest"]:
        print(f"  {seconds * 1000:7.1f} ms  {f'[{note}] ' if note else ''}{sql[:120]}")
    for how, sql, plan in m["plans"]:
        print(f"{how} {sql[:120]}…")
        for line in plan:
            print(f"    {line}")


# -- the PostgreSQL copy --------------------------------------------------------------------------


def utc_datetime(value: str) -> dt.datetime:
    """A timestamp as SQLite holds it (UTC text, see ``storage.models.UTCDateTime``), aware."""
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_maker(table: Table) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A SQLite row of ``table`` as asyncpg's binary COPY takes it: booleans from 0/1, aware
    datetimes from the stored text; the other column types read back as they are."""
    converting: list[tuple[int, Callable[[Any], Any]]] = []
    for i, column in enumerate(table.c):
        kind = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
        if isinstance(kind, Boolean):
            converting.append((i, bool))
        elif isinstance(kind, DateTime):
            converting.append((i, utc_datetime))

    def record(row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for i, convert in converting:
            if values[i] is not None:
                values[i] = convert(values[i])
        return tuple(values)

    return record


def sqlite_rows(path: Path) -> dict[str, list[int]]:
    """The rows and the highest id of every table of the models, in the SQLite file."""
    conn = sqlite3.connect(path)
    try:
        return {
            name: list(
                conn.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {name}").fetchone()
            )
            for name in COPY_ORDER
        }
    finally:
        conn.close()


async def copy_rows(db: Database, path: Path, schema: str) -> dict[str, tuple[int, float]]:
    """Every table of the models from the SQLite file into ``schema``, in one transaction
    (triggers off: the indicator change log is not written; a version row per unit is):
    parents first and rows by id (a unit after its parent, so every foreign key resolves),
    ``COPY_BATCH`` rows a binary ``COPY`` (asyncpg's ``copy_records_to_table`` on the raw
    connection), then the table's id sequence set to its highest id.  Rows and seconds per
    table."""
    copied: dict[str, tuple[int, float]] = {}
    source = sqlite3.connect(path)
    try:
        async with db.engine.connect() as conn:
            pg = (await conn.get_raw_connection()).driver_connection
            assert pg is not None
            async with pg.transaction():
                # A snapshot loaded in bulk: the indicator triggers' change log is of no use
                # (the first report computes every tally); each unit's version row is written
                # below instead of by the units' trigger.
                await pg.execute("SET LOCAL session_replication_role = replica")
                for name in COPY_ORDER:
                    start, rows = time.perf_counter(), 0
                    record = record_maker(TABLES[name])
                    columns = [c.name for c in TABLES[name].c]
                    listed = ", ".join(f'"{c}"' for c in columns)
                    cursor = source.execute(f"SELECT {listed} FROM {name} ORDER BY id")
                    while batch := cursor.fetchmany(COPY_BATCH):
                        records = [record(row) for row in batch]
                        await pg.copy_records_to_table(
                            name, records=records, columns=columns, schema_name=schema
                        )
                        rows += len(records)
                    await pg.execute(
                        f"SELECT setval(pg_get_serial_sequence('{schema}.{name}', 'id'), "
                        f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {name}"
                    )
                    copied[name] = rows, time.perf_counter() - start
                await pg.execute("INSERT INTO indicator_versions SELECT id, 1 FROM units")
    finally:
        source.close()
    return copied


async def fill_postgres(path: Path, args: argparse.Namespace) -> str:
    """``--postgres-schema`` filled from the SQLite file: dropped, created, migrated
    (``storage.migrate.upgrade``), the rows copied, then ``VACUUM ANALYZE`` (as autovacuum would
    leave the tables on a server).  A comment on the schema records the migration head and the
    rows (count and highest id per table) once done: with ``--keep-postgres`` a schema whose
    comment matches the file is measured as it is.  What was done, for the output."""
    schema = args.postgres_schema
    marker = json.dumps({"revision": head_revision(), "rows": sqlite_rows(path)}, sort_keys=True)
    db = open_database(args.postgres, schema)
    try:
        async with db.engine.connect() as conn:
            comment = await conn.scalar(
                text("SELECT obj_description(to_regnamespace(:schema), 'pg_namespace')"),
                {"schema": schema},
            )
        if args.keep_postgres and comment == marker:
            return f"schema {schema}: filled from these rows before (--keep-postgres), copy skipped"
        start = time.perf_counter()
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        await upgrade(db)
        migrated = time.perf_counter()
        copied = await copy_rows(db, path, schema)
        filled = time.perf_counter()
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql(f"VACUUM ANALYZE {', '.join(COPY_ORDER)}")
            vacuumed = time.perf_counter()
            quoted = marker.replace("'", "''")
            await auto.exec_driver_sql(f"COMMENT ON SCHEMA \"{schema}\" IS '{quoted}'")
    finally:
        await db.dispose()
    rows, answers = sum(n for n, _ in copied.values()), copied["answers"]
    return (
        f"schema {schema}: dropped, created and migrated in {migrated - start:.1f} s; "
        f"{rows:,} rows of {len(copied)} tables copied in {filled - migrated:.1f} s "
        f"(answers: {answers[0]:,} in {answers[1]:.1f} s); VACUUM ANALYZE {vacuumed - filled:.1f} s"
    )


def postgres_section(
    path: Path,
    args: argparse.Namespace,
    directory: Path,
    sqlite: dict[str, Any],
    peaks: dict[str, Peak],
) -> bool:
    """The copy and the measurement on PostgreSQL, printed; whether its figures are SQLite's."""
    url = make_url(normalize_url(args.postgres)).render_as_string(hide_password=True)
    print(f"\n== PostgreSQL ({url}, schema {args.postgres_schema}) ==")
    # its batches would count in the RSS measured next
    peaks["PostgreSQL copy"] = child_peak("--copy-only", str(path), args, directory)
    m = measured(args.postgres, "postgres", args, directory)
    peaks["measuring (PostgreSQL)"] = m["end"], m["end_hwm"]
    print_measurement(m, args)
    print(
        "criteria, for information (the issue's are for SQLite, which alone sets the exit "
        f"code): {verdicts(criteria(m))}"
    )
    pairs = zip_longest(sqlite["figures"], m["figures"], fillvalue="(none)")
    differing = [(ours, theirs) for ours, theirs in pairs if ours != theirs]
    if not differing:
        print(f"figures: the same as SQLite's ({len(m['figures'])} indicators)")
        return True
    print(f"figures: {len(differing)} DIFFER from SQLite's (exit code 1):")
    for ours, theirs in differing:
        print(f"  SQLite {ours}\n  PostgreSQL {theirs}")
    return False


def generate_file(path: Path, args: argparse.Namespace, directory: Path) -> Peak:
    """The province's file made at ``path`` by the generator in a child process (written under
    another name, renamed when complete); the child's peak RSS."""
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    peak = child_peak("--generate-only", str(partial), args, directory)
    partial.rename(path)
    return peak


def main(args: argparse.Namespace) -> int:
    peaks: dict[str, Peak] = {}  # every child process's peak RSS, by what it did
    with tempfile.TemporaryDirectory(prefix="bench_indicators_") as tmp:
        directory = Path(tmp)
        path = Path(args.keep) if args.keep else directory / "province.sqlite"
        if path.exists():
            print(f"{path}: exists, generation skipped")
        else:
            peaks["generation"] = generate_file(path, args, directory)
        size = path.stat().st_size
        counts, details, analyzed = db_facts(path, args.year)
        print(f"database: {path} ({size / 1e6:,.0f} MB)")
        print("rows: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
        print("  of which " + ", ".join(f"{n:,} {k}" for k, n in details.items()))
        print(
            "statistics: the bot runs ANALYZE only after a roster import of >= 1,000 rows "
            "(storage.roster.refresh_statistics; storage/db.py and migrate.py never do), so the "
            "file has statistics for "
            + (", ".join(analyzed) if analyzed else "nothing")
            + " and none for the survey tables: measured as it is"
        )

        print("\n== SQLite ==")
        # on a copy: the measurement writes (tallies, and the live answers)
        scratch = directory / "measured.sqlite"
        copy_with(path, scratch, "")
        m = measured(str(scratch), scratch.stem, args, directory)
        scratch.unlink()
        peaks["measuring"] = m["end"], m["end_hwm"]
        print_measurement(m, args)
        checks = criteria(m)
        print(f"criteria: {verdicts(checks)}")

        if not args.no_variants:
            print("\nfor information, on copies of the file:")
            for name, sql in (
                ("analyzed", "ANALYZE;"),
                ("no statistics", "DELETE FROM sqlite_stat1;"),
            ):
                copy = directory / f"{name.replace(' ', '_')}.sqlite"
                seconds = copy_with(path, copy, sql)
                v = measured(str(copy), copy.stem, args, directory)
                peaks[f"measuring ({name})"] = v["end"], v["end_hwm"]
                v_report, v_count, v_ratio, v_peak = summary(v)
                top = v["slowest"][0]
                print(
                    f"  {name} ({sql.strip()} {seconds:.1f} s): count {v_count * 1000:.0f} ms, "
                    f"report first {v['report'][0] * 1000:.0f} / median {v_report * 1000:.0f} ms, "
                    f"ratio {v_ratio:.2f}×, peak RSS {v_peak:.0f} MB; slowest statement "
                    f"{top[0] * 1000:.0f} ms: {top[1][:80]}"
                )
                copy.unlink()

        same = postgres_section(path, args, directory, m, peaks) if args.postgres else True
    small = report_peaks(peaks)
    return 0 if all(checks.values()) and same and small else 1


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--people", type=int, default=30_000, help="default: 30,000")
    parser.add_argument(
        "--units", type=int, default=700, help="all units, province and districts included (700)"
    )
    parser.add_argument(
        "--answers", type=int, default=3_000_000, help="rows of the answers table (3,000,000)"
    )
    parser.add_argument("--year", type=int, default=2026, help="the report year (2026)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--keep",
        metavar="PATH",
        help="the SQLite file to keep (reused, not regenerated, if it exists)",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each query (5)")
    parser.add_argument(
        "--plans",
        type=int,
        default=0,
        help="print the query plans of the N slowest statements (EXPLAIN QUERY PLAN on SQLite, "
        "EXPLAIN on PostgreSQL)",
    )
    parser.add_argument(
        "--no-variants", action="store_true", help="skip the analyzed / no-statistics copies"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also copy the SQLite file's rows into a fresh schema of this PostgreSQL database "
        "(e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test), VACUUM ANALYZE it and measure "
        "the same there, for information; exit 1 if its figures differ from SQLite's",
    )
    parser.add_argument(
        "--postgres-schema",
        metavar="NAME",
        default=SCHEMA,
        help=f"the schema --postgres drops and fills, the benchmark's own ({SCHEMA})",
    )
    parser.add_argument(
        "--keep-postgres",
        action="store_true",
        help="with --postgres: skip the copy when the schema is filled from the same rows already",
    )
    parser.add_argument("--generate-only", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--measure-only", metavar="PATH_OR_URL", help=argparse.SUPPRESS)
    parser.add_argument("--copy-only", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--result", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    schema = args.postgres_schema
    reserved = schema == "public" or schema.startswith(("pg_", "information_schema"))
    if reserved or not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        parser.error("--postgres-schema: a lower-case name of a schema of its own, not public")
    return args


if __name__ == "__main__":
    arguments = parse()
    if arguments.generate_only:
        asyncio.run(generate(Path(arguments.generate_only), arguments))
        if arguments.result:  # this process's peak RSS, for the parent's report
            Path(arguments.result).write_text(json.dumps([rss_mib(), vmhwm_mib()]))
    elif arguments.measure_only:
        outcome = asyncio.run(measure(arguments.measure_only, arguments))
        Path(arguments.result).write_text(json.dumps(outcome))
    elif arguments.copy_only:
        print(asyncio.run(fill_postgres(Path(arguments.copy_only), arguments)), flush=True)
        if arguments.result:
            Path(arguments.result).write_text(json.dumps([rss_mib(), vmhwm_mib()]))
    else:
        sys.exit(main(arguments))
