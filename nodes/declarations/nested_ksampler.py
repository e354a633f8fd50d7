"""NestedKSampler and NestedKSamplerAdvanced: the one-node versions, next to KSampler."""

from __future__ import annotations

import torch

import comfy.sample
import comfy.utils
import latent_preview

from ...nested_core import OUTER_DDIM
from ..host.latents import concat_outer_images, empty_noise, prepared_latent, sampled_latent
from ..runtime.comfy_schedules import PAPER_FAITHFUL, outer_sigmas, sampler_names, scheduler_names
from ..runtime.ksampler_function import nested_sampler_object
from ..runtime.steering_run import SteeringOptions
from ..runtime.stop_requests import RerunAfterStop
from ..runtime.time_budget import check_max_seconds, max_seconds_input
from .input_checks import MAX_STEPS, check_choice, check_denoise, check_steps
from .linked_inputs import literal_link_error
from .outer_noise_input import check_outer_noise, outer_noise_input
from .sampler_nested_diffusion import INNER_SAMPLER_TIP, INNER_STEPS_TIP
from .steering_inputs import HIDDEN, UI_KEY, check_steering_inputs, steering_inputs, write_record

CATEGORY = "sampling/nested_diffusion"
OUTER_STEPS_TIP = ("Outer steps: each one runs a whole inner sampling run and yields a finished image, shown "
                   "as the node preview at once. The last one is the result.")
SCHEDULER_TIP = ("Noise schedule of the outer steps, and of each inner run (restarted at the outer step's "
                 "level). paper_faithful is the reference code's grid; paper_exact also ends each inner run "
                 "where the reference does, to reproduce the official code's images.")
OUTPUT_TOOLTIPS = ("The final latent.",
                   "The image of every outer step, as one latent batch in outer order (outer steps x batch).")


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


def _check_common(outer_steps, inner_steps, sampler_name, scheduler) -> None:
    check_steps("outer_steps", outer_steps)
    check_steps("inner_steps", inner_steps)
    check_choice("sampler_name", sampler_name, sampler_names())
    check_choice("scheduler", scheduler, scheduler_names())


