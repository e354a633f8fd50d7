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
    progress = run.progress_for(node_id)
    assert progress and {m for _, m in progress} == {total}, progress
    values = [v for v, _ in progress]
    assert values == sorted(values) and set(values) == set(range(1, total + 1)), progress
