"""The application factory: settings → database, services, Dispatcher, Bot, inbox runner.

Built by the entry point (``congdoan serve``, the demo, the tests); nothing here runs at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BotCommand, BotCommandScopeDefault
from aiohttp import web

from bot.campaigns.digest import DigestSchedule, digest_pass
from bot.campaigns.schedule import ReminderPolicy
from bot.campaigns.scheduler import Scheduler, SchedulerSettings
from bot.channels.telegram import ALLOWED_UPDATES, InboxRunner, make_bot
from bot.channels.telegram_replies import ReplySender
from bot.channels.telegram_sender import AckMarkup, SurveyMarkup, TelegramSender
from bot.channels.zalo.api import ZaloBotClient, ZaloError, ZaloErrorKind
from bot.channels.zalo.inbound import ZaloAdapter, ZaloCodec
from bot.channels.zalo.inbox import ZaloInbox
from bot.channels.zalo.outbox import render_for
from bot.channels.zalo.replies import ZaloReplySender
from bot.channels.zalo.sender import ZaloSender
from bot.delivery.channel import Sender
from bot.delivery.ratelimit import RateLimiter
from bot.delivery.worker import DeliverySettings, DeliveryWorker
from bot.indicators import Catalog, load_catalog
from bot.notices.service import AckReminderPolicy
from bot.reports.export import SignOff
from bot.runtime import ack_reminder_policy, reminder_policy, settle_memory
from bot.services import retention
from bot.services.alerts import UrgentPolicy, escalation_pass
from bot.services.composer import Composer
from bot.services.consent import ConsentTextChanged, store_consent_texts
from bot.services.conversation import Conversation, SurveyRegistry
from bot.services.news import NewsPolicy, news_pass
from bot.services.retention import RetentionPolicy
from bot.services.web_access import WebPolicy
from bot.settings import Settings
from bot.texts import label
from handlers import build_router
from handlers.keyboards import ack_markup, survey_markup
from handlers.middlewares import ChatAdapter, UnitOfWork
from handlers.views import MEMBER_COMMANDS
from storage.db import Database
from storage.migrate import check_up_to_date
from storage.models import Channel

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class App:
    settings: Settings
    db: Database
    registry: SurveyRegistry
    conversation: Conversation
    catalog: Catalog
    dispatcher: Dispatcher
    bot: Bot
    runner: InboxRunner
    worker: DeliveryWorker
    scheduler: Scheduler
    zalo: ZaloChannel | None = None

    async def close(self) -> None:
        await self.runner.close()
        if self.zalo is not None:
            await self.zalo.runner.close()
            await self.zalo.client.close()
        await self.bot.session.close()
        await self.db.dispose()


@dataclass
class ZaloChannel:
    """The Zalo side of the app: its client, its Dispatcher (the same routers, Zalo's unit of
    work) and its inbox runner."""

    client: ZaloBotClient
    dispatcher: Dispatcher
    runner: ZaloInbox


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        global_rate=settings.delivery_rate,
        per_chat_rate=settings.delivery_per_chat_rate,
        concurrency=settings.delivery_concurrency,
    )


def urgent_policy(settings: Settings) -> UrgentPolicy:
    return UrgentPolicy(escalate_after=dt.timedelta(hours=settings.urgent_escalate_after))


def build_scheduler(
    settings: Settings,
    db: Database,
    registry: SurveyRegistry,
    catalog: Catalog,
    *,
    on_written: Callable[[], None] | None = None,
) -> Scheduler:
    """The campaign scheduler (reminders, recurring runs, the weekly digest)."""
    policy = reminder_policy(settings)
    schedule = DigestSchedule(
        weekday=settings.digest_weekday, at=dt.time.fromisoformat(settings.digest_time)
    )

    async def digest(session: Any, now: dt.datetime) -> int:
        return await digest_pass(
            session,
            now=now,
            catalog=catalog,
            tz=settings.tz,
            schedule=schedule,
            quiet=policy.quiet,
            default_locale=settings.locale,
        )

    urgent = urgent_policy(settings)

    async def escalate(session: Any, now: dt.datetime) -> int:
        return await escalation_pass(
            session,
            now=now,
            escalate_after=urgent.escalate_after,
            tz=settings.tz,
        )

    news_policy = NewsPolicy(
        every=dt.timedelta(hours=settings.officer_news_every), quiet=policy.quiet
    )

    async def announce(session: Any, now: dt.datetime) -> int:
        return await news_pass(session, now=now, policy=news_policy, tz=settings.tz)

    return Scheduler(
        db,
        registry,
        SchedulerSettings(
            interval_seconds=settings.scheduler_interval,
            tz=settings.tz,
            policy=policy,
            ack_policy=ack_reminder_policy(settings),
            default_locale=settings.locale,
        ),
        digest=digest,
        escalate=escalate,
        announce=announce,
        on_written=on_written,
        # Once a day, the retention purge (in every mode: serve runs the scheduler).
        upkeep=partial(
            retention.daily, db, RetentionPolicy.from_settings(settings), tz=settings.tz
        ),
    )


def build_dispatcher(
    *,
    db: Database,
    conversation: Conversation,
    catalog: Catalog,
    channel: Channel,
    locale: str,
    composer: Composer,
    wake_delivery: Callable[[], None],
    report_signoff: SignOff,
    policy: ReminderPolicy | None = None,
    ack_policy: AckReminderPolicy | None = None,
    web_policy: WebPolicy,
    adapter: ChatAdapter | None = None,
) -> Dispatcher:
    """A Dispatcher with the routers, the unit-of-work middleware and the injected services."""
    dp = Dispatcher(
        # The conversation state is in the database (chat_identities), never in aiogram's FSM.
        disable_fsm=True,
        conversation=conversation,
        indicator_catalog=catalog,
        report_signoff=report_signoff,
        db=db,
        composer=composer,
        reminder_policy=policy or ReminderPolicy(),
        ack_policy=ack_policy or AckReminderPolicy(),
        # Where ``/web`` sends officers (the dashboard's sign-in links).
        web_policy=web_policy,
        # The language of a recipient whose chat has none (the settings' locale).
        default_locale=locale,
    )
    # Whatever an update queued in the outbox is sent as soon as it is committed.
    dp.update.outer_middleware(
        UnitOfWork(db, channel=channel, locale=locale, wake_delivery=wake_delivery, adapter=adapter)
    )
    dp.include_router(build_router())
    return dp


async def build_app(
    settings: Settings,
    *,
    token: str,
    bot_session: Any = None,
    channel: Channel = Channel.TELEGRAM,
    check_schema: bool = True,
    db: Database | None = None,
    zalo_client_override: ZaloBotClient | None = None,
) -> App:
    """Assemble the application; the database must be at the code's schema version."""
    db = db or Database(settings.database_url)
    try:
        if check_schema:
            await check_up_to_date(db)
        registry = SurveyRegistry()
        async with db.session() as session:
            await registry.sync(session)
            # The wording of the consent versions shown from now on, before anyone is shown it.
            await store_consent_texts(session)
        catalog = load_catalog()
    except ConsentTextChanged as exc:
        await db.dispose()
        raise StartupError(str(exc)) from None
    except BaseException:
        await db.dispose()
        raise
    conversation = Conversation(registry, tz=settings.tz, urgent=urgent_policy(settings))
    bot = make_bot(token, settings.telegram_api_url, session=bot_session)
    sender = telegram_sender(bot, settings)
    # One limiter for every outbound call: the outbox's and the replies' (urgent, first).  The
    # limits are the platform's; the local channel (the demo) answers in-process and has none.
    outbound = delivery_settings(settings)
    if channel == Channel.LOCAL:
        outbound = dataclasses.replace(outbound, global_rate=None, per_chat_rate=None)
    limiter = RateLimiter(outbound.global_rate, outbound.per_chat_rate, margin=outbound.rate_margin)
    zalo_client = zalo_limiter = None
    channels: dict[Channel, tuple[Sender, RateLimiter]] = {}
    if settings.zalo_enabled or zalo_client_override is not None:
        zalo_client = zalo_client_override or ZaloBotClient(
            settings.require_zalo_token(), settings.zalo_api_url
        )
        zalo_limiter = RateLimiter(
            settings.zalo_delivery_rate,
            settings.zalo_delivery_per_chat_rate,
            margin=outbound.rate_margin,
        )
        channels[Channel.ZALO] = (zalo_sender(zalo_client, settings), zalo_limiter)
    worker = DeliveryWorker(db, sender, outbound, limiter=limiter, channels=channels)

    def dispatcher(on: Channel, adapter: ChatAdapter | None = None) -> Dispatcher:
        return build_dispatcher(
            db=db,
            conversation=conversation,
            catalog=catalog,
            channel=on,
            locale=settings.locale,
            composer=Composer(
                tz=settings.tz,
                default_locale=settings.locale,
                quiet=reminder_policy(settings).quiet,
            ),
            wake_delivery=worker.notify,
            report_signoff=SignOff.from_settings(settings),
            policy=reminder_policy(settings),
            ack_policy=ack_reminder_policy(settings),
            adapter=adapter,
            web_policy=WebPolicy.from_settings(settings),
        )

    dp = dispatcher(channel)
    runner = InboxRunner(
        bot,
        dp,
        db,
        replies=ReplySender(bot, limiter, channel=channel),
        locale=settings.locale,
        channel=channel,
    )
    scheduler = build_scheduler(settings, db, registry, catalog, on_written=worker.notify)
    zalo: ZaloChannel | None = None
    if zalo_client is not None and zalo_limiter is not None:
        zalo_dp = dispatcher(Channel.ZALO, ZaloAdapter())
        zalo_runner = ZaloInbox(
            bot,
            zalo_dp,
            db,
            replies=ZaloReplySender(zalo_client, zalo_limiter),
            locale=settings.locale,
            codec=ZaloCodec(),
            client=zalo_client,
        )
        zalo = ZaloChannel(zalo_client, zalo_dp, zalo_runner)
    return App(
        settings, db, registry, conversation, catalog, dp, bot, runner, worker, scheduler, zalo
    )


