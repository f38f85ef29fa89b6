"""Group commit: many small writes that arrive together go to the database in one transaction.

Webhook requests each bring one update, and each handled update's replies must be marked sent:
one transaction apiece would make a burst queue for the database's write lock.  A
:class:`GroupWrite` gathers what is submitted while its previous write runs and writes it all
in the next one; a caller that needs its item written (a webhook answering 200 only once its
update is stored) awaits :meth:`GroupWrite.submit`.  A failed write is tried again with
backoff for ``patience`` seconds; then the callers waiting for it get the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from storage.db import describe_error

log = logging.getLogger(__name__)

T = TypeVar("T")


class GroupWrite(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        name: str,
        max_batch: int = 500,
        patience: float = 20.0,
        linger: float = 0.0,
    ) -> None:
        self._write = write
        self.name = name
        self.max_batch = max_batch
        self.patience = patience
        self.linger = linger  # seconds a write waits for more items (when nobody waits on it)
        self._items: list[tuple[T, asyncio.Future[None] | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()  # someone waits: stop lingering
        self.writes = 0

    async def submit(self, item: T) -> None:
        """Write ``item`` with whatever else is waiting; returns once it is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.append((item, done))
        self._hurry.set()  # a caller waits for it: no lingering
        self._start()
        await done

    def post(self, item: T) -> None:
        """Write ``item`` soon; nobody waits for it."""
        self._items.append((item, None))
        self._start()

    async def flush(self) -> None:
        """Write everything submitted so far now (no lingering) and return once it is written
        (or given up)."""
        while self._task is not None:
            self._hurry.set()
            await asyncio.shield(self._task)

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            if self.linger > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self.linger)
            while self._items:
                batch, self._items = self._items[: self.max_batch], self._items[self.max_batch :]
                error = await self._write_patiently([item for item, _ in batch])
                for _, done in batch:
                    if done is None or done.done():
                        continue
                    if error is None:
                        done.set_result(None)
                    else:
                        done.set_exception(error)
        finally:
            self._task = None
            self._hurry.clear()

    async def _write_patiently(self, items: list[T]) -> Exception | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        delay = 0.05
        while True:
            try:
                await self._write(items)
                self.writes += 1
                return None
            except Exception as exc:
                if loop.time() + delay > deadline:
                    log.error(
                        "%s: %d items not written: %s", self.name, len(items), describe_error(exc)
                    )
                    return exc
                log.warning("%s: write failed (%s); retrying", self.name, describe_error(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
