"""Bad input raises ValueError / RuntimeError with a message that names the problem."""

from __future__ import annotations

import math

import pytest
import torch

from ksamplers import sample_euler
from nested_core import (
    inner_from_full,
    inner_from_range,
    paper_inner_sigmas,
    paper_outer_sigmas,
    sample_nested,
    stretch_for_denoise,
)
from sigma_tables import karras, sd_sigma_table, simple_scheduler

TABLE = sd_sigma_table()
GOOD = torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64)


def _model(x, sigma, **extra_args):
    return x / (1.0 + sigma.reshape(-1, 1) ** 2)


def _nested(sigmas=GOOD, model=_model, inner_sigmas=None, **kwargs):
    inner_sigmas = inner_sigmas or (lambda s: torch.tensor([s, s / 2, 0.0], dtype=torch.float64))
    return sample_nested(model, torch.ones(2, 3, dtype=torch.float64), sigmas, inner_sampler=sample_euler,
                         inner_sigmas=inner_sigmas, **kwargs)


@pytest.mark.parametrize(("sigmas", "match"), [
    (torch.tensor([], dtype=torch.float64), "at least 2 values"),
    (torch.tensor([3.0], dtype=torch.float64), "at least 2 values"),
    (torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64), "strictly descending"),
    (torch.tensor([2.0, 2.0, 0.0], dtype=torch.float64), "strictly descending"),
    (torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64), "must end at 0"),
    (torch.tensor([3.0, math.nan, 0.0], dtype=torch.float64), "NaN"),
])
def test_bad_outer_sigmas(sigmas, match):
    with pytest.raises(ValueError, match=match):
        _nested(sigmas)


@pytest.mark.parametrize("steps", [0, -1, 2.5])
@pytest.mark.parametrize(("name", "build"), [
    ("inner_steps", lambda n: paper_inner_sigmas(TABLE, 5.0, n)),
    ("outer_steps", lambda n: paper_outer_sigmas(TABLE, n)),
    ("inner_steps", lambda n: inner_from_range(karras, 0.03, n)),
    ("inner_steps", lambda n: inner_from_full(simple_scheduler(TABLE), n)),
])
def test_bad_step_counts(name, build, steps):
    with pytest.raises(ValueError, match=f"{name} must be a whole number >= 1"):
        build(steps)


@pytest.mark.parametrize("eta", [-0.1, 1.5, math.nan])
def test_bad_outer_eta(eta):
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\]"):
        _nested(eta=eta)


def test_unknown_path():
    with pytest.raises(ValueError, match="path must be one of"):
        _nested(path="vp")


def test_unknown_inner_end():
    with pytest.raises(ValueError, match="end must be one of"):
        paper_inner_sigmas(TABLE, 5.0, 4, end="one")


def test_inner_schedule_not_starting_at_the_outer_sigma():
    with pytest.raises(ValueError, match="must start at the outer sigma"):
        _nested(inner_sigmas=lambda s: torch.tensor([s * 0.9, 0.0], dtype=torch.float64))


def test_inner_schedule_not_descending():
    with pytest.raises(ValueError, match="strictly descending"):
        _nested(inner_sigmas=lambda s: torch.tensor([s, s * 1.5, 0.0], dtype=torch.float64))


def test_model_returning_nan():
    def broken(x, sigma, **extra_args):
        return torch.full_like(x, math.nan)

    with pytest.raises(RuntimeError, match=r"NaN.*outer step 1/2 \(sigma 3\)"):
        _nested(model=broken)


class Failing(Exception):
    """An error without a message: it must pass through untouched (like an interrupt)."""


@pytest.mark.parametrize("error", [MemoryError("out of memory"), RuntimeError("device lost"), Failing()])
def test_model_errors_keep_their_type_and_name_the_outer_step(error):
    calls, message = [], error.args[0] if error.args else None

    def fails_on_third_call(x, sigma, **extra_args):
        calls.append(float(sigma[0]))
        if len(calls) == 3:  # the first call of the second outer step
            raise error
        return _model(x, sigma)

    with pytest.raises(type(error)) as raised:
        _nested(model=fails_on_third_call)
    assert raised.value is error
    if error.args:
        assert str(raised.value) == f"{message} [nested diffusion: during the inner run of outer step 2/2 " \
                                     "(sigma 1)]"
    else:
        assert raised.value.args == ()


@pytest.mark.parametrize("denoise", [0.0, -0.5, 1.5, math.nan])
def test_denoise_outside_the_unit_interval(denoise):
    with pytest.raises(ValueError, match=r"denoise must be in \(0, 1\]"):
        stretch_for_denoise(simple_scheduler(TABLE), 10, denoise)
