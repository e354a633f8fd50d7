"""If each inner run returned an exact posterior sample, every outer image would be an
exact data sample, for any outer grid and any outer eta. This checks the whole outer loop
(state updates, noise, the flow/VE split) beyond single steps."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from gmm import four_mode_mixture, sliced_wasserstein, sliced_wasserstein_null
from nested_core import paper_outer_sigmas, sample_nested
from sigma_tables import table_for

COUNT = 4000


@lru_cache(maxsize=None)
def _null() -> tuple[float, float]:
    return sliced_wasserstein_null(four_mode_mixture(), COUNT)


def exact_inner(path, gmm, generator):
    """An 'inner sampler' that makes one model call and returns an exact draw from p(x0 | x)."""

    def run(model, x, sigmas, extra_args=None, callback=None, disable=None):
        s = float(sigmas[0])
        model(x, sigmas[0] * x.new_ones([x.shape[0]]), **(extra_args or {}))
        return gmm.posterior_sample(x, 1.0 - s if path == "flow" else 1.0, s, generator)

    return run


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("path", ["ve", "flow"])
def test_every_outer_image_is_a_data_sample_with_an_exact_inner(path, eta):
    gmm = four_mode_mixture()
    table = table_for(path)
    outer = paper_outer_sigmas(table, 4)
    g = torch.Generator().manual_seed(21)
    x0, _ = gmm.sample(COUNT, g)
    s0 = float(outer[0])
    alpha0 = 1.0 - s0 if path == "flow" else 1.0
    x = alpha0 * x0 + s0 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    images = []
    sample_nested(gmm.ve_model if path == "ve" else gmm.flow_model, x, outer, extra_args={"seed": 5},
                  callback=lambda d: images.append(d["denoised"]), inner_sampler=exact_inner(path, gmm, g),
                  inner_sigmas=lambda s: torch.tensor([s, 0.0], dtype=torch.float64), eta=eta, path=path)
    data, _ = gmm.sample(COUNT, torch.Generator().manual_seed(22))
    null_mean, null_std = _null()
    assert len(images) == 4
    for k, image in enumerate(images):
        # Occupancy of a 4000-sample: standard error <= 0.008 per mode.
        occupancy_error = float((gmm.occupancy(image) - gmm.weights).abs().max())
        assert occupancy_error <= 0.035, f"outer step {k}: occupancy off by {occupancy_error:.3f}"
        distance = sliced_wasserstein(image, data)
        assert distance <= null_mean + 4 * null_std, f"outer step {k}: SW {distance:.3f} vs null {null_mean:.3f}"
