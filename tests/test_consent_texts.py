"""Consent texts are tied to their version: the pinned hashes, the stored wording, /privacy."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from bot.services import consent
from bot.services.consent import (
    CONSENT_HASHES,
    CURRENT_VERSIONS,
    CanonicalText,
    ConsentTextChanged,
    archived_texts,
    current_texts,
    sha256_of,
    store_consent_texts,
    stored_text,
)
from bot.services.onboarding import CONSENT_VERSION, ZALO_CONSENT_VERSION
from bot.settings import LOCALES
from storage.db import Database
from storage.models import Channel, Consent, utcnow
from storage.tables import consent_texts
from tests.fakebotapi import FakeBotAPI
from tests.flow import RunningBot, link


def unpinned(texts: list[CanonicalText]) -> list[str]:
    """The texts whose wording is not the one pinned for their version, as the lines to fix."""
    return [
        f"({t.version!r}, {t.locale!r}): {t.sha256!r}"
        for t in texts
        if CONSENT_HASHES.get((t.version, t.locale)) != t.sha256
    ]


def test_every_current_text_has_its_pinned_wording() -> None:
    """A template or translation change that alters a consent text fails here: give the new
    wording a new version (bot/services/onboarding.py) and pin the lines printed below."""
    texts = current_texts()
    assert {(t.version, t.locale) for t in texts} == {
        (v, loc) for v in (CONSENT_VERSION, ZALO_CONSENT_VERSION) for loc in LOCALES
    }
    assert unpinned(texts) == []


def test_every_current_text_is_archived_and_every_archived_text_pinned() -> None:
    """The current versions render exactly as their archived file, and every archived file
    (old versions too) has the wording pinned for it."""
    archived = {(t.version, t.locale): t.text for t in archived_texts()}
    for text in current_texts():
        assert archived.get((text.version, text.locale)) == text.text, (
            f"archive the new wording as bot/consent_texts/{text.version}.{text.locale}.txt"
        )
    assert unpinned(archived_texts()) == []
    assert set(archived) == set(CONSENT_HASHES)


def test_a_changed_wording_under_the_same_version_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check can fail: one word of the notice changed, same version numbers."""
    real = consent.render  # type: ignore[attr-defined]

    def edited(name: str, locale: str, /, **context: object) -> str:
        return real(name, locale, **context).replace("91/2025/QH15", "91/2025/QH16")

    monkeypatch.setattr(consent, "render", edited)
    changed = current_texts()
    assert len(unpinned(changed)) == len(CURRENT_VERSIONS) * len(LOCALES) == 4
    assert all(t.version in CURRENT_VERSIONS for t in changed)


def test_the_canonical_text_has_no_personal_part() -> None:
    """The Zalo wording names the member's account id: the stored text has a placeholder."""
    zalo_vi = next(
        t for t in current_texts() if (t.version, t.locale) == (ZALO_CONSENT_VERSION, "vi")
    )
    assert consent.ZALO_ID_PLACEHOLDER in zalo_vi.text
    assert "91/2025/QH15" in zalo_vi.text
    assert "Phiên bản văn bản: 2026.12-zalo-2" in zalo_vi.text
    telegram_en = next(
        t for t in current_texts() if (t.version, t.locale) == (CONSENT_VERSION, "en")
    )
    assert consent.ZALO_ID_PLACEHOLDER not in telegram_en.text
    assert "Telegram account ID" in telegram_en.text


async def test_stored_once_and_a_different_wording_is_refused(db: Database) -> None:
    async with db.session() as s:
        # two channels × two locales × two versions each: the replaced ones stay stored
        assert await store_consent_texts(s) == 8
    async with db.session() as s:
        assert await store_consent_texts(s) == 0  # idempotent
        rows = (await s.execute(select(consent_texts))).mappings().all()
        assert {(r["version"], r["locale"]) for r in rows} == set(CONSENT_HASHES)
        for row in rows:
            assert (
                row["sha256"]
                == sha256_of(row["text"])
                == CONSENT_HASHES[(row["version"], row["locale"])]
            )
        text = await stored_text(s, version=ZALO_CONSENT_VERSION, locale="vi")
        assert text is not None and "ZALO-ID" in text

    async with db.session() as s:
        await s.execute(consent_texts.delete().where(consent_texts.c.locale == "en"))
        await s.execute(
            insert(consent_texts).values(
                version=CONSENT_VERSION,
                locale="en",
                sha256=sha256_of("older"),
                text="older",
                recorded_at=utcnow(),
            )
        )
    with pytest.raises(ConsentTextChanged, match=f"version {CONSENT_VERSION} \\(en\\)"):
        async with db.session() as s:
            await store_consent_texts(s)


async def test_the_text_a_member_agreed_to_is_stored_and_privacy_shows_it(
    api: FakeBotAPI, bot: RunningBot
) -> None:
    """The bot stores the texts as it starts: the version of every decision has its wording.
    /privacy shows the current text in full and the version agreed to, with the local time."""
    tuan = api.user(id=5001, first_name="Tuấn", last_name="Phạm Minh", phone="0345271908")
    await link(api, tuan)
    async with bot.db.session() as s:
        [decision] = (await s.execute(select(Consent))).scalars()
        assert decision.channel == Channel.TELEGRAM
        for locale in LOCALES:
            text = await stored_text(s, version=decision.text_version, locale=locale)
            assert text is not None
            assert sha256_of(text) == CONSENT_HASHES[(decision.text_version, locale)]
    await tuan.send("/privacy")
    await api.wait_idle()
    shown = tuan.last_message().text
    assert "Quyền của thầy/cô:" in shown  # the notice itself, in full
    when = decision.decided_at.astimezone(bot.settings.tz).strftime("%H:%M %d/%m/%Y")
    assert f"đã đồng ý với thông báo này (phiên bản {CONSENT_VERSION}) lúc {when}" in shown
