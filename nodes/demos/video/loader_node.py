"""NestedDiffusionDemoVideoModel: the shipped video demo as MODEL, CLIP and VAE (no downloads)."""

from __future__ import annotations

from .clip_shape import CANVAS, FPS, FRAMES
from .video_model import load_video_demo

IMAGE_SIDE = CANVAS * 8       # VAE Decode draws every latent pixel as an 8x8 patch
EMPTY_LENGTH = 4 * (FRAMES - 1) + 1   # what Empty HunyuanVideo Latent's "length" must be for FRAMES latent frames

DESCRIPTION = (
    "A tiny video model (ComfyUI's WAN 2.1 at a toy size) trained on handwritten digits sliding across a "
    "16x16 canvas, shipped with this pack: try Nested Diffusion on video without downloading a model. "
    "CLIP Text Encode takes a digit and, optionally, a direction: \"7\", \"7 moving left\" (left, right, up, "
    "down); an empty text is the unconditional prompt (use it as the negative). Empty latent: core "
    f"\"Empty HunyuanVideo Latent\" with width {IMAGE_SIDE}, height {IMAGE_SIDE}, length {EMPTY_LENGTH} gives "
    f"the model's 1x{FRAMES}x{CANVAS}x{CANVAS} latent ({FRAMES} frames; ComfyUI adapts the channels). "
    f"VAE Decode gives {FRAMES} {IMAGE_SIDE}x{IMAGE_SIDE} grey frames per clip; the clips play at {FPS} fps. "
    "Good settings: cfg 3, 5 outer x 20 inner steps.")


class NestedDiffusionDemoVideoModel:
    CATEGORY = "sampling/nested_diffusion"
    DESCRIPTION = DESCRIPTION
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    RETURN_NAMES = ("MODEL", "CLIP", "VAE")
    OUTPUT_TOOLTIPS = (
        f"The digit-clips video model (WAN 2.1 class, flow; 1x{FRAMES}x{CANVAS}x{CANVAS} latent).",
        "Turns a text naming a digit (and a direction) into its conditioning; empty text is unconditional.",
        f"Turns each {CANVAS}x{CANVAS} latent frame into a {IMAGE_SIDE}x{IMAGE_SIDE} grey frame, and back.",
    )
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def load(self):
        return load_video_demo()
