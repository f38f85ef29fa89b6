"""``congdoan demo``: chat with the bot in the terminal, on a sample province, with no token.

The demo builds the real application (:func:`bot.app.build_app`: Dispatcher, routers,
unit-of-work middleware, inbox runner) on a temporary SQLite database holding the sample roster,
with :class:`bot.channels.local.LocalSession` in place of the Telegram HTTP session.  Every line
the user types becomes a Telegram ``Update`` (a message, a shared contact, a button press) that
goes through the inbox exactly as a polled update does; what the bot sends is printed.  There is
no business logic here: the demo only drives updates and prints replies.

Before handing over, a few people of the sample province use the bot through the same path (the
script ``bot/templates/demo/seed.txt``): the admin opens the activity survey, colleagues answer
it and report hardship cases, so that ``/stats`` shows real figures.

Input language (also accepted from ``--script FILE`` or a non-terminal stdin, one line each):
text and /commands as typed in Telegram; ``#N`` presses the N-th inline button of the last
message with buttons (``#text`` the button with that text); ``#M.N`` (or ``#M text``) presses a
button of the chat's message numbered M, however many came after it, as a tap on an older
message in Telegram (each button is printed as ``[M.N]``; the last
:data:`bot.channels.local.KEYBOARD_HISTORY` messages with buttons of each chat can be pressed);
``#contact`` shares one's phone; ``:who`` changes persona; ``:as PHONE`` acts as anyone in the
sample roster; ``:help``; ``:quit`` (or end of input).

With ``channel="zalo"`` (``congdoan demo --channel zalo``) the application also gets its Zalo
side, on :class:`bot.channels.zalo.local.LocalZaloClient` (an in-process Zalo Bot API), and the
personas' chats are Zalo chats ("zalo-tuan"...): each typed line becomes a Zalo update
(``message.text.received``) that goes through the Zalo inbox, and what the bot sends them is
printed as Zalo shows it, plain text with numbered choices (there are no buttons on Zalo: the
person types the number, so ``#…`` does not apply).  The seed still runs on the local Telegram
channel (the other people of the province use Telegram); the personas it linked there (the
chair, the admin) are then linked on Zalo too, by writing their Zalo chat identity and consent
record (a Zalo chat links with an invite code of a grassroots unit, which the provincial admin
has none of), linked and so last used after their Telegram chat: their outbound messages
(notices, invitations, decisions) then go to Zalo, through the same delivery worker, whose
Zalo rows the local Zalo client takes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import itertools
import os
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal, Protocol

from aiohttp import web
from jinja2.environment import TemplateModule
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from bot.app import App, StartupError, build_app, set_default_commands, start_dashboard
from bot.channels.local import TOKEN, LocalEvent, LocalMessage, LocalSession
from bot.channels.zalo.local import LocalZaloClient, ZaloSent
from bot.roster import RosterFileError, import_roster, sample_paths
from bot.services import web_access
from bot.services.onboarding import consent_version
from bot.services.web_access import WebPolicy
from bot.settings import Settings, SettingsError, load_settings
from bot.texts import environment, label, render
from handlers.views import ADMIN_COMMANDS, MEMBER_COMMANDS, OFFICER_COMMANDS
from storage import chats, people
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Channel, ChatStage, ConsentDecision, Role, Unit, utcnow
from surveys.normalize import fold
from surveys.phone import display_phone, normalize_phone

PersonaKind = Literal["member", "officer", "admin", "newcomer"]
DemoChannel = Literal["telegram", "zalo"]
CHANNELS: tuple[DemoChannel, ...] = ("telegram", "zalo")

# The personas, by their phone in the sample roster (bot/sample/people.csv).
MEMBER_PHONE = "0345 271 908"  # a member of the Toán – Tin group, not linked yet
OFFICER_PHONE = "0918 402 367"  # the chair of CĐCS THPT Bùi Thị Xuân (linked by the seed)
ADMIN_PHONE = "0913 620 145"  # the provincial admin (linked by the seed)
# A teacher who is not in the roster (Telegram profile: last name, first name, phone).
NEWCOMER = ("Trần Thị Bảo", "Ngọc", "0912 345 678")

FIRST_USER_ID = 100001
QUIT = frozenset({":quit", ":q", ":exit"})
# The local channels answer in-process: no platform limits to keep to (Zalo's default per-chat
# rate, one call a second, would make each of the bot's answers wait).
UNLIMITED_RATE = 1_000_000.0


class DemoSetupError(Exception):
    """The sample data could not be prepared (operator-facing, English)."""


# -- Telegram HTML → rich ---------------------------------------------------------------------

_STYLES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strike",
    "strike": "strike",
    "del": "strike",
    "code": "bold cyan",
    "pre": "cyan",
    "tg-spoiler": "reverse",
    "blockquote": "italic dim",
    "a": "underline blue",
}


class _RichHTML(HTMLParser):
    """Telegram's HTML parse mode as a rich ``Text`` (entities decoded, tags as styles)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        style = _STYLES.get(tag, "")
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            style = f"{style} link {href}"
        self.stack.append(style)

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        style = " ".join(s for s in self.stack if s)
        self.text.append(data, style=style or None)