def telegram_sender(bot: Bot, settings: Settings) -> TelegramSender:
    """The outbox's Telegram sender: its buttons speak each recipient chat's language (the
    settings' for a chat that has none)."""

    def localized(locale: str) -> tuple[AckMarkup, SurveyMarkup]:
        return partial(ack_markup, locale=locale), partial(survey_markup, locale=locale)

    return TelegramSender(
        bot,
        partial(ack_markup, locale=settings.locale),
        survey_markup=partial(survey_markup, locale=settings.locale),
        localized=localized,
    )


def zalo_sender(client: ZaloBotClient, settings: Settings) -> ZaloSender:
    """The outbox's Zalo sender (what the buttons do said in words, in each chat's language)."""
    return ZaloSender(client, render_for(settings.locale))


class StartupError(Exception):
    """The bot cannot start: the message (English, for the operator) says why."""


async def patiently(make: Callable[[], Awaitable[T]], what: str, *, tries: int = 6) -> T:
    """A start-up call to the Bot API, made again through 429s, 5xx and network errors (1, 2,
    4 … s apart, or the 429's retry_after); a refused token stops the start with one line."""
    delay = 1.0
    for attempt in range(1, tries + 1):
        try:
            return await make()
        except TelegramUnauthorizedError:
            raise StartupError(
                "Telegram refused BOT_TOKEN (401 Unauthorized): check the token from @BotFather"
            ) from None
        except TelegramRetryAfter as exc:
            wait: float = exc.retry_after
        except (TelegramServerError, TelegramNetworkError) as exc:
            if attempt == tries:
                raise StartupError(f"{what} failed {tries} times: {exc.message}") from None
            wait, delay = delay, delay * 2
        log.warning("%s: retrying in %.0f s (attempt %d of %d)", what, wait, attempt, tries)
        await asyncio.sleep(wait)
    raise StartupError(f"{what}: Telegram kept answering 429")


