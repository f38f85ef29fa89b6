"""Vietnamese phone numbers: parse what people type, store E.164, show the national format."""

from __future__ import annotations

import re

import phonenumbers

REGION = "VN"
COUNTRY_CODE = 84

# Characters people use when writing a number; anything else (letters, words) is rejected so that
# phonenumbers' vanity-letter conversion or "number inside a sentence" extraction never applies.
_ALLOWED = re.compile(r"[0-9+\s().\-]{1,40}")


def normalize_phone(text: str) -> str | None:
    """E.164 form ("+84912345678") of a valid Vietnamese number written in any usual way.

    Accepts "0912 345 678", "+84 912.345.678", "84912345678", "0263 3822 111" (landline).
    Returns None for anything that is not a valid Vietnamese number, including foreign numbers.
    """
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if not _ALLOWED.fullmatch(stripped) or not any(ch.isdigit() for ch in stripped):
        return None
    try:
        number = phonenumbers.parse(stripped, REGION)
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
