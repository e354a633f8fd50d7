"""Audio-video models whose LATENT holds several streams, which the host samples packed into one
flat tensor (ComfyUI 0.3.76+): the pack's outputs, previews and stop-and-keep result come out in
the form the host's own samplers give, for a tiny LTXAV built from the host's classes."""

from __future__ import annotations

import functools

import pytest

from tiny_models import PACKED_LATENTS_MISSING, host_packs_latents

if not host_packs_latents():
    pytest.skip(PACKED_LATENTS_MISSING, allow_module_level=True)

import torch  # noqa: E402

import comfy.nested_tensor  # noqa: E402
import comfy.utils  # noqa: E402
import latent_preview  # noqa: E402
from comfy.cli_args import LatentPreviewMethod  # noqa: E402

from host_fixtures import (  # noqa: E402
    NODES,
    captured_previews,
    nested_in_sampler_custom_advanced,
    outer_step_previews,
    pack_module,
    preview_method,
    stopping_after,
)
from tiny_models import av_conditioning, build_tiny_av_model, empty_av_latent  # noqa: E402

STOPS = pack_module("nodes.runtime.stop_requests").STOPS
OUTER, INNER = 3, 2
av_model = functools.lru_cache(maxsize=None)(build_tiny_av_model)


def streams(latent) -> list[torch.Tensor]:
    assert isinstance(latent, comfy.nested_tensor.NestedTensor), f"expected a NestedTensor, got {type(latent)}"
    return latent.unbind()


def run_av_nested_ksampler(model=None, batch=1, seed=5):
    return NODES["NestedKSampler"]().sample(model or av_model(), seed, OUTER, INNER, 3.0, "euler", "normal",
                                            av_conditioning(1), av_conditioning(zero=True),
                                            empty_av_latent(batch), 1.0)


def host_video_preview(video: torch.Tensor):
    with preview_method(LatentPreviewMethod.Latent2RGB):
        host = latent_preview.get_previewer("cpu", av_model().get_model_object("latent_format"))
    return host.decode_latent_to_preview(av_model().model.process_latent_in(video))


def test_outputs_are_unpacked_like_the_hosts_ksampler():
    latent = empty_av_latent(batch=2)
    shapes = [t.shape for t in streams(latent["samples"])]
    out, images = run_av_nested_ksampler(batch=2)
    final = streams(out["samples"])
    assert [t.shape for t in final] == shapes and all(bool(torch.isfinite(t).all()) for t in final)
    steps = streams(images["samples"])
    assert [t.shape for t in steps] == [(OUTER * 2,) + tuple(s[1:]) for s in shapes]
    for stream_steps, stream_final in zip(steps, final):
        torch.testing.assert_close(stream_steps[-2:], stream_final, rtol=0, atol=1e-5)
    # The host's own KSampler on the same model and latent returns the same form.
    host_out = host_ksampler(latent)
    assert [t.shape for t in streams(host_out)] == shapes


def host_ksampler(latent):
    import nodes

    return nodes.KSampler().sample(av_model(), 5, 2, 3.0, "euler", "normal", av_conditioning(1),
                                   av_conditioning(zero=True), latent, 1.0)[0]["samples"]


@pytest.mark.parametrize("method", [LatentPreviewMethod.NoPreviews, LatentPreviewMethod.Latent2RGB])
def test_one_video_preview_per_outer_step(method):
    with preview_method(method), captured_previews() as calls:
        out, _ = run_av_nested_ksampler()
    previews = outer_step_previews(calls)
    assert len(previews) == OUTER, calls
    # The preview shows the video stream, as the host's preview of a packed latent does.
    assert previews[-1].tobytes() == host_video_preview(streams(out["samples"])[0]).tobytes()


def test_sampler_in_sampler_custom_advanced_gives_nested_outputs():
    with preview_method(LatentPreviewMethod.NoPreviews), captured_previews() as calls:
        out, denoised = nested_in_sampler_custom_advanced(av_model(), av_conditioning(1), av_conditioning(zero=True),
                                                          empty_av_latent(), OUTER, INNER)
    for a, b in zip(streams(out["samples"]), streams(denoised["samples"])):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    assert len(outer_step_previews(calls)) == OUTER, calls


def test_stop_and_keep_returns_the_last_finished_streams():
    model = stopping_after(av_model(), INNER + 1)  # during outer step 2
    out, images = run_av_nested_ksampler(model)
    final, steps = streams(out["samples"]), streams(images["samples"])
    assert [t.shape[0] for t in steps] == [2, 2], "outer step 2 completes: a stop is polled between model calls"
    for stream_steps, stream_final in zip(steps, final):
        torch.testing.assert_close(stream_steps[-1:], stream_final, rtol=0, atol=1e-5)
    assert STOPS.request() == []


def test_advanced_chain_hands_the_streams_on():
    node = NODES["NestedKSamplerAdvanced"]()
    common = (OUTER + 1, INNER, 3.0, "euler", "normal", av_conditioning(1), av_conditioning(zero=True))
    first, _ = node.sample(av_model(), "enable", 5, *common, empty_av_latent(), 0, 2, "enable")
    second, images = node.sample(av_model(), "disable", 5, *common, first, 2, 10000, "disable")
    shapes = [t.shape for t in streams(empty_av_latent()["samples"])]
    assert [t.shape for t in streams(first["samples"])] == shapes
    assert [t.shape for t in streams(second["samples"])] == shapes
    assert [t.shape[0] for t in streams(images["samples"])] == [OUTER + 1 - 2] * 2
    whole, _ = node.sample(av_model(), "enable", 5, *common, empty_av_latent(), 0, 10000, "disable")
    for a, b in zip(streams(second["samples"]), streams(whole["samples"])):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
