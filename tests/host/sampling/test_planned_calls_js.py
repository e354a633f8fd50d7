"""The cost the web extension shows before a run (web/planned_calls.js) equals what the pack
really spends: the scheduler rules against nested_core.nfe_plan over the host's schedules,
and the multi-call samplers against model calls counted in real NestedKSampler runs.

Needs ``node`` on PATH (skips with one line otherwise)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import comfy.samplers
import comfy.utils

from host_env import PACK_ROOT
from host_fixtures import NODES, conds, empty_latent, pack_module, tiny

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="planned-cost check skipped: node is not on PATH")

JS = """
import { plannedCalls, useCallTable } from %s;
useCallTable(JSON.parse(process.argv[2]));
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify(cases.map((c) => plannedCalls(c))));
"""


def served_table() -> dict:
    """What GET /nested_diffusion/model_calls answers on this host (the route's own function)."""
    return pack_module("nodes.runtime.model_calls").call_table(comfy.samplers.SAMPLER_NAMES)


def js_plans(cases: list[dict]) -> list[dict | None]:
    """The panel's plans, with the table the server gives it."""
    module = json.dumps((PACK_ROOT / "web" / "planned_calls.js").as_uri())
    out = subprocess.run([NODE, "--input-type=module", "-e", JS % module, json.dumps(cases),
                          json.dumps(served_table())], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def python_total(kind: str, scheduler: str, outer: int, inner: int, start: int = 0, end: int | None = None) -> int:
    schedules = pack_module("nodes.runtime.comfy_schedules")
    core = pack_module("nested_core")
    ms = tiny(kind).get_model_object("model_sampling")
    sigmas = schedules.outer_sigmas(ms, scheduler, outer)
    end = outer if end is None else min(end, outer)
    # The Advanced node's range, as NestedKSamplerAdvanced.sample cuts it (leftover disabled).
    sigmas = sigmas[:end + 1].clone()
    sigmas[-1] = 0.0
    sigmas = sigmas[start:]
    return core.nfe_plan(sigmas, schedules.inner_schedule(ms, scheduler, inner)).total


SCHEDULERS = [s for s in comfy.samplers.SCHEDULER_NAMES] + ["paper_faithful"]
GRID = [(1, 3), (2, 1), (2, 4), (3, 2), (5, 20), (8, 3), (4, 300)]


@pytest.mark.parametrize("kind", ["eps", "flow"])
def test_js_scheduler_rules_match_nfe_plan(kind):
    cases, expected = [], []
    for scheduler in SCHEDULERS:
        for outer, inner in GRID:
            if scheduler == "kl_optimal" and outer == 1:
                continue  # the host's kl_optimal gives NaN sigmas for one step; the node rejects it
            cases.append({"outer": outer, "inner": inner, "sampler": "euler", "scheduler": scheduler})
            expected.append(python_total(kind, scheduler, outer, inner))
        for start, end in [(0, 2), (2, 10000), (1, 3)]:
            cases.append({"outer": 4, "inner": 5, "sampler": "euler", "scheduler": scheduler,
                          "start": start, "end": end})
            expected.append(python_total(kind, scheduler, 4, 5, start, end))
    got = js_plans(cases)
    # "exact" plans must match; the others (inner runs longer than the table allows) are shown
    # as "about" and must not undercount.
    wrong = [(c, g, e) for c, g, e in zip(cases, got, expected)
             if (g["calls"] != e if g["exact"] else g["calls"] < e)]
    assert not wrong, f"JS planned calls differ from nfe_plan (case, js, python): {wrong[:10]}"
    exact = sum(g["exact"] for g in got)
    assert exact >= 0.8 * len(got), f"only {exact} of {len(got)} plans are exact"


def counted_calls(sampler: str, scheduler: str, outer: int, inner: int) -> int:
    calls = [0]

    def wrapper(apply_model, args):
        calls[0] += 1
        return apply_model(args["input"], args["timestep"], **args["c"])

    model = tiny("eps").clone()
    model.set_model_unet_function_wrapper(wrapper)
    positive, negative = conds()
    NODES["NestedKSampler"]().sample(model, 3, outer, inner, 1.0, sampler, scheduler, positive, negative,
                                     empty_latent())
    return calls[0]


# Every sampler this host lists, but the adaptive one, whose calls are known only afterwards.
COUNTABLE = [s for s in comfy.samplers.SAMPLER_NAMES if s != "dpm_adaptive"]


def planned_by_progress(sampler: str, scheduler: str, outer: int, inner: int) -> int:
    """The total of the pack's per-call progress bar for the same run: what the node plans."""
    totals = []
    old = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, *a, **k: totals.append(total))
    try:
        positive, negative = conds()
        NODES["NestedKSampler"]().sample(tiny("eps"), 3, outer, inner, 1.0, sampler, scheduler, positive, negative,
                                         empty_latent())
    finally:
        comfy.utils.set_progress_bar_global_hook(old)
    # The first update's total: later ones grow with calls an adaptive sampler adds beyond it.
    return totals[0]


@pytest.mark.parametrize("sampler", COUNTABLE)
def test_python_plans_the_model_calls_every_sampler_makes(sampler):
    """The progress total and the time budget's pace rest on this plan (nodes/runtime/progress.py)."""
    outer, inner = 3, 4
    assert planned_by_progress(sampler, "simple", outer, inner) == counted_calls(sampler, "simple", outer, inner)


@pytest.mark.parametrize("sampler", COUNTABLE)
@pytest.mark.parametrize("scheduler", ["normal", "simple"])
def test_js_counts_the_model_calls_a_nested_run_makes(sampler, scheduler):
    outer, inner = 3, 3
    (plan,) = js_plans([{"outer": outer, "inner": inner, "sampler": sampler, "scheduler": scheduler}])
    assert plan["exact"] and plan["calls"] == counted_calls(sampler, scheduler, outer, inner)
