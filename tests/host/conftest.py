"""Host tests run against a real ComfyUI checkout named by COMFYUI_PATH, never a stand-in.

Without COMFYUI_PATH only test_host_gate.py is collected, and it skips with one line that
says how to enable the rest.
"""

from __future__ import annotations

from pathlib import Path

from host_env import COMFYUI_PATH, host_frontend_version, host_version, import_comfy

GATE = "test_host_gate.py"

if COMFYUI_PATH:
    import_comfy()
    import torch

    # The tiny models are too small to gain from threads; on a busy 2-core machine extra
    # threads only make every model call wait (measured 4-5 s instead of 0.06 s per call).
    torch.set_num_threads(1)
    collect_ignore: list[str] = []
else:
    # The other test modules import comfy at module level, so they are not collected at all.
    # server/ has its own conftest, which needs ComfyUI's aiohttp.
    here = Path(__file__).parent
    collect_ignore = [str(here / "server")] + [str(p) for p in here.glob("test_*.py") if p.name != GATE]


def pytest_report_header(config):
    if not COMFYUI_PATH:
        return "ComfyUI host: none (COMFYUI_PATH is not set)"
    return (f"ComfyUI host: {host_version()} (frontend {host_frontend_version()}) at "
            f"{Path(COMFYUI_PATH).resolve()}")
