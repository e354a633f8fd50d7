"""What the user sees after each outer step: the node preview, progress, and a websocket event
(for a video run with a clip of all frames, outer_step_clip.py).

The host's own callback (progress bar, its previewer, SamplerCustom's denoised output) runs
first. ComfyUI's default ``--preview-method none`` gives no image at all, and the image per
outer step is the point of this pack, so in that case a latent2rgb preview is sent here.
"""

from __future__ import annotations

import inspect
import time

import latent_preview
from comfy.cli_args import LatentPreviewMethod, args

from ..host.access import executing_context, prompt_server
from ..host.latents import preview_stream
from .outer_step_clip import OuterStepClips

EVENT = "nested_diffusion.outer_step"


def latent2rgb_previewer(latent_format):
    """The host's Latent2RGBPreviewer for ``latent_format``, built as the host builds its own, or
    None when the format has no latent2rgb table.

    The previewer's parameters are named after the format's attributes (``latent_rgb_factors``,
    ``_bias``, and since ComfyUI 0.3.76 ``_reshape``, which Flux 2's 128-channel latents need),
    so each one this host's previewer takes is passed by name; a host that adds another gets it
    too, and an older host is never handed one it does not know."""
    if getattr(latent_format, "latent_rgb_factors", None) is None:
        return None
    params = inspect.signature(latent_preview.Latent2RGBPreviewer).parameters
    tables = {name: getattr(latent_format, name) for name in params if hasattr(latent_format, name)}
    return latent_preview.Latent2RGBPreviewer(**tables)


def fallback_previewer(latent_format, host_sends_previews: bool = True):
    """A latent2rgb previewer when the host sends no preview images, else None.

    ``args.preview_method`` is read at sampling time: hosts that let a prompt choose its preview
    method (``extra_data["preview_method"]``, ComfyUI 0.3.76+) set it for the running prompt."""
    if host_sends_previews and args.preview_method != LatentPreviewMethod.NoPreviews:
        return None
    return latent2rgb_previewer(latent_format)


class OuterStepReporter:
    """Called once per outer step with the k-diffusion callback dict of ``sample_nested``."""

    def __init__(self, latent_format, total: int, progress, host_callback=None,
                 packed_shapes: list | None = None):
        self.total = total
        self.packed_shapes = packed_shapes
        self.host_callback = host_callback
        self.started = time.monotonic()
        # When this outer step's sampling began: the previous step's previews and clip are not
        # part of it (a clip's cost is bounded by a share of it, outer_step_clip.py).
        self._step_began = self.started
        self.previewer = fallback_previewer(latent_format, host_sends_previews=host_callback is not None)
        # A video run's event carries a clip of all frames (outer_step_clip.py); the still
        # preview above stays as it is.
        self.clips = OuterStepClips(latent_format, latent2rgb_previewer(latent_format))
        # The outer step's end is one more update of the per-call bar (nodes/runtime/progress.py), carrying
        # the fallback preview.
        self.progress = progress

    def __call__(self, d: dict) -> None:
        step_seconds = time.monotonic() - self._step_began
        if self.host_callback is not None:
            self.host_callback(d)
        preview = None
        if self.previewer is not None:
            x0 = self._video_stream(d)
            preview = self.previewer.decode_latent_to_preview_image("JPEG", x0)
        self.progress.outer_step_done(preview)
        self._send_event(d, step_seconds)
        self._step_began = time.monotonic()

    def _video_stream(self, d: dict):
        return preview_stream(d["denoised"], self.packed_shapes)

    def _send_event(self, d: dict, step_seconds: float) -> None:
        server = prompt_server()
        client_id = getattr(server, "client_id", None)
        if client_id is None:  # no submitting client: never broadcast to everyone
            return
        ctx = executing_context()
        node = ctx.node_id if ctx else getattr(server, "last_node_id", None)
        data = {
            "node": node,
            "prompt_id": ctx.prompt_id if ctx else getattr(server, "last_prompt_id", None),
            "step": d["i"] + 1,
            "total": self.total,
            "nfe": int(d.get("nfe", 0)),
            "sigma": float(d["sigma"]),
            "elapsed": round(time.monotonic() - self.started, 4),
            "planned": self.progress.total,
        }
        # Made only when a client will be told of it; batch item 0, like the still preview.
        # Clips are kept per (client, node): another client's run of the same node id keeps its own.
        clip = self.clips.clip(self._video_stream(d), d["i"] + 1, node, client_id, step_seconds)
        if clip is not None:
            data["clip"] = clip
        if self.clips.note is not None:  # e.g. a CPU TAE too slow: this run's clips became latent2rgb
            data["clip_note"] = self.clips.note
        server.send_sync(EVENT, data, client_id)
