"""Browser-test harness: Debian's Chromium driven by Playwright, plus accessibility checks.

Playwright never downloads a browser here (there is no internet): it launches the system
Chromium through ``executable_path``.  Typical use in an async test::

    from tests.browser import browser_page, low_contrast, shoot, tab_order, unlabelled_controls

    async def test_dashboard(dashboard_url: str) -> None:
        async with browser_page(1280, 800, base_url=dashboard_url) as bp:
            await bp.page.goto("/cases")
            assert await unlabelled_controls(bp.page) == []
            assert await low_contrast(bp.page) == []
            assert (await tab_order(bp.page, 2))[0] == 'a "Bỏ qua tới nội dung"'
            await shoot(bp.page, "cases-desktop")
            assert bp.errors == []

What the module provides:

- `ensure_chromium() -> str | None`: the Chromium to launch.  ``$CHROMIUM`` wins (and is then
  the only candidate), else ``/usr/bin/chromium``, else ``chromium``, ``chromium-browser`` or
  ``google-chrome`` on PATH.  When none is found and we run as root with apt-get, Debian's
  ``chromium`` package is installed once, with ``fonts-noto-color-emoji`` (without a colour
  emoji font the pages' emoji are empty boxes in the screenshots); an fcntl lock in the temp
  dir keeps the xdist workers from running apt together, and a failure is remembered for 15
  minutes so the other workers do not retry it.  Debian's ``/usr/bin/chromium`` is a shell
  wrapper that sources ``/etc/chromium.d`` (Google API keys, extra flags); the real binary
  behind it, ``/usr/lib/chromium/chromium``, is returned instead.  The lookup runs once per process.
- `chromium_missing_reason() -> str`: why `ensure_chromium` found nothing ("" when it did).
- `chromium_or_skip() -> str`: the path, or ``pytest.skip`` naming what is missing and how
  to install it.  `browser_page` calls it, so browser tests skip by themselves.
- `browser_page(width, height, *, base_url=None)`: async context manager yielding a
  `BrowserPage` (``.page``: a fresh ``playwright.async_api.Page`` in its own browser, with
  that viewport, locale vi-VN, downloads accepted, 15 s default timeouts; ``.errors``: every
  ``console.error`` message and uncaught page error so far, as
  ``"console error: <text> @ <url>:<line>"`` and ``"page error: <Name>: <message>"``; a
  404 counts, including Chromium's own request for /favicon.ico when the page declares no
  icon).  One browser per call: opening one takes about 1.3 s on an idle machine (Playwright
  driver 0.5 s, browser 0.3 s, context and page 0.5 s), 2-3.5 s on a loaded one.
- `screenshot_dir() -> Path`: ``$SCREENSHOT_DIR``, else ``<repo>/test-artifacts/screenshots``
  (created).  `shoot(page, name) -> Path` writes ``<dir>/<name>.png`` (full page).
- `unlabelled_controls(page) -> list[str]`: the opening tag (``<input type="text" name="q">``)
  of every rendered input (not type=hidden), select, textarea, button and a[href] without an
  accessible name.  A name comes from aria-labelledby (non-empty referenced text),
  aria-label, a non-empty <label> (``label[for]`` or wrapping, i.e. ``element.labels``),
  title; for buttons and links also their text (an <img>'s alt counts as text); for
  input type=button its value, type=image its alt; type=submit/reset have a default name.
  A placeholder is not a name.  Controls not rendered (display:none, hidden) or inert are
  skipped: check a dialog after opening it.
- `low_contrast(page, minimum=4.5, large_minimum=3.0) -> list[str]`: every rendered element
  with text of its own whose WCAG 2 contrast ratio is below the minimum (large text, >= 24px
  or bold >= 18.66px, uses ``large_minimum``), e.g.
  ``<p class="hint"> "Ghi chú" 1.92:1 (#bbbbbb on #ffffff; needs 4.5)``.  The text colour and
  the background colours and opacities of the element and all its ancestors are composited
  as the browser paints flat colours, over a white canvas.  Background images and gradients
  are ignored; disabled controls (WCAG exempts them) and visually hidden text (1px boxes,
  off-screen skip links) are skipped.
- `tab_order(page, n) -> list[str]`: presses Tab n times and describes the focused element
  after each press as ``tag "accessible name"`` (``a "Trang chủ"``, ``button "Tìm"``;
  ``body`` when focus is on the page itself).

The launch flags keep Chromium off the network: besides the background-networking switches
(Playwright adds most of them as well) ``--host-resolver-rules`` makes every host name other
than localhost unresolvable, since Chromium 156 still looks up update.googleapis.com at start
without it.  Serve test pages on 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

REPO = Path(__file__).resolve().parent.parent

LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)
DEFAULT_TIMEOUT_MS = 15_000

_PATH_NAMES = ("chromium", "chromium-browser", "google-chrome")
_DEBIAN_WRAPPER = "/usr/bin/chromium"
_DEBIAN_BINARY = "/usr/lib/chromium/chromium"
_LOCK = Path(tempfile.gettempdir()) / "congdoan-chromium-install.lock"
_FAILED = Path(tempfile.gettempdir()) / "congdoan-chromium-install.failed"
_FAILURE_MEMORY_S = 15 * 60
_HOW_TO_INSTALL = (
    "install Debian's package (as root: apt-get update && apt-get install -y chromium "
    "fonts-noto-color-emoji) "
    "or set CHROMIUM to a Chromium/Chrome executable"
)


# -- finding (or installing) Chromium ---------------------------------------------------------


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _unwrapped(path: str) -> str:
    """The real binary behind Debian's launcher script, else the path itself."""
    if os.path.realpath(path) == _DEBIAN_WRAPPER and _executable(_DEBIAN_BINARY):
        return _DEBIAN_BINARY
    return path


