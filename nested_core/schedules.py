"""Outer and inner noise schedules, built from a model's own sigma table or sigma range, and the
checks and precision handling every schedule passes through before a sampler sees it.

Nothing here hard-codes betas: every schedule is read off the ascending sigma table a model
exposes (ComfyUI's ``model_sampling.sigmas``, index = training timestep), or off a scheduler
function the caller supplies.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

InnerSchedule = Callable[[float], torch.Tensor]

# Where an inner run ends: at noise level 0 (the pack's default; the last inner step returns
# the model's denoised output) or at sigma(t=0), as the reference code does.
END_ZERO = "zero"
END_SIGMA_MIN = "sigma_min"
INNER_ENDS = (END_ZERO, END_SIGMA_MIN)

# Levels closer than this (relative) are one level: a scheduler asked for a range a hair wide
# returns near-equal sigmas, and samplers divide by level differences.
SAME_LEVEL_RTOL = 1e-4

# How much a table schedule may be stretched per round while looking for inner levels.
MAX_GROWTH = 8


def _check_table(sigma_table: torch.Tensor) -> torch.Tensor:
    table = torch.as_tensor(sigma_table, dtype=torch.float64).flatten().cpu()
    if table.numel() < 2 or not bool(torch.all(table[1:] >= table[:-1])) or float(table[0]) <= 0:
        raise ValueError("sigma_table must be an ascending tensor of positive sigmas, one per timestep")
    return table


def _count_at_least_one(name: str, steps: int) -> int:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {steps!r}")
    return int(steps)


def validate_outer_sigmas(sigmas: torch.Tensor, leftover_noise: bool = False) -> list[float]:
    """Outer schedule as floats; raises ValueError unless it is strictly descending and ends at 0
    (or, with ``leftover_noise``, at any level >= 0)."""
    if sigmas is None or sigmas.numel() < 2:
        raise ValueError("sigmas must hold at least 2 values (one outer step), descending to 0; got "
                         f"{0 if sigmas is None else sigmas.numel()}")
    values = [float(s) for s in sigmas.flatten()]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"sigmas must be finite, without NaN or inf; got {values[:8]}")
    if values[-1] < 0.0 or (values[-1] != 0.0 and not leftover_noise):
        raise ValueError(f"sigmas must end at 0 (the last outer step returns the inner sample); ends at {values[-1]:g}")
    if any(b >= a for a, b in zip(values, values[1:])):
        raise ValueError("sigmas must be strictly descending (outer noise levels from high to 0)")
    return values


def validate_inner_sigmas(sigma: float, inner: torch.Tensor) -> torch.Tensor:
    """The inner run's schedule, flattened; raises ValueError unless it starts at the outer
    ``sigma`` and is strictly descending."""
    values = inner.flatten()
    if values.numel() < 2:
        raise ValueError(f"inner_sigmas({sigma:g}) must return at least 2 values, got {values.numel()}")
    if not math.isclose(float(values[0]), sigma, rel_tol=1e-6, abs_tol=1e-12):
        raise ValueError(f"inner_sigmas({sigma:g}) must start at the outer sigma, starts at {float(values[0]):g}")
    if bool((values[1:] >= values[:-1]).any()):
        raise ValueError(f"inner_sigmas({sigma:g}) must be strictly descending")
    return values


def at_precision(schedule: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The inner schedule in the outer schedule's dtype and device, as a fresh tensor (some
    samplers, ComfyUI's uni_pc among them, write into the one they get). Levels that coincide
    at that precision are merged: samplers divide by level differences."""
    cast = schedule.to(device=like.device, dtype=like.dtype)
    keep = torch.ones_like(cast, dtype=torch.bool)
    keep[1:] = cast[1:] < cast[:-1]
    return cast[keep].clone()


def inner_run_schedule(inner_sigmas: Callable[[float], torch.Tensor], sigma: float,
                       outer_sigmas: torch.Tensor) -> torch.Tensor:
    """The schedule the inner run at outer level ``sigma`` is given: ``inner_sigmas(sigma)``,
    checked, in the outer schedule's dtype, with levels that coincide at that precision merged."""
    return at_precision(validate_inner_sigmas(sigma, torch.as_tensor(inner_sigmas(sigma))), outer_sigmas)


