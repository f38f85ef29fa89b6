"""``congdoan deliver`` (here as ``python -m bot.delivery``'s typer app): bad settings and an
old database end with one clear line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.delivery.cli import deliver_command


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command()(deliver_command)
    return cli


def test_a_missing_token_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "")
    result = CliRunner().invoke(app(), [])
    assert result.exit_code == 2
    assert "BOT_TOKEN is not set" in result.output
    assert "Traceback" not in result.output


def test_an_empty_database_asks_for_an_upgrade(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456789:TEST-token")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    result = CliRunner().invoke(app(), ["--drain"])
    assert result.exit_code == 2
    assert "the database schema is out of date (empty" in result.output
    assert "run: congdoan db upgrade" in result.output
