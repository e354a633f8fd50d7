"""Host tests run against a real ComfyUI checkout named by COMFYUI_PATH, never a stand-in.

Without COMFYUI_PATH only test_host_gate.py is collected, and it skips with one line that
says how to enable the rest.
"""

from __future__ import annotations

from pathlib import Path

from host_env import COMFYUI_PATH, import_comfy

GATE = "test_host_gate.py"

if COMFYUI_PATH:
    import_comfy()
    collect_ignore: list[str] = []
else:
    # The other test modules import comfy at module level, so they are not collected at all.
    collect_ignore = [str(p) for p in Path(__file__).parent.rglob("test_*.py") if p.name != GATE]
