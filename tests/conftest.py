"""Puts tests/helpers on sys.path: the helper modules the core tests, the host tests and the
scripts in bench/ share (mixture denoisers, reference samplers, sigma tables, tiny host models),
imported by plain name; and bench/, so that tests reach the bench's instruments as
``from harness import digit_classifier`` (the judges are not shipped with the pack)."""

from __future__ import annotations

import sys
from pathlib import Path

HELPERS = str(Path(__file__).resolve().parent / "helpers")
BENCH = str(Path(__file__).resolve().parents[1] / "bench")

for folder in (BENCH, HELPERS):
    if folder not in sys.path:
        sys.path.insert(0, folder)
