"""Turning service results into queued replies (template + keyboard).  No business rules."""

from __future__ import annotations

from aiogram.types import BotCommand

from bot.services.actors import Actor
from bot.services.conversation import Screen, ScreenKind
from bot.texts import label, render
from handlers import keyboards
from handlers.ui import Replies

MEMBER_COMMANDS = (
    "start",
    "surveys",
    "cancel",
    "stop",
    "privacy",
    "dulieu",
    "rutlai",
    "xoadulieu",
    "help",
)
OFFICER_COMMANDS = (
    "notice",
    "notices",
    "pending",
    "assign",
    "survey",
    "campaigns",
    "digest",
    "stats",
    "indicator",
    "web",
    "report",
    "cases",
    "welfare",
    "invite",
    "left",
    "corrections",
)
ADMIN_COMMANDS = ("role", "audit", "dongnam")


def chat_id(actor: Actor) -> str:
    """The actor's chat as its channel knows it (where the replies go)."""
    return actor.chat.external_id


def command_menu(actor: Actor) -> list[BotCommand]:
    """The command menu a person sees, by role."""
    names = list(MEMBER_COMMANDS)
    if actor.is_officer:
        names += OFFICER_COMMANDS
    if actor.is_admin:
        names += ADMIN_COMMANDS
    return [BotCommand(command=n, description=label(f"cmd_{n}", actor.locale)) for n in names]


def show_screen(
    replies: Replies,
    actor: Actor,
    view: Screen,
    *,
    edit_message_id: int | None = None,
    note: str = "",
) -> None:
    """Queue a survey screen: edit the message in place after a button, else send anew;
    ``note`` (a rendered text) goes above it."""
    locale = actor.locale
    if view.kind == ScreenKind.QUESTION:
        text = render("survey/question.txt", locale, screen=view)
    elif view.kind == ScreenKind.SUMMARY:
        text = render("survey/summary.txt", locale, screen=view)
    elif view.kind == ScreenKind.DONE:
        text = render("survey/done.txt", locale, screen=view)
    elif view.kind == ScreenKind.CONFIRM_STOP:
        text = render("survey/confirm_stop.txt", locale, screen=view)
    elif view.kind == ScreenKind.CANCELLED:
        title = view.definition.title if view.definition else ""
        text = render("member/cancelled.txt", locale, title=title)
    elif view.kind == ScreenKind.NONE:
        text = render("member/cancelled.txt", locale, title="")
    else:
        text = render("survey/status.txt", locale, kind=view.kind.value)
    if note:
        text = f"{note}\n\n{text}"
    markup = keyboards.screen(view, locale)
    if edit_message_id is not None:
        replies.edit(chat_id(actor), edit_message_id, text, markup)
    else:
        replies.send(chat_id(actor), text, markup)
