"""The in-process ComfyUI of a demo-model bench script, and the pack's demo modules in it."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

PACK_ROOT = Path(__file__).resolve().parents[1]
DEMO_MODULES = {"demo_model": "digits", "digit_space": "digits", "weights_file": "shared", "prompt_digits": "shared"}


def open_demo(script: str, threads: int = 1) -> SimpleNamespace:
    """Import ComfyUI (COMFYUI_PATH) on CPU with ``threads`` torch threads, load the pack as
    ComfyUI does; returns ``torch``, ``pack``, the demo's modules (``nodes/demos/digits`` and ``shared``) and
    the judge (``classifier``, from ``bench/harness``)."""
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit(f"{script} runs the demo model in a real ComfyUI: set COMFYUI_PATH to a ComfyUI checkout and "
                 "run it with that ComfyUI's Python (see the script's docstring for the command)")
    sys.path.insert(0, str(PACK_ROOT / "tests" / "helpers"))
    import host_env  # tests/helpers

    host_env.import_comfy()
    import torch

    torch.set_num_threads(threads)
    pack = host_env.load_pack()
    modules = {name: importlib.import_module(f"{pack.__name__}.nodes.demos.{room}.{name}")
               for name, room in DEMO_MODULES.items()}
    from harness import digit_classifier  # bench/harness: the judge is not shipped

    modules["classifier"] = digit_classifier
    return SimpleNamespace(torch=torch, pack=pack, **modules)
