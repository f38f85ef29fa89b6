"""Split a long Telegram HTML text into messages that each fit, with their tags balanced.

Telegram takes at most 4096 characters per message (1024 per caption), counted in UTF-16 code
units after the HTML is parsed.  Lengths here are counted on the HTML source, which is never
shorter, so every part fits.  Cuts go at paragraph boundaries (blank lines) when possible, then
at line ends, then at spaces, and only as a last resort inside a word; never inside a tag or an
entity.  A tag open at a cut is closed at the end of the part and opened again (with its
attributes) at the start of the next one.
"""

from __future__ import annotations

import re
from itertools import accumulate

TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024

_MARKUP = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|\w+);")

_PARAGRAPH, _LINE, _SPACE, _ANY = 3, 2, 1, 0


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _closing(stack: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _opening(stack: tuple[tuple[str, str], ...]) -> str:
    return "".join(tag for _, tag in stack)


def split_for_telegram(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """``text`` as one or more parts of at most ``limit`` UTF-16 units each (see module doc)."""
    if utf16_len(text) <= limit:
        return [text]
    # Cut positions (a cut at i ends a part before text[i]) with the tags open there.
    cuts: list[int] = [0]
    stacks: list[tuple[tuple[str, str], ...]] = [()]
    stack: tuple[tuple[str, str], ...] = ()
    i = 0
    n = len(text)
    while i < n:
        match = _MARKUP.match(text, i) if text[i] in "<&" else None
        if match is None:
            if i:
                cuts.append(i)
                stacks.append(stack)
            i += 1
            continue
        if match.group(2):
            name = match.group(2).lower()
            if match.group(1):
                for depth in range(len(stack) - 1, -1, -1):
                    if stack[depth][0] == name:
                        stack = stack[:depth] + stack[depth + 1 :]
                        break
            else:
                stack = (*stack, (name, match.group(0)))
        elif i:  # an entity is one character: a cut may go before it, not inside
            cuts.append(i)
            stacks.append(stack)
        i = match.end()
    cuts.append(n)
    stacks.append(stack)
    units = [0, *accumulate(utf16_len(c) for c in text)]

    def rank(pos: int) -> int:
        if text.startswith("\n\n", pos):
            return _PARAGRAPH
        if text.startswith("\n", pos):
            return _LINE
        if text.startswith(" ", pos):
            return _SPACE
        return _ANY

    parts: list[str] = []
    k = 0  # index into cuts of the current part's start
    prefix = ""
    while k < len(cuts) - 1:
        start = cuts[k]
        head = utf16_len(prefix)
        best: list[int | None] = [None, None, None, None]
        j = k + 1
        while j < len(cuts):
            pos = cuts[j]
            size = head + units[pos] - units[start]
            if size > limit:
                break
            if size + utf16_len(_closing(stacks[j])) <= limit:
                best[rank(pos) if pos < n else _PARAGRAPH] = j
            j += 1
        chosen = next((b for b in reversed(best) if b is not None), None)
        if chosen is None or cuts[chosen] == start:
            chosen = k + 1  # a tag prefix longer than the limit: make progress anyway
        end = cuts[chosen]
        body = text[start:end]
        part = prefix + body + _closing(stacks[chosen])
        if body.strip():
            parts.append(part)
        # Drop the separator the cut was made at: blank lines, a line end, or one space.
        k = chosen
        if end < n:
            r = rank(end)
            skip = {_PARAGRAPH: None, _LINE: 1, _SPACE: 1, _ANY: 0}[r]
            while k < len(cuts) - 1 and (skip is None or skip > 0) and text[cuts[k]] in "\n ":
                if skip is None and text[cuts[k]] != "\n":
                    break
                k += 1
                if skip is not None:
                    skip -= 1
        # Tags between the cut and the next text are carried by the reopening prefix.
        prefix = _opening(stacks[k])
    return parts