async def set_default_commands(app: App) -> None:
    """The menu a new chat sees; officers and admins get theirs when they link."""
    locale = app.settings.locale
    commands = [
        BotCommand(command=c, description=label(f"cmd_{c}", locale)) for c in MEMBER_COMMANDS
    ]
    await patiently(
        lambda: app.bot.set_my_commands(commands, scope=BotCommandScopeDefault()),
        "setting the command menu",
    )


async def start_dashboard(app: App, sock: socket.socket | None = None) -> web.AppRunner:
    """The dashboard (``bot.web``) on WEB_HOST:WEB_PORT, in this process (on ``sock`` when
    given: bound to that address already)."""
    from bot.web.server import build_web_app, start_web, web_context

    settings = app.settings
    site = build_web_app(
        web_context(settings, app.db, app.catalog, wake_delivery=app.worker.notify)
    )
    try:
        return await start_web(site, host=settings.web_host, port=settings.web_port, sock=sock)
    except OSError as exc:
        raise StartupError(
            f"the dashboard cannot listen on {settings.web_host}:{settings.web_port} "
            f"(WEB_HOST, WEB_PORT): {exc.strerror or exc}"
        ) from None


async def serve(app: App, *, stop: asyncio.Event | None = None, dashboard: bool = True) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): polling, or webhook when WEBHOOK_URL is set;
    with ``dashboard``, the web dashboard beside them.

    On a signal, no new update is taken; the updates in hand are finished before exit.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    me = await patiently(app.bot.me, "asking Telegram who the bot is")
    log.info("bot @%s starting", me.username)
    if app.zalo is not None:
        zalo_me = await zalo_patiently(app.zalo.client.get_me, "asking Zalo who the bot is")
        log.info("Zalo bot %s starting", zalo_me.get("account_name") or zalo_me.get("id"))
    await set_default_commands(app)
    web_runner = await start_dashboard(app) if dashboard else None
    settle_memory()
    # The outbox is sent by a worker in this process (more can run: `congdoan deliver`).
    delivering = asyncio.create_task(app.worker.run(stop))
    # Reminders, recurring campaigns, digests: one process per database ticks (the others wait).
    scheduling = asyncio.create_task(app.scheduler.run(stop))
    try:
        await _receive(app, stop)
    finally:
        stop.set()
        await delivering
        await scheduling
        if web_runner is not None:
            await web_runner.cleanup()
    log.info("stopped cleanly")


