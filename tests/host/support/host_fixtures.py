"""Shared helpers for in-process host tests: pack nodes, tiny models, progress capture."""

from __future__ import annotations

import contextlib
import importlib

import torch

import comfy.utils
from comfy.cli_args import LatentPreviewMethod, args

from host_env import PACK_MODULE, load_pack
from tiny_models import build_tiny_model, tiny_conditioning

PACK = load_pack()
NODES = PACK.NODE_CLASS_MAPPINGS


def pack_module(name: str):
    return importlib.import_module(f"{PACK_MODULE}.{name}")


_MODELS: dict = {}


def tiny(kind: str):
    if kind not in _MODELS:
        _MODELS[kind] = build_tiny_model(kind)
    return _MODELS[kind]


def conds(seed: int = 1):
    return tiny_conditioning(seed), tiny_conditioning(zero=True)


def empty_latent(batch: int = 1, size: int = 8) -> dict:
    return {"samples": torch.zeros(batch, 4, size, size)}


@contextlib.contextmanager
def preview_method(method: LatentPreviewMethod):
    old = args.preview_method
    args.preview_method = method
    try:
        yield
    finally:
        args.preview_method = old


@contextlib.contextmanager
def _progress_hook(record):
    calls: list = []
    old = comfy.utils.PROGRESS_BAR_HOOK

    def hook(value, total, preview, prompt_id=None, node_id=None):
        calls.append(record(value, total, preview))

    comfy.utils.set_progress_bar_global_hook(hook)
    try:
        yield calls
    finally:
        comfy.utils.set_progress_bar_global_hook(old)


def run_nested_ksampler(kind="eps", seed=7, outer=3, inner=2, cfg=2.0, sampler="euler", scheduler="normal",
                        latent=None, denoise=1.0, model=None, positive_seed=1, **optional):
    """NestedKSampler.sample on a tiny model (``model`` overrides the cached one of ``kind``;
    ``optional`` are the node's optional inputs)."""
    positive, negative = conds(positive_seed)
    return NODES["NestedKSampler"]().sample(
        model=model or tiny(kind), seed=seed, outer_steps=outer, inner_steps=inner, cfg=cfg, sampler_name=sampler,
        scheduler=scheduler, positive=positive, negative=negative, latent_image=latent or empty_latent(),
        denoise=denoise, **optional)


def run_nested_ksampler_advanced(kind, add_noise, start, end, leftover, latent, seed=3, outer=4, inner=2,
                                 positive_seed=1, sampler="euler", scheduler="normal", model=None, **optional):
    """NestedKSamplerAdvanced.sample on a tiny model over outer steps [start, end)."""
    positive, negative = conds(positive_seed)
    return NODES["NestedKSamplerAdvanced"]().sample(
        model=model or tiny(kind), add_noise=add_noise, noise_seed=seed, outer_steps=outer, inner_steps=inner,
        cfg=2.0, sampler_name=sampler, scheduler=scheduler, positive=positive, negative=negative,
        latent_image=latent, start_at_outer_step=start, end_at_outer_step=end, return_with_leftover_noise=leftover,
        **optional)


def captured_progress():
    """Every ProgressBar update as (value, total, has_preview), through the host's global hook."""
    return _progress_hook(lambda value, total, preview: (value, total, preview is not None))


def captured_previews():
    """Every ProgressBar update as (value, total, PIL image or None)."""
    return _progress_hook(lambda value, total, preview: (value, total, None if preview is None else preview[1]))


def outer_step_previews(calls: list) -> list:
    """The preview images of ``captured_previews`` calls, in order. They ride on whichever bar
    carries them (the host's over outer steps, or the pack's over model calls), so only their
    order is checked here: rising values, the last at its bar's end."""
    shown = [(value, total, image) for value, total, image in calls if image is not None]
    values = [value for value, _, _ in shown]
    assert values == sorted(values) and (not shown or shown[-1][0] == shown[-1][1]), calls
    return [image for _, _, image in shown]


def nested_in_sampler_custom_advanced(model, positive, negative, latent: dict, outer=3, inner=2, seed=5):
    """The pack's SAMPLER in ComfyUI's SamplerCustomAdvanced with a CFGGuider: (output, denoised_output)."""
    from comfy_extras import nodes_custom_sampler as custom

    guider = custom.CFGGuider().get_guider(model, positive, negative, 3.0)[0]
    sampler = NODES["SamplerNestedDiffusion"]().get_sampler("euler", inner, "normal", 0.0)[0]
    sigmas = custom.BasicScheduler().get_sigmas(model, "simple", outer, 1.0)[0]
    noise = custom.RandomNoise().get_noise(seed)[0]
    return custom.SamplerCustomAdvanced().sample(noise, guider, sampler, sigmas, latent)


def stopping_after(model, calls: int):
    """A clone of ``model`` that requests stop-and-keep at its ``calls``+1-th model call, from
    inside the run, as the web button does while the sampler works."""
    stops = pack_module("nodes.runtime.stop_requests").STOPS
    clone = model.clone()
    seen = []

    def stop_then_call(apply_model, call):
        if len(seen) == calls:
            stops.request()
        seen.append(1)
        return apply_model(call["input"], call["timestep"], **call["c"])

    clone.set_model_unet_function_wrapper(stop_then_call)
    return clone