def rounded_linspace(start: float, stop: float, num: int) -> torch.Tensor:
    """``np.linspace(start, stop, num).round()`` as int64, computed the way numpy computes it.

    The reference code builds its time grids this way. numpy makes point i as ``start + i*step``
    and sets the last point to ``stop``; torch.linspace computes the upper half of the points back
    from ``stop``, which can land on the other side of a .5: in ``linspace(1, 30, 15)`` point 7 is
    15.500000000000002 in numpy (rounds to 16) but 15.499999999999998 in torch (rounds to 15).
    torch.round, like numpy's round, rounds exact halves to even.
    """
    if num == 1:
        return torch.tensor([start], dtype=torch.float64).round().long()
    step = (stop - start) / (num - 1)
    points = torch.arange(num, dtype=torch.float64) * step + start
    points[-1] = stop
    return points.round().long()


def nearest_timestep(sigma_table: torch.Tensor, sigma: float) -> int:
    """Training timestep whose sigma is nearest in log space (ComfyUI's ``timestep(sigma)``)."""
    table = _check_table(sigma_table)
    return int(torch.argmin((table.log() - torch.log(torch.tensor(float(sigma), dtype=torch.float64))).abs()))


def paper_outer_sigmas(sigma_table: torch.Tensor, outer_steps: int) -> torch.Tensor:
    """The reference's outer grid: round(linspace(1, T, N+1)) reversed, last point dropped, then 0.

    The reference evaluates outer steps at the first N grid points; the (N+1)-th point, t = 1,
    is only the target of an update whose result it discards, so the pack ends at 0 instead.
    """
    table = _check_table(sigma_table)
    n = _count_at_least_one("outer_steps", outer_steps)
    last = table.numel() - 1
    grid = rounded_linspace(1, last, max(2, min(n + 1, last))).flip(0)
    return _without_repeats(torch.cat([table[grid[:-1]], table.new_zeros(1)]))


def paper_inner_sigmas(
    sigma_table: torch.Tensor, sigma: float, inner_steps: int, end: str = END_ZERO
) -> torch.Tensor:
    """The reference's inner grid for an outer step at ``sigma``.

    Uniform in timestep from the outer timestep t down to 1 (min(n, t) model calls), then the
    end point. The first model call is at ``sigma`` itself. With ``inner_steps = 1`` the single
    call is at the outer sigma, which makes nested sampling plain DDIM; the reference's
    ``linspace(1, t, 1)`` puts it at timestep 1 instead, a bug not copied here.
    """
    table = _check_table(sigma_table)
    n = _count_at_least_one("inner_steps", inner_steps)
    if end not in INNER_ENDS:
        raise ValueError(f"end must be one of {INNER_ENDS}, got {end!r}")
    t = nearest_timestep(table, sigma)
    m = max(1, min(n, t))
    if m == 1:
        taus = torch.tensor([t])
    else:
        taus = rounded_linspace(1, t, m).flip(0)
    out = table[taus].clone()
    out[0] = float(sigma)
    tail = table[:1] if end == END_SIGMA_MIN and float(sigma) > float(table[0]) else table.new_zeros(1)
    return _without_repeats(torch.cat([out, tail]))


def _without_repeats(levels: torch.Tensor) -> torch.Tensor:
    """A descending schedule with every level not strictly below its predecessor dropped: a
    table with repeated entries (a coarse or low-precision model table) would otherwise give
    a sampler a zero-length step."""
    keep = [0]
    for i in range(1, levels.numel()):
        if float(levels[i]) < float(levels[keep[-1]]):
            keep.append(i)
    return levels[keep]


def _descending_from(sigma: float, levels: torch.Tensor) -> torch.Tensor:
    """[sigma] + the given levels that keep the run strictly descending, ending at 0."""
    out = [sigma]
    for level in levels.tolist():
        if level < out[-1] * (1.0 - SAME_LEVEL_RTOL) or (level == 0.0 and out[-1] > 0.0):
            out.append(level)
    if out[-1] != 0.0:
        out.append(0.0)
    return torch.tensor(out, dtype=torch.float64)


