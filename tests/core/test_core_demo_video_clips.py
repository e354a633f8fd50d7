"""The video demo's training clips (bench/harness/digit_clips_data.py, plain torch): frames, motion, split."""

from __future__ import annotations

import pytest
import torch
from harness import digit_clips_data as clips  # bench/, on sys.path by tests/conftest.py

STEP = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}


def _dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise distances (cdist's matrix-product shortcut is off by ~1e-3)."""
    return torch.cdist(a.flatten(1), b.flatten(1), compute_mode="donot_use_mm_for_euclid_dist")


def _synthetic_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct 8x8 "digits" with ink in all four corners, so the inkiest 8x8 window is the digit."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(n, 1, 8, 8, generator=g) * 0.6 + 0.2
    pixels[:, :, [0, 0, -1, -1], [0, -1, 0, -1]] = 0.0
    return pixels, torch.arange(n) % 10


def test_clip_shape_range_and_frame_count():
    pixels, labels = _synthetic_digits(5, 0)
    latents, y, d = clips.clips_from_digits(pixels, labels, 12, seed=3)
    assert latents.shape == (12, 1, clips.FRAMES, clips.CANVAS, clips.CANVAS)
    assert 8 <= clips.FRAMES <= 16
    assert latents.min() >= -1.0 and latents.max() <= 1.0
    assert y.shape == d.shape == (12,)
    assert set(d.tolist()) <= set(range(4))


@pytest.mark.parametrize("direction", clips.DIRECTIONS)
def test_digit_moves_one_pixel_per_frame_and_keeps_its_shape(direction):
    pixels, labels = _synthetic_digits(7, 1)
    index = clips.DIRECTIONS.index(direction)
    latents, y, d = clips.clips_from_digits(pixels, labels, 20, seed=5, direction=index)
    assert (d == index).all()
    crops, corners = clips.digit_windows(latents)
    steps = corners[:, 1:] - corners[:, :-1]
    assert (steps == torch.tensor(STEP[direction])).all(), "every frame moves one pixel in the direction"
    travelled = (corners[:, -1] - corners[:, 0]).abs().sum(-1)
    assert (travelled == clips.FRAMES - 1).all()
    for i in range(20):  # each frame shows the whole source digit, unchanged, on white paper
        source = pixels[(pixels - crops[i, 0]).abs().flatten(1).amax(1).argmin()]
        assert torch.allclose(crops[i], source.expand_as(crops[i]), atol=1e-6)
        paper = clips.pixels_from_latent(latents[i]).sum() - crops[i].sum()
        assert paper == pytest.approx(clips.FRAMES * (clips.CANVAS ** 2 - 64), abs=1e-3)


def test_digit_stays_inside_the_canvas_and_covers_its_range():
    pixels, labels = _synthetic_digits(3, 2)
    latents, _, _ = clips.clips_from_digits(pixels, labels, 400, seed=7)
    _, corners = clips.digit_windows(latents)
    assert corners.min() == 0 and corners.max() == clips.TRAVEL


def test_same_seed_same_clips_other_seed_other_clips():
    pixels, labels = _synthetic_digits(9, 3)
    a = clips.clips_from_digits(pixels, labels, 6, seed=11)
    b = clips.clips_from_digits(pixels, labels, 6, seed=11)
    c = clips.clips_from_digits(pixels, labels, 6, seed=12)
    assert all(torch.equal(x, z) for x, z in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_clips_use_only_their_own_source_digits():
    train, train_labels = _synthetic_digits(10, 4)
    held, held_labels = _synthetic_digits(10, 5)
    latents, y, _ = clips.clips_from_digits(held, held_labels, 50, seed=1)
    crops, _ = clips.digit_windows(latents)
    first = crops[:, 0].flatten(1)
    to_held = _dist(first, held).amin(1)
    to_train = _dist(first, train).amin(1)
    assert (to_held < 1e-5).all() and (to_train > 0.1).all()
    match = _dist(first, held).argmin(1)
    assert torch.equal(held_labels[match], y), "each clip's label is its source digit's"


def test_bad_split_names_the_allowed_ones():
    with pytest.raises(ValueError, match="split must be one of"):
        clips.source_digits("test")


def test_real_split_is_disjoint_and_matches_the_image_demo():
    pytest.importorskip("sklearn", reason="scikit-learn (bench dependency) is not installed here")
    train, train_labels = clips.source_digits("train")
    held, held_labels = clips.source_digits("held_out")
    assert len(train) == 1437 and len(held) == 360
    assert set(held_labels.tolist()) == set(range(10))
    # No held-out digit is an exact copy of a training digit (load_digits has no duplicates across them).
    assert _dist(held.flatten(1), train).amin() > 0
    from harness.digits_data import load_split  # bench/harness

    image_demo = load_split()
    assert torch.equal(image_demo.train_pixels, train) and torch.equal(image_demo.test_pixels, held)
    latents, y, _ = clips.real_clips("held_out", 30, seed=0)
    assert latents.shape[0] == 30 and y.shape == (30,)
    # Every clip's first frame holds a held-out digit somewhere on the canvas (all 81 placements).
    windows = torch.nn.functional.unfold(clips.pixels_from_latent(latents[:, :, 0]), 8).transpose(1, 2)
    nearest = torch.stack([_dist(w, held).amin() for w in windows])
    assert nearest.max() < 1e-5
