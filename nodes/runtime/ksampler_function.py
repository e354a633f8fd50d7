"""The nested sampler as a ComfyUI SAMPLER (``comfy.samplers.KSAMPLER``).

Every inner run calls the inner sampler's ``sampler_function`` directly with the same model
wrapper the outer run got (the k-diffusion wrapper ComfyUI's KSAMPLER.sample builds around the
guider: it already applies CFG, masks, ControlNet and the model's sigma convention), so every
model type behaves as in ComfyUI's own samplers. Calling ``KSAMPLER.sample`` again instead would
scale the noise a second time (its ``noise_scaling``) and rewrap the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

import comfy.model_management
import comfy.model_sampling
import comfy.samplers

from ...nested_core import FLOW, OUTER_DDIM, VE, run_fingerprint, sample_nested
from ..host.access import executing_context
from ..host.latents import packed_shapes
from ..previews.outer_step_reporter import OuterStepReporter
from .comfy_schedules import inner_schedule
from .progress import CallProgress, planned_step_calls
from .schedule_position import InnerRunSetup
from .steering_run import SteeringOptions, SteeringSession
from .stop_requests import STOPS
from .time_budget import TimeBudget


def resolve_inner(inner_sampler: str, override=None):
    """The inner SAMPLER: the override when given (any configured KSAMPLER), else by name (the
    node has checked the name)."""
    if override is not None:
        if not callable(getattr(override, "sampler_function", None)):
            raise ValueError("inner_sampler_override must be a k-diffusion SAMPLER (e.g. from KSamplerSelect or "
                             f"SamplerDPMPP_2M_SDE); got {type(override).__name__}, which has no sampler_function")
        return override
    return comfy.samplers.sampler_object(inner_sampler)


def path_of(model_sampling) -> str:
    """Flow-matching models (SD3, Flux: CONST) move along x = (1-s)x0 + s*eps; the rest are VE-style."""
    return FLOW if isinstance(model_sampling, comfy.model_sampling.CONST) else VE


def check_latent_channels(x: torch.Tensor, latent_format) -> None:
    expected = getattr(latent_format, "latent_channels", None)
    if expected is not None and x.ndim >= 4 and x.shape[1] != expected:
        raise ValueError(f"latent_image has {x.shape[1]} channels but this model works on {expected}-channel "
                         "latents; encode the image with this model's VAE or use an empty latent")


@dataclass(frozen=True)
class NestedRunOptions:
    """Everything a nested run is configured with, as one value (the SAMPLER's extra option).

    ``inner`` is the resolved inner SAMPLER and ``inner_name`` its name in the run fingerprint.
    ``fresh_cache_per_inner_run=False`` (no node sets it; bench/quality/cache_effect.py measures it) lets
    EasyCache/LazyCache carry their state into inner runs that start above its last level.
    ``steering`` (steering_run.py) pauses and steers the run between outer steps."""

    inner: Any
    inner_name: str
    inner_steps: int
    inner_scheduler: str
    eta: float = 0.0
    outer_noise: str = OUTER_DDIM
    leftover_noise: bool = False
    max_seconds: float = 0.0
    fresh_cache_per_inner_run: bool = True
    steering: SteeringOptions = field(default_factory=SteeringOptions)


@torch.no_grad()
def nested_sampler_function(model, x, sigmas, extra_args=None, callback=None, disable=None, *,
                            options: NestedRunOptions):
    """The KSAMPLER sampler function of a nested run configured by ``options``."""
    patcher = model.inner_model.model_patcher
    model_sampling = patcher.get_model_object("model_sampling")
    latent_format = patcher.get_model_object("latent_format")
    check_latent_channels(x, latent_format)
    schedule_of = inner_schedule(model_sampling, options.inner_scheduler, options.inner_steps)
    step_calls = planned_step_calls(sigmas, schedule_of, options.inner.sampler_function)
    progress = CallProgress(sum(step_calls), disable)
    reporter = OuterStepReporter(latent_format, total=len(sigmas) - 1, progress=progress, host_callback=callback,
                                 packed_shapes=packed_shapes(patcher))
    budget = TimeBudget(options.max_seconds, step_calls)

    def on_outer_step(d: dict) -> None:
        reporter(d)
        budget.outer_step_done(d["nfe"])

    ctx = executing_context()
    prompt_id = ctx.prompt_id if ctx is not None else ""
    # A stop ends the prompt's nested work (stop_requests.py): this node stops after its first
    # outer step at the latest; with leftover noise it hands on its state at its end level.
    should_stop = lambda: STOPS.should_stop(prompt_id) or budget.exhausted  # noqa: E731
    stopped_at: list[int] = []
    # Each inner run is, for the host, a run along its path down the schedule (schedule_position.py).
    inner_setup = InnerRunSetup(model, model_sampling, sigmas, options.fresh_cache_per_inner_run)
    fingerprint = run_fingerprint((extra_args or {}).get("seed"), sigmas, x.shape[0], options.inner_name,
                                  options.inner_steps)

    def after_call(calls: int, sigma: float) -> None:
        inner_setup.saw_level(sigma)
        progress.advance_to(calls)

    STOPS.begin(prompt_id)
    try:
        # Inside the try: a record that does not fit this run is refused here, before any
        # model call, and the progress bar and the stop registry are still closed after it.
        session = SteeringSession(options.steering, model, fingerprint, prompt_id,
                                  ctx.node_id if ctx is not None else None, extra_args or {}, latent_format,
                                  packed_shapes(patcher), len(sigmas) - 1, budget.paused_for, should_stop)
        result = sample_nested(
            model, x, sigmas, extra_args, on_outer_step, disable,
            inner_sampler=options.inner.sampler_function,
            inner_options=options.inner.extra_options,
            inner_sigmas=schedule_of,
            eta=options.eta,
            outer_noise=options.outer_noise,
            path=path_of(model_sampling),
            should_stop=should_stop,
            before_model_call=comfy.model_management.throw_exception_if_processing_interrupted,
            after_model_call=after_call,
            inner_extra_args=inner_setup,
            leftover_noise=options.leftover_noise,
            on_stop=stopped_at.append,
            between_steps=session,
        )
        session.finish()
        return result
    finally:
        progress.close()
        STOPS.end(prompt_id, stopped_early=bool(stopped_at))


def nested_sampler_object(inner_sampler: str, inner_steps: int, inner_scheduler: str, eta: float,
                          inner_override=None, leftover_noise: bool = False,
                          max_seconds: float = 0.0, fresh_cache_per_inner_run: bool = True,
                          steering: SteeringOptions = SteeringOptions(),
                          outer_noise: str = OUTER_DDIM) -> comfy.samplers.KSAMPLER:
    """The nested sampler as a SAMPLER for sample_custom / SamplerCustom(Advanced): pure
    configuration. The nodes check their inputs before calling this."""
    inner = resolve_inner(inner_sampler, inner_override)
    inner_name = inner_sampler if inner_override is None else \
        getattr(inner.sampler_function, "__name__", "override").removeprefix("sample_")
    options = NestedRunOptions(inner=inner, inner_name=inner_name, inner_steps=int(inner_steps),
                               inner_scheduler=inner_scheduler, eta=float(eta), outer_noise=outer_noise,
                               leftover_noise=bool(leftover_noise),
                               max_seconds=float(max_seconds),
                               fresh_cache_per_inner_run=bool(fresh_cache_per_inner_run), steering=steering)
    return comfy.samplers.KSAMPLER(nested_sampler_function, extra_options={"options": options})