def html_to_text(source: str) -> Text:
    parser = _RichHTML()
    parser.feed(source)
    parser.close()
    return parser.text


# -- people of the demo -----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    """A person of the demo: their Telegram account (one private chat) and, with
    ``--channel zalo``, their Zalo chat."""

    user_id: int
    first_name: str
    last_name: str
    phone: str  # E.164
    zalo_id: str = ""  # their Zalo chat's id ("zalo-tuan")

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name}".strip()

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": "vi",
        }
        if self.last_name:
            data["last_name"] = self.last_name
        return data


@dataclass(frozen=True)
class Persona:
    number: int
    kind: PersonaKind
    name: str
    unit: str
    user: DemoUser
    invite: str = ""  # the newcomer opens this unit's invite link (on Zalo, the member too)
    commands: tuple[str, ...] = ()  # every command the persona can use ("/start"...)

    @property
    def phone(self) -> str:
        return display_phone(self.user.phone)


def commands_for(role: Role | None) -> tuple[str, ...]:
    """The commands of a person with ``role`` once linked, as their command menu lists them
    (:func:`handlers.views.command_menu`)."""
    names = list(MEMBER_COMMANDS)
    if role in (Role.OFFICER, Role.ADMIN):
        names += OFFICER_COMMANDS
    if role == Role.ADMIN:
        names += ADMIN_COMMANDS
    return tuple(f"/{name}" for name in names)


def reserve_port(host: str, wanted: int) -> socket.socket:
    """A socket bound at ``host`` to ``wanted``, else to a free port the system gives, kept
    until the dashboard listens on it: a port only probed could be taken meanwhile (two demos
    starting at once, as the tests do).  Raises :class:`StartupError` when ``host`` has no
    port to give (an address of another machine)."""
    error: OSError | None = None
    for port in (wanted, 0):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            if os.name == "posix":  # as aiohttp's own sites: a port left in TIME_WAIT is free
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen()  # listening, the port is this demo's: no other can bind it now
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise StartupError(f"the dashboard cannot listen on {host} (WEB_HOST): {error}")


def split_name(full_name: str) -> tuple[str, str]:
    """Vietnamese order (family … given) → Telegram's (last name, first name)."""
    words = full_name.split()
    return " ".join(words[:-1]), (words[-1] if words else "")


# -- input ------------------------------------------------------------------------------------


class LineSource(Protocol):
    """What the demo reads when there is no script: ``sys.stdin`` or alike."""

    def isatty(self) -> bool: ...

    def readline(self) -> str: ...


