"""Tiny real DiTs from ComfyUI's own classes, like tiny_models.py's UNet: seeded random
weights, no download. A Flux with a guidance embedding (the family of FluxGuidance,
ModelSamplingFlux, the DiT skip-layer guidance nodes and the Redux style model) and an SD3
MMDiT (SkipLayerGuidanceSD3, ModelSamplingSD3); both take flux_conditioning's prompts."""

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


SD3_CONFIG = {
    "in_channels": FLUX_CHANNELS, "out_channels": FLUX_CHANNELS, "patch_size": 2, "depth": 2,
    "pos_embed_max_size": 8, "num_patches": 64, "adm_in_channels": CONTEXT_DIM,
    "context_embedder_config": {"target": "torch.nn.Linear", "params": {"in_features": CONTEXT_DIM,
                                                                         "out_features": 128}},
}


def build_tiny_sd3(seed: int = 0):
    """A tiny SD3 (MMDiT, 2 joint blocks, hidden size 64 x depth): the family of
    SkipLayerGuidanceSD3 and ModelSamplingSD3. Its conditioning is flux_conditioning's."""
    cfg = _config(comfy.latent_formats.SD3, SD3_CONFIG, {"shift": 3.0})
    model = comfy.model_base.SD3(cfg, device="cpu")
    patcher = _patcher(model, seed)
    # 0.3.64 keeps the position table as a buffer, left uninitialised until a checkpoint fills it.
    table = getattr(model.diffusion_model, "pos_embed", None)
    if table is not None:
        with torch.no_grad():
            table.copy_(torch.randn(table.shape, generator=torch.Generator().manual_seed(seed)) * 0.1)
    return patcher