def _path(url: str, default: str) -> str:
    path = "/" + url.split("://", 1)[1].partition("/")[2]
    return path if path != "/" else default


async def _receive(app: App, stop: asyncio.Event) -> None:
    """Every channel's updates: by webhook (one web server for all) or long polling."""
    settings = app.settings
    zalo = app.zalo
    web_app: web.Application | None = None
    pollers: list[Awaitable[None]] = []
    if settings.webhook_url:
        secret = settings.require_webhook_secret()
        web_app = web_app or web.Application()
        app.runner.attach_webhook(
            web_app, path=_path(settings.webhook_url, "/webhook"), secret=secret
        )
        webhook_url = settings.webhook_url
        await patiently(
            lambda: app.bot.set_webhook(
                webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            ),
            "setting the webhook",
        )
    else:
        await patiently(
            lambda: app.bot.delete_webhook(drop_pending_updates=False), "removing the webhook"
        )
        pollers.append(app.runner.poll(stop))
    if zalo is not None:
        if settings.zalo_webhook_url:
            zalo_secret = settings.require_zalo_webhook_secret()
            web_app = web_app or web.Application()
            zalo.runner.attach_webhook(
                web_app, path=_path(settings.zalo_webhook_url, "/zalo"), secret=zalo_secret
            )
            zalo_url = settings.zalo_webhook_url
            await zalo_patiently(
                lambda: zalo.client.set_webhook(zalo_url, zalo_secret), "setting the Zalo webhook"
            )
        else:
            await zalo_patiently(zalo.client.delete_webhook, "removing the Zalo webhook")
            pollers.append(zalo.runner.poll(stop))
    runner: web.AppRunner | None = None
    if web_app is not None:
        runner = web.AppRunner(web_app)
        await runner.setup()
        site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
        await site.start()
        log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    try:
        if pollers:
            await asyncio.gather(*pollers)
        await stop.wait()
    finally:
        stop.set()
        if runner is not None:
            await runner.cleanup()  # waits for the updates in hand


async def zalo_patiently(make: Callable[[], Awaitable[T]], what: str, *, tries: int = 6) -> T:
    """A start-up call to the Zalo Bot API, made again through 429s, 5xx and network errors;
    a refused token stops the start with one line."""
    delay = 1.0
    for attempt in range(1, tries + 1):
        try:
            return await make()
        except ZaloError as error:
            if error.kind == ZaloErrorKind.UNAUTHORIZED:
                raise StartupError(
                    "Zalo refused ZALO_BOT_TOKEN (401 Unauthorized): check the token from "
                    "Zalo Bot Creator"
                ) from None
            if error.kind not in (ZaloErrorKind.TRANSIENT, ZaloErrorKind.RATE_LIMITED):
                raise StartupError(f"{what} failed: {error}") from None
            if attempt == tries:
                raise StartupError(f"{what} failed {tries} times: {error}") from None
            wait = error.retry_after or delay
            delay *= 2
        log.warning("%s: retrying in %.0f s (attempt %d of %d)", what, wait, attempt, tries)
        await asyncio.sleep(wait)
    raise StartupError(f"{what}: Zalo kept refusing")
