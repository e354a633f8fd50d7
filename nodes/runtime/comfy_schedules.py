"""ComfyUI scheduler names -> outer and inner schedules of the nested process.

Range schedulers (karras, exponential, kl_optimal) are rebuilt with sigma_max = the outer
sigma; table schedulers (simple, normal, beta, ...) keep the part below the outer sigma;
``paper_faithful`` is the reference's grid read off the model's own sigma table, with every
inner run ending at 0; ``paper_exact`` is the same grid with the reference's own inner endpoint.
"""

from __future__ import annotations

import torch

import comfy.samplers

from ...nested_core import (
    END_SIGMA_MIN,
    END_ZERO,
    inner_from_full,
    inner_from_range,
    paper_inner_sigmas,
    paper_outer_sigmas,
    stretch_for_denoise,
)

PAPER_FAITHFUL = "paper_faithful"
# The reference's inner endpoint: each inner run stops at the model's smallest level sigma(t=0)
# and its result is scaled by sqrt(alpha_bar_0), as the authors' code does, so the images are
# the official code's (paper_faithful ends at 0 instead, the cleaner endpoint for ComfyUI).
PAPER_EXACT = "paper_exact"
PAPER_GRIDS = {PAPER_FAITHFUL: END_ZERO, PAPER_EXACT: END_SIGMA_MIN}


def scheduler_names() -> list[str]:
    # Read at call time: other packs may register schedulers after this module is imported.
    # Combo strings are only ever appended: saved workflows store them.
    return list(comfy.samplers.SCHEDULER_NAMES) + [PAPER_FAITHFUL, PAPER_EXACT]


def sampler_names() -> list[str]:
    return list(comfy.samplers.SAMPLER_NAMES)


def _full_schedule(model_sampling, name: str):
    if name in PAPER_GRIDS:
        return lambda steps: paper_outer_sigmas(model_sampling.sigmas, steps)
    return lambda steps: comfy.samplers.calculate_sigmas(model_sampling, name, steps)


def outer_sigmas(model_sampling, name: str, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """The outer schedule of the KSampler-style nodes, with KSampler's denoise rule."""
    sigmas = stretch_for_denoise(_full_schedule(model_sampling, name), steps, denoise)
    return sigmas.to(torch.float32).cpu()


def inner_schedule(model_sampling, name: str, steps: int):
    """A function outer sigma -> that inner run's sigmas (starting there, ending at 0, or at the
    model's smallest level for paper_exact)."""
    if name in PAPER_GRIDS:
        table = model_sampling.sigmas.detach().to(torch.float64).cpu()
        end = PAPER_GRIDS[name]
        return lambda sigma: paper_inner_sigmas(table, sigma, steps, end=end)
    handler = comfy.samplers.SCHEDULER_HANDLERS.get(name)
    if handler is not None and not handler.use_ms:
        return inner_from_range(
            lambda n, sigma_min, sigma_max: handler.handler(n=n, sigma_min=sigma_min, sigma_max=sigma_max),
            float(model_sampling.sigma_min), steps)
    return inner_from_full(_full_schedule(model_sampling, name), steps, sigma_floor=float(model_sampling.sigma_min))