class Input:
    """Where lines come from: the keyboard, or a script (echoed, so the output reads well)."""

    def __init__(self, console: Console, lines: Iterator[str] | None) -> None:
        self.console = console
        self.lines = lines

    async def _typed(self, prompt: Text) -> str:
        """A line from the keyboard, read in a thread of its own: the event loop goes on
        meanwhile (the outbox, and the dashboard answering the browser).  A daemon thread, so
        that Ctrl-C or the end of the demo never waits for a line nobody types."""
        loop = asyncio.get_running_loop()
        typed: asyncio.Future[str] = loop.create_future()

        def answer(line: str | None, error: BaseException | None) -> None:
            if typed.done():  # the demo ended meanwhile
                return
            if error is not None:
                typed.set_exception(error)  # EOFError, KeyboardInterrupt: the caller's
            else:
                typed.set_result(line or "")

        def work() -> None:
            try:
                line = self.console.input(prompt)
            except BaseException as exc:
                loop.call_soon_threadsafe(answer, None, exc)
            else:
                loop.call_soon_threadsafe(answer, line, None)

        threading.Thread(target=work, name="demo-input", daemon=True).start()
        return await typed

    async def read(self, prompt: str) -> str | None:
        if self.lines is None:
            try:
                return await self._typed(Text(f"{prompt} › ", style="bold green"))
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return None
        line = next(self.lines, None)
        if line is None:
            return None
        line = line.rstrip("\r\n")
        self.console.print(Text(f"{prompt} › {line}", style="bold green"))
        return line


# -- the demo ---------------------------------------------------------------------------------


