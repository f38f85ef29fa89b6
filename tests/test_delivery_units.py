"""Pure parts of the delivery engine: the sliding-window limiter (on a fake clock) and the
splitting of long Telegram HTML texts."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.delivery.ratelimit import RateLimiter, SlidingWindow
from bot.delivery.split import split_for_telegram, utf16_len
from tests.fakebotapi import BotAPIError, visible_text
from tests.test_delivery_support import max_in_window

T = TypeVar("T")

# -- a fake clock -------------------------------------------------------------------------------


class FakeTime:
    """Time stands still until every task is waiting; then it jumps to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), future))
        await future

    async def run(self, *coroutines: Coroutine[Any, Any, T]) -> list[T]:
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            await self._settle(tasks)
            if all(t.done() for t in tasks):
                break
            assert self._sleepers, "deadlock: tasks wait for something other than the clock"
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)
        return [t.result() for t in tasks]

    async def _settle(self, tasks: list[asyncio.Task[T]]) -> None:
        """Let every task run until none makes progress without the clock moving."""
        quiet = 0
        state = (-1, -1)
        while quiet < 50:
            await asyncio.sleep(0)
            now = (len(self._sleepers), sum(t.done() for t in tasks))
            quiet = quiet + 1 if now == state else 0
            state = now


def limiter(time: FakeTime, rate: float | None, per_chat: float | None) -> RateLimiter:
    return RateLimiter(rate, per_chat, clock=time.clock, sleep=time.sleep)


async def call(
    time: FakeTime, lim: RateLimiter, key: str | None = None, duration: float = 0.0
) -> float:
    """One paced call taking ``duration``; returns when it started."""
    async with lim.slot(key) as start:
        if duration:
            await time.sleep(duration)
    return start


# -- the limiter --------------------------------------------------------------------------------


async def test_global_rate_paces_calls_evenly() -> None:
    time = FakeTime()
    lim = limiter(time, 10, None)

    async def thirty() -> list[float]:
        return [await call(time, lim, f"chat{i}") for i in range(30)]

    [times] = await time.run(thirty())
    assert times == pytest.approx([i / 10 for i in range(30)])


async def test_no_burst_after_idle() -> None:
    """A token bucket would let a full bucket go at once after a pause; here calls keep their
    pace, and the window caps every second."""
    time = FakeTime()
    lim = limiter(time, 3, None)

    async def scenario() -> list[float]:
        out = [await call(time, lim)]  # t=0
        await time.sleep(0.5)
        for _ in range(4):
            out.append(await call(time, lim))
        return out

    [times] = await time.run(scenario())
    # 0.5 (idle: the pace restarts), 0.833 (paced), 1.167 (the call at 0 left the window
    # at 1.0; paced), 1.5 (the call at 0.5 left at 1.5)
    assert times == pytest.approx([0.0, 0.5, 0.5 + 1 / 3, 0.5 + 2 / 3, 1.5])
    assert max_in_window(times) == 3


async def test_per_chat_rate_spaces_one_chat_only() -> None:
    time = FakeTime()
    lim = limiter(time, None, 1)
    results = await time.run(
        call(time, lim, "a"),
        call(time, lim, "a"),
        call(time, lim, "a"),
        call(time, lim, "b"),
        call(time, lim, "c"),
    )
    assert sorted(results[:3]) == [0.0, 1.0, 2.0]
    assert results[3:] == [0.0, 0.0]


async def test_concurrent_callers_never_exceed_the_window() -> None:
    time = FakeTime()
    lim = limiter(time, 25, 1)
    # 200 calls over 50 chats (4 each), all at once
    results = await time.run(*(call(time, lim, f"c{i % 50}") for i in range(200)))
    times = [float(t) for t in results]
    assert max_in_window(times) == 25
    assert min(b - a for a, b in itertools.pairwise(sorted(times))) >= 0.04 - 1e-9
    assert max(times) == pytest.approx(7.96)  # 200 calls 1/25 s apart, no gap
    for chat in range(50):
        mine = sorted(times[chat::50])
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(mine))


