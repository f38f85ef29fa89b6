"""New work reaches the officers who must do it, batched: never one message per event.

Urgent cases are alerted at once (:mod:`bot.services.alerts`).  Everything else that waits for
an officer, a case reported and not opened yet or a chat asking to be linked, is announced by
the scheduler in one message per officer, at most every ``OFFICER_NEWS_EVERY`` hours and never
during quiet hours: how many are new since the officer was last told, how many wait in all,
and the command that shows them.  The message names nobody: the cases are sensitive, and the
command shows them to whoever may see them.

Who must do it is decided as for an urgent case: the officers of the item's CĐCS, or, when
none of them can be written to, the nearest body above with someone (a link request that names
no unit: the province's).  Each officer's watermark (``officer_news``) records the newest case
and request they were told of, so a restart or a second pass tells nobody twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaigns.schedule import QuietHours
from bot.services.alerts import first_reachable
from bot.texts import render
from storage import news, outbox, people
from storage.models import DeliveryKind
from storage.news import WorkKind
from storage.people import Officer


@dataclass(frozen=True)
class NewsPolicy:
    """From the settings: at most one announcement per officer per ``every``, outside quiet
    hours."""

    every: dt.timedelta
    quiet: QuietHours


@dataclass
class _Owed:
    officer: Officer
    cases: list[int] = field(default_factory=list)
    links: list[int] = field(default_factory=list)


async def _owed(session: AsyncSession, work: list[news.Work]) -> dict[int, _Owed]:
    """The work of each officer who must do it, by person id."""
    responsible: dict[int | None, list[Officer]] = {}
    owed: dict[int, _Owed] = {}
    for item in work:
        key = item.unit.id if item.unit is not None else None
        if key not in responsible:
            if item.unit is not None:
                chain = await people.union_bodies_above(session, unit=item.unit)
            else:
                chain = await news.provinces(session)
            responsible[key] = (await first_reachable(session, chain))[1]
        for officer in responsible[key]:
            entry = owed.setdefault(officer.person_id, _Owed(officer))
            (entry.cases if item.kind is WorkKind.CASE else entry.links).append(item.id)
    return owed


async def news_pass(
    session: AsyncSession, *, now: dt.datetime, policy: NewsPolicy, tz: dt.tzinfo
) -> int:
    """Queue the announcements due at ``now`` (in the caller's transaction); returns how many
    officers were written to."""
    if policy.quiet.contains(now, tz):
        return 0
    work = await news.waiting_work(session)
    owed = await _owed(session, work)
    marks = await news.watermarks(session, person_ids=list(owed))
    written = 0
    for person_id, entry in sorted(owed.items()):
        mark = marks.get(person_id)
        new_cases = [i for i in entry.cases if mark is None or i > mark.last_case_id]
        new_links = [i for i in entry.links if mark is None or i > mark.last_pending_id]
        if not new_cases and not new_links:
            continue
        if mark is not None and mark.announced_at > now - policy.every:
            continue  # told recently: this waits for the next announcement
        officer = entry.officer
        text = render(
            "officer/news.txt",
            officer.locale,
            new_cases=len(new_cases),
            cases=len(entry.cases),
            new_links=len(new_links),
            links=len(entry.links),
        )
        await outbox.enqueue(
            session,
            rows=[
                {
                    "kind": DeliveryKind.MESSAGE,
                    "person_id": person_id,
                    "chat_id": officer.chat_id,
                    "channel": officer.channel,
                    "external_id": officer.external_id,
                    "text": text,
                    "available_at": now,
                    "created_at": now,
                }
            ],
        )
        await news.record(
            session,
            known=mark,
            person_id=person_id,
            last_case_id=max(entry.cases, default=0),
            last_pending_id=max(entry.links, default=0),
            at=now,
        )
        written += 1
    return written