class Demo:
    def __init__(self, console: Console, locale: str, channel: DemoChannel = "telegram") -> None:
        self.console = console
        self.locale = locale
        self.channel = channel
        self.session = LocalSession(listener=self.on_event)
        # With --channel zalo: the in-process Zalo Bot API the app's Zalo side sends through.
        self.zalo = LocalZaloClient(listener=self.on_zalo_message) if channel == "zalo" else None
        # Whether typed lines go to Zalo: not while the seed runs (on the local Telegram channel).
        self.on_zalo = False
        self.app: App | None = None
        self.users: dict[str, DemoUser] = {}  # by E.164 phone
        self.names: dict[int | str, str] = {}  # Telegram user id or Zalo chat id → full name
        self.current: DemoUser | None = None
        self.personas: list[Persona] = []
        self.quiet = False
        self._ids = itertools.count(1)
        self._user_ids = itertools.count(FIRST_USER_ID)
        self._ui: TemplateModule | None = None
        self.dashboard: web.AppRunner | None = None
        self.web_socket: socket.socket | None = None

    # -- texts --------------------------------------------------------------------------------

    def ui(self, macro: str, /, **context: Any) -> Text:
        """A short UI text (a macro of demo/ui.txt) as rich text."""
        if self._ui is None:
            self._ui = environment(self.locale).get_template("demo/ui.txt").make_module()
        return html_to_text(str(getattr(self._ui, macro)(**context)).strip())

    def page(self, template: str, locale: str | None = None, /, **context: Any) -> Text:
        return html_to_text(render(template, locale or self.locale, **context))

    # -- setting up ---------------------------------------------------------------------------

    async def start(self, db_url: str) -> None:
        # No ZALO_BOT_TOKEN from the environment: the demo's Zalo, if any, is the local one.
        host = load_settings(database_url=db_url).web_host
        self.web_socket = reserve_port(host, load_settings(database_url=db_url).web_port)
        settings = load_settings(
            database_url=db_url,
            zalo_bot_token=None,
            zalo_delivery_rate=UNLIMITED_RATE,
            zalo_delivery_per_chat_rate=UNLIMITED_RATE,
            # The dashboard of the sample province, on this machine: the configured port, or
            # another free one when it is taken (a second demo, a running `serve`).
            web_host=host,
            web_port=int(self.web_socket.getsockname()[1]),
            web_base_url=None,
            web_link_minutes=60,  # time to read the intro before opening the link
        )
        db = Database(db_url)
        await upgrade(db)
        async with db.session() as session:
            report = await import_roster(
                session, sample_paths(), today=dt.datetime.now(settings.tz).date()
            )
        if report.errors:
            await db.dispose()
            raise DemoSetupError(f"the sample roster has errors: {report.errors[0]}")
        self.locale = settings.locale
        self.app = await build_app(
            settings,
            token=TOKEN,
            bot_session=self.session,
            channel=Channel.LOCAL,
            db=db,
            zalo_client_override=self.zalo,
        )
        counts = {"units": report.units.created, "people": report.people.created}
        zalo = self.zalo is not None
        self.console.print(
            Panel(self.page("demo/intro.txt", zalo=zalo, **counts), border_style="blue")
        )
        if self.locale != "en":
            intro = self.page("demo/intro.txt", "en", zalo=zalo, **counts)
            intro.stylize("dim")
            self.console.print(intro)
        self.console.print(self.ui("preparing"), style="dim")
        self.quiet = True
        try:
            await set_default_commands(self.app)
            await self.seed()
            await self.make_personas()
            if zalo:
                await self.link_on_zalo()
                self.on_zalo = True
            self.dashboard = await start_dashboard(self.app, self.web_socket)
        finally:
            self.quiet = False
            self.current = None
        self.console.print(self.ui("ready"), style="dim")
        await self.show_dashboard(settings)

    async def show_dashboard(self, settings: Settings) -> None:
        """The dashboard's address and a sign-in link for the officer and the admin."""
        assert self.app is not None
        policy = WebPolicy.from_settings(settings)
        links: list[tuple[Persona, str]] = []
        async with self.app.db.session(write=True) as session:
            for persona in self.personas:
                if persona.kind not in ("officer", "admin"):
                    continue
                person = await people.person_by_phone(session, phone=persona.user.phone)
                if person is None or person.id is None:
                    continue
                link = await web_access.issue_link(
                    session, person_id=person.id, policy=policy, now=utcnow()
                )
                if link is not None:
                    links.append((persona, link))
        text = self.page(
            "demo/dashboard.txt",
            address=settings.web_url(),
            links=links,
            minutes=settings.web_link_minutes,
        )
        self.console.print(Panel(text, border_style="green"))

    async def close(self) -> None:
        if self.dashboard is not None:
            await self.dashboard.cleanup()
        if self.web_socket is not None:
            self.web_socket.close()
        if self.app is not None:
            await self.app.close()

    async def seed(self) -> None:
        def button(name: str, **context: Any) -> str:
            return label(name, self.locale, **context)

        script = render("demo/seed.txt", self.locale, label=button)
        for raw in script.splitlines():
            line = html.unescape(raw).strip()
            if line:
                try:
                    await self.handle(line, strict=True)
                except DemoSetupError as exc:
                    raise DemoSetupError(
                        f"bot/templates/demo/seed.txt, at {line!r}: {exc}"
                    ) from None

    async def make_personas(self) -> None:
        specs: list[tuple[PersonaKind, str]] = [
            ("member", MEMBER_PHONE),
            ("officer", OFFICER_PHONE),
            ("admin", ADMIN_PHONE),
        ]
        officer_unit: Unit | None = None
        for number, (kind, phone) in enumerate(specs, start=1):
            user, unit = await self.roster_user(phone, officer_unit=kind != "member")
            if user is None or unit is None:
                raise DemoSetupError(f"no one with phone {phone} in the sample roster")
            if kind == "officer":
                officer_unit = unit
            # On Zalo a member links with their unit's invite code, typed after /start.
            invite = await self.invite_of(unit) if kind == "member" and self.zalo else ""
            commands = commands_for(await self.role_of(user.phone))
            self.personas.append(
                Persona(number, kind, user.full_name, unit.name, user, invite, commands)
            )
        last, first, phone = NEWCOMER
        e164 = normalize_phone(phone)
        if e164 is None or (await self.roster_user(phone))[0] is not None:
            raise DemoSetupError(f"the newcomer's phone {phone} is not a new valid number")
        if officer_unit is None or not officer_unit.invite_code:
            raise DemoSetupError("the officer's unit has no invite code")
        newcomer = self.new_user(first, last, e164)
        self.personas.append(
            Persona(
                len(self.personas) + 1,
                "newcomer",
                newcomer.full_name,
                officer_unit.name,
                newcomer,
                invite=officer_unit.invite_code,
                commands=commands_for(Role.MEMBER),  # once an officer confirms them
            )
        )

    async def role_of(self, phone: str) -> Role | None:
        assert self.app is not None
        async with self.app.db.session() as session:
            person = await people.person_by_phone(session, phone=phone)
        return None if person is None else person.role

    async def invite_of(self, unit: Unit) -> str:
        """The invite code of ``unit`` or of the nearest unit above it that has one (the
        grassroots union of a group); "" when none has."""
        assert self.app is not None
        found: Unit | None = unit
        async with self.app.db.session() as session:
            while found is not None and not found.invite_code:
                parent = found.parent_id
                found = None if parent is None else await people.get_unit(session, unit_id=parent)
        return (found.invite_code or "") if found is not None else ""

    async def link_on_zalo(self) -> None:
        """Link on Zalo the personas the seed linked on the local Telegram channel: their Zalo
        chat identity, linked to the same person, and their consent to the Zalo text (see the
        module doc for why these rows are written rather than typed)."""
        assert self.app is not None
        version = consent_version(Channel.ZALO)
        async with self.app.db.session(write=True) as session:
            for persona in self.personas:
                user = persona.user
                telegram = await chats.get_chat(
                    session, channel=Channel.LOCAL, external_id=str(user.user_id)
                )
                if (
                    telegram is None
                    or telegram.person_id is None
                    or telegram.stage != ChatStage.LINKED
                ):
                    continue
                chat = await chats.get_or_create_chat(
                    session, channel=Channel.ZALO, external_id=user.zalo_id, locale=telegram.locale
                )
                chat.person_id = telegram.person_id
                chat.stage = ChatStage.LINKED
                # Linked (and so last used) after the seed's Telegram chat: messages to the
                # persona go to Zalo, as to anyone who last wrote from there.
                chat.updated_at = chat.used_at = utcnow()
                await chats.record_consent(
                    session, chat=chat, decision=ConsentDecision.ACCEPTED, text_version=version
                )

    def new_user(self, first_name: str, last_name: str, phone: str) -> DemoUser:
        user = DemoUser(
            next(self._user_ids), first_name, last_name, phone, self.new_zalo_id(first_name)
        )
        self.users[phone] = user
        self.names[user.user_id] = user.full_name
        self.names[user.zalo_id] = user.full_name
        return user

    def new_zalo_id(self, first_name: str) -> str:
        """A readable Zalo chat id: "zalo-tuan", then "zalo-tuan-2" for the next Tuấn."""
        base = "zalo-" + ("-".join(fold(first_name).split()) or "user")
        taken = {user.zalo_id for user in self.users.values()}
        ident, n = base, 1
        while ident in taken:
            n += 1
            ident = f"{base}-{n}"
        return ident

    async def roster_user(
        self, phone: str, *, officer_unit: bool = False
    ) -> tuple[DemoUser | None, Unit | None]:
        """The demo account of the roster person with this phone, and their unit (or the unit
        they answer for)."""
        e164 = normalize_phone(phone)
        if e164 is None or self.app is None:
            return None, None
        async with self.app.db.session() as session:
            person = await people.person_by_phone(session, phone=e164)
            if person is None:
                return None, None
            unit_id = person.unit_id
            if officer_unit and person.officer_unit_id is not None:
                unit_id = person.officer_unit_id
            unit = await people.get_unit(session, unit_id=unit_id)
            full_name = person.full_name
        user = self.users.get(e164)
        if user is None:
            last, first = split_name(full_name)
            user = self.new_user(first, last, e164)
        return user, unit

    # -- the conversation ---------------------------------------------------------------------

    async def run(self, source: Input) -> None:
        chosen = await self.choose_persona(source)
        while chosen:
            assert self.current is not None
            line = await source.read(self.current.full_name)
            if line is None or line.strip().lower() in QUIT:
                break
            if line.strip().lower() == ":who":
                chosen = await self.choose_persona(source)
                continue
            await self.handle(line.strip())
        self.console.print(self.ui("goodbye"), style="dim")

    async def choose_persona(self, source: Input) -> bool:
        self.console.print(
            Panel(
                self.page("demo/personas.txt", personas=self.personas, zalo=self.on_zalo),
                expand=False,
            )
        )
        while True:
            line = await source.read("?")
            if line is None or line.strip().lower() in QUIT:
                return False
            choice = line.strip()
            if choice.isdigit() and 1 <= int(choice) <= len(self.personas):
                self.switch(self.personas[int(choice) - 1].user)
                return True
            self.console.print(self.ui("bad_choice", n=len(self.personas)), style="yellow")

    def switch(self, user: DemoUser) -> None:
        self.current = user
        if not self.quiet:
            acting = self.ui("acting_as", name=user.full_name)
            if self.on_zalo:
                acting.append(f" (Zalo: {user.zalo_id})")
            self.console.print(acting, style="dim")

    async def handle(self, line: str, *, strict: bool = False) -> None:
        """One input line of the demo language."""
        if not line:
            return
        if line.startswith(":"):
            command, _, rest = line.partition(" ")
            if command.lower() == ":help":
                help_text = self.page("demo/help.txt", zalo=self.on_zalo)
                self.console.print(Panel(help_text, border_style="blue"))
            elif command.lower() == ":as":
                user, _ = await self.roster_user(rest.strip())
                if user is None:
                    self.problem("unknown_phone", strict, phone=rest.strip())
                else:
                    self.switch(user)
            else:
                self.problem("unknown_meta", strict, command=command)
            return
        user = self.current
        if user is None:
            raise DemoSetupError("no one to act as yet (:as PHONE first)")
        if self.on_zalo:
            if line.startswith("#") and len(line) > 1:
                self.problem("zalo_no_buttons", strict)  # members type the choice's number
            else:
                await self.send_zalo_text(user, line)
        elif line.lower() == "#contact":
            await self.share_contact(user)
        elif line.startswith("#") and len(line) > 1:
            await self.press(user, line[1:].strip(), strict=strict)
        else:
            await self.send_text(user, line)

    def problem(self, name: str, strict: bool, **context: Any) -> None:
        text = self.ui(name, **context)
        if strict:
            raise DemoSetupError(text.plain)
        self.console.print(text, style="yellow")

    # -- updates ------------------------------------------------------------------------------

    def _message(self, user: DemoUser, **content: Any) -> dict[str, Any]:
        chat = {"id": user.user_id, "type": "private", "first_name": user.first_name}
        if user.last_name:
            chat["last_name"] = user.last_name
        return {
            "message_id": self.session.take_message_id(user.user_id),
            "date": int(time.time()),
            "chat": chat,
            "from": user.as_json(),
            **content,
        }

    async def feed(self, payload: dict[str, Any]) -> None:
        """Through the inbox, as every Telegram update: stored, committed, then handled."""
        assert self.app is not None
        await self.app.runner.ingest([{"update_id": next(self._ids), **payload}])
        await self.app.runner.drain()
        await self.app.worker.drain(max_wait=0)  # notices confirmed just now go out at once

    async def send_zalo_text(self, user: DemoUser, text: str) -> None:
        """A text typed on Zalo: one ``message.text.received`` update, through the Zalo inbox
        as a polled or webhook update is: stored, committed, then handled."""
        assert self.app is not None and self.app.zalo is not None
        update = {
            "event_name": "message.text.received",
            "message": {
                "message_id": f"demo-{next(self._ids)}",
                "date": int(time.time() * 1000),
                "chat": {"id": user.zalo_id, "chat_type": "PRIVATE"},
                "from": {"id": user.zalo_id, "display_name": user.full_name, "is_bot": False},
                "text": text,
            },
        }
        runner = self.app.zalo.runner
        await runner.ingest_zalo([update], wake=False)
        await runner.drain()
        await self.app.worker.drain(max_wait=0)  # notices confirmed just now go out at once

    async def send_text(self, user: DemoUser, text: str) -> None:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [
                {
                    "type": "bot_command",
                    "offset": 0,
                    "length": len(command.encode("utf-16-le")) // 2,
                }
            ]
        await self.feed({"message": self._message(user, **content)})

    async def share_contact(self, user: DemoUser) -> None:
        if not self.quiet:
            self.console.print(
                self.ui("contact_shared", phone=display_phone(user.phone)), style="dim"
            )
        contact = {
            "phone_number": user.phone,
            "first_name": user.first_name,
            "user_id": user.user_id,
        }
        if user.last_name:
            contact["last_name"] = user.last_name
        self.session.chat(user.user_id).reply_keyboard = None
        await self.feed({"message": self._message(user, contact=contact)})

    async def press(self, user: DemoUser, wanted: str, *, strict: bool) -> None:
        """``wanted`` is what follows ``#``: a button of the latest message with buttons, or
        ``M.N``/``M text``, a button of the chat's message numbered M (see the module doc)."""
        chat = self.session.chat(user.user_id)
        latest = chat.last_with_buttons()
        tag, wanted = parse_press(wanted, latest)
        if tag is None:
            message = latest
            if message is None:
                self.problem("no_buttons", strict)
                return
        else:
            message = chat.keyboard(tag)
            if message is None:
                self.problem("no_such_message", strict, id=tag, n=chat.history)
                return
            if not message.flat_buttons:
                self.problem("no_buttons_left", strict, id=tag)
                return
        index = find_button(message, wanted)
        if index is None:
            if tag is None:
                self.problem("no_such_button", strict, wanted=wanted)
            else:
                self.problem("no_such_button_on", strict, wanted=wanted, id=tag)
            return
        button = message.flat_buttons[index]
        if not self.quiet:
            at = button_address(message, index)
            self.console.print(self.ui("pressed", text=button.text, at=at), style="dim")
        if button.callback_data is None:
            if button.url and not self.quiet:
                self.console.print(button.url, style="underline blue")
            return
        query = {
            "id": f"demo-{next(self._ids)}",
            "from": user.as_json(),
            "chat_instance": f"local-{user.user_id}",
            "message": message.raw,
            "data": button.callback_data,
        }
        await self.feed({"callback_query": query})

    # -- output -------------------------------------------------------------------------------

    def on_event(self, event: LocalEvent) -> None:
        """Print what the bot does, as the person in that chat would see it."""
        if self.quiet:
            return
        # On Zalo the persona's own chat is a Zalo one: every Telegram chat is someone else's.
        mine = (
            not self.on_zalo and self.current is not None and event.chat_id == self.current.user_id
        )
        if event.kind == "toast":
            style = "bold yellow" if event.alert else "yellow"
            self.console.print(Text(f"  💬 {event.text}", style=style))
        elif event.kind == "commands":
            if mine and event.commands:
                menu = " · ".join(f"/{name}" for name, _ in event.commands)
                self.console.print(self.ui("menu", commands=menu), style="dim")
        elif event.message is not None:
            self.console.print(self.message_panel(event, mine))

    def on_zalo_message(self, sent: ZaloSent) -> None:
        """Print what the bot sends on Zalo: plain text, the choices numbered in it."""
        if self.quiet:
            return
        mine = self.current is not None and sent.chat_id == self.current.zalo_id
        parts: list[RenderableType] = []
        if sent.photo_url:
            parts.append(Text(f"🖼 {sent.photo_url}", style="underline blue"))
        if sent.text:
            parts.append(Text(sent.text))
        title = (
            self.ui("bot")
            if mine
            else self.ui("bot_to", name=self.names.get(sent.chat_id, sent.chat_id))
        )
        title.append(" · Zalo")
        self.console.print(
            Panel(
                Group(*parts),
                title=title,
                title_align="left",
                border_style="cyan" if mine else "magenta",
                expand=False,
            )
        )

    def message_panel(self, event: LocalEvent, mine: bool) -> Panel:
        message = event.message
        assert message is not None
        parts: list[RenderableType] = [
            html_to_text(message.text) if message.parse_mode else Text(message.text)
        ]
        if message.buttons:
            parts.append(buttons_text(message))
        if event.reply_keyboard:
            keys = " | ".join(b.text for row in event.reply_keyboard for b in row)
            parts.append(self.ui("keyboard", text=keys))
        if mine:
            title = self.ui("bot")
        else:
            name = self.names.get(event.chat_id or 0, str(event.chat_id))
            title = self.ui("bot_to", name=name)
        edited = event.kind == "edit"
        if edited:
            title.append(f" ({self.ui('edited').plain})")
        if self.zalo is not None:  # both channels print: say which this is
            title.append(" · Telegram")
        return Panel(
            Group(*parts),
            title=title,
            title_align="left",
            border_style="yellow" if edited else ("cyan" if mine else "magenta"),
            expand=False,
        )


