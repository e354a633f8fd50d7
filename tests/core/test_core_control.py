"""Test 5: early stop, the per-call hook, the callback contract and the NFE accounting."""

from __future__ import annotations

import pytest
import torch

from gmm import random_mixture
from ksamplers import sample_euler, sample_euler_ancestral, sample_heun
from nested_core import nfe_plan, paper_inner_sigmas, paper_outer_sigmas, sample_nested
from sigma_tables import sd_sigma_table

OUTER_STEPS, INNER_STEPS = 6, 4
TABLE = sd_sigma_table()
OUTER = paper_outer_sigmas(TABLE, OUTER_STEPS)


class CountedModel:
    """The mixture denoiser, counting its calls."""

    def __init__(self):
        self.gmm = random_mixture(dim=3, components=3, seed=2)
        self.calls = 0

    def __call__(self, x, sigma, **extra_args):
        self.calls += 1
        return self.gmm.ve_model(x, sigma)


def _start():
    return torch.randn(16, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * float(OUTER[0])


def _run(model, inner_sampler=sample_euler_ancestral, end="zero", **kwargs):
    events = []
    out = sample_nested(
        model, _start(), OUTER, extra_args={"seed": 9}, callback=events.append,
        inner_sampler=inner_sampler, inner_sigmas=lambda s: paper_inner_sigmas(TABLE, s, INNER_STEPS, end=end),
        inner_options={"eta": 0.85} if inner_sampler is sample_euler_ancestral else None, **kwargs,
    )
    return out, events


@pytest.mark.parametrize("stop_step", [1, 2, OUTER_STEPS - 1])
def test_stop_during_an_inner_run_returns_the_previous_image(stop_step):
    model = CountedModel()
    flip_at = stop_step * INNER_STEPS + 2  # two model calls into outer step stop_step's inner run
    out, events = _run(model, should_stop=lambda: model.calls >= flip_at)
    assert [e["i"] for e in events] == list(range(stop_step))
    assert torch.equal(out, events[-1]["denoised"])
    assert model.calls == flip_at
    # The images before the stop are those of an uninterrupted run.
    _, full = _run(CountedModel())
    assert torch.equal(out, full[stop_step - 1]["denoised"])


def test_stop_between_outer_steps_returns_the_latest_image():
    model, fired, hooks = CountedModel(), [], []
    out = sample_nested(model, _start(), OUTER, callback=lambda e: fired.append(e),
                        inner_sampler=sample_euler, inner_sigmas=lambda s: paper_inner_sigmas(TABLE, s, INNER_STEPS),
                        should_stop=lambda: len(fired) >= 3, before_model_call=lambda: hooks.append(1))
    assert [e["i"] for e in fired] == [0, 1, 2]
    assert torch.equal(out, fired[-1]["denoised"])
    # Stopped at the outer boundary: no further inner run was started.
    assert model.calls == len(hooks) == 3 * INNER_STEPS


def test_first_outer_step_completes_even_if_stop_is_requested_from_the_start():
    model = CountedModel()
    out, events = _run(model, should_stop=lambda: True)
    assert [e["i"] for e in events] == [0]
    assert model.calls == INNER_STEPS
    _, full = _run(CountedModel())
    assert torch.equal(out, events[0]["denoised"])
    assert torch.equal(out, full[0]["denoised"])


def test_callback_hook_and_nfe_contract():
    model, hook_calls, events, calls_at_callback = CountedModel(), [], [], []

    def callback(event):
        calls_at_callback.append(model.calls)
        events.append(event)

    sample_nested(model, _start(), OUTER, extra_args={"seed": 1}, callback=callback,
                  inner_sampler=sample_euler_ancestral, inner_options={"eta": 0.85},
                  inner_sigmas=lambda s: paper_inner_sigmas(TABLE, s, INNER_STEPS),
                  before_model_call=lambda: hook_calls.append(model.calls))
    assert len(hook_calls) == model.calls == OUTER_STEPS * INNER_STEPS
    assert hook_calls == list(range(model.calls))  # called before each call, exactly once each
    assert [e["i"] for e in events] == list(range(OUTER_STEPS))
    for k, event in enumerate(events):
        assert set(event) == {"i", "x", "sigma", "sigma_hat", "denoised", "nfe"}
        assert float(event["sigma"]) == float(event["sigma_hat"]) == float(OUTER[k])
        assert event["denoised"].shape == event["x"].shape
    assert [e["nfe"] for e in events] == calls_at_callback


@pytest.mark.parametrize("end", ["zero", "sigma_min"])
@pytest.mark.parametrize("kind", ["euler", "heun"])
def test_nfe_plan_matches_the_counted_calls(kind, end):
    model = CountedModel()
    inner = sample_euler if kind == "euler" else sample_heun
    _, events = _run(model, inner_sampler=inner, end=end)

    def heun_calls(schedule):
        steps = len(schedule) - 1
        return 2 * steps - (1 if float(schedule[-1]) == 0 else 0)

    plan = nfe_plan(OUTER, lambda s: paper_inner_sigmas(TABLE, s, INNER_STEPS, end=end),
                    1 if kind == "euler" else heun_calls)
    assert plan.total == model.calls
    assert plan.ready_at == [e["nfe"] for e in events]
    per_run = INNER_STEPS if kind == "euler" else (2 * INNER_STEPS - (1 if end == "zero" else 0))
    assert plan.ready_at == [per_run * (k + 1) for k in range(OUTER_STEPS)]



@pytest.mark.parametrize("stop_step", [1, 2])
def test_a_stopped_leftover_run_hands_on_its_state_at_its_end_level(stop_step):
    """Stopped during outer step ``stop_step`` of a leftover-noise run ending at OUTER[4], the
    run returns its state at OUTER[stop_step] moved to OUTER[4] by one deterministic outer
    step toward the last image, with no further model call."""
    end = 4

    def run(model, should_stop=None):
        events = []
        out = sample_nested(model, _start(), OUTER[:end + 1], callback=events.append, inner_sampler=sample_euler,
                            inner_sigmas=lambda s: paper_inner_sigmas(TABLE, s, INNER_STEPS),
                            should_stop=should_stop, leftover_noise=True)
        return out, events

    model = CountedModel()
    flip_at = stop_step * INNER_STEPS + 1  # one call into outer step stop_step's inner run
    out, events = run(model, lambda: model.calls >= flip_at)
    assert [e["i"] for e in events] == list(range(stop_step))
    assert model.calls == flip_at
    image = events[-1]["denoised"]
    _, full = run(CountedModel())
    x_at_stop = full[stop_step]["x"]  # the state the abandoned outer step started from
    sigma, sigma_end = float(OUTER[stop_step]), float(OUTER[end])
    torch.testing.assert_close(out, image + (x_at_stop - image) * (sigma_end / sigma), rtol=1e-12, atol=1e-12)
    # The noisy state at sigma_end, not the image: a later run continues from that level.
    assert (out - image).abs().max() > 0.1 * sigma_end


def test_a_leftover_run_stopped_between_outer_steps_matches_the_jump():
    model, events = CountedModel(), []
    out = sample_nested(model, _start(), OUTER[:5], callback=events.append, inner_sampler=sample_euler,
                        inner_sigmas=lambda s: paper_inner_sigmas(TABLE, s, INNER_STEPS),
                        should_stop=lambda: len(events) >= 2, leftover_noise=True)
    assert len(events) == 2 and model.calls == 2 * INNER_STEPS
    image, x1 = events[-1]["denoised"], events[-1]["x"]
    sigma1, sigma_end = float(OUTER[1]), float(OUTER[4])
    # eta 0: stepping x1 -> OUTER[2] -> OUTER[4] toward the same image is one step x1 -> OUTER[4].
    torch.testing.assert_close(out, image + (x1 - image) * (sigma_end / sigma1), rtol=1e-10, atol=1e-10)
