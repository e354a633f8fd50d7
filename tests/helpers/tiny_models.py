"""Tiny real models built from ComfyUI's own classes, for tests and benchmarks on machines without
checkpoints: the same model, patcher and sampling code paths as a real SD-style model.

They use no downloaded weights: a 2-level SD-style UNet with seeded random weights, wrapped in
a real ``ModelPatcher``. Import only after ComfyUI's ``args.cpu`` is set (see conftest).
"""

from __future__ import annotations

import torch

import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models_base

MODEL_TYPES = {
    "eps": (comfy.model_base.ModelType.EPS, None),
    "v_prediction": (comfy.model_base.ModelType.V_PREDICTION, None),
    "flow": (comfy.model_base.ModelType.FLOW, {"shift": 3.0, "multiplier": 1.0}),
}

CONTEXT_DIM = 32
TOKENS = 8


class TinyUNetConfig(comfy.supported_models_base.BASE):
    unet_config = {}
    unet_extra_config = {"num_heads": -1, "num_head_channels": 16}
    latent_format = comfy.latent_formats.SD15
    supported_inference_dtypes = [torch.float32]


UNET_CONFIG = {
    "use_checkpoint": False, "image_size": 32, "use_spatial_transformer": True, "legacy": False,
    "in_channels": 4, "out_channels": 4, "model_channels": 32,
    "num_res_blocks": [1, 1], "channel_mult": [1, 2],
    "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1],
    "transformer_depth_middle": 1, "context_dim": CONTEXT_DIM, "use_linear_in_transformer": True,
    "adm_in_channels": None, "use_temporal_resblock": False, "use_temporal_attention": False,
}


def seed_weights(module: torch.nn.Module, seed: int) -> None:
    """Seeded, scale-preserving weights. comfy.ops leaves weights uninitialised (torch.empty):
    fill them or the output is NaN."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1:
                p.fill_(0.0 if name.endswith("bias") else 1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * p[0].numel() ** -0.5)


def build_tiny_model(kind: str = "eps", seed: int = 0) -> comfy.model_patcher.ModelPatcher:
    """A ModelPatcher around a tiny random UNet of the given prediction kind."""
    model_type, sampling_settings = MODEL_TYPES[kind]
    cfg = TinyUNetConfig(dict(UNET_CONFIG))
    if sampling_settings:
        cfg.sampling_settings.update(sampling_settings)
    cfg.set_inference_dtype(torch.float32, None)
    model = comfy.model_base.BaseModel(cfg, model_type=model_type, device="cpu")
    seed_weights(model.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(
        model,
        load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device(),
    )


def tiny_conditioning(seed: int = 1, zero: bool = False) -> list:
    """A CONDITIONING list: one cross-attention tensor (1, TOKENS, CONTEXT_DIM)."""
    if zero:
        return [[torch.zeros(1, TOKENS, CONTEXT_DIM), {}]]
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, TOKENS, CONTEXT_DIM, generator=g), {}]]


def build_tiny_controlnet(seed: int = 2):
    """A ComfyUI ControlNet with the tiny UNet's shape and seeded random weights (no download)."""
    import comfy.cldm.cldm
    import comfy.controlnet

    config = {k: v for k, v in UNET_CONFIG.items() if k not in ("out_channels", "transformer_depth_output")}
    control_model = comfy.cldm.cldm.ControlNet(hint_channels=3, num_heads=-1, num_head_channels=16,
                                               dtype=torch.float32, device="cpu", **config)
    seed_weights(control_model, seed)
    return comfy.controlnet.ControlNet(control_model, load_device=comfy.model_management.get_torch_device())
