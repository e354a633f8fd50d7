"""The demo's three views of one digit image, and how to go between them (plain torch).

* pixels: ``[B, 1, 8, 8]`` float in ``[0, 1]``, 1 = white paper, 0 = full ink. This is the form
  the classifier takes, and scikit-learn's 8x8 digits map to it as ``1 - value / 16``.
* latent (what a ComfyUI LATENT holds): ``[B, 1, 8, 8]``, ``2 * pixels - 1``, so ``[-1, 1]``.
  The model samples in this space unchanged (scale factor 1).
* IMAGE (what VAE Decode gives): ``[B, 64, 64, 3]`` in ``[0, 1]``: the digit bilinearly
  upscaled to 16x16, then each pixel drawn as a 4x4 block, grey on all three channels.
"""

from __future__ import annotations

import torch

LATENT_SIZE = 8        # the data's own resolution: load_digits images are 8x8
IMAGE_SCALE = 8        # VAE Decode draws every latent pixel as an 8x8 patch of the IMAGE
IMAGE_SIZE = LATENT_SIZE * IMAGE_SCALE


def pixels_from_latent(latent: torch.Tensor) -> torch.Tensor:
    return ((latent.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def latent_from_pixels(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float() * 2.0 - 1.0


def pixels_from_image(image: torch.Tensor) -> torch.Tensor:
    """A ComfyUI IMAGE ``[B, H, W, C]`` (any size) -> pixels, by averaging channels and 8x8 areas."""
    grey = image.float().mean(dim=-1, keepdim=True).movedim(-1, 1)
    return torch.nn.functional.adaptive_avg_pool2d(grey, LATENT_SIZE).clamp(0.0, 1.0)

