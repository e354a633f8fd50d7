"""Test-only ComfyUI nodes for the server-level tests: a tiny random-weight MODEL (an SD-style
UNet, or a one-block WAN 2.1 video transformer) and a CONDITIONING, so real prompts run on CPU
without downloaded weights.

ComfyUI imports this folder as a custom-node pack (V1 API). The builders live in
tests/helpers/tiny_models.py and tests/host/tiny_video_models.py, loaded here by absolute path
because the server's sys.path is ComfyUI's own, not the tests' (and the repo root must never be
on it: its ``nodes/`` folder would shadow ComfyUI's ``nodes`` module).
"""

import importlib.util
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[4]
_TINY_MODULE = "nested_test_nodes_tiny_models"
_TINY_VIDEO_MODULE = "nested_test_nodes_tiny_video_models"


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tiny_models = _load(_TINY_MODULE, _TESTS / "helpers" / "tiny_models.py")


def _tiny_video_models():
    # tiny_video_models.py imports ``tiny_models`` by its plain name (the tests put
    # tests/helpers on sys.path); here that name is the module loaded above.
    sys.modules.setdefault("tiny_models", tiny_models)
    return _load(_TINY_VIDEO_MODULE, _TESTS / "host" / "tiny_video_models.py")
SEED = ("INT", {"default": 0, "min": 0, "max": 2**31 - 1})


class NestedTestTinyModel:
    """A tiny SD-style UNet with seeded random weights, of the given prediction kind."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"kind": (list(tiny_models.MODEL_TYPES),), "seed": SEED}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "build"
    CATEGORY = "_for_testing/nested_diffusion"

    def build(self, kind, seed):
        # Runs inside the executor's inference_mode; in-place init of the new weights is fine.
        return (tiny_models.build_tiny_model(kind, seed),)


class NestedTestTinyVideoModel:
    """A one-block WAN 2.1 text-to-video model with seeded random weights (16-channel 5-D
    latents, as EmptyHunyuanLatentVideo makes them; the conditioning above fits it)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": SEED}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "build"
    CATEGORY = "_for_testing/nested_diffusion"

    def build(self, seed):
        return (_tiny_video_models().build_tiny_video_model(seed),)


class NestedTestConditioning:
    """A CONDITIONING matching the tiny model's context size (random, or zeros)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": SEED, "zero": ("BOOLEAN", {"default": False})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "_for_testing/nested_diffusion"

    def make(self, seed, zero):
        return (tiny_models.tiny_conditioning(seed, zero),)


NODE_CLASS_MAPPINGS = {
    "NestedTestTinyModel": NestedTestTinyModel,
    "NestedTestTinyVideoModel": NestedTestTinyVideoModel,
    "NestedTestConditioning": NestedTestConditioning,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "NestedTestTinyModel": "Nested test: tiny model",
    "NestedTestTinyVideoModel": "Nested test: tiny video model",
    "NestedTestConditioning": "Nested test: conditioning",
}
