"""Every outer image of sample_nested equals the reference pipeline's (NestedPipeline for Stable
Diffusion, see vp_reference.py), re-derived independently in VP units with diffusers-style DDIM
updates and the same normal draws."""

from __future__ import annotations

import pytest

from vp_reference import CONFIGS, ENDS, INNER_ETAS, conformance_errors

TOLERANCE = 1e-4


@pytest.mark.parametrize("end", ENDS)
@pytest.mark.parametrize("inner_eta", INNER_ETAS)
@pytest.mark.parametrize(("outer_steps", "inner_steps"), CONFIGS)
def test_outer_images_match_the_vp_reference(outer_steps, inner_steps, inner_eta, end):
    error, pack_draws, reference_draws = conformance_errors(outer_steps, inner_steps, inner_eta, end)
    # Every outer timestep here is >= n, so each inner run makes n steps; with end="zero" the
    # last one lands on 0 and draws nothing.
    expected_draws = 0 if inner_eta == 0 else outer_steps * (inner_steps if end == "sigma_min" else inner_steps - 1)
    assert (pack_draws, reference_draws) == (expected_draws, expected_draws)
    assert error <= TOLERANCE, f"max abs error {error:.3g} against the VP reference"


@pytest.mark.parametrize("inner_eta", INNER_ETAS)
def test_the_endpoint_conventions_differ_measurably(inner_eta):
    # Guards the comparison above: run against the other endpoint variant, it must fail clearly.
    error, _, _ = conformance_errors(25, 4, inner_eta, "zero", reference_end="sigma_min")
    assert error > 100 * TOLERANCE
