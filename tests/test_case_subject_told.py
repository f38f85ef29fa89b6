"""A colleague named in a hardship report is told, the first time they link, that a report
concerns them and who can read it, never what it says nor who made it (issue 16)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from bot.services.casework import tell_subjects
from storage.models import Case, Delivery, DeliveryKind
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, eventually, link
from tests.test_flow_officer import answer_typed, open_form, submit

DESCRIPTION = "Chồng cô ấy vừa mất việc, hai con nhỏ đang đi học"
TOLD = "Một đồng nghiệp đã báo cho công đoàn về hoàn cảnh khó khăn của thầy/cô"


async def test_a_colleague_named_in_a_report_is_told_once_on_linking(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    bao = api.user(id=9401, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    await open_form(api, bao, "Báo cáo hoàn cảnh khó khăn")
    await bao.click(bao.last_message(), "Của một đồng nghiệp")
    await api.wait_idle()
    await answer_typed(api, bao, "Võ Thị Hồng Nhung", "0387 556 120")
    await bao.click(bao.last_message(), "Hoàn cảnh gia đình đặc biệt khó khăn")
    await api.wait_idle()
    await answer_typed(api, bao, DESCRIPTION, "không")
    await submit(api, bao)
    # His own case: he knows of it, nobody is told.
    await open_form(api, bao, "Báo cáo hoàn cảnh khó khăn")
    await bao.click(bao.last_message(), "Của bản thân tôi")
    await api.wait_idle()
    await bao.click(bao.last_message(), "Tai nạn")
    await api.wait_idle()
    await answer_typed(api, bao, "Gãy tay khi đi làm", "không")
    await submit(api, bao)

    nhung = api.user(id=9402, first_name="Nhung", phone="0387556120")
    await nhung.send("/start")
    await api.wait_idle()
    await nhung.click(nhung.last_message(), "✅ Tôi đồng ý")
    await api.wait_idle()
    await nhung.share_contact()
    await api.wait_idle()
    await eventually(lambda: any(TOLD in t for t in nhung.texts()))
    [told] = [t for t in nhung.texts() if TOLD in t]
    assert "Chỉ cán bộ Ban chấp hành CĐCS Trường THPT Bùi Thị Xuân được xem nội dung" in told
    assert any("Đã liên kết" in t for t in nhung.texts())
    assert DESCRIPTION not in told and "Bảo" not in told and "Gãy tay" not in told

    async with bot.db.session(write=True) as session:
        cases = list((await session.execute(select(Case).order_by(col(Case.id)))).scalars())
        assert [c.subject_told_at is not None for c in cases] == [True, False]
        # Told once: asking again (a second chat linked, a later report pass) sends nothing.
        assert cases[0].subject_person_id is not None
        assert await tell_subjects(session, person_id=cases[0].subject_person_id) == 0
        assert cases[1].subject_person_id is not None
        assert await tell_subjects(session, person_id=cases[1].subject_person_id) == 0
        messages = (
            await session.execute(
                select(col(Delivery.person_id)).where(col(Delivery.kind) == DeliveryKind.MESSAGE)
            )
        ).all()
        assert [m[0] for m in messages].count(cases[0].subject_person_id) == 1


async def test_a_colleague_already_linked_is_told_when_the_report_is_filed(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    nhung = api.user(id=9412, first_name="Nhung", phone="0387556120")
    await link(api, nhung)
    bao = api.user(id=9411, first_name="Bảo", phone="0868304771")
    await link(api, bao)
    assert not any(TOLD in t for t in nhung.texts())
    await open_form(api, bao, "Báo cáo hoàn cảnh khó khăn")
    await bao.click(bao.last_message(), "Của một đồng nghiệp")
    await api.wait_idle()
    await answer_typed(api, bao, "Võ Thị Hồng Nhung", "0387 556 120")
    await bao.click(bao.last_message(), "Hoàn cảnh gia đình đặc biệt khó khăn")
    await api.wait_idle()
    await answer_typed(api, bao, DESCRIPTION, "không")
    await submit(api, bao)

    await eventually(lambda: any(TOLD in t for t in nhung.texts()))
    [told] = [t for t in nhung.texts() if TOLD in t]
    assert DESCRIPTION not in told and "Bảo" not in told
    async with bot.db.session() as session:
        [case] = list((await session.execute(select(Case))).scalars())
        assert case.subject_told_at is not None
