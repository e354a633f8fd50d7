"""Steering in the core: the boundary hook of ``sample_nested``, picking rows, and the record
(its checks, its round trip, and a replay equal to the live run)."""

from __future__ import annotations

import json

import pytest
import torch

from gmm import random_mixture
from ksamplers import sample_euler, sample_euler_ancestral
from nested_core import paper_inner_sigmas, paper_outer_sigmas, pick_rows, record_text, run_fingerprint, sample_nested
from nested_core.steering import Intervention, check_change, interventions_for_run, parse_record
from sigma_tables import sd_sigma_table, start_latent

OUTER_STEPS, INNER_STEPS = 5, 3
TABLE = sd_sigma_table()
OUTER = paper_outer_sigmas(TABLE, OUTER_STEPS)
GMM = random_mixture(dim=3, components=3, seed=2)


def model(x, sigma, **extra_args):
    return GMM.ve_model(x, sigma)


def run(inner_sampler=sample_euler, **kwargs):
    events = []
    out = sample_nested(
        model, start_latent(OUTER[0], rows=4, seed=4), OUTER, extra_args={"seed": 9}, callback=events.append,
        inner_sampler=inner_sampler, inner_sigmas=lambda s: paper_inner_sigmas(TABLE, s, INNER_STEPS),
        **kwargs)
    return out, [e["denoised"] for e in events]


def test_pick_rows_cycles_through_the_picks_in_order():
    t = torch.arange(5).float().view(5, 1)
    assert pick_rows(t, (3, 1)).flatten().tolist() == [3, 1, 3, 1, 3]
    assert pick_rows(t, [4]).flatten().tolist() == [4] * 5
    with pytest.raises(ValueError, match="at least one"):
        pick_rows(t, ())


def test_the_hook_is_called_at_every_boundary_the_run_continues_past():
    seen = []

    def hook(k, x, image):
        seen.append((k, x.clone(), image.clone()))
        return x, image

    out, images = run(between_steps=hook)
    assert [k for k, _, _ in seen] == list(range(1, OUTER_STEPS))
    for k, _, image in seen:
        assert torch.equal(image, images[k - 1]), "the hook sees the image step k just showed"
    plain, plain_images = run()
    assert torch.equal(out, plain) and all(torch.equal(a, b) for a, b in zip(images, plain_images))


def test_a_pick_at_step_k_keeps_earlier_images_and_gives_picked_rows_one_future():
    k = 2
    out, images = run(between_steps=lambda step, x, image: (pick_rows(x, (2,)), pick_rows(image, (2,)))
                      if step == k else (x, image))
    _, plain_images = run()
    assert all(torch.equal(a, b) for a, b in zip(images[:k], plain_images[:k]))
    # A deterministic inner sampler gives every copy of row 2 the same future.
    assert all(torch.equal(out[0], out[r]) for r in range(1, 4))


def test_a_pick_with_a_stochastic_inner_sampler_gives_variants():
    out, _ = run(inner_sampler=sample_euler_ancestral, inner_options={"eta": 1.0},
                 between_steps=lambda step, x, image: (pick_rows(x, (1,)), pick_rows(image, (1,)))
                 if step == 1 else (x, image))
    assert not torch.equal(out[0], out[1])


def test_a_pick_with_fresh_outer_steps_gives_variants_even_with_a_deterministic_inner_sampler():
    """A fresh outer state is the image plus each row's own noise: copies of a picked image are
    re-noised row by row, so they go on as variants (the paper's pick-then-vary interaction)."""
    pick = lambda step, x, image: (pick_rows(x, (1,)), pick_rows(image, (1,))) if step == 1 else (x, image)  # noqa: E731
    out, images = run(between_steps=pick, outer_noise="fresh")
    # The very next image (made from the copies of row 1) already differs row by row.
    assert not torch.equal(images[1][0], images[1][1])
    assert not torch.equal(out[0], out[1])
    unpicked, unpicked_images = run(outer_noise="fresh")
    assert torch.equal(images[0], unpicked_images[0])
    # Without a pick the hook changes nothing: the same run as without a hook.
    same, _ = run(between_steps=lambda step, x, image: (x, image), outer_noise="fresh")
    assert torch.equal(same, unpicked)


def test_a_stop_while_paused_returns_the_picked_image():
    stopped = []

    def hook(step, x, image):
        stopped.append(step)
        return pick_rows(x, (3,)), pick_rows(image, (3,))

    out, images = run(between_steps=hook, should_stop=lambda: bool(stopped))
    assert stopped == [1] and len(images) == 1
    assert torch.equal(out, pick_rows(images[0], (3,)))


