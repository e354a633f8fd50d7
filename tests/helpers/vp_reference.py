"""An independent VP-space re-derivation of the reference Nested Diffusion (the authors'
NestedPipeline / NestedScheduler for Stable Diffusion) and the conformance check of sample_nested
against it.

The reference's outer grid is T = round(linspace(1, 999, N+1)) reversed, of which it evaluates the
first N; the inner run at outer timestep t evaluates tau = round(linspace(1, t, min(n, t)))
reversed and then steps to timestep 0, and its output (still at timestep 0's noise level) is the
x0 of the outer DDIM step.

The reference side works in diffusers units: integer timesteps, alpha_bar, an epsilon
prediction computed from the mixture in VP form, DDIM updates with prediction_type 'epsilon'
(inner) and 'sample' (outer, eta 0). Nothing here reads nested_core's schedules or steps.
"""

from __future__ import annotations

import math

import torch

from gmm import GaussianMixture, random_mixture
from ksamplers import NoiseQueue, sample_euler_ancestral
from nested_core import paper_inner_sigmas, paper_outer_sigmas, sample_nested
from sigma_tables import sd_alphas_cumprod, sd_sigma_table

# Conformance configurations (outer steps N, inner steps n): the reference's command-line setting
# (25 x 4), its pipeline default (5 x 20) and an odd grid.
CONFIGS = [(25, 4), (5, 20), (8, 6)]
INNER_ETAS = [0.0, 0.85]
ENDS = ["sigma_min", "zero"]


def rounded_linspace(start: int, stop: int, num: int) -> list[int]:
    """np.linspace(start, stop, num).round() with numpy's arithmetic (k*step + start, last = stop,
    round half to even), which is what the reference's NestedScheduler.set_timesteps does."""
    if num == 1:
        return [round(float(start))]
    step = (stop - start) / (num - 1)
    values = [k * step + start for k in range(num)]
    values[-1] = float(stop)
    return [round(v) for v in values]


def vp_eps(gmm: GaussianMixture, x_t: torch.Tensor, abar: float) -> torch.Tensor:
    """E[eps | x_t] for x_t = sqrt(abar) x0 + sqrt(1-abar) eps: x_t | k ~ N(sqrt(abar) mu_k, (abar v_k + 1-abar) I)."""
    a, b = math.sqrt(abar), math.sqrt(1.0 - abar)
    var = abar * gmm.variances + (1.0 - abar)
    diff = x_t[:, None, :] - a * gmm.means[None]
    log_p = gmm.weights.log()[None] - 0.5 * gmm.dim * var.log()[None] - 0.5 * (diff**2).sum(-1) / var[None]
    resp = torch.softmax(log_p, dim=1)
    return (resp[..., None] * (b / var)[None, :, None] * diff).sum(1)


def ddim_step(sample, model_output, abar_t, abar_prev, eta, prediction_type, noise):
    """diffusers DDIMScheduler.step (clip_sample=False), alpha_bar values given directly."""
    beta_t = 1.0 - abar_t
    if prediction_type == "epsilon":
        x0 = (sample - math.sqrt(beta_t) * model_output) / math.sqrt(abar_t)
        eps = model_output
    else:  # 'sample': the model output is x0 itself
        x0 = model_output
        eps = (sample - math.sqrt(abar_t) * x0) / math.sqrt(beta_t)
    variance = (1.0 - abar_prev) / beta_t * (1.0 - abar_t / abar_prev)
    std = eta * math.sqrt(max(variance, 0.0))
    out = math.sqrt(abar_prev) * x0 + math.sqrt(max(1.0 - abar_prev - std**2, 0.0)) * eps
    if std > 0:
        out = out + std * noise()
    return out


def reference_images(gmm, x_T, abar, outer_steps, inner_steps, inner_eta, noise, last_abar):
    """Every outer step's inner output (the yielded x0'), reference pipeline, outer eta 0.

    ``last_abar`` is the alpha_bar the last inner step targets: alphas_cumprod[0] in the
    reference code, 1 with diffusers' set_alpha_to_one=True semantics.
    """
    T = rounded_linspace(1, 999, min(outer_steps + 1, 999))[::-1]
    x, images = x_T, []
    for k in range(outer_steps):
        t = T[k]
        tau = rounded_linspace(1, t, min(inner_steps, t))[::-1]
        y = x
        for j, step_t in enumerate(tau):
            prev = abar[tau[j + 1]] if j + 1 < len(tau) else last_abar
            y = ddim_step(y, vp_eps(gmm, y, abar[step_t]), abar[step_t], prev, inner_eta, "epsilon", noise)
        images.append(y)
        x = ddim_step(x, y, abar[t], abar[T[k + 1]], 0.0, "sample", None)
    return images


def pack_images(gmm, x_T, table, outer_steps, inner_steps, inner_eta, noise, end):
    """The same run through sample_nested in sigma space; returns the callback's images."""
    outer = paper_outer_sigmas(table, outer_steps)
    images = []
    sample_nested(
        gmm.ve_model, x_T * math.sqrt(1.0 + float(outer[0]) ** 2), outer,
        callback=lambda d: images.append(d["denoised"]),
        inner_sampler=sample_euler_ancestral,
        inner_sigmas=lambda s: paper_inner_sigmas(table, s, inner_steps, end=end),
        inner_options={"eta": inner_eta, "noise": noise},
    )
    return images


def conformance_errors(outer_steps, inner_steps, inner_eta, end, reference_end=None, batch=256, seed=0):
    """(max abs error over all outer images, draws used by pack, draws used by reference).

    ``reference_end`` picks the reference variant (default: the one matching ``end``); passing the
    other one measures how far apart the two conventions are.
    """
    reference_end = end if reference_end is None else reference_end
    abar_t = sd_alphas_cumprod()
    abar = [float(a) for a in abar_t]
    table = sd_sigma_table()
    gmm = random_mixture(dim=4, components=3, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    x_T = torch.randn(batch, gmm.dim, generator=g, dtype=torch.float64)
    draws = [torch.randn(batch, gmm.dim, generator=g, dtype=torch.float64)
             for _ in range(outer_steps * inner_steps)]
    last_abar = abar[0] if reference_end == "sigma_min" else 1.0
    pack_noise, ref_noise = NoiseQueue(draws), NoiseQueue(draws)
    got = pack_images(gmm, x_T, table, outer_steps, inner_steps, inner_eta, pack_noise, end)
    want = reference_images(gmm, x_T, abar, outer_steps, inner_steps, inner_eta, ref_noise, last_abar)
    if len(got) != len(want):
        raise AssertionError(f"{len(got)} outer images from sample_nested, {len(want)} from the reference")
    error = max(float((a - b).abs().max()) for a, b in zip(got, want))
    return error, pack_noise.used, ref_noise.used
