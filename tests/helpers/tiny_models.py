"""The tiny real models of the tests and benchmarks, built from ComfyUI's own classes for machines
without checkpoints: the same model, patcher and sampling code paths as the real families, with
seeded random weights and no download, a fraction of a second per model call on CPU. Import only
after ComfyUI's ``args.cpu`` is set (see tests/host/conftest.py).

* ``build_tiny_model``: a 2-level SD-style UNet (eps, v_prediction or flow), with
  ``tiny_conditioning``; ``build_tiny_controlnet``: a ControlNet of the same shape.
* ``build_tiny_video_model``: a one-block WAN 2.1 text-to-video transformer (5-D latents,
  16 channels, flow); both supported hosts have ``comfy.model_base.WAN21``.
* ``build_tiny_video_vae``: a VAE for those latents from the host's classes: the TAEHV decoder
  ComfyUI loads for Wan 2.1 (``lighttaew2_1``, 0.3.76+), else the Wan 2.1 VAE's decoder.
* ``build_tiny_av_model``: a one-block LTXAV (video with audio), whose LATENT is a
  ``NestedTensor`` of a video and an audio stream that the host samples packed into one flat
  tensor. Only hosts with ``comfy.nested_tensor`` (0.3.76+) have it.
* ``build_tiny_flux`` / ``build_tiny_sd3``: tiny DiTs. A Flux with a guidance embedding (the family
  of FluxGuidance, ModelSamplingFlux, the DiT skip-layer guidance nodes and the Redux style model)
  and an SD3 MMDiT (SkipLayerGuidanceSD3, ModelSamplingSD3); both take ``flux_conditioning``'s prompts.
"""

from __future__ import annotations

import dataclasses
import importlib.util

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


def _config(latent_format, unet_config: dict, sampling: dict):
    class TinyConfig(comfy.supported_models_base.BASE):
        unet_extra_config = {}
        supported_inference_dtypes = [torch.float32]

    TinyConfig.latent_format = latent_format
    TinyConfig.sampling_settings = dict(sampling)
    cfg = TinyConfig(dict(unet_config))
    cfg.set_inference_dtype(torch.float32, None)
    return cfg


