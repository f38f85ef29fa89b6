"""A small async client of the Zalo Bot Platform HTTP API.

Every method is ``POST {api_url}/bot{token}/{method}`` with a JSON body; the answer is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": "..."}``.
`ZaloBotClient.call` returns the result or raises `ZaloError`, whose `ZaloError.kind` says
what the refusal means for a sender (retry later, give up on the chat, fix the token...).

The token is part of every URL: it never appears in an error's text (descriptions taken from
exceptions are redacted, and network errors are raised without their cause attached).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import aiohttp

DEFAULT_API_URL = "https://bot-api.zaloplatforms.com"
TEXT_LIMIT = 2000  # characters of a message's text or a photo's caption

# A 400 or 404 whose description contains one of these (case-insensitively) means the user
# cannot be written to, not that the request was wrong.
UNREACHABLE_PHRASES = (
    "user not found",
    "chat not found",
    "blocked",
    "not interacted",
    "not followed",
    "not a follower",
    "unfollow",
)


class ZaloErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429: wait retry_after, then send again
    TRANSIENT = "transient"  # 5xx, network error, timeout: retry later with backoff
    UNAUTHORIZED = "unauthorized"  # 401: the token is wrong or revoked
    UNREACHABLE = "unreachable"  # 403, or the user is unknown, blocked the bot, never wrote
    PERMANENT = "permanent"  # any other 4xx: the request itself is refused


class ZaloError(Exception):
    """A failed Bot API call: a refusal, an answer that is not JSON, a network error or a
    timeout (``status`` None for the last two)."""

    def __init__(
        self,
        method: str,
        status: int | None,
        description: str,
        *,
        error_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.status = status
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        code = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{method}: {code}: {description}")

    @property
    def code(self) -> int | None:
        """The error code when it is an HTTP-like one, else the HTTP status."""
        if self.error_code is not None and 100 <= self.error_code <= 599:
            return self.error_code
        return self.status

    @property
    def kind(self) -> ZaloErrorKind:
        code = self.code
        if code is None or code >= 500:
            return ZaloErrorKind.TRANSIENT
        if code == 429:
            return ZaloErrorKind.RATE_LIMITED
        if code == 401:
            return ZaloErrorKind.UNAUTHORIZED
        if code == 403:
            return ZaloErrorKind.UNREACHABLE
        if code in (400, 404):
            text = self.description.lower()
            if any(phrase in text for phrase in UNREACHABLE_PHRASES):
                return ZaloErrorKind.UNREACHABLE
        return ZaloErrorKind.PERMANENT


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _retry_after(body: dict[str, Any], header: str | None) -> float | None:
    """``parameters.retry_after``, else ``retry_after``, else the Retry-After header."""
    parameters = body.get("parameters")
    if isinstance(parameters, dict):
        found = _number(parameters.get("retry_after"))
        if found is not None:
            return found
    found = _number(body.get("retry_after"))
    if found is not None:
        return found
    return _number(header) if header is not None else None


def normalize_updates(result: Any) -> list[dict[str, Any]]:
    """getUpdates' result as a list: one update, a list of them, or nothing (null, absent)."""
    if isinstance(result, dict):
        return [result] if result else []
    if isinstance(result, list):
        return [update for update in result if isinstance(update, dict) and update]
    return []


class ZaloBotClient:
    """The Bot API of one Zalo bot. Uses the given session, or creates one on first use (then
    `close` closes it)."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 10.0,  # seconds per request, unless a call says otherwise
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:
        return f"ZaloBotClient({self.api_url!r})"

    def _redact(self, text: str) -> str:
        """``text`` without the token, as given or percent-encoded in a URL."""
        for form in (self._token, quote(self._token, safe=":")):
            if form:
                text = text.replace(form, "<token>")
        return text

    def _session_in_use(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        """Run one method; returns its ``result``. Raises `ZaloError`."""
        session = self._session_in_use()
        url = f"{self.api_url}/bot{self._token}/{method}"
        seconds = self.timeout if timeout is None else timeout
        try:
            async with session.post(
                url, json=params or {}, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as response:
                status = response.status
                header = response.headers.get("Retry-After")
                raw = await response.read()
        except TimeoutError:
            raise ZaloError(method, None, f"timeout after {seconds:g} s") from None
        except aiohttp.ClientError as exc:
            description = self._redact(f"{type(exc).__name__}: {exc}")
            raise ZaloError(method, None, description) from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ZaloError(method, status, f"answer is not a JSON object (HTTP {status})")
        if body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code")
        error_code = code if isinstance(code, int) and not isinstance(code, bool) else None
        said = body.get("description")
        raise ZaloError(
            method,
            status,
            self._redact(str(said)) if said else f"HTTP {status}",
            error_code=error_code,
            retry_after=_retry_after(body, header),
        )

    async def get_me(self) -> dict[str, Any]:
        """The bot's account: ``id``, ``account_name``, ``account_type``..."""
        result = await self.call("getMe")
        if not isinstance(result, dict):
            raise ZaloError("getMe", 200, "answer without an account")
        return result

    async def get_updates(self, poll_seconds: int) -> list[dict[str, Any]]:
        """Long-polls up to ``poll_seconds``; the updates that came (each is consumed by being
        returned), often none or one. A 408 answer means nothing came."""
        try:
            result = await self.call(
                "getUpdates", {"timeout": str(poll_seconds)}, timeout=poll_seconds + 10
            )
        except ZaloError as error:
            if error.code == 408:
                return []
            raise
        return normalize_updates(result)

    async def _send(self, method: str, params: dict[str, Any]) -> str:
        result = await self.call(method, params)
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if message_id is None:
            raise ZaloError(method, 200, "answer without a message_id")
        return str(message_id)

    async def send_message(self, chat_id: str, text: str) -> str:
        """Sends a text (1..`TEXT_LIMIT` characters); returns the message id."""
        return await self._send("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> str:
        """Sends the photo at a public URL, with an optional caption; returns the message id."""
        params: dict[str, Any] = {"chat_id": chat_id, "photo": photo_url}
        if caption is not None:
            params["caption"] = caption
        return await self._send("sendPhoto", params)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})

    async def set_webhook(self, url: str, secret_token: str) -> None:
        """Zalo then POSTs each update to ``url`` with the X-Bot-Api-Secret-Token header."""
        await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> None:
        await self.call("deleteWebhook")

    async def get_webhook_info(self) -> Any:
        return await self.call("getWebhookInfo")

    async def close(self) -> None:
        """Closes the session if this client created it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None
