"""Every ComfyUI sampler as the inner sampler, on EPS, V-prediction and flow tiny models."""

import pytest
import torch

import comfy.samplers

from host_fixtures import run_nested_ksampler


@pytest.mark.parametrize("kind", ["eps", "v_prediction", "flow"])
@pytest.mark.parametrize("sampler", comfy.samplers.SAMPLER_NAMES)
def test_every_inner_sampler_gives_finite_images(kind, sampler):
    out, images = run_nested_ksampler(kind, outer=2, inner=3, cfg=1.0, sampler=sampler, scheduler="paper_faithful")
    assert torch.isfinite(out["samples"]).all()
    assert images["samples"].shape[0] == 2
    assert torch.isfinite(images["samples"]).all()
    assert out["samples"].abs().sum() > 0


@pytest.mark.parametrize("kind", ["eps", "flow"])
@pytest.mark.parametrize("scheduler", comfy.samplers.SCHEDULER_NAMES + ["paper_faithful", "paper_exact"])
def test_every_scheduler_gives_finite_images(kind, scheduler):
    out, _ = run_nested_ksampler(kind, outer=3, inner=3, cfg=1.0, sampler="dpmpp_2m", scheduler=scheduler)
    assert torch.isfinite(out["samples"]).all()
