"""Core tests import the pack's torch-only core by plain name (``nested_core``) and their helper
modules from tests/helpers (put on sys.path by tests/conftest.py).

Nothing under tests/core may import ComfyUI: these tests run in a torch-only venv.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[2])

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