def _patcher(model, seed: int) -> comfy.model_patcher.ModelPatcher:
    seed_weights(model.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(
        model,
        load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device(),
    )


def build_tiny_model(kind: str = "eps", seed: int = 0) -> comfy.model_patcher.ModelPatcher:
    """A ModelPatcher around a tiny random UNet of the given prediction kind."""
    model_type, sampling_settings = MODEL_TYPES[kind]
    cfg = TinyUNetConfig(dict(UNET_CONFIG))
    if sampling_settings:
        cfg.sampling_settings.update(sampling_settings)
    cfg.set_inference_dtype(torch.float32, None)
    model = comfy.model_base.BaseModel(cfg, model_type=model_type, device="cpu")
    return _patcher(model, seed)


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


# ---- video models (WAN 2.1, LTXAV) ------------------------------------------------------------

PACKED_LATENTS_MISSING = ("this ComfyUI has no packed multi-latent models (comfy.nested_tensor, "
                          "added in 0.3.76): nothing to test")

VIDEO_CHANNELS = 16
WAN_CONFIG = {
    "image_model": "wan2.1", "model_type": "t2v", "patch_size": (1, 2, 2), "text_len": TOKENS,
    "in_dim": VIDEO_CHANNELS, "out_dim": VIDEO_CHANNELS, "dim": 32, "ffn_dim": 64, "freq_dim": 32,
    "text_dim": CONTEXT_DIM, "num_heads": 2, "num_layers": 1,
}

AV_VIDEO_CHANNELS = 128       # LTXAV's video latent (its latent2rgb table has 128 rows)
AV_AUDIO_SHAPE = (8, 16)      # LTXAV's audio latent: (channels, frequency bins) around time
AV_CONTEXT_DIM = 2 * 32       # video + audio cross-attention widths: an already processed text embedding
LTXAV_CONFIG = {
    "image_model": "ltxav", "in_channels": AV_VIDEO_CHANNELS, "audio_in_channels": 128,
    "cross_attention_dim": 32, "audio_cross_attention_dim": 32, "caption_channels": 32,
    "attention_head_dim": 16, "audio_attention_head_dim": 16, "num_attention_heads": 2,
    "audio_num_attention_heads": 2, "num_layers": 1,
    "connector_attention_head_dim": 16, "connector_num_attention_heads": 2, "connector_num_layers": 1,
}


def host_packs_latents() -> bool:
    return importlib.util.find_spec("comfy.nested_tensor") is not None


def build_tiny_video_model(seed: int = 0) -> comfy.model_patcher.ModelPatcher:
    cfg = _config(comfy.latent_formats.Wan21, WAN_CONFIG, {"shift": 8.0})
    return _patcher(comfy.model_base.WAN21(cfg, device="cpu"), seed)


def empty_video_latent(batch: int = 1, frames: int = 3, side: int = 8) -> dict:
    return {"samples": torch.zeros(batch, VIDEO_CHANNELS, frames, side, side)}


def tiny_video_tae_decoder(seed: int = 0) -> dict | None:
    """A seeded state dict of the TAEHV decoder ComfyUI loads for Wan 2.1 latents (``lighttaew2_1``
    in ``models/vae_approx``), or None on hosts without that class (before 0.3.76)."""
    if importlib.util.find_spec("comfy.taesd.taehv") is None:
        return None
    import comfy.taesd.taehv

    tae = comfy.taesd.taehv.TAEHV(latent_channels=VIDEO_CHANNELS)
    seed_weights(tae, seed)
    return {k: v.contiguous() for k, v in tae.state_dict().items() if k.startswith("decoder.")}


def build_tiny_video_vae(seed: int = 0):
    """A decode-only VAE for the tiny WAN's latents (4x frames, 8x pixels, as Wan 2.1's VAE). On
    hosts without TAEHV it is Wan 2.1's own VAE decoder (73 M parameters: about 1.3 GB and 3 s
    to decode a 2x4x4 latent on one core, so keep its latents small)."""
    decoder = tiny_video_tae_decoder(seed)
    if decoder is None:
        from comfy.ldm.wan.vae import WanVAE

        wan = WanVAE(dim=96, z_dim=VIDEO_CHANNELS, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                                       attn_scales=[], temperal_downsample=[False, True, True])
        seed_weights(wan.decoder, seed)
        seed_weights(wan.conv2, seed)
        decoder = {k: v for k, v in wan.state_dict().items() if k.startswith(("decoder.", "conv2."))}
        del wan
    import comfy.sd

    return comfy.sd.VAE(sd=decoder)


def build_tiny_av_model(seed: int = 0) -> comfy.model_patcher.ModelPatcher:
    cfg = _config(comfy.latent_formats.LTXAV, LTXAV_CONFIG, {"shift": 2.37})
    return _patcher(comfy.model_base.LTXAV(cfg, device="cpu"), seed)


def empty_av_latent(batch: int = 1, frames: int = 2, side: int = 2, audio_steps: int = 5) -> dict:
    """An audio-video LATENT as LTXV's concat node builds it: NestedTensor((video, audio))."""
    import comfy.nested_tensor

    video = torch.zeros(batch, AV_VIDEO_CHANNELS, frames, side, side)
    audio = torch.zeros(batch, AV_AUDIO_SHAPE[0], audio_steps, AV_AUDIO_SHAPE[1])
    return {"samples": comfy.nested_tensor.NestedTensor((video, audio))}


def av_conditioning(seed: int = 1, zero: bool = False) -> list:
    if zero:
        return [[torch.zeros(1, TOKENS, AV_CONTEXT_DIM), {}]]
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, TOKENS, AV_CONTEXT_DIM, generator=g), {}]]


# ---- DiTs (Flux, SD3) ----------------------------------------------------------------------

FLUX_CHANNELS = 16
FLUX_CONFIG = {
    "image_model": "flux", "in_channels": FLUX_CHANNELS, "out_channels": FLUX_CHANNELS,
    "vec_in_dim": CONTEXT_DIM, "context_in_dim": CONTEXT_DIM, "hidden_size": 64, "mlp_ratio": 2.0,
    "num_heads": 2, "depth": 1, "depth_single_blocks": 1, "axes_dim": [8, 12, 12], "theta": 10000,
    "patch_size": 2, "qkv_bias": True, "guidance_embed": True,
}


def _host_config() -> dict:
    import comfy.ldm.flux.model

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
