"""Progress of a nested run counted in model calls: ComfyUI's progress bar and a console bar.

A nested run's first image arrives only after a whole inner run, so counting outer steps left
the bar frozen for the first 1/N of the run. Here the bar's value is the model calls made so
far and its total the planned calls; previews still come once per outer step, with the
update at that step's end (per-call updates carry no image).
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from tqdm.auto import tqdm

import comfy.utils

from ...nested_core import nfe_plan
from .model_calls import inner_run_calls

# Per-call updates closer together than this are not sent (0.3.x hosts do not throttle).
MIN_UPDATE_INTERVAL_S = 0.1


def _calls_per_run(sampler_function: Callable, dtype: torch.dtype) -> Callable[[torch.Tensor], int]:
    name = getattr(sampler_function, "__name__", "").removeprefix("sample_")

    def calls(schedule: torch.Tensor) -> int:
        # Levels that coincide at the run's precision are merged by sample_nested.
        cast = schedule.to(dtype)
        steps = int((cast[1:] < cast[:-1]).sum())
        return inner_run_calls(name, steps, ends_at_zero=float(cast[-1]) == 0.0)

    return calls


def planned_step_calls(sigmas: torch.Tensor, inner_sigmas: Callable[[float], torch.Tensor],
                       sampler_function: Callable) -> list[int]:
    """Model calls each outer step of the nested run over ``sigmas`` will make (a CFG pair
    counts once). Exact for ComfyUI's single-call and listed multi-call samplers; adaptive
    ones may use more."""
    if sigmas.numel() < 2:  # sample_nested rejects it with the reason
        return []
    closed = sigmas if float(sigmas[-1]) == 0.0 else torch.cat([sigmas, sigmas.new_zeros(1)])
    ready = nfe_plan(closed, inner_sigmas, _calls_per_run(sampler_function, sigmas.dtype)).ready_at
    # A leftover-noise run ends before the appended level: count its own outer steps only.
    ready = ready[:len(sigmas) - 1]
    return [b - a for a, b in zip([0] + ready, ready)]


class CallProgress:
    """Advances ComfyUI's ProgressBar and a console bar on every model call of a nested run."""

    def __init__(self, planned: int, disable: bool | None = None):
        self.planned = max(int(planned), 1)
        self.calls = 0
        self._bar = comfy.utils.ProgressBar(self.planned)
        show = comfy.utils.PROGRESS_BAR_ENABLED and not disable
        self._console = tqdm(total=self.planned, disable=not show, unit="call", desc="nested")
        self._last_sent = -1.0

    @property
    def total(self) -> int:
        # An adaptive inner sampler may call the model more often than planned.
        return max(self.planned, self.calls)

    def advance_to(self, calls: int) -> None:
        """The run has made ``calls`` model calls (counted once, by the run's model gate)."""
        self._console.update(calls - self.calls)
        self.calls = calls
        now = time.monotonic()
        if self._last_sent < 0 or now - self._last_sent >= MIN_UPDATE_INTERVAL_S:
            self._send(None)

    def outer_step_done(self, preview=None) -> None:
        """The update at an outer step's end, carrying its preview image (if any)."""
        self._send(preview)

    def _send(self, preview) -> None:
        self._last_sent = time.monotonic()
        self._bar.update_absolute(self.calls, self.total, preview)

    def close(self) -> None:
        self._console.close()
