"""What the bot's processes share without the chat's libraries (aiogram): the policies read
from the one settings object, and the memory settling every long-running process does after
its start (``serve``, ``congdoan web``).  ``bot.app`` re-exports them."""

from __future__ import annotations

import datetime as dt
import gc
import sys

from bot.campaigns.schedule import QuietHours, ReminderPolicy
from bot.notices.service import AckReminderPolicy
from bot.settings import Settings


def reminder_policy(settings: Settings) -> ReminderPolicy:
    """The default reminder policy of campaigns, from the settings."""
    start, end = settings.quiet
    return ReminderPolicy(
        max_per_person=settings.reminder_max, quiet=QuietHours(start=start, end=end)
    )


def ack_reminder_policy(settings: Settings) -> AckReminderPolicy:
    """How members who have not acknowledged a notice are reminded, from the settings."""
    start, end = settings.quiet
    return AckReminderPolicy(
        after=dt.timedelta(hours=settings.notice_remind_after),
        automatic=settings.notice_reminders if settings.notice_remind_after > 0 else 0,
        max_per_person=settings.reminder_max,
        quiet=QuietHours(start=start, end=end),
    )


def settle_memory() -> None:
    """After start-up: move what is loaded (modules, templates, definitions, the catalog) out
    of the garbage collector's way, and let it run less often.  Under load a full collection
    over that heap took ~200 ms, stopping every chat at once every few seconds."""
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, 10_000), gen1, gen2)
    # The database driver's thread (aiosqlite) needs the GIL back after every statement;
    # with CPython's default 5 ms switch interval, a busy event loop kept it waiting that long
    # for each of a handling's statements (held in the SQLite writer's turn meanwhile).
    # Measured at 100 updates/s on SQLite (benchmarks/conversation.py --quick): p99 1.5 s with
    # 5 ms, 0.8 s with 0.5 ms, 0.27-0.34 s with 0.1 ms or 0.05 ms.
    sys.setswitchinterval(0.0001)
