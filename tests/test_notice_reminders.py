"""Reminders of notices not acknowledged: automatic (after a delay, out of quiet hours, each
missed one once), by an officer's hand (once a local day per person), the cap per person,
and what acknowledging or cancelling does to reminders still waiting.

The province is the one of tests/test_notices.py; the notice goes to DL (Đà Lạt): o1 a1 a3 t1
get it (status sent), a1 acknowledges; a2 (stopped), b1 (blocked) and b2 (never linked) were
never reached and t2's send failed, so the reminders are for o1, a3 and t1 exactly.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select
from sqlmodel import col

from bot.campaigns.schedule import QuietHours
from bot.campaigns.scheduler import Scheduler, SchedulerSettings
from bot.notices.service import (
    AckReminderPolicy,
    AckRemindOutcome,
    ack_reminder_pass,
    acknowledge,
    cancel,
    confirm,
    remind_unacknowledged,
)
from bot.services.conversation import SurveyRegistry
from storage.db import Database
from storage.models import ChatIdentity, Delivery, DeliveryKind, DeliveryStatus
from tests.test_notices import NOW, Province, _deliveries, _draft, _set, _utc, province

__all__ = ["province"]  # the fixture, used by name

VN = dt.timezone(dt.timedelta(hours=7))
LOCALE = "vi"
POLICY = AckReminderPolicy(after=dt.timedelta(hours=48), automatic=1, max_per_person=3)
AUTO_HEADER = "⏰ <b>Nhắc lại:</b> thầy/cô chưa xác nhận đã nắm thông báo dưới đây.\n\n"
HAND_HEADER = "🔔 <b>Công đoàn nhắc:</b> thầy/cô chưa xác nhận đã nắm thông báo dưới đây.\n\n"


async def _sent_notice(db: Database, p: Province) -> tuple[int, dict[str, Delivery]]:
    """The notice of the module doc, confirmed at NOW (09:30 in Vietnam)."""
    notice_id = await _draft(db, p)
    async with db.session() as s:
        await confirm(
            s, actor=p.actor("o1", "DL"), notice_id=notice_id, now=NOW, tz=VN, default_locale=LOCALE
        )
    rows = await _deliveries(db, p, notice_id)
    for key in ("o1", "a1", "a3", "t1"):
        await _set(db, rows[key], status=DeliveryStatus.SENT, sent_at=NOW)
    await _set(db, rows["t2"], status=DeliveryStatus.FAILED, error="http 400")
    async with db.session() as s:
        await acknowledge(s, actor=p.actor("a1"), delivery_id=rows["a1"].id or 0, now=NOW)
    return notice_id, await _deliveries(db, p, notice_id)


async def _reminders(db: Database, p: Province) -> list[tuple[str, Delivery]]:
    """Every reminder of a notice, by creation then person."""
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Delivery)
                .where(col(Delivery.reminds_id).is_not(None))
                .order_by(col(Delivery.created_at), col(Delivery.person_id))
            )
        ).scalars()
        by_id = {person.id: key for key, person in p.people.items()}
        return [(by_id[d.person_id], d) for d in rows]


async def _pass(db: Database, at: dt.datetime, policy: AckReminderPolicy = POLICY) -> int:
    async with db.session() as s:
        return await ack_reminder_pass(s, now=at, policy=policy, tz=VN, default_locale=LOCALE)


async def test_automatic_reminder_after_the_delay_once(db: Database, province: Province) -> None:
    p = province
    _, rows = await _sent_notice(db, p)
    assert await _pass(db, NOW + dt.timedelta(hours=47, minutes=59)) == 0
    due = NOW + dt.timedelta(hours=48)  # 09:30 on 10 March in Vietnam
    assert await _pass(db, due) == 3
    assert await _pass(db, due) == 0  # the same moment again
    assert await _pass(db, due + dt.timedelta(days=3)) == 0  # one automatic reminder only
    found = await _reminders(db, p)
    assert [k for k, _ in found] == ["o1", "a3", "t1"]
    for key, d in found:
        assert d.reminds_id == rows[key].id
        assert d.kind == DeliveryKind.REMINDER and d.notice_id is None and d.run_id is None
        assert (d.status, d.error, d.ack_button) == (DeliveryStatus.QUEUED, None, True)
        assert d.text == AUTO_HEADER + rows[key].text
        assert (d.chat_id, d.external_id) == (p.chats[key].id, f"tg-{key}")
        assert _utc(d.available_at) == due and _utc(d.created_at) == due


async def test_automatic_reminders_wait_out_quiet_hours_and_downtime(
    db: Database, province: Province
) -> None:
    p = province
    await _sent_notice(db, p)
    twice = AckReminderPolicy(after=dt.timedelta(hours=48), automatic=2, max_per_person=3)
    night = dt.datetime(2026, 3, 10, 21, 30, tzinfo=VN)  # due since 09:30, now quiet hours
    assert await _pass(db, night, twice) == 0
    assert await _pass(db, dt.datetime(2026, 3, 11, 6, 59, tzinfo=VN), twice) == 0
    # down from then until 13 March 08:00: both planned reminders were missed; one goes
    back = dt.datetime(2026, 3, 13, 8, 0, tzinfo=VN)
    assert await _pass(db, back, twice) == 3
    assert await _pass(db, back + dt.timedelta(hours=47), twice) == 0  # 48 h after the last
    assert await _pass(db, back + dt.timedelta(hours=48), twice) == 3  # the second one
    assert await _pass(db, back + dt.timedelta(days=4), twice) == 0
    assert [_utc(d.created_at).astimezone(VN).day for _, d in await _reminders(db, p)] == [
        13,
        13,
        13,
        15,
        15,
        15,
    ]


async def test_no_automatic_reminder_for_an_old_notice_or_when_turned_off(
    db: Database, province: Province
) -> None:
    p = province
    await _sent_notice(db, p)
    off = AckReminderPolicy(after=dt.timedelta(hours=48), automatic=0)
    assert await _pass(db, NOW + dt.timedelta(days=3), off) == 0
    # first looked at 8 days after it was sent (past the 7-day window): not dug up
    assert await _pass(db, NOW + dt.timedelta(days=8)) == 0
    assert await _reminders(db, p) == []


async def test_a_reminder_to_a_chat_that_stopped_is_written_unreachable(
    db: Database, province: Province
) -> None:
    p = province
    _, rows = await _sent_notice(db, p)
    async with db.session() as s:
        chat = await s.get(ChatIdentity, p.chats["t1"].id)
        assert chat is not None
        chat.stopped = True
    assert await _pass(db, NOW + dt.timedelta(hours=48)) == 3
    by_key = dict(await _reminders(db, p))
    assert (by_key["t1"].status, by_key["t1"].error) == (DeliveryStatus.UNREACHABLE, "stopped")
    assert by_key["t1"].reminds_id == rows["t1"].id
    assert by_key["o1"].status == DeliveryStatus.QUEUED


async def test_reminding_by_hand_once_a_day_and_at_most_the_cap(
    db: Database, province: Province
) -> None:
    p = province
    notice_id, rows = await _sent_notice(db, p)
    officer = p.actor("o1", "DL")

    async def press(at: dt.datetime) -> tuple[AckRemindOutcome, int, int, dt.datetime | None]:
        async with db.session() as s:
            r = await remind_unacknowledged(
                s,
                actor=officer,
                notice_id=notice_id,
                now=at,
                policy=POLICY,
                tz=VN,
                default_locale=LOCALE,
            )
        return r.outcome, r.count, r.unreachable, r.at

    first = NOW + dt.timedelta(hours=1)  # 10:30
    assert await press(first) == (AckRemindOutcome.SENT, 3, 0, None)
    assert await press(NOW + dt.timedelta(hours=10)) == (AckRemindOutcome.NOBODY, 0, 0, None)
    # t1 acknowledges (with the button of the reminder, which names the notice's delivery)
    async with db.session() as s:
        await acknowledge(s, actor=p.actor("t1"), delivery_id=rows["t1"].id or 0, now=first)
    assert await press(NOW + dt.timedelta(days=1)) == (AckRemindOutcome.SENT, 2, 0, None)
    # the automatic one is not added: two reminders already went to each
    assert await _pass(db, NOW + dt.timedelta(days=2, hours=1)) == 0
    assert await press(NOW + dt.timedelta(days=2)) == (AckRemindOutcome.SENT, 2, 0, None)
    assert await press(NOW + dt.timedelta(days=3)) == (AckRemindOutcome.NOBODY, 0, 0, None)
    found = await _reminders(db, p)
    assert [k for k, _ in found] == ["o1", "a3", "t1", "o1", "a3", "o1", "a3"]
    assert all(d.text == HAND_HEADER + rows[k].text for k, d in found)
    # the reminder t1 had not been sent yet when t1 acknowledged: withdrawn
    t1 = found[2][1]
    assert (t1.status, t1.error) == (DeliveryStatus.FAILED, "acknowledged")


async def test_by_hand_during_quiet_hours_waits_for_their_end(
    db: Database, province: Province
) -> None:
    p = province
    notice_id, _ = await _sent_notice(db, p)
    late = dt.datetime(2026, 3, 8, 22, 0, tzinfo=VN)
    async with db.session() as s:
        r = await remind_unacknowledged(
            s,
            actor=p.actor("o1", "DL"),
            notice_id=notice_id,
            now=late,
            policy=POLICY,
            tz=VN,
            default_locale=LOCALE,
        )
    assert (r.outcome, r.count) == (AckRemindOutcome.SENT, 3)
    assert r.at == dt.datetime(2026, 3, 9, 7, 0, tzinfo=VN)
    assert {_utc(d.available_at) for _, d in await _reminders(db, p)} == {
        dt.datetime(2026, 3, 9, 0, 0, tzinfo=dt.UTC)
    }
    # no quiet hours configured: at once
    async with db.session() as s:
        none = AckReminderPolicy(quiet=QuietHours(start=dt.time(0), end=dt.time(0)))
        again = await remind_unacknowledged(
            s,
            actor=p.actor("o1", "DL"),
            notice_id=notice_id,
            now=late + dt.timedelta(hours=3),  # 01:00, the next local day
            policy=none,
            tz=VN,
            default_locale=LOCALE,
        )
    assert (again.outcome, again.count, again.at) == (AckRemindOutcome.SENT, 3, None)


async def test_who_may_remind_and_what_cancelling_withdraws(
    db: Database, province: Province
) -> None:
    p = province
    notice_id, _ = await _sent_notice(db, p)
    draft_id = await _draft(db, p, title="Nháp")
    async with db.session() as s:
        other = await remind_unacknowledged(
            s, actor=p.actor("o2", "S3"), notice_id=notice_id, now=NOW, tz=VN, default_locale=LOCALE
        )
        member = await remind_unacknowledged(
            s, actor=p.actor("a1"), notice_id=notice_id, tz=VN, default_locale=LOCALE
        )
        missing = await remind_unacknowledged(
            s, actor=p.actor("o1", "DL"), notice_id=424242, tz=VN, default_locale=LOCALE
        )
        draft = await remind_unacknowledged(
            s, actor=p.actor("o1", "DL"), notice_id=draft_id, tz=VN, default_locale=LOCALE
        )
        admin = await remind_unacknowledged(
            s,
            actor=p.actor("pv", "LD"),
            notice_id=notice_id,
            now=NOW,
            policy=POLICY,
            tz=VN,
            default_locale=LOCALE,
        )
    assert other.outcome is AckRemindOutcome.NOT_FOUND
    assert member.outcome is AckRemindOutcome.NOT_FOUND
    assert missing.outcome is AckRemindOutcome.NOT_FOUND
    assert draft.outcome is AckRemindOutcome.NOT_SENT
    assert (admin.outcome, admin.count) == (AckRemindOutcome.SENT, 3)
    async with db.session() as s:
        await cancel(s, actor=p.actor("o1", "DL"), notice_id=notice_id)
        after = await remind_unacknowledged(
            s,
            actor=p.actor("o1", "DL"),
            notice_id=notice_id,
            now=NOW + dt.timedelta(days=1),
            tz=VN,
            default_locale=LOCALE,
        )
    assert after.outcome is AckRemindOutcome.NOT_SENT
    assert {(d.status, d.error) for _, d in await _reminders(db, p)} == {
        (DeliveryStatus.FAILED, "cancelled")
    }
    assert await _pass(db, NOW + dt.timedelta(hours=48)) == 0  # a cancelled notice is let be


async def test_the_scheduler_sends_them_once_whichever_process_ticks(
    db: Database, province: Province
) -> None:
    p = province
    await _sent_notice(db, p)
    at = NOW + dt.timedelta(hours=48)
    settings = SchedulerSettings(tz=VN, default_locale=LOCALE, ack_policy=POLICY)
    other_db = Database(db.url, connect_args=db.connect_args)
    one = Scheduler(db, SurveyRegistry(), settings, clock=lambda: at)
    two = Scheduler(other_db, SurveyRegistry(), settings, clock=lambda: at)
    try:
        ticks = await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
        led = [t for t in ticks if t is not None]
        assert [t.notice_reminders for t in led] == [3, 0]
    finally:
        await one.stop()
        await two.stop()
        await other_db.dispose()
    assert len(await _reminders(db, p)) == 3


def test_the_policy_comes_from_the_settings() -> None:
    from bot.runtime import ack_reminder_policy
    from bot.settings import load_settings

    settings = load_settings(
        quiet_hours="22:00-06:30", reminder_max=2, notice_remind_after=24, notice_reminders=2
    )
    assert ack_reminder_policy(settings) == AckReminderPolicy(
        after=dt.timedelta(hours=24),
        automatic=2,
        max_per_person=2,
        quiet=QuietHours(start=dt.time(22, 0), end=dt.time(6, 30)),
    )
    assert ack_reminder_policy(load_settings(notice_remind_after=0)).automatic == 0
    assert AckReminderPolicy().reach == dt.timedelta(days=7)
    assert AckReminderPolicy(after=dt.timedelta(days=3), automatic=3).reach == dt.timedelta(days=12)
