"""Which digit a text prompt asks for (plain Python): "7", "seven", "a handwritten 7"."""

from __future__ import annotations

import re

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NO_CLASS = 10          # the learned "no class" token: empty text, the unconditional side of CFG
NUM_TOKENS = NO_CLASS + 1

_DIGIT = re.compile(r"(?<![0-9])[0-9](?![0-9])|\b(?:" + "|".join(DIGIT_WORDS) + r")\b", re.IGNORECASE)


def digit_in_text(text: str) -> int | None:
    """The first digit named in ``text`` (a lone figure or an English number word), else None."""
    match = _DIGIT.search(text or "")
    if match is None:
        return None
    word = match.group(0).lower()
    return int(word) if word.isdigit() else DIGIT_WORDS.index(word)


def token_for(digit: int | None) -> int:
    if digit is None:
        return NO_CLASS
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be a whole number from 0 to 9, or None for no digit; got {digit!r}")
    return digit
