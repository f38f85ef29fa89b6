"""A local fake of the Zalo Bot Platform API for tests.

`FakeZaloAPI` is an aiohttp server on 127.0.0.1 that answers ``POST /bot<token>/<method>``
with JSON bodies as the Zalo Bot Platform does, and is as strict: a wrong token is a 401, an
unknown method a 404, an empty or over-long text a 400, a chat the test has not created with
`FakeZaloAPI.user` a 404 "User not found", a user who blocked the bot a 403.  It records every
call, keeps per user what the bot sent them, and serves the users' messages by long polling
(one update per getUpdates, consumed when returned, no offset) or pushes them to a webhook.

Faults for the next matching calls: `FakeZaloAPI.fail_next` (an error answer, or a non-JSON
one) and `FakeZaloAPI.hang_next` (the answer comes only after a delay, so that client
timeouts show; the call then takes effect, as a slow platform's would).  A failed call never
takes effect.

Typical use::

    async with FakeZaloAPI() as fake:
        client = ZaloBotClient(fake.token, fake.url)
        lan = fake.user("e4ea2cd5189df1c3a88c", "Nguyen Thi Lan")
        await lan.send("Xin chào")
        [update] = await client.get_updates(1)
        await client.send_message(lan.id, "Chào chị")
        assert lan.last_text() == "Chào chị"
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

JsonDict = dict[str, Any]
Handler = Callable[[JsonDict, web.Request], Awaitable[Any]]

DEFAULT_TOKEN = "1459232241454765289:fake-zalo-bot-token"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
TEXT_LIMIT = 2000
BOT_ACCOUNT: JsonDict = {
    "id": "1459232241454765289",
    "account_name": "bot.VDKyGxQvc",
    "account_type": "BASIC",
    "can_join_groups": False,
}
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})


class ZaloAPIError(Exception):
    """Raised by a method implementation to answer with an error."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def payload(self) -> JsonDict:
        return {"ok": False, "error_code": self.status, "description": self.description}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ZaloCall:
    """One request the bot made; ``status``/``response`` are filled when it is answered."""

    method: str
    params: JsonDict
    status: int | None = None
    response: JsonDict | None = None
    fault: str | None = None  # "fail" or "hang" when fault injection shaped the answer

    @property
    def ok(self) -> bool:
        return self.status == 200

    def __repr__(self) -> str:
        return f"ZaloCall({self.method} {self.params!r} -> {self.status})"


@dataclass
class ReceivedPhoto:
    url: str
    caption: str | None
    message_id: str


@dataclass
class _Fault:
    method: str  # lower-cased
    remaining: int
    status: int = 0
    description: str = ""
    retry_after: float | None = None
    raw: str | None = None  # a non-JSON body instead of the error object
    seconds: float = 0.0  # hang_next: the delay
    skip: int = 0  # matching calls to let through first


class FakeZaloUser:
    """A Zalo user chatting privately with the bot (their chat id is their user id)."""

    def __init__(self, api: FakeZaloAPI, id: str, name: str) -> None:
        self.api = api
        self.id = id
        self.name = name
        self.blocked = False
        self.received: list[str] = []  # texts of the bot's messages, in order
        self.photos: list[ReceivedPhoto] = []
        self.actions: list[str] = []  # chat actions ("typing")
        self.message_ids: list[str] = []  # ids of everything the bot sent, in order

    def last_text(self) -> str:
        if not self.received:
            raise AssertionError(f"{self.name} has received no text")
        return self.received[-1]

    def block(self) -> None:
        """The user blocks the bot: sending to them is refused with 403 from now on."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    def _message(self, **content: Any) -> JsonDict:
        return {
            "message_id": self.api._new_incoming_id(),
            "date": _now_ms(),
            "chat": {"id": self.id, "chat_type": "PRIVATE"},
            "from": {"id": self.id, "display_name": self.name, "is_bot": False},
            **content,
        }

    async def _emit(self, event_name: str, **content: Any) -> str:
        message = self._message(**content)
        await self.api.deliver({"event_name": event_name, "message": message})
        return str(message["message_id"])

    async def send(self, text: str) -> str:
        """The user writes a text; returns the update's message id."""
        return await self._emit("message.text.received", text=text)

    async def send_sticker(self, sticker: str = "bfe458bf64fa8da4d4eb") -> str:
        return await self._emit("message.sticker.received", sticker=sticker)

    async def send_image(self, url: str, caption: str | None = None) -> str:
        content: JsonDict = {"photo": url}
        if caption is not None:
            content["caption"] = caption
        return await self._emit("message.image.received", **content)

    async def send_unsupported(self) -> str:
        return await self._emit("message.unsupported.received")

    def __repr__(self) -> str:
        return f"FakeZaloUser({self.id!r}, {self.name!r})"


