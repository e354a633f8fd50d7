"""The model families of the compatibility matrix, each a function ``apply -> Stack`` builder:
tiny EPS / V / flow UNets, a tiny Flux, a tiny SD3, a tiny WAN video model, and the shipped digits demo.

``model_case(node, family, **inputs)`` applies a MODEL -> MODEL node to the family's model;
``demo()`` is the demo's (MODEL, CLIP, VAE), loaded once."""

from __future__ import annotations

import functools
from typing import Callable

import torch

from compat_stack import INNER, Case, Stack, call_node
from host_fixtures import NODES, conds, empty_latent, tiny
from tiny_models import (
    build_tiny_flux,
    build_tiny_sd3,
    build_tiny_video_model,
    empty_flux_latent,
    empty_video_latent,
    flux_conditioning,
    tiny_conditioning,
)

flux = functools.cache(build_tiny_flux)
video = functools.cache(build_tiny_video_model)
sd3 = functools.cache(build_tiny_sd3)


@functools.cache
def demo():
    return NODES["NestedDiffusionDemoModel"]().load()


def encode(clip, text: str) -> list:
    return call_node("CLIPTextEncode", clip=clip, text=text)[0]


def demo_latent() -> dict:
    return {"samples": torch.zeros(1, 1, 8, 8)}


def base_stack(family: str, model=None) -> Stack:
    """The family's plain stack (its own model unless ``model`` is given)."""
    if family in ("flux", "sd3"):
        own = flux() if family == "flux" else sd3()
        return Stack(model or own, flux_conditioning(1), flux_conditioning(zero=True), empty_flux_latent())
    if family == "video":
        return Stack(model or video(), tiny_conditioning(1), tiny_conditioning(zero=True), empty_video_latent())
    if family == "demo":
        demo_model, clip, _ = demo()
        return Stack(model or demo_model, encode(clip, "7"), encode(clip, ""), demo_latent())
    positive, negative = conds()
    return Stack(model or tiny(family), positive, negative, empty_latent())


def family_model(family: str):
    return base_stack(family).model


def model_case(node: str, family: str, position: str | None = None, effect_inner: int = INNER, **inputs) -> Case:
    """A MODEL -> MODEL node applied to the family's model; inputs may be callables of the model
    (for inputs such as a LoRA file made for that model)."""
    def build(apply: bool) -> Stack:
        model = family_model(family)
        if apply:
            given = {k: (v(model) if callable(v) else v) for k, v in inputs.items()}
            model = call_node(node, model=model, **given)[0]
        return base_stack(family, model)
    return Case(node, family, build, position=position, effect_inner=effect_inner)


def stack_case(node: str, family: str, change: Callable[[Stack], Stack], position: str | None = None,
               **kwargs) -> Case:
    """A node that rewrites the family's stack (conditioning, latent, guider, noise)."""
    def build(apply: bool) -> Stack:
        stack = base_stack(family)
        return change(stack) if apply else stack
    return Case(node, family, build, position=position, **kwargs)


@functools.cache
def inpaint_model():
    """A tiny SD-style inpainting UNet: 9 input channels (latent, mask, masked image), as
    ComfyUI's loader sets one up (``set_inpaint``)."""
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher

    from tiny_models import UNET_CONFIG, TinyUNetConfig, seed_weights

    cfg = TinyUNetConfig({**UNET_CONFIG, "in_channels": 9})
    cfg.set_inference_dtype(torch.float32, None)
    model = comfy.model_base.BaseModel(cfg, device="cpu")
    model.set_inpaint()
    seed_weights(model.diffusion_model, 3)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


@functools.cache
def tiny_vae():
    """A real ComfyUI VAE (TAESD, 4 latent channels, 8x downscale) with seeded random weights."""
    import comfy.sd
    import comfy.taesd.taesd

    from tiny_models import seed_weights

    encoder_decoder = torch.nn.ModuleDict({
        "taesd_encoder": comfy.taesd.taesd.Encoder(4), "taesd_decoder": comfy.taesd.taesd.Decoder(4)})
    seed_weights(encoder_decoder, 4)
    sd = {k: v.detach().clone() for k, v in encoder_decoder.state_dict().items()}
    sd.update({"vae_scale": torch.tensor(1.0), "vae_shift": torch.tensor(0.0)})
    return comfy.sd.VAE(sd=sd, dtype=torch.float32)


# SD 1.5's UNet layout (4 levels, 2 res blocks each) at tiny width: a T2I adapter adds one feature
# map per level, so it needs the full layout, not tiny_models' 2 levels.
SD_LAYOUT = {"channel_mult": [1, 2, 4, 4], "num_res_blocks": [2, 2, 2, 2],
             "transformer_depth": [1, 1, 1, 1, 0, 0, 0, 0],
             "transformer_depth_output": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]}


@functools.cache
def sd_layout_model():
    import comfy.model_base
    import comfy.model_management
    import comfy.model_patcher

    from tiny_models import UNET_CONFIG, TinyUNetConfig, seed_weights

    cfg = TinyUNetConfig({**UNET_CONFIG, **SD_LAYOUT})
    cfg.set_inference_dtype(torch.float32, None)
    model = comfy.model_base.BaseModel(cfg, device="cpu")
    seed_weights(model.diffusion_model, 5)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())