async def test_a_call_holds_its_place_until_it_completes() -> None:
    """The window counts from a call's completion: its request may arrive at any moment
    before the answer, so the next window starts only then."""
    time = FakeTime()
    lim = limiter(time, 2, 1)
    results = await time.run(
        call(time, lim, "a", duration=0.5),
        call(time, lim, "b", duration=0.5),
        call(time, lim, "c", duration=0.5),
        call(time, lim, "a", duration=0.5),
    )
    # a starts at 0, b at 0.5 (the pace); both hold their place until they end (0.5, 1.0)
    # plus the window: c at 1.5, a again at 2.0
    assert results == [0.0, 0.5, 1.5, 2.0]


async def test_a_call_longer_than_the_window_blocks_until_it_ends() -> None:
    time = FakeTime()
    lim = limiter(time, 1, None)
    results = await time.run(call(time, lim, duration=3.0), call(time, lim))
    assert results == [0.0, 4.0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.floats(0, 1.5), st.floats(0, 1)), min_size=1, max_size=40
    )
)
def test_arrivals_never_exceed_the_rate_whatever_the_delays(
    calls: list[tuple[int, float, float]],
) -> None:
    """Each call's request reaches the server at a random moment between its start and its
    completion: the server still never sees more than the rate in any window."""

    async def scenario() -> None:
        time = FakeTime()
        lim = limiter(time, 3, 1)
        arrivals: list[tuple[int, float]] = []

        async def one(chat: int, duration: float, share: float) -> None:
            async with lim.slot(f"c{chat}") as start:
                arrivals.append((chat, start + duration * share))
                await time.sleep(duration)

        await time.run(*(one(*c) for c in calls))
        assert max_in_window([a for _, a in arrivals]) <= 3
        for chat in range(4):
            mine = sorted(a for c, a in arrivals if c == chat)
            assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(mine))

    asyncio.run(scenario())


async def test_pause_holds_every_call() -> None:
    time = FakeTime()
    lim = limiter(time, 10, 1)

    async def scenario() -> list[float]:
        first = await call(time, lim, "a")
        lim.pause(2.5)
        return [first, await call(time, lim, "b"), await call(time, lim, "c")]

    [times] = await time.run(scenario())
    assert times == pytest.approx([0.0, 2.5, 2.6])


async def test_pause_applies_without_rate_limits() -> None:
    time = FakeTime()
    lim = limiter(time, None, None)

    async def scenario() -> list[float]:
        lim.pause(4.0)
        return [await call(time, lim, "a"), await call(time, lim, "a")]

    [times] = await time.run(scenario())
    assert times == [4.0, 4.0]


async def test_unlimited_never_waits() -> None:
    time = FakeTime()
    lim = limiter(time, None, None)
    results = await time.run(*(call(time, lim, "same") for _ in range(1000)))
    assert set(results) == {0.0}


async def test_rate_below_one_is_one_call_per_period() -> None:
    time = FakeTime()
    lim = limiter(time, 0.5, None)

    async def three() -> list[float]:
        return [await call(time, lim) for _ in range(3)]

    [times] = await time.run(three())
    assert times == [0.0, 2.0, 4.0]


def test_window_shapes() -> None:
    assert (SlidingWindow(30).count, SlidingWindow(30).span) == (30, 1.0)
    assert (SlidingWindow(25.7).count, SlidingWindow(25.7).span) == (25, 1.0)
    assert (SlidingWindow(0.25).count, SlidingWindow(0.25).span) == (1, 4.0)
    assert SlidingWindow(30, margin=0.01).span == 1.01
    with pytest.raises(ValueError):
        SlidingWindow(0)


async def test_idle_chats_are_forgotten() -> None:
    time = FakeTime()
    lim = limiter(time, None, 1)

    async def many() -> None:
        for i in range(1000):
            await call(time, lim, f"chat{i}")
        await time.sleep(5)
        for i in range(1000):
            await call(time, lim, f"other{i}")

    await time.run(many())
    # At the 2000th call the chats idle for over a second were dropped; the recent ones stay.
    assert sorted(lim._chats) == sorted(f"other{i}" for i in range(1000))


