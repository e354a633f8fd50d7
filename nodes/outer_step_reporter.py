"""What the user sees after each outer step: the node preview, progress, and a websocket event.

The host's own callback (progress bar, its previewer, SamplerCustom's denoised output) runs
first. ComfyUI's default ``--preview-method none`` gives no image at all, and the image per
outer step is the point of this pack, so in that case a latent2rgb preview is sent here.
"""

from __future__ import annotations

import sys
import time

import comfy.utils
import latent_preview
from comfy.cli_args import LatentPreviewMethod, args

EVENT = "nested_diffusion.outer_step"


def executing_context():
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:  # older hosts: the event then carries the server's last node id
        return None
    return get_executing_context()


def prompt_server():
    """The running PromptServer, or None in-process. Looked up, not imported: main.py imports
    ``server`` before any node runs, and importing it anywhere else fails and is slow."""
    module = sys.modules.get("server")
    return getattr(getattr(module, "PromptServer", None), "instance", None)


def fallback_previewer(latent_format):
    """A latent2rgb previewer when the host sends no preview images, else None."""
    if args.preview_method != LatentPreviewMethod.NoPreviews:
        return None
    if getattr(latent_format, "latent_rgb_factors", None) is None:
        return None
    return latent_preview.Latent2RGBPreviewer(latent_format.latent_rgb_factors,
                                              getattr(latent_format, "latent_rgb_factors_bias", None))


class OuterStepReporter:
    """Called once per outer step with the k-diffusion callback dict of ``sample_nested``."""

    def __init__(self, latent_format, total: int, host_callback=None, keep_images: list | None = None,
                 progress=None):
        self.total = total
        self.host_callback = host_callback
        self.keep_images = keep_images
        self.steps_done = 0
        self.started = time.monotonic()
        self.previewer = fallback_previewer(latent_format)
        # With per-call progress (nodes/progress.py) the outer step's end is one more update of
        # that bar; without it, a bar over outer steps carries the fallback previews.
        self.progress = progress
        self.pbar = comfy.utils.ProgressBar(total) if self.previewer is not None and progress is None else None

    def __call__(self, d: dict) -> None:
        self.steps_done += 1
        if self.keep_images is not None:
            self.keep_images.append(d["denoised"].detach().to("cpu", copy=True))
        if self.host_callback is not None:
            self.host_callback(d)
        preview = None
        if self.previewer is not None:
            preview = self.previewer.decode_latent_to_preview_image("JPEG", d["denoised"])
        if self.progress is not None:
            self.progress.outer_step_done(preview)
        elif self.pbar is not None:
            self.pbar.update_absolute(d["i"] + 1, self.total, preview)
        self._send_event(d)

    def _send_event(self, d: dict) -> None:
        server = prompt_server()
        client_id = getattr(server, "client_id", None)
        if client_id is None:  # no submitting client: never broadcast to everyone
            return
        ctx = executing_context()
        data = {
            "node": ctx.node_id if ctx else getattr(server, "last_node_id", None),
            "prompt_id": ctx.prompt_id if ctx else getattr(server, "last_prompt_id", None),
            "step": d["i"] + 1,
            "total": self.total,
            "nfe": int(d.get("nfe", 0)),
            "sigma": float(d["sigma"]),
            "elapsed": round(time.monotonic() - self.started, 4),
        }
        if self.progress is not None:
            data["planned"] = self.progress.total
        server.send_sync(EVENT, data, client_id)
