"""A tiny real Flux (flow DiT with a guidance embedding) from ComfyUI's own classes, like
tiny_models.py's UNet: seeded random weights, no download. It is the family of FluxGuidance,
ModelSamplingFlux, the skip-layer guidance nodes (they replace its ``dit`` double and single
blocks) and the Redux style model."""

from __future__ import annotations

import dataclasses

import torch

import comfy.latent_formats
import comfy.ldm.flux.model
import comfy.model_base

from tiny_models import CONTEXT_DIM, TOKENS
from tiny_video_models import _config, _patcher

FLUX_CHANNELS = 16
FLUX_CONFIG = {
    "image_model": "flux", "in_channels": FLUX_CHANNELS, "out_channels": FLUX_CHANNELS,
    "vec_in_dim": CONTEXT_DIM, "context_in_dim": CONTEXT_DIM, "hidden_size": 64, "mlp_ratio": 2.0,
    "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 12, 12], "theta": 10000,
    "patch_size": 2, "qkv_bias": True, "guidance_embed": True,
}


def _host_config() -> dict:
    # Newer hosts' FluxParams require txt_ids_dims (plain Flux detects as []); 0.3.64 has no such field.
    fields = {f.name for f in dataclasses.fields(comfy.ldm.flux.model.FluxParams)}
    return {**FLUX_CONFIG, **({"txt_ids_dims": []} if "txt_ids_dims" in fields else {})}


def build_tiny_flux(seed: int = 0):
    cfg = _config(comfy.latent_formats.Flux, _host_config(), {})
    return _patcher(comfy.model_base.Flux(cfg, device="cpu"), seed)


def flux_conditioning(seed: int = 1, zero: bool = False) -> list:
    """CONDITIONING for Flux: T5-like tokens and a CLIP-like pooled vector."""
    if zero:
        return [[torch.zeros(1, TOKENS, CONTEXT_DIM), {"pooled_output": torch.zeros(1, CONTEXT_DIM)}]]
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, TOKENS, CONTEXT_DIM, generator=g),
             {"pooled_output": torch.randn(1, CONTEXT_DIM, generator=g)}]]


def empty_flux_latent(side: int = 8) -> dict:
    return {"samples": torch.zeros(1, FLUX_CHANNELS, side, side)}
