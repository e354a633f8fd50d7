"""NFE (model call) accounting for a nested run, counted the way the paper counts it:
a CFG cond/uncond pair is one function evaluation.

The node layer plans a run with it (the progress bar's total and the time budget's pace), given
the inner sampler's calls per step; the tests check the callback's counted ``nfe`` against it."""

from __future__ import annotations

from typing import Callable, NamedTuple, Union

import torch

from .schedules import inner_run_schedule, validate_outer_sigmas

CallsPerRun = Union[int, Callable[[torch.Tensor], int]]


class NfePlan(NamedTuple):
    total: int
    ready_at: list[int]  # ready_at[i]: NFE spent when outer image i is available


def nfe_plan(outer_sigmas: torch.Tensor, inner_sigmas: Callable[[float], torch.Tensor],
             calls_per_step: CallsPerRun = 1) -> NfePlan:
    """Total NFE of a nested run and the NFE at which each outer image is ready, counted on
    the inner schedules ``sample_nested`` runs (levels merged at the outer schedule's precision).

    ``calls_per_step`` is the inner sampler's model calls per schedule step (1 for Euler,
    DDIM, DPM++ 2M; 2 for Heun or DPM2, ...), or a function of the inner schedule giving the
    whole run's calls, for samplers whose count is not per step.
    """
    ready, spent = [], 0
    for sigma in validate_outer_sigmas(outer_sigmas)[:-1]:
        schedule = inner_run_schedule(inner_sigmas, sigma, outer_sigmas)
        if callable(calls_per_step):
            spent += int(calls_per_step(schedule))
        else:
            spent += int(calls_per_step) * (schedule.numel() - 1)
        ready.append(spent)
    return NfePlan(spent, ready)
