"""Pause requests and paused runs, shared by the routes (server threads) and the sampler (the
prompt worker's thread).

A pause request marks a running prompt; its nested sampler takes the mark at the next outer-step
boundary and waits there. While it waits only the queue stops: the prompt worker is its own
thread, so the server keeps serving, and the wait blocks on an event (no model call, no busy
loop), waking a few times a second to notice ComfyUI's Cancel and Stop & keep. A steer request
hands the paused run its changes and wakes it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

# How often a paused run wakes to check Cancel, Stop & keep and its timeout.
POLL_S = 0.2
REMEMBERED_PROMPTS = 32


@dataclass
class PausedRun:
    prompt_id: str
    check: Callable[[Any], dict]  # the run's own check of a steer body (raises ValueError)
    woken: threading.Event = field(default_factory=threading.Event)
    change: dict | None = None


class PauseBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested: OrderedDict[str, None] = OrderedDict()
        self._paused: dict[str, PausedRun] = {}

    def request(self, running: list[str]) -> list[str]:
        """Mark these running prompts to pause at their next outer-step boundary."""
        with self._lock:
            for prompt_id in running:
                self._requested[prompt_id] = None
                self._requested.move_to_end(prompt_id)
            while len(self._requested) > REMEMBERED_PROMPTS:
                self._requested.popitem(last=False)
        return running

    def take_request(self, prompt_id: str) -> bool:
        """True (once) when a pause was asked for this prompt."""
        with self._lock:
            return self._requested.pop(prompt_id, False) is None

    def paused(self) -> list[str]:
        with self._lock:
            return list(self._paused)

    def steer(self, prompt_id: str, change: Any) -> tuple[int, dict]:
        """(HTTP status, body) of a steer request: 409 when that prompt is not paused, 400 when
        its run refuses the change, else 200 and the run continues with it."""
        with self._lock:
            run = self._paused.get(prompt_id)
            if run is None:
                return 409, {"error": f"no nested sampler of prompt {str(prompt_id)[:80]!r} is paused"}
            try:
                checked = run.check(change)
            except ValueError as error:
                return 400, {"error": str(error)}
            # Taken off the board at once: a second steer of the same pause gets 409.
            del self._paused[prompt_id]
            run.change = checked
            run.woken.set()
        return 200, {"continued": prompt_id, "applied": _jsonable(checked)}

    def open(self, prompt_id: str, check: Callable[[Any], dict]) -> PausedRun:
        """Put a run on the board before anyone is told it paused, so that the quickest steer
        already finds it."""
        run = PausedRun(prompt_id, check)
        with self._lock:
            self._paused[prompt_id] = run
        return run

    def wait(self, run: PausedRun, timeout_s: float, poll: Callable[[], bool],
             clock: Callable[[], float] = time.monotonic) -> tuple[str, dict | None]:
        """Block until steered, stopped (``poll()`` true), or timed out. ``poll`` may raise (the
        host's interrupt), which ends the wait. Returns (reason, change): ("steered", change),
        ("stopped", None) or ("timeout", None)."""
        prompt_id = run.prompt_id
        deadline = clock() + timeout_s
        try:
            while True:
                if run.woken.wait(POLL_S):
                    return "steered", run.change
                stopped = poll()
                if stopped or clock() >= deadline:
                    with self._lock:
                        if self._paused.get(prompt_id) is run:
                            del self._paused[prompt_id]
                            return ("stopped" if stopped else "timeout"), None
                    return "steered", run.change  # a steer got in just before
        finally:
            with self._lock:
                if self._paused.get(prompt_id) is run:  # left by the host's interrupt
                    del self._paused[prompt_id]


def _jsonable(change: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in change.items()}


PAUSES = PauseBoard()
