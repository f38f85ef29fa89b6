"""GroupWrite: lingering gathers writes nobody waits for; a waiter cuts the lingering short."""

from __future__ import annotations

import asyncio

from bot.groupwrite import GroupWrite


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, items: list[int]) -> None:
        self.batches.append(list(items))


async def test_posts_within_the_linger_go_in_one_write() -> None:
    write = Recorder()
    group: GroupWrite[int] = GroupWrite(write, name="test", linger=0.2)
    group.post(1)
    await asyncio.sleep(0.05)
    group.post(2)
    assert write.batches == []  # still lingering
    await asyncio.sleep(0.4)
    assert write.batches == [[1, 2]]


async def test_flush_does_not_wait_for_the_linger() -> None:
    # The terminal demo flushes after every update: a 30 s linger must not hold it up.
    write = Recorder()
    group: GroupWrite[int] = GroupWrite(write, name="test", linger=30.0)
    group.post(1)
    group.post(2)
    async with asyncio.timeout(5):
        await group.flush()
    assert write.batches == [[1, 2]]
    # and the next post lingers again
    group.post(3)
    await asyncio.sleep(0.1)
    assert write.batches == [[1, 2]]
    async with asyncio.timeout(5):
        await group.flush()
    assert write.batches == [[1, 2], [3]]


async def test_a_submit_is_written_at_once() -> None:
    write = Recorder()
    group: GroupWrite[int] = GroupWrite(write, name="test", linger=30.0)
    async with asyncio.timeout(5):
        await group.submit(7)
    assert write.batches == [[7]]
