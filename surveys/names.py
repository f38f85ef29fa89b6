"""People's names in Vietnamese order: the one sort key of every list of people the bot shows.

A Vietnamese full name is written family name, middle name(s), given name ("Nguyễn Thị Ánh
Tuyết"), and lists of people are read by the given name: :func:`name_key` orders by the last word,
then by the words before it, one word at a time.  Words compare like the syllables of a Vietnamese
dictionary, each settled (tones included) before the next one counts: every "Lê …" comes before
every "Lễ …".

Each word compares by the Unicode Collation Algorithm (pyuca, with the DUCET table), tailored by
the Vietnamese rules of CLDR (those ICU applies for the locale ``vi``)::

    &̀<<̉<<̃<<́<<̣   &a<ă<<<Ă<â<<<Â   &d<đ<<<Đ   &e<ê<<<Ê   &o<ô<<<Ô<ơ<<<Ơ   &u<ư<<<Ư

- letters follow the Vietnamese alphabet, a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x
  y, as a primary difference: "Anh" < "Ánh" < "Ân" (every word in a comes before any word in ă);
- tones are a secondary difference, in the standard order ngang, huyền, hỏi, ngã, sắc, nặng:
  a < à < ả < ã < á < ạ, so a tone decides only between words of the same letters;
- case is a tertiary difference ("an" < "An"), and text written decomposed (NFD, as some Excel
  exports hold it) sorts like the same text composed.

The result is the same on SQLite and PostgreSQL: the database returns the rows, Python orders
them.  The collation table loads on first use (a fraction of a second), never at import.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import cast

import pyuca

Weights = tuple[int, ...]
NameKey = tuple[Weights, tuple[Weights, ...], str]

_BREVE, _CIRCUMFLEX, _HORN = "\u0306", "\u0302", "\u031b"

#: ``&a<ă<â`` …: the letters that CLDR puts right after a base letter, in order.  Keys are written
#: decomposed, as the collator sees its input (it normalizes to NFD first); đ does not decompose.
_LETTERS_AFTER: dict[str, tuple[str, ...]] = {
    "a": ("a" + _BREVE, "a" + _CIRCUMFLEX),  # ă, â
    "d": ("đ",),
    "e": ("e" + _CIRCUMFLEX,),  # ê
    "o": ("o" + _CIRCUMFLEX, "o" + _HORN),  # ô, ơ
    "u": ("u" + _HORN,),  # ư
}

#: ``&̀<<̉<<̃<<́<<̣``: the tone marks in Vietnamese order (huyền, hỏi, ngã, sắc, nặng).
_TONES = ("\u0300", "\u0309", "\u0303", "\u0301", "\u0323")

#: Above every primary weight of the table (DUCET's weights are 16-bit): a letter tailored after
#: its base sorts as the base followed by this weight (plus its rank), so after the base and any
#: word continuing it ("Ăn" > "Azo"), and before the next letter ("Ăn" < "Ba").
_AFTER_ALL = 0x10000
_COMMON_SECONDARY, _COMMON_TERTIARY = 0x0020, 0x0002

_Element = list[int]  # one collation element: [primary, secondary, tertiary]


def _elements(collator: pyuca.Collator, text: str) -> list[_Element]:
    return cast(list[_Element], collator.collation_elements(text))


def _tailor(collator: pyuca.Collator) -> None:
    """Apply CLDR's Vietnamese rules to the collator's table (contractions and new weights)."""
    for base, letters in _LETTERS_AFTER.items():
        for rank, letter in enumerate(letters):
            after = [_AFTER_ALL + rank, _COMMON_SECONDARY, _COMMON_TERTIARY]
            for cased_base, cased_letter in ((base, letter), (base.upper(), letter.upper())):
                elements = [*_elements(collator, cased_base), after]
                collator.table.add([ord(ch) for ch in cased_letter], elements)
    # The tones keep the five secondary weights DUCET gives them, handed out in Vietnamese order
    # (DUCET's own is sắc, huyền, ngã, hỏi, nặng).
    weights = sorted(_elements(collator, mark)[0][1] for mark in _TONES)
    for mark, weight in zip(_TONES, weights, strict=True):
        collator.table.add([ord(mark)], [[0, weight, _COMMON_TERTIARY]])


@functools.cache
def _collator() -> pyuca.Collator:
    collator = pyuca.Collator()
    _tailor(collator)
    return collator


@functools.lru_cache(maxsize=16384)  # family and middle names repeat a lot
def word_key(word: str) -> Weights:
    """The collation key of one word (or any text) in Vietnamese order."""
    return cast(Weights, _collator().sort_key(word))


def name_key(full_name: str) -> NameKey:
    """The sort key of a full name: the given name (last word), then the words before it, then
    the text itself (so that two spellings equal to the collation still sort the same way)."""
    words = full_name.split()
    if not words:
        return (), (), full_name
    return word_key(words[-1]), tuple(word_key(w) for w in words[:-1]), full_name


def sort_names(names: Iterable[str]) -> list[str]:
    """``names`` in Vietnamese order (a new list)."""
    return sorted(names, key=name_key)
