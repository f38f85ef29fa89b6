"""Vietnamese phone numbers: parse what people type, store E.164, show the national format."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import phonenumbers

REGION = "VN"
COUNTRY_CODE = 84

# Characters people use when writing a number; anything else (letters, words) is rejected so that
# phonenumbers' vanity-letter conversion or "number inside a sentence" extraction never applies.
_ALLOWED = re.compile(r"[0-9+\s().\-]{1,40}")
_SEPARATORS = re.compile(r"[\s().\-]")

#: The 11-digit mobile numbers retired in 2018-2019 (the Ministry of Information and
#: Communications' plan: converted from 15/9/2018, old prefixes dialled until 30/6/2019): old
#: network code (after the trunk 0) → today's.  The seven digits after it were kept.
OLD_MOBILE_CODES: Mapping[str, str] = MappingProxyType(
    {
        # Viettel
        "162": "32",
        "163": "33",
        "164": "34",
        "165": "35",
        "166": "36",
        "167": "37",
        "168": "38",
        "169": "39",
        # MobiFone
        "120": "70",
        "121": "79",
        "122": "77",
        "126": "76",
        "128": "78",
        # VinaPhone
        "123": "83",
        "124": "84",
        "125": "85",
        "127": "81",
        "129": "82",
        # Vietnamobile
        "186": "56",
        "188": "58",
        # Gmobile
        "199": "59",
    }
)

# An old mobile number, separators removed: "0162…", "+84 162…", "84162…", "0084162…", also with
# the trunk 0 after the country code ("+84 0162…") or without it at all ("162…", as a number cell
# of a spreadsheet drops the 0): the same forms phonenumbers accepts for today's numbers.
_OLD_MOBILE = re.compile(r"(?:\+84|0084|84)?0?(1\d\d)(\d{7})")


def _renumbered(text: str) -> str:
    """``text`` with an old 11-digit mobile number rewritten as today's (E.164); anything else
    unchanged."""
    match = _OLD_MOBILE.fullmatch(_SEPARATORS.sub("", text))
    if match is None or match.group(1) not in OLD_MOBILE_CODES:
        return text
    return f"+{COUNTRY_CODE}{OLD_MOBILE_CODES[match.group(1)]}{match.group(2)}"


def normalize_phone(text: str) -> str | None:
    """E.164 form ("+84912345678") of a valid Vietnamese number written in any usual way.

    Accepts "0912 345 678", "+84 912.345.678", "84912345678", "0263 3822 111" (landline), and
    the old 11-digit mobile numbers, converted: "0162 345 6789" and "+84 162 345 6789" are
    "+84323456789" (see :data:`OLD_MOBILE_CODES`).  Returns None for anything that is not a valid
    Vietnamese number, including foreign numbers.
    """
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if not _ALLOWED.fullmatch(stripped) or not any(ch.isdigit() for ch in stripped):
        return None
    try:
        number = phonenumbers.parse(_renumbered(stripped), REGION)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != COUNTRY_CODE or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """National format of a stored number: "+84912345678" -> "0912 345 678".

    A value that does not parse is returned unchanged (display never fails).
    """
    try:
        number = phonenumbers.parse(e164, REGION)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code != COUNTRY_CODE:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
