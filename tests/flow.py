"""A running bot for flow tests: the real app (Dispatcher, Bot, inbox runner) polling the fake
Bot API, on a test database seeded with the sample province."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col

from bot.app import App, build_app
from bot.roster import import_roster, sample_paths
from bot.settings import Settings
from storage.db import Database
from storage.models import Unit
from tests.fakebotapi import FakeBotAPI, FakeUser, close_bot
from tests.fakezalo import FakeZaloAPI, FakeZaloUser

#: The time zone of the flow tests' settings (``settings_for``).
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def local_today() -> dt.date:
    """Today in the flow tests' time zone, as the bot sees it."""
    return dt.datetime.now(TZ).date()


async def seed_sample(db: Database) -> None:
    async with db.session() as session:
        report = await import_roster(session, sample_paths(), today=local_today())
    assert not report.errors, report.errors


class RunningBot:
    """The bot as ``congdoan serve`` runs it; ``restart()`` builds a new Dispatcher and Bot on
    the same database, as a process restart would."""

    def __init__(self, api: FakeBotAPI, db: Database, settings: Settings) -> None:
        self.api = api
        self.db = db
        self.settings = settings
        self.app: App | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        # wait_idle also waits for updates in the chats' lanes (handled, or replies going out)
        api.add_busy_check(lambda: self.app.runner.busy() if self.app is not None else None)

    async def start(self) -> App:
        self.app = await build_app(self.settings, token=self.api.token, db=self.db)
        self.api.track(self.app.dispatcher)
        self._stop = asyncio.Event()
        polls = len(self.api.calls_of("getUpdates"))
        self._task = asyncio.create_task(self.app.runner.poll(self._stop, poll_seconds=1))
        self._worker = asyncio.create_task(self.app.worker.run(self._stop))
        # Started once the inbox left by a previous run is drained and the first poll is out.
        async with asyncio.timeout(10):
            while len(self.api.calls_of("getUpdates")) == polls:
                if self._task.done():
                    await self._task
                await asyncio.sleep(0.01)
        return self.app

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=10)
            self._task = None
        if self._worker is not None:
            await asyncio.wait_for(self._worker, timeout=10)
            self._worker = None
        if self.app is not None:
            await close_bot(self.app.bot)
            self.app = None

    async def restart(self) -> App:
        await self.stop()
        return await self.start()


def settings_for(api: FakeBotAPI, db: Database) -> Settings:
    return Settings(
        telegram_api_url=api.base_url,
        database_url=db.url,
        locale="vi",
        timezone=TZ.key,
        delivery_rate=500.0,
        # A test clicks as soon as the bot answered, far faster than a person: with the
        # production limit (1/s per chat) every step would wait a second.  Pacing per chat is
        # tested with the production limits (tests/test_conversation_*.py, test_delivery_*).
        delivery_per_chat_rate=100.0,
        # No quiet hours: flows run at any hour of the real clock; quiet hours are tested with
        # a controllable clock (tests/test_campaigns.py, tests/test_campaign_launch.py).
        quiet_hours="00:00-00:00",
    )


@asynccontextmanager
async def running_bot(api: FakeBotAPI, db: Database) -> AsyncIterator[RunningBot]:
    bot = RunningBot(api, db, settings_for(api, db))
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def link(api: FakeBotAPI, user: FakeUser) -> None:
    """Walk a roster person through /start, consent and sharing their contact."""
    await user.send("/start")
    await api.wait_idle()
    await user.click(user.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    await user.share_contact()
    await api.wait_idle()
    assert "Đã liên kết" in user.last_message().text, user.last_message().text


async def eventually(predicate: Callable[[], bool]) -> None:
    """Wait (at most 10 s) until ``predicate`` holds: for what the delivery worker sends in the
    background, which ``wait_idle`` does not cover."""
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110  (polling the fake server's state)
            await asyncio.sleep(0.02)


async def reply_to(api: FakeBotAPI, user: FakeUser, text: str) -> str:
    """Send ``text`` and return everything the bot answered, its parts joined (a long reply,
    such as a whole /stats table, comes in several messages)."""
    before = len(user.messages())
    await user.send(text)
    await api.wait_idle()
    return "\n".join(m.text for m in user.messages()[before:])


# -- Zalo -------------------------------------------------------------------------------------


class RunningBoth(RunningBot):
    """The bot serving Telegram (the fake Bot API) and Zalo (the fake Zalo Bot API) at once,
    as ``congdoan serve`` does with both tokens set."""

    def __init__(self, api: FakeBotAPI, zalo: FakeZaloAPI, db: Database) -> None:
        settings = settings_for(api, db).model_copy(
            update={
                "zalo_bot_token": SecretStr(zalo.token),
                "zalo_api_url": zalo.url,
                "zalo_delivery_rate": 500.0,
                "zalo_delivery_per_chat_rate": 100.0,
            }
        )
        super().__init__(api, db, settings)
        self.zalo = zalo
        self._zalo_task: asyncio.Task[None] | None = None
        api.add_busy_check(self.zalo_busy)

    def zalo_busy(self) -> str | None:
        if self.app is None or self.app.zalo is None:
            return None
        if self.zalo.pending:
            return "Zalo updates not yet fetched"
        return self.app.zalo.runner.busy()

    async def start(self) -> App:
        app = await super().start()
        assert app.zalo is not None
        polls = len(self.zalo.calls_of("getUpdates"))
        self._zalo_task = asyncio.create_task(app.zalo.runner.poll(self._stop, poll_seconds=1))
        async with asyncio.timeout(10):
            while len(self.zalo.calls_of("getUpdates")) == polls:
                if self._zalo_task.done():
                    await self._zalo_task
                await asyncio.sleep(0.01)
        return app

    async def stop(self) -> None:
        self._stop.set()
        if self._zalo_task is not None:
            await asyncio.wait_for(self._zalo_task, timeout=10)
            self._zalo_task = None
        if self.app is not None and self.app.zalo is not None:
            await self.app.zalo.client.close()
        await super().stop()

    async def say(self, user: FakeZaloUser, text: str) -> str:
        """``user`` types ``text`` on Zalo; everything the bot answered, joined."""
        before = len(user.received)
        await user.send(text)
        await self.idle()
        return "\n".join(user.received[before:])

    async def idle(self) -> None:
        """Until the Zalo updates sent so far are handled and answered."""
        async with asyncio.timeout(15):
            while True:
                while self.zalo_busy() is not None:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.15)  # between a fetch and its dispatch
                if self.zalo_busy() is None:
                    return


@asynccontextmanager
async def running_both(
    api: FakeBotAPI, zalo: FakeZaloAPI, db: Database
) -> AsyncIterator[RunningBoth]:
    bot = RunningBoth(api, zalo, db)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


async def invite_code(db: Database, unit_code: str) -> str:
    """The invite code of a unit of the sample roster."""
    async with db.session() as session:
        found = (
            await session.execute(select(col(Unit.invite_code)).where(col(Unit.code) == unit_code))
        ).scalar_one()
    assert found
    return str(found)


async def link_zalo(bot: RunningBoth, user: FakeZaloUser, *, unit: str, details: str) -> None:
    """Walk a roster person through /start CODE, consent (typed "1") and typed details."""
    code = await invite_code(bot.db, unit)
    await bot.say(user, f"/start {code}")
    await bot.say(user, "1")
    answer = await bot.say(user, details)
    assert "Đã liên kết" in answer, answer