class FakeZaloAPI:
    """The Zalo Bot Platform API of one bot, on a random local port."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, empty_poll: str = "408") -> None:
        """``empty_poll``: what getUpdates answers when nothing came within its timeout,
        ``"408"`` (an error answer) or ``"null"`` (``result`` null)."""
        if empty_poll not in ("408", "null"):
            raise ValueError("empty_poll is '408' or 'null'")
        self._token = token
        self.empty_poll = empty_poll
        self.calls: list[ZaloCall] = []
        self.users: dict[str, FakeZaloUser] = {}
        self.pending: list[JsonDict] = []  # updates not yet served or pushed
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_route: str | None = None
        self.webhook_deliveries: list[tuple[str, int]] = []  # (message id, HTTP status or 0)
        self._faults: list[_Fault] = []
        self._hangs: list[_Fault] = []
        self._incoming = itertools.count(1)
        self._outgoing = itertools.count(1)
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._push_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._client = ClientSession(
            connector=TCPConnector(force_close=True), timeout=ClientTimeout(total=5)
        )

    async def stop(self) -> None:
        self._closing.set()
        self._notify()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZaloAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the client (instead of https://bot-api.zaloplatforms.com)."""
        if not self._port:
            raise RuntimeError("FakeZaloAPI is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def token(self) -> str:
        return self._token

    # -- users and updates -------------------------------------------------------------------

    def user(self, id: str, name: str) -> FakeZaloUser:
        """The user with this id (created on first use): only they can be sent to."""
        if id not in self.users:
            self.users[id] = FakeZaloUser(self, id, name)
        return self.users[id]

    def _new_incoming_id(self) -> str:
        return f"m{next(self._incoming):018x}"

    def _new_outgoing_id(self) -> str:
        return f"{next(self._outgoing):020x}"

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def deliver(self, update: JsonDict) -> None:
        """Queue an update: served to getUpdates, or pushed now when a webhook is set."""
        self.pending.append(update)
        self._notify()
        if self.webhook_url is not None:
            await self.flush_webhook()

    def route_webhook(self, local_url: str) -> None:
        """Push webhook updates to this local URL instead of the registered one (the reverse
        proxy in front of the bot)."""
        self.webhook_route = local_url

    def _webhook_target(self) -> str | None:
        if self.webhook_route:
            return self.webhook_route
        if self.webhook_url and _is_loopback_url(self.webhook_url):
            return self.webhook_url
        return None  # never the real network

    async def flush_webhook(self) -> int:
        """POST the queued updates to the webhook in order, stopping at the first that is not
        answered 200 (it stays queued); returns how many were delivered."""
        delivered = 0
        async with self._push_lock:
            while self.pending and self.webhook_url is not None:
                target = self._webhook_target()
                if target is None or self._client is None:
                    break
                update = self.pending[0]
                headers = {SECRET_HEADER: self.webhook_secret or ""}
                try:
                    async with self._client.post(target, json=update, headers=headers) as answer:
                        status = answer.status
                except (TimeoutError, OSError):
                    status = 0
                self.webhook_deliveries.append((str(update["message"]["message_id"]), status))
                if status != 200:
                    break
                self.pending.pop(0)
                delivered += 1
        return delivered

    # -- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        *,
        times: int = 1,
        retry_after: float | None = None,
        raw: str | None = None,
        after: int = 0,
    ) -> None:
        """The next ``times`` calls of ``method`` (after letting ``after`` through) are answered
        ``status`` without effect: an error object (with ``parameters.retry_after`` if given),
        or the ``raw`` text."""
        if description is None:
            description = HTTPStatus(status).phrase
        self._faults.append(
            _Fault(method.lower(), times, status, description, retry_after, raw, skip=after)
        )

    def hang_next(self, method: str, seconds: float, *, times: int = 1, after: int = 0) -> None:
        """The next ``times`` calls of ``method`` (after letting ``after`` through) are
        answered only after ``seconds``."""
        self._hangs.append(_Fault(method.lower(), times, seconds=seconds, skip=after))

    @staticmethod
    def _take(faults: list[_Fault], method: str) -> _Fault | None:
        for fault in faults:
            if fault.method != method.lower() or fault.remaining <= 0:
                continue
            if fault.skip > 0:  # the first pending fault only: faults queue up in order
                fault.skip -= 1
                return None
            fault.remaining -= 1
            return fault
        return None

    # -- queries -----------------------------------------------------------------------------

    def calls_of(self, method: str) -> list[ZaloCall]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def last_call(self, method: str) -> ZaloCall:
        found = self.calls_of(method)
        if not found:
            raise AssertionError(f"no {method} call")
        return found[-1]

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await request.json()
        except ValueError:
            params = None
        call = ZaloCall(method, params if isinstance(params, dict) else {})
        self.calls.append(call)
        try:
            if request.match_info["token"] != self._token:
                raise ZaloAPIError(401, "Unauthorized")
            handler = self._methods().get(method)
            if handler is None:
                raise ZaloAPIError(404, "Not Found")
            if request.method != "POST":
                raise ZaloAPIError(405, "Method Not Allowed")
            if not isinstance(params, dict):
                raise ZaloAPIError(400, "Bad Request: the body is not a JSON object")
            hang = self._take(self._hangs, method)
            if hang is not None:
                call.fault = "hang"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), hang.seconds)
                if self._closing.is_set():
                    raise ZaloAPIError(503, "Service Unavailable")
            fault = self._take(self._faults, method)
            if fault is not None:
                call.fault = "fail"
                if fault.raw is not None:
                    call.status = fault.status
                    return web.Response(
                        text=fault.raw, status=fault.status, content_type="text/html"
                    )
                body = ZaloAPIError(fault.status, fault.description).payload()
                if fault.retry_after is not None:
                    body["parameters"] = {"retry_after": fault.retry_after}
                call.status, call.response = fault.status, body
                return web.json_response(body, status=fault.status)
            result = await handler(params, request)
            body = {"ok": True, "result": result}
            call.status = 200
        except ZaloAPIError as error:
            body = error.payload()
            call.status = error.status
        call.response = body
        return web.json_response(body, status=call.status)

    def _methods(self) -> dict[str, Handler]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
        }

    async def _get_me(self, params: JsonDict, request: web.Request) -> JsonDict:
        return dict(BOT_ACCOUNT)

    async def _get_updates(self, params: JsonDict, request: web.Request) -> JsonDict | None:
        if self.webhook_url is not None:
            raise ZaloAPIError(409, "Conflict: getUpdates is not allowed while a webhook is set")
        timeout = params.get("timeout", "0")
        try:
            wait = float(timeout)
        except (TypeError, ValueError):
            raise ZaloAPIError(400, "Bad Request: invalid timeout") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait, 0.0)
        while True:
            transport = request.transport
            if transport is None or transport.is_closing():
                return None  # the client gave up: keep the update for the next poll
            if self.pending:
                return self.pending.pop(0)
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing.is_set():
                if self.empty_poll == "408":
                    raise ZaloAPIError(408, "Request timeout")
                return None
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _chat(self, params: JsonDict) -> FakeZaloUser:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise ZaloAPIError(400, "Bad Request: chat_id is required")
        user = self.users.get(chat_id)
        if user is None:
            raise ZaloAPIError(404, "User not found")
        if user.blocked:
            raise ZaloAPIError(403, "User has blocked the bot")
        return user

    @staticmethod
    def _text(params: JsonDict, name: str) -> str:
        value = params.get(name)
        if not isinstance(value, str) or not value:
            raise ZaloAPIError(400, f"Bad Request: {name} is empty")
        if len(value) > TEXT_LIMIT:
            raise ZaloAPIError(400, f"Bad Request: {name} is too long")
        return value

    def _sent(self, user: FakeZaloUser) -> JsonDict:
        message_id = self._new_outgoing_id()
        user.message_ids.append(message_id)
        return {"message_id": message_id, "date": _now_ms()}

    async def _send_message(self, params: JsonDict, request: web.Request) -> JsonDict:
        text = self._text(params, "text")
        user = self._chat(params)
        user.received.append(text)
        return self._sent(user)

    async def _send_photo(self, params: JsonDict, request: web.Request) -> JsonDict:
        photo = params.get("photo")
        if not isinstance(photo, str) or urlsplit(photo).scheme not in ("http", "https"):
            raise ZaloAPIError(400, "Bad Request: photo must be a URL")
        caption = self._text(params, "caption") if "caption" in params else None
        user = self._chat(params)
        result = self._sent(user)
        user.photos.append(ReceivedPhoto(photo, caption, result["message_id"]))
        return result

    async def _send_chat_action(self, params: JsonDict, request: web.Request) -> bool:
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise ZaloAPIError(400, "Bad Request: unknown action")
        self._chat(params).actions.append(str(action))
        return True

    async def _set_webhook(self, params: JsonDict, request: web.Request) -> JsonDict:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or urlsplit(url).scheme != "https" or not urlsplit(url).netloc:
            raise ZaloAPIError(400, "Bad Request: url must be an https URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise ZaloAPIError(400, "Bad Request: secret_token must be 8 to 256 characters")
        self.webhook_url, self.webhook_secret = url, secret
        self._notify()
        return {"url": url, "updated_at": _now_ms()}

    async def _delete_webhook(self, params: JsonDict, request: web.Request) -> JsonDict:
        url = self.webhook_url or ""
        self.webhook_url = self.webhook_secret = None
        return {"url": url, "updated_at": _now_ms()}

    async def _get_webhook_info(self, params: JsonDict, request: web.Request) -> JsonDict:
        return {"url": self.webhook_url or "", "updated_at": _now_ms()}
