"""The outer step of Nested Diffusion in k-diffusion sigma space.

The reference code (NestedScheduler.step with ``prediction_type='sample'``) moves the outer
state toward the inner run's sample with a DDIM(eta) update on the VP path
``x_VP = sqrt(a)*x0 + sqrt(1-a)*eps`` (a = alpha_bar). Dividing by sqrt(a) gives the VE path
``x~ = x_VP / sqrt(a) = x0 + sigma*eps`` with ``sigma = sqrt((1-a)/a)``, and in those units the
DDIM(eta) update is exactly an ancestral split of the next level into (sigma_down, sigma_up)
plus an Euler step to sigma_down and fresh noise of size sigma_up:

* VE-style paths ``x = x0 + sigma*eps`` (EPS, V-prediction and EDM models): the k-diffusion
  ancestral step ``x' = x0 + sigma_down/sigma * (x - x0) + sigma_up * z``.
* Flow paths ``x = (1-s)*x0 + s*eps`` (SD3, Flux): the same step taken in ``x/(1-s)`` with
  ``sigma~ = s/(1-s)`` and mapped back by ``(1-s')``, which is the DDIM posterior in flow units,
  ``x' = (1-s')*x0 + sqrt(s'^2 - c^2)*eps_hat + c*z`` with
  ``c^2 = eta^2 * (s'^2/s^2) * (s^2 - ((1-s)/(1-s'))^2 * s'^2)``.

With eta = 0 both reduce to the Euler step ``x' = x0 + (s'/s)(x - x0)``.

The DDIM family goes on past eta = 1 up to the member that keeps none of ``x - x0``: the image
re-noised with fresh noise, ``x' = x0 + s'*z`` (VE) or ``(1-s')*x0 + s'*z`` (flow). Every member
keeps the right marginal at ``s'`` when ``x0`` is a sample of the posterior p(x0 | x), which a
stochastic inner sampler approximates. Only this last member also keeps it when ``x0`` is merely
a sample of p(x0), which is what a deterministic inner sampler (an ODE solve: euler, heun,
dpmpp_2m) returns: there ``x - x0`` is a function of ``x0``, the eta <= 1 steps add it back
coherently, and the image's contrast and noise grow with every outer step.
"""

from __future__ import annotations

import math

import torch

VE = "ve"
FLOW = "flow"
PATHS = (VE, FLOW)

# How the outer step moves toward the inner sample: the paper's DDIM(eta) step, which keeps the
# run's noise direction, or the fresh re-noising of the image (the module docstring says when
# each keeps the marginal).
OUTER_DDIM = "ddim"
OUTER_FRESH = "fresh"
OUTER_NOISES = (OUTER_DDIM, OUTER_FRESH)


def ve_ancestral_split(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """(sigma_down, sigma_up) of a DDIM(eta) step from sigma to sigma_next on a VE path.

    Same split as k-diffusion's get_ancestral_step; eta = 1 is the DDPM posterior variance.
    """
    if sigma_next == 0 or eta == 0:
        return sigma_next, 0.0
    up = eta * math.sqrt(max(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2, 0.0))
    up = min(up, sigma_next)
    return math.sqrt(sigma_next**2 - up**2), up


def flow_posterior_split(s: float, s_next: float, eta: float) -> tuple[float, float]:
    """(eps coefficient, noise coefficient c) of a DDIM(eta) step on a flow path.

    This is the DDPM-posterior family (eta = 1 is the true posterior q(x_s' | x_s, x0)).
    ComfyUI's ``euler_ancestral_RF`` parametrises eta differently (it shrinks sigma_down
    linearly), so the same eta number injects a different amount of noise there.
    """
    if s_next == 0 or eta == 0:
        return s_next, 0.0
    ratio = (1.0 - s) / (1.0 - s_next)
    c2 = eta**2 * (s_next**2 / s**2) * (s**2 - (ratio * s_next) ** 2)
    c2 = min(max(c2, 0.0), s_next**2)
    return math.sqrt(s_next**2 - c2), math.sqrt(c2)


def outer_step(
    path: str,
    x: torch.Tensor,
    x0: torch.Tensor,
    sigma: float,
    sigma_next: float,
    eta: float,
    noise: torch.Tensor | None,
    outer_noise: str = OUTER_DDIM,
) -> torch.Tensor:
    """Move the outer state ``x`` at ``sigma`` to ``sigma_next`` toward the sample ``x0``.

    ``noise`` is a standard normal tensor shaped like ``x``; it is only read when the step
    injects noise (eta > 0 or ``outer_noise`` fresh, and sigma_next > 0). ``eta`` is not read
    by the fresh step.
    """
    if outer_noise not in OUTER_NOISES:
        raise ValueError(f"outer_noise must be one of {OUTER_NOISES}, got {outer_noise!r}")
    if sigma_next == 0:
        return x0
    if outer_noise == OUTER_FRESH:
        if noise is None:
            raise ValueError("a fresh outer step needs a noise tensor")
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        return (x0 if path == VE else (1.0 - sigma_next) * x0) + noise * sigma_next
    if path == VE:
        down, up = ve_ancestral_split(sigma, sigma_next, eta)
        out = x0 + (x - x0) * (down / sigma)
    elif path == FLOW:
        eps_coef, up = flow_posterior_split(sigma, sigma_next, eta)
        eps_hat = (x - (1.0 - sigma) * x0) / sigma
        out = (1.0 - sigma_next) * x0 + eps_coef * eps_hat
    else:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if up > 0:
        if noise is None:
            raise ValueError("outer step with eta > 0 needs a noise tensor")
        out = out + noise * up
    return out


def reference_x0_scale(path: str, sigma_end: float) -> float:
    """Factor the reference applies to an inner run that stops at sigma_end > 0.

    The reference ends each inner run at timestep 0 and hands the VP latent
    ``sqrt(alpha_bar_0) * x`` to the outer step; in sigma units that is ``x / sqrt(1 + sigma^2)``.
    Flow paths have no such factor: their noise level reaches 0 exactly.
    """
    if sigma_end <= 0 or path != VE:
        return 1.0
    return 1.0 / math.sqrt(1.0 + sigma_end**2)
