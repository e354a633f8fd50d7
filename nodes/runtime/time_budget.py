"""``max_seconds``: the best image this many seconds allow.

The decision is taken only at an outer step's end: from the pace measured so far (seconds per
model call) and the planned calls of the next outer step, predict when that step would end; if
past the budget, the run stops and keeps the image it has. The first outer step always runs,
so there is always an image. The clock starts when the nested sampler starts (after ComfyUI has
loaded the model), so the budget is sampling time, not queue or load time.
"""

from __future__ import annotations

import math
import time
from typing import Callable

MAX_SECONDS = 86400.0
MAX_SECONDS_TIP = ("Time budget in seconds: the best image this many seconds allow. Before each outer step, if "
                   "the pace so far says that step would end past the budget, the run stops and keeps the last "
                   "finished image (the first outer step always runs). 0 = no limit.")


def max_seconds_input() -> tuple:
    return ("FLOAT", {"default": 0.0, "min": 0.0, "max": MAX_SECONDS, "step": 0.5, "round": 0.01,
                      "tooltip": MAX_SECONDS_TIP})


def check_max_seconds(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or not 0.0 <= value <= MAX_SECONDS:
        raise ValueError(f"max_seconds must be a number from 0 (no limit) to {MAX_SECONDS:g}, got {value!r}")
    return float(value)


class TimeBudget:
    """Latches ``exhausted`` at the end of the outer step after which the next would overrun."""

    def __init__(self, seconds: float, step_calls: list[int], clock: Callable[[], float] = time.monotonic):
        self.seconds = check_max_seconds(seconds)
        self.step_calls = step_calls  # planned model calls of each outer step
        self._clock = clock
        self._start = clock()
        self.steps_done = 0
        self.exhausted = False

    def paused_for(self, seconds: float) -> None:
        """Time spent paused by the user is not the run's: the budget counts sampling time."""
        self._start += seconds

    def outer_step_done(self, calls_so_far: int) -> None:
        self.steps_done += 1
        if self.seconds <= 0 or self.exhausted or self.steps_done >= len(self.step_calls):
            return
        elapsed = self._clock() - self._start
        per_call = elapsed / max(calls_so_far, 1)
        if elapsed + per_call * self.step_calls[self.steps_done] > self.seconds:
            self.exhausted = True
