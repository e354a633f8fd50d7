"""The draft clip of a video run's outer step: every frame of the step's finished latent as a
small looping animated WebP in ComfyUI's temp folder, which the host's own ``/view`` serves.

The host's previewers show frame 0 of a 5-D latent only; this decodes all frames of batch item
0 with the same decoder the prompt's preview method asks for (latent2rgb tables, or ComfyUI's
video TAE where the host has one and the method is taesd), bounds the long side by the host's
``--preview-size`` and plays at the model's latent frame rate (``clip_fps``).

Files: one per outer step, named with the node id and a random run token, so that no two
prompts, nodes or runs collide. When a client runs a node id again (in any prompt), that client's
previous run of it has its clips deleted; another client's clips of the same node id (a second
tab, or another person running a copy of the same template) are never touched. At most
``MAX_TRACKED_RUNS`` (client, node) runs' clips exist at once (the oldest run's are deleted). The
host empties its temp folder at startup.

Cost: a video TAE on a CPU can take longer than the outer step it shows. The first TAE clip of a
run is timed; when it takes more than ``TAE_CPU_SHARE`` of its outer step, the run's later clips
use latent2rgb, and the event, the panel and the log say so (GPUs are never switched).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict

import torch
import torch.nn.functional as F
from PIL import Image, features

import comfy.model_management
import comfy.sd
import folder_paths
import latent_preview
from comfy.cli_args import LatentPreviewMethod, args

SUBFOLDER = "nested_diffusion_clips"
HAVE_WEBP = features.check("webp")  # Pillow wheels have it; a build without it gets no clips
MAX_TRACKED_RUNS = 32
# latent2rgb frames are at latent resolution, one pixel per latent pixel: lossy WebP's half-size
# chroma would smear the colours of neighbouring latent pixels, so they are stored losslessly
# (the host's colours exactly), with the fastest effort. A video TAE's frames are pixel frames,
# where lossy quality 80 looks the same and is many times smaller. Costs: bench/speed/clip_cost.py.
EXACT_WEBP = {"lossless": True, "quality": 0, "method": 0, "minimize_size": False, "kmin": 0, "kmax": 0}
PIXEL_WEBP = {"quality": 80, "method": 0}

# Latent format class name -> (pixel frames per second the model is made for, pixel frames per
# latent frame). A latent frame plays for temporal/pixel_fps seconds. Subclasses without an
# entry use their parent's (LTXAV: LTXV's). docs/video.md gives the sources.
CLIP_RATES = {
    "Wan21": (16, 4),          # Wan 2.1, and Wan 2.2 14B, which shares its VAE: 16 fps
    "Wan22": (24, 4),          # Wan 2.2 TI2V 5B: 24 fps
    "HunyuanVideo": (24, 4),
    "HunyuanVideo15": (24, 4),
    "LTXV": (25, 8),           # ComfyUI's LTXV conditioning default frame_rate
    "Mochi": (30, 6),
    "Cosmos1CV8x8x8": (24, 8),
    "CogVideoX": (8, 4),
    "CogVideoX1_5": (16, 4),
}
DEFAULT_RATE = (16, 4)         # an unlisted format without a temporal ratio: 4 latent frames per second

# The most a run's first video TAE clip made on the CPU may cost, as a share of the sampling time
# of its outer step, before the run's later clips switch to latent2rgb. Every outer step pays the
# same share again, so the share is what the drafts add to the whole run: at a quarter, a run of
# four outer steps ends at most one outer step later than without clips, which a better picture
# of the draft is worth; more than that, the drafts delay the result they preview. On a GPU the
# TAE clip is around 1% of an outer step, and a CPU latent2rgb clip is tens of milliseconds (0.65%
# of the tiny WAN's outer step, docs/video.md), so only a CPU TAE ever comes near it.
TAE_CPU_SHARE = 0.25


def _rate(latent_format) -> tuple[float, int]:
    for cls in type(latent_format).__mro__:
        if cls.__name__ in CLIP_RATES:
            return CLIP_RATES[cls.__name__]
    temporal = getattr(latent_format, "temporal_downscale_ratio", 1)  # ComfyUI 0.3.76+
    return (DEFAULT_RATE[0], temporal) if temporal > 1 else DEFAULT_RATE


def clip_fps(latent_format, pixel_frames: bool = False) -> float:
    """Frames per second of a clip of ``latent_format``'s latent frames, or of its pixel frames
    (a video TAE's output). A format's ``nested_clip_fps`` (latent frames per second) wins over
    the table; an unlisted format plays its pixel frames at 16 fps."""
    pixel_fps, temporal = _rate(latent_format)
    own = getattr(latent_format, "nested_clip_fps", None)
    latent_fps = float(own) if own is not None else pixel_fps / temporal
    return latent_fps * temporal if pixel_frames else latent_fps


def _video_tae(previewer):
    """The video TAE (a ``comfy.sd.VAE``) that the host's taesd previewer decodes with, or None.
    Found by what it holds, not its class: ComfyUI 0.3.76+'s TAEHVPreviewerImpl and previewers
    that wrap it (VideoHelperSuite's animated previews) both keep it as ``taesd``; image TAESD
    previewers keep a ``TAESD`` module there."""
    tae = getattr(previewer, "taesd", None)
    return tae if isinstance(tae, comfy.sd.VAE) and getattr(tae, "latent_dim", 2) == 3 else None


def tae_on_cpu(tae) -> bool:
    """Whether the video TAE decodes on the CPU (``comfy.sd.VAE.device``: ``--cpu``, ``--cpu-vae``,
    or a machine without an accelerator). Only then is its clip's cost bounded."""
    return torch.device(getattr(tae, "device", "cpu")).type == "cpu"


class _Handed(Exception):
    """Raised by the stand-in decoder once the previewer has handed it its latent."""


class _StandInDecoder:
    """Takes the place of the previewer's TAE for one call: keeps what it is handed, decodes nothing."""

    def __init__(self):
        self.call: tuple | None = None

    def decode(self, *args, **kwargs):
        self.call = (args, kwargs)
        raise _Handed


def host_tae_call(previewer, x0: torch.Tensor) -> tuple | None:
    """What the host's video TAE previewer hands its TAE for every frame of ``x0`` (1, C, T, H, W):
    ``(latent (1, C, T, H, W), more args, kwargs)``, or None where that cannot be seen.

    The previewer decodes frame 0 and may map the latent first (ComfyUI after 0.33.0 applies the
    latent format's ``process_out``, upstream 2d619ed; 0.33.0 does not), so the clip runs through
    the previewer's own code: its frames stacked as one tall frame, which the previewer maps as it
    maps frame 0 (the maps are per channel and per pixel), then unstacked. A shallow copy of the
    previewer holds the stand-in decoder; the host's previewer itself is not changed."""
    batch, channels, frames, height, width = x0.shape
    tall = x0.reshape(batch, channels, 1, frames * height, width)
    probe = copy.copy(previewer)
    probe.taesd = stand_in = _StandInDecoder()
    try:
        probe.decode_latent_to_preview(tall)
    except _Handed:
        pass
    except Exception:  # noqa: BLE001 - a previewer this cannot follow: the caller decodes as it is
        return None
    if stand_in.call is None:
        return None
    args, kwargs = stand_in.call
    latent = args[0] if args else None
    if not isinstance(latent, torch.Tensor) or tuple(latent.shape) != tuple(tall.shape):
        return None
    return latent.reshape(batch, channels, frames, height, width), args[1:], kwargs


class ClipDecoder:
    """Decodes all frames of batch item 0 of a 5-D latent to uint8 RGB frames (T, H, W, 3), with
    the decoder the host's previewer uses for this prompt's preview method: a video TAE under
    taesd where the host has one (through the previewer's own code, so frame 0 is its still
    preview); else the latent2rgb tables (as the still preview, and as the pack's fallback under
    ``--preview-method none``). ``host_previewer`` returns the host's previewer for the format
    (default: ``latent_preview.get_previewer`` on the host's device)."""

    def __init__(self, latent_format, fallback, host_previewer=None):
        self.latent_format = latent_format
        self.fallback = fallback     # a Latent2RGBPreviewer, or None
        self.host_previewer = host_previewer
        self._previewer = None
        self._tae = None
        self._chosen = False

    @property
    def method(self) -> str | None:
        if not self._chosen:
            self._chosen = True
            if args.preview_method == LatentPreviewMethod.TAESD:
                if self.host_previewer is None:
                    device = comfy.model_management.get_torch_device()
                    self._previewer = latent_preview.get_previewer(device, self.latent_format)
                else:
                    self._previewer = self.host_previewer()
                self._tae = _video_tae(self._previewer)
        if self._tae is not None:
            return "taehv"
        return None if self.fallback is None else "latent2rgb"

    @property
    def tae_on_cpu(self) -> bool:
        return self.method == "taehv" and tae_on_cpu(self._tae)

    def stop_tae(self) -> None:
        """From now on latent2rgb (or no clip, where the format has no latent2rgb tables)."""
        self._tae = None

    @torch.no_grad()
    def frames(self, x0: torch.Tensor) -> torch.Tensor | None:
        method = self.method
        if method is None:
            return None
        x0 = x0[:1].detach()
        if method == "taehv":
            call = host_tae_call(self._previewer, x0)
            if call is None:  # a previewer without a visible TAE call: the latent as it is (ComfyUI 0.33.0's way)
                call = (x0, (), {})
            latent, more, kwargs = call
            video = self._tae.decode(latent, *more, **kwargs)[0]           # (T, H, W, 3) in 0..1
            return (video.clamp(0, 1) * 255).to(torch.uint8).cpu()
        return latent2rgb_frames(self.fallback, x0)


def latent2rgb_frames(previewer, x0: torch.Tensor) -> torch.Tensor:
    """All frames of ``x0[:1]`` through the host Latent2RGBPreviewer's tables, as the host maps
    frame 0 (``linear`` over channels, then -1..1 -> 0..255), in one batched op."""
    reshape = getattr(previewer, "latent_rgb_factors_reshape", None)
    if reshape is not None:
        x0 = reshape(x0)
    x0 = x0.cpu().float()
    factors = previewer.latent_rgb_factors.to(dtype=x0.dtype)
    bias = previewer.latent_rgb_factors_bias
    bias = None if bias is None else bias.to(dtype=x0.dtype)
    rgb = F.linear(x0[0].movedim(0, -1), factors, bias)                      # (T, H, W, 3)
    return ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8)


def bounded(frames: torch.Tensor, max_side: int) -> torch.Tensor:
    """``frames`` (T, H, W, 3) uint8 shrunk so that the long side is at most ``max_side``."""
    height, width = frames.shape[1:3]
    longest = max(height, width)
    if max_side <= 0 or longest <= max_side:
        return frames
    size = (max(1, round(height * max_side / longest)), max(1, round(width * max_side / longest)))
    scaled = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=size, mode="bilinear", antialias=True,
                           align_corners=False)
    return scaled.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def write_webp(frames: torch.Tensor, path: str, fps: float, exact: bool = True) -> None:
    """``frames`` (T, H, W, 3) uint8 as an animated WebP that loops forever."""
    pictures = [Image.fromarray(frame.numpy()) for frame in frames]
    duration = max(1, round(1000.0 / fps))
    pictures[0].save(path, format="WEBP", save_all=True, append_images=pictures[1:], duration=duration, loop=0,
                     **(EXACT_WEBP if exact else PIXEL_WEBP))


