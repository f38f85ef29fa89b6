"""``congdoan audit``: print the trail, filter it by person, day and action, export it (which
is recorded), and refuse bad options with one clear line.  Also: the command line's own
exports and sends leave their rows (``congdoan report``, ``congdoan notice send``)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlmodel import col
from typer.testing import CliRunner

from bot.cli import app
from bot.roster import sample_paths
from storage import audit
from storage.db import Database
from storage.models import AuditAction, Person, Unit
from tests.test_cli import _isolated, env_for  # noqa: F401

runner = CliRunner()
TZ = ZoneInfo("Asia/Ho_Chi_Minh")  # the settings' default time zone

#: Of the sample roster: Nguyễn Thị Thu Hà (admin of the province) and Trần Văn Hùng
#: (officer of the Đà Lạt district union).
THU_HA, HUNG = "0913 620 145", "0903118274"


def _setup(tmp_path: Path) -> dict[str, str]:
    env = env_for(tmp_path, COLUMNS="300")
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    units, people = sample_paths()
    result = runner.invoke(app, ["roster", "import", str(units), str(people)], env=env)
    assert result.exit_code == 0, result.output
    return env


def _csv(env: dict[str, str], tmp_path: Path, *args: str) -> list[dict[str, str]]:
    target = tmp_path / "trail.csv"
    result = runner.invoke(app, ["audit", *args, "--csv", str(target)], env=env)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"))))


async def _ids(tmp_path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Person ids by phone and unit ids by code."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    try:
        async with db.session() as s:
            people = {
                p: i
                for i, p in (await s.execute(select(col(Person.id), col(Person.phone)))).all()
                if p and i
            }
            units = {
                c: i for i, c in (await s.execute(select(col(Unit.id), col(Unit.code)))).all() if i
            }
        return people, units
    finally:
        await db.dispose()


def test_prints_and_filters_the_trail(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    people, units = asyncio.run(_ids(tmp_path))
    thu_ha = people["+84913620145"]
    today = dt.datetime.now(TZ).date()

    # The import: 7 roles given (one per officer or admin of the file), then the import itself.
    result = runner.invoke(app, ["audit"], env=env)
    assert result.exit_code == 0, result.output
    assert "Audit trail (8 rows)" in result.output
    assert f"Nguyễn Thị Thu Hà #{thu_ha}" in result.output
    assert "roster_imported" in result.output and "operator" in result.output

    # By person, in any format the roster accepts: her role row, then the exports about her
    # (each --csv is an export, recorded once written).
    for exported, phone in enumerate((THU_HA, "+84913620145", "84 913.620.145")):
        rows = _csv(env, tmp_path, "--person", phone)
        assert [(r["Action"], r["Via"], r["Person"]) for r in rows] == [
            ("role_changed", "cli", f"Nguyễn Thị Thu Hà #{thu_ha}"),
            *[("report_exported", "cli", f"Nguyễn Thị Thu Hà #{thu_ha}")] * exported,
        ]
        assert json.loads(rows[0]["Detail"]) == {"from": None, "to": "admin", "unit": units["LD"]}
        assert rows[0]["When"].startswith(today.isoformat())  # local time

    # By day (both formats) and by action: the 3 exports above are on the trail now.
    assert len(_csv(env, tmp_path, "--since", today.strftime("%d/%m/%Y"))) == 8 + 3
    tomorrow = today + dt.timedelta(days=1)
    assert _csv(env, tmp_path, "--since", tomorrow.isoformat()) == []
    exports = _csv(env, tmp_path, "--action", "report_exported")
    assert len(exports) == 5
    assert [json.loads(r["Detail"])["rows"] for r in exports] == [1, 2, 3, 11, 0]
    assert exports[0]["Person"] == f"Nguyễn Thị Thu Hà #{thu_ha}"  # the export was about her
    imports = _csv(env, tmp_path, "--action", "ROSTER_IMPORTED")
    assert [r["Action"] for r in imports] == ["roster_imported"]


def test_exports_xlsx_and_records_it(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    book = tmp_path / "audit.xlsx"
    result = runner.invoke(app, ["audit", "--xlsx", str(book)], env=env)
    assert result.exit_code == 0, result.output
    assert f"wrote {book} (8 rows)" in result.output
    sheet = load_workbook(book)["Audit"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("#", "When", "Action", "Via", "Actor", "Person", "Case", "Unit", "Detail")
    assert [r[2] for r in rows[1:]] == ["role_changed"] * 7 + ["roster_imported"]
    assert isinstance(rows[1][1], dt.datetime)
    # The export is on the trail, and shown the next time.
    again = runner.invoke(app, ["audit", "--action", "report_exported"], env=env)
    assert "Audit trail (1 rows)" in again.output
    assert '"kind": "audit"' in again.output and '"format": "xlsx"' in again.output


def test_an_erased_person_is_shown_by_id_only(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    people, _ = asyncio.run(_ids(tmp_path))
    hung = people["+84903118274"]

    async def erase() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
        try:
            async with db.session() as s:
                await s.execute(
                    update(Person)
                    .where(col(Person.id) == hung)
                    .values(erased_at=dt.datetime.now(dt.UTC))
                )
        finally:
            await db.dispose()

    asyncio.run(erase())
    result = runner.invoke(app, ["audit"], env=env)
    assert f"(erased #{hung})" in result.output
    assert "Trần Văn Hùng" not in result.output


def test_the_command_lines_exports_and_sends_are_recorded(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    people, _ = asyncio.run(_ids(tmp_path))
    result = runner.invoke(
        app,
        [
            "report",
            "--scope",
            "DL-THPT-BTX",
            "--year",
            "2026",
            "--output",
            str(tmp_path / "r.xlsx"),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    notice = tmp_path / "notice.md"
    notice.write_text("# Lịch họp\nKính gửi {{ ten }}, họp lúc 14h.\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["notice", "send", "--file", str(notice), "--audience", "unit=DL-THPT-BTX", "--as", HUNG],
        env=env,
    )
    assert result.exit_code == 0, result.output
    report, sent = _csv(env, tmp_path, "--action", "report_exported", "--action", "notice_sent")
    assert (report["Action"], report["Via"], report["Actor"], report["Unit"]) == (
        "report_exported",
        "cli",
        "operator",
        "DL-THPT-BTX",
    )
    assert json.loads(report["Detail"]) == {"format": "xlsx", "year": 2026}
    hung = people["+84903118274"]
    assert (sent["Action"], sent["Via"], sent["Actor"]) == (
        "notice_sent",
        "cli",
        f"Trần Văn Hùng #{hung}",
    )
    detail = json.loads(sent["Detail"])
    # CĐCS Bùi Thị Xuân: 6 people, none linked (tests/test_cli.py)
    assert (detail["recipients"], detail["queued"]) == (6, 0)
    assert sent["Unit"] == "LD-DL"  # the notice's scope: the sending officer's


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--person", "12ab"], 2, "--person '12ab' is not a phone number"),
        (["--person", "0999 999 999"], 1, "no person in the roster has the phone '0999 999 999'"),
        (["--since", "31/02/2026"], 2, "--since '31/02/2026' is not a date"),
        (["--since", "yesterday"], 2, "--since 'yesterday' is not a date"),
        (["--action", "peeked"], 2, "--action 'peeked' is not one of: role_changed"),
        (["--xlsx", "a.xlsx", "--csv", "a.csv"], 2, "give --xlsx or --csv, not both"),
        (["--xlsx", "no/such/dir/a.xlsx"], 2, "cannot write no/such/dir/a.xlsx"),
    ],
)
def test_bad_options_are_one_clear_line(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    env = _setup(tmp_path)
    result = runner.invoke(app, ["audit", *args], env=env)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_since_is_the_local_day_and_times_are_local(tmp_path: Path) -> None:
    """Two views a minute either side of local midnight (Vietnam is UTC+7: 16:59 and 17:01
    UTC on 07/03 are 23:59 on 07/03 and 00:01 on 08/03 there): ``--since 08/03/2026`` keeps
    the second only, shown at its local time."""
    env = _setup(tmp_path)
    people, _ = asyncio.run(_ids(tmp_path))
    hung = people["+84903118274"]

    async def views() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
        try:
            async with db.session() as s:
                for minute in (59, 61):
                    at = dt.datetime(2026, 3, 7, 16, 0, tzinfo=dt.UTC) + dt.timedelta(
                        minutes=minute
                    )
                    await audit.record(s, AuditAction.CASE_VIEWED, via="chat", actor_id=hung, at=at)
        finally:
            await db.dispose()

    asyncio.run(views())
    both = _csv(env, tmp_path, "--action", "case_viewed")
    assert [r["When"] for r in both] == ["2026-03-07 23:59:00", "2026-03-08 00:01:00"]
    after = _csv(env, tmp_path, "--action", "case_viewed", "--since", "08/03/2026")
    assert [r["When"] for r in after] == ["2026-03-08 00:01:00"]
    assert [
        r["When"] for r in _csv(env, tmp_path, "--action", "case_viewed", "--since", "2026-03-07")
    ] == [
        "2026-03-07 23:59:00",
        "2026-03-08 00:01:00",
    ]
