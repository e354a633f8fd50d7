"""Core tests import the pack's torch-only core and their helper modules by plain name.

Nothing under tests/core may import ComfyUI: these tests run in a torch-only venv.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]

for entry in (str(HERE), str(REPO_ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