class RunFiles:
    """The files of each key's latest run, oldest first, at most ``max_runs`` keys. Clips are keyed
    by (client id, node id), so two clients running the same node id (two tabs, or copies of one
    template) each keep theirs; the steering tiles use their own instance (steering_run.py)."""

    def __init__(self, max_runs: int | None = None):
        self._runs: OrderedDict[tuple, list[str]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_runs = max_runs  # None: MAX_TRACKED_RUNS, read at each run

    def start(self, key: tuple) -> list[str]:
        """A new run of ``key``: the previous run's files are deleted; returns the new run's list."""
        with self._lock:
            stale = [self._runs.pop(key, [])]
            while len(self._runs) >= (self._max_runs or MAX_TRACKED_RUNS):
                stale.append(self._runs.popitem(last=False)[1])
            self._runs[key] = files = []
        for path in (p for group in stale for p in group):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        return files


RUNS = RunFiles()


def _safe(text) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(text))[:40]


class OuterStepClips:
    """One run's clips: ``clip(x0, step, node_id, client_id, step_seconds)`` writes the outer
    step's clip and returns the event's ``clip`` field, or None when the latent is not a video or
    there is no decoder for it. ``note`` is the run's line about its clips for the event's
    ``clip_note`` (set when a CPU TAE was too slow), else None."""

    def __init__(self, latent_format, fallback, host_previewer=None):
        self.decoder = ClipDecoder(latent_format, fallback, host_previewer)
        self.latent_format = latent_format
        self.token = uuid.uuid4().hex[:12]
        self.note: str | None = None
        self._files: list[str] | None = None
        self._timed = False

    def clip(self, x0: torch.Tensor, step: int, node_id, client_id=None,
             step_seconds: float | None = None) -> dict | None:
        if x0.ndim != 5 or not HAVE_WEBP:
            return None
        try:
            return self._write(x0, step, node_id, client_id, step_seconds)
        except OSError as e:  # a draft preview that cannot be written must not end the run
            logging.warning("Nested Diffusion: no clip for outer step %d: %s", step, e)
            return None

    def _write(self, x0: torch.Tensor, step: int, node_id, client_id, step_seconds) -> dict | None:
        pixel = self.decoder.method == "taehv"   # chooses (and loads) the decoder before the clock starts
        started = time.perf_counter()
        frames = self.decoder.frames(x0)
        if frames is None:
            return None
        frames = bounded(frames, int(args.preview_size))
        fps = clip_fps(self.latent_format, pixel_frames=pixel)
        folder = os.path.join(folder_paths.get_temp_directory(), SUBFOLDER)
        os.makedirs(folder, exist_ok=True)
        if self._files is None:  # this run's first clip: this client's previous run of the node goes
            self._files = RUNS.start((str(client_id), str(node_id)))
        filename = f"{_safe(node_id)}_{self.token}_{step:03d}.webp"
        path = os.path.join(folder, filename)
        write_webp(frames, path, fps, exact=not pixel)
        self._files.append(path)
        if pixel and not self._timed:
            self._timed = True
            self._bound_cost(time.perf_counter() - started, step_seconds, step)
        return {"filename": filename, "subfolder": SUBFOLDER, "type": "temp", "frames": int(frames.shape[0]),
                "fps": round(fps, 4), "width": int(frames.shape[2]), "height": int(frames.shape[1])}

    def _bound_cost(self, seconds: float, step_seconds: float | None, step: int) -> None:
        """After the run's first TAE clip: on the CPU, over ``TAE_CPU_SHARE`` of its outer step's
        sampling time, the later clips use latent2rgb (said once in the log, and in every later
        event's ``clip_note``)."""
        if not step_seconds or step_seconds <= 0 or not self.decoder.tae_on_cpu:
            return
        share = seconds / step_seconds
        if share <= TAE_CPU_SHARE:
            return
        self.decoder.stop_tae()
        later = "latent2rgb clips" if self.decoder.method == "latent2rgb" else "no more clips"
        self.note = f"{later}: the video TAE took {share:.0%} of an outer step on the CPU"
        logging.warning("Nested Diffusion: the video TAE clip of outer step %d took %.1f s on the CPU, %.0f%% of the "
                        "outer step's %.1f s (more than %.0f%%): this run's later clips use %s",
                        step, seconds, 100 * share, step_seconds, 100 * TAE_CPU_SHARE,
                        "latent2rgb" if later == "latent2rgb clips" else "nothing (no latent2rgb tables)")
