"""Test-only ComfyUI nodes for the server-level tests: a tiny random-weight MODEL and a
CONDITIONING, so real prompts run on CPU without downloaded weights.

ComfyUI imports this folder as a custom-node pack (V1 API). The builders live in
tests/helpers/tiny_models.py, loaded here by absolute path because the server's sys.path is
ComfyUI's own, not the tests' (and the repo root must never be on it: its ``nodes/`` folder
would shadow ComfyUI's ``nodes`` module).
"""

import importlib.util
import sys
from pathlib import Path

_TESTS_DIR = Path(__file__).resolve().parents[5]
_TINY_MODULE = "nested_test_nodes_tiny_models"


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


tiny_models = _load(_TINY_MODULE, _TESTS_DIR / "helpers" / "tiny_models.py")
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


class NestedTestTinyVideoModel:
    """A one-block WAN 2.1 text-to-video transformer with seeded random weights (16-channel 5-D
    latents, as EmptyHunyuanLatentVideo makes them)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": SEED}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "build"
    CATEGORY = "_for_testing/nested_diffusion"

    def build(self, seed):
        return (tiny_models.build_tiny_video_model(seed),)


class NestedTestTinyVideoVAE:
    """A VAE for the tiny WAN's latents, from ComfyUI's own classes with seeded weights."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": SEED}}

    RETURN_TYPES = ("VAE",)
    FUNCTION = "build"
    CATEGORY = "_for_testing/nested_diffusion"

    def build(self, seed):
        return (tiny_models.build_tiny_video_vae(seed),)


NODE_CLASS_MAPPINGS = {
    "NestedTestTinyModel": NestedTestTinyModel,
    "NestedTestConditioning": NestedTestConditioning,
    "NestedTestTinyVideoModel": NestedTestTinyVideoModel,
    "NestedTestTinyVideoVAE": NestedTestTinyVideoVAE,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "NestedTestTinyModel": "Nested test: tiny model",
    "NestedTestConditioning": "Nested test: conditioning",
    "NestedTestTinyVideoModel": "Nested test: tiny video model",
    "NestedTestTinyVideoVAE": "Nested test: tiny video VAE",
}
