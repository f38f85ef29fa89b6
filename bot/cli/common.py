"""What the subcommands of ``congdoan`` share beyond :mod:`bot.cli_errors`: failing with one
line and loading the settings as a command starts.

Every module of :mod:`bot.cli` may import this one; it imports no module of :mod:`bot.cli`.
"""

from __future__ import annotations

from typing import NoReturn

from bot.cli_errors import operator_error
from bot.settings import Settings, SettingsError, load_settings


def fail(message: str) -> NoReturn:
    raise operator_error(message)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))
