"""Zalo's side of the conversation: its updates read for the routers, their replies made Zalo's.

Zalo has no buttons, no message edits and no command menu.  So:

* :class:`ZaloCodec` turns a stored Zalo update (``message.text.received`` …) into the update
  the routers read, a private message from the chat, with the Zalo chat id handed to the unit
  of work (``external_id``): the routers, services and storage never see which channel it was.
* :class:`ZaloAdapter` works inside the unit of work.  Before the handler, a typed reply that
  picks one of the choices last shown ("2", "có", the label with or without diacritics) becomes
  that choice's action, as a button press would be on Telegram; "đã nắm" acknowledges the
  member's newest notice.  After it, the replies are made Zalo's: the text plain, the buttons a
  numbered list with a hint ("Trả lời 1, 2 hoặc 3."), an edit a new message, a toast a short
  message; the numbered choices are kept on the chat (``chat_identities.menu``) in the same
  transaction, so the next update reads what the member saw.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from aiogram.types import CallbackQuery, Chat, Message, Update, User

from bot.channels.telegram_replies import ReplyCall
from bot.channels.zalo.text import (
    Menu,
    choices_block,
    hint,
    interpret,
    is_acknowledgement,
    number_buttons,
    plain_text,
)
from handlers.callbacks import AckCb, BackCb, SkipCb, StopCb, SubmitCb, ToggleCb
from storage import notices as notice_store
from storage.models import Channel

if TYPE_CHECKING:
    from aiogram import Bot
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.services.actors import Actor

TEXT_EVENT = "message.text.received"
EVENTS = frozenset(
    {
        TEXT_EVENT,
        "message.image.received",
        "message.sticker.received",
        "message.unsupported.received",
    }
)
_TOGGLE_PREFIX = ToggleCb.__prefix__ + ToggleCb.__separator__
# The buttons under a question that waits for a typed answer: a number typed is the answer.
_NAVIGATION = tuple(cb.__prefix__ + cb.__separator__ for cb in (BackCb, SkipCb, StopCb))
_SUBMIT = SubmitCb.__prefix__ + SubmitCb.__separator__


def chat_number(zalo_id: str) -> int:
    """A stable number for a Zalo chat id, for the update the routers read (aiogram wants an
    integer); 48 bits, so it never looks like a Telegram id of the same chat."""
    digest = hashlib.blake2b(zalo_id.encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big") + 1


def _message(payload: Any) -> dict[str, Any] | None:
    if not isinstance(payload, dict):
        return None
    message = payload.get("message")
    return message if isinstance(message, dict) else None


def chat_of(payload: Any) -> str | None:
    """The Zalo id of the private chat an update comes from, if it names one."""
    message = _message(payload)
    chat = message.get("chat") if message else None
    if not isinstance(chat, dict):
        return None
    ident = chat.get("id")
    kind = str(chat.get("chat_type") or "PRIVATE").upper()
    if not isinstance(ident, str) or not ident or len(ident) > 64 or kind != "PRIVATE":
        return None
    return ident


def update_key(payload: Any) -> tuple[str, int] | None:
    """(message id, time in ms) of an update: its key in the inbox and its order in its chat."""
    message = _message(payload)
    if message is None:
        return None
    ident = message.get("message_id")
    date = message.get("date")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or not str(ident):
        return None
    if len(str(ident)) > 64:
        return None
    order = int(date) if isinstance(date, int | float) and not isinstance(date, bool) else 0
    return str(ident), max(0, min(order, 2**63 - 1))


class ZaloCodec:
    """Reads stored Zalo updates for the inbox runner (:class:`bot.channels.inbound`)."""

    channel = Channel.ZALO

    def sender(self, payload: Any) -> str | None:
        return chat_of(payload)

    def callback_id(self, payload: Any) -> str | None:
        return None

    def to_update(self, payload: Any, *, inbox_id: int, bot: Bot) -> tuple[Update, dict[str, Any]]:
        chat_id = chat_of(payload)
        message = _message(payload)
        if chat_id is None or message is None:
            raise ValueError("not a message of a private Zalo chat")
        event = payload.get("event_name")
        if event not in EVENTS:
            raise ValueError(f"unknown Zalo event {event!r}")
        raw = message.get("from")
        sender: dict[str, Any] = raw if isinstance(raw, dict) else {}
        name = str(sender.get("display_name") or sender.get("first_name") or "").strip()
        if sender.get("is_bot") is True:
            raise ValueError("a message from a bot")
        number = chat_number(chat_id)
        date = message.get("date")
        when = (
            dt.datetime.fromtimestamp(date / 1000, dt.UTC)
            if isinstance(date, int | float) and not isinstance(date, bool) and date > 0
            else dt.datetime.now(dt.UTC)
        )
        text = message.get("text") if event == TEXT_EVENT else None
        if text is not None and not isinstance(text, str):
            raise ValueError("text is not a string")
        update = Update(
            update_id=inbox_id,
            message=Message(
                message_id=inbox_id,
                date=when,
                chat=Chat(id=number, type="private"),
                from_user=User(id=number, is_bot=False, first_name=name[:64] or "Zalo"),
                text=text,
            ),
        )
        return update.as_(bot), {"external_id": chat_id}


def _is_toggle(action: str) -> bool:
    return action.startswith(_TOGGLE_PREFIX)


def _waits_for_text(markup: dict[str, Any] | None) -> bool:
    """Whether a keyboard is only a question's way back, skip or stop: the question waits for
    a typed answer (a number, a date, a name)."""
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    actions = [
        str(button.get("callback_data"))
        for row in rows or ()
        if isinstance(row, list)
        for button in row
        if isinstance(button, dict) and isinstance(button.get("callback_data"), str)
    ]
    return bool(actions) and all(_is_navigation(action) for action in actions)


def _is_navigation(action: str) -> bool:
    """Back, skip, stop (and the "stop?" question's answers) of a survey screen."""
    if action.startswith(_NAVIGATION):
        return True
    if action.startswith(_SUBMIT):
        try:
            return not SubmitCb.unpack(action).send
        except (TypeError, ValueError):
            return False
    return False


class ZaloAdapter:
    """The unit of work's Zalo step: typed choices in, Zalo-shaped replies out (module doc)."""

    channel = Channel.ZALO

    async def rewrite(self, update: Update, *, actor: Actor, session: AsyncSession) -> Update:
        message = update.message
        text = (message.text or "").strip() if message is not None else ""
        if message is None or not text or text.startswith("/"):
            return update
        action = interpret(text, Menu.from_json(actor.chat.menu))
        if action is None and is_acknowledgement(text) and actor.person is not None:
            assert actor.person.id is not None
            delivery = await notice_store.newest_unacknowledged(session, person_id=actor.person.id)
            if delivery is not None:
                action = AckCb(d=delivery).pack()
        if action is None:
            return update
        assert message.from_user is not None
        press = CallbackQuery(
            id=f"zalo:{update.update_id}",
            from_user=message.from_user,
            chat_instance="zalo",
            data=action,
            message=Message(
                message_id=message.message_id, date=message.date, chat=message.chat, text=text
            ),
        )
        return Update(update_id=update.update_id, callback_query=press).as_(message.bot)

    def prepare(self, calls: list[ReplyCall], *, actor: Actor) -> list[ReplyCall]:
        """The replies as Zalo takes them (plain text, numbered choices); remembers the
        choices of the last message on the chat.  Command menus and button-only changes have
        no Zalo form and are left out."""
        out: list[ReplyCall] = []
        menu: Menu | None = None
        locale = actor.locale
        for call in calls:
            if call.kind in ("send", "edit", "document", "photo"):
                lines, shown = number_buttons(
                    call.markup, toggle=_is_toggle, typed=_waits_for_text(call.markup)
                )
                body = plain_text(call.text) if call.text else ""
                block = choices_block(lines, shown, hint(shown, locale)) if lines else ""
                text = "\n\n".join(part for part in (body, block) if part)
                menu = shown
                if text:
                    out.append(ReplyCall("send", chat_id=call.chat_id, text=text))
            elif call.kind == "answer" and call.text:
                out.append(ReplyCall("send", chat_id=actor.chat.external_id, text=call.text))
        if menu is not None:
            actor.chat.menu = menu.to_json() if menu.choices else None
        return out
