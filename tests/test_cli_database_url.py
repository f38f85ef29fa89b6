"""A DATABASE_URL that is malformed, names another database, or points where no database can be
opened or reached: every command ends with one English line on stderr and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
EXPECTED = "expected sqlite:///path/to/file.db or postgresql://user:password@host/name"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for var in ("DATABASE_URL", "BOT_LOCALE", "TZ", "BOT_TZ", "WEBHOOK_URL", "WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)


def commands(tmp_path: Path) -> list[list[str]]:
    notice = tmp_path / "notice.md"
    notice.write_text("# Họp\nKính gửi {{ ten }}\n", encoding="utf-8")
    units = ROOT / "docs" / "roster" / "units-template.csv"
    return [
        ["db", "upgrade"],
        ["db", "current"],
        ["stats"],
        ["report", "--format", "txt"],
        ["serve"],
        ["deliver", "--drain"],
        ["roster", "import", str(units)],
        ["inbox", "failed"],
        ["inbox", "retry", "1"],
        ["campaign", "list"],
        ["notice", "send", "--file", str(notice), "--dry-run"],
    ]


def bad_urls(tmp_path: Path) -> list[tuple[str, str]]:
    """(DATABASE_URL, the line every command prints, without the "error: " of most)."""
    missing = tmp_path / "no-such-folder"
    return [
        (
            f"sqlite:///{missing}/congdoan.db",
            f"cannot open the database sqlite+aiosqlite:///{missing}/congdoan.db: the folder "
            f"{missing} does not exist (check DATABASE_URL)",
        ),
        ("garbage", f"DATABASE_URL is invalid: not a database URL; {EXPECTED}"),
        ("", f"DATABASE_URL is invalid: not a database URL; {EXPECTED}"),
        (
            "mysql://u@h/db",
            f"DATABASE_URL is invalid: 'mysql' databases are not supported; {EXPECTED}",
        ),
        (
            # nothing listens on port 1; the password is never shown
            "postgresql://u:s3cret@127.0.0.1:1/db",
            "cannot open the database postgresql+asyncpg://u:***@127.0.0.1:1/db: ",
        ),
    ]


def test_every_command_says_one_line_for_a_bad_database_url(tmp_path: Path) -> None:
    for url, line in bad_urls(tmp_path):
        for args in commands(tmp_path):
            env = {
                "DATABASE_URL": url,
                "BOT_TOKEN": "123456789:TEST-token",
                "TELEGRAM_API_URL": "http://127.0.0.1:9",
            }
            result = runner.invoke(app, args, env=env)
            where = f"{args} with {url!r}: {result.output}"
            assert result.exit_code == 2, where
            assert result.exception is None or isinstance(result.exception, SystemExit), where
            assert result.stdout == "", where
            lines = result.stderr.splitlines()
            assert len(lines) == 1, where
            # the roster command prints its lines bare, the others after "error: "
            assert lines[0].removeprefix("error: ").startswith(line), where
            assert "s3cret" not in result.output, where


def test_the_installed_command_too(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://u:s3cret@127.0.0.1:1/db"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "current"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(
        "error: cannot open the database postgresql+asyncpg://u:***@127.0.0.1:1/db: "
    )
    assert done.stderr.endswith(" (check DATABASE_URL)\n")
    assert len(done.stderr.splitlines()) == 1
