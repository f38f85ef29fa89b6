"""The command line: settings errors, schema checks, stats, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from storage.db import Database
from storage.migrate import head_revision, upgrade
from tests.fakebotapi import FakeBotAPI

runner = CliRunner()


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "BOT_TOKEN": "", "TZ": ""}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for var in (
        "BOT_TOKEN",
        "DATABASE_URL",
        "TELEGRAM_API_URL",
        "BOT_LOCALE",
        "TZ",
        "BOT_TZ",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
    ):
        monkeypatch.delenv(var, raising=False)


def test_serve_without_token_says_which_variable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve"], env=env_for(tmp_path))
    assert result.exit_code == 2
    assert "BOT_TOKEN is not set" in result.output
    assert "Traceback" not in result.output


def test_malformed_settings_name_the_variable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve"], env=env_for(tmp_path, BOT_TOKEN="not-a-token"))
    assert result.exit_code == 2
    assert "BOT_TOKEN is malformed" in result.output
    result = runner.invoke(app, ["db", "upgrade"], env=env_for(tmp_path, BOT_LOCALE="fr"))
    assert result.exit_code == 2
    assert "BOT_LOCALE is invalid" in result.output
    result = runner.invoke(
        app, ["db", "upgrade"], env=env_for(tmp_path, TELEGRAM_API_URL="ftp://x")
    )
    assert result.exit_code == 2
    assert "TELEGRAM_API_URL is invalid" in result.output
    result = runner.invoke(
        app,
        ["serve"],
        env=env_for(tmp_path, BOT_TOKEN="1:abc", WEBHOOK_URL="https://bot.example.org/tg"),
    )
    assert result.exit_code == 2
    assert "WEBHOOK_SECRET must be set" in result.output


def test_serve_refuses_an_old_database_and_upgrade_fixes_it(tmp_path: Path) -> None:
    env = env_for(tmp_path, BOT_TOKEN="123:abc", TELEGRAM_API_URL="http://127.0.0.1:9")
    result = runner.invoke(app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "congdoan db upgrade" in result.output
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"→ {head_revision()}" in result.output
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert f"already at {head_revision()}" in result.output


def test_stats_in_the_terminal(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    from bot.roster import sample_paths

    units, people = sample_paths()
    result = runner.invoke(app, ["roster", "import", str(units), str(people)], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["stats", "--unit", "DL-THPT-BTX", "--year", "2026"], env=env)
    assert result.exit_code == 0, result.output
    # A5 of CĐCS THPT Bùi Thị Xuân: 5 members of a staff of 6.
    assert "5/6" in result.output
    assert "83,3%" in result.output
    result = runner.invoke(app, ["stats", "--unit", "no-such-unit"], env=env)
    assert result.exit_code == 2
    assert "no unit matches" in result.output


def test_report_exports_xlsx_csv_png_and_txt(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from bot.roster import sample_paths

    env = env_for(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    units, people = sample_paths()
    assert runner.invoke(app, ["roster", "import", str(units), str(people)], env=env).exit_code == 0
    args = ["report", "--scope", "DL-THPT-BTX", "--year", "2026"]
    book = tmp_path / "btx.xlsx"
    result = runner.invoke(app, [*args, "--output", str(book)], env=env)
    assert result.exit_code == 0, result.output
    assert f"wrote {book} (20 indicators" in result.output
    summary = load_workbook(book)["Tổng hợp"]
    a5 = next(r for r in summary.iter_rows(min_row=9, values_only=True) if r[0] == "A5")
    assert list(a5[3:6]) == [5, 6, pytest.approx(5 / 6)]  # 5 members of a staff of 6
    csv_file = tmp_path / "btx.csv"
    result = runner.invoke(app, [*args, "--format", "csv", "--output", str(csv_file)], env=env)
    assert result.exit_code == 0, result.output
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    assert "Tổng hợp,A5," in csv_file.read_text("utf-8-sig")
    png = tmp_path / "btx.png"
    result = runner.invoke(app, [*args, "--format", "png", "--output", str(png)], env=env)
    assert result.exit_code == 0, result.output
    assert png.read_bytes().startswith(b"\x89PNG")
    txt = tmp_path / "btx.txt"
    result = runner.invoke(app, [*args, "--format", "txt", "--output", str(txt)], env=env)
    assert result.exit_code == 0, result.output
    assert "83,3%" in txt.read_text("utf-8")
    bad = runner.invoke(app, [*args, "--format", "pdf"], env=env)
    assert bad.exit_code == 2 and "--format must be one of xlsx, csv, png, txt" in bad.output
    missing = runner.invoke(app, [*args, "--output", str(tmp_path / "no" / "dir.xlsx")], env=env)
    assert missing.exit_code == 2 and "cannot write the report" in missing.output


async def test_sigterm_stops_serve_cleanly(tmp_path: Path) -> None:
    db_path = tmp_path / "serve.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(db)
    await db.dispose()
    async with FakeBotAPI() as api:
        env = dict(os.environ)
        env.update(
            BOT_TOKEN=api.token,
            TELEGRAM_API_URL=api.base_url,
            DATABASE_URL=f"sqlite:///{db_path}",
            PYTHONUNBUFFERED="1",
            # A port of its own for the dashboard: the default one may be a demo's (a test
            # running beside this one), and serve would stop at once.
            WEB_PORT=str(ephemeral_port()),
        )
        env.pop("WEBHOOK_URL", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(30):
                while not api.calls_of("getUpdates"):  # the fake records calls
                    if process.returncode is not None:  # it stopped: say why
                        output, _ = await process.communicate()
                        pytest.fail(f"serve stopped at start: {output.decode()}")
                    await asyncio.sleep(0.05)
            user = api.user(id=4242, first_name="Oanh")
            await user.send("/help")
            await api.wait_idle(timeout=10)
            # serve runs in another process: the fake's idleness does not cover its handling.
            async with asyncio.timeout(30):
                while not user.messages():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert "Hướng dẫn" in user.last_message().text
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                output, _ = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, output.decode()
        assert "stopped cleanly" in output.decode()
        assert "Traceback" not in output.decode()


def ephemeral_port() -> int:
    """A port the system deems free now (it hands out others before this one again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_notice_send_from_a_file(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    from bot.roster import sample_paths

    units, people = sample_paths()
    assert runner.invoke(app, ["roster", "import", str(units), str(people)], env=env).exit_code == 0
    notice = tmp_path / "notice.md"
    notice.write_text("# Lịch họp\nKính gửi <b>{{ ten }}</b>, họp lúc 14h.\n", encoding="utf-8")
    args = ["notice", "send", "--file", str(notice)]
    # CĐCS Bùi Thị Xuân, members only: 5 members, none has linked a chat yet.
    result = runner.invoke(
        app, [*args, "--audience", "unit=DL-THPT-BTX;members", "--dry-run"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "5 recipients, 0 reachable, 5 unreachable (never linked 5" in result.output
    result = runner.invoke(app, [*args, "--audience", "unit=DL-THPT-BTX"], env=env)
    assert result.exit_code == 0, result.output
    assert "queued now: 0 to send, 6 unreachable" in result.output

    result = runner.invoke(app, [*args, "--audience", "unit=NOPE"], env=env)
    assert result.exit_code == 2
    assert "no unit with code 'NOPE'" in result.output
    # An officer of Đà Lạt cannot send to Bảo Lộc.
    result = runner.invoke(app, [*args, "--audience", "unit=LD-BL", "--as", "0903118274"], env=env)
    assert result.exit_code == 2
    assert "outside your scope" in result.output
    bad = tmp_path / "bad.md"
    bad.write_text("# Lỗi\n<b>chưa đóng\n", encoding="utf-8")
    result = runner.invoke(app, ["notice", "send", "--file", str(bad)], env=env)
    assert result.exit_code == 2
    assert "not valid Telegram HTML" in result.output
    sneaky = tmp_path / "sneaky.md"
    sneaky.write_text("# X\n{{ ''.__class__.__mro__ }}\n", encoding="utf-8")
    result = runner.invoke(app, ["notice", "send", "--file", str(sneaky)], env=env)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_campaign_launch_and_list(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    from bot.roster import sample_paths

    units, people = sample_paths()
    assert runner.invoke(app, ["roster", "import", str(units), str(people)], env=env).exit_code == 0
    closes = (dt.datetime.now() + dt.timedelta(days=20)).strftime("%d/%m/%Y 17:00")
    args = ["campaign", "launch", "--survey", "activity_participation", "--closes", closes]
    # CĐCS Bùi Thị Xuân, members only: 5 members, none has linked a chat yet.
    result = runner.invoke(app, [*args, "--audience", "unit=DL-THPT-BTX;members", "--dry-run"],
                           env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 people, 0 invitations to send, 5 unreachable" in result.output
    assert "Dry run: nothing launched." in result.output
    listed = runner.invoke(app, ["campaign", "list"], env=env)
    assert listed.exit_code == 0 and "No campaigns yet." in listed.output

    result = runner.invoke(
        app, [*args, "--audience", "unit=DL-THPT-BTX;members", "--reminders", "2d", "--morning",
              "none", "--repeat", "monthly"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Campaign #" in result.output and "Reminders: " in result.output
    listed = runner.invoke(app, ["campaign", "list"], env=env)
    assert "0/5" in listed.output and "0%" in listed.output

    for bad, message in (
        (["--reminders", "3x"], "is not a positive offset"),
        (["--morning", "8h"], "is not a time HH:MM"),
        (["--audience", "unit=NOPE"], "no unit with code 'NOPE'"),
        (["--survey", "nope"], "no launchable survey with that key (known: activity_participation"),
    ):
        result = runner.invoke(app, [*args, *bad], env=env)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    past = runner.invoke(
        app, ["campaign", "launch", "--survey", "unit_report", "--closes", "01/01/2020 17:00"],
        env=env)  # fmt: skip
    assert past.exit_code == 2 and "closing time must be after the opening" in past.output


def test_inbox_failed_lists_set_aside_updates_and_retry_replays_one(tmp_path: Path) -> None:
    env = env_for(tmp_path, TZ="Asia/Ho_Chi_Minh")

    async def prepare() -> None:
        from storage import inbox
        from storage.models import Channel

        db = Database(env["DATABASE_URL"])
        try:
            await upgrade(db)
            async with db.session() as session:
                await inbox.store_updates(
                    session,
                    channel=Channel.TELEGRAM,
                    updates=[
                        (41, '{"update_id": 41, "message": "rác"}'),
                        (
                            42,
                            '{"update_id": 42, "message": {"from": {"id": 77}, "text": "bí mật"}}',
                        ),
                    ],
                )
            async with db.session() as session:
                rows = await inbox.pending_after(
                    session, channel=Channel.TELEGRAM, after_id=0, limit=10
                )
                for row in rows:
                    assert await inbox.set_aside(
                        session, inbox_id=row.id, error="ValueError: boom", replies=None
                    )
        finally:
            await db.dispose()

    asyncio.run(prepare())
    listed = runner.invoke(app, ["inbox", "failed"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "Updates set aside (2 shown" in listed.output
    assert "ValueError: boom" in listed.output and "message" in listed.output
    assert "bí mật" not in listed.output  # what the member typed is not listed
    shown = runner.invoke(app, ["inbox", "failed", "--payload", "2"], env=env)
    assert shown.exit_code == 0 and "bí mật" in shown.output
    retried = runner.invoke(app, ["inbox", "retry", "2"], env=env)
    assert retried.exit_code == 0, retried.output
    assert "back in line" in retried.output
    again = runner.invoke(app, ["inbox", "retry", "2"], env=env)
    assert again.exit_code == 2
    assert "no update set aside has ID 2" in again.output
    assert "Traceback" not in again.output
    listed = runner.invoke(app, ["inbox", "failed"], env=env)
    assert "Updates set aside (1 shown" in listed.output
