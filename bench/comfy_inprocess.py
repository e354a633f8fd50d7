"""ComfyUI in-process for the demo-model benches: the real checkout named by COMFYUI_PATH, the pack
imported the way ComfyUI imports it, and a model-call counter.

Shared by quality_vs_nfe.py and demo_cost.py. Nothing here is faked: ComfyUI's own modules are
imported from the checkout, and the demo model comes from the pack's ``nodes/demos/digits``.
"""

from __future__ import annotations

import importlib
import os
import shlex
import sys
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[1]
TEST_HELPERS = PACK_ROOT / "tests" / "helpers"


def require_comfy(script: str) -> None:
    """Exit with one clear line when COMFYUI_PATH is not set."""
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit(f"{script} needs a real ComfyUI: set COMFYUI_PATH to a ComfyUI checkout and run it with that "
                 f"ComfyUI's Python, e.g.\n  cd {PACK_ROOT} && COMFYUI_PATH=/path/to/ComfyUI "
                 f"/path/to/comfy/venv/bin/python bench/{script}")


class Demo:
    """The pack's demo digits model (``nodes/demos/digits``), as the benches use it."""

    def __init__(self, package: str):
        model = importlib.import_module(package + ".demo_model")
        self.load_demo = model.load_demo                      # () -> (MODEL, CLIP, VAE)
        self.digit_conditioning = model.digit_conditioning    # (clip, digit or None) -> CONDITIONING
        from harness import digit_classifier  # bench/harness: the judge is not shipped

        self.classifier = digit_classifier
        space = importlib.import_module(package + ".digit_space")
        self.pixels_from_latent = space.pixels_from_latent    # LATENT samples -> the classifier's pixels
        self.latent_hw = (space.LATENT_SIZE, space.LATENT_SIZE)


def start(threads: int) -> Demo:
    """Import ComfyUI (CPU) and the pack; returns the pack's demo model."""
    if str(TEST_HELPERS) not in sys.path:
        sys.path.insert(0, str(TEST_HELPERS))
    import host_env  # tests/helpers

    host_env.import_comfy()
    import torch

    torch.set_num_threads(threads)
    host_env.load_pack()
    return Demo(host_env.PACK_MODULE + ".nodes.demos.digits")


def pack_module(name: str):
    """A module of the loaded pack, e.g. ``pack_module("nodes.runtime.ksampler_function")``."""
    import host_env  # tests/helpers; on sys.path after start()

    return importlib.import_module(f"{host_env.PACK_MODULE}.{name}")


def command_line(script: str) -> str:
    """The command that reproduces this run, for the printed report."""
    args = " ".join(shlex.quote(a) for a in [f"bench/{script}"] + sys.argv[1:])
    return (f"cd {PACK_ROOT} && COMFYUI_PATH={shlex.quote(os.environ.get('COMFYUI_PATH', ''))} "
            f"{shlex.quote(sys.executable)} {args}")


class ModelCalls:
    """Counts diffusion-model forwards (a batched cond/uncond CFG pair is one) with a forward hook."""

    def __init__(self, model_patcher):
        self.count = 0
        model_patcher.model.diffusion_model.register_forward_hook(self._hook)

    def _hook(self, _module, _inputs, _output):
        self.count += 1
