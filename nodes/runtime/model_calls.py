"""How many model calls each ComfyUI sampler makes in one inner run: the one table behind the
progress bar's total, the time budget's pace and the panel's planned cost (the panel reads it
from ``GET /nested_diffusion/model_calls``, so there is no second copy to drift).

Keyed by sampler name, which is also the k-diffusion function's name without ``sample_`` (so a
configured SAMPLER from another node is looked up by its function). A CFG pair counts as one
call. Checked against calls counted in real runs for every sampler the host lists
(tests/host/sampling/test_planned_calls_js.py).
"""

from __future__ import annotations

# Extra model calls per step, except on the last step down to noise 0, which these samplers
# take as a plain Euler step (one call).
CALLS_PER_STEP = {
    "heun": 2, "dpm_2": 2, "dpm_2_ancestral": 2, "dpm_2_ancestral_RF": 2, "dpmpp_2s_ancestral": 2,
    "dpmpp_2s_ancestral_RF": 2, "dpmpp_2s_ancestral_cfg_pp": 2, "dpmpp_sde": 2, "dpmpp_sde_gpu": 2,
    "seeds_2": 2, "exp_heun_2_x0": 2, "exp_heun_2_x0_sde": 2, "sa_solver_pece": 2,
    "seeds_3": 3,
    # Three calls a step, but a Heun step (two calls) before the schedule's last level and one
    # Euler call onto it, wherever the schedule ends (it compares with its last level, not 0).
    "heunpp2": 3,
}
RULES = {"heunpp2": "heunpp2"}
# Adaptive step size: the calls are known only afterwards; planned as one per step.
ADAPTIVE = {"dpm_adaptive"}


def rule_of(name: str) -> str:
    if name in ADAPTIVE:
        return "adaptive"
    return RULES.get(name, "last_step_one_call")


def inner_run_calls(name: str, steps: int, ends_at_zero: bool) -> int:
    """Model calls of an inner run of ``steps`` schedule steps with sampler ``name``."""
    if steps <= 0:
        return 0
    per = CALLS_PER_STEP.get(name, 1)
    if rule_of(name) == "heunpp2":
        return 3 * steps - 3 if steps >= 2 else steps
    return per * steps - (per - 1) if ends_at_zero else per * steps


def call_table(sampler_names) -> dict:
    """The table as the panel reads it: every listed sampler's calls per step and rule."""
    return {name: {"per_step": CALLS_PER_STEP.get(name, 1), "rule": rule_of(name)} for name in sampler_names}