def buttons_text(message: LocalMessage) -> Text:
    """The keyboard, each button with what presses it: ``[M.N]``, the N-th button of the
    chat's message numbered M."""
    text = Text()
    index = 0
    for row in message.buttons:
        text.append("\n")
        for i, button in enumerate(row):
            if i:
                text.append("   ")
            text.append(f"[{button_address(message, index)}] ", style="bold")
            text.append(button.text, style="reverse")
            index += 1
    return text


def button_address(message: LocalMessage, index: int) -> str:
    """``M.N`` for the button at ``index`` (0-based, reading order) of message number M."""
    return f"{message.tag}.{index + 1}" if message.tag is not None else str(index + 1)


# "#3.2": message 3, button 2; "#3 text": message 3, the button with that text.
_ADDRESSED = re.compile(r"(\d+)(?:\.(\d+)|\s+(\S.*))")


def parse_press(wanted: str, latest: LocalMessage | None) -> tuple[int | None, str]:
    """What ``#wanted`` presses: (the message's number, the button) for ``M.N`` and ``M text``,
    else (None, wanted), a button of the latest message with buttons.  A button of that latest
    message whose text is the whole of ``M text`` ("#14 ngày") wins over the address."""
    match = _ADDRESSED.fullmatch(wanted)
    if match is None:
        return None, wanted
    tag, number, text = match.groups()
    if text is not None and latest is not None and find_button(latest, wanted) is not None:
        return None, wanted
    return int(tag), number or text


