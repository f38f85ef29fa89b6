"""No personal data in logs or stored error texts: a database error inside a handler (a real
unique violation, on SQLite and PostgreSQL) leaves neither the member's text nor their phone or
name in the inbox's error or in the log; a refusal from the Telegram or Zalo API that quotes
the message leaves none of it in ``deliveries.error``."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import TelegramObject, Update
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.telegram import make_bot
from bot.channels.zalo.api import ZaloBotClient
from storage import inbox
from storage.db import Database
from storage.models import DeliveryStatus, Person, UnitKind, utcnow
from storage.redact import safe_error, safe_text, safe_traceback
from storage.tables import units
from tests.fakebotapi import FakeBotAPI, close_bot
from tests.flow import running_bot, seed_sample
from tests.test_delivery_support import seed_notice
from tests.test_zalo_delivery import (
    Channels,
    ClockedZalo,
    enqueue,
    row_of,
    seed_mixed,
    users_for,
)

NAME = "Nguyễn Thị Hoa"
PHONE = "0987654321"
TEXT = f"Em là {NAME}, số {PHONE}, nhà em bị cháy hết rồi"
people: Table = Person.__table__  # type: ignore[attr-defined]


# -- the scrubbing itself -----------------------------------------------------------------------


def test_sql_and_parameters_are_dropped() -> None:
    exc = IntegrityError(
        "INSERT INTO people (full_name, phone) VALUES (?, ?)",
        (NAME, PHONE),
        Exception("UNIQUE constraint failed: people.phone"),
    )
    assert NAME in str(exc) and PHONE in str(exc)  # SQLAlchemy's own text has them
    assert safe_error(exc) == "IntegrityError(Exception): UNIQUE constraint failed: people.phone"


def test_quoted_values_and_numbers_are_masked_identifiers_kept() -> None:
    try:
        int(TEXT)
    except ValueError as exc:
        assert safe_error(exc) == "ValueError: invalid literal for int() with base 10: '…'"
    postgres = (
        'duplicate key value violates unique constraint "people_phone_key"\n'
        f"DETAIL:  Key (phone)=({PHONE}) already exists."
    )
    assert (
        safe_text(postgres) == 'duplicate key value violates unique constraint "people_phone_key"'
    )
    assert safe_text(f"chat {PHONE} not found") == "chat # not found"
    assert safe_text("Bad Request: can't parse entities: Can't find end tag") == (
        "Bad Request: can't parse entities: Can't find end tag"
    )
    assert safe_text(f'Bad Request: text "{TEXT}" is too long') == (
        'Bad Request: text "…" is too long'
    )
    assert len(safe_text("x" * 5000) or "") == 300
    # A dotted machine name says what failed and stays; a single quoted word may be a name.
    assert safe_text("unknown Zalo event 'message.location.received'") == (
        "unknown Zalo event 'message.location.received'"
    )
    assert safe_text("no such person 'Hoa'") == "no such person '…'"


def test_phones_are_masked_however_they_are_grouped() -> None:
    for phone in ("0345271908", "0345 271 908", "0345.271.908", "0345-271-908", "+84 345 271 908"):
        assert safe_text(f"chat {phone} blocked the bot") == "chat # blocked the bot"
    # An address, a date and a time, and a short number say what failed and hold no one.
    kept = "connect to 127.0.0.1:5432 refused at 2026-12-07 17:31:14 (attempt 12 345)"
    assert safe_text(kept) == kept


async def test_a_driver_error_logged_with_its_chain_quotes_no_row(db: Database) -> None:
    """What replaces ``log.exception``: PostgreSQL's error carries ``DETAIL: Key (phone)=(…)``
    in the driver's exception, which a traceback of the chain would print."""
    async with db.session(write=True) as session:
        unit_id = (
            await session.execute(
                insert(units)
                .values(code="U1", name="Trường A", kind=UnitKind.GRASSROOTS, path="/")
                .values(is_public=True, staff_count=2, created_at=utcnow(), updated_at=utcnow())
                .returning(units.c.id)
            )
        ).scalar_one()
    row = {"phone": PHONE, "unit_id": unit_id, "tags": "", "created_at": utcnow()}
    with pytest.raises(IntegrityError) as raised:
        async with db.session(write=True) as session:
            await session.execute(
                insert(people),
                [
                    {**row, "full_name": NAME, "updated_at": utcnow()},
                    {**row, "full_name": TEXT, "updated_at": utcnow()},
                ],
            )
    if db.dialect == "postgresql":  # what log.exception would have printed
        assert f"(phone)=({PHONE})" in "".join(traceback.format_exception(raised.value))
    logged = safe_traceback(raised.value)
    assert logged.startswith("IntegrityError(") and "people" in logged.splitlines()[0]
    assert "raised from" in logged  # the chain's frames are there
    for secret in (PHONE, NAME, TEXT):
        assert secret not in logged


