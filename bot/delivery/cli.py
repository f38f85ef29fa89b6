"""``congdoan deliver``: a standalone delivery worker (for scale-out, or beside a webhook bot).

Several workers may run against one PostgreSQL database: claims never overlap (SKIP LOCKED).
Each needs its own ``--owner`` name if given one; a worker restarted under the same name takes
back at once the rows its previous run had claimed (otherwise they wait for the lease to run
out).  SIGTERM or Ctrl-C stops it cleanly: sends in flight finish and are recorded, claimed
rows not yet sent are handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from functools import partial
from typing import Annotated

import typer

from bot.channels.telegram import make_bot
from bot.channels.telegram_sender import AckMarkup, TelegramSender
from bot.cli_errors import OperatorCommand
from bot.delivery.worker import DeliverySettings, DeliveryWorker, DrainStats
from bot.settings import Settings, SettingsError, load_settings
from handlers.keyboards import ack_markup, survey_markup
from storage.db import Database
from storage.migrate import SchemaOutOfDate, check_up_to_date

log = logging.getLogger(__name__)


async def serve_worker(
    settings: Settings,
    *,
    delivery: DeliverySettings | None = None,
    owner: str | None = None,
    ack_markup: AckMarkup | None = None,
    drain: bool = False,
    stop: asyncio.Event | None = None,
) -> DrainStats:
    """Run a worker until ``stop`` is set (or SIGTERM/SIGINT), or with ``drain`` until
    nothing is left to send.  Returns the worker's counts."""
    token = settings.require_token()
    db = Database(settings.database_url)
    bot = make_bot(token, settings.telegram_api_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await check_up_to_date(db)
        sender = TelegramSender(
            bot, ack_markup, survey_markup=partial(survey_markup, locale=settings.locale)
        )
        worker = DeliveryWorker(db, sender, delivery, owner=owner)
        log.info("delivery worker %s started", worker.owner)
        if drain:
            await worker.drain(stop=stop)
        else:
            await worker.run(stop)
        stats = worker.stats
        log.info(
            "delivery worker %s stopped: %d sent, %d failed, %d unreachable, %d retried",
            worker.owner,
            stats.sent,
            stats.failed,
            stats.unreachable,
            stats.retried,
        )
        return stats
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await bot.session.close()
        await db.dispose()


def run_worker(
    settings: Settings,
    *,
    delivery: DeliverySettings | None = None,
    owner: str | None = None,
    ack_markup: AckMarkup | None = None,
    drain: bool = False,
) -> None:
    """Blocking entry point: serve the outbox until SIGTERM/SIGINT (see :func:`serve_worker`)."""
    asyncio.run(
        serve_worker(settings, delivery=delivery, owner=owner, ack_markup=ack_markup, drain=drain)
    )


def _rate(value: float) -> float | None:
    return None if value <= 0 else value


def deliver_command(
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", help="Messages per second, all chats (0: no limit; default: DELIVERY_RATE)."
        ),
    ] = None,
    per_chat_rate: Annotated[
        float | None,
        typer.Option(
            "--per-chat-rate",
            help="Messages per second per chat (0: no limit; default: DELIVERY_PER_CHAT_RATE).",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="Sends in flight (default: DELIVERY_CONCURRENCY)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per claim.")] = 200,
    lease_seconds: Annotated[
        float, typer.Option("--lease-seconds", min=1, help="How long a claim holds a row.")
    ] = 60.0,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, help="Tries before a row fails.")
    ] = 5,
    owner: Annotated[
        str | None,
        typer.Option("--owner", help="This worker's unique name (default: host:pid)."),
    ] = None,
    drain: Annotated[
        bool, typer.Option("--drain", help="Exit once nothing is left to send.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Send the outbox (notices, reminders) at the rate limits until stopped."""
    err = typer.echo
    try:
        settings = load_settings()
        settings.require_token()
    except SettingsError as exc:
        err(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    delivery = DeliverySettings(
        global_rate=_rate(settings.delivery_rate if rate is None else rate),
        per_chat_rate=_rate(
            settings.delivery_per_chat_rate if per_chat_rate is None else per_chat_rate
        ),
        concurrency=settings.delivery_concurrency if concurrency is None else concurrency,
        batch_size=batch_size,
        lease_seconds=lease_seconds,
        max_attempts=max_attempts,
    )
    try:
        run_worker(
            settings,
            delivery=delivery,
            owner=owner,
            ack_markup=partial(ack_markup, locale=settings.locale),
            drain=drain,
        )
    except SchemaOutOfDate as exc:
        err(
            f"error: the database schema is out of date ({exc.current or 'empty'}, the code "
            f"needs {exc.head}); run: congdoan db upgrade",
            err=True,
        )
        raise typer.Exit(2) from None


def main() -> None:
    """``python -m bot.delivery``: the same command, standalone."""
    app = typer.Typer(add_completion=False)
    app.command(cls=OperatorCommand)(deliver_command)
    app()