def find_button(message: LocalMessage, wanted: str) -> int | None:
    """The index (0-based, reading order) of the button ``wanted`` names: ``N`` (1-based), the
    exact text, or the one button whose text has it."""
    flat = message.flat_buttons
    if wanted.isdigit():
        index = int(wanted) - 1
        return index if 0 <= index < len(flat) else None
    folded = wanted.casefold()
    for index, button in enumerate(flat):
        if button.text.casefold() == folded:
            return index
    loose = [i for i, b in enumerate(flat) if folded in b.text.casefold()]
    return loose[0] if len(loose) == 1 else None


def _script_lines(script: str | None, stdin: LineSource) -> Iterator[str] | None:
    if script is not None:
        return iter(Path(script).read_text(encoding="utf-8").splitlines())
    if not stdin.isatty():
        return iter(stdin.readline, "")
    return None


async def _run(console: Console, lines: Iterator[str] | None, channel: DemoChannel) -> int:
    demo = Demo(console, "vi", channel)
    with tempfile.TemporaryDirectory(prefix="congdoan-demo-") as tmp:
        try:
            await demo.start(f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}")
            await demo.run(Input(console, lines))
        finally:
            await demo.close()
    return 0


def run_demo(
    script: str | None = None,
    *,
    console: Console | None = None,
    stdin: LineSource | None = None,
    channel: str = "telegram",
) -> int:
    """Run the terminal demo; input from ``script`` (a file), else stdin; the personas chat on
    ``channel`` (Telegram or Zalo). Returns the exit code."""
    console = console or Console(highlight=False)

    def fail(message: str) -> None:
        console.print(Text.assemble(("error: ", "red"), message))

    if channel not in CHANNELS:
        fail(f"--channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
        return 2
    try:
        lines = _script_lines(script, stdin or sys.stdin)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the demo script {script}: {exc}")
        return 2
    try:
        return asyncio.run(_run(console, lines, "zalo" if channel == "zalo" else "telegram"))
    except SettingsError as exc:
        fail(str(exc))
        return 2
    except (DemoSetupError, RosterFileError) as exc:
        fail(f"the demo could not prepare its sample data: {exc}")
        return 1
    except StartupError as exc:
        fail(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