def _search() -> tuple[str | None, str]:
    """(path, "") for the first Chromium found, else (None, what was looked at)."""
    override = os.environ.get("CHROMIUM")
    if override:
        found = shutil.which(override)
        if found:
            return _unwrapped(found), ""
        return None, f"CHROMIUM={override!r} is not an executable file"
    if _executable(_DEBIAN_WRAPPER):
        return _unwrapped(_DEBIAN_WRAPPER), ""
    for name in _PATH_NAMES:
        found = shutil.which(name)
        if found:
            return _unwrapped(found), ""
    return None, (
        f"no Chromium found (looked at $CHROMIUM, {_DEBIAN_WRAPPER}, "
        f"{', '.join(_PATH_NAMES)} on PATH)"
    )


def _run_apt(*args: str, timeout: float) -> str:
    """Runs apt-get; "" on success, else a one-line account of the failure."""
    command = ["apt-get", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{' '.join(command)}` failed: {exc}"
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        return f"`{' '.join(command)}` exited with {done.returncode}: {tail}"
    return ""


def _install_once() -> str:
    """Installs Debian's chromium unless another process did or just failed to.

    Returns "" when a Chromium can now be found, else why not."""
    with _LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait here, then find it
        try:
            if _search()[0]:
                return ""
            if _FAILED.exists() and time.time() - _FAILED.stat().st_mtime < _FAILURE_MEMORY_S:
                return _FAILED.read_text(encoding="utf-8")
            failure = _run_apt("update", "-qq", timeout=600) or _run_apt(
                "install", "-y", "-qq", "chromium", "fonts-noto-color-emoji", timeout=1200
            )
            if not failure and not _search()[0]:
                failure = "apt-get installed chromium but no executable appeared"
            if failure:
                _FAILED.write_text(failure, encoding="utf-8")
            else:
                _FAILED.unlink(missing_ok=True)
            return failure
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@functools.cache
def _lookup() -> tuple[str | None, str]:
    path, missing = _search()
    if path or os.environ.get("CHROMIUM"):
        return path, missing
    if os.geteuid() != 0:
        return None, f"{missing}; not root, so it was not installed: {_HOW_TO_INSTALL}"
    if shutil.which("apt-get") is None:
        return None, f"{missing}; apt-get is not available: {_HOW_TO_INSTALL}"
    failure = _install_once()
    if failure:
        return None, f"{missing}; installing it failed: {failure}; {_HOW_TO_INSTALL}"
    return _search()[0], ""


def ensure_chromium() -> str | None:
    """The Chromium executable to launch, installing Debian's package if need be (see the
    module docstring); None when it cannot be had (`chromium_missing_reason` says why)."""
    return _lookup()[0]


def chromium_missing_reason() -> str:
    """Why `ensure_chromium` returns None, with how to fix it; "" when a Chromium is there."""
    path, reason = _lookup()
    return "" if path else f"browser tests need Chromium: {reason}"


def chromium_or_skip() -> str:
    """The Chromium executable, or skip the calling test with a message naming the fix."""
    path = ensure_chromium()
    if path is None:
        pytest.skip(chromium_missing_reason())
    return path


# -- the page ---------------------------------------------------------------------------------


@dataclass
class BrowserPage:
    """A page in its own headless Chromium, and the errors it reported so far."""

    page: Page
    errors: list[str] = field(default_factory=list)


def _console_error(message: ConsoleMessage) -> str:
    location = message.location
    where = f" @ {location['url']}:{location['lineNumber']}" if location.get("url") else ""
    return f"console error: {message.text}{where}"


def _page_error(error: PlaywrightError) -> str:
    return f"page error: {error.name}: {error.message}" if error.name else error.message


@asynccontextmanager
async def browser_page(
    width: int, height: int, *, base_url: str | None = None
) -> AsyncIterator[BrowserPage]:
    """A fresh headless Chromium with one page of the given viewport (locale vi-VN, downloads
    accepted); skips the test when Chromium cannot be had.  ``base_url`` makes relative
    ``page.goto("/path")`` work."""
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(LAUNCH_ARGS)
        )
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": height},
                accept_downloads=True,
                locale="vi-VN",
                base_url=base_url,
            )
            context.set_default_timeout(DEFAULT_TIMEOUT_MS)
            page = await context.new_page()
            result = BrowserPage(page)

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    result.errors.append(_console_error(message))

            def on_page_error(error: PlaywrightError) -> None:
                result.errors.append(_page_error(error))

            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            yield result
        finally:
            await browser.close()


# -- screenshots ------------------------------------------------------------------------------


def screenshot_dir() -> Path:
    """Where screenshots go (created): $SCREENSHOT_DIR, else <repo>/test-artifacts/screenshots."""
    configured = os.environ.get("SCREENSHOT_DIR")
    directory = Path(configured) if configured else REPO / "test-artifacts" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


_SHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


async def shoot(page: Page, name: str) -> Path:
    """Writes a full-page screenshot to <screenshot_dir()>/<name>.png and returns its path."""
    if not _SHOT_NAME.fullmatch(name):
        raise ValueError(f"screenshot name {name!r}: use letters, digits, '.', '_' and '-'")
    path = screenshot_dir() / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path


# -- accessibility checks ---------------------------------------------------------------------

# Shared by the scripts below: accessible names (a subset of the W3C accname computation that
# is enough for server-rendered forms) and a short, stable description of an element.
_JS_COMMON = r"""
const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
const NOT_TEXT = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SELECT', 'TEXTAREA',
                          'DATALIST', 'OPTION']);
const LABELLABLE = new Set(['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON']);
function hiddenElement(el) {
  return el.hidden || el.getAttribute('aria-hidden') === 'true'
    || getComputedStyle(el).display === 'none';
}
function textOf(node) {
  let out = '';
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) {
      out += ' ' + child.data;
    } else if (child.nodeType === Node.ELEMENT_NODE) {
      if (NOT_TEXT.has(child.tagName) || hiddenElement(child)) continue;
      if (child.tagName === 'IMG') out += ' ' + (child.getAttribute('alt') || '');
      else out += ' ' + textOf(child);
    }
  }
  return clean(out);
}
function accessibleName(el) {
  const ids = clean(el.getAttribute('aria-labelledby'));
  if (ids) {
    const byIds = clean(ids.split(' ').map((id) => {
      const target = document.getElementById(id);
      return target ? clean(target.getAttribute('aria-label')) || textOf(target) : '';
    }).join(' '));
    if (byIds) return byIds;
  }
  const aria = clean(el.getAttribute('aria-label'));
  if (aria) return aria;
  const tag = el.tagName;
  const type = (el.getAttribute('type') || '').toLowerCase();
  if (tag === 'INPUT' && type === 'image') {
    const alt = clean(el.getAttribute('alt'));
    if (alt) return alt;
  }
  if (LABELLABLE.has(tag) && el.labels) {
    const fromLabels = clean(Array.from(el.labels).map(textOf).join(' '));
    if (fromLabels) return fromLabels;
  }
  if (tag === 'BUTTON' || tag === 'A') {
    const text = textOf(el);
    if (text) return text;
  }
  if (tag === 'INPUT' && ['button', 'submit', 'reset'].includes(type)) {
    const value = clean(el.value);
    if (value) return value;
    if (type === 'submit') return 'Submit';
    if (type === 'reset') return 'Reset';
  }
  return clean(el.getAttribute('title'));
}
function openingTag(el) {
  const attributes = Array.from(el.attributes).map((a) => ` ${a.name}="${a.value}"`).join('');
  const tag = `<${el.localName}${attributes}>`;
  return tag.length > 160 ? tag.slice(0, 156) + '...>' : tag;
}
function rendered(el) {
  return el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
}
"""

_JS_UNLABELLED = (
    "() => {"
    + _JS_COMMON
    + r"""
  const controls = document.querySelectorAll(
    'input:not([type="hidden" i]), select, textarea, button, a[href]');
  return Array.from(controls)
    .filter((el) => rendered(el) && !el.closest('[inert]') && !accessibleName(el))
    .map(openingTag);
}"""
)

_JS_LOW_CONTRAST = (
    "([minimum, largeMinimum]) => {"
    + _JS_COMMON
    + r"""
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const RGB = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)\s*(?:[,/]\s*([\d.]+)(%?))?\s*\)$/;
  // A computed colour as straight [r, g, b, a] in 0..1.
  function parse(css) {
    const m = RGB.exec(css);
    if (m) {
      const alpha = m[4] === undefined ? 1 : parseFloat(m[4]) / (m[5] ? 100 : 1);
      return [m[1] / 255, m[2] / 255, m[3] / 255, alpha];
    }
    // Other syntaxes (oklch(), color(srgb ...)): let the canvas convert to sRGB.
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = 'rgba(0, 0, 0, 0)';
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0] / 255, d[1] / 255, d[2] / 255, d[3] / 255];
  }
  const premultiplied = ([r, g, b, a]) => [r * a, g * a, b * a, a];
  const over = (top, below) => top.map((v, i) => v + below[i] * (1 - top[3]));
  // The colour painted where `el` shows `paint` (premultiplied; transparent for the bare
  // background): each ancestor puts its content over its own background, then applies its
  // opacity; the page canvas is white.
  function composite(el, paint) {
    let acc = paint;
    for (let node = el; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      acc = over(acc, premultiplied(parse(style.backgroundColor)));
      const opacity = parseFloat(style.opacity);
      acc = acc.map((v) => v * opacity);
    }
    return over(acc, [1, 1, 1, 1]);
  }
  const linear = (c) => (c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
  const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const hex = (rgb) => '#' + rgb.slice(0, 3)
    .map((v) => Math.round(v * 255).toString(16).padStart(2, '0')).join('');
  const IGNORED = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TITLE', 'OPTION',
                           'OPTGROUP', 'HEAD']);
  const offenders = [];
  for (const el of [document.body, ...document.body.querySelectorAll('*')]) {
    if (IGNORED.has(el.tagName)) continue;
    const ownText = clean(Array.from(el.childNodes)
      .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.data).join(' '));
    if (!ownText || !rendered(el) || el.closest(':disabled')) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1 || box.right <= 0 || box.bottom <= 0) continue;
    const style = getComputedStyle(el);
    const text = composite(el, premultiplied(parse(style.color)));
    const background = composite(el, [0, 0, 0, 0]);
    const [hi, lo] = [luminance(text), luminance(background)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (parseInt(style.fontWeight, 10) >= 700 && size >= 18.66);
    const needed = large ? largeMinimum : minimum;
    if (ratio < needed) {
      const snippet = ownText.length > 40 ? ownText.slice(0, 39) + '…' : ownText;
      offenders.push(`${openingTag(el)} "${snippet}" ${ratio.toFixed(2)}:1 `
        + `(${hex(text)} on ${hex(background)}; needs ${needed})`);
    }
  }
  return offenders;
}"""
)

_JS_FOCUSED = (
    "() => {"
    + _JS_COMMON
    + r"""
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body || el === document.documentElement) return 'body';
  const name = accessibleName(el) || clean(el.getAttribute('placeholder'));
  return name ? `${el.localName} "${name}"` : el.localName;
}"""
)


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise TypeError(f"the page script returned {value!r}, not a list")
    return [str(item) for item in value]


async def unlabelled_controls(page: Page) -> list[str]:
    """The opening tags of the rendered form controls, buttons and links with no accessible
    name (see the module docstring for what counts as a name)."""
    return _strings(await page.evaluate(_JS_UNLABELLED))


async def low_contrast(page: Page, minimum: float = 4.5, large_minimum: float = 3.0) -> list[str]:
    """The rendered elements whose own text has a WCAG contrast ratio below ``minimum``
    (``large_minimum`` for large text), each as ``<tag ...> "text" ratio:1 (fg on bg; needs x)``."""
    return _strings(await page.evaluate(_JS_LOW_CONTRAST, [minimum, large_minimum]))


async def tab_order(page: Page, n: int) -> list[str]:
    """Presses Tab n times; after each press, the focused element as ``tag "name"``."""
    focused: list[str] = []
    for _ in range(n):
        await page.keyboard.press("Tab")
        focused.append(str(await page.evaluate(_JS_FOCUSED)))
    return focused
