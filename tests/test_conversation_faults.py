"""The conversation path against a hostile network and a failing handler: every reply arrives,
in order, once; a chat's updates never overtake a failed one; poison is set aside; one slow
chat holds up nobody else; a reply lost in a crash is sent after the restart."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram.types import TelegramObject, Update
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.channels.telegram_replies import ReplySettings
from storage import inbox
from storage.db import Database
from storage.models import Answer, Case, Channel, InboxUpdate, Response
from tests.fakebotapi import FakeBotAPI, FakeUser, SentMessage, close_bot
from tests.flow import RunningBot, running_bot, seed_sample, settings_for
from tests.test_delivery_support import seed_recipients

HARDSHIP = "📝 Báo cáo hoàn cảnh khó khăn"
SUBMIT = "📨 Gửi câu trả lời"


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110  (polling the fake server's state)
            await asyncio.sleep(0.01)


async def next_message(user: FakeUser, before: int, timeout: float = 300.0) -> None:  # noqa: ASYNC109
    """Wait until ``user`` has more than ``before`` messages from the bot."""
    await until(lambda: len(user.messages()) > before, timeout)


class FailingUpdates:
    """A test middleware inside the unit of work: the updates whose text (or callback data)
    matches fail, ``times`` times each (None: always), as a database error would."""

    def __init__(self, match: Callable[[Update], bool], times: int | None = 1) -> None:
        self.match = match
        self.times = times
        self.failures: dict[int, int] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        if self.match(event):
            done = self.failures.get(event.update_id, 0)
            if self.times is None or done < self.times:
                self.failures[event.update_id] = done + 1
                raise IntegrityError(
                    "INSERT INTO answers (value) VALUES (?)",
                    {"value": "bí mật của thầy"},
                    Exception("database is locked"),
                )
        return await handler(event, data)


def texted(text: str) -> Callable[[Update], bool]:
    return lambda u: u.message is not None and u.message.text == text


def install(bot: RunningBot, middleware: FailingUpdates) -> None:
    """Inside the unit of work (registered after it), so its session rolls back."""
    assert bot.app is not None
    bot.app.dispatcher.update.outer_middleware(middleware)


@pytest.fixture
async def province(api: FakeBotAPI, sqlite_db: Database) -> AsyncIterator[RunningBot]:
    await seed_sample(sqlite_db)
    async with running_bot(api, sqlite_db) as running:
        yield running


# -- every reply, in order, through 429s and 5xx ---------------------------------------------


async def report_hardship(api: FakeBotAPI, member: FakeUser) -> list[str]:
    """Open the hardship form and answer it by typing, as a member on a phone would; returns
    the texts of the messages the member saw, in order."""
    steps: list[tuple[str, str]] = [
        ("send", "/surveys"),
        ("click", HARDSHIP),
        ("send", "1"),  # of myself
        ("send", "2"),  # an accident
        ("send", "Bị tai nạn giao thông"),
        ("send", "không"),  # not urgent
        ("click", SUBMIT),
    ]
    for kind, what in steps:
        before = len(member.messages())
        if kind == "send":
            await member.send(what)
            await next_message(member, before)
        else:
            message = member.last_message()
            shown = message.text
            await member.click(message, what)

            def moved(message: SentMessage = message, shown: str = shown, n: int = before) -> bool:
                # The next screen comes in place of the pressed one, or as a new message.
                return len(member.messages()) > n or message.text != shown

            await until(moved, 300.0)
    return [m.text for m in member.messages()]


async def test_every_member_gets_every_reply_in_order_through_429s_and_5xx(
    api: FakeBotAPI, sqlite_db: Database
) -> None:
    members = await seed_recipients(sqlite_db, 100)
    async with running_bot(api, sqlite_db) as bot:
        assert bot.app is not None
        users = [api.user(id=r.tg_id, first_name=f"GV {i}") for i, r in enumerate(members)]
        api.chaos(rate_429=0.10, rate_5xx=0.05, seed=12)
        seen = await asyncio.gather(*(report_hardship(api, u) for u in users))
        api.calm()
        await api.wait_idle(timeout=30)
        injected = api.injected_counts
        # The faults did happen, on every kind of call.
        assert injected["chaos-429"] >= 30, injected
        assert injected["chaos-5xx"] >= 15, injected
        faulted = {c.method for c in api.calls if c.fault in ("chaos-429", "chaos-5xx")}
        assert {"sendMessage", "editMessageText", "answerCallbackQuery"} <= faulted
        # The bot never called while Telegram was refusing every call... beyond the calls
        # already on their way when the 429 came (at most the concurrency of the moment).
        assert api.calls_while_blocked <= 2 * injected["chaos-429"] + 16
    for user, texts in zip(users, seen, strict=True):
        # /surveys → the list; the button → question 1; 1 → 2; 2 → 3; text → 4; không → the
        # summary; send → the summary becomes the confirmation (an edit, in place).
        assert len(texts) == 6, user.transcript()
        assert "Báo cáo hoàn cảnh khó khăn" in texts[0]
        assert "báo cáo hoàn cảnh khó khăn của ai" in texts[1]
        assert "thuộc trường hợp nào" in texts[2]
        assert "mô tả ngắn gọn" in texts[3]
        assert "hỗ trợ khẩn cấp" in texts[4]
        assert "Đã ghi nhận" in texts[5], texts[5]
    assert api.unanswered_callbacks() == []
    async with sqlite_db.session() as session:
        cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
    assert cases == 100


# -- a chat's updates never overtake a failed one ---------------------------------------------


async def answers(db: Database, member_id: int) -> dict[str, str]:
    async with db.session() as session:
        rows = await session.execute(
            select(col(Answer.question_key), col(Answer.value))
            .join(Response, col(Response.id) == col(Answer.response_id))
            .where(col(Response.person_id) == member_id)
        )
        return {key: value for key, value in rows.all()}


async def test_a_failed_update_is_retried_before_the_chats_next_one(
    api: FakeBotAPI, db: Database
) -> None:
    """The member types "1" (of myself) then "2" (an accident); handling "1" fails once.
    Before, "2" answered the first question (a colleague!) and "1" became the colleague's
    name."""
    (member,) = await seed_recipients(db, 1)
    async with running_bot(api, db) as bot:
        failing = FailingUpdates(texted("1"), times=1)
        install(bot, failing)
        user = api.user(id=member.tg_id, first_name="Hà")
        await user.send("/surveys")
        await api.wait_idle()
        await user.click(user.last_message(), HARDSHIP)
        await api.wait_idle()
        before = len(user.messages())
        await user.send("1")
        await user.send("2")  # at once, before the first is handled
        await until(lambda: len(user.messages()) >= before + 2)
        await api.wait_idle()
        assert sum(failing.failures.values()) == 1
        texts = [m.text for m in user.messages()[before:]]
        assert "thuộc trường hợp nào" in texts[0]  # "1" answered "whose case?"
        assert "mô tả ngắn gọn" in texts[1]  # "2" answered "what kind?"
        assert "xin lỗi" not in " ".join(texts).lower()  # a retry that worked is not a failure
    # Answers are stored as JSON values.
    assert await answers(db, member.person_id) == {
        "subject": '"self"',
        "category": '"tai_nan"',
    }


# -- poison -----------------------------------------------------------------------------------


def poison(api: FakeBotAPI, n: int) -> list[int]:
    """Updates with a valid update_id whose message is not a message."""
    return [api.queue_update({"message": f"rác {i}"}) for i in range(n)]


async def test_poison_updates_are_set_aside_and_what_follows_is_handled(
    api: FakeBotAPI, province: RunningBot
) -> None:
    bad = poison(api, 200)
    user = api.user(id=9101, first_name="Lan")
    await user.send("/help")
    await api.wait_idle(timeout=20)
    assert "Hướng dẫn sử dụng" in user.last_message().text
    async with province.db.session() as session:
        aside = await inbox.set_aside_updates(session, limit=500)
        waiting = await inbox.pending_after(session, channel=Channel.TELEGRAM, after_id=0, limit=10)
    assert sorted(r.update_id for r in aside) == bad
    assert all(r.attempts == 1 and (r.error or "").startswith("unreadable") for r in aside)
    assert waiting == []
    # A restart does not try them again.
    sent = len(api.calls)
    await province.restart()
    await api.wait_idle()
    assert [c for c in api.calls[sent:] if c.method == "sendMessage"] == []


async def test_an_update_failing_every_time_is_set_aside_with_one_apology(
    api: FakeBotAPI, province: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    failing = FailingUpdates(texted("/help"), times=None)
    install(province, failing)
    user = api.user(id=9102, first_name="Minh")
    await user.send("/help")
    await user.send("/start")  # waits behind the failing one, then is handled
    await until(lambda: len(user.messages()) >= 2, timeout=20)
    await api.wait_idle()
    texts = [m.text for m in user.messages()]
    assert "Xin lỗi, hệ thống gặp sự cố" in texts[0]
    assert "91/2025/QH15" in texts[1]  # /start: the consent screen, after the apology
    assert len(texts) == 2
    assert sum(failing.failures.values()) == 4  # InboxSettings.max_attempts
    async with province.db.session() as session:
        (aside,) = await inbox.set_aside_updates(session)
    assert aside.attempts == 4
    # The error says what failed, never what was typed or bound.
    assert aside.error is not None and "database is locked" in aside.error
    assert "bí mật" not in aside.error and "bí mật" not in caplog.text
    # Mended, and replayed by an operator: handled once, without a second apology.
    failing.times = 0
    async with province.db.session(write=True) as session:
        assert await inbox.replay(session, inbox_id=aside.id)
        assert not await inbox.replay(session, inbox_id=aside.id)  # in line already
    assert province.app is not None
    await province.app.runner.sweep()
    await until(lambda: len(user.messages()) >= 3)
    await api.wait_idle()
    assert "Hướng dẫn sử dụng" in user.last_message().text
    assert len(user.messages()) == 3


# -- one slow chat holds up nobody else --------------------------------------------------------


async def reply_times(api: FakeBotAPI, user: FakeUser, n: int) -> list[float]:
    """Seconds from each /help sent to its answer arriving at the server, one after another."""
    times: list[float] = []
    for _ in range(n):
        before = len(user.messages())
        started = time.monotonic()
        await user.send("/help")
        await next_message(user, before, timeout=20)
        times.append(time.monotonic() - started)
    return times


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def test_one_chat_hanging_does_not_hold_up_another(
    api: FakeBotAPI, province: RunningBot
) -> None:
    assert province.app is not None
    # Shorter than the 10 s default, so that the test need not wait as long for the retry.
    province.app.runner.replies.settings = ReplySettings(timeout=3.0)
    other = api.user(id=9201, first_name="Bình")
    alone = await reply_times(api, other, 15)
    stuck = [api.user(id=9300 + i, first_name=f"Treo {i}") for i in range(16)]
    for user in stuck:  # the API hangs 40 s on each of these chats' first reply
        api.slow(40, chat_id=user.id, method="sendMessage")
        await user.send("/help")
    hung = {u.id for u in stuck}
    await until(lambda: len([c for c in api.calls if c.params.get("chat_id") in hung]) >= 16)
    beside = await reply_times(api, other, 15)
    assert p99(beside) <= 2 * max(p99(alone), 0.05), (alone, beside)
    # The hung replies time out and are sent again: every stuck member gets their answer once.
    for user in stuck:
        await next_message(user, 0, timeout=15)
    await asyncio.sleep(0.5)  # (the server still holds the hung calls: no wait_idle)
    assert all(len(u.messages()) == 1 for u in stuck)


# -- a reply lost in a crash is sent after the restart -----------------------------------------


async def test_a_reply_not_sent_before_a_crash_is_sent_after_the_restart(
    api: FakeBotAPI, province: RunningBot
) -> None:
    assert province.app is not None
    runner = province.app.runner
    runner.settings = dataclasses.replace(runner.settings, shutdown_grace=0.2)
    user = api.user(id=9401, first_name="Cúc")
    api.slow(60, chat_id=user.id, method="sendMessage")  # the answer never comes back
    await user.send("/help")
    await until(lambda: len(api.calls_of("sendMessage")) >= 1)
    await province.stop()  # the process dies with the reply in flight (its lane cancelled)
    assert user.messages() == []
    async with province.db.session() as session:
        (row,) = (await session.execute(select(InboxUpdate))).scalars().all()
    assert row.handled_at is not None and row.replied_at is None and row.replies
    await province.start()
    await until(lambda: len(user.messages()) == 1)
    await asyncio.sleep(0.3)  # (the server still holds the lost call: no wait_idle)
    assert "Hướng dẫn sử dụng" in user.last_message().text
    assert len(user.messages()) == 1  # sent once, not handled again
    async with asyncio.timeout(5):  # the "sent" mark is written a quarter of a second later
        while row.replied_at is None:
            await asyncio.sleep(0.05)
            async with province.db.session() as session:
                (row,) = (await session.execute(select(InboxUpdate))).scalars().all()


# -- Telegram's refusals ------------------------------------------------------------------------


async def test_an_edit_refused_as_too_old_becomes_a_new_message(
    api: FakeBotAPI, sqlite_db: Database
) -> None:
    (member,) = await seed_recipients(sqlite_db, 1)
    async with running_bot(api, sqlite_db):
        user = api.user(id=member.tg_id, first_name="Đào")
        await user.send("/surveys")
        await api.wait_idle()
        await user.click(user.last_message(), HARDSHIP)
        await api.wait_idle()
        question = user.last_message()
        api.fail_next(400, "Bad Request: message can't be edited", method="editMessageText")
        await user.click(question, "Của bản thân tôi")
        await api.wait_idle()
        assert "báo cáo hoàn cảnh khó khăn của ai" in question.text  # unchanged
        assert "thuộc trường hợp nào" in user.last_message().text  # the next question, anew
        assert user.last_message() is not question
        assert api.unanswered_callbacks() == []


# -- start-up calls -------------------------------------------------------------------------------


async def test_serve_starts_through_5xx_and_429_and_names_a_refused_token(
    api: FakeBotAPI, sqlite_db: Database
) -> None:
    from bot.app import StartupError, build_app, serve

    await seed_sample(sqlite_db)
    app = await build_app(settings_for(api, sqlite_db), token=api.token, db=sqlite_db)
    api.server_error(method="getMe", times=2)
    api.rate_limit(retry_after=1, method="setMyCommands")
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop=stop))
    try:
        await until(lambda: len(api.calls_of("getUpdates")) >= 1, timeout=15)
        assert [c.status for c in api.calls_of("getMe")] == [500, 500, 200]
        assert [c.status for c in api.calls_of("setMyCommands")][-1] == 200
    finally:
        stop.set()
        await task
    await close_bot(app.bot)
    refused = await build_app(settings_for(api, sqlite_db), token="42:not-the-token", db=None)
    try:
        with pytest.raises(StartupError, match="refused BOT_TOKEN"):
            await serve(refused, stop=asyncio.Event())
    finally:
        await refused.close()


async def test_an_unreadable_update_is_apologised_for_in_the_senders_locale(
    api: FakeBotAPI, province: RunningBot
) -> None:
    from storage.models import ChatIdentity

    async with province.db.session() as session:
        session.add(ChatIdentity(channel=Channel.TELEGRAM, external_id="9701", locale="en"))
    api.user(id=9701, first_name="Anna")
    sender = {"id": 9701, "is_bot": False, "first_name": "Anna"}
    # A message whose date is not a date: unreadable, but it says who sent it.
    api.queue_update(
        {
            "message": {
                "message_id": 1,
                "date": "hôm qua",
                "from": sender,
                "chat": {"id": 9701, "type": "private"},
                "text": "/help",
            }
        }
    )
    await api.wait_idle()
    (apology,) = api.messages(9701)
    assert apology.text.startswith("😔 Sorry, something went wrong")
    async with province.db.session() as session:
        (aside,) = await inbox.set_aside_updates(session)
    assert aside.attempts == 1 and (aside.error or "").startswith("unreadable")
