"""A video model (5-D latents) through the pack's nodes on the running host: results, previews
of every outer step, and the outer-step images, for a tiny WAN 2.1 built from the host's classes."""

from __future__ import annotations

import functools

import pytest
import torch
from PIL import Image

import latent_preview
from comfy.cli_args import LatentPreviewMethod

from host_fixtures import (
    NODES,
    captured_previews,
    nested_in_sampler_custom_advanced,
    outer_step_previews,
    preview_method,
)
from tiny_models import VIDEO_CHANNELS, build_tiny_video_model, empty_video_latent, tiny_conditioning

OUTER, INNER = 3, 2
video_model = functools.lru_cache(maxsize=None)(build_tiny_video_model)


def run_nested_ksampler(batch=1, frames=3):
    return NODES["NestedKSampler"]().sample(video_model(), 5, OUTER, INNER, 3.0, "euler", "normal",
                                            tiny_conditioning(1), tiny_conditioning(zero=True),
                                            empty_video_latent(batch, frames), 1.0)


@pytest.mark.parametrize("method", [LatentPreviewMethod.NoPreviews, LatentPreviewMethod.Latent2RGB])
def test_video_model_runs_with_a_preview_per_outer_step(method):
    with preview_method(method), captured_previews() as calls:
        out, images = run_nested_ksampler(batch=2)
    final, steps = out["samples"], images["samples"]
    assert final.shape == (2, VIDEO_CHANNELS, 3, 8, 8) and bool(torch.isfinite(final).all())
    assert steps.shape == (OUTER * 2, VIDEO_CHANNELS, 3, 8, 8)
    torch.testing.assert_close(steps[-2:], final, rtol=0, atol=1e-5)
    previews = outer_step_previews(calls)
    assert len(previews) == OUTER, calls
    for image in previews:
        assert isinstance(image, Image.Image) and image.size == (8, 8) and image.mode == "RGB"
    # The last preview is the host's latent2rgb picture of the final video's first frame.
    with preview_method(LatentPreviewMethod.Latent2RGB):
        host = latent_preview.get_previewer("cpu", video_model().get_model_object("latent_format"))
    expected = host.decode_latent_to_preview(video_model().model.process_latent_in(final))
    assert previews[-1].tobytes() == expected.tobytes()


def test_video_model_in_sampler_custom_advanced():
    with preview_method(LatentPreviewMethod.NoPreviews), captured_previews() as calls:
        out, denoised = nested_in_sampler_custom_advanced(video_model(), tiny_conditioning(1),
                                                          tiny_conditioning(zero=True), empty_video_latent(),
                                                          OUTER, INNER)
    assert out["samples"].shape == (1, VIDEO_CHANNELS, 3, 8, 8) and bool(torch.isfinite(out["samples"]).all())
    torch.testing.assert_close(denoised["samples"], out["samples"], rtol=0, atol=1e-5)
    assert len(outer_step_previews(calls)) == OUTER, calls
