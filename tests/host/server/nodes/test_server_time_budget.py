"""max_seconds through the real server: the run stops within one outer step of the budget,
and the last finished outer-step image is the saved result."""

from __future__ import annotations

import torch

from server_asserts import assert_outer_steps
from server_prompts import base_graph, load_latent, nested_ksampler_node, save_latent

OUTER = 8


def budget_prompt(max_seconds: float) -> dict:
    prompt = base_graph(size=256)
    sampler = nested_ksampler_node(outer_steps=OUTER, inner_steps=3, scheduler="karras")
    sampler["inputs"]["max_seconds"] = max_seconds
    prompt["5"] = sampler
    prompt["6"] = save_latent("5", 0)
    prompt["7"] = save_latent("5", 1)
    return prompt


def run_with_budget(server, max_seconds: float):
    run = server.run_prompt(budget_prompt(max_seconds))
    assert run.status == "success", run.describe()
    events = run.outer_steps("5")
    final = load_latent(server.saved_latent_path(run, "6"))
    images = load_latent(server.saved_latent_path(run, "7"))
    assert images.shape[0] == len(events)
    torch.testing.assert_close(final, images[-1:], rtol=0, atol=1e-6)  # the last finished image is saved
    return events


def test_max_seconds_stops_within_one_outer_step_of_the_budget(nested_none):
    # A budget shorter than any step: the first outer step always runs, and only it. (Twice:
    # the first run on a fresh server pays one-off costs that would overstate a step's time.)
    for _ in range(2):
        first = run_with_budget(nested_none, 0.001)
        assert len(first) == 1
    one_step = first[0]["elapsed"]
    # A budget of about 3.5 steps (measured on this machine just now).
    budget = 3.5 * one_step
    events = run_with_budget(nested_none, budget)
    ends = [0.0] + [e["elapsed"] for e in events]
    durations = [b - a for a, b in zip(ends, ends[1:])]
    calls = [e["nfe"] for e in events]
    assert len(set(b - a for a, b in zip([0] + calls, calls))) == 1, "karras inner runs: equal calls per step"
    assert 1 <= len(events) < OUTER, (budget, ends)
    last = ends[-1]
    # Past the budget by at most the step that ran over it; short of it by less than one step
    # (the next one would have ended past it at the pace measured so far).
    assert last - budget <= max(durations), (budget, ends)
    # (The decision is taken a moment after the event's time stamp: 0.05 s allows for that.)
    assert budget - last < max(durations) + 0.05, (budget, ends)


def test_without_max_seconds_the_run_is_complete(nested_none):
    prompt = budget_prompt(0.0)
    del prompt["5"]["inputs"]["max_seconds"]  # a workflow saved before the input existed
    run = nested_none.run_prompt(prompt)
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", OUTER, total=OUTER)
