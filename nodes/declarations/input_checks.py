"""What the nodes accept: one limit and one error message per input, checked once, when a node
runs and before any sampling starts. The core (nested_core) checks its own contract again."""

from __future__ import annotations

# Every steps input of every node (outer_steps, inner_steps, start/end_at_outer_step).
MAX_STEPS = 10000


def check_steps(name: str, value: int) -> int:
    if int(value) != value or not 1 <= value <= MAX_STEPS:
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_STEPS}, got {value!r}")
    return int(value)


def check_eta(value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {value!r}")
    return float(value)


def check_denoise(value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"denoise must be in (0, 1], got {value!r}")
    return float(value)


def check_choice(name: str, value: str, choices: list[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value
