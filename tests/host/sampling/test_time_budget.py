"""max_seconds: the best image this many seconds allow (decided at outer-step ends only)."""

import math

import pytest
import torch

from host_fixtures import NODES, conds, empty_latent, pack_module, tiny

budget_module = pack_module("nodes.runtime.time_budget")
TimeBudget = budget_module.TimeBudget


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def steps_run(seconds, step_calls, seconds_per_call):
    """Outer steps a run makes under ``seconds`` when every call takes ``seconds_per_call``."""
    clock = FakeClock()
    budget = TimeBudget(seconds, step_calls, clock=clock)
    calls = 0
    for k, n in enumerate(step_calls):
        if k > 0 and budget.exhausted:
            return k
        clock.now += n * seconds_per_call
        calls += n
        budget.outer_step_done(calls)
    return len(step_calls)


@pytest.mark.parametrize("seconds,expected", [
    (0.0, 5),      # off
    (10.0, 5),     # step 5 ends exactly at the budget: allowed
    (9.99, 4),     # step 5 would end at 10 s: stop after 4 (8 s)
    (2.5, 1),
    (0.001, 1),    # the first step always runs
])
def test_stops_before_the_step_that_would_end_past_the_budget(seconds, expected):
    assert steps_run(seconds, [4, 4, 4, 4, 4], 0.5) == expected


def test_the_prediction_uses_the_next_steps_planned_calls():
    # Inner runs that shorten (table schedulers): 6 calls then 1 call per step at 1 s a call.
    # After step 1 (6 s) the next step is 1 call: 7 s <= 7.5, so it runs; a count of outer
    # steps alone would have predicted 12 s and stopped.
    assert steps_run(7.5, [6, 1, 1], 1.0) == 2


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, 1e9, "10", True])
def test_bad_max_seconds_names_the_input_and_range(bad):
    with pytest.raises(ValueError, match=r"max_seconds must be a number from 0 \(no limit\) to 86400"):
        budget_module.check_max_seconds(bad)
    with pytest.raises(ValueError, match="max_seconds"):
        NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "normal", 0.0, max_seconds=bad)


def test_optional_inputs_keep_their_landed_order_on_the_three_nodes():
    # Saved workflows store widget values by position: inputs added later come after max_seconds.
    later = ["pause_every_outer_step", "pause_timeout_minutes", "steering", "outer_noise"]
    expected = {"NestedKSampler": ["max_seconds", "clip", *later],
                "NestedKSamplerAdvanced": ["max_seconds", "clip", *later],
                "SamplerNestedDiffusion": ["inner_sampler_override", "max_seconds", *later]}
    for name, order in expected.items():
        spec = NODES[name].INPUT_TYPES()
        assert list(spec["optional"]) == order, name
        kind, options = spec["optional"]["max_seconds"]
        assert kind == "FLOAT" and options["default"] == 0.0 and options["min"] == 0.0 and options["tooltip"]
        assert "max_seconds" not in spec["required"]


def run_node(max_seconds, outer=4):
    positive, negative = conds()
    return NODES["NestedKSampler"]().sample(tiny("eps"), 7, outer, 2, 2.0, "euler", "karras", positive, negative,
                                            empty_latent(), 1.0, max_seconds=max_seconds)


def test_a_tiny_budget_keeps_the_first_image_and_zero_is_off():
    out, images = run_node(1e-6)
    assert images["samples"].shape[0] == 1
    torch.testing.assert_close(out["samples"], images["samples"][-1:], rtol=0, atol=1e-6)
    full, full_images = run_node(0.0)
    assert full_images["samples"].shape[0] == 4
    torch.testing.assert_close(images["samples"][0], full_images["samples"][0], rtol=0, atol=0)


def test_a_budget_stop_of_a_leftover_run_hands_on_the_noisy_state():
    positive, negative = conds()
    out, images = NODES["NestedKSamplerAdvanced"]().sample(
        tiny("eps"), "enable", 3, 4, 2, 2.0, "euler", "karras", positive, negative, empty_latent(), 0, 3, "enable",
        max_seconds=1e-6)
    assert images["samples"].shape[0] == 1
    assert (out["samples"] - images["samples"]).abs().max() > 0.05
