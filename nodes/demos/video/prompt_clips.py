"""Which digit and which motion a text prompt asks for (plain Python): "7", "7 moving left".

The text encoder's token table has one row per digit, a "no class" row, one row per direction
and an "any direction" row; a prompt becomes a digit row and a direction row. A prompt without a
digit (the empty negative) gets "no class" and "any direction": the unconditional side of CFG.
A prompt without a direction ("7") gets "any direction", which the model learned on clips of
every direction.
"""

from __future__ import annotations

import re

from ..shared.prompt_digits import NUM_TOKENS as DIGIT_ROWS
from ..shared.prompt_digits import digit_in_text, token_for
from .clip_shape import DIRECTIONS

ANY_DIRECTION = len(DIRECTIONS)   # 4: the learned "any direction" row (after the four directions)
NUM_ROWS = DIGIT_ROWS + ANY_DIRECTION + 1   # 11 digit rows (10 = no class) + 5 direction rows

_DIRECTION = re.compile(r"\b(" + "|".join(DIRECTIONS) + r")(?:wards?)?\b", re.IGNORECASE)


def direction_in_text(text: str) -> int | None:
    """The first direction word in ``text`` as an index into ``DIRECTIONS``, else None."""
    match = _DIRECTION.search(text or "")
    return None if match is None else DIRECTIONS.index(match.group(1).lower())


def direction_row(direction: int | str | None) -> int:
    """Row of the token table for a direction (index, name, or None = any direction)."""
    if direction is None:
        return DIGIT_ROWS + ANY_DIRECTION
    if isinstance(direction, str):
        if direction.lower() not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS} or None; got {direction!r}")
        direction = DIRECTIONS.index(direction.lower())
    if isinstance(direction, bool) or not isinstance(direction, int) or not 0 <= direction < len(DIRECTIONS):
        raise ValueError(f"direction must be one of {DIRECTIONS}, an index 0-3, or None; got {direction!r}")
    return DIGIT_ROWS + direction


def rows_for_text(text: str) -> tuple[int, int]:
    """(digit row, direction row) a prompt asks for."""
    return token_for(digit_in_text(text)), direction_row(direction_in_text(text))


def prompt_for(digit: int | None, direction: int | str | None = None) -> str:
    """The prompt text that asks for ``digit`` (None: no digit) moving ``direction`` (None: any);
    both None is the empty text, the unconditional prompt."""
    words = [] if digit is None else [str(token_for(digit))]
    if direction is not None:
        words.append(f"moving {DIRECTIONS[direction_row(direction) - DIGIT_ROWS]}")
    return " ".join(words)
