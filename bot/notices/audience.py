"""Who a notice goes to: unit subtrees narrowed by public/non-public units, members, a tag.

An :class:`Audience` is stored on the notice as JSON (``notices.audience``).  Unit ids name
subtrees (a district, a CĐCS, a tổ); no unit means the author's whole scope.  The public flag is
judged on the CĐCS a person belongs to: the nearest grassroots ancestor-or-self of their unit
(a tổ counts as its CĐCS), or, for people sitting on a district or the province office, their
unit's own flag.

The CLI (``congdoan notice send --audience ...``) writes an audience as text, parsed by
:func:`parse_audience` into an :class:`AudienceSpec` (unit codes, not ids yet; the service
resolves them within the author's scope).  The syntax: parts separated by ``;`` or ``,``::

    unit=CODE        a unit subtree (repeatable: several units add up)
    public           công lập units only
    nonpublic        ngoài công lập units only (also: non-public, non_public)
    members          đoàn viên only (not other staff on the roster)
    tag=NAME         people whose roster tags include NAME
    all              the default: the author's whole scope, everyone (may be left out)

e.g. ``unit=DL-THPT-BTX,unit=LD-BL;public;members;tag=gvcn``.  Case does not matter for the
keywords; spaces around parts are ignored.  Errors are English and name the bad part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_TAG = 64


class AudienceError(ValueError):
    """An audience text or JSON is malformed, or names units the author cannot reach.

    The message is English (the CLI); ``code`` is for the chat layer: ``syntax`` (malformed),
    ``unknown_unit`` or ``out_of_scope`` (``detail``: the unit code or id).
    """

    def __init__(self, message: str, *, code: str = "syntax", detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Audience:
    """The recipients of a notice, before they are looked up."""

    unit_ids: tuple[int, ...] = ()  # subtrees; empty: the author's scope
    public: bool | None = None  # None: both; True: công lập only; False: ngoài công lập only
    members_only: bool = False
    tag: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "units": list(self.unit_ids),
                "public": self.public,
                "members": self.members_only,
                "tag": self.tag,
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Audience:
        """The audience stored on a notice; ``{}`` or empty text is the default audience."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AudienceError(f"audience is not valid JSON: {exc.msg}") from exc
        if not isinstance(data, dict):
            raise AudienceError("audience JSON must be an object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Audience:
        unknown = sorted(set(data) - {"units", "public", "members", "tag"})
        if unknown:
            raise AudienceError(f"unknown audience key(s): {', '.join(unknown)}")
        units = data.get("units") or []
        if not isinstance(units, list) or not all(
            isinstance(u, int) and not isinstance(u, bool) for u in units
        ):
            raise AudienceError("audience 'units' must be a list of unit ids")
        public = data.get("public")
        if public is not None and not isinstance(public, bool):
            raise AudienceError("audience 'public' must be true, false or null")
        members = data.get("members", False)
        if not isinstance(members, bool):
            raise AudienceError("audience 'members' must be true or false")
        tag = data.get("tag")
        if tag is not None and (not isinstance(tag, str) or not tag.strip()):
            raise AudienceError("audience 'tag' must be a non-empty text or null")
        return cls(
            unit_ids=tuple(dict.fromkeys(units)),
            public=public,
            members_only=members,
            tag=tag.strip() if tag else None,
        )


@dataclass(frozen=True)
class AudienceSpec:
    """An audience as written on the command line: units by code, not yet resolved."""

    unit_codes: tuple[str, ...] = ()
    public: bool | None = None
    members_only: bool = False
    tag: str | None = None

    def with_unit_ids(self, unit_ids: tuple[int, ...]) -> Audience:
        return Audience(
            unit_ids=unit_ids, public=self.public, members_only=self.members_only, tag=self.tag
        )


_PUBLIC_WORDS = {"public": True, "nonpublic": False, "non-public": False, "non_public": False}
SYNTAX = "unit=CODE, public, nonpublic, members, tag=NAME, all"


def parse_audience(text: str) -> AudienceSpec:
    """Parse the CLI audience syntax (see the module docstring)."""
    codes: list[str] = []
    public: bool | None = None
    members = False
    tag: str | None = None
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    for part in parts:
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        value = value.strip()
        if sep:
            if key in ("unit", "units"):
                if not value:
                    raise AudienceError(f"audience part {part!r}: a unit code is missing")
                if value not in codes:
                    codes.append(value)
            elif key == "tag":
                if not value:
                    raise AudienceError(f"audience part {part!r}: the tag is missing")
                if len(value) > MAX_TAG:
                    raise AudienceError(f"audience part {part!r}: the tag is too long")
                if tag is not None and tag != value:
                    raise AudienceError(f"audience part {part!r}: only one tag may be given")
                tag = value
            else:
                raise AudienceError(f"unknown audience part {part!r} (expected {SYNTAX})")
        elif key in _PUBLIC_WORDS:
            wanted = _PUBLIC_WORDS[key]
            if public is not None and public != wanted:
                raise AudienceError(
                    f"audience part {part!r}: public and nonpublic cannot both be given"
                )
            public = wanted
        elif key in ("members", "member"):
            members = True
        elif key == "all":
            continue
        else:
            raise AudienceError(f"unknown audience part {part!r} (expected {SYNTAX})")
    return AudienceSpec(tuple(codes), public, members, tag)
