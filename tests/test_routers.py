"""The routers' shape: what aiogram would run on a worker thread, and what each filter lets in."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.types import Chat, Contact, Document, Message, User

from handlers import build_router
from handlers.filters import CommandText, HasContact, HasFile, PlainText


def _walk(router: Router) -> list[tuple[str, object, bool]]:
    found: list[tuple[str, object, bool]] = []
    for name, observer in router.observers.items():
        for handler in observer.handlers:
            found.append((f"{router.name}.{name} handler", handler.callback, handler.awaitable))
            for check in handler.filters or []:
                found.append((f"{router.name}.{name} filter", check.callback, check.awaitable))
    for child in router.sub_routers:
        found.extend(_walk(child))
    return found


def test_no_handler_or_filter_runs_on_a_thread() -> None:
    # aiogram runs a plain callable (a magic filter such as F.text, a def handler) through
    # asyncio.to_thread: a thread hand-off per check.  Every one of ours is a coroutine.
    found = _walk(build_router())
    assert len(found) > 60  # the walk saw the routers (8 of them, ~50 handlers)
    threaded = [(where, callback) for where, callback, awaitable in found if not awaitable]
    assert threaded == []


def _message(text: str | None = None, **extra: object) -> Message:
    return Message(
        message_id=1,
        date=datetime(2026, 12, 7),
        chat=Chat(id=5, type="private"),
        from_user=User(id=5, is_bot=False, first_name="Lan"),
        text=text,
        **extra,  # type: ignore[arg-type]
    )


async def test_content_filters() -> None:
    assert await PlainText()(_message("1")) is True
    assert await PlainText()(_message("Nguyễn Thị Lan")) is True
    assert await PlainText()(_message("/surveys")) is False
    assert await PlainText()(_message(None)) is False
    assert await CommandText()(_message("/unknown arg")) is True
    assert await CommandText()(_message("không")) is False
    assert await CommandText()(_message(None)) is False
    contact = Contact(phone_number="0912345678", first_name="Lan", user_id=5)
    assert await HasContact()(_message(None, contact=contact)) is True
    assert await HasContact()(_message("0912345678")) is False
    document = Document(file_id="f", file_unique_id="u")
    assert await HasFile()(_message(None, document=document)) is True
    assert await HasFile()(_message("tệp")) is False
