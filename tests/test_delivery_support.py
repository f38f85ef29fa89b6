"""Shared set-up for the delivery tests and the broadcast benchmark (no tests here): a unit,
people with linked Telegram chats, a notice, and its delivery rows written straight to the
outbox (independent of the notice composer)."""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from storage import outbox
from storage.db import Database
from storage.models import (
    Channel,
    ChatIdentity,
    ChatStage,
    DeliveryKind,
    Gender,
    Notice,
    Person,
    Role,
    Unit,
    UnitKind,
    utcnow,
)
from storage.outbox import Claimed

FIRST_CHAT = 5_000_001  # Telegram user ids of the seeded recipients: 5000001, 5000002, ...


@dataclass(frozen=True)
class Recipient:
    person_id: int
    chat_id: int
    external_id: str

    @property
    def tg_id(self) -> int:
        return int(self.external_id)


async def seed_recipients(
    db: Database, count: int, *, first_chat: int = FIRST_CHAT, unit_code: str = "U-DELIVERY"
) -> list[Recipient]:
    """A unit with ``count`` members, each with a linked Telegram chat (ids from first_chat)."""
    now = utcnow()
    async with db.session() as session:
        unit_id = (
            await session.execute(
                insert(Unit)
                .values(
                    code=unit_code,
                    name="Trường thử nghiệm",
                    kind=UnitKind.GRASSROOTS,
                    path="/",
                    is_public=True,
                    staff_count=count,
                    created_at=now,
                    updated_at=now,
                )
                .returning(col(Unit.id))
            )
        ).scalar_one()
        people = [
            {
                "full_name": f"Giáo viên {i}",
                "unit_id": unit_id,
                "is_member": True,
                "gender": Gender.UNKNOWN,
                "role": Role.MEMBER,
                "tags": "",
                "staff_code": f"{unit_code}-{i}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(count)
        ]
        for start in range(0, count, 2000):
            await session.execute(insert(Person), people[start : start + 2000])
        person_ids = list(
            (
                await session.execute(
                    select(col(Person.id))
                    .where(col(Person.unit_id) == unit_id)
                    .order_by(col(Person.id))
                )
            ).scalars()
        )
        chats = [
            {
                "channel": Channel.TELEGRAM,
                "external_id": str(first_chat + i),
                "person_id": pid,
                "stage": ChatStage.LINKED,
                "stopped": False,
                "locale": "vi",
                "created_at": now,
                "updated_at": now,
            }
            for i, pid in enumerate(person_ids)
        ]
        for start in range(0, count, 2000):
            await session.execute(insert(ChatIdentity), chats[start : start + 2000])
        rows = (
            await session.execute(
                select(
                    col(ChatIdentity.id), col(ChatIdentity.person_id), col(ChatIdentity.external_id)
                ).where(col(ChatIdentity.person_id).in_(person_ids))
            )
        ).all()
    found = sorted(
        (Recipient(pid or 0, cid or 0, ext) for cid, pid, ext in rows), key=lambda r: r.tg_id
    )
    assert len(found) == count
    return found


async def seed_notice(
    db: Database,
    *,
    unit_id: int | None = None,
    title: str = "Thông báo",
    body: str = "",
    attachment_kind: str | None = None,
    attachment_ref: str | None = None,
) -> int:
    async with db.session() as session:
        if unit_id is None:
            unit_id = (await session.execute(select(col(Unit.id)).limit(1))).scalar_one()
        assert unit_id is not None
        notice = Notice(
            scope_unit_id=unit_id,
            title=title,
            body=body or title,
            period_year=2026,
            attachment_kind=attachment_kind,
            attachment_ref=attachment_ref,
        )
        session.add(notice)
        await session.flush()
        assert notice.id is not None
        return notice.id


def delivery_rows(
    notice_id: int,
    recipients: Iterable[Recipient],
    *,
    text: str = "<b>Thông báo</b> số {n}",
    ack_button: bool = True,
    available_at: dt.datetime | None = None,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n, r in enumerate(recipients):
        row: dict[str, object] = {
            "kind": DeliveryKind.NOTICE,
            "notice_id": notice_id,
            "person_id": r.person_id,
            "chat_id": r.chat_id,
            "external_id": r.external_id,
            "channel": Channel.TELEGRAM,
            "text": text.format(n=n),
            "ack_button": ack_button,
        }
        if available_at is not None:
            row["available_at"] = available_at
        rows.append(row)
    return rows


async def enqueue_notice(
    db: Database, notice_id: int, recipients: Sequence[Recipient], **kwargs: object
) -> int:
    async with db.session() as session:
        return await outbox.enqueue(
            session,
            rows=delivery_rows(notice_id, recipients, **kwargs),  # type: ignore[arg-type]
        )


async def claim_due(session: AsyncSession | AsyncConnection, **lease: Any) -> list[Claimed]:
    """``outbox.lease_due`` and ``outbox.claimed`` in one transaction (the worker commits the
    lease before it reads)."""
    return await outbox.claimed(session, await outbox.lease_due(session, **lease))


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most events in any half-open window [t, t + window) (the limiter's guarantee)."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, bisect.bisect_left(ordered, start + window) - i)
    return best


def min_gap(times: Sequence[float]) -> float:
    ordered = sorted(times)
    return min((b - a for a, b in itertools.pairwise(ordered)), default=float("inf"))


def per_chat(pairs: Iterable[tuple[int, float]]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for chat, at in pairs:
        out.setdefault(chat, []).append(at)
    return out


def count_by(items: Iterable[int]) -> Counter[int]:
    return Counter(items)
