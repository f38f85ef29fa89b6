"""``congdoan person withdraw|erase``: a member's rights carried out by an officer, for a member
who asks on paper (or cannot use the bot).

The same services as the chat's ``/rutlai`` and ``/xoadulieu``, audited with ``via`` cli.
Erasure cannot be undone: it asks for confirmation unless ``--yes``.  Output is counts only.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from bot.cli.common import settings_or_exit
from bot.cli_errors import operator_error, run_command
from bot.services import erasure, withdrawal
from storage import erasure as store
from storage import people
from storage.db import Database
from storage.migrate import check_up_to_date
from surveys.phone import normalize_phone

person_app = typer.Typer(
    help="A member's rights on a request on paper: withdraw consent, erase.",
    no_args_is_help=True,
)
out = Console()

PhoneOption = Annotated[str, typer.Option("--phone", help="The member's phone, as on the roster.")]


def _phone(text: str) -> str:
    phone = normalize_phone(text)
    if phone is None:
        raise operator_error(f"not a Vietnamese phone number: {text!r}")
    return phone


async def _find(db: Database, phone: str) -> tuple[int, str, bool, bool]:
    """(id, name, withdrawn, erased) of the roster person with ``phone``."""
    async with db.session() as session:
        person = await people.person_by_phone(session, phone=phone)
        if person is None or person.id is None:
            raise operator_error(f"nobody on the roster has the phone {phone}")
        return (
            person.id,
            person.full_name,
            person.consent_withdrawn_at is not None,
            person.erased_at is not None,
        )


@person_app.command("withdraw")
def withdraw_command(phone: PhoneOption) -> None:
    """Record that the member withdrew their consent: nothing more is sent to them, and their
    answers to surveys that are not anonymous stop counting."""
    settings = settings_or_exit()
    number = _phone(phone)

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            person_id, _, withdrawn, _ = await _find(db, number)
            if withdrawn:
                raise operator_error(f"person #{person_id} withdrew their consent already")
            async with db.session(write=True) as session:
                counts = await withdrawal.withdraw_person(
                    session, person_id=person_id, actor_id=None, via="cli"
                )
        finally:
            await db.dispose()
        out.print(
            f"Consent withdrawn for person #{person_id}: {counts.consents} chat(s) recorded, "
            f"{counts.deliveries_stopped} queued message(s) stopped, "
            f"{counts.responses_abandoned} survey(s) in progress abandoned, "
            f"{counts.campaigns_left} open campaign(s) left.",
            highlight=False,
        )
        return 0

    run_command(run())


@person_app.command("erase")
def erase_command(
    phone: PhoneOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase the member's personal data: name, phone, staff code, chats, free-text answers;
    cases about them closed and anonymised.  The membership record stays, without a name.
    Cannot be undone."""
    settings = settings_or_exit()
    number = _phone(phone)

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await check_up_to_date(db)
            person_id, name, _, erased = await _find(db, number)
            if erased:
                raise operator_error(f"person #{person_id} was erased already")
            if not yes:
                typer.confirm(
                    f"Erase the personal data of {name} (person #{person_id})? "
                    "This cannot be undone.",
                    abort=True,
                )
            async with db.session(write=True) as session:
                counts = await erasure.erase_person(
                    session, person_id=person_id, actor_id=None, via="cli"
                )
        finally:
            await db.dispose()
        if counts is None:
            raise operator_error(f"person #{person_id} was erased already")
        out.print(f"Person #{person_id} erased; the roster keeps {store.erased_name(person_id)}.")
        for key, value in counts.as_detail().items():
            out.print(f"  {key.replace('_', ' ')}: {value}", highlight=False)
        return 0

    run_command(run())
