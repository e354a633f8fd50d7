"""The video demo's training and reference clips: an 8x8 handwritten digit sliding across a 16x16
canvas (plain torch; a bench instrument, not shipped: the nodes need only ``clip_shape``).

A clip is ``FRAMES`` frames; in each the digit moves one pixel in its direction (left, right,
up or down), so it crosses the canvas from one edge to the other, at a fixed offset across the
motion. Pixels follow the image demo (``nodes/demos/digits/digit_space.py``): 1 = white paper,
0 = full ink; the model's latent is the clip itself, ``2 * pixels - 1``, laid out as a 5-D
video latent ``[B, 1, FRAMES, CANVAS, CANVAS]`` (batch, channel, frame, height, width).

The source digits are scikit-learn's ``load_digits`` (inside its wheel, no download) with the
image demo's fixed split (``bench/harness/digits_data.py``: stratified 80/20, seed 0): the video model
learns only from the 1437 training digits; the 360 held-out digits make the reference clips a
judge compares with. It imports no ComfyUI, so the core tests can load it; scikit-learn is
needed only by ``source_digits``. The geometry comes from ``nodes/demos/video/clip_shape.py``.
"""

from __future__ import annotations

import torch

from .pack_files import plain_pack_module

_shape = plain_pack_module("nodes/demos/video/clip_shape.py")
FRAMES, CANVAS, DIGIT, TRAVEL, FPS, DIRECTIONS = (_shape.FRAMES, _shape.CANVAS, _shape.DIGIT, _shape.TRAVEL,
                                                 _shape.FPS, _shape.DIRECTIONS)
SPLITS = ("train", "held_out")
SPLIT_SEED = 0
HELD_OUT_FRACTION = 0.2


def latent_from_pixels(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.float() * 2.0 - 1.0


def pixels_from_latent(latent: torch.Tensor) -> torch.Tensor:
    return ((latent.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def source_digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixels ``[N, 1, 8, 8]``, labels ``[N]``) of one side of the fixed split ("train" or "held_out")."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError("the video demo's data comes from scikit-learn: pip install scikit-learn "
                          "(a bench/training dependency only)") from exc
    digits = load_digits()
    train_idx, held_idx = train_test_split(torch.arange(len(digits.target)).numpy(), test_size=HELD_OUT_FRACTION,
                                           random_state=SPLIT_SEED, stratify=digits.target)
    idx = torch.as_tensor(train_idx if split == "train" else held_idx)
    pixels = (1.0 - torch.as_tensor(digits.images, dtype=torch.float32) / 16.0).unsqueeze(1)
    return pixels[idx], torch.as_tensor(digits.target, dtype=torch.long)[idx]


def digit_path(direction: torch.Tensor, start: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Top-left corners ``[N, FRAMES, 2]`` (row, column) of the digit in each frame.

    ``direction`` indexes ``DIRECTIONS``; ``start`` (0 or 1) is where along the motion the first
    frame sits, ``offset`` (0..8) the fixed position across the motion."""
    t = torch.arange(FRAMES)
    along = start[:, None] + t[None, :]                  # 0..8, increasing
    direction = direction[:, None]
    along = torch.where((direction == 0) | (direction == 2), TRAVEL - along, along)  # left / up run backwards
    across = offset[:, None].expand_as(along)
    vertical = direction >= 2
    rows = torch.where(vertical, along, across)
    cols = torch.where(vertical, across, along)
    return torch.stack([rows, cols], dim=-1)


def draw_clips(pixels: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Clips ``[N, 1, FRAMES, CANVAS, CANVAS]`` (pixel form) of digits ``[N, 1, 8, 8]`` at ``corners``."""
    n = pixels.shape[0]
    clips = torch.ones(n, 1, FRAMES, CANVAS, CANVAS)
    for i in range(n):
        for f in range(FRAMES):
            r, c = corners[i, f].tolist()
            clips[i, 0, f, r:r + DIGIT, c:c + DIGIT] = pixels[i, 0]
    return clips


def random_motion(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(direction, start, offset) for ``n`` clips, uniform over the four directions and positions."""
    direction = torch.randint(0, len(DIRECTIONS), (n,), generator=generator)
    start = torch.randint(0, TRAVEL - FRAMES + 2, (n,), generator=generator)
    offset = torch.randint(0, TRAVEL + 1, (n,), generator=generator)
    return direction, start, offset


def clips_from_digits(pixels: torch.Tensor, labels: torch.Tensor, n: int, seed: int,
                      direction: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` clip latents drawn (with replacement, seeded) from the given source digits:
    (latents ``[n, 1, FRAMES, CANVAS, CANVAS]`` in [-1, 1], labels ``[n]``, directions ``[n]``)."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, len(labels), (n,), generator=g)
    dirs, start, offset = random_motion(n, g)
    if direction is not None:
        dirs = torch.full((n,), int(direction), dtype=torch.long)
    clips = draw_clips(pixels[pick], digit_path(dirs, start, offset))
    return latent_from_pixels(clips), labels[pick].clone(), dirs


def real_clips(split: str, n: int, seed: int, direction: int | None = None):
    """``n`` real clips of one side of the fixed split, as latents: (latents ``[n, 1, 8, 16, 16]``
    in [-1, 1], digit labels ``[n]``, direction indices into ``DIRECTIONS`` ``[n]``). Same
    ``(split, n, seed)``, same clips. ``direction`` fixes every clip's direction."""
    pixels, labels = source_digits(split)
    return clips_from_digits(pixels, labels, n, seed, direction)


def digit_windows(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8x8 window around the digit in every frame of clip latents ``[N, 1, T, H, W]``:
    (crops ``[N, T, 1, 8, 8]`` in pixel form, top-left corners ``[N, T, 2]``). The window is the
    one holding the most ink (what a classifier of 8x8 digits should look at)."""
    pixels = pixels_from_latent(latents)
    n, _, t, h, w = pixels.shape
    frames = pixels.permute(0, 2, 1, 3, 4).reshape(n * t, 1, h, w)
    ink = torch.nn.functional.avg_pool2d(1.0 - frames, DIGIT, stride=1)  # [n*t, 1, h-7, w-7]
    best = ink.flatten(1).argmax(dim=1)
    rows, cols = best // ink.shape[-1], best % ink.shape[-1]
    crops = torch.stack([frames[i, :, r:r + DIGIT, c:c + DIGIT] for i, (r, c) in
                         enumerate(zip(rows.tolist(), cols.tolist()))])
    return crops.reshape(n, t, 1, DIGIT, DIGIT), torch.stack([rows, cols], dim=-1).reshape(n, t, 2)
