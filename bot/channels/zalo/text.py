"""Our messages as Zalo shows them, and members' typed replies read back as button presses.

Zalo's Bot API sends plain text only (at most :data:`ZALO_TEXT_LIMIT` characters a message) and
has no buttons.  :func:`plain_text` turns the Telegram HTML of a message into the text a member
sees, :func:`split` cuts it into messages, and :func:`number_buttons` lists the inline keyboard
as numbered lines ("1. ✅ Có"); the :class:`Menu` of those numbers is kept with the chat, and
:func:`interpret` maps a reply ("1", "có", "không đồng ý") to the action of the button it names.

Pure: no I/O, no aiogram, no database.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from bot.texts import render
from surveys.normalize import fold as _fold_nfd

ZALO_TEXT_LIMIT = 2000

# --------------------------------------------------------------------------- plain text

# Link targets shown as the link text alone: they mean nothing outside Telegram.
_HIDDEN_SCHEMES = ("tg://",)
# Stripped from a link target before comparing it with the link text ("t.me/x" is the link).
_SHOWN_SCHEMES = re.compile(r"^(?:https?://|mailto:|tel:)", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
# Stands for a line break inside <pre> while blank lines are collapsed (kept there as is).
_PRE_BREAK = "\x00"


class _PlainText(HTMLParser):
    """Collects the visible text of Telegram HTML; links become "text (url)"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[tuple[str, int]] = []  # href, index in out where its text starts
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append(_PRE_BREAK if self.pre else "\n")
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))
        elif tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.links:
            self._close_link()
        elif tag == "pre" and self.pre:
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        self.out.append(data.replace("\n", _PRE_BREAK) if self.pre else data)

    def close(self) -> None:
        super().close()
        while self.links:  # an <a> never closed
            self._close_link()

    def _close_link(self) -> None:
        href, start = self.links.pop()
        shown = "".join(self.out[start:]).replace(_PRE_BREAK, "\n").strip()
        if _link_suffix_needed(shown, href):
            self.out.append(f" ({href})" if shown else href)


def _link_suffix_needed(text: str, href: str) -> bool:
    """Whether a link's target must be shown after its text (it is not the text itself)."""
    href = href.strip()
    if not href or href.lower().startswith(_HIDDEN_SCHEMES):
        return False
    bare = _SHOWN_SCHEMES.sub("", href).rstrip("/")
    return text not in (href, bare, bare + "/")


def _tidy(text: str) -> str:
    """Trailing spaces of lines dropped, at most one blank line in a row, trimmed."""
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).replace(_PRE_BREAK, "\n").strip()


def plain_text(markup: str) -> str:
    """The text a member sees of a message in Telegram HTML: tags dropped, entities unescaped,
    a link as "text (url)", ``<br>`` a line break, at most one blank line in a row, trimmed.

    Never raises: markup the parser cannot read is shown with what looks like tags removed.
    """
    markup = markup.replace(_PRE_BREAK, "")
    parser = _PlainText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # html.parser is lenient, but this must never fail a send
        return _tidy(html.unescape(_TAG.sub("", markup)))
    return _tidy("".join(parser.out))


# --------------------------------------------------------------------------- splitting

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def _cut(text: str, limit: int) -> int:
    """Where to end the first part of ``text`` (which starts with no whitespace): before the
    last blank line, else line end, else space within ``limit``; else at ``limit``."""
    window = text[: limit + 1]
    blank = [m.start() for m in _BLANK_LINE.finditer(window) if m.start() > 0]
    if blank:
        return blank[-1]
    line_end = window.rfind("\n")
    if line_end > 0:
        return line_end
    space = next((i for i in range(len(window) - 1, 0, -1) if window[i].isspace()), 0)
    return space or limit


