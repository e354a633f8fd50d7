"""NestedKSampler and NestedKSamplerAdvanced: the one-node versions, next to KSampler."""

from __future__ import annotations

import torch

import comfy.sample
import comfy.utils
import latent_preview

from .comfy_schedules import PAPER_FAITHFUL, outer_sigmas, sampler_names, scheduler_names
from .linked_inputs import literal_link_error
from .nested_sampler import check_latent_channels, nested_ksampler
from .sampler_node import INNER_SAMPLER_TIP, INNER_STEPS_TIP
from .stop_requests import RerunAfterStop

CATEGORY = "sampling/nested_diffusion"
MAX_STEPS = 10000
OUTER_STEPS_TIP = ("Outer steps: each one runs a whole inner sampling run and yields a finished image, shown "
                   "as the node preview at once. The last one is the result.")
SCHEDULER_TIP = ("Noise schedule of the outer steps, and of each inner run (restarted at the outer step's "
                 "level). paper_faithful is the reference code's grid.")
OUTPUT_TOOLTIPS = ("The final latent.",
                   "The image of every outer step, as one latent batch in outer order (batch x outer steps).")


MODEL_INPUT = ("MODEL", {"tooltip": "The model used for every inner run."})
SEED_TIP = "Seed of the starting noise; each inner run derives its own from it."


def _seed_input() -> tuple:
    return ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True,
                    "tooltip": SEED_TIP})


def _common_inputs() -> dict:
    return {
        "outer_steps": ("INT", {"default": 5, "min": 1, "max": MAX_STEPS, "tooltip": OUTER_STEPS_TIP}),
        "inner_steps": ("INT", {"default": 20, "min": 1, "max": MAX_STEPS, "tooltip": INNER_STEPS_TIP}),
        "cfg": ("FLOAT", {"default": 7.5, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                          "tooltip": "Classifier-free guidance scale, applied at every inner model call."}),
        "sampler_name": (sampler_names(), {"default": "euler_ancestral", "tooltip": INNER_SAMPLER_TIP}),
        "scheduler": (scheduler_names(), {"default": PAPER_FAITHFUL, "tooltip": SCHEDULER_TIP}),
        "positive": ("CONDITIONING", {"tooltip": "What the image should contain."}),
        "negative": ("CONDITIONING", {"tooltip": "What the image should not contain."}),
        "latent_image": ("LATENT", {"tooltip": "The latent to denoise (empty for text to image)."}),
    }


def _check_steps(name: str, value: int) -> None:
    if int(value) != value or not 1 <= value <= MAX_STEPS:
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_STEPS}, got {value!r}")


def run_nested(model, seed, add_noise, cfg, sampler_name, scheduler, inner_steps, positive, negative,
               latent, sigmas, leftover_noise=False):
    """Sample with the nested KSAMPLER through ComfyUI's own sample_custom; returns (latent, images)."""
    latent_image = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
    check_latent_channels(latent_image, model.get_model_object("latent_format"))
    if add_noise:
        noise = comfy.sample.prepare_noise(latent_image, seed, latent.get("batch_index"))
    else:
        noise = torch.zeros(latent_image.size(), dtype=latent_image.dtype, layout=latent_image.layout, device="cpu")
    images: list[torch.Tensor] = []
    sampler = nested_ksampler(sampler_name, inner_steps, scheduler, 0.0, keep_images=images,
                              leftover_noise=leftover_noise)
    callback = latent_preview.prepare_callback(model, len(sigmas) - 1)
    samples = comfy.sample.sample_custom(
        model, noise, cfg, sampler, sigmas, positive, negative, latent_image,
        noise_mask=latent.get("noise_mask"), callback=callback,
        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    out = latent.copy()
    out["samples"] = samples
    stacked = torch.cat(images) if images else latent_image[:0]
    outer_images = {"samples": model.model.process_latent_out(stacked).to(samples.device)}
    return out, outer_images


class _NestedKSamplerNode(RerunAfterStop):
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("LATENT", "outer_step_images")
    FUNCTION = "sample"

    @classmethod
    def VALIDATE_INPUTS(cls, model=None, positive=None, negative=None, latent_image=None):
        return literal_link_error(model=model, positive=positive, negative=negative, latent_image=latent_image)


class NestedKSampler(_NestedKSamplerNode):
    DESCRIPTION = ("KSampler with Nested Diffusion (Elata et al., WACV 2024): anytime generation. Each outer "
                   "step runs a whole inner sampling run, so a finished image is previewed after every outer "
                   "step and keeps improving; the last is the result. Cost: outer_steps x inner_steps steps.")
    OUTPUT_TOOLTIPS = OUTPUT_TOOLTIPS

    @classmethod
    def INPUT_TYPES(cls):
        common = _common_inputs()
        return {"required": {
            "model": MODEL_INPUT,
            "seed": _seed_input(),
            **common,
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                  "tooltip": "How much of the outer schedule to run, as in KSampler: below 1 "
                                             "keeps part of the input latent (img2img). Must be above 0."}),
        }}

    def sample(self, model, seed, outer_steps, inner_steps, cfg, sampler_name, scheduler, positive, negative,
               latent_image, denoise=1.0):
        _check_steps("outer_steps", outer_steps)
        _check_steps("inner_steps", inner_steps)
        if not 0.0 < denoise <= 1.0:
            raise ValueError(f"denoise must be in (0, 1], got {denoise!r}")
        sigmas = outer_sigmas(model.get_model_object("model_sampling"), scheduler, outer_steps, denoise)
        return run_nested(model, seed, True, cfg, sampler_name, scheduler, inner_steps, positive, negative,
                          latent_image, sigmas)