# -- a handler's database error -----------------------------------------------------------------


class DuplicatePhone:
    """A middleware inside the unit of work: a member's text becomes a person with the phone of
    one already in the roster (a real unique violation, raised by the database itself)."""

    def __init__(self) -> None:
        self.raised = 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        if event.message is not None and event.message.text == TEXT:
            session: AsyncSession = data["session"]
            unit_id = (await session.execute(select(people.c.unit_id).limit(1))).scalar_one()
            self.raised += 1
            await session.execute(
                insert(people).values(
                    full_name=event.message.text,
                    phone=PHONE,
                    unit_id=unit_id,
                    tags="",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
        return await handler(event, data)


async def test_a_database_error_in_a_handler_keeps_the_members_words_out(
    api: FakeBotAPI, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await seed_sample(db)
    async with db.session(write=True) as session:
        unit_id = (await session.execute(select(people.c.unit_id).limit(1))).scalar_one()
        await session.execute(
            insert(people).values(
                full_name=NAME,
                phone=PHONE,
                unit_id=unit_id,
                tags="",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    async with running_bot(api, db) as running:
        assert running.app is not None
        failing = DuplicatePhone()
        running.app.dispatcher.update.outer_middleware(failing)
        user = api.user(id=9401, first_name="Hoa", username="hoa_nguyen")
        await user.send(TEXT)
        await api.wait_idle()
        async with db.session() as session:
            (aside,) = await inbox.set_aside_updates(session)
    assert failing.raised == 4  # every attempt met the database's refusal
    assert "Xin lỗi, hệ thống gặp sự cố" in user.last_message().text
    assert aside.error is not None and aside.error.startswith("IntegrityError(")
    assert "people" in aside.error  # what failed (SQLite names the column, PostgreSQL the key)
    for secret in (TEXT, "nhà em bị cháy", NAME, PHONE, "hoa_nguyen"):
        assert secret not in aside.error
        assert secret not in caplog.text, secret
    assert "update" in caplog.text and "failed" in caplog.text  # the failure was logged


# -- the APIs' refusals in the outbox -----------------------------------------------------------


@pytest.fixture
async def zalo() -> AsyncIterator[ClockedZalo]:
    server = ClockedZalo()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client(zalo: ClockedZalo) -> AsyncIterator[ZaloBotClient]:
    client = ZaloBotClient(zalo.token, zalo.url, timeout=2)
    yield client
    await client.close()


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = make_bot(api.token, api.base_url)
    yield bot
    await close_bot(bot)


async def test_refusals_quoting_the_message_are_stored_without_it(
    sqlite_db: Database, api: FakeBotAPI, zalo: ClockedZalo, bot: Bot, client: ZaloBotClient
) -> None:
    db = sqlite_db
    everyone, on_zalo = await seed_mixed(db, 2, zalo_every=2)
    on_telegram = [r for r in everyone if r not in on_zalo]
    users_for(api, zalo, everyone)
    notice = await seed_notice(db)
    await enqueue(db, notice, everyone, text=TEXT)
    # APIs that echo what they refused, the text and the number in it.
    api.fail_next(400, f"Bad Request: can't send '{TEXT}' to {PHONE}", method="sendMessage")
    zalo.fail_next("sendMessage", 400, f'Bad Request: text "{TEXT}" refused for {PHONE}')
    stats = await Channels(db, api, bot, client).worker().drain()
    assert stats.failed == 2
    telegram_row = await row_of(db, on_telegram[0].external_id)
    zalo_row = await row_of(db, on_zalo[0].external_id)
    assert telegram_row.status == zalo_row.status == DeliveryStatus.FAILED
    assert telegram_row.error == "Bad Request: can't send '…' to #"
    assert zalo_row.error is not None and zalo_row.error.startswith("sendMessage: HTTP 400")
    for error in (telegram_row.error, zalo_row.error):
        for secret in (TEXT, NAME, PHONE, "cháy"):
            assert secret not in error
