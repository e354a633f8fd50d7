"""Graceful stop: end a running nested sampler with its last finished outer-step image.

A stop request marks the prompts whose nested sampler is running at that moment; the sampler
polls it between model calls and returns the last completed outer image, so the rest of the
graph (VAE decode, save) runs on it. Requests die with the sampler run they were meant for,
so nothing carries over into the next prompt.
"""

from __future__ import annotations

import threading


class StopRequests:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._requested: set[str] = set()
        self._stops = 0

    @property
    def stops(self) -> int:
        """How many runs ended early so far. Cached outputs from before a stop are not reused
        after it (the nodes' IS_CHANGED returns this), since a stopped run's output is partial."""
        return self._stops

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
            self._requested.discard(prompt_id)
            if stopped_early:
                self._stops += 1

    def request(self, prompt_id: str | None = None) -> list[str]:
        """Ask the running sampler of ``prompt_id`` (or of every running prompt) to stop.
        Returns the prompt ids that will stop; empty when none of them is running."""
        with self._lock:
            targets = [p for p in self._running if prompt_id is None or p == prompt_id]
            self._requested.update(targets)
            return targets

    def should_stop(self, prompt_id: str) -> bool:
        return prompt_id in self._requested


STOPS = StopRequests()


class RerunAfterStop:
    """Base of the pack's nodes: a stopped run's partial result must not be served from
    ComfyUI's cache afterwards, so their IS_CHANGED fingerprint is the stop count.

    SamplerNestedDiffusion needs it too although it only builds the SAMPLER: SamplerCustom,
    which runs it, has no IS_CHANGED of its own, but ComfyUI's cache key of a node is the
    signature of its whole ancestry, and each ancestor's signature includes its IS_CHANGED
    value. So after a stop, SamplerCustom(Advanced) and everything downstream of it run again."""

    @classmethod
    def IS_CHANGED(cls, **_inputs):
        return STOPS.stops
