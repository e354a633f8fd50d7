"""LATENTs in, LATENTs out, the way the host's own samplers prepare and return them.

Newer ComfyUI (0.3.76+) changed two things a sampler node sees:

* An empty latent carries the VAE scale it was made for (``downscale_ratio_spacial``); KSampler
  resizes it to the model's scale and lets the latent format shape it (``fix_empty_latent``).
* A LATENT may hold a ``comfy.nested_tensor.NestedTensor`` of several streams (LTXAV: video and
  audio). ``CFGGuider.sample`` packs them into one flat tensor for the sampler
  (``comfy.utils.pack_latents``), hands callbacks unpacked views, previews the first stream and
  unpacks the result. A SAMPLER only ever sees the flat pack, so what the pack shows or outputs
  itself is unpacked here the same way.

On older hosts a latent is one tensor and these helpers reduce to what those hosts do.
"""

from __future__ import annotations

import inspect

import torch

import comfy.sample
import comfy.utils

# LATENT keys that describe an empty latent's pixel scale; the host drops them once sampled.
SCALE_KEYS = ("downscale_ratio_spacial", "downscale_ratio_temporal")


def is_nested(latent) -> bool:
    return bool(getattr(latent, "is_nested", False))


def _scale_keys() -> list[str]:
    """The empty-latent scale keys this host knows (none before 0.3.76), in argument order."""
    accepted = inspect.signature(comfy.sample.fix_empty_latent_channels).parameters
    return [key for key in SCALE_KEYS if key in accepted]


def prepared_latent(model, latent: dict):
    """``latent["samples"]`` fitted to ``model`` as the host's KSampler fits it."""
    scales = [latent.get(key) for key in _scale_keys()]
    return comfy.sample.fix_empty_latent_channels(model, latent["samples"], *scales)


def sampled_latent(latent: dict, samples) -> dict:
    """The output LATENT as the host's KSampler returns it: the input's other keys, minus the
    empty-latent scale the host has now applied, with ``samples``."""
    applied = _scale_keys()
    out = {key: value for key, value in latent.items() if key not in applied}
    out["samples"] = samples
    return out


def empty_noise(latent_image):
    """Zero noise shaped like ``latent_image`` (a tensor or a NestedTensor), on the CPU."""
    host_empty = getattr(comfy.sample, "prepare_empty_noise", None)
    if host_empty is not None:
        return host_empty(latent_image)
    return torch.zeros(latent_image.size(), dtype=latent_image.dtype, layout=latent_image.layout, device="cpu")


def packed_shapes(patcher) -> list | None:
    """The shapes of the streams packed into the latent ``patcher``'s model is now sampling, or
    None when it is a single tensor. The host records them on the model for each run."""
    shapes = getattr(patcher.model, "latent_shapes", None)
    return list(shapes) if shapes is not None and len(shapes) > 1 else None


def concat_outer_images(images: list):
    """The outer-step images as one batch in outer order. Packed models' callbacks get
    NestedTensor views (one tensor per stream), which are joined stream by stream, so the output
    is unpacked like SamplerCustom's x0 output."""
    if is_nested(images[0]):
        import comfy.nested_tensor  # only hosts that pack latents have it

        return comfy.nested_tensor.cat_nested(images)
    return torch.cat(images)


def preview_stream(x0: torch.Tensor, shapes: list | None) -> torch.Tensor:
    """The tensor the host previews: the first stream (video) of a packed latent."""
    return x0 if shapes is None else comfy.utils.unpack_latents(x0, shapes)[0]
