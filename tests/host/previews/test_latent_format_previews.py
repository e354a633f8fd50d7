"""The fallback preview decodes a latent of every latent format the running host has.

With ComfyUI's default ``--preview-method none`` the pack builds its own latent2rgb preview.
It must decode whatever a model of any format hands it (Flux 2's 128-channel latents need the
format's ``latent_rgb_factors_reshape`` on hosts that have it), and it must show the same image
the host's own latent2rgb previewer would.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from PIL import Image

import comfy.latent_formats
import comfy.utils
import latent_preview
from comfy.cli_args import LatentPreviewMethod

from host_fixtures import pack_module, preview_method

reporter = pack_module("nodes.previews.outer_step_reporter")
host_latents = pack_module("nodes.host.latents")

SIDE = 6     # latent height and width
FRAMES = 3   # latent frames of video formats
LENGTH = 10  # latent length of 1-D (audio, 3-D mesh) formats


def latent_format_classes() -> list[type]:
    classes = [cls for cls in vars(comfy.latent_formats).values()
               if inspect.isclass(cls) and issubclass(cls, comfy.latent_formats.LatentFormat)]
    return sorted(classes, key=lambda cls: cls.__name__)


def latent_of(latent_format, seed: int = 0):
    """A random latent of the format's shape: (B, C, L), (B, C, H, W) or (B, C, T, H, W), shaped
    further by the format as the host shapes an empty latent (audio-video formats make it a
    NestedTensor of their streams)."""
    spatial = {1: (LENGTH,), 2: (SIDE, SIDE), 3: (FRAMES, SIDE, SIDE)}[getattr(latent_format, "latent_dimensions", 2)]
    latent = torch.zeros((1, latent_format.latent_channels) + spatial)
    if hasattr(latent_format, "fix_empty_latent"):
        latent = latent_format.fix_empty_latent(latent)
    g = torch.Generator().manual_seed(seed)
    if host_latents.is_nested(latent):
        for t in latent.tensors:
            t.copy_(torch.randn(t.shape, generator=g))
        return latent
    return torch.randn(latent.shape, generator=g)


def previewed_by_pack_and_host(latent):
    """What the pack's preview decodes (the sampler sees several streams packed into one flat
    tensor) and what the host's own preview decodes (its callback gets the streams)."""
    if not host_latents.is_nested(latent):
        return latent, latent
    packed, shapes = comfy.utils.pack_latents(latent.unbind())
    return host_latents.preview_stream(packed, shapes), latent.tensors[0]


def hosts_latent2rgb_previewer(latent_format):
    with preview_method(LatentPreviewMethod.Latent2RGB):
        return latent_preview.get_previewer("cpu", latent_format)


def pixels(image: Image.Image) -> torch.Tensor:
    return torch.tensor(list(image.tobytes()), dtype=torch.int16)


def test_the_walk_covers_the_hosts_formats():
    names = {cls.__name__ for cls in latent_format_classes()}
    assert {"SD15", "SDXL", "SD3", "Flux", "Wan21", "HunyuanVideo"} <= names, sorted(names)


@pytest.mark.parametrize("format_class", latent_format_classes(), ids=lambda cls: cls.__name__)
def test_fallback_preview_decodes_every_latent_format(format_class):
    latent_format = format_class()
    ours_x0, host_x0 = previewed_by_pack_and_host(latent_of(latent_format))
    with preview_method(LatentPreviewMethod.NoPreviews):
        ours = reporter.fallback_previewer(latent_format)
    host = hosts_latent2rgb_previewer(latent_format)
    if getattr(latent_format, "latent_rgb_factors", None) is None:
        # No latent2rgb table: the host has no latent2rgb preview for it either.
        assert ours is None and host is None, (ours, host)
        return
    assert ours is not None and host is not None
    kind, image, max_size = ours.decode_latent_to_preview_image("JPEG", ours_x0)
    assert kind == "JPEG" and isinstance(image, Image.Image) and max_size > 0
    assert image.mode == "RGB" and image.width >= SIDE and image.height >= SIDE, (image.mode, image.size)
    assert len(set(image.tobytes())) > 1, "a random latent decoded to a single colour"
    _, host_image, _ = host.decode_latent_to_preview_image("JPEG", host_x0)
    assert image.size == host_image.size
    assert torch.equal(pixels(image), pixels(host_image)), "differs from the host's own latent2rgb preview"


def test_flux2_latents_preview_instead_of_crashing():
    if not hasattr(comfy.latent_formats, "Flux2"):
        pytest.skip("this ComfyUI has no Flux 2 latent format (added in 0.3.76)")
    flux2 = comfy.latent_formats.Flux2()
    latent = latent_of(flux2)
    assert latent.shape[1] == 128 and len(flux2.latent_rgb_factors) != 128
    with preview_method(LatentPreviewMethod.NoPreviews):
        _, image, _ = reporter.fallback_previewer(flux2).decode_latent_to_preview_image("JPEG", latent)
    # The reshape unfolds 128 channels into 32 at twice the resolution.
    assert image.size == (2 * SIDE, 2 * SIDE)


def test_no_fallback_when_the_host_sends_previews():
    latent_format = comfy.latent_formats.SD15()
    with preview_method(LatentPreviewMethod.Latent2RGB):
        assert reporter.fallback_previewer(latent_format) is None
        # No host callback means nothing of the host's reaches the user: the pack previews.
        assert reporter.fallback_previewer(latent_format, host_sends_previews=False) is not None
