"""``congdoan purge [--dry-run]``: the retention purge on demand.

The running bot purges once a day by itself (:func:`bot.services.retention.daily`); this is
for an operator who wants to see what the settings ``RETAIN_*`` would remove before the
next one (``--dry-run`` changes nothing), or to purge now after lowering one of them.  The
table says, per kind, how many rows would go (or went) and which setting keeps them.  A real
purge leaves an audit row (``purged``, via cli) with the same counts, and counts as the day's
purge for the scheduler.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.common import settings_or_exit
from bot.cli_errors import run_command
from bot.services import retention
from bot.services.retention import Counts, RetentionPolicy
from storage.db import Database
from storage.migrate import check_up_to_date
from storage.models import utcnow


def _table(policy: RetentionPolicy, counts: Counts, *, dry_run: bool) -> Table:
    table = Table(title="Retention purge" + (" (dry run: nothing changed)" if dry_run else ""))
    table.add_column("What")
    table.add_column("Kept for", no_wrap=True)
    table.add_column("Setting", no_wrap=True)
    table.add_column("Would go" if dry_run else "Went", justify="right")
    for rule in policy.rules():
        table.add_row(rule.what, rule.kept, rule.setting, f"{counts.get(rule.kind, 0):,}")
    return table


def purge_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would go; change nothing.")
    ] = False,
) -> None:
    """Delete (or blank) what is kept longer than the RETAIN_* settings allow."""
    settings = settings_or_exit()
    policy = RetentionPolicy.from_settings(settings)
    db = Database(settings.database_url)

    async def main() -> int:
        try:
            await check_up_to_date(db)
            counts = await retention.purge(db, policy, utcnow(), via="cli", dry_run=dry_run)
        finally:
            await db.dispose()
        out = Console()
        out.print(_table(policy, counts, dry_run=dry_run))
        total = sum(counts.values())
        if dry_run:
            out.print(
                f"{total:,} rows would be removed or blanked. Run without --dry-run to purge."
            )
        else:
            out.print(f"{total:,} rows removed or blanked; the audit trail records it.")
        return 0

    run_command(main())
