"""Which digit a prompt names, for the demo model's text encoder (plain Python, no ComfyUI)."""

from __future__ import annotations

import pytest
from harness.pack_files import plain_pack_module  # bench/, on sys.path by tests/conftest.py

prompt_digits = plain_pack_module("nodes/demos/shared/prompt_digits.py")


@pytest.mark.parametrize("text, digit", [
    ("7", 7), ("seven", 7), ("a handwritten 7", 7), ("Seven!", 7), ("SEVEN", 7), ("0", 0), ("zero", 0),
    ("nine", 9), ("draw a 3 please", 3), ("3 or 5", 3), ("five then 2", 5), ("digit:4", 4),
    ("", None), ("   ", None), ("a cat", None), ("10", None), ("someone", None), ("eleven", None),
    ("phone", None), ("3.5", 3), ("7\n", 7),
])
def test_digit_in_text(text, digit):
    assert prompt_digits.digit_in_text(text) == digit


def test_no_digit_is_the_no_class_token():
    assert prompt_digits.token_for(None) == prompt_digits.NO_CLASS == 10
    assert [prompt_digits.token_for(d) for d in range(10)] == list(range(10))


@pytest.mark.parametrize("bad", [-1, 10, 3.0, "3", True])
def test_token_for_rejects_what_is_not_a_digit(bad):
    with pytest.raises(ValueError, match="0 to 9"):
        prompt_digits.token_for(bad)
