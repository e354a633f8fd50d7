"""bench/quality/steer_evidence.py stays runnable and measures what it says: its figures on hand-made
inputs with known answers, its closed-form drawing against ComfyUI's VAE Decode, and its three
measurements on tiny real runs of the demo model (2 x 2 steps) through steering records."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch

from host_env import PACK_ROOT

sys.path.insert(0, str(PACK_ROOT / "bench"))
_spec = importlib.util.spec_from_file_location("steer_evidence", PACK_ROOT / "bench" / "quality" / "steer_evidence.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_pick_figures_on_known_groups():
    # One group of 3 items: item 1 picked; the finals are item 1's image exactly, twice, and once
    # all ink. Item images: 0 (ink), 1 (paper), 0.5 (grey).
    outer1 = torch.stack([torch.full((2, 2), v) for v in (0.0, 1.0, 0.5)])[None]
    finals = torch.stack([torch.full((2, 2), v) for v in (1.0, 1.0, 0.0)])[None]
    fig = bench.pick_figures(outer1, finals, torch.tensor([1]))
    assert fig["to_picked"].tolist() == pytest.approx([1 / 3])               # 0, 0, 1
    assert fig["to_others"].tolist() == pytest.approx([(1 + .5 + 1 + .5 + 0 + .5) / 6])
    assert fig["spread"].tolist() == pytest.approx([(0 + 1 + 1) / 3])


def test_prompt_figures_and_correlation():
    g = torch.Generator().manual_seed(0)
    reference = torch.rand(6, 4, 4, generator=g)
    fig = bench.prompt_figures(torch.tensor([8, 8, 8, 3, 8, 1]), reference.clone(), reference, old=3, new=8)
    assert fig["new"] == pytest.approx(4 / 6) and fig["old"] == pytest.approx(1 / 6)
    assert fig["corr_old_k"] == pytest.approx(1.0)
    assert fig["corr_chance"] < 0.9
    assert bench.correlation(reference, 1 - reference).tolist() == pytest.approx([-1.0] * 6)


def test_grouped_pick_cycles_into_groups():
    picks, items = bench.grouped_pick(3)
    assert items == [0, 1, 2] and picks == [0, 3 + 1, 6 + 2]
    # The record's pick cycles: row r takes picks[r % 3], so group g (rows g, 3+g, ...) takes row picks[g].
    assert [picks[r % 3] % 3 for r in range(12)] == [r % 3 for r in range(12)]


def test_record_matches_the_contract():
    sigmas = torch.tensor([14.6, 2.0, 0.0])
    text = bench.record(4, "euler_ancestral", 20, 2, sigmas, 7, [{"after": 1, "pick": [2]}])
    data = json.loads(text)
    assert text == json.dumps(data, separators=(",", ":"), sort_keys=True)
    assert data["version"] == 1 and data["steps"] == [{"after": 1, "pick": [2]}]
    assert data["run"] == {"batch": 4, "inner_sampler": "euler_ancestral", "inner_steps": 20, "outer_steps": 2,
                           "schedule": data["run"]["schedule"], "seed": 7}
    assert len(data["run"]["schedule"]) == 12


@pytest.fixture(scope="module")
def session():
    from types import SimpleNamespace

    from harness import digit_classifier

    import host_env
    from host_fixtures import pack_module

    env = SimpleNamespace(torch=torch, pack=host_env.load_pack(),
                          classifier=digit_classifier,
                          digit_space=pack_module("nodes.demos.digits.digit_space"))
    return bench.Session(env, outer=2, inner=2)


def test_closed_form_drawing_is_vae_decode(session):
    g = torch.Generator().manual_seed(1)
    latent = torch.randn(3, 1, 8, 8, generator=g) * 1.5          # also past full ink and paper
    assert bench.check_decoding(session, latent) < 1e-5


def test_measurements_run_on_tiny_real_runs(session):
    distances = bench.measure_pick_distances(session, [0, 1])
    assert set(distances) == {"to_picked", "to_others", "spread"} and distances["spread"]["n"] == 2
    row = bench.measure_spread(session, ("euler", "ksampler", "euler", 0.0, 1), n_groups=3, chunk=3)
    # euler with outer eta 0 is deterministic: after the pick the 4 rows of a group are one image.
    assert row["spread_steered"]["mean"] == 0.0 and row["spread_unsteered"]["mean"] > 0.01
    pair = bench.measure_prompt_change(session, 3, 8, [1], runs=4, chunk=4)
    assert pair["by_k"][0]["after"] == 1 and 0.0 <= pair["by_k"][0]["new"] <= 1.0
    assert pair["unsteered_old"] >= 0.0


def test_steered_run_differs_after_the_step_only(session):
    plain_final, plain_outer = session.run(5, 4, "a handwritten 3")
    final, outer = session.run(5, 4, "a handwritten 3", steps=[{"after": 1, "pick": [2]}])
    assert torch.equal(outer[0], plain_outer[0])                 # outer step 1 is shown before the pick
    assert not torch.equal(final, plain_final)
