import pytest

from surveys.phone import display_phone, normalize_phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0912 345 678", "+84912345678"),
        ("0912345678", "+84912345678"),
        ("+84 912.345.678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("(+84) 912-345-678", "+84912345678"),
        ("  0912 345 678 ", "+84912345678"),
        ("0263 3822 111", "+842633822111"),
        ("0263 382 2111", "+842633822111"),
        ("0389 123 456", "+84389123456"),
    ],
)
def test_normalize_accepts_usual_forms(text: str, expected: str) -> None:
    assert normalize_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "12345",
        "0912345",
        "091234567890",
        "+1 650 253 0000",  # valid, but not Vietnamese
        "0912 345 678 ext",
        "không có",
        "+",
        "0912-FLOWERS",
    ],
)
def test_normalize_rejects(text: str) -> None:
    assert normalize_phone(text) is None


def test_display_phone() -> None:
    assert display_phone("+84912345678") == "0912 345 678"
    assert display_phone("+842633822111") == "0263 3822 111"
    assert display_phone("garbage") == "garbage"


# The 11-digit mobile numbers retired in 2018: every old network code and the number it became,
# the seven last digits kept (worked out from the operators' published conversion tables).
@pytest.mark.parametrize(
    ("old", "today"),
    [
        # Viettel
        ("0162 345 6789", "+84323456789"),
        ("0163 345 6789", "+84333456789"),
        ("0164 345 6789", "+84343456789"),
        ("0165 345 6789", "+84353456789"),
        ("0166 345 6789", "+84363456789"),
        ("0167 345 6789", "+84373456789"),
        ("0168 345 6789", "+84383456789"),
        ("0169 345 6789", "+84393456789"),
        # MobiFone
        ("0120 345 6789", "+84703456789"),
        ("0121 345 6789", "+84793456789"),
        ("0122 345 6789", "+84773456789"),
        ("0126 345 6789", "+84763456789"),
        ("0128 345 6789", "+84783456789"),
        # VinaPhone
        ("0123 345 6789", "+84833456789"),
        ("0124 345 6789", "+84843456789"),
        ("0125 345 6789", "+84853456789"),
        ("0127 345 6789", "+84813456789"),
        ("0129 345 6789", "+84823456789"),
        # Vietnamobile
        ("0186 345 6789", "+84563456789"),
        ("0188 345 6789", "+84583456789"),
        # Gmobile
        ("0199 345 6789", "+84593456789"),
    ],
)
def test_old_eleven_digit_mobiles_become_today_s_numbers(old: str, today: str) -> None:
    assert normalize_phone(old) == today


@pytest.mark.parametrize(
    "text",
    [
        "01621234567",
        "0162.123.4567",
        "0162-123-4567",
        "+84 162 123 4567",
        "+84 1621234567",
        "(+84) 162-123-4567",
        "841621234567",
        "84 162 123 4567",
        "0084 162 123 4567",
        "+84 0162 123 4567",
        "1621234567",  # a spreadsheet's number cell drops the leading 0
        "  0162 123 4567  ",
    ],
)
def test_old_mobile_in_any_usual_form(text: str) -> None:
    assert normalize_phone(text) == "+84321234567"


def test_old_mobile_is_shown_as_today_s() -> None:
    e164 = normalize_phone("0169 933 3999")
    assert e164 == "+84399333999"
    assert display_phone(e164) == "0399 333 999"


@pytest.mark.parametrize(
    "text",
    [
        "0187 123 4567",  # 01xx codes that were never a mobile network's: not guessed
        "0100 123 4567",
        "0130 123 4567",
        "0162 123 456",  # one digit short
        "0162 123 45678",  # one digit too many
        "84162123456",
        "+84 162 123 456",
        "0162 123 4567 ext",
    ],
)
def test_old_looking_numbers_that_are_not_old_mobiles_are_refused(text: str) -> None:
    assert normalize_phone(text) is None


def test_today_s_numbers_are_left_alone() -> None:
    # The new prefixes themselves, and landlines whose area code starts like an old mobile code
    # after the 0 (0216 Yên Bái, 0263 Lâm Đồng), are not touched.
    assert normalize_phone("0323 456 789") == "+84323456789"
    assert normalize_phone("0703 456 789") == "+84703456789"
    assert normalize_phone("0216 3862 111") == "+842163862111"
    assert normalize_phone("0263 3822 111") == "+842633822111"
