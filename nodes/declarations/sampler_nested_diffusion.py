"""SamplerNestedDiffusion: the nested sampler as a SAMPLER for SamplerCustom(Advanced)."""

from __future__ import annotations

from ...nested_core import OUTER_DDIM
from ..runtime.comfy_schedules import PAPER_FAITHFUL, sampler_names, scheduler_names
from ..runtime.ksampler_function import nested_sampler_object
from ..runtime.steering_run import SteeringOptions
from ..runtime.stop_requests import RerunAfterStop
from ..runtime.time_budget import check_max_seconds, max_seconds_input
from .input_checks import MAX_STEPS, check_choice, check_eta, check_steps
from .linked_inputs import literal_link_error
from .outer_noise_input import check_outer_noise, outer_noise_input
from .steering_inputs import HIDDEN, check_steering_inputs, steering_inputs

INNER_SAMPLER_TIP = ("The sampler of every inner run, from the outer step's noise level down to 0. "
                     "euler_ancestral is closest to the paper's stochastic DDIM inner steps.")
INNER_STEPS_TIP = ("Model calls per inner run. Each outer step costs this many steps, so the total is "
                   "outer steps x inner steps. 1 makes nested sampling plain DDIM.")
INNER_SCHEDULER_TIP = ("Noise levels of each inner run, starting exactly at the outer step's level. "
                       "paper_faithful is the reference's grid: uniform in timestep down to t=1, then 0. "
                       "paper_exact ends at t=0 and scales the result as the reference code does.")
ETA_TIP = ("Outer stochasticity of the ddim outer step: 0 is the deterministic DDIM outer step of the paper; "
           "1 re-noises like DDPM. Unused when outer_noise is fresh. Inner-run noise comes from the inner sampler.")


class SamplerNestedDiffusion(RerunAfterStop):
    DESCRIPTION = ("Nested Diffusion (Elata et al., WACV 2024): every step of the outer SIGMAS schedule runs "
                   "a whole inner sampling run down to noise 0, so the preview after each step is a finished "
                   "image, and the outer process moves toward it. Plug into SamplerCustom or "
                   "SamplerCustomAdvanced; the outer schedule is their SIGMAS input and must end at 0.")
    CATEGORY = "sampling/custom_sampling/samplers"
    RETURN_TYPES = ("SAMPLER",)
    OUTPUT_TOOLTIPS = ("The nested sampler, for SamplerCustom or SamplerCustomAdvanced.",)
    FUNCTION = "get_sampler"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "inner_sampler": (sampler_names(), {"default": "euler_ancestral", "tooltip": INNER_SAMPLER_TIP}),
                "inner_steps": ("INT", {"default": 4, "min": 1, "max": MAX_STEPS, "tooltip": INNER_STEPS_TIP}),
                "inner_scheduler": (scheduler_names(), {"default": PAPER_FAITHFUL, "tooltip": INNER_SCHEDULER_TIP}),
                "eta": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01, "round": 0.001,
                                  "tooltip": ETA_TIP}),
            },
            "optional": {
                "inner_sampler_override": ("SAMPLER", {
                    "tooltip": "Any configured sampler (e.g. from SamplerDPMPP_2M_SDE or SamplerEulerAncestral) "
                               "to use for the inner runs instead of inner_sampler."}),
                "max_seconds": max_seconds_input(),
                **steering_inputs(with_clip=False),
                **outer_noise_input(),
            },
            "hidden": {"unique_id": HIDDEN["unique_id"]},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, inner_sampler_override=None):
        return literal_link_error(inner_sampler_override=inner_sampler_override)

    def get_sampler(self, inner_sampler, inner_steps, inner_scheduler, eta, inner_sampler_override=None,
                    max_seconds=0.0, pause_every_outer_step=False, pause_timeout_minutes=10.0, steering="",
                    outer_noise=OUTER_DDIM, unique_id=None):
        check_steps("inner_steps", inner_steps)
        check_eta(eta)
        check_outer_noise(outer_noise)
        check_max_seconds(max_seconds)
        check_steering_inputs(pause_timeout_minutes, steering)
        # Pause and pick only: the guider (SamplerCustom's graph) owns conditioning and cfg. The
        # record reaches this node's widget through the panel (the SAMPLER may be a cached one).
        steer = SteeringOptions(pause_every_outer_step=bool(pause_every_outer_step),
                                pause_timeout_s=float(pause_timeout_minutes) * 60.0, record=steering,
                                record_node=None if unique_id is None else str(unique_id))
        check_choice("inner_scheduler", inner_scheduler, scheduler_names())
        if inner_sampler_override is None:
            check_choice("inner_sampler", inner_sampler, sampler_names())
        return (nested_sampler_object(inner_sampler, inner_steps, inner_scheduler, eta, inner_sampler_override,
                                      max_seconds=max_seconds, steering=steer, outer_noise=outer_noise),)