FINGERPRINT = run_fingerprint(9, OUTER, 4, "euler", INNER_STEPS)


def record(steps, run_fp=None) -> str:
    return json.dumps({"version": 1, "run": run_fp or FINGERPRINT, "steps": steps})


def checked(text, allow_text=True, allow_cfg=True):
    return interventions_for_run(parse_record(text), FINGERPRINT, allow_text=allow_text, allow_cfg=allow_cfg,
                                 text_note="no clip")


def test_record_round_trip():
    steps = [Intervention(after=1, pick=(2, 0)), Intervention(after=1, cfg=4.5),
             Intervention(after=3, prompt="8", negative="blurry")]
    text = record_text(FINGERPRINT, steps)
    assert checked(text) == steps
    assert record_text(FINGERPRINT, []) == "" and parse_record("  ") is None


def test_the_fingerprint_covers_the_schedule():
    other = run_fingerprint(9, paper_outer_sigmas(TABLE, OUTER_STEPS + 1)[:-1].contiguous(), 4, "euler", 3)
    assert other["schedule"] != FINGERPRINT["schedule"]
    with pytest.raises(ValueError, match="different run: schedule"):
        checked(record([{"after": 1, "pick": [0]}], other))


@pytest.mark.parametrize("text, needle", [
    ("nope", "not JSON"),
    ("[]", "JSON object"),
    ('{"version": 2, "run": {}, "steps": []}', "version must be 1"),
    ('{"version": 1, "run": {"seed": 1}, "steps": [{}]}', "exactly the keys"),
    (record([]), "non-empty list"),
    (record([{"after": 0, "pick": [0]}]), "from 1 to 4"),
    (record([{"after": 5, "pick": [0]}]), "from 1 to 4"),
    (record([{"after": True, "pick": [0]}]), "from 1 to 4"),
    (record([{"after": 1}]), "changes nothing"),
    (record([{"after": 1, "pick": []}]), "1 to 64 batch indices from 0 to 3"),
    (record([{"after": 1, "pick": [4]}]), "1 to 64 batch indices from 0 to 3"),
    (record([{"after": 1, "pick": [0.5]}]), "batch indices"),
    (record([{"after": 1, "pick": [0] * 65}]), "1 to 64"),
    (record([{"after": 1, "prompt": 3}]), "prompt must be text"),
    (record([{"after": 1, "negative": "x" * 4001}]), "at most 4000"),
    (record([{"after": 1, "cfg": -1}]), "cfg must be a number from 0 to 100"),
    (record([{"after": 1, "cfg": "7"}]), "cfg must be a number"),
    (record([{"after": 1, "eta": 0.5}]), "unknown keys"),
    (record([{"after": 3, "cfg": 1}, {"after": 2, "cfg": 2}]), "outer-step order"),
    ("x" * 200_001, "at most 200000"),
])
def test_bad_records_are_refused_with_the_reason(text, needle):
    with pytest.raises(ValueError, match=needle):
        checked(text)


def test_text_and_cfg_changes_are_refused_where_the_run_cannot_make_them():
    with pytest.raises(ValueError, match="prompt cannot be changed here: no clip"):
        checked(record([{"after": 1, "prompt": "8"}]), allow_text=False)
    with pytest.raises(ValueError, match="cfg cannot be changed here"):
        checked(record([{"after": 1, "cfg": 2}]), allow_cfg=False)
    assert check_change({}, batch=2, allow_text=False, allow_cfg=False, where="steer") == {}


def test_a_replayed_record_equals_the_live_run():
    """What the live hook applied, recorded and replayed by a second hook, gives the same bits."""
    live_steps = []

    def live(k, x, image):
        if k == 2:
            change = Intervention(after=2, pick=(1, 3))
            live_steps.append(change)
            return pick_rows(x, change.pick), pick_rows(image, change.pick)
        return x, image

    out, _ = run(inner_sampler=sample_euler_ancestral, inner_options={"eta": 1.0}, between_steps=live)
    replay = checked(record_text(FINGERPRINT, live_steps))

    def again(k, x, image):
        for change in [c for c in replay if c.after == k]:
            x, image = pick_rows(x, change.pick), pick_rows(image, change.pick)
        return x, image

    replayed, _ = run(inner_sampler=sample_euler_ancestral, inner_options={"eta": 1.0}, between_steps=again)
    assert torch.equal(out, replayed)
