"""Puts tests/helpers on sys.path: the helper modules the core tests, the host tests and the
scripts in bench/ share (mixture denoisers, reference samplers, sigma tables, tiny host models),
imported by plain name."""

from __future__ import annotations

import sys
from pathlib import Path

HELPERS = str(Path(__file__).resolve().parent / "helpers")

if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)
