"""Host tests run against a real ComfyUI checkout named by COMFYUI_PATH, never a stand-in.

Without COMFYUI_PATH only test_host_gate.py is collected, and it skips with one line that
says how to enable the rest.

The tests are grouped by subject in the folders beside this file; their in-process helpers
(host_fixtures, compat_stack, compat_families) live in support/, put on sys.path here and
imported by plain name. The server tests' helpers are in server/support/ (server/conftest.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from host_env import COMFYUI_PATH, host_frontend_version, host_version, import_comfy

HERE = Path(__file__).resolve().parent
GATE = "test_host_gate.py"
SUPPORT = str(HERE / "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)

if COMFYUI_PATH:
    import_comfy()
    import torch

    # The tiny models are too small to gain from threads; on a busy 2-core machine extra
    # threads only make every model call wait (measured 4-5 s instead of 0.06 s per call).
    torch.set_num_threads(1)
    collect_ignore: list[str] = []
else:
    # The other test modules import comfy at module level, so they are not collected at all:
    # every subject folder is ignored whole (server/ too: its conftest needs ComfyUI's aiohttp),
    # and any test module beside this file but the gate.
    collect_ignore = [str(p) for p in sorted(HERE.iterdir())
                      if p.is_dir() or (p.name.startswith("test_") and p.name != GATE)]


def pytest_report_header(config):
    if not COMFYUI_PATH:
        return "ComfyUI host: none (COMFYUI_PATH is not set)"
    return (f"ComfyUI host: {host_version()} (frontend {host_frontend_version()}) at "
            f"{Path(COMFYUI_PATH).resolve()}")
