"""Assertions shared by the server-level tests: what a run must show per outer step."""

from __future__ import annotations

import io
import math

from PIL import Image

from comfy_server import EVENT


def assert_outer_steps(run, node_id: str, count: int, total: int | None = None) -> list[dict]:
    """``count`` events for ``node_id`` with ascending 1-based steps, growing nfe, falling sigma."""
    events = run.outer_steps(node_id)
    assert len(events) == count, f"{len(events)} {EVENT} events for node {node_id}: {run.of_type(EVENT)}"
    steps = [e["step"] for e in events]
    assert steps == sorted(set(steps)) and all(1 <= s <= e["total"] for s, e in zip(steps, events)), events
    if total is not None:
        assert steps == list(range(1, count + 1)) and {e["total"] for e in events} == {total}, events
    assert all(e["prompt_id"] == run.prompt_id for e in events)
    nfe = [e["nfe"] for e in events]
    assert all(isinstance(n, int) for n in nfe) and nfe[0] > 0 and all(b > a for a, b in zip(nfe, nfe[1:])), nfe
    sigma = [e["sigma"] for e in events]
    assert all(math.isfinite(s) for s in sigma) and all(b < a for a, b in zip(sigma, sigma[1:])), sigma
    return events


def assert_previews(run, node_id: str, count: int) -> None:
    """Exactly ``count`` decodable preview images in the run, all on ``node_id``."""
    assert len(run.previews_for(node_id)) == count == len(run.previews), \
        f"previews per node: {[(p.node, p.event) for p in run.previews]}"
    for preview in run.previews:
        assert preview.prompt_id in (None, run.prompt_id)
        Image.open(io.BytesIO(preview.image)).verify()


def assert_progress(run, node_id: str, total: int) -> None:
    """The host's bar over ``total`` outer steps, and the pack's bar over model calls: from the
    first call (before the first outer step ends), monotone, up to the planned total that the
    outer-step events carry as ``planned``."""
    progress = run.progress_for(node_id)
    outer = [v for v, m in progress if m == total]
    # The host's bar (its callback) ends at ``total``; newer hosts drop its updates that come
    # within 0.1 s of the last one, so not every step need be there.
    assert outer == sorted(outer) and outer[-1] == total and set(outer) <= set(range(1, total + 1)), progress
    events = run.outer_steps(node_id)
    planned = {e["planned"] for e in events}
    assert len(planned) == 1, events
    planned = planned.pop()
    assert planned > total and planned >= events[-1]["nfe"], (planned, events)
    calls = [v for v, m in progress if m == planned]
    assert calls and calls == sorted(calls) and calls[-1] == events[-1]["nfe"], (planned, progress)
    if events[-1]["step"] == events[-1]["total"]:
        assert calls[-1] == planned, (planned, progress)
    first_call = next(i for i, m in enumerate(run.messages) if m.get("type") == "progress"
                      and m["data"].get("node") == node_id and m["data"]["max"] == planned)
    first_event = next(i for i, m in enumerate(run.messages) if m.get("type") == EVENT
                       and m["data"].get("node") == node_id)
    assert first_call < first_event and run.messages[first_call]["data"]["value"] >= 1
