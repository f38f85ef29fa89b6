"""Zalo's updates into the inbox: long polling or a webhook, then the same lanes as Telegram's.

Every update is written to the inbox and committed before Zalo is told it arrived: a webhook
request is answered 200 only after the commit (a 5xx makes Zalo send it again).  Zalo's
``getUpdates`` has no offset: an update is Zalo's no more once it has been returned, so in
polling mode an update is lost if the process dies between Zalo's answer and the commit, a
window of one database write (the webhook has no such window: use it in production).

The key of an update in the inbox is its message id (a string); one without an id is keyed by
a hash of its body, so that the same body delivered twice is still handled once.  A chat's
updates are handled in the order of their time (``date``, in ms), then of arrival.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from bot.channels.telegram import MAX_DEPTH, InboxRunner, _too_deep
from bot.channels.zalo.api import ZaloBotClient, ZaloError, ZaloErrorKind
from bot.channels.zalo.inbound import update_key
from storage import inbox
from storage.db import describe_error

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Bot-Api-Secret-Token"
MAX_BODY = 64 * 1024  # a Zalo text message is at most a few kB


def parse_zalo_body(body: bytes) -> dict[str, Any]:
    """The update a webhook request carries (bare, or wrapped as ``{"ok", "result"}``);
    ``ValueError`` (a 400) for anything else."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("not JSON") from None
    if isinstance(data, dict) and isinstance(data.get("result"), dict) and "event_name" not in data:
        data = data["result"]
    if not isinstance(data, dict):
        raise ValueError("not an object")
    if not isinstance(data.get("event_name"), str):
        raise ValueError("no event_name")
    if _too_deep(data, MAX_DEPTH):
        raise ValueError("nested too deep")
    return data


def keyed(update: dict[str, Any]) -> tuple[int, str, str]:
    """(order, payload, key) of an update, as the inbox stores it."""
    payload = json.dumps(update, ensure_ascii=False, sort_keys=True)
    found = update_key(update)
    if found is not None:
        key, order = found
        return order, payload, key
    digest = hashlib.sha256(payload.encode()).hexdigest()[:40]
    return 0, payload, f"h:{digest}"


async def _read_body(request: web.Request) -> bytes:
    """The whole body, however many pieces it arrives in; ``ValueError`` past ``MAX_BODY``."""
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY:
            raise ValueError("too large")
    return bytes(body)


class ZaloInbox(InboxRunner):
    """The inbox runner of the Zalo channel (its codec reads Zalo updates; ``client`` is
    the one it polls)."""

    def __init__(self, *args: Any, client: ZaloBotClient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client

    async def ingest_zalo(self, updates: list[dict[str, Any]], *, wake: bool = True) -> int:
        """Write Zalo updates to the inbox and commit; returns how many were new."""
        rows = [keyed(update) for update in updates]
        async with self.db.session(write=True) as session:
            stored = await inbox.store_updates(session, channel=self.channel, updates=rows)
        if wake:
            self._wake.set()
        return stored

    async def poll(self, stop: asyncio.Event, *, poll_seconds: int = 25) -> None:
        """Long polling: getUpdates → inbox (committed) → lanes, until ``stop``."""
        runner = asyncio.create_task(self.run(stop))
        try:
            await self._poll_zalo(stop, poll_seconds)
        finally:
            stop.set()
            await runner

    async def _poll_zalo(self, stop: asyncio.Event, poll_seconds: int) -> None:
        client = self.client
        await self.dispatch()  # whatever a previous run received but did not handle
        backoff = 1.0
        while not stop.is_set():
            get = asyncio.ensure_future(client.get_updates(poll_seconds))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({get, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if get not in done:
                get.cancel()
                break
            try:
                updates = get.result()
            except ZaloError as error:
                if error.kind == ZaloErrorKind.RATE_LIMITED:
                    await asyncio.sleep(error.retry_after or backoff)
                else:
                    log.warning("Zalo getUpdates failed (%s); retrying in %.0f s", error, backoff)
                    await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if updates:
                delay = 0.5
                while True:  # Zalo will not send these again: keep trying to store them
                    try:
                        await self.ingest_zalo(updates, wake=False)
                        break
                    except Exception as exc:
                        log.warning("storing Zalo updates failed (%s)", describe_error(exc))
                        if stop.is_set():
                            raise
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 10.0)
                try:
                    await self.dispatch()
                except Exception:
                    self._wake.set()  # the runner takes them in, retrying
            backoff = 1.0

    def attach_webhook(self, app: web.Application, *, path: str, secret: str) -> None:
        """Take Zalo's webhook POSTs on ``path`` of ``app``: the secret header is checked
        (in constant time) before the body is read, the update is committed, then 200.  The
        lanes run for as long as ``app`` runs."""

        async def receive(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                return web.Response(status=401, text="bad secret token")
            if request.content_length is not None and request.content_length > MAX_BODY:
                return web.Response(status=413, text="too large")
            try:
                data = parse_zalo_body(await _read_body(request))
            except ValueError as exc:
                return web.Response(status=400, text=f"not a Zalo update: {exc}")
            try:
                await self.ingest_zalo([data])
            except Exception as exc:
                log.warning("storing a Zalo update failed: %s", describe_error(exc))
                return web.Response(status=503, text="try again later")
            return web.json_response({"ok": True})

        app.router.add_post(path, receive)
        self.run_with(app)
