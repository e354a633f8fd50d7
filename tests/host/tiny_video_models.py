"""Tiny real video models from ComfyUI's own classes, like tiny_models.py's UNet (host contract,
section 8): seeded random weights, no download, a fraction of a second per model call on CPU.

* ``build_tiny_video_model``: a one-block WAN 2.1 text-to-video transformer (5-D latents,
  16 channels, flow); both supported hosts have ``comfy.model_base.WAN21``.
* ``build_tiny_video_vae``: a VAE for those latents from the host's classes: the TAEHV decoder
  ComfyUI loads for Wan 2.1 (``lighttaew2_1``, 0.3.76+), else the Wan 2.1 VAE's decoder.
* ``build_tiny_av_model``: a one-block LTXAV (video with audio), whose LATENT is a
  ``NestedTensor`` of a video and an audio stream that the host samples packed into one flat
  tensor. Only hosts with ``comfy.nested_tensor`` (0.3.76+) have it.
"""

from __future__ import annotations

import importlib.util

import torch

import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.sd
import comfy.supported_models_base

from tiny_models import CONTEXT_DIM, TOKENS, seed_weights

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


def _config(latent_format, unet_config: dict, sampling: dict):
    class TinyVideoConfig(comfy.supported_models_base.BASE):
        unet_extra_config = {}
        supported_inference_dtypes = [torch.float32]

    TinyVideoConfig.latent_format = latent_format
    TinyVideoConfig.sampling_settings = dict(sampling)
    cfg = TinyVideoConfig(dict(unet_config))
    cfg.set_inference_dtype(torch.float32, None)
    return cfg


def _patcher(model, seed: int) -> comfy.model_patcher.ModelPatcher:
    seed_weights(model.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(
        model,
        load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device(),
    )


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


def build_tiny_video_vae(seed: int = 0) -> comfy.sd.VAE:
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
