"""The outer and inner schedules: the reference's grids (values and formula) and the host's rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nested_core import (
    inner_from_full,
    inner_from_range,
    nearest_timestep,
    paper_inner_sigmas,
    paper_outer_sigmas,
    rounded_linspace,
    stretch_for_denoise,
)
from sigma_tables import karras, sd_sigma_table, simple_scheduler

TABLE = sd_sigma_table()
SIMPLE = simple_scheduler(TABLE)

# The reference's SD-1.5 outer grids (timesteps round(linspace(1, 999, N+1)), reversed, first N) in
# sigma units, with the final 0; N = 25: 999, 959, ..., 41.
REFERENCE_OUTER_25 = [14.6146, 11.5428, 9.2374, 7.4854, 6.1375, 5.0878, 4.2606, 3.6158, 3.0809, 2.6446, 2.2846,
                 1.9842, 1.7306, 1.5142, 1.3274, 1.1644, 1.0205, 0.8921, 0.7762, 0.6726, 0.5741, 0.4810,
                 0.3910, 0.3006, 0.2018, 0.0]
REFERENCE_OUTER_5 = [14.6146, 5.0878, 2.2846, 1.1644, 0.5741, 0.0]
# The reference's inner run of 25 x 4 at t = 999 (timesteps 999, 666, 334, 1, then 0).
REFERENCE_INNER_999_4 = [14.6146, 2.9183, 0.9355, 0.0413, 0.0292]


def _assert_levels(got, want):
    assert len(got) == len(want)
    assert float((got - torch.tensor(want, dtype=torch.float64)).abs().max()) <= 1e-4, got.tolist()


def _assert_inner_run(schedule, sigma, steps):
    assert float(schedule[0]) == sigma
    assert len(schedule) == steps + 1, schedule.tolist()
    assert bool((schedule[1:] < schedule[:-1]).all()), schedule.tolist()
    assert float(schedule[-1]) == 0.0


def test_published_table_constants():
    assert abs(float(TABLE[0]) - 0.02917) < 1e-5 and abs(float(TABLE[1]) - 0.04131) < 1e-5
    assert abs(float(TABLE[999]) - 14.6146) < 1e-4


@pytest.mark.parametrize(("outer_steps", "want"), [(25, REFERENCE_OUTER_25), (5, REFERENCE_OUTER_5)])
def test_paper_outer_sigmas_match_the_reference(outer_steps, want):
    _assert_levels(paper_outer_sigmas(TABLE, outer_steps), want)


def test_paper_inner_sigmas_match_the_reference():
    _assert_levels(paper_inner_sigmas(TABLE, float(TABLE[999]), 4, end="sigma_min"), REFERENCE_INNER_999_4)
    _assert_levels(paper_inner_sigmas(TABLE, float(TABLE[999]), 4), REFERENCE_INNER_999_4[:4] + [0.0])


@pytest.mark.parametrize("inner_steps", [1, 3, 4, 20])
def test_paper_inner_sigmas_make_min_n_t_calls_from_the_outer_sigma(inner_steps):
    for sigma in paper_outer_sigmas(TABLE, 25)[:-1].tolist() + [float(TABLE[2]), float(TABLE[1])]:
        t = nearest_timestep(TABLE, sigma)
        _assert_inner_run(paper_inner_sigmas(TABLE, sigma, inner_steps), sigma, min(inner_steps, t))


@pytest.mark.parametrize("inner_steps", [1, 2, 4, 10])
def test_inner_from_range_with_karras(inner_steps):
    schedule = inner_from_range(karras, float(TABLE[0]), inner_steps)
    for sigma in paper_outer_sigmas(TABLE, 25)[:-1].tolist() + [0.1, 0.05]:
        run = schedule(sigma)
        _assert_inner_run(run, sigma, inner_steps)
        # Between the ends, the builder's own levels for sigma_max = the outer sigma.
        torch.testing.assert_close(run[1:-1], karras(inner_steps, float(TABLE[0]), sigma)[1:-1], rtol=1e-12, atol=0)


def test_inner_from_range_at_or_below_sigma_min_is_one_step():
    schedule = inner_from_range(karras, 0.03, 4)
    assert schedule(0.03).tolist() == [0.03, 0.0]
    assert schedule(0.02).tolist() == [0.02, 0.0]


def _distinct_levels_below(sigma):
    return int((TABLE < sigma).sum()) + 1  # the table's levels below sigma, plus 0


@pytest.mark.parametrize("inner_steps", [1, 2, 4, 7, 20])
def test_inner_from_full_takes_n_levels_below_the_outer_sigma(inner_steps):
    schedule = inner_from_full(SIMPLE, inner_steps)
    simple_outer = SIMPLE(25)[:-1].tolist()
    # Small outer sigmas too: table levels near the bottom and points between them.
    small = [float(TABLE[t]) for t in range(1, 60)] + [float((TABLE[t] * TABLE[t + 1]).sqrt()) for t in range(60)]
    table_levels = set(TABLE.tolist())
    checked = 0
    for sigma in simple_outer + small:
        if _distinct_levels_below(sigma) < inner_steps:
            continue
        run = schedule(sigma)
        _assert_inner_run(run, sigma, inner_steps)
        assert all(v in table_levels for v in run[1:-1].tolist()), "levels must come from the scheduler"
        checked += 1
    assert checked >= 60


def test_stretch_for_denoise_is_the_tail_of_the_longer_schedule():
    assert torch.equal(stretch_for_denoise(SIMPLE, 10, 0.5), SIMPLE(20)[-11:])
    assert torch.equal(stretch_for_denoise(SIMPLE, 7, 0.3), SIMPLE(23)[-8:])
    assert torch.equal(stretch_for_denoise(SIMPLE, 10, 1.0), SIMPLE(10))


def test_inner_from_full_at_the_floor_is_one_step_without_stretching():
    """ComfyUI's schedules end at the model's sigma_min; nothing lies below it but 0, so the
    inner run there is one step, found without building ever longer schedules."""
    requested = []

    def counting_simple(steps):
        requested.append(steps)
        return SIMPLE(steps)

    floor = float(TABLE[0])
    schedule = inner_from_full(counting_simple, 20, sigma_floor=floor)
    assert schedule(floor).tolist() == [floor, 0.0]
    assert requested == []
    above = float(TABLE[40])
    run = schedule(above)
    _assert_inner_run(run, above, 20)
    assert max(requested) < 10000


def test_inner_from_full_finds_a_schedulers_own_floor_quickly():
    """A scheduler whose schedules all end at one level (ComfyUI's 'normal' ends at its own
    smallest level, not always the model's sigma_min): an outer sigma there is one step to 0."""
    requested = []
    floor, top = 0.05, 10.0

    def ends_at_floor(steps):
        requested.append(steps)
        levels = torch.exp(torch.linspace(torch.log(torch.tensor(top)), torch.log(torch.tensor(floor)), steps))
        return torch.cat([levels.to(torch.float64), torch.zeros(1, dtype=torch.float64)])

    schedule = inner_from_full(ends_at_floor, 6)
    assert schedule(floor).tolist() == [floor, 0.0]
    assert max(requested) <= 6 * 8
    _assert_inner_run(schedule(1.0), 1.0, 6)


def _reference_grid(start: int, stop: int, num: int) -> list[int]:
    # The reference code's one line (NestedScheduler.set_timesteps), restated with numpy.
    return np.linspace(start, stop, num).round().astype(int)[::-1].tolist()


TIMESTEP_OF = {level: t for t, level in enumerate(TABLE.tolist())}


def _timesteps(levels: torch.Tensor) -> list[int]:
    return [TIMESTEP_OF[level] for level in levels.tolist()]


def test_every_outer_grid_is_the_references():
    last = len(TABLE) - 1
    for outer_steps in range(1, last):
        got = _timesteps(paper_outer_sigmas(TABLE, outer_steps)[:-1])
        # The reference evaluates the first N points of its N+1-point grid.
        assert got == _reference_grid(1, last, outer_steps + 1)[:-1], f"outer_steps={outer_steps}"


def test_every_inner_grid_up_to_100_steps_is_the_references():
    # Every (t, n): the grid paper_inner_sigmas builds its run from (rounded_linspace(1, t, m),
    # reversed). The next test checks that paper_inner_sigmas is that grid, on fewer (t, n),
    # since it costs ~0.1 ms a call and all 99,900 would take several seconds more.
    for t in range(1, len(TABLE)):
        for m in range(2, min(100, t) + 1):
            assert rounded_linspace(1, t, m).flip(0).tolist() == _reference_grid(1, t, m), f"t={t}, m={m}"


@pytest.mark.parametrize("inner_steps", [1, 2, 3, 4, 7, 15, 20, 100])
def test_paper_inner_sigmas_are_the_reference_grid_at_every_outer_timestep(inner_steps):
    for t in range(1, len(TABLE)):
        m = min(inner_steps, t)
        got = _timesteps(paper_inner_sigmas(TABLE, float(TABLE[t]), inner_steps)[:-1])
        # One call is made at t itself: the reference's linspace(1, t, 1) = [1] is its bug.
        want = [t] if m == 1 else _reference_grid(1, t, m)
        assert got == want, f"t={t}, inner_steps={inner_steps}"


@pytest.mark.parametrize(("start", "stop", "num"), [(1, 30, 15), (1, 999, 757), (1, 999, 781)])
def test_rounded_linspace_differs_from_torch_linspace_at_ties(start, stop, num):
    # Guards the two tests above: these grids round differently when built with torch.linspace.
    by_torch = torch.linspace(start, stop, num, dtype=torch.float64).round().long().flip(0).tolist()
    assert by_torch != _reference_grid(start, stop, num)
    assert rounded_linspace(start, stop, num).flip(0).tolist() == _reference_grid(start, stop, num)
