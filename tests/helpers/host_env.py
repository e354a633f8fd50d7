"""Where the real ComfyUI is, and how the pack is imported into it, for the host tests."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]
PACK_MODULE = "nested_diffusion_pack"
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
SKIP_REASON = ("ComfyUI host tests skipped: set COMFYUI_PATH to a ComfyUI checkout (0.3.64 or later) "
               "and run with its Python to enable them")


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def supported_floor() -> str:
    """The oldest ComfyUI the pack declares it supports (``requires-comfyui`` in pyproject.toml)."""
    text = (PACK_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^requires-comfyui\s*=\s*">=\s*([0-9.]+)"', text, re.MULTILINE)
    if match is None:
        raise ValueError('pyproject.toml has no requires-comfyui = ">=X.Y.Z" line')
    return match.group(1)


def host_version(root: str | os.PathLike | None = COMFYUI_PATH) -> str:
    """The ComfyUI version of the checkout at ``root`` (its comfyui_version.py)."""
    text = (Path(root) / "comfyui_version.py").read_text(encoding="utf-8")
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if match is None:
        raise ValueError(f"no __version__ in {Path(root) / 'comfyui_version.py'}")
    return match.group(1)


def host_frontend_version(root: str | os.PathLike | None = COMFYUI_PATH) -> str:
    """The frontend package version the checkout pins in requirements.txt, or "unknown"."""
    text = (Path(root) / "requirements.txt").read_text(encoding="utf-8")
    match = re.search(r"^comfyui-frontend-package==([0-9.]+)", text, re.MULTILINE)
    return match.group(1) if match else "unknown"


def import_comfy() -> None:
    root = str(Path(COMFYUI_PATH).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    # Before anything imports comfy.model_management: these machines have no CUDA.
    from comfy.cli_args import args
    args.cpu = True


def load_pack(root: Path | None = None):
    """Import the pack the way ComfyUI does: as a package, under a name that is not ``nodes``.
    ``root``: another copy of the pack (e.g. an older checkout, for a bench's comparison), loaded
    under the same name instead of this one."""
    root = PACK_ROOT if root is None else Path(root).resolve()
    if root == PACK_ROOT and PACK_MODULE in sys.modules:
        return sys.modules[PACK_MODULE]
    spec = importlib.util.spec_from_file_location(
        PACK_MODULE, root / "__init__.py", submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_MODULE] = module
    spec.loader.exec_module(module)
    return module
