"""ComfyUI scheduler names -> outer and inner schedules of the nested process.

Range schedulers (karras, exponential, kl_optimal) are rebuilt with sigma_max = the outer
sigma; table schedulers (simple, normal, beta, ...) keep the part below the outer sigma;
``paper_faithful`` is the reference's grid read off the model's own sigma table.
"""

from __future__ import annotations

import torch

import comfy.samplers

from ..nested_core import (
    inner_from_full,
    inner_from_range,
    paper_inner_sigmas,
    paper_outer_sigmas,
    stretch_for_denoise,
)

PAPER_FAITHFUL = "paper_faithful"


def scheduler_names() -> list[str]:
    # Read at call time: other packs may register schedulers after this module is imported.
    return list(comfy.samplers.SCHEDULER_NAMES) + [PAPER_FAITHFUL]


def sampler_names() -> list[str]:
    return list(comfy.samplers.SAMPLER_NAMES)


def check_scheduler(name: str, input_name: str) -> None:
    if name not in scheduler_names():
        raise ValueError(f"{input_name} must be one of {scheduler_names()}, got {name!r}")


def _full_schedule(model_sampling, name: str):
    if name == PAPER_FAITHFUL:
        return lambda steps: paper_outer_sigmas(model_sampling.sigmas, steps)
    return lambda steps: comfy.samplers.calculate_sigmas(model_sampling, name, steps)


def outer_sigmas(model_sampling, name: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """The outer schedule of the KSampler-style nodes, with KSampler's denoise rule."""
    check_scheduler(name, "scheduler")
    sigmas = stretch_for_denoise(_full_schedule(model_sampling, name), steps, denoise)
    return sigmas.to(torch.float32).cpu()


def inner_schedule(model_sampling, name: str, steps: int):
    """A function outer sigma -> that inner run's sigmas (starting there, ending at 0)."""
    check_scheduler(name, "inner_scheduler")
    if name == PAPER_FAITHFUL:
        table = model_sampling.sigmas.detach().to(torch.float64).cpu()
        return lambda sigma: paper_inner_sigmas(table, sigma, steps)
    handler = comfy.samplers.SCHEDULER_HANDLERS.get(name)
    if handler is not None and not handler.use_ms:
        return inner_from_range(
            lambda n, sigma_min, sigma_max: handler.handler(n=n, sigma_min=sigma_min, sigma_max=sigma_max),
            float(model_sampling.sigma_min), steps)
    return inner_from_full(_full_schedule(model_sampling, name), steps, sigma_floor=float(model_sampling.sigma_min))