class NestedKSamplerAdvanced(_NestedKSamplerNode):
    DESCRIPTION = ("Nested KSampler over a range of outer steps, like KSamplerAdvanced. Chain two: the first "
                   "returns with leftover noise, the second continues with add_noise disabled, for example "
                   "with a changed prompt (the paper's mid-run intervention).")
    OUTPUT_TOOLTIPS = ("The latent after end_at_outer_step: the outer state with leftover noise, or the image.",
                       "The image of every outer step this node ran, as one latent batch in outer order.")

    @classmethod
    def INPUT_TYPES(cls):
        common = _common_inputs()
        return {"required": {
            "model": MODEL_INPUT,
            "add_noise": (["enable", "disable"], {
                "tooltip": "Add the starting noise. Disable when continuing a chain from leftover noise."}),
            "noise_seed": _seed_input(),
            **common,
            "start_at_outer_step": ("INT", {"default": 0, "min": 0, "max": MAX_STEPS,
                                            "tooltip": "First outer step to run (0-based)."}),
            "end_at_outer_step": ("INT", {"default": MAX_STEPS, "min": 0, "max": MAX_STEPS,
                                          "tooltip": "Stop before this outer step; past outer_steps means run "
                                                     "to the end."}),
            "return_with_leftover_noise": (["disable", "enable"], {
                "tooltip": "enable: when stopping early, return the noisy outer state for a later node to "
                           "continue. disable: return the last outer step's finished image."}),
        }}

    def sample(self, model, add_noise, noise_seed, outer_steps, inner_steps, cfg, sampler_name, scheduler, positive,
               negative, latent_image, start_at_outer_step, end_at_outer_step, return_with_leftover_noise):
        _check_steps("outer_steps", outer_steps)
        _check_steps("inner_steps", inner_steps)
        end = min(end_at_outer_step, outer_steps)
        if not 0 <= start_at_outer_step < end:
            raise ValueError(f"start_at_outer_step must be less than end_at_outer_step and outer_steps; got "
                             f"start {start_at_outer_step}, end {end_at_outer_step}, outer_steps {outer_steps}")
        sigmas = outer_sigmas(model.get_model_object("model_sampling"), scheduler, outer_steps)
        leftover = return_with_leftover_noise == "enable"
        sigmas = sigmas[:end + 1].clone()
        if not leftover:
            sigmas[-1] = 0.0
        sigmas = sigmas[start_at_outer_step:]
        return run_nested(model, noise_seed, add_noise == "enable", cfg, sampler_name, scheduler, inner_steps,
                          positive, negative, latent_image, sigmas, leftover_noise=leftover)