def run_nested(model, seed, add_noise, cfg, sampler_name, scheduler, inner_steps, positive, negative,
               latent, sigmas, leftover_noise=False, max_seconds=0.0, steering=SteeringOptions(),
               outer_noise=OUTER_DDIM):
    """Sample with the nested KSAMPLER through ComfyUI's own sample_custom; returns (latent, images).

    The outer-step images are collected from the callback sample_custom's KSAMPLER calls once
    per outer step with ``denoised`` = that step's image, the way SamplerCustom takes its x0
    output; the latent channels are checked inside the sampler function."""
    latent_image = prepared_latent(model, latent)
    if add_noise:
        noise = comfy.sample.prepare_noise(latent_image, seed, latent.get("batch_index"))
    else:
        noise = empty_noise(latent_image)
    images: list[torch.Tensor] = []
    sampler = nested_sampler_object(sampler_name, inner_steps, scheduler, 0.0, leftover_noise=leftover_noise,
                                    max_seconds=max_seconds, steering=steering, outer_noise=outer_noise)
    preview = latent_preview.prepare_callback(model, len(sigmas) - 1)

    def callback(step, x0, x, total_steps):
        images.append(x0.to("cpu", copy=True))  # a NestedTensor view for packed models
        preview(step, x0, x, total_steps)

    samples = comfy.sample.sample_custom(
        model, noise, cfg, sampler, sigmas, positive, negative, latent_image,
        noise_mask=latent.get("noise_mask"), callback=callback,
        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    stacked = concat_outer_images(images) if images else latent_image[:0]
    outer_images = {"samples": model.model.process_latent_out(stacked).to(samples.device)}
    return sampled_latent(latent, samples), outer_images


class _NestedKSamplerNode(RerunAfterStop):
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT", "LATENT")
    RETURN_NAMES = ("LATENT", "outer_step_images")
    FUNCTION = "sample"

    @classmethod
    def VALIDATE_INPUTS(cls, model=None, positive=None, negative=None, latent_image=None, clip=None):
        return literal_link_error(model=model, positive=positive, negative=negative, latent_image=latent_image,
                                  clip=clip)

    def _steered(self, run, clip, pause_every_outer_step, pause_timeout_minutes, steering, unique_id, prompt,
                 extra_pnginfo):
        """Runs ``run(options)`` with this node's steering; returns its outputs with the record
        as UI output, written into the prompt and workflow when the run was steered live."""
        check_steering_inputs(pause_timeout_minutes, steering)
        records: list[str] = []
        options = SteeringOptions(pause_every_outer_step=bool(pause_every_outer_step),
                                  pause_timeout_s=float(pause_timeout_minutes) * 60.0, record=steering, clip=clip,
                                  owns_conditioning=True, record_node=None if unique_id is None else str(unique_id),
                                  on_record=records.append)
        outputs = run(options)
        record = records[-1] if records else ""
        if record and record != steering:
            write_record(record, unique_id, type(self), prompt, extra_pnginfo)
        if not record:
            return outputs
        return {"ui": {UI_KEY: [record]}, "result": outputs}


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
        }, "optional": {"max_seconds": max_seconds_input(), **steering_inputs(with_clip=True), **outer_noise_input()},
            "hidden": HIDDEN}

    def sample(self, model, seed, outer_steps, inner_steps, cfg, sampler_name, scheduler, positive, negative,
               latent_image, denoise=1.0, max_seconds=0.0, clip=None, pause_every_outer_step=False,
               pause_timeout_minutes=10.0, steering="", outer_noise=OUTER_DDIM, unique_id=None, prompt=None,
               extra_pnginfo=None):
        _check_common(outer_steps, inner_steps, sampler_name, scheduler)
        check_outer_noise(outer_noise)
        check_denoise(denoise)
        check_max_seconds(max_seconds)
        sigmas = outer_sigmas(model.get_model_object("model_sampling"), scheduler, outer_steps, denoise)
        return self._steered(
            lambda options: run_nested(model, seed=seed, add_noise=True, cfg=cfg, sampler_name=sampler_name,
                                       scheduler=scheduler, inner_steps=inner_steps, positive=positive,
                                       negative=negative, latent=latent_image, sigmas=sigmas,
                                       max_seconds=max_seconds, steering=options, outer_noise=outer_noise),
            clip, pause_every_outer_step, pause_timeout_minutes, steering, unique_id, prompt, extra_pnginfo)


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
        }, "optional": {"max_seconds": max_seconds_input(), **steering_inputs(with_clip=True), **outer_noise_input()},
            "hidden": HIDDEN}

    def sample(self, model, add_noise, noise_seed, outer_steps, inner_steps, cfg, sampler_name, scheduler, positive,
               negative, latent_image, start_at_outer_step, end_at_outer_step, return_with_leftover_noise,
               max_seconds=0.0, clip=None, pause_every_outer_step=False, pause_timeout_minutes=10.0, steering="",
               outer_noise=OUTER_DDIM, unique_id=None, prompt=None, extra_pnginfo=None):
        _check_common(outer_steps, inner_steps, sampler_name, scheduler)
        check_outer_noise(outer_noise)
        check_max_seconds(max_seconds)
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
        return self._steered(
            lambda options: run_nested(model, seed=noise_seed, add_noise=add_noise == "enable", cfg=cfg,
                                       sampler_name=sampler_name, scheduler=scheduler, inner_steps=inner_steps,
                                       positive=positive, negative=negative, latent=latent_image, sigmas=sigmas,
                                       leftover_noise=leftover, max_seconds=max_seconds, steering=options,
                                       outer_noise=outer_noise),
            clip, pause_every_outer_step, pause_timeout_minutes, steering, unique_id, prompt, extra_pnginfo)
