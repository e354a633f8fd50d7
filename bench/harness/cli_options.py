"""Command-line values the benches share: nested configurations and comma-separated lists."""

from __future__ import annotations


def comma_list(text: str) -> list[str]:
    """``"a,b,,c"`` -> ``["a", "b", "c"]``."""
    return [item for item in str(text).split(",") if item]


def nested_configs(text: str) -> list[tuple[int, int]]:
    """``"5x20,10x10"`` -> ``[(5, 20), (10, 10)]``: (outer steps, inner steps) per configuration."""
    return [tuple(int(v) for v in item.lower().split("x")) for item in comma_list(text)]


def step_counts(text: str) -> list[int]:
    """``"20,10,20"`` -> ``[10, 20]``: distinct step counts, ascending."""
    return sorted({int(item) for item in comma_list(text)})
