"""The dashboard's pages: Jinja2 templates under ``bot/web/templates`` (HTML, autoescaped),
written in Vietnamese, translated to English by ``bot/web/locales/en/LC_MESSAGES/web.po``
(compiled in memory, as the chat's catalog is).  The filters are the chat's: dates dd/mm/yyyy,
"75,5%", "30.000"."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.texts import (
    compiled_catalog,
    environment,
    format_date,
    format_datetime,
    format_int,
    format_percent,
    label,
)

WEB_TEMPLATES = Path(__file__).with_name("templates")
WEB_LOCALES = Path(__file__).with_name("locales")
STATIC = Path(__file__).with_name("static")
DOMAIN = "web"


@cache
def web_environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(WEB_TEMPLATES),
        undefined=StrictUndefined,
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(  # type: ignore[attr-defined]
        compiled_catalog(WEB_LOCALES, DOMAIN, locale), newstyle=True
    )
    env.filters["date"] = format_date
    env.filters["datetime"] = format_datetime
    env.filters["percent"] = format_percent
    env.filters["int"] = format_int
    env.globals["locale"] = locale
    env.globals["label"] = lambda name, **kw: label(name, locale, **kw)
    # The chat's words for figures (targets, verdicts, coverage): one wording everywhere.
    env.globals["stats"] = environment(locale).get_template("stats.txt").make_module()
    return env


def page(name: str, locale: str, /, **context: Any) -> str:
    """Render ``bot/web/templates/<name>`` in ``locale``."""
    return web_environment(locale).get_template(name).render(**context)


def web_template_names() -> list[str]:
    return sorted(str(p.relative_to(WEB_TEMPLATES)) for p in WEB_TEMPLATES.rglob("*.html"))
