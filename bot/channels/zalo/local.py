"""The local Zalo channel: an in-process Zalo Bot API for the terminal demo (no network).

:class:`LocalZaloClient` is a :class:`ZaloBotClient` whose :meth:`~LocalZaloClient.call`
answers in-process instead of POSTing to the Zalo Bot Platform: the code that sends through a
``ZaloBotClient`` (the replies' sender, the outbox's sender, the start-up calls) runs unchanged
and meets the platform's answers and refusals, as :class:`ZaloError`: an empty text or one over
:data:`TEXT_LIMIT` characters, a photo that is not a URL, an unknown method.  It never opens a
socket and has no token to keep secret.  Every message sent is kept per chat and reported to a
listener (what the person on Zalo would see: plain text, no buttons).

Incoming updates do not come from here: the driver builds Zalo updates and hands them to the
Zalo inbox (``ZaloInbox.ingest_zalo``), as the polling loop does with what ``getUpdates``
returns; ``getUpdates`` itself is refused.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.channels.zalo.api import TEXT_LIMIT, ZaloBotClient, ZaloError

JsonDict = dict[str, Any]

LOCAL_TOKEN = "1000000000000000001:local-zalo-demo"  # "<digits>:<secret>"; nothing checks it
LOCAL_API_URL = "local://zalo"  # never requested
BOT_ACCOUNT: JsonDict = {
    "id": "1000000000000000001",
    "account_name": "congdoan.demo",
    "account_type": "BASIC",
    "can_join_groups": False,
}
CHAT_ACTIONS = frozenset({"typing", "upload_photo"})


@dataclass(frozen=True)
class ZaloSent:
    """A message the bot sent to a Zalo chat, as the person sees it."""

    chat_id: str
    message_id: str
    text: str  # the text, or a photo's caption ("" without one)
    photo_url: str | None = None
    date: int = 0  # ms


Listener = Callable[[ZaloSent], None]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _refused(method: str, status: int, description: str) -> ZaloError:
    return ZaloError(method, status, description, error_code=status)


class LocalZaloClient(ZaloBotClient):
    """The Zalo Bot API of one bot, answered in-process (see the module doc)."""

    def __init__(self, *, listener: Listener | None = None) -> None:
        super().__init__(LOCAL_TOKEN, LOCAL_API_URL)
        self.listener = listener
        self.chats: dict[str, list[ZaloSent]] = {}  # chat id → what the bot sent, in order
        self.calls: list[str] = []  # method names, in order
        self.actions: list[tuple[str, str]] = []  # (chat id, action) of sendChatAction
        self.webhook: tuple[str, str] | None = None  # (url, secret) while one is set
        self._message_ids = itertools.count(1)

    def __repr__(self) -> str:
        return "LocalZaloClient()"

    # -- what a driver uses ----------------------------------------------------------------

    def sent_to(self, chat_id: str) -> list[ZaloSent]:
        """What the bot sent to ``chat_id`` so far, oldest first."""
        return list(self.chats.get(chat_id, ()))

    def texts(self, chat_id: str) -> list[str]:
        return [message.text for message in self.chats.get(chat_id, ())]

    # -- ZaloBotClient -----------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (ZaloBotClient's signature)
    ) -> Any:
        """Answer one method as the Zalo Bot Platform would; raises :class:`ZaloError`."""
        self.calls.append(method)
        params = params or {}
        if method == "getMe":
            return dict(BOT_ACCOUNT)
        if method == "sendMessage":
            return self._deliver(self._chat(method, params), self._text(method, params))
        if method == "sendPhoto":
            photo = params.get("photo")
            if not isinstance(photo, str) or urlsplit(photo).scheme not in ("http", "https"):
                raise _refused(method, 400, "Bad Request: photo must be a URL")
            caption = self._text(method, params, "caption") if "caption" in params else ""
            return self._deliver(self._chat(method, params), caption, photo)
        if method == "sendChatAction":
            action = params.get("action")
            if action not in CHAT_ACTIONS:
                raise _refused(method, 400, "Bad Request: unknown action")
            self.actions.append((self._chat(method, params), str(action)))
            return True
        if method == "setWebhook":
            url, secret = params.get("url"), params.get("secret_token")
            if not isinstance(url, str) or urlsplit(url).scheme != "https":
                raise _refused(method, 400, "Bad Request: url must be an https URL")
            if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
                raise _refused(method, 400, "Bad Request: secret_token must be 8 to 256 characters")
            self.webhook = (url, secret)
            return {"url": url, "updated_at": _now_ms()}
        if method == "deleteWebhook":
            url = self.webhook[0] if self.webhook else ""
            self.webhook = None
            return {"url": url, "updated_at": _now_ms()}
        if method == "getWebhookInfo":
            return {"url": self.webhook[0] if self.webhook else "", "updated_at": _now_ms()}
        raise _refused(method, 404, f"Not Found: {method} is not available locally")

    async def close(self) -> None:
        """Nothing to close: no session is ever opened."""
        return None

    # -- the methods ---------------------------------------------------------------------------

    @staticmethod
    def _chat(method: str, params: JsonDict) -> str:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise _refused(method, 400, "Bad Request: chat_id is required")
        return chat_id

    @staticmethod
    def _text(method: str, params: JsonDict, name: str = "text") -> str:
        value = params.get(name)
        if not isinstance(value, str) or not value.strip():
            raise _refused(method, 400, f"Bad Request: {name} is empty")
        if len(value) > TEXT_LIMIT:
            raise _refused(
                method, 400, f"Bad Request: {name} is too long ({len(value)} > {TEXT_LIMIT})"
            )
        return value

    def _deliver(self, chat_id: str, text: str, photo_url: str | None = None) -> JsonDict:
        sent = ZaloSent(chat_id, f"{next(self._message_ids):020x}", text, photo_url, _now_ms())
        self.chats.setdefault(chat_id, []).append(sent)
        if self.listener is not None:
            self.listener(sent)
        return {"message_id": sent.message_id, "date": sent.date}
