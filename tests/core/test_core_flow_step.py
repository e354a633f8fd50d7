"""The outer step. On flow paths x = (1-s)*x0 + s*eps it is the VE (k-diffusion ancestral) step
taken in x/(1-s) with sigma~ = s/(1-s) and mapped back by (1-s'); and stepping toward an exact
posterior sample of x0 keeps the path's marginal, for any eta (the reason the outer process is
sound: a perfect inner run would make every outer state an exact sample of its noise level)."""

from __future__ import annotations

import pytest
import torch

from ksamplers import ve_ancestral_step
from nested_core import outer_step

ETAS = [0.0, 0.3, 0.85, 1.0]
LEVEL_PAIRS = [(0.9, 0.6), (0.5, 0.45), (0.99, 0.01), (0.7, 0.1), (0.3, 0.0), (0.05, 0.02)]


def _tensors(seed, shape=(64, 8)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3)]


@pytest.mark.parametrize("eta", ETAS)
def test_flow_step_is_the_ve_step_in_scaled_space(eta):
    x, x0, z = _tensors(0)
    for s, s_next in LEVEL_PAIRS:
        got = outer_step("flow", x, x0, s, s_next, eta, z)
        scaled = ve_ancestral_step(x / (1 - s), x0, s / (1 - s), s_next / (1 - s_next), eta, z)
        torch.testing.assert_close(got, (1 - s_next) * scaled, rtol=1e-12, atol=1e-12,
                                   msg=lambda m, s=s, t=s_next: f"s={s} -> {t}: {m}")


@pytest.mark.parametrize("eta", ETAS)
def test_ve_step_is_k_diffusion_euler_ancestral(eta):
    x, x0, z = _tensors(1)
    for sigma, sigma_next in [(14.6, 11.5), (3.0, 0.5), (0.2, 0.03), (1.0, 0.0)]:
        want = ve_ancestral_step(x, x0, sigma, sigma_next, eta, z)
        torch.testing.assert_close(outer_step("ve", x, x0, sigma, sigma_next, eta, z), want, rtol=1e-12, atol=1e-12)


def _exact_posterior_step(path, s, s_next, eta, mean=0.7, var=2.0, count=400_000, seed=3):
    """x ~ the path's marginal for Gaussian data N(mean, var); one outer step toward an exact
    posterior sample of x0. Returns the new states and the marginal (mean, var) they should have."""
    alpha, alpha_next = (1 - s, 1 - s_next) if path == "flow" else (1.0, 1.0)
    g = torch.Generator().manual_seed(seed)
    x0 = mean + var**0.5 * torch.randn(count, generator=g, dtype=torch.float64)
    x = alpha * x0 + s * torch.randn(count, generator=g, dtype=torch.float64)
    post_var = 1.0 / (1.0 / var + alpha**2 / s**2)
    post_mean = post_var * (mean / var + alpha * x / s**2)
    sample = post_mean + post_var**0.5 * torch.randn(count, generator=g, dtype=torch.float64)
    z = torch.randn(count, generator=g, dtype=torch.float64)
    out = outer_step(path, x, sample, s, s_next, eta, z)
    return out, alpha_next * mean, alpha_next**2 * var + s_next**2


@pytest.mark.parametrize("eta", [0.0, 0.5, 0.85, 1.0])
@pytest.mark.parametrize(("path", "s", "s_next"), [
    ("flow", 0.9, 0.5), ("flow", 0.6, 0.2), ("flow", 0.5, 0.45), ("flow", 0.97, 0.3),
    ("ve", 10.0, 3.0), ("ve", 1.0, 0.4),
])
def test_exact_posterior_step_keeps_the_marginal(path, s, s_next, eta):
    out, want_mean, want_var = _exact_posterior_step(path, s, s_next, eta)
    # 400k draws: the sample variance's relative standard error is sqrt(2/400k) = 0.22 %.
    assert abs(float(out.var()) / want_var - 1) < 0.02
    assert abs(float(out.mean()) - want_mean) < 0.02 * want_var**0.5
