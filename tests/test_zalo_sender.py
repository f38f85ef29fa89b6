"""ZaloSender against the fake Zalo Bot API: parts, the photo, error mapping, later-part retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bot.channels.zalo.api import TEXT_LIMIT, ZaloBotClient
from bot.channels.zalo.sender import ZaloMessage, ZaloSender
from bot.delivery.channel import Outbound, OutcomeKind, Sender, SendOutcome
from storage.models import Channel
from tests.fakezalo import FakeZaloAPI, FakeZaloUser, ReceivedPhoto

LAN = "e4ea2cd5189df1c3a88c"
PHOTO = "https://example.org/hoi-nghi.jpg"


def render(message: Outbound) -> ZaloMessage:
    """Paragraphs as parts; a photo attachment's ref is its URL."""
    parts = tuple(part for part in message.text.split("\n\n") if part)
    photo = message.attachment_ref if message.attachment_kind == "photo" else None
    return ZaloMessage(parts, photo)


def message(text: str, chat_id: str = LAN, **kwargs: object) -> Outbound:
    return Outbound(
        delivery_id=77,
        channel=Channel.ZALO,
        external_id=chat_id,
        text=text,
        ack_button=False,
        **kwargs,  # type: ignore[arg-type]
    )


class RecordingPacer:
    def __init__(self) -> None:
        self.acquired = 0
        self.pauses: list[float] = []

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        self.acquired += 1
        yield

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloAPI]:
    async with FakeZaloAPI() as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeZaloAPI) -> AsyncIterator[ZaloBotClient]:
    client = ZaloBotClient(fake.token, fake.url, timeout=0.3)
    yield client
    await client.close()


@pytest.fixture
def lan(fake: FakeZaloAPI) -> FakeZaloUser:
    return fake.user(LAN, "Nguyen Thi Lan")


@pytest.fixture
def sender(client: ZaloBotClient) -> ZaloSender:
    sender = ZaloSender(client, render, retries=3, backoff=0.01)
    as_sender: Sender = sender  # mypy checks that it is the delivery engine's Sender
    assert as_sender is sender
    return sender


def statuses(fake: FakeZaloAPI) -> list[tuple[str, int | None]]:
    return [(call.method, call.status) for call in fake.calls]


async def test_one_part(fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser) -> None:
    outcome = await sender.send(message("Họp lúc 8 giờ"))
    assert outcome == SendOutcome.sent("00000000000000000001")
    assert lan.received == ["Họp lúc 8 giờ"]
    assert fake.last_call("sendMessage").params == {"chat_id": LAN, "text": "Họp lúc 8 giờ"}


