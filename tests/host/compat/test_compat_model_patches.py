"""Compatibility matrix, weights and model patches: each MODEL -> MODEL node in front of
NestedKSampler and of SamplerCustomAdvanced + SamplerNestedDiffusion, on the tiny model of the
family it targets (and the digits demo where it has what the node patches). See compat_stack.py
for the two checks; docs/compatibility-matrix.md for the results."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from compat_families import base_stack, demo, demo_latent, encode, family_model, model_case
from compat_stack import Case, Stack, call_node, check_identity, check_runs, lora_name, matrix_params, tiny_lora

# A cache starts a fresh state at every inner run (docs/schedule-position.md): it needs an inner run long
# enough to reuse a call within it before its effect shows.
CACHE_INNER = 6

def lora_for(family: str):
    return lambda model: lora_name(f"compat-{family}", tiny_lora(model))


def demo_lora_loader(apply: bool) -> Stack:
    """LoraLoader (MODEL and CLIP) on the demo; the prompt is encoded by the CLIP it returns."""
    model, clip, _ = demo()
    if apply:
        model, clip = call_node("LoraLoader", model=model, clip=clip, lora_name=lora_for("demo")(model),
                                strength_model=1.0, strength_clip=1.0)
    return Stack(model, encode(clip, "7"), encode(clip, ""), demo_latent())


def differential_diffusion(apply: bool) -> Stack:
    """DifferentialDiffusion on an inpainting latent whose mask ramps from keep (0) to redraw (1)."""
    model = family_model("eps")
    if apply:
        model = call_node("DifferentialDiffusion", model=model)[0]
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4)),
              "noise_mask": torch.linspace(0.0, 1.0, 8).expand(1, 1, 8, 8).clone()}
    return dataclasses.replace(base_stack("eps", model), latent=latent)


FREEU = {"b1": 1.3, "b2": 1.4, "s1": 0.9, "s2": 0.2}
CASES = [
    model_case("LoraLoaderModelOnly", "eps", lora_name=lora_for("unet"), strength_model=1.0),
    model_case("LoraLoaderModelOnly", "flow", lora_name=lora_for("unet"), strength_model=1.0),
    Case("LoraLoader", "demo", demo_lora_loader),
    model_case("FreeU", "eps", **FREEU),
    model_case("FreeU", "v_prediction", **FREEU),
    model_case("FreeU_V2", "eps", **FREEU),
    model_case("PerturbedAttentionGuidance", "eps", scale=3.0),
    model_case("PerturbedAttentionGuidance", "demo", scale=3.0),
    model_case("SelfAttentionGuidance", "eps", scale=0.5, blur_sigma=2.0),
    model_case("SelfAttentionGuidance", "demo", scale=0.5, blur_sigma=2.0),
    model_case("RescaleCFG", "v_prediction", multiplier=0.7),
    model_case("RescaleCFG", "demo", multiplier=0.7),
    model_case("SkipLayerGuidanceDiT", "flux", double_layers="0", single_layers="0", scale=3.0, start_percent=0.0,
               end_percent=0.5, rescaling_scale=0.0),
    model_case("SkipLayerGuidanceDiT", "video", double_layers="0", single_layers="", scale=3.0, start_percent=0.0,
               end_percent=1.0, rescaling_scale=0.0),
    model_case("SkipLayerGuidanceDiTSimple", "flux", double_layers="0", single_layers="0", start_percent=0.0,
               end_percent=1.0),
    model_case("SkipLayerGuidanceSD3", "sd3", layers="1", scale=3.0, start_percent=0.0, end_percent=1.0),
    model_case("APG", "eps", eta=0.5, norm_threshold=1.0, momentum=-0.5),
    model_case("CFGZeroStar", "flow"),
    model_case("CFGZeroStar", "video"),
    model_case("CFGNorm", "eps", strength=1.0),
    model_case("Mahiro", "eps"),
    Case("DifferentialDiffusion", "eps", differential_diffusion),
    model_case("ModelSamplingDiscrete", "eps", sampling="v_prediction", zsnr=False),
    model_case("ModelSamplingSD3", "flow", shift=6.0),
    model_case("ModelSamplingSD3", "video", shift=3.0),
    model_case("ModelSamplingSD3", "sd3", shift=6.0),
    model_case("ModelSamplingAuraFlow", "flow", shift=1.73),
    model_case("ModelSamplingFlux", "flux", max_shift=1.15, base_shift=0.5, width=512, height=512),
    model_case("EasyCache", "video", effect_inner=CACHE_INNER,
               reuse_threshold=3.0, start_percent=0.0, end_percent=1.0, verbose=False),
    model_case("EasyCache", "eps", effect_inner=CACHE_INNER,
               reuse_threshold=3.0, start_percent=0.0, end_percent=1.0, verbose=False),
    model_case("EasyCache", "demo", effect_inner=CACHE_INNER,
               reuse_threshold=3.0, start_percent=0.0, end_percent=1.0, verbose=False),
    model_case("LazyCache", "video", effect_inner=CACHE_INNER,
               reuse_threshold=3.0, start_percent=0.0, end_percent=1.0, verbose=False),
    model_case("LazyCache", "eps", effect_inner=CACHE_INNER,
               reuse_threshold=3.0, start_percent=0.0, end_percent=1.0, verbose=False),
]


@pytest.mark.parametrize("case,path", matrix_params(CASES))
def test_runs(case, path):
    check_runs(case, path)


@pytest.mark.parametrize("case,path", matrix_params(CASES, identity=True))
def test_meaning_kept(case, path):
    check_identity(case, path)
