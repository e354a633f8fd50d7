"""Compatibility matrix, conditioning: regional, combined, scheduled and hooked conditioning,
ControlNet, FluxGuidance, the Redux style model and inpaint-model conditioning, in front of
NestedKSampler and of SamplerCustomAdvanced + SamplerNestedDiffusion. See compat_stack.py for
the two checks; docs/compatibility-matrix.md for the results."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import comfy.clip_vision
import comfy.controlnet
import comfy.ldm.flux.redux
import comfy.sd
import comfy.t2i_adapter.adapter

from compat_families import base_stack, demo, encode, inpaint_model, sd_layout_model, stack_case, tiny_vae
from compat_stack import (
    Case,
    Stack,
    call_node,
    check_identity,
    check_runs,
    lora_name,
    matrix_params,
    model_file,
    tiny_lora,
)
from tiny_models import CONTEXT_DIM, build_tiny_controlnet, seed_weights, tiny_conditioning


def other(seed: int = 9) -> list:
    return tiny_conditioning(seed)


def with_positive(make):
    return lambda s: dataclasses.replace(s, positive=make(s))


def combine(a, b):
    return call_node("ConditioningCombine", conditioning_1=a, conditioning_2=b)[0]


def timestep_range(s: Stack, second: list) -> list:
    first = call_node("ConditioningSetTimestepRange", conditioning=s.positive, start=0.0, end=0.5)[0]
    later = call_node("ConditioningSetTimestepRange", conditioning=second, start=0.5, end=1.0)[0]
    return combine(first, later)


def left_half_mask() -> torch.Tensor:
    mask = torch.zeros(1, 64, 64)
    mask[:, :, :32] = 1.0
    return mask


def controlnet(s: Stack, net=None) -> Stack:
    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    positive, negative = call_node("ControlNetApplyAdvanced", positive=s.positive, negative=s.negative,
                                   control_net=net or build_tiny_controlnet(), image=hint, strength=1.0,
                                   start_percent=0.2, end_percent=0.7)
    return dataclasses.replace(s, positive=positive, negative=negative)


def t2i_adapter_case() -> Case:
    """A T2I adapter saved as a file and loaded by ControlNetLoader (ComfyUI detects the adapter
    from its keys), applied from 20% to 70% on a UNet with SD 1.5's four-level layout."""
    def build(apply: bool) -> Stack:
        stack = base_stack("eps", sd_layout_model())
        if not apply:
            return stack
        adapter = comfy.t2i_adapter.adapter.Adapter(cin=3 * 8 * 8, channels=[32, 64, 128, 128], nums_rb=2, ksize=1,
                                                    sk=True, use_conv=False, xl=False)
        seed_weights(adapter, 3)
        name = model_file("controlnet", "compat-t2i-adapter",
                          {k: v.detach().clone() for k, v in adapter.state_dict().items()})
        loaded = call_node("ControlNetLoader", control_net_name=name)[0]
        assert isinstance(loaded, comfy.controlnet.T2IAdapter), type(loaded)
        return controlnet(stack, loaded)
    return Case("ControlNetLoader_T2IAdapter", "sd_layout_eps", build)


def redux(s: Stack) -> list:
    """Flux Redux at tiny width: ComfyUI's ReduxImageEncoder in a StyleModel, fed a seeded
    CLIP-vision output (ComfyUI's Output object; no CLIP vision model is built)."""
    encoder = comfy.ldm.flux.redux.ReduxImageEncoder(redux_dim=16, txt_in_features=CONTEXT_DIM)
    seed_weights(encoder, 6)
    vision = comfy.clip_vision.Output()
    vision["last_hidden_state"] = torch.randn(1, 4, 16, generator=torch.Generator().manual_seed(7))
    return call_node("StyleModelApply", conditioning=s.positive, style_model=comfy.sd.StyleModel(encoder),
                     clip_vision_output=vision, strength=1.0, strength_type="multiply")[0]


def pixels() -> torch.Tensor:
    return torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(8))


def inpaint_case() -> Case:
    """InpaintModelConditioning on a tiny inpainting UNet; without it, the same model and latent
    (VAE Encode of the same pixels) get no mask and no masked image."""
    def build(apply: bool) -> Stack:
        positive, negative = tiny_conditioning(1), tiny_conditioning(zero=True)
        if apply:
            positive, negative, latent = call_node(
                "InpaintModelConditioning", positive=positive, negative=negative, vae=tiny_vae(), pixels=pixels(),
                mask=left_half_mask(), noise_mask=True)
        else:
            latent = call_node("VAEEncode", vae=tiny_vae(), pixels=pixels())[0]
        return Stack(inpaint_model(), positive, negative, latent)
    return Case("InpaintModelConditioning", "inpaint_unet", build)


