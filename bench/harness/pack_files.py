"""Load one of the pack's plain modules (no ComfyUI import, no relative import) by its file, so
the judges can share the pack's single definition of a format or a shape without importing the
pack, whose ``nodes`` package needs ComfyUI."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]


def plain_pack_module(relative_path: str):
    """The module at ``PACK_ROOT / relative_path``, loaded once per process."""
    name = "nested_plain_" + relative_path.removesuffix(".py").replace("/", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PACK_ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
