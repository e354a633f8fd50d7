"""With one inner step the nested sampler is plain DDIM over the outer schedule."""

from __future__ import annotations

import pytest
import torch

from gmm import random_mixture
from ksamplers import NoiseQueue, sample_ddim_flow, sample_euler, sample_euler_ancestral
from nested_core import paper_inner_sigmas, paper_outer_sigmas, sample_nested
from sigma_tables import table_for

OUTER_STEPS = 12


def _plain_and_inner(path, eta, noise):
    """The plain sampler over the outer schedule, and the one-step inner sampler for that path."""
    if path == "flow":
        return (lambda *a, **k: sample_ddim_flow(*a, eta=eta, noise=noise, **k)), sample_ddim_flow
    if eta == 0:
        return sample_euler, sample_euler
    return (lambda *a, **k: sample_euler_ancestral(*a, eta=eta, noise=noise, **k)), sample_euler


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("path", ["ve", "flow"])
def test_one_inner_step_is_plain_ddim(path, eta):
    gmm = random_mixture(dim=3, components=3, seed=5)
    table = table_for(path)
    model = gmm.ve_model if path == "ve" else gmm.flow_model
    outer = paper_outer_sigmas(table, OUTER_STEPS)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(64, 3, generator=g, dtype=torch.float64) * float(outer[0])
    draws = [torch.randn(64, 3, generator=g, dtype=torch.float64) for _ in range(OUTER_STEPS)]
    plain, inner = _plain_and_inner(path, eta, NoiseQueue(draws))

    plain_images, nested_images = [], []
    want = plain(model, x.clone(), outer, callback=lambda d: plain_images.append(d["denoised"]))
    got = sample_nested(
        model, x.clone(), outer, callback=lambda d: nested_images.append(d["denoised"]),
        inner_sampler=inner, inner_sigmas=lambda s: paper_inner_sigmas(table, s, 1),
        eta=eta, path=path, noise_sampler=NoiseQueue(draws),
    )

    assert len(nested_images) == len(plain_images) == OUTER_STEPS
    for k, (a, b) in enumerate(zip(nested_images, plain_images)):
        assert float((a - b).abs().max()) <= 1e-12, f"outer step {k}"
    assert float((got - want).abs().max()) <= 1e-12
