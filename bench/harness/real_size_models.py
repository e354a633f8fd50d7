"""Real-size (and tiny) SD 1.5, SDXL and SD3-medium diffusion models for bench/speed/real_size.py,
built from ComfyUI's own classes with random weights: no checkpoint is read or downloaded.

Each model goes the way ComfyUI's checkpoint loader takes it: a full ``unet_config`` (what
``comfy.model_detection.detect_unet_config`` reads off a checkpoint; the values below are those
of the public SD 1.5, SDXL base and SD3-medium checkpoints), matched to its
``comfy.supported_models`` class by ``model_config_from_unet_config`` (so a wrong value fails
loudly instead of silently timing some other network), ``get_model``, and a ``ModelPatcher``.

ComfyUI builds layers with ``comfy.ops.disable_weight_init``: weights are ``torch.empty``, so
building a 2.6 B-parameter UNet takes no time, but the memory holds whatever was there before
(NaN and inf included), and untouched pages would read as zeros without being resident. Every
parameter is therefore filled from one small random pool, scaled by its fan-in so activations
stay finite: a memory-speed copy, seconds even for SDXL. Timings and memory do not depend on
the values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

# Full unet_configs as ComfyUI detects them from the public checkpoints.
SD15_UNET = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 320,
    "num_res_blocks": [2, 2, 2, 2], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1, "use_linear_in_transformer": False,
    "context_dim": 768, "num_heads": 8, "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
SDXL_UNET = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4,
    "model_channels": 320, "num_res_blocks": [2, 2, 2], "transformer_depth": [0, 0, 2, 2, 10, 10],
    "channel_mult": [1, 2, 4], "transformer_depth_middle": 10, "use_linear_in_transformer": True,
    "context_dim": 2048, "num_head_channels": 64, "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
SD3_MEDIUM_MMDIT = {
    "in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 24, "input_size": None,
    "adm_in_channels": 2048,
    "context_embedder_config": {"target": "torch.nn.Linear", "params": {"in_features": 4096, "out_features": 1536}},
    "num_patches": 36864, "pos_embed_max_size": 192, "pos_embed_scaling_factor": None,
    "x_block_self_attn_layers": [],
}

# Tiny stand-ins with the same classes and latent channels, for the --tiny smoke run (seconds).
TINY_SD15_UNET = {**SD15_UNET, "model_channels": 32, "num_res_blocks": [1, 1], "channel_mult": [1, 2],
                  "transformer_depth": [1, 1, 1, 1], "transformer_depth_output": [1, 1, 1, 1],
                  "context_dim": 32, "num_heads": 2}
TINY_SDXL_UNET = {**SDXL_UNET, "model_channels": 32, "num_res_blocks": [1, 1], "channel_mult": [1, 2],
                  "transformer_depth": [0, 1], "transformer_depth_middle": 1,
                  "transformer_depth_output": [0, 0, 1, 1], "context_dim": 64, "num_head_channels": 16,
                  "adm_in_channels": 64 + 6 * 256}
TINY_SD3_MMDIT = {**SD3_MEDIUM_MMDIT, "depth": 2, "num_patches": 64 * 64, "pos_embed_max_size": 64,
                  "adm_in_channels": 32,
                  "context_embedder_config": {"target": "torch.nn.Linear",
                                              "params": {"in_features": 32, "out_features": 128}}}


@dataclass(frozen=True)
class Spec:
    """One architecture as the bench runs it."""

    key: str                 # command-line name
    title: str               # table name
    supported: str           # the comfy.supported_models class it must match
    unet_config: dict
    latent: tuple            # (C, H, W) latent of one image
    pixels: int              # the image side it stands for
    tokens: int              # text tokens of the cross-attention conditioning
    context_dim: int
    pooled_dim: int | None   # pooled text embedding (SDXL, SD3), None when the model takes none
    cfg: float               # any cfg != 1 batches cond and uncond into one forward, as users run
    cpu_dtype: str           # weight dtype on CPU (memory: see real_size.py's note)
    extra: dict = field(default_factory=dict)


REAL = {
    "sd15": Spec("sd15", "SD 1.5 UNet", "SD15", SD15_UNET, (4, 64, 64), 512, 77, 768, None, 7.0, "float32"),
    "sdxl": Spec("sdxl", "SDXL UNet", "SDXL", SDXL_UNET, (4, 128, 128), 1024, 77, 2048, 1280, 7.0, "bfloat16"),
    "sd3": Spec("sd3", "SD3-medium MMDiT", "SD3", SD3_MEDIUM_MMDIT, (16, 128, 128), 1024, 154, 4096, 2048, 4.5,
                "bfloat16"),
}
TINY = {
    "sd15": Spec("sd15", "SD 1.5 UNet (tiny)", "SD15", TINY_SD15_UNET, (4, 16, 16), 128, 8, 32, None, 7.0,
                 "float32"),
    "sdxl": Spec("sdxl", "SDXL UNet (tiny)", "SDXL", TINY_SDXL_UNET, (4, 16, 16), 128, 8, 64, 64, 7.0, "float32"),
    "sd3": Spec("sd3", "SD3 MMDiT (tiny)", "SD3", TINY_SD3_MMDIT, (16, 16, 16), 128, 8, 32, 32, 4.5, "float32"),
}


def spec_for(key: str, tiny: bool, dit_blocks: int | None = None) -> Spec:
    """The spec to run; ``dit_blocks`` keeps SD3-medium's width (1536) and latent but builds only
    that many of its 24 joint blocks (MMDiT's ``num_blocks``), for machines too slow for all 24."""
    spec = (TINY if tiny else REAL)[key]
    depth = spec.unet_config.get("depth")
    if tiny or depth is None or dit_blocks is None or dit_blocks == depth:
        return spec
    if not 1 <= dit_blocks <= depth:
        raise ValueError(f"--dit-blocks must be 1 to {depth}; got {dit_blocks}")
    return replace(spec, title=f"{spec.title} ({dit_blocks} of {depth} blocks)",
                   unet_config={**spec.unet_config, "num_blocks": dit_blocks})


def _fill_from_pool(tensor, chunk) -> None:
    """Fill ``tensor`` with ``chunk`` repeated (periodic values)."""
    flat = tensor.view(-1)
    chunk = chunk.to(dtype=tensor.dtype, device=tensor.device)
    whole = flat.numel() // chunk.numel()
    if whole:
        flat[:whole * chunk.numel()].view(whole, -1).copy_(chunk.expand(whole, -1))
    rest = flat.numel() - whole * chunk.numel()
    if rest:
        flat[-rest:].copy_(chunk[:rest])


def fill_weights(module, seed: int = 0) -> None:
    """Fill every parameter from one random pool, scaled by 1/sqrt(fan-in); norms get 1, biases 0.
    Floating-point buffers that a checkpoint would load (SD3's ``pos_embed`` is made with
    ``torch.empty``) get small values from the same pool, not whatever memory held: left as they
    were, they made a run's output NaN now and then. Periodic values are fine for timing and keep a
    forward finite."""
    import torch

    pool = torch.randn(1 << 20, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim <= 1:
                p.fill_(0.0 if name.endswith(("bias", "shift")) else 1.0)
                continue
            _fill_from_pool(p, pool * p[0].numel() ** -0.5)
        loaded = set(module.state_dict())
        for name, b in module.named_buffers():
            if name in loaded and b.is_floating_point():
                _fill_from_pool(b, pool * 0.02)


def model_config(spec: Spec, dtype, real: bool):
    """The comfy.supported_models config for ``spec``; real sizes must be recognised by ComfyUI."""
    import comfy.model_detection
    import comfy.supported_models

    unet_config = dict(spec.unet_config)
    cls = getattr(comfy.supported_models, spec.supported)
    if real:
        config = comfy.model_detection.model_config_from_unet_config(unet_config)
        if type(config) is not cls:
            raise RuntimeError(f"ComfyUI recognised the {spec.title} config as {type(config).__name__}, "
                               f"not {spec.supported}")
    else:
        config = cls(unet_config)
    config.set_inference_dtype(dtype, None)
    return config


def build(spec: Spec, dtype, device: str, real: bool):
    """A ModelPatcher around the spec's model, weights filled; and its parameter count."""
    import comfy.model_management
    import comfy.model_patcher

    config = model_config(spec, dtype, real)
    model = config.get_model({}, device="cpu")
    fill_weights(model.diffusion_model)
    params = sum(p.numel() for p in model.diffusion_model.parameters())
    patcher = comfy.model_patcher.ModelPatcher(
        model, load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device())
    return patcher, params


def conditioning(spec: Spec, seed: int) -> list:
    """A CONDITIONING list shaped like the spec's text encoders' output (random values)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    cross = torch.randn(1, spec.tokens, spec.context_dim, generator=g)
    extra = {}
    if spec.pooled_dim:
        extra["pooled_output"] = torch.randn(1, spec.pooled_dim, generator=g)
    if spec.supported == "SDXL":
        side = spec.pixels
        extra.update(width=side, height=side, target_width=side, target_height=side)
    return [[cross, extra]]


def latent_mb(spec: Spec) -> float:
    """One fp32 latent of one image, in MB (LATENTs are float32 in ComfyUI)."""
    return math.prod(spec.latent) * 4 / 2**20
