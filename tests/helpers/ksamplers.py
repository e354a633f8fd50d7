"""k-diffusion-convention samplers for the tests (nested_core ships none; in ComfyUI the host's run).

Written from the k-diffusion / DDIM formulas, not from nested_core, so the tests compare two
independent statements of the same math.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch

NoiseSource = Callable[[float, float], torch.Tensor]


class NoiseQueue:
    """Pre-drawn standard normal tensors handed out in order. Give each side of a comparison its
    own queue over the same list, so both consume identical draws."""

    def __init__(self, draws):
        self._draws = list(draws)
        self.used = 0

    def __call__(self, *levels: float) -> torch.Tensor:
        z = self._draws[self.used]
        self.used += 1
        return z


def seeded_noise(x: torch.Tensor, seed: Optional[int]) -> NoiseSource:
    """Like ComfyUI's default noise sampler: a CPU generator seeded from extra_args['seed']."""
    g = torch.Generator().manual_seed(0 if seed is None else int(seed))

    def draw(sigma: float, sigma_next: float) -> torch.Tensor:
        return torch.randn(x.shape, generator=g, dtype=torch.float32).to(dtype=x.dtype, device=x.device)

    return draw


def ancestral_split(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """k-diffusion's get_ancestral_step: (sigma_down, sigma_up)."""
    if eta == 0 or sigma_next == 0:
        return sigma_next, 0.0
    up = min(sigma_next, eta * math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2))
    return math.sqrt(sigma_next**2 - up**2), up


def ve_ancestral_step(x, denoised, sigma, sigma_next, eta, z):
    """One euler_ancestral step, k-diffusion form: Euler to sigma_down, then sigma_up * z."""
    down, up = ancestral_split(sigma, sigma_next, eta)
    d = (x - denoised) / sigma
    x = x + d * (down - sigma)
    return x + z * up if up > 0 else x


def path_ddim_step(x, denoised, alpha, s, alpha_next, s_next, eta, z):
    """DDIM(eta) on any Gaussian path x = alpha*x0 + s*eps, given the x0 estimate.

    The noise std is c = eta * s' * sqrt(1 - (alpha*s' / (alpha'*s))^2), which is DDIM's
    sigma_t(eta) written without alpha_bar; eta = 1 is the posterior q(x' | x, x0).
    """
    if s_next == 0:
        return denoised
    eps_hat = (x - alpha * denoised) / s
    c = eta * s_next * math.sqrt(max(1.0 - (alpha * s_next / (alpha_next * s)) ** 2, 0.0))
    out = alpha_next * denoised + math.sqrt(s_next**2 - c**2) * eps_hat
    return out + z * c if c > 0 else out


def _prepare(x, extra_args, noise):
    extra_args = {} if extra_args is None else extra_args
    draw = noise if noise is not None else seeded_noise(x, extra_args.get("seed"))
    return extra_args, draw, x.new_ones([x.shape[0]])


def _report(callback, i, x, sigmas, denoised):
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})


def _one_call_per_step(model, x, sigmas, extra_args, callback, step):
    """The loop of every one-call-per-step sampler here: denoise, report, then
    ``x = step(x, denoised, sigma, sigma_next)``."""
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        _report(callback, i, x, sigmas, denoised)
        x = step(x, denoised, float(sigmas[i]), float(sigmas[i + 1]))
    return x


@torch.no_grad()
def sample_euler(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """k-diffusion sample_euler without churn: plain DDIM(eta=0) in sigma space."""
    def step(x, denoised, sigma, sigma_next):
        return x + (x - denoised) / sigma * (sigma_next - sigma)

    return _one_call_per_step(model, x, sigmas, extra_args or {}, callback, step)


@torch.no_grad()
def sample_euler_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=1.0, noise=None):
    """k-diffusion sample_euler_ancestral = DDIM(eta) on a VE path. ``noise(sigma, sigma_next)``
    overrides the draws, which are otherwise seeded from extra_args['seed']."""
    extra_args, draw, _ = _prepare(x, extra_args, noise)

    def step(x, denoised, sigma, sigma_next):
        z = draw(sigma, sigma_next) if (eta > 0 and sigma_next > 0) else None
        return ve_ancestral_step(x, denoised, sigma, sigma_next, eta, z)

    return _one_call_per_step(model, x, sigmas, extra_args, callback, step)


@torch.no_grad()
def sample_ddim_flow(model, x, sigmas, extra_args=None, callback=None, disable=None, eta=0.0, noise=None):
    """DDIM(eta) on the flow path x = (1-s)*x0 + s*eps (eta = 1: the DDPM posterior)."""
    extra_args, draw, _ = _prepare(x, extra_args, noise)

    def step(x, denoised, s, s_next):
        z = draw(s, s_next) if (eta > 0 and s_next > 0) else None
        return path_ddim_step(x, denoised, 1.0 - s, s, 1.0 - s_next, s_next, eta, z)

    return _one_call_per_step(model, x, sigmas, extra_args, callback, step)


@torch.no_grad()
def sample_heun(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """k-diffusion sample_heun without churn: 2 model calls per step, 1 on the final step to 0."""
    extra_args, _, s_in = _prepare(x, extra_args, noise=lambda *a: None)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        _report(callback, i, x, sigmas, denoised)
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        d = (x - denoised) / sigma
        x_euler = x + d * (sigma_next - sigma)
        if sigma_next == 0:
            x = x_euler
            continue
        d2 = (x_euler - model(x_euler, sigmas[i + 1] * s_in, **extra_args)) / sigma_next
        x = x + (d + d2) / 2 * (sigma_next - sigma)
    return x
