"""Error texts without personal data, for a log line or a stored ``error`` column.

An exception's message can carry what it was given: SQLAlchemy appends the statement and its
parameters (``[SQL: …]``, ``[parameters: …]``: what a member typed, a phone), Python's own
errors quote the value they refused (``invalid literal for int() with base 10: 'Lan 0912…'``),
and an API may echo part of a message.  :func:`safe_error` keeps what an operator needs to
diagnose (the exception's type, the driver's error for a database one, the first line of the
message) and drops the rest: bracketed SQL and parameters, quoted values, long digit runs
(phones, ids), then truncates.  :func:`safe_text` applies the same scrubbing to a text already
formatted (the reasons the channels' senders give).

Quoted identifiers a database names (``"people_phone_key"``) and dotted machine names
(``'message.location.received'``) are kept: they say what failed, and hold no value.
"""

from __future__ import annotations

import re
import traceback

from sqlalchemy.exc import StatementError

#: The longest error text kept (the columns hold more; an error needs no more than this).
MAX_LENGTH = 300

_BRACKETED = re.compile(r"\s*\[(?:SQL|parameters|SQL parameters)[^\]]*\]?", re.IGNORECASE)
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")
_SINGLE = re.compile(r"(?<!\w)'(?:[^'\\]|\\.)*'(?!\w)")  # not the one in "can't"
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"')
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,62}")
_DOTTED = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")  # message.location.received
#: A run of digits, perhaps grouped by one kind of separator (``0912 345 678``,
#: ``0912.345.678``, ``+84-912-345-678``): masked when it holds 9 digits or more (a phone, an
#: id), so that an address (``127.0.0.1:5432``) or a date (``2026-12-07``) stays.
_DIGITS = re.compile(r"\+?\d+(?:([ .\-])\d+)?(?:\1\d+)*")
_DIGITS_MASKED = 9
_MASK = "…"


def _masked_double(match: re.Match[str]) -> str:
    inner = match.group(1)
    return match.group(0) if _IDENTIFIER.fullmatch(inner) else f'"{_MASK}"'


def _masked_digits(match: re.Match[str]) -> str:
    run = match.group(0)
    return "#" if sum(ch.isdigit() for ch in run) >= _DIGITS_MASKED else run


def _masked_single(match: re.Match[str]) -> str:
    """Python quotes values this way (a name, a text); only a dotted machine name stays."""
    return match.group(0) if _DOTTED.fullmatch(match.group(0)[1:-1]) else f"'{_MASK}'"


def safe_text(text: str | None, *, limit: int = MAX_LENGTH) -> str | None:
    """``text`` scrubbed (see the module doc): its first line, without SQL, parameters,
    quoted values or runs of 9 digits or more (grouped or not), at most ``limit`` characters."""
    if text is None:
        return None
    text = _BACKGROUND.sub("", text)
    text = _BRACKETED.sub("", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = _SINGLE.sub(_masked_single, first)
    first = _DOUBLE.sub(_masked_double, first)
    first = _DIGITS.sub(_masked_digits, first)
    if len(first) > limit:
        first = first[: limit - 1] + _MASK
    return first


def safe_error(exc: BaseException, *, limit: int = MAX_LENGTH) -> str:
    """``Type: first line of the message``, scrubbed; for a database error the driver's own
    error inside SQLAlchemy's (``IntegrityError(UniqueViolationError): duplicate key …``)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        inner: BaseException = exc.orig
        name = f"{type(exc).__name__}({type(inner).__name__})"
    else:
        inner, name = exc, type(exc).__name__
    message = safe_text(str(inner), limit=limit) or ""
    text = f"{name}: {message}" if message else name
    return text if len(text) <= limit else text[: limit - 1] + _MASK


def safe_traceback(exc: BaseException) -> str:
    """For a log line in place of ``log.exception``: :func:`safe_error`, then where it was
    raised (the frames of the exception and of those it came from, innermost last), without
    their messages: a driver's own error carries more lines than its first (PostgreSQL's
    ``DETAIL: Key (phone)=(…)``, ``Failing row contains (…)``: the row's values)."""
    parts = [safe_error(exc)]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__)).rstrip()
        if frames:
            parts.append(frames)
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        if cause is not None:
            parts.append(f"raised from {type(cause).__name__}:")
        current = cause
    return "\n".join(parts)
