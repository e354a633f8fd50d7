"""Where the real ComfyUI is, and how the pack is imported into it, for the host tests."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]
PACK_MODULE = "nested_diffusion_pack"
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
SKIP_REASON = ("ComfyUI host tests skipped: set COMFYUI_PATH to a ComfyUI checkout (0.3.64) "
               "and run with its Python to enable them")


def import_comfy() -> None:
    root = str(Path(COMFYUI_PATH).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    # Before anything imports comfy.model_management: these machines have no CUDA.
    from comfy.cli_args import args
    args.cpu = True


def load_pack():
    """Import the pack the way ComfyUI does: as a package, under a name that is not ``nodes``."""
    if PACK_MODULE in sys.modules:
        return sys.modules[PACK_MODULE]
    spec = importlib.util.spec_from_file_location(
        PACK_MODULE, PACK_ROOT / "__init__.py", submodule_search_locations=[str(PACK_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_MODULE] = module
    spec.loader.exec_module(module)
    return module