def inner_from_range(
    build: Callable[[int, float, float], torch.Tensor], sigma_min: float, inner_steps: int
) -> InnerSchedule:
    """Inner schedules from a range scheduler (karras, exponential, ...) with sigma_max = outer sigma.

    ``build(n, sigma_min, sigma_max)`` must return n+1 descending sigmas ending at 0.
    An outer sigma at or below ``sigma_min`` gets a single step to 0.
    Levels the builder returns at or above the outer sigma are dropped.
    """
    n = _count_at_least_one("inner_steps", inner_steps)

    def schedule(sigma: float) -> torch.Tensor:
        sigma = float(sigma)
        if sigma <= sigma_min * (1.0 + SAME_LEVEL_RTOL):
            return torch.tensor([sigma, 0.0], dtype=torch.float64)
        built = torch.as_tensor(build(n, float(sigma_min), sigma), dtype=torch.float64).flatten().cpu()
        return _descending_from(sigma, built[1:])

    return schedule


def inner_from_full(
    build_full: Callable[[int], torch.Tensor], inner_steps: int, sigma_floor: float = 0.0, max_total: int = 10000
) -> InnerSchedule:
    """Inner schedules from a table scheduler (simple, normal, beta, ...): the part below the outer sigma.

    ``build_full(steps)`` returns the scheduler's whole descending schedule of steps+1 sigmas
    ending at 0. The inner run is ``[sigma] + the last n sigmas below sigma`` of a whole
    schedule long enough to hold n of them, the way ComfyUI's ``denoise`` < 1 stretches a
    schedule; ``max_total`` bounds that stretch, after which the run takes what there is.
    An outer sigma at or below ``sigma_floor`` (the model's smallest level, where ComfyUI's
    schedules end) gets a single step to 0: no stretch puts a level below it.
    """
    n = _count_at_least_one("inner_steps", inner_steps)

    def below(total: int, sigma: float) -> tuple[torch.Tensor, float]:
        """Distinct levels below sigma (a stretched table schedule repeats entries, and counting
        the repeats would stop the growth one level short of n) and the smallest positive level."""
        full = torch.as_tensor(build_full(total), dtype=torch.float64).flatten().cpu()
        positive = full[full > 0]
        lowest = float(positive.min()) if positive.numel() else 0.0
        return _descending_from(sigma, full[full < sigma])[1:], lowest

    def schedule(sigma: float) -> torch.Tensor:
        sigma = float(sigma)
        if sigma <= sigma_floor * (1.0 + SAME_LEVEL_RTOL):
            return torch.tensor([sigma, 0.0], dtype=torch.float64)
        total = n
        tail, lowest = below(total, sigma)
        while tail.numel() < n and total < max_total:
            # Grow the whole schedule in proportion to the part that fell below sigma, at most
            # MAX_GROWTH-fold a round so one round never builds a needlessly huge schedule.
            grown = min((total * (n + 1)) // max(tail.numel(), 1) + 1, total * MAX_GROWTH)
            total = min(max(grown, total + 1), max_total)
            longer, longer_lowest = below(total, sigma)
            if (longer.numel() <= tail.numel() and longer_lowest >= lowest * (1.0 - SAME_LEVEL_RTOL)
                    and sigma <= longer_lowest * (1.0 + SAME_LEVEL_RTOL)):
                # Stretching neither added a level below sigma nor lowered the scheduler's
                # smallest level, and sigma is at it: the scheduler's floor (ComfyUI's 'normal'
                # always ends at one level, 'ddim_uniform' at the table's second entry).
                break
            tail, lowest = longer, longer_lowest
        return _descending_from(sigma, tail[-n:])

    return schedule


def stretch_for_denoise(build_full: Callable[[int], torch.Tensor], steps: int, denoise: float) -> torch.Tensor:
    """ComfyUI's ``denoise`` rule: a schedule of int(steps/denoise) steps, keeping the last steps+1 sigmas."""
    steps = _count_at_least_one("steps", steps)
    if not 0.0 < denoise <= 1.0:
        raise ValueError(f"denoise must be in (0, 1], got {denoise!r}")
    if denoise > 0.9999:
        return torch.as_tensor(build_full(steps))
    return torch.as_tensor(build_full(int(steps / denoise)))[-(steps + 1):]