def split(text: str, limit: int = ZALO_TEXT_LIMIT) -> list[str]:
    """``text`` as parts of at most ``limit`` characters, cut at a blank line if possible, else
    at a line end, else at a space, else inside a word; the whitespace at each cut is dropped
    (joined back with it, the parts give the text).  No part is empty."""
    if limit < 1:
        raise ValueError("the limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


# --------------------------------------------------------------------------- numbered choices


@dataclass(frozen=True)
class Choice:
    """A button shown as a numbered line: the member types ``number`` (or the label)."""

    number: int
    label: str
    action: str  # the button's callback_data


@dataclass(frozen=True)
class Menu:
    """The numbered choices of the last message with buttons in a chat.

    ``free`` are the numbers of toggles (options of a multiple choice): typed alone they are
    not mapped to their action, so that "1, 3" and "1" are read as the caller's text.
    ``typed``: the message waits for a typed answer (a number, a date, a name…) and its
    buttons are shown by name only ("• ⬅️ Quay lại"): a lone number is the answer, never a
    button; a button is chosen by its name.
    """

    choices: tuple[Choice, ...] = ()
    free: tuple[int, ...] = ()
    typed: bool = False

    def choice(self, number: int) -> Choice | None:
        return next((c for c in self.choices if c.number == number), None)

    def to_json(self) -> str:
        return json.dumps(
            {
                "choices": [[c.number, c.label, c.action] for c in self.choices],
                "free": list(self.free),
                "typed": self.typed,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, data: str | None) -> Menu:
        """The menu stored by :meth:`to_json`; an empty menu for anything else (never raises)."""
        if not data:
            return cls()
        try:
            raw = json.loads(data)
            choices = tuple(
                Choice(number, label, action)
                for number, label, action in raw["choices"]
                if _is_int(number) and isinstance(label, str) and isinstance(action, str)
            )
            free = tuple(n for n in raw.get("free", ()) if _is_int(n))
            typed = raw.get("typed") is True
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()
        return cls(choices, free, typed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number_buttons(
    markup: dict[str, Any] | None,
    *,
    toggle: Callable[[str], bool] = lambda action: False,
    typed: bool = False,
) -> tuple[list[str], Menu]:
    """The lines that stand for an inline keyboard, and the menu of their numbers.

    Each button with ``callback_data`` is numbered in reading order ("1. ✅ Có"); a URL button
    is a line "🔗 label: url" with no number; toggles (``toggle(action)``) are numbered and
    listed in ``Menu.free``.  With ``typed`` (the message waits for a typed answer) the
    buttons are listed by name, without numbers.  Any other markup (reply keyboard, none)
    gives no lines.
    """
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        return [], Menu()
    lines: list[str] = []
    choices: list[Choice] = []
    free: list[int] = []
    for row in rows:
        for button in row if isinstance(row, list) else ():
            if not isinstance(button, dict):
                continue
            label = str(button.get("text", ""))
            action, url = button.get("callback_data"), button.get("url")
            if isinstance(action, str):
                number = len(choices) + 1
                choices.append(Choice(number, label, action))
                lines.append(f"• {label}" if typed else f"{number}. {label}")
                if toggle(action):
                    free.append(number)
            elif isinstance(url, str):
                lines.append(f"🔗 {label}: {url}")
    return lines, Menu(tuple(choices), tuple(free), typed and bool(choices))


def hint(menu: Menu, locale: str) -> str:
    """How to answer with the numbers of ``menu`` ("Gõ 1 để chọn."); empty with no choices."""
    if not menu.choices:
        return ""
    last = max(c.number for c in menu.choices)
    text = render(
        "zalo/choices.txt",
        locale,
        count=len(menu.choices),
        multi=bool(menu.free),
        typed=menu.typed,
        last=last,
    )
    return plain_text(text)


def choices_block(lines: list[str], menu: Menu, hint: str) -> str:
    """The lines of the buttons, a blank line and the hint; empty when there are no lines."""
    if not lines:
        return ""
    block = "\n".join(lines)
    return f"{block}\n\n{hint}" if hint and menu.choices else block


# --------------------------------------------------------------------------- typed replies

YES = frozenset({"co", "c", "yes", "y", "ok", "dong y", "u", "uh", "vang", "da"})
NO = frozenset({"khong", "k", "ko", "no", "n", "tu choi", "khong dong y"})
_YES_LABELS = frozenset({"co", "dong y", "toi dong y", "yes", "dong y tham gia"})
_NO_LABELS = frozenset({"khong", "tu choi", "khong dong y"})
_ACKNOWLEDGEMENTS = frozenset({"da nam", "da nam duoc", "nam roi", "ok da nam", "da doc"})
# A lone number: "2", "2.", "số 2", "so 2", "#2" (after NFKC: full-width digits are ASCII).
_NUMBER = re.compile(r"(?:(?:số|so)\s*|#\s*)?([0-9]{1,6})\s*[.)]?", re.IGNORECASE)
# Typed text shorter than this names a button only in full.
_MIN_PREFIX = 3


def fold(text: str) -> str:
    """Text as compared with button labels: lower-case ASCII words separated by single spaces,
    diacritics (and đ), emoji and punctuation removed; full-width forms read as ASCII."""
    return _fold_nfd(unicodedata.normalize("NFKC", text))


def _is_yes_label(folded: str) -> bool:
    return folded in _YES_LABELS or folded.startswith(("co ", "dong y"))


def _is_no_label(folded: str) -> bool:
    return folded in _NO_LABELS or folded.startswith(("khong ", "tu choi"))


def _only(found: list[Choice], menu: Menu) -> str | None:
    """The action of the one choice found, unless it is a toggle; None for none or several."""
    if len(found) != 1 or found[0].number in menu.free:
        return None
    return found[0].action


def interpret(text: str, menu: Menu) -> str | None:
    """The action of the button a typed reply names, or None (the reply is typed text).

    In order: a lone number of a choice; the label itself, or the start (3 letters or more) of
    exactly one label, compared folded; a yes or no word for the one yes or no button.  Toggles
    (``menu.free``) are never chosen this way.
    """
    if not menu.choices:
        return None
    typed = unicodedata.normalize("NFKC", text).strip()
    number = _NUMBER.fullmatch(typed)
    if number is not None:
        if menu.typed:
            return None
        choice = menu.choice(int(number.group(1)))
        return _only([choice], menu) if choice is not None else None
    folded = fold(typed)
    if not folded:
        return None
    labels = [(c, fold(c.label)) for c in menu.choices]
    exact = [c for c, label in labels if label == folded]
    if exact:
        return _only(exact, menu)
    if len(folded) >= _MIN_PREFIX:
        started = [c for c, label in labels if label.startswith(folded)]
        if len(started) == 1:
            return _only(started, menu)
    if folded in YES:
        return _only([c for c, label in labels if _is_yes_label(label)], menu)
    if folded in NO:
        return _only([c for c, label in labels if _is_no_label(label)], menu)
    return None


def is_acknowledgement(text: str) -> bool:
    """Whether a member's reply confirms they read a notice ("Đã nắm", "nắm rồi", "đã đọc")."""
    return fold(text) in _ACKNOWLEDGEMENTS
