"""Every user-facing text: Jinja2 templates under ``bot/templates`` and gettext catalogs.

The templates are written in Vietnamese (with diacritics): Vietnamese is the source language and
needs no catalog.  ``bot/locales/en/LC_MESSAGES/messages.po`` translates the ``{% trans %}``
blocks to English.  Catalogs are compiled in memory from the ``.po`` files with Babel, so there
is no binary to keep in step.  After editing a template, refresh the catalog as
``bot/locales/README.md`` says (extract, update, translate the new entries).

Telegram messages use its HTML parse mode, so every value inserted into a template is escaped.
"""

from __future__ import annotations

import datetime as dt
import gettext
import html
import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.environment import TemplateModule

TEMPLATES = Path(__file__).with_name("templates")
LOCALES_DIR = Path(__file__).with_name("locales")
SOURCE_LOCALE = "vi"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalog of a locale (none needed for Vietnamese, the source language)."""
    return compiled_catalog(LOCALES_DIR, "messages", locale)


def compiled_catalog(folder: Path, domain: str, locale: str) -> gettext.NullTranslations:
    """``folder/<locale>/LC_MESSAGES/<domain>.po`` compiled in memory (Vietnamese: none)."""
    if locale == SOURCE_LOCALE:
        return gettext.NullTranslations()
    po_path = folder / locale / "LC_MESSAGES" / f"{domain}.po"
    if not po_path.exists():
        raise ValueError(f"no message catalog for locale {locale!r} at {po_path}")
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def format_date(value: dt.date | dt.datetime | None) -> str:
    """dd/mm/yyyy, the Vietnamese convention."""
    return "" if value is None else value.strftime("%d/%m/%Y")


def format_datetime(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%H:%M %d/%m/%Y")


def format_percent(value: float | None, digits: int = 1) -> str:
    """A rate (0..1) as a Vietnamese percentage: 0.755 → "75,5%"."""
    if value is None:
        return "—"
    text = f"{value * 100:.{digits}f}".replace(".", ",")
    if "," in text:
        text = text.rstrip("0").rstrip(",")
    return f"{text}%"


def format_int(value: int | None) -> str:
    """Thousands separated by dots, the Vietnamese convention: 30000 → "30.000"."""
    return "—" if value is None else f"{value:,}".replace(",", ".")


@cache
def environment(locale: str) -> Environment:
    """The one Jinja2 environment of a locale (cached; templates are loaded once)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "txt"), default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    env.filters["percent"] = format_percent
    env.filters["int"] = format_int
    env.globals["locale"] = locale
    return env


def render(name: str, locale: str = SOURCE_LOCALE, /, **context: Any) -> str:
    """Render ``bot/templates/<name>`` in ``locale``; surrounding blank space is trimmed."""
    return environment(locale).get_template(name).render(**context).strip()


def template_names() -> list[str]:
    return sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*") if p.is_file())


@cache
def _labels(locale: str) -> TemplateModule:
    """The macros of ``labels.txt`` in a locale, built once (each label was rebuilding the
    whole module: a twentieth of the bot's CPU under load)."""
    return environment(locale).get_template("labels.txt").make_module()


def label(name: str, locale: str = SOURCE_LOCALE, /, **context: Any) -> str:
    """A short text (a button, a command description) from the macros of ``labels.txt``.

    Button texts are plain text for Telegram, so the markup escaping of the template is undone.
    A label without arguments is rendered once per locale (the outbox's "Đã nắm" button was
    rendered anew for every message: ~60 µs each).
    """
    if not context:
        return _fixed_label(name, locale)
    return _render_label(name, locale, context)


@cache
def _fixed_label(name: str, locale: str) -> str:
    return _render_label(name, locale, {})


def _render_label(name: str, locale: str, context: dict[str, Any]) -> str:
    macro = getattr(_labels(locale), name, None)
    if macro is None:
        raise KeyError(f"no label {name!r} in bot/templates/labels.txt")
    return html.unescape(str(macro(**context))).strip()
