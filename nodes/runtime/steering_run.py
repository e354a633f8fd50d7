"""The steering of one nested run inside ComfyUI: replaying a record, pausing at outer-step
boundaries, and applying the user's picks and guidance changes to the running guider.

Everything happens inside the one running sampling call, at the boundaries ``sample_nested``
offers (``between_steps``), so a steered run keeps its seeds, its schedule position and its
outer noise exactly as an unsteered one; a replay applies the same operations at the same
boundaries, which makes it bit-identical.

Guidance changes act on the guider's *processed* conditioning: re-running the host's
``process_conds`` would rebuild ControlNet state and duplicate area conds, so each processed
entry keeps its control, area, mask, timestep range and hooks, gets the new text embedding, and
only its model conds are encoded again, with the arguments the host encoded them with.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import torch

import comfy.model_management
import comfy.samplers
import folder_paths
import latent_preview

from ...nested_core import Intervention, pick_rows, record_text
from ...nested_core.steering import check_change, interventions_for_run, parse_record
from ..host.access import submitting_client
from ..host.latents import preview_stream
from ..previews.outer_step_clip import OuterStepClips, RunFiles
from ..previews.outer_step_reporter import latent2rgb_previewer
from .pause_board import PAUSES
from .stop_requests import STOPS

PAUSED_EVENT = "nested_diffusion.paused"
RESUMED_EVENT = "nested_diffusion.resumed"
TILES_SUBFOLDER = "nested_diffusion_tiles"
MAX_TILE_RUNS = 16
NO_CLIP_NOTE = "connect a CLIP to this node's clip input to change the prompt while paused"
GUIDER_NOTE = ("the guider of SamplerCustom owns the conditioning and cfg: change them in its graph "
               "(pause and pick work here)")
log = logging.getLogger("nested_diffusion")


@dataclass(frozen=True)
class SteeringOptions:
    """What a node gives the run for steering (all optional: the default never pauses)."""

    pause_every_outer_step: bool = False
    pause_timeout_s: float = 600.0
    record: str = ""
    clip: Any = None
    owns_conditioning: bool = False  # the KSampler nodes build their guider; custom sampling does not
    record_node: str | None = None
    on_record: Callable[[str], None] | None = None  # told the final record ("" for none)


# Tile images of the latest MAX_TILE_RUNS paused runs; older runs' files are deleted.
TILES = RunFiles(MAX_TILE_RUNS)


class SteeringSession:
    """``between_steps`` of one run. Raises ValueError at construction for a record that does
    not fit this run, before any model call."""

    def __init__(self, options: SteeringOptions, model, fingerprint: dict, prompt_id: str, node_id,
                 extra_args: dict, latent_format, packed: list | None, total: int,
                 paused_for: Callable[[float], None], should_stop: Callable[[], bool]):
        self.options = options
        self.model = model
        self.guider = model.inner_model
        self.fingerprint = fingerprint
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.extra_args = extra_args
        self.latent_format = latent_format
        self.packed = packed
        self.total = total
        self.paused_for = paused_for
        self.should_stop = should_stop
        self.owns = options.owns_conditioning and isinstance(getattr(self.guider, "conds", None), dict)
        self.can_text = self.owns and options.clip is not None
        self.note = "" if self.can_text else (NO_CLIP_NOTE if self.owns else GUIDER_NOTE)
        given = parse_record(options.record)
        self.replay = interventions_for_run(given, fingerprint, allow_text=self.can_text, allow_cfg=self.owns,
                                            text_note=self.note)
        self.replaying = bool(self.replay)
        self.applied: list[Intervention] = []
        self.live = False
        self.token = uuid.uuid4().hex[:12]
        self._tile_files: list[str] | None = None

    # -- the boundary ------------------------------------------------------------------------

    def __call__(self, k: int, x: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        while self.replay and self.replay[0].after == k:
            x, image = self._apply(self.replay.pop(0), x, image)
        asked = PAUSES.take_request(self.prompt_id)
        if asked or (self.options.pause_every_outer_step and not self.replaying):
            x, image = self._pause(k, x, image)
        return x, image

    def _pause(self, k: int, x: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = int(x.shape[0])
        timeout = float(self.options.pause_timeout_s)

        def check(change):
            return check_change(change, batch=batch, allow_text=self.can_text, allow_cfg=self.owns, where="steer",
                                text_note=self.note)

        def poll() -> bool:
            comfy.model_management.throw_exception_if_processing_interrupted()
            return STOPS.should_stop(self.prompt_id)

        # Tiles are written only when a client will be shown them (not in-process).
        event = None if submitting_client() is None else {
            "step": k, "total": self.total, "batch": batch, **self._tiles(k, image),
            "can_edit_prompt": self.can_text, "prompt_note": self.note,
            "cfg": float(self.guider.cfg) if self.owns and hasattr(self.guider, "cfg") else None,
            "timeout_s": timeout, "steering": self.record,
        }
        paused = PAUSES.open(self.prompt_id, check)
        if event is not None:
            self._send(PAUSED_EVENT, event)
        log.info("Nested Diffusion: paused after outer step %d/%d; waiting up to %.1f min for Continue",
                 k, self.total, timeout / 60)
        started = time.monotonic()
        reason, change = PAUSES.wait(paused, timeout, poll)
        self.paused_for(time.monotonic() - started)
        applied = None
        if reason == "steered" and change:
            # A live change branches off a replay: recorded steps after this boundary are dropped.
            self.replay = []
            self.live = True
            applied = Intervention(after=k, **change)
            x, image = self._apply(applied, x, image)
        elif reason == "steered":
            reason = "continued"
        elif reason == "timeout":
            log.warning("Nested Diffusion: pause after outer step %d/%d timed out after %.1f min; continuing "
                        "unchanged", k, self.total, timeout / 60)
        self._send(RESUMED_EVENT, {"step": k, "reason": reason, "timeout_s": timeout,
                                   "applied": applied.changes if applied else None, "steering": self.record})
        return x, image

    # -- applying an intervention ------------------------------------------------------------

    def _apply(self, change: Intervention, x: torch.Tensor, image: torch.Tensor):
        if change.pick is not None:
            x, image = pick_rows(x, change.pick), pick_rows(image, change.pick)
        encoded = False
        for kind, text in (("positive", change.prompt), ("negative", change.negative)):
            if text is not None:
                self._replace_text(kind, text)
                encoded = True
        if encoded:
            # Encoding may have moved the sampling models off their device: load them again as the
            # host's prepare_sampling does, in live runs and replays alike.
            models = [self.guider.model_patcher] + list(getattr(self.guider, "loaded_models", []) or [])
            comfy.model_management.load_models_gpu(models)
        if change.cfg is not None:
            self.guider.set_cfg(change.cfg)
        self.applied.append(change)
        return x, image

    def _replace_text(self, kind: str, text: str) -> None:
        clip = self.options.clip
        encoded = clip.encode_from_tokens_scheduled(clip.tokenize(text))
        if len(encoded) != 1:
            raise ValueError("the clip input carries scheduled hooks, which give several embeddings per text; "
                             "change the prompt with chained Nested KSampler (Advanced) nodes instead")
        cond, extras = encoded[0]
        entries = []
        for entry in self.guider.conds.get(kind, []):
            new = entry.copy()
            new["cross_attn"] = cond
            new.update(extras)
            if "uuid" in new:
                new["uuid"] = uuid.uuid4()
            entries.append(new)
        kwargs = {"latent_image": getattr(self.model, "latent_image", None),
                  "denoise_mask": self.extra_args.get("denoise_mask"), "seed": self.extra_args.get("seed")}
        if "latent_shapes" in inspect.signature(comfy.samplers.process_conds).parameters:
            kwargs["latent_shapes"] = getattr(self.guider.inner_model, "latent_shapes", None)
        device = self.guider.model_patcher.load_device
        self.guider.conds[kind] = comfy.samplers.encode_model_conds(
            self.guider.inner_model.extra_conds, entries, self.model.noise, device, kind, **kwargs)

    # -- what the user sees ------------------------------------------------------------------

    @property
    def record(self) -> str:
        return record_text(self.fingerprint, self.applied)

    def _tiles(self, k: int, image: torch.Tensor) -> dict:
        """Every batch row's current image as a PNG in the temp folder (and a clip per row for
        video), for the panel's tiles; none when they cannot be written (the pause goes on)."""
        try:
            return self._write_tiles(k, image)
        except OSError as error:
            log.warning("Nested Diffusion: no tiles for the pause after outer step %d: %s", k, error)
            return {"tiles": [None] * int(image.shape[0])}

    def _write_tiles(self, k: int, image: torch.Tensor) -> dict:
        stream = preview_stream(image, self.packed)
        previewer = latent_preview.get_previewer(image.device, self.latent_format) or \
            latent2rgb_previewer(self.latent_format)
        folder = os.path.join(folder_paths.get_temp_directory(), TILES_SUBFOLDER)
        os.makedirs(folder, exist_ok=True)
        tiles, clips = [], []
        clipper = OuterStepClips(self.latent_format, latent2rgb_previewer(self.latent_format)) \
            if stream.ndim == 5 else None
        for row in range(stream.shape[0]):
            tile = None
            if previewer is not None:
                picture = previewer.decode_latent_to_preview(stream[row:row + 1].float())
                name = f"{self.token}_{k:03d}_{row:02d}.png"
                path = os.path.join(folder, name)
                picture.save(path, format="PNG", compress_level=1)
                if self._tile_files is None:  # this run's first tile
                    self._tile_files = TILES.start(("tiles", self.token))
                self._tile_files.append(path)
                tile = {"filename": name, "subfolder": TILES_SUBFOLDER, "type": "temp"}
            tiles.append(tile)
            if clipper is not None:
                clips.append(clipper.clip(stream[row:row + 1], k * 100 + row, f"tiles-{self.token}"))
        return {"tiles": tiles, "clips": clips} if clipper is not None else {"tiles": tiles}

    def _send(self, event: str, data: dict) -> None:
        target = submitting_client()
        if target is None:
            return
        server, client_id = target
        server.send_sync(event, {"prompt_id": self.prompt_id, "node": self.node_id,
                                 "record_node": self.options.record_node, **data}, client_id)

    def finish(self) -> str:
        """The run's record, told to the node; counts a live-steered run for the cache."""
        record = self.record
        if self.live:
            STOPS.steered()
        if self.options.on_record is not None:
            self.options.on_record(record)
        return record