# -- splitting ----------------------------------------------------------------------------------


def visible(part: str) -> str:
    try:
        return visible_text(part, "HTML")
    except BotAPIError as exc:  # pragma: no cover - the assertion message shows the part
        raise AssertionError(f"Telegram would refuse {part!r}: {exc.description}") from None


def test_short_text_is_one_part() -> None:
    assert split_for_telegram("<b>Xin chào</b> thầy cô") == ["<b>Xin chào</b> thầy cô"]


def test_splits_at_paragraphs_first() -> None:
    paragraphs = [c * 1000 for c in "abcdef"]
    parts = split_for_telegram("\n\n".join(paragraphs))
    assert parts == ["\n\n".join(paragraphs[:4]), "\n\n".join(paragraphs[4:])]


def test_a_long_paragraph_splits_at_lines_then_spaces() -> None:
    lines = ["x" * 50, "y" * 50, "z" * 50]
    assert split_for_telegram("\n".join(lines), limit=120) == ["x" * 50 + "\n" + "y" * 50, "z" * 50]
    words = " ".join(["từ"] * 30)  # 89 characters
    parts = split_for_telegram(words, limit=40)
    assert parts == [" ".join(["từ"] * 13), " ".join(["từ"] * 13), " ".join(["từ"] * 4)]


def test_a_word_longer_than_the_limit_is_cut() -> None:
    assert split_for_telegram("a" * 25, limit=10) == ["a" * 10, "a" * 10, "a" * 5]


def test_tags_are_closed_and_reopened_across_parts() -> None:
    text = '<b>Đậm <a href="https://congdoan.vn/a">' + "liên kết " * 10 + "</a> hết</b>"
    parts = split_for_telegram(text, limit=80)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= 80
        visible(part)  # balanced, accepted by Telegram's parser
    assert parts[0].startswith('<b>Đậm <a href="https://congdoan.vn/a">')
    assert parts[1].startswith('<b><a href="https://congdoan.vn/a">')
    assert parts[-1].endswith("</a> hết</b>")


def test_never_cuts_inside_a_tag_or_an_entity() -> None:
    text = "x" * 8 + "&amp;" + '<i title="t">' + "y" * 8 + "</i>"
    for limit in range(24, 40):  # from the tag pair and one character up
        parts = split_for_telegram(text, limit=limit)
        assert "".join(visible(p) for p in parts) == "x" * 8 + "&" + "y" * 8
        for part in parts:
            assert utf16_len(part) <= limit
            assert "&am" not in part or "&amp;" in part


def test_counts_utf16_units() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units
    parts = split_for_telegram(text)
    assert [utf16_len(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == text


_words = st.text(alphabet="abcđêơư😀 ", min_size=1, max_size=30).map(str.strip).filter(bool)
_tagged = st.one_of(
    _words,
    _words.map(lambda w: f"<b>{w}</b>"),
    _words.map(lambda w: f'<a href="https://x.vn/{len(w)}">{w}</a>'),
    _words.map(lambda w: f"<i>{w} &lt;{w}&gt;</i>"),
)
_paragraph = st.lists(
    st.lists(_tagged, min_size=1, max_size=8).map(" ".join), min_size=1, max_size=4
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_paragraph.map("\n".join), min_size=1, max_size=12), st.integers(60, 400))
# A link whose text and markup (61 UTF-16 units) cannot fit in 60: its text is cut.
@example(['<a href="https://x.vn/25">aaaaaaaaaaaaaaaaaaa😀😀😀😀😀😀</a>'], 60)
def test_split_property(paragraphs: list[str], limit: int) -> None:
    text = "\n\n".join(paragraphs)
    parts = split_for_telegram(text, limit=limit)
    for part in parts:
        assert utf16_len(part) <= limit
        assert visible(part).strip()
    # Nothing lost or repeated: the same characters in the same order.  (Not the same words: a
    # word that does not fit with its markup, e.g. a 60-unit link text under a 60 limit, is
    # cut where it must be.)
    assert "".join("".join(visible(p).split()) for p in parts) == "".join(visible(text).split())
