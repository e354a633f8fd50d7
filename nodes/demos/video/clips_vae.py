"""The video demo's VAE: the image demo's hand-set TAESD, applied frame by frame to 5-D latents.

The latent is the clip itself (``clip_shape``), so there is nothing to learn: each 16x16 latent
frame is drawn as a 128x128 grey frame (upscaled bilinearly to 32x32, then each pixel as a 4x4
block), exactly as the image demo draws its 8x8 digits. ComfyUI has no video VAE class of this
size (its video VAEs have fixed, large configs and compress time), so this subclass of
``comfy.sd.VAE`` folds the frames into the batch around the parent's own ``decode`` / ``encode``:
VAE Decode of a ``[B, 1, T, 16, 16]`` latent gives ``B * T`` frames (ComfyUI's VAE Decode joins
the clips of a batch), and VAE Encode of ``T`` frames gives one ``[1, 1, T, 16, 16]`` clip.
"""

from __future__ import annotations

import torch

import comfy.sd

from ..digits.digits_vae import taesd_state_dict


def _frames(latent: torch.Tensor) -> torch.Tensor:
    b, c, t, h, w = latent.shape
    return latent.movedim(2, 1).reshape(b * t, c, h, w)


def _clips(images: torch.Tensor, batch: int) -> torch.Tensor:
    return images.reshape(batch, -1, *images.shape[1:])


class DigitClipsVAE(comfy.sd.VAE):
    """Each override takes the host's own keywords as ``**kwargs`` and hands them to the parent,
    which accepts exactly what this host's ``comfy.sd.VAE`` accepts (ComfyUI after 0.33.0 adds
    ``not_video`` to ``encode`` / ``encode_tiled``, upstream 033046c): a newer host's call is
    never refused here, and a keyword the host does not know fails as it fails for any VAE."""

    def __init__(self):
        super().__init__(sd=taesd_state_dict(), dtype=torch.float32)

    def decode(self, samples_in, vae_options={}, **kwargs):
        if samples_in.ndim != 5:
            return super().decode(samples_in, vae_options, **kwargs)
        return _clips(super().decode(_frames(samples_in), vae_options, **kwargs), samples_in.shape[0])

    def decode_tiled(self, samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None, **kwargs):
        if samples.ndim != 5:
            return super().decode_tiled(samples, tile_x, tile_y, overlap, **kwargs)
        return _clips(super().decode_tiled(_frames(samples), tile_x, tile_y, overlap, **kwargs), samples.shape[0])

    def encode(self, pixel_samples, **kwargs):
        """IMAGE frames ``[T, H, W, C]`` -> one clip latent ``[1, 1, T, H/8, W/8]``; with
        ``not_video=True`` (newer hosts: the images are not frames of one video) each image is its
        own one-frame latent ``[T, 1, 1, H/8, W/8]``, as the host's video VAEs give then."""
        return self._shaped(super().encode(self._frames_of(pixel_samples), **kwargs), kwargs)

    def encode_tiled(self, pixel_samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None,
                     **kwargs):
        latent = super().encode_tiled(self._frames_of(pixel_samples), tile_x, tile_y, overlap, **kwargs)
        return self._shaped(latent, kwargs)

    @staticmethod
    def _frames_of(pixel_samples: torch.Tensor) -> torch.Tensor:
        return pixel_samples.reshape(-1, *pixel_samples.shape[-3:]) if pixel_samples.ndim == 5 else pixel_samples

    @staticmethod
    def _shaped(latent: torch.Tensor, kwargs: dict) -> torch.Tensor:
        if kwargs.get("not_video"):
            return latent.unsqueeze(2)             # [N, C, h, w] -> [N, C, 1, h, w]
        return latent.movedim(0, 1).unsqueeze(0)   # [T, C, h, w] -> [1, C, T, h, w]
