"""ControlNet reaches every inner model call: it is part of the conditioning the shared model
wrapper evaluates, so the nested result changes with it and stays reproducible."""

import torch

import nodes as comfy_nodes

from host_fixtures import NODES, conds, empty_latent, tiny
from tiny_models import build_tiny_controlnet


def sample(positive, negative):
    return NODES["NestedKSampler"]().sample(
        model=tiny("eps"), seed=5, outer_steps=3, inner_steps=2, cfg=2.0, sampler_name="euler", scheduler="normal",
        positive=positive, negative=negative, latent_image=empty_latent(), denoise=1.0)[0]["samples"]


def test_controlnet_applies_inside_inner_runs():
    positive, negative = conds()
    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    controlled = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        positive, negative, build_tiny_controlnet(), hint, 1.0, 0.0, 1.0)
    plain = sample(positive, negative)
    with_control = sample(*controlled)
    assert torch.isfinite(with_control).all()
    assert not torch.allclose(with_control, plain, atol=1e-3)
    assert torch.equal(with_control, sample(*controlled))