async def test_parts_in_order_with_the_last_id_and_the_pacer_once_per_call(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    pacer = RecordingPacer()
    outcome = await sender.send(message("một\n\nhai\n\nba"), pacer=pacer)
    assert outcome == SendOutcome.sent("00000000000000000003")
    assert lan.received == ["một", "hai", "ba"]
    assert pacer.acquired == 3 == len(fake.calls)


async def test_the_photo_goes_first_with_the_first_part_as_caption(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    pacer = RecordingPacer()
    text = "Ảnh hội nghị\n\nChi tiết ở văn phòng"
    outcome = await sender.send(
        message(text, attachment_kind="photo", attachment_ref=PHOTO), pacer=pacer
    )
    assert statuses(fake) == [("sendPhoto", 200), ("sendMessage", 200)]
    assert lan.photos == [ReceivedPhoto(PHOTO, "Ảnh hội nghị", "00000000000000000001")]
    assert lan.received == ["Chi tiết ở văn phòng"]
    assert outcome == SendOutcome.sent("00000000000000000002")
    assert pacer.acquired == 2


async def test_a_photo_without_text(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    outcome = await sender.send(message("", attachment_kind="photo", attachment_ref=PHOTO))
    assert outcome == SendOutcome.sent("00000000000000000001")
    assert fake.last_call("sendPhoto").params == {"chat_id": LAN, "photo": PHOTO}
    assert lan.photos == [ReceivedPhoto(PHOTO, None, "00000000000000000001")]


async def test_nothing_to_send(fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser) -> None:
    assert await sender.send(message("")) == SendOutcome.permanent("nothing to send")
    assert fake.calls == []


# -- the first call's failures -----------------------------------------------------------------


async def test_rate_limited_first_call(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    fake.fail_next("sendMessage", 429, retry_after=5)
    outcome = await sender.send(message("một\n\nhai"))
    assert (outcome.kind, outcome.retry_after) == (OutcomeKind.RETRY_AFTER, 5.0)
    fake.fail_next("sendMessage", 429)  # no retry_after: one second
    outcome = await sender.send(message("một\n\nhai"))
    assert (outcome.kind, outcome.retry_after) == (OutcomeKind.RETRY_AFTER, 1.0)
    assert lan.received == [] and len(fake.calls) == 2


@pytest.mark.parametrize("how", ["500", "hang", "non-json 502"])
async def test_transient_first_call(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser, how: str
) -> None:
    if how == "500":
        fake.fail_next("sendMessage", 500)
    elif how == "hang":
        fake.hang_next("sendMessage", 1.0)  # the client times out after 0.3 s
    else:
        fake.fail_next("sendMessage", 502, raw="<html>Bad Gateway</html>")
    outcome = await sender.send(message("một\n\nhai"))
    assert outcome.kind == OutcomeKind.TRANSIENT
    assert len(fake.calls) == 1 and lan.received == []


async def test_a_user_who_blocked_the_bot(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    lan.block()
    outcome = await sender.send(message("một\n\nhai"))
    assert outcome == SendOutcome.unreachable("User has blocked the bot")
    assert len(fake.calls) == 1


async def test_an_unknown_user(fake: FakeZaloAPI, sender: ZaloSender) -> None:
    outcome = await sender.send(message("một", chat_id="0000000000000000dead"))
    assert outcome == SendOutcome.unreachable("User not found")


async def test_a_refused_text_is_permanent(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    outcome = await sender.send(message("x" * (TEXT_LIMIT + 1)))
    assert outcome.kind == OutcomeKind.PERMANENT
    assert outcome.error is not None and "400" in outcome.error
    assert lan.received == []


async def test_a_wrong_token_waits_for_the_operator(fake: FakeZaloAPI, lan: FakeZaloUser) -> None:
    client = ZaloBotClient("999:wrong-token", fake.url)
    try:
        outcome = await ZaloSender(client, render).send(message("một"))
    finally:
        await client.close()
    assert outcome == SendOutcome.transient("sendMessage: HTTP 401: Unauthorized")
    assert "wrong-token" not in str(outcome)


# -- a later part's failures -------------------------------------------------------------------


async def test_a_later_part_failing_twice_is_retried_here(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    fake.fail_next("sendMessage", 500, times=2, after=1)
    pacer = RecordingPacer()
    outcome = await sender.send(message("một\n\nhai"), pacer=pacer)
    assert outcome == SendOutcome.sent("00000000000000000002")
    assert lan.received == ["một", "hai"]  # each once
    assert statuses(fake) == [("sendMessage", s) for s in (200, 500, 500, 200)]
    assert pacer.acquired == 4 and pacer.pauses == []


async def test_a_later_part_rate_limited_pauses_the_pacer(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    fake.fail_next("sendMessage", 429, retry_after=2, after=1)
    pacer = RecordingPacer()
    outcome = await sender.send(message("một\n\nhai"), pacer=pacer)
    assert outcome == SendOutcome.sent("00000000000000000002")
    assert pacer.pauses == [2.0] and pacer.acquired == 3
    assert lan.received == ["một", "hai"]


async def test_a_later_part_failing_every_time_is_permanent(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    fake.fail_next("sendMessage", 500, times=10, after=1)
    outcome = await sender.send(message("một\n\nhai"))
    assert outcome.kind == OutcomeKind.PERMANENT
    assert outcome.error == "sendMessage: HTTP 500: Internal Server Error (1 of 2 parts sent)"
    assert lan.received == ["một"]
    assert statuses(fake) == [("sendMessage", s) for s in (200, 500, 500, 500, 500)]  # 1 + 3


async def test_a_later_part_to_a_user_who_blocked_the_bot(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    fake.fail_next("sendMessage", 403, "User has blocked the bot", after=1)
    outcome = await sender.send(message("một\n\nhai\n\nba"))
    assert outcome == SendOutcome.unreachable("User has blocked the bot (1 of 3 parts sent)")
    assert len(fake.calls) == 2  # not retried


async def test_a_later_part_refused_is_permanent_without_retry(
    fake: FakeZaloAPI, sender: ZaloSender, lan: FakeZaloUser
) -> None:
    outcome = await sender.send(message("một\n\n" + "x" * (TEXT_LIMIT + 1)))
    assert outcome.kind == OutcomeKind.PERMANENT
    assert outcome.error is not None and outcome.error.endswith("(1 of 2 parts sent)")
    assert lan.received == ["một"] and len(fake.calls) == 2
