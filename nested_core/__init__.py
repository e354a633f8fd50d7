"""Nested Diffusion (Elata, Kawar, Michaeli, Elad, WACV 2024, arXiv 2305.19066) in plain torch.

No ComfyUI import anywhere in this package: ``sample_nested`` follows the k-diffusion sampler
convention, so the ComfyUI adapter in ``nodes/`` only wires host objects into it.
"""

from .nfe import NfePlan, nfe_plan
from .outer_loop import ModelCallGate, inner_seed, outer_noise_source, sample_nested
from .outer_step import (
    FLOW,
    OUTER_DDIM,
    OUTER_FRESH,
    OUTER_NOISES,
    PATHS,
    VE,
    flow_posterior_split,
    outer_step,
    ve_ancestral_split,
)
from .schedules import (
    END_SIGMA_MIN,
    END_ZERO,
    INNER_ENDS,
    inner_from_full,
    inner_from_range,
    nearest_timestep,
    paper_inner_sigmas,
    paper_outer_sigmas,
    rounded_linspace,
    stretch_for_denoise,
    validate_outer_sigmas,
)
from .steering import Intervention, pick_rows, record_text, run_fingerprint

__all__ = [
    "END_SIGMA_MIN", "END_ZERO", "FLOW", "INNER_ENDS", "OUTER_DDIM", "OUTER_FRESH", "OUTER_NOISES", "PATHS", "VE",
    "Intervention", "ModelCallGate", "NfePlan",
    "flow_posterior_split", "inner_from_full", "inner_from_range", "inner_seed", "nearest_timestep",
    "nfe_plan", "outer_noise_source", "outer_step", "paper_inner_sigmas", "paper_outer_sigmas", "pick_rows",
    "record_text", "rounded_linspace", "run_fingerprint",
    "sample_nested", "stretch_for_denoise", "validate_outer_sigmas", "ve_ancestral_split",
]
