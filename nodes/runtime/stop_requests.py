"""Graceful stop: end a running nested sampler with its last finished outer-step image.

A stop request marks the prompt whose nested sampler is running at that moment; the sampler
polls it between model calls and returns the last completed outer image, so the rest of the
graph (VAE decode, save) runs on it.

The chain rule: a stop ends the prompt's nested work, not only the running node. The mark stays
on the prompt after that node ends, so each later nested node of the same prompt runs its
first outer step (a viable image always exists) and then stops. A node that hands leftover
noise on stops the same way and hands on its outer state moved to its end level (see
``nested_core.outer_loop``), so the next node continues from the level it expects.

ComfyUI gives every queued prompt a new id, so a mark can never reach the next prompt; the
marks of the last ``REMEMBERED_PROMPTS`` stopped prompts are kept and older ones dropped. A run
without a prompt id (called outside the executor) has its request end with the run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

REMEMBERED_PROMPTS = 32


class StopRequests:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._requested: OrderedDict[str, None] = OrderedDict()
        self._stops = 0
        self._steered = 0

    @property
    def stops(self) -> int:
        """How many runs ended early so far. Cached outputs from before a stop are not reused
        after it (the nodes' IS_CHANGED returns this), since a stopped run's output is partial."""
        return self._stops

    def steered(self) -> None:
        """A run was steered live: its output depends on more than its inputs."""
        with self._lock:
            self._steered += 1

    @property
    def cache_fingerprint(self) -> str:
        """Changes whenever a run's output stopped depending on its inputs alone (stopped early or
        steered live), so such an output is never served from ComfyUI's cache afterwards."""
        return f"{self._stops}:{self._steered}"

    def begin(self, prompt_id: str) -> None:
        with self._lock:
            self._running[prompt_id] = self._running.get(prompt_id, 0) + 1

    def end(self, prompt_id: str, stopped_early: bool) -> None:
        with self._lock:
            left = self._running.get(prompt_id, 1) - 1
            if left > 0:
                self._running[prompt_id] = left
            else:
                self._running.pop(prompt_id, None)
            if not prompt_id:
                self._requested.pop(prompt_id, None)
            if stopped_early:
                self._stops += 1

    def request(self, prompt_id: str | None = None) -> list[str]:
        """Ask the running sampler of ``prompt_id`` (or of every running prompt) to stop.
        Returns the prompt ids that will stop; empty when none of them is running."""
        with self._lock:
            targets = [p for p in self._running if prompt_id is None or p == prompt_id]
            for target in targets:
                self._requested[target] = None
                self._requested.move_to_end(target)
            while len(self._requested) > REMEMBERED_PROMPTS:
                self._requested.popitem(last=False)
            return targets

    def running(self, prompt_id: str | None = None) -> list[str]:
        """The prompts whose nested sampler runs now (only ``prompt_id``'s when given)."""
        with self._lock:
            return [p for p in self._running if prompt_id is None or p == prompt_id]

    def should_stop(self, prompt_id: str) -> bool:
        return prompt_id in self._requested

    @property
    def remembered(self) -> int:
        """How many stopped prompts are remembered (bounded by REMEMBERED_PROMPTS)."""
        return len(self._requested)


STOPS = StopRequests()


class RerunAfterStop:
    """Base of the pack's nodes: a stopped or live-steered run's result must not be served from
    ComfyUI's cache afterwards, so their IS_CHANGED fingerprint counts such runs.

    SamplerNestedDiffusion needs it too although it only builds the SAMPLER: SamplerCustom,
    which runs it, has no IS_CHANGED of its own, but ComfyUI's cache key of a node is the
    signature of its whole ancestry, and each ancestor's signature includes its IS_CHANGED
    value. So after a stop, SamplerCustom(Advanced) and everything downstream of it run again."""

    @classmethod
    def IS_CHANGED(cls, pause_every_outer_step=False, **_inputs):
        # Step mode asks for a run to steer at every Queue, even when nothing else changed.
        if pause_every_outer_step is True:
            return float("nan")
        return STOPS.cache_fingerprint
