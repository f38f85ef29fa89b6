"""/role tells the person on their own newest chat, whatever its channel (bot.services.roles)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from bot.services import roles
from bot.services.actors import load_actor
from storage.db import Database
from storage.models import (
    Channel,
    ChatIdentity,
    ChatStage,
    Delivery,
    DeliveryKind,
    Person,
    Role,
)
from tests.test_officer_news import build


async def test_the_person_is_told_on_the_channel_of_their_newest_chat(db: Database) -> None:
    """The admin pa writes from Telegram; b1 linked Telegram, then Zalo (newest): the message
    goes to Zalo, in that chat's locale.  pa changing their own role is told nothing."""
    w = await build(db)
    async with db.session() as s:
        s.add(
            ChatIdentity(
                channel=Channel.ZALO,
                external_id="zalo-b1",
                person_id=w.people["b1"],
                stage=ChatStage.LINKED,
                locale="en",
            )
        )
        for key, phone in (("b1", "+84912345678"), ("pa", "+84987654321")):
            person = await s.get(Person, w.people[key])
            assert person is not None
            person.phone = phone
    async with db.session() as s:
        admin = await load_actor(s, channel=Channel.TELEGRAM, external_id="tg-pa", locale="vi")
        change = await roles.set_role(
            s, actor=admin, phone="0912 345 678", role="officer", unit_code="B"
        )
        assert change.outcome == roles.RoleOutcome.SET and change.role == Role.OFFICER
        assert await roles.tell_new_role(s, change=change, actor=admin)
        own = await roles.set_role(s, actor=admin, phone="0987654321", role="admin", unit_code=None)
        assert own.outcome == roles.RoleOutcome.SET
        assert not await roles.tell_new_role(s, change=own, actor=admin)  # they read the answer
    async with db.session() as s:
        [told] = (
            await s.execute(select(Delivery).where(col(Delivery.kind) == DeliveryKind.MESSAGE))
        ).scalars()
    assert (told.channel, told.external_id) == (Channel.ZALO, "zalo-b1")
    assert told.text.startswith("🔑 Your role on the union channel has been updated")
