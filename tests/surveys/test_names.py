"""Vietnamese order of names: letters in the Vietnamese alphabet, tones second, given name first.

Every expected list is written out by hand; the inputs are shuffled (or reversed) copies of it.
"""

from __future__ import annotations

import random
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surveys.names import name_key, sort_names, word_key

ALPHABET = list("aăâbcdđeêghiklmnoôơpqrstuưvxy")

# Each vowel with its tones in the standard order: ngang, huyền, hỏi, ngã, sắc, nặng.
TONED = list("aàảãáạăằẳẵắặâầẩẫấậeèẻẽéẹêềểễếệiìỉĩíịoòỏõóọôồổỗốộơờởỡớợuùủũúụưừửữứựyỳỷỹýỵ")


def shuffled(items: list[str], seed: int = 14) -> list[str]:
    copy = list(items)
    random.Random(seed).shuffle(copy)
    assert copy != items
    return copy


def test_letters_follow_the_vietnamese_alphabet() -> None:
    assert sort_names(shuffled(ALPHABET)) == ALPHABET
    assert sort_names([w.upper() for w in shuffled(ALPHABET)]) == [w.upper() for w in ALPHABET]


def test_tones_in_the_standard_order_within_each_letter() -> None:
    assert sort_names(shuffled(TONED)) == TONED
    assert sort_names(list(reversed(TONED))) == TONED


def test_a_letter_decides_before_a_tone() -> None:
    # a, ă, â are three letters: every word in a comes first, whatever its tone; the tone only
    # decides between words of the same letters.
    words = ["An", "Án", "Anh", "Ánh", "Ăn", "Ân", "Ấn", "Bá"]
    assert sort_names(shuffled(words)) == words
    words = ["Dung", "Dũng", "Duy", "Đông", "Đồng", "Đức"]
    assert sort_names(shuffled(words)) == words
    words = ["Hà", "Hả", "Hạ", "Hai", "Hài", "Hải", "Hàn", "Hạnh"]
    assert sort_names(shuffled(words)) == words
    words = ["Lo", "Loan", "Lô", "Lộc", "Lơ", "Lợi", "Lu", "Luân", "Lư", "Lực"]
    assert sort_names(shuffled(words)) == words


def test_by_given_name_then_family_and_middle_names() -> None:
    names = [
        "Dương Văn An",
        "Nguyễn Thị An",
        "Nguyễn Văn An",
        "Bùi Thị Anh",
        "Trần Thị Ánh",
        "Lê Thị Ân",
        "Đỗ Văn Bình",
        "Hoàng Thị Dung",
        "Đặng Văn Dũng",
        "Phạm Văn Đức",
        "Võ Thị Hà",
        "Lý Thị Hạ",
        "Bùi Thị Kim Oanh",
        "Trịnh Thị Kim Oanh",
        "Ka Thị Nhung",
        "K' Brơi",
        "Ksor H'Nhi",
    ]
    expected = [
        "Dương Văn An",  # An: family names D < N
        "Nguyễn Thị An",  # same family name: middle names Thị < Văn
        "Nguyễn Văn An",
        "Bùi Thị Anh",  # An < Anh < Ánh < Ân: letters first, tones second
        "Trần Thị Ánh",
        "Lê Thị Ân",
        "Đỗ Văn Bình",
        "K' Brơi",
        "Hoàng Thị Dung",  # Dung < Dũng < Đức
        "Đặng Văn Dũng",
        "Phạm Văn Đức",
        "Ksor H'Nhi",  # H'Nhi < Hà: the apostrophe sorts before any letter
        "Võ Thị Hà",  # Hà < Hạ
        "Lý Thị Hạ",
        "Ka Thị Nhung",
        "Bùi Thị Kim Oanh",
        "Trịnh Thị Kim Oanh",
    ]
    assert sort_names(shuffled(names)) == expected
    assert sort_names(reversed(names)) == expected


def test_words_compare_one_at_a_time() -> None:
    # Like syllables in a dictionary, a word is settled, tone included, before the next one:
    # "Lê" < "Lễ", so "Lê Ba Minh" first although "an" < "ba".
    assert sort_names(["Lễ An Minh", "Lê Ba Minh"]) == ["Lê Ba Minh", "Lễ An Minh"]
    # Fewer words first when the others are the same.
    assert sort_names(["Nguyễn Văn Minh", "Nguyễn Minh"]) == ["Nguyễn Minh", "Nguyễn Văn Minh"]


def test_case_comes_last() -> None:
    assert sort_names(["Ăn", "ăn", "An", "an", "Bình", "bình"]) == [
        "an",
        "An",
        "ăn",
        "Ăn",
        "bình",
        "Bình",
    ]


def test_decomposed_text_and_spacing_sort_like_the_plain_name() -> None:
    composed = "Nguyễn Thị Ánh Tuyết"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert name_key(decomposed)[:2] == name_key(composed)[:2]
    assert name_key("  Nguyễn   Thị Ánh  Tuyết ")[:2] == name_key(composed)[:2]
    # Tuyết < Tư (u < ư); the two Tuyết by family name, N < T.
    assert sort_names(["Lê Thị Tư", "Trần Văn Tuyết", decomposed]) == [
        decomposed,
        "Trần Văn Tuyết",
        "Lê Thị Tư",
    ]


def test_empty_name_first() -> None:
    assert sort_names(["An", "", "  "]) == ["", "  ", "An"]


@pytest.mark.parametrize(("before", "after"), [("d", "đ"), ("D", "Đ"), ("o", "ơ"), ("u", "ư")])
def test_a_modified_letter_sorts_after_every_word_of_its_base(before: str, after: str) -> None:
    assert word_key(before + "zzz") < word_key(after)
    assert word_key(after + "a") < word_key(chr(ord(before.lower()) + 1))


@given(st.lists(st.text(alphabet=[*ALPHABET, *TONED, "A", "Ă", "Đ", "Ơ", " "], max_size=20)))
def test_the_order_is_the_same_for_composed_and_decomposed_text(names: list[str]) -> None:
    order = sorted(range(len(names)), key=lambda i: name_key(names[i])[:2])
    nfd = [unicodedata.normalize("NFD", n) for n in names]
    assert [name_key(nfd[i])[:2] for i in order] == sorted(name_key(n)[:2] for n in nfd)
