"""NestedDiffusionDemoModel: the shipped digits model as MODEL, CLIP and VAE (no downloads)."""

from __future__ import annotations

from .demo_model import load_demo
from .digit_space import IMAGE_SIZE

DESCRIPTION = (
    "A tiny diffusion model trained on handwritten digits, shipped with this pack: try Nested Diffusion "
    "without downloading a checkpoint. Use it like Load Checkpoint. CLIP Text Encode takes a digit: \"7\", "
    "\"seven\" or \"a handwritten 7\" (the first digit named counts); an empty text is the unconditional "
    f"prompt (use it as the negative). Empty Latent Image: width and height {IMAGE_SIZE} (an 8x8 latent). "
    f"VAE Decode draws each digit as a {IMAGE_SIZE}x{IMAGE_SIZE} grey image. Good settings: cfg 3, "
    "5 outer x 20 inner steps.")


class NestedDiffusionDemoModel:
    CATEGORY = "sampling/nested_diffusion"
    DESCRIPTION = DESCRIPTION
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    RETURN_NAMES = ("MODEL", "CLIP", "VAE")
    OUTPUT_TOOLTIPS = (
        "The digits diffusion model (v-prediction, 8x8 one-channel latent).",
        "Turns a text naming a digit into its conditioning; empty text is unconditional.",
        "Turns the 8x8 latent into a 64x64 grey image, and back.",
    )
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def load(self):
        return load_demo()
