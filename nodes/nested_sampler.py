"""The nested sampler as a ComfyUI SAMPLER (``comfy.samplers.KSAMPLER``).

Every inner run calls the inner sampler's ``sampler_function`` directly with the same model
wrapper the outer run got (host contract 2.4), so masks, ControlNet, guiders and every model
type behave as in ComfyUI's own samplers. Calling ``KSAMPLER.sample`` instead would scale the
noise a second time.
"""

from __future__ import annotations

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.samplers

from ..nested_core import sample_nested
from .comfy_schedules import check_scheduler, inner_schedule, path_of
from .outer_step_reporter import OuterStepReporter, executing_context
from .progress import CallProgress, planned_step_calls
from .stop_requests import STOPS
from .time_budget import TimeBudget, check_max_seconds


def resolve_inner(inner_sampler: str, override=None):
    """The inner SAMPLER: the override when given (any configured KSAMPLER), else by name."""
    if override is not None:
        if not callable(getattr(override, "sampler_function", None)):
            raise ValueError("inner_sampler_override must be a k-diffusion SAMPLER (e.g. from KSamplerSelect or "
                             f"SamplerDPMPP_2M_SDE); got {type(override).__name__}, which has no sampler_function")
        return override
    if inner_sampler not in comfy.samplers.SAMPLER_NAMES:
        raise ValueError(f"inner_sampler must be one of {comfy.samplers.SAMPLER_NAMES}, got {inner_sampler!r}")
    return comfy.samplers.sampler_object(inner_sampler)


def check_latent_channels(x: torch.Tensor, latent_format) -> None:
    expected = getattr(latent_format, "latent_channels", None)
    if expected is not None and x.ndim >= 4 and x.shape[1] != expected:
        raise ValueError(f"latent_image has {x.shape[1]} channels but this model works on {expected}-channel "
                         "latents; encode the image with this model's VAE or use an empty latent")


def _with_inner_sigmas(extra_args: dict, schedule: torch.Tensor, _i: int) -> dict:
    # Context windows, hooks and some models look up the current sigma in sample_sigmas, so
    # each inner run must see its own schedule, in a copy of the caller's model_options.
    options = comfy.model_patcher.create_model_options_clone(extra_args.get("model_options", {}))
    options.setdefault("transformer_options", {})["sample_sigmas"] = schedule
    extra_args["model_options"] = options
    return extra_args


@torch.no_grad()
def nested_sampler_function(model, x, sigmas, extra_args=None, callback=None, disable=None, *,
                            inner_sampler="euler_ancestral", inner_steps=4, inner_scheduler="paper_faithful",
                            eta=0.0, inner_override=None, keep_images=None, leftover_noise=False,
                            max_seconds=0.0):
    patcher = model.inner_model.model_patcher
    model_sampling = patcher.get_model_object("model_sampling")
    latent_format = patcher.get_model_object("latent_format")
    check_latent_channels(x, latent_format)
    inner = resolve_inner(inner_sampler, inner_override)
    schedule_of = inner_schedule(model_sampling, inner_scheduler, inner_steps)
    step_calls = planned_step_calls(sigmas, schedule_of, inner.sampler_function)
    progress = CallProgress(sum(step_calls), disable)
    reporter = OuterStepReporter(latent_format, total=len(sigmas) - 1, host_callback=callback,
                                 keep_images=keep_images, progress=progress)
    budget = TimeBudget(max_seconds, step_calls)

    def on_outer_step(d: dict) -> None:
        reporter(d)
        budget.outer_step_done(d["nfe"])
    ctx = executing_context()
    prompt_id = ctx.prompt_id if ctx is not None else ""
    # A stop ends the prompt's nested work (stop_requests.py): this node stops after its first
    # outer step at the latest; with leftover noise it hands on its state at its end level.
    should_stop = lambda: STOPS.should_stop(prompt_id) or budget.exhausted  # noqa: E731
    STOPS.begin(prompt_id)
    finished = False
    try:
        result = sample_nested(
            progress.wrap(model), x, sigmas, extra_args, on_outer_step, disable,
            inner_sampler=inner.sampler_function,
            inner_options=inner.extra_options,
            inner_sigmas=schedule_of,
            eta=eta,
            path=path_of(model_sampling),
            should_stop=should_stop,
            before_model_call=comfy.model_management.throw_exception_if_processing_interrupted,
            inner_extra_args=_with_inner_sigmas,
            leftover_noise=leftover_noise,
        )
        finished = True
        return result
    finally:
        progress.close()
        STOPS.end(prompt_id, stopped_early=finished and reporter.steps_done < reporter.total)


def nested_ksampler(inner_sampler: str, inner_steps: int, inner_scheduler: str, eta: float,
                    inner_override=None, keep_images: list | None = None,
                    leftover_noise: bool = False, max_seconds: float = 0.0) -> comfy.samplers.KSAMPLER:
    """A SAMPLER for SamplerCustom(Advanced); validates its settings before any sampling starts."""
    if int(inner_steps) != inner_steps or inner_steps < 1:
        raise ValueError(f"inner_steps must be a whole number >= 1, got {inner_steps!r}")
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta!r}")
    resolve_inner(inner_sampler, inner_override)
    check_scheduler(inner_scheduler, "inner_scheduler")
    check_max_seconds(max_seconds)
    options = {"inner_sampler": inner_sampler, "inner_steps": int(inner_steps), "inner_scheduler": inner_scheduler,
               "eta": float(eta), "inner_override": inner_override, "keep_images": keep_images,
               "leftover_noise": leftover_noise, "max_seconds": float(max_seconds)}
    return comfy.samplers.KSAMPLER(nested_sampler_function, extra_options=options)
