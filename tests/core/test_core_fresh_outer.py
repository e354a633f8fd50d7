"""The fresh outer step: the image re-noised with fresh noise to the next level.

The paper's DDIM(eta <= 1) outer step keeps the right marginal only when the inner run returns a
posterior sample of x0 given the outer state. A deterministic inner sampler (an ODE solve) returns
a sample of p(x0) that is a function of that state; the step then adds ``x - x0`` back coherently,
and with every outer step the images spread wider than the data. The fresh step keeps the
marginal for any inner sampler whose images have the data's marginal. Gaussian data, whose exact
denoiser and exact ODE map are known, show both.
"""

from __future__ import annotations

import math

import pytest
import torch

from ksamplers import sample_euler
from nested_core import OUTER_DDIM, OUTER_FRESH, outer_step, sample_nested

DATA_STD = 1.5
COUNT = 200_000


def _tensors(seed, shape=(32, 4)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3)]


@pytest.mark.parametrize("path", ["ve", "flow"])
def test_fresh_step_is_the_image_at_the_next_level_with_the_given_noise(path):
    x, x0, z = _tensors(0)
    for s, s_next in [(0.9, 0.5), (0.5, 0.2), (0.3, 0.01)]:
        got = outer_step(path, x, x0, s, s_next, 0.7, z, OUTER_FRESH)
        want = (x0 if path == "ve" else (1 - s_next) * x0) + s_next * z
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # The last outer step lands on the image itself, as the DDIM step does.
    torch.testing.assert_close(outer_step(path, x, x0, 0.4, 0.0, 0.0, None, OUTER_FRESH), x0)


def test_fresh_step_without_noise_or_with_an_unknown_mode_is_refused():
    x, x0, _ = _tensors(1)
    with pytest.raises(ValueError, match="noise tensor"):
        outer_step("ve", x, x0, 1.0, 0.5, 0.0, None, OUTER_FRESH)
    with pytest.raises(ValueError, match="outer_noise must be one of"):
        outer_step("ve", x, x0, 1.0, 0.5, 0.0, x, "stale")
    with pytest.raises(ValueError, match="outer_noise must be one of"):
        sample_nested(lambda x, s, **k: x, x, torch.tensor([1.0, 0.0], dtype=torch.float64),
                      inner_sampler=sample_euler, inner_sigmas=lambda s: torch.tensor([s, 0.0]), outer_noise="x")


def _ode_image(path, x, s):
    """The exact probability-flow ODE map from level s to 0 for N(0, DATA_STD^2) data."""
    alpha = 1.0 if path == "ve" else 1.0 - s
    return x * DATA_STD / math.sqrt(alpha**2 * DATA_STD**2 + s**2)


@pytest.mark.parametrize("path", ["ve", "flow"])
def test_one_step_toward_an_ode_image_keeps_the_marginal_only_when_fresh(path):
    s, s_next = (2.0, 0.8) if path == "ve" else (0.8, 0.4)
    g = torch.Generator().manual_seed(2)
    alpha, alpha_next = (1.0, 1.0) if path == "ve" else (1 - s, 1 - s_next)
    x = alpha * DATA_STD * torch.randn(COUNT, generator=g, dtype=torch.float64) + s * torch.randn(
        COUNT, generator=g, dtype=torch.float64)
    image = _ode_image(path, x, s)
    z = torch.randn(COUNT, generator=g, dtype=torch.float64)
    want_var = alpha_next**2 * DATA_STD**2 + s_next**2
    fresh = outer_step(path, x, image, s, s_next, 0.0, z, OUTER_FRESH)
    ddim = outer_step(path, x, image, s, s_next, 0.0, z, OUTER_DDIM)
    # 200k draws: the sample variance's relative standard error is 0.3 %.
    assert abs(float(fresh.var()) / want_var - 1) < 0.02
    assert float(ddim.var()) / want_var > 1.08, "the DDIM step toward an ODE image should over-spread"


def _gaussian_denoiser(path):
    def denoise(x, sigma, **_):
        s = sigma.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)
        alpha = torch.ones_like(s) if path == "ve" else 1 - s
        return x * alpha * DATA_STD**2 / (alpha**2 * DATA_STD**2 + s**2)
    return denoise


def _nested_image_stds(path, outer_noise):
    outer = (torch.tensor([80.0, 5.0, 2.0, 0.8, 0.3, 0.0]) if path == "ve"
             else torch.tensor([1.0, 0.8, 0.6, 0.4, 0.2, 0.0])).to(torch.float64)

    def inner(sigma):
        if path == "flow":
            return torch.linspace(sigma, 0.0, 41, dtype=torch.float64)
        return torch.cat([torch.exp(torch.linspace(math.log(sigma), math.log(0.002), 40, dtype=torch.float64)),
                          torch.zeros(1, dtype=torch.float64)])

    g = torch.Generator().manual_seed(3)
    x = torch.randn(COUNT // 4, 1, generator=g, dtype=torch.float64)
    if path == "ve":
        x = x * math.sqrt(80.0**2 + DATA_STD**2)
    stds: list[float] = []
    sample_nested(_gaussian_denoiser(path), x, outer, {"seed": 5},
                  lambda d: stds.append(float(d["denoised"].std()) / DATA_STD),
                  inner_sampler=sample_euler, inner_sigmas=inner, path=path, outer_noise=outer_noise)
    return stds


@pytest.mark.parametrize("path", ["ve", "flow"])
def test_with_a_deterministic_inner_fresh_images_keep_their_spread_and_ddim_ones_grow(path):
    fresh, ddim = _nested_image_stds(path, OUTER_FRESH), _nested_image_stds(path, OUTER_DDIM)
    report = f"image std / data std per outer step: fresh {fresh}, ddim {ddim}"
    # The first image is the same inner run in both (no outer step yet).
    assert fresh[0] == pytest.approx(ddim[0], rel=1e-12), report
    # Fresh: every image within the first one's (Euler) error of the data's spread.
    first_error = abs(fresh[0] - 1.0)
    assert all(abs(v - 1.0) <= first_error + 0.03 for v in fresh), report
    # DDIM toward ODE images: the spread grows past the data's by the last step.
    assert ddim[-1] > 1.3, report


def test_fresh_runs_repeat_with_their_seed_and_differ_from_ddim():
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 5.0
    outer = torch.tensor([5.0, 2.0, 0.5, 0.0], dtype=torch.float64)

    def run(outer_noise, seed):
        return sample_nested(_gaussian_denoiser("ve"), x, outer, {"seed": seed}, inner_sampler=sample_euler,
                             inner_sigmas=lambda s: torch.linspace(s, 0.0, 6, dtype=torch.float64),
                             outer_noise=outer_noise)

    torch.testing.assert_close(run(OUTER_FRESH, 9), run(OUTER_FRESH, 9), rtol=0, atol=0)
    assert not torch.equal(run(OUTER_FRESH, 9), run(OUTER_FRESH, 10))
    assert not torch.equal(run(OUTER_FRESH, 9), run(OUTER_DDIM, 9))
