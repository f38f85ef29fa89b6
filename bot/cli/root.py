"""The ``congdoan`` command line: serve, db, roster, stats, report, inbox, demo.

Operator-facing messages are English.  Bad settings (``DATABASE_URL`` among them), a database
that cannot be opened or reached, or an old one exit with one clear line on stderr (exit code 2),
never a traceback: the settings are checked as each command starts, the rest is caught for every
command at once by the root group (:class:`bot.cli_errors.OperatorGroup`).

This module is the root group: it gathers the sub-apps (``db``, ``roster``, ``notice``,
``campaign``, ``inbox``, ``deliver``) and holds the top-level commands.  Nothing in
:mod:`bot.cli` imports it but the package itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bot.cli.audit import audit_command, record_cli_export
from bot.cli.campaigns import campaign_app
from bot.cli.common import fail, settings_or_exit
from bot.cli.db import db_app
from bot.cli.inbox import inbox_app
from bot.cli.notices import notice_app
from bot.cli.privacy import person_app
from bot.cli.retention import purge_command
from bot.cli.roster import roster_app
from bot.cli.years import year_app
from bot.cli_errors import OperatorGroup
from bot.delivery.cli import deliver_command
from bot.settings import Settings, SettingsError
from storage.db import Database
from storage.migrate import check_up_to_date

app = typer.Typer(
    name="congdoan",
    help="Outreach bot of the Lâm Đồng provincial education trade union.",
    no_args_is_help=True,
    add_completion=False,
    cls=OperatorGroup,
)
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")
app.add_typer(notice_app, name="notice")
app.add_typer(campaign_app, name="campaign")
app.add_typer(inbox_app, name="inbox")
app.add_typer(person_app, name="person")
app.add_typer(year_app, name="year")
app.command("deliver")(deliver_command)
app.command("purge")(purge_command)
app.command("audit")(audit_command)

# The commands below import the heavy modules they need (aiogram, the indicators, openpyxl,
# matplotlib, the demo) when they run, so that ``congdoan --help`` and the other commands start
# quickly: these function-local imports are for start-up time, not to dodge an import cycle.


@app.command()
def serve(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    no_web: Annotated[
        bool,
        typer.Option("--no-web", help="Leave the dashboard out (`congdoan web` serves it apart)."),
    ] = False,
) -> None:
    """Run the Telegram bot (long polling; webhook when WEBHOOK_URL is set) and the dashboard
    (on WEB_HOST:WEB_PORT)."""
    from bot.app import StartupError, build_app
    from bot.app import serve as serve_app

    settings = settings_or_exit()
    try:
        token = settings.require_token()
        if settings.webhook_url:
            settings.require_webhook_secret()
    except SettingsError as exc:
        fail(str(exc))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    async def run() -> None:
        bot_app = await build_app(settings, token=token)
        try:
            await serve_app(bot_app, dashboard=not no_web)
        finally:
            await bot_app.close()

    try:
        asyncio.run(run())
    except StartupError as exc:
        fail(str(exc))


@app.command()
def web(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Serve the dashboard alone (on WEB_HOST:WEB_PORT) until Ctrl-C or SIGTERM; officers
    sign in with the link `/web` sends them in chat (WEB_BASE_URL)."""
    import signal

    from bot.indicators import load_catalog
    from bot.web.server import build_web_app, start_web, web_context

    settings = settings_or_exit()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            site = build_web_app(web_context(settings, db, load_catalog()))
            try:
                runner = await start_web(site, host=settings.web_host, port=settings.web_port)
            except OSError as exc:
                fail(
                    f"cannot listen on {settings.web_host}:{settings.web_port} "
                    f"(WEB_HOST, WEB_PORT): {exc.strerror or exc}"
                )
            typer.echo(
                f"dashboard on http://{settings.web_host}:{settings.web_port} "
                f"(links: {settings.web_url()})"
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()
        finally:
            await db.dispose()

    asyncio.run(run())


async def _stats_of(
    settings: Settings, unit: str | None, year: int, *, nested: bool = False
) -> tuple[Any, Any, Any]:
    """(the province's unit, the unit asked for, a UnitTree of its StatsReport for ``year``:
    ``nested``, every unit below it, else the first level only); exits with a message when the
    database is out of date or no unit matches."""
    from bot.indicators import compute_stats, load_catalog
    from bot.reports.tree import UnitTree, unit_tree
    from bot.services.actors import find_unit
    from storage import people

    db = Database(settings.database_url)
    try:
        await check_up_to_date(db)
        catalog = load_catalog()
        async with db.session() as session:
            root = await people.root_unit(session)
            scope = await find_unit(session, text=unit) if unit else root
            if scope is None or scope.id is None or root is None:
                fail(f"no unit matches {unit!r}" if unit else "the roster has no units yet")
            report = await compute_stats(
                session, scope_unit_id=scope.id, year=year, catalog=catalog
            )
            if nested:
                tree = await unit_tree(session, report, catalog=catalog)
            else:
                tree = UnitTree(report)
        return root, scope, tree
    finally:
        await db.dispose()


@app.command()
def stats(
    unit: Annotated[str | None, typer.Option(help="Unit code or part of its name.")] = None,
    year: Annotated[int | None, typer.Option(help="Year (default: this year).")] = None,
) -> None:
    """Print the indicators of a unit (default: the province) for a year."""
    from bot.indicators.terminal import render_stats_terminal

    settings = settings_or_exit()
    the_year = year or dt.datetime.now(settings.tz).year
    _, _, tree = asyncio.run(_stats_of(settings, unit, the_year))
    Console().print(render_stats_terminal(tree.report, settings.locale))


@app.command()
def report(
    scope: Annotated[
        str | None, typer.Option(help="Unit code or part of its name (default: the province).")
    ] = None,
    year: Annotated[int | None, typer.Option(help="Year (default: this year).")] = None,
    format: Annotated[str, typer.Option("--format", help="xlsx, csv, png or txt.")] = "xlsx",
    output: Annotated[
        Path | None,
        typer.Option(help="File to write (default: chi-tieu-<unit code>-<year>.<format>)."),
    ] = None,
) -> None:
    """Export the indicators of a unit and a year: an xlsx workbook, a CSV, a PNG chart of
    rate against target, or a text table."""
    from bot.reports.export import FORMATS, SignOff, to_csv, to_png, to_text, to_xlsx

    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    settings = settings_or_exit()
    the_year = year or dt.datetime.now(settings.tz).year
    nested = format in ("xlsx", "csv")  # the breakdown by every unit of the scope
    root, unit, tree = asyncio.run(_stats_of(settings, scope, the_year, nested=nested))
    target = output or Path(f"chi-tieu-{unit.code}-{the_year}.{format}")
    try:
        if format == "xlsx":
            made = dt.datetime.now(settings.tz)
            signoff = SignOff.from_settings(settings)
            data = to_xlsx(
                tree, settings.locale, union_name=root.name, made_at=made, signoff=signoff
            )
            target.write_bytes(data)
        elif format == "csv":
            target.write_text(to_csv(tree, settings.locale), encoding="utf-8-sig")
        elif format == "png":
            target.write_bytes(to_png(tree, settings.locale))
        else:
            target.write_text(to_text(tree, settings.locale), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write the report: {exc.strerror or exc}")
    asyncio.run(
        record_cli_export(settings, unit_id=unit.id, detail={"year": the_year, "format": format})
    )
    typer.echo(f"wrote {target} ({len(tree.report.rows)} indicators, {unit.name}, {the_year})")


@app.command()
def demo(
    script: Annotated[
        str | None,
        typer.Option(help="Read the demo's input lines from this file instead of the keyboard."),
    ] = None,
    channel: Annotated[
        str,
        typer.Option(
            "--channel",
            help="Where the personas chat: telegram (buttons) or zalo (plain text, typed numbers).",
        ),
    ] = "telegram",
) -> None:
    """Try the bot in the terminal: a sample province, no token, no network."""
    from bot.demo import CHANNELS, run_demo

    if channel not in CHANNELS:
        fail(f"--channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    sys.exit(run_demo(script=script, channel=channel))


def main() -> None:
    app()
