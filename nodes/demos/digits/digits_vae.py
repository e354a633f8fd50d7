"""The demo's VAE: ComfyUI's own TAESD class with hand-set weights that only redraw pixels.

There is nothing to learn: the latent is the digit image itself (see ``digit_space``). The
weights make TAESD's decoder upscale the 8x8 latent bilinearly to 16x16 and then draw each
pixel as a 4x4 block (64x64 IMAGE), and its encoder average 8x8 areas back to a latent. Because
it is a real ``comfy.sd.VAE``, VAE Decode, VAE Encode and their tiled variants work unchanged.
"""

from __future__ import annotations

import math

import torch

import comfy.sd
import comfy.taesd.taesd

KNOTS = 63           # pieces of the piecewise-linear undoing of TAESD's input clamp
BLUR = torch.tensor([0.25, 0.5, 0.25])  # nearest 2x upsample then this kernel = bilinear 2x


def _undo_clamp_pieces() -> tuple[torch.Tensor, torch.Tensor]:
    """Knots b_k and weights a_k with sum_k a_k relu(b_k - c) = ink(l), where TAESD's decoder
    first maps the latent l to c = 3 tanh(l / 3), and ink = (1 - l) / 2 (0 at l = 1, 1 at l = -1)."""
    top = 3.0 * math.tanh(1.0 / 3.0)
    knots = torch.linspace(top, -top, KNOTS, dtype=torch.float64)
    ink = (1.0 - 3.0 * torch.atanh(knots / 3.0)) / 2.0
    slopes = (ink[1:] - ink[:-1]) / (knots[:-1] - knots[1:])
    slopes = torch.cat([slopes, slopes[-1:]])  # beyond full ink: keep going, clamped at decode
    weights = torch.cat([slopes[:1], slopes[1:] - slopes[:-1]])
    return knots.float(), weights.float()


def _centre(weight: torch.Tensor, out_ch: int, in_ch: int, value: float) -> None:
    weight[out_ch, in_ch, 1, 1] = value


def taesd_state_dict(latent_channels: int = 1) -> dict[str, torch.Tensor]:
    """Weights for ``comfy.taesd.taesd.TAESD`` that make it the demo's pixel redrawing."""
    layout = comfy.taesd.taesd.TAESD(latent_channels=latent_channels).state_dict()
    sd = {k: torch.zeros(v.shape, dtype=torch.float32) for k, v in layout.items()}
    sd["vae_scale"] = torch.tensor(1.0)
    sd["vae_shift"] = torch.tensor(0.0)
    knots, weights = _undo_clamp_pieces()
    dec = "taesd_decoder."
    for k in range(KNOTS):                           # channel k = relu(b_k - c)
        _centre(sd[dec + "1.weight"], k, 0, -1.0)
        sd[dec + "1.bias"][k] = knots[k]
    blur = torch.outer(BLUR, BLUR)
    sd[dec + "7.weight"][0, :KNOTS] = weights[:, None, None] * blur  # ink, upscaled bilinearly
    for layer in ("12", "17"):                       # later upsamples stay nearest
        _centre(sd[dec + layer + ".weight"], 0, 0, 1.0)
    for rgb in range(3):                             # white paper, dark ink
        _centre(sd[dec + "19.weight"], rgb, 0, -1.0)
        sd[dec + "19.bias"][rgb] = 1.0
    enc = "taesd_encoder."
    for rgb in range(3):                             # grey = mean of the channels
        _centre(sd[enc + "0.weight"], 0, rgb, 1.0 / 3.0)
    for layer in ("2", "6", "10"):                   # stride-2 convs: average each 2x2 block
        sd[enc + layer + ".weight"][0, 0, 1:, 1:] = 0.25
    for c in range(latent_channels):                 # latent = 2 * grey - 1
        _centre(sd[enc + "14.weight"], c, 0, 2.0)
        sd[enc + "14.bias"][c] = -1.0
    return sd


def build_vae() -> comfy.sd.VAE:
    return comfy.sd.VAE(sd=taesd_state_dict(), dtype=torch.float32)