def hooked(s: Stack, keyframes=None) -> Stack:
    """CreateHookLora (+ SetHookKeyframes) attached to both prompts by PairConditioningSetProperties."""
    hooks = call_node("CreateHookLora", lora_name=lora_name("compat-unet", tiny_lora(s.model)), strength_model=1.0,
                      strength_clip=1.0)[0]
    if keyframes is not None:
        hooks = call_node("SetHookKeyframes", hooks=hooks, hook_kf=keyframes())[0]
    positive, negative = call_node("PairConditioningSetProperties", positive_NEW=s.positive, negative_NEW=s.negative,
                                   strength=1.0, set_cond_area="default", hooks=hooks)
    return dataclasses.replace(s, positive=positive, negative=negative)


def interpolated_keyframes():
    return call_node("CreateHookKeyframesInterpolated", strength_start=0.0, strength_end=1.0, interpolation="linear",
                     start_percent=0.0, end_percent=1.0, keyframes_count=5, print_keyframes=False)[0]


def first_half_keyframes():
    on = call_node("CreateHookKeyframe", strength_mult=1.0, start_percent=0.0)[0]
    return call_node("CreateHookKeyframe", strength_mult=0.0, start_percent=0.5, prev_hook_kf=on)[0]


def clip_hooks_case() -> Case:
    """SetClipHooks on the demo's CLIP: the prompts CLIP Text Encode makes carry a LoRA hook."""
    def build(apply: bool) -> Stack:
        model, clip, _ = demo()
        if apply:
            hooks = call_node("CreateHookLora", lora_name=lora_name("compat-demo", tiny_lora(model)),
                              strength_model=1.0, strength_clip=1.0)[0]
            clip = call_node("SetClipHooks", clip=clip, apply_to_conds=True, schedule_clip=False, hooks=hooks)[0]
        return dataclasses.replace(base_stack("demo"), positive=encode(clip, "7"), negative=encode(clip, ""))
    return Case("SetClipHooks", "demo", build)


CASES = [
    stack_case("ConditioningSetTimestepRange", "eps", with_positive(lambda s: timestep_range(s, other()))),
    stack_case("ConditioningSetTimestepRange", "demo",
               with_positive(lambda s: timestep_range(s, encode(demo()[1], "1")))),
    stack_case("ConditioningSetArea", "eps", with_positive(lambda s: combine(s.positive, call_node(
        "ConditioningSetArea", conditioning=other(), width=32, height=32, x=0, y=0, strength=1.0)[0]))),
    stack_case("ConditioningSetMask", "eps", with_positive(lambda s: combine(s.positive, call_node(
        "ConditioningSetMask", conditioning=other(), mask=left_half_mask(), strength=1.0,
        set_cond_area="default")[0]))),
    stack_case("ConditioningCombine", "eps", with_positive(lambda s: combine(s.positive, other()))),
    stack_case("ConditioningAverage", "eps", with_positive(lambda s: call_node(
        "ConditioningAverage", conditioning_to=s.positive, conditioning_from=other(),
        conditioning_to_strength=0.5)[0])),
    stack_case("ControlNetApplyAdvanced", "eps", controlnet),
    t2i_adapter_case(),
    stack_case("FluxGuidance", "flux", with_positive(lambda s: call_node(
        "FluxGuidance", conditioning=s.positive, guidance=8.0)[0])),
    stack_case("StyleModelApply", "flux", with_positive(redux)),
    inpaint_case(),
    stack_case("CreateHookLora", "eps", hooked),
    stack_case("CreateHookKeyframesInterpolated", "eps", lambda s: hooked(s, interpolated_keyframes)),
    stack_case("SetHookKeyframes", "eps", lambda s: hooked(s, first_half_keyframes)),
    clip_hooks_case(),
]


@pytest.mark.parametrize("case,path", matrix_params(CASES))
def test_runs(case, path):
    check_runs(case, path)


@pytest.mark.parametrize("case,path", matrix_params(CASES, identity=True))
def test_meaning_kept(case, path):
    check_identity(case, path)


def test_create_hook_model_as_lora_needs_a_checkpoint():
    pytest.skip("CreateHookModelAsLora loads a checkpoint through ComfyUI's detection, which no tiny model "
                "passes; its hook is the same weight hook as CreateHookLora's, tested above")

