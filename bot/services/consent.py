"""The consent texts as stored: the wording of each version, in each locale, with its SHA-256.

A consent decision names the version of the text the person was shown
(:func:`bot.services.onboarding.consent_version`).  That proves nothing unless the wording of a
version can be produced later and cannot drift: so the canonical text of every current version
is rendered here, hashed, pinned in :data:`CONSENT_HASHES` (a test fails when a template change
alters the wording without a new version) and stored in ``consent_texts`` when the application
starts (a stored row whose hash differs stops the start: the wording changed under an old
version number).

The canonical text is the consent template as a chat of that channel sees it, without the parts
that differ from person to person: no invite unit, and a fixed placeholder instead of the Zalo
account id (the one personal value the Zalo wording shows).

Every version's text is also kept as a file in ``bot/consent_texts/`` (``VERSION.LOCALE.txt``),
so that a version replaced before a database ever stored it is not lost with the template it
was rendered from: the start stores every archived version, old ones included, and the current
versions must render exactly as their archived file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.onboarding import CONSENT_VERSION, ZALO_CONSENT_VERSION
from bot.settings import LOCALES
from bot.texts import render
from storage.models import Channel, utcnow
from storage.tables import consent_texts

#: The wording of every version ever shown, one file per version and locale.
ARCHIVE = Path(__file__).resolve().parents[1] / "consent_texts"

#: Stands for the member's own Zalo account id in the stored Zalo wording.  Language-neutral on
#: purpose: the stored text must not depend on anything but the template and the locale.
ZALO_ID_PLACEHOLDER = "ZALO-ID"

#: The channel whose chats are shown each current version.
CURRENT_VERSIONS: dict[str, Channel] = {
    CONSENT_VERSION: Channel.TELEGRAM,
    ZALO_CONSENT_VERSION: Channel.ZALO,
}

#: The SHA-256 of the canonical text of each (version, locale).  A template or translation
#: change that alters one of these texts needs a new version in bot/services/onboarding.py and
#: a new line here; the old lines stay (the wording people agreed to under them is stored).
CONSENT_HASHES: dict[tuple[str, str], str] = {
    ("2026.11-1", "vi"): "23a56cb0de1980ee7ef7ef512e4788057e654dfb8949b31599c8aaa4ed274940",
    ("2026.11-1", "en"): "dd5d12632e960f062ea842452d5c8b33348b6978217f9bc2c495245e74493349",
    ("2026.12-zalo-1", "vi"): "9f54dc5e0a605311275f578219ce3b91ede6c6c6f5ebfadf0a74410538bd16cb",
    ("2026.12-zalo-1", "en"): "f3770ab62514e01c5f819522a3d13b99fe79bd6e3055550f9294b18bdbbbefd8",
    # The rights say how to exercise each one (/dulieu, /suadulieu, /rutlai, /xoadulieu), and
    # the sensitive data who reads it (the CĐCS, and the level a case is passed up to).
    ("2026.12-1", "vi"): "8218b938d7916029fc043c8e289ad7ca7f2608d23723a4c096b3562da7c4542b",
    ("2026.12-1", "en"): "5ae934e4713ac7e966f93d86a5a285d43d829df5116f68bc75ff6686b18b796f",
    ("2026.12-zalo-2", "vi"): "06d43975f379e6c3f464e3268f1a40f108210ec9c3bcf422fa08ebdeff72fac6",
    ("2026.12-zalo-2", "en"): "a3c85af68e6f07d34740d9ea835f31cbc03005ded40d2e3f16d10ea529313acd",
}


class ConsentTextChanged(Exception):
    """A stored consent text of a version differs from what the templates render now: the
    wording changed without a new version.  The message (English, for the operator) says
    which and what to do."""


@dataclass(frozen=True)
class CanonicalText:
    version: str
    locale: str
    text: str

    @property
    def sha256(self) -> str:
        return sha256_of(self.text)


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_consent(channel: Channel, locale: str, version: str) -> str:
    """The consent text a chat of ``channel`` is shown, without its personal parts."""
    return render(
        "member/consent.txt",
        locale,
        invite_unit=None,
        version=version,
        zalo_id=ZALO_ID_PLACEHOLDER if channel == Channel.ZALO else None,
    )


def current_texts() -> list[CanonicalText]:
    """The canonical text of every current version in every locale."""
    return [
        CanonicalText(version, locale, render_consent(channel, locale, version))
        for version, channel in CURRENT_VERSIONS.items()
        for locale in LOCALES
    ]


def archived_texts() -> list[CanonicalText]:
    """Every version's text as archived in :data:`ARCHIVE`, oldest version first."""
    found: list[CanonicalText] = []
    for path in sorted(ARCHIVE.glob("*.txt")):
        version, _, locale = path.stem.rpartition(".")
        found.append(CanonicalText(version, locale, path.read_text(encoding="utf-8")))
    return found


async def store_consent_texts(session: AsyncSession) -> int:
    """Store the archived versions' texts that are not stored yet; returns how many were.

    Idempotent.  Raises :class:`ConsentTextChanged` when a version is stored with another
    wording: the members who agreed under that version agreed to the stored one.
    """
    t = consent_texts.c
    found = await session.execute(select(t.version, t.locale, t.sha256))
    stored = {(row.version, row.locale): row.sha256 for row in found}
    missing: list[dict[str, object]] = []
    for canonical in archived_texts():
        key = (canonical.version, canonical.locale)
        if CONSENT_HASHES.get(key) != canonical.sha256:
            raise ConsentTextChanged(
                f"bot/consent_texts/{canonical.version}.{canonical.locale}.txt is not the "
                "wording pinned for that version in bot/services/consent.py"
            )
        if key not in stored:
            missing.append(
                {
                    "version": canonical.version,
                    "locale": canonical.locale,
                    "sha256": canonical.sha256,
                    "text": canonical.text,
                    "recorded_at": utcnow(),
                }
            )
        elif stored[key] != canonical.sha256:
            raise ConsentTextChanged(
                f"the consent text of version {canonical.version} ({canonical.locale}) differs "
                "from the one stored under that version: give the new wording a new version "
                "(bot/services/onboarding.py) and pin its hash in bot/services/consent.py"
            )
    if missing:
        # Two processes starting at once may both find a version missing: the second insert
        # of the same wording is no error (a different wording was refused above).
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(consent_texts).on_conflict_do_nothing(index_elements=["version", "locale"])
        await session.execute(stmt, missing)
    return len(missing)


async def stored_text(session: AsyncSession, *, version: str, locale: str) -> str | None:
    """The wording of ``version`` as stored, in ``locale`` (None when it never was)."""
    t = consent_texts.c
    query = select(t.text).where(t.version == version, t.locale == locale)
    return (await session.execute(query)).scalar_one_or_none()
