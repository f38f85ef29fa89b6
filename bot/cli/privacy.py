"""``congdoan person withdraw|erase``: a member's rights carried out by an officer, for a member
who asks on paper (or cannot use the bot).

The same services as the chat's ``/rutlai`` and ``/xoadulieu``, audited with ``via`` cli.
The member is named by their phone, or by their person number (``--id``) when the roster has
no phone for them.  Erasure cannot be undone: it asks for confirmation unless ``--yes``.
Output is counts only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, NamedTuple, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import settings_or_exit
from bot.cli_errors import operator_error, run_command
from bot.services import erasure, withdrawal
from storage import erasure as store
from storage import people
from storage.db import Database
from storage.migrate import check_up_to_date
from storage.models import Person
from surveys.phone import normalize_phone

person_app = typer.Typer(
    help="A member's rights on a request on paper: withdraw consent, erase.",
    no_args_is_help=True,
)
out = Console()

T = TypeVar("T")

PhoneOption = Annotated[
    str | None, typer.Option("--phone", help="The member's phone, as on the roster.")
]
IdOption = Annotated[
    int | None,
    typer.Option(
        "--id",
        help="The member's person number (#id, as congdoan audit shows it): for a roster "
        "record without a phone.",
    ),
]


class Who(NamedTuple):
    """How the operator named the person: a phone (normalized) or a person number."""

    phone: str | None
    person_id: int | None


def _who(phone: str | None, person_id: int | None) -> Who:
    """Exactly one of ``--phone`` and ``--id``; the phone in the roster's form, whatever
    the usual grouping the operator typed."""
    if (phone is None) == (person_id is None):
        raise operator_error("name the member with --phone or --id (one of them)")
    if phone is None:
        return Who(None, person_id)
    normalized = normalize_phone(phone)
    if normalized is None:
        raise operator_error(f"not a Vietnamese phone number: {phone!r}")
    return Who(normalized, None)


class Found(NamedTuple):
    """The roster person a command acts on."""

    id: int
    name: str
    withdrawn: bool
    erased: bool


async def _find(db: Database, who: Who) -> Found:
    """The roster person named; an operator error when there is none."""
    async with db.session() as session:
        if who.phone is not None:
            person = await people.person_by_phone(session, phone=who.phone)
            missing = f"nobody on the roster has the phone {who.phone}"
        else:
            person = await session.get(Person, who.person_id)
            missing = f"nobody on the roster is person #{who.person_id}"
        if person is None or person.id is None:
            raise operator_error(missing)
        return Found(
            person.id,
            person.full_name,
            person.consent_withdrawn_at is not None,
            person.erased_at is not None,
        )


async def _on_person(
    database_url: str,
    who: Who,
    *,
    check: Callable[[Found], None],
    act: Callable[[AsyncSession, Found], Awaitable[T]],
) -> tuple[Found, T]:
    """Find the person, let ``check`` refuse (an operator error) or confirm, then ``act`` in
    one write transaction: the whole change commits, or nothing of it."""
    db = Database(database_url)
    try:
        await check_up_to_date(db)
        found = await _find(db, who)
        check(found)
        async with db.session(write=True) as session:
            return found, await act(session, found)
    finally:
        await db.dispose()


@person_app.command("withdraw")
def withdraw_command(phone: PhoneOption = None, person_id: IdOption = None) -> None:
    """Record that the member withdrew their consent: nothing more is sent to them, and their
    answers to surveys that are not anonymous stop counting."""
    settings = settings_or_exit()
    who = _who(phone, person_id)

    def check(found: Found) -> None:
        if found.erased:
            raise operator_error(f"person #{found.id} was erased: there is nothing to withdraw")
        if found.withdrawn:
            raise operator_error(f"person #{found.id} withdrew their consent already")

    async def act(session: AsyncSession, found: Found) -> store.Withdrawal | None:
        return await withdrawal.withdraw_person(
            session, person_id=found.id, actor_id=None, via="cli"
        )

    async def run() -> int:
        found, counts = await _on_person(settings.database_url, who, check=check, act=act)
        if counts is None:  # withdrawn by someone else since it was found
            raise operator_error(f"person #{found.id} withdrew their consent already")
        out.print(
            f"Consent withdrawn for person #{found.id}: {counts.consents} chat(s) recorded, "
            f"{counts.deliveries_stopped} queued message(s) stopped, "
            f"{counts.responses_abandoned} survey(s) in progress abandoned, "
            f"{counts.campaigns_left} open campaign(s) left.",
            highlight=False,
        )
        return 0

    run_command(run())


@person_app.command("erase")
def erase_command(
    phone: PhoneOption = None,
    person_id: IdOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase the member's personal data: name, phone, staff code, chats, free-text answers;
    cases about them closed and anonymised.  The membership record stays, without a name.
    Cannot be undone."""
    settings = settings_or_exit()
    who = _who(phone, person_id)

    def check(found: Found) -> None:
        if found.erased:
            raise operator_error(f"person #{found.id} was erased already")
        if not yes:
            typer.confirm(
                f"Erase the personal data of {found.name} (person #{found.id})? "
                "This cannot be undone.",
                abort=True,
            )

    async def act(session: AsyncSession, found: Found) -> store.Erasure | None:
        return await erasure.erase_person(session, person_id=found.id, actor_id=None, via="cli")

    async def run() -> int:
        found, counts = await _on_person(settings.database_url, who, check=check, act=act)
        if counts is None:  # erased by someone else since it was found
            raise operator_error(f"person #{found.id} was erased already")
        out.print(f"Person #{found.id} erased; the roster keeps {store.erased_name(found.id)}.")
        for key, value in counts.as_detail().items():
            out.print(f"  {key.replace('_', ' ')}: {value}", highlight=False)
        return 0

    run_command(run())
