"""The video demo's VAE (nodes/demos/video/clips_vae.py) takes whatever keywords this host's
``comfy.sd.VAE`` takes: ComfyUI after 0.33.0 (upstream 033046c) calls ``encode`` and
``encode_tiled`` with ``not_video``, and a VAE subclass whose overrides dropped it would fail
every such call. A newer host is stood in for by a ``comfy.sd.VAE`` subclass with that keyword,
placed under the demo VAE's overrides as a newer host's class would be."""

from __future__ import annotations

import inspect

import pytest
import torch

import comfy.sd
import nodes

from host_fixtures import pack_module

clips_vae = pack_module("nodes.demos.video.clips_vae")
FRAMES = 3
METHODS = ("encode", "encode_tiled", "decode", "decode_tiled")


class NewerHostVAE(comfy.sd.VAE):
    """``comfy.sd.VAE`` as ComfyUI after 0.33.0 has it: ``not_video`` on encode / encode_tiled."""

    def encode(self, pixel_samples, not_video=None):
        self.seen = ("encode", not_video)
        return super().encode(pixel_samples)

    def encode_tiled(self, pixel_samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None,
                     not_video=None):
        self.seen = ("encode_tiled", not_video)
        return super().encode_tiled(pixel_samples, tile_x, tile_y, overlap)


class DemoVAEOnNewerHost(clips_vae.DigitClipsVAE, NewerHostVAE):
    """The demo VAE's overrides over the newer host's methods (its ``super()`` is NewerHostVAE)."""


def pixel_frames() -> torch.Tensor:
    return torch.rand(FRAMES, 128, 128, 3, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def demo_vae():
    return clips_vae.DigitClipsVAE()


@pytest.mark.parametrize("method", METHODS)
def test_every_keyword_of_the_hosts_vae_is_taken(method):
    host = inspect.signature(getattr(comfy.sd.VAE, method)).parameters
    ours = inspect.signature(getattr(clips_vae.DigitClipsVAE, method)).parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in ours.values())
    assert takes_any and all(name in ours or takes_any for name in host), (method, list(host), list(ours))


@pytest.mark.parametrize("tiled", [False, True])
def test_not_video_from_a_newer_host_reaches_its_vae(tiled):
    vae = DemoVAEOnNewerHost()
    encode = vae.encode_tiled if tiled else vae.encode
    name = "encode_tiled" if tiled else "encode"
    with torch.inference_mode():
        clip = encode(pixel_frames(), not_video=False)
        assert vae.seen == (name, False)
        images = encode(pixel_frames(), not_video=True)
        assert vae.seen == (name, True)
        default = encode(pixel_frames())
    assert clip.shape == default.shape == (1, 1, FRAMES, 16, 16) and torch.equal(clip, default)
    # not_video: each image is its own one-frame latent, as the host's own video VAEs give then.
    assert images.shape == (FRAMES, 1, 1, 16, 16)
    assert torch.equal(images[:, 0, 0], clip[0, 0])


@pytest.mark.parametrize("method", ["encode", "encode_tiled"])
def test_a_keyword_this_host_does_not_take_fails_as_for_its_own_vae(demo_vae, method):
    # Forwarded, not swallowed: the host's VAE decides, so ``not_video`` works exactly on hosts
    # whose VAE has it, and a misspelt keyword is an error everywhere.
    host_takes = "not_video" in inspect.signature(getattr(comfy.sd.VAE, method)).parameters
    call = getattr(demo_vae, method)
    with torch.inference_mode():
        if host_takes:
            assert call(pixel_frames(), not_video=False).shape == (1, 1, FRAMES, 16, 16)
        else:
            with pytest.raises(TypeError):
                call(pixel_frames(), not_video=False)
        with pytest.raises(TypeError):
            call(pixel_frames(), not_a_vae_keyword=1)


def test_decode_takes_the_hosts_keywords_too(demo_vae):
    latent = torch.rand(2, 1, FRAMES, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        plain = demo_vae.decode(latent)
        named = demo_vae.decode(samples_in=latent, vae_options={})
        tiled = demo_vae.decode_tiled(latent, tile_x=16, tile_y=16, overlap=4)
    assert plain.shape == named.shape == tiled.shape == (2, FRAMES, 128, 128, 3) and torch.equal(plain, named)


def test_core_vae_nodes_still_give_frames_and_one_clip(demo_vae):
    # As ComfyUI's VAE Decode / VAE Encode call it (test_demo_video.py checks the pictures, with
    # the demo's data, which needs scikit-learn).
    latent = torch.rand(2, 1, FRAMES, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        (frames,) = nodes.VAEDecode().decode(demo_vae, {"samples": latent})
        (again,) = nodes.VAEEncode().encode(demo_vae, frames[:FRAMES])
    assert frames.shape == (2 * FRAMES, 128, 128, 3)
    assert again["samples"].shape == (1, 1, FRAMES, 16, 16)
