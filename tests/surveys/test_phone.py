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
