"""Draw the pack's registry icon, ``docs/icon.png`` (128x128 PNG, a few KB).

Four tiles of one real handwritten digit from scikit-learn's ``load_digits`` (the demo model's
data), left to right and top to bottom less and less noisy, the last one framed: a usable image
after every outer step, better each time. The tiles are drawn the way the demo's VAE draws a
latent (bilinear to 16x16, then blocks), dark ink on white paper.

    python bench/assets/make_icon.py [--out docs/icon.png]

Needs numpy, pillow and scikit-learn (bench-only dependencies, see bench/README.md); the
noise comes from a fixed seed, so the same versions draw the same file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SIZE = 128
TILE = 48  # 16 px drawn at 3x
MARGIN = 10
GAP = SIZE - 2 * MARGIN - 2 * TILE
BACKGROUND = (38, 42, 52)
FRAME = (245, 166, 35)
DIGIT, NTH = 3, 0  # a clear "3": the first one in load_digits
SIGNAL = (0.55, 0.72, 0.87, 1.0)  # share of the digit in each tile; the rest is fixed noise
SEED = 0


def digit_pixels() -> np.ndarray:
    """The ``NTH`` (from 0) ``DIGIT`` of load_digits as ink in [0, 1] (1 = black), 8x8."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise SystemExit("the digits come from scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    return digits.images[np.flatnonzero(digits.target == DIGIT)[NTH]] / 16.0


def tile(ink: np.ndarray):
    from PIL import Image

    paper = np.clip(1.0 - ink, 0.0, 1.0)
    small = Image.fromarray(np.round(paper * 255).astype(np.uint8), mode="L")
    return small.resize((16, 16), Image.BILINEAR).resize((TILE, TILE), Image.NEAREST).convert("RGB")


def draw():
    from PIL import Image, ImageDraw

    ink = digit_pixels()
    noise = np.random.default_rng(SEED).uniform(0.0, 1.0, size=(len(SIGNAL), 8, 8))
    icon = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    pen = ImageDraw.Draw(icon)
    for k, share in enumerate(SIGNAL):
        x = MARGIN + (k % 2) * (TILE + GAP)
        y = MARGIN + (k // 2) * (TILE + GAP)
        icon.paste(tile(share * ink + (1.0 - share) * noise[k]), (x, y))
        if k == len(SIGNAL) - 1:
            pen.rectangle((x - 4, y - 4, x + TILE + 3, y + TILE + 3), outline=FRAME, width=3)
    # A palette of a few dozen colours keeps the PNG at a few KB.
    return icon.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "docs" / "icon.png")
    args = parser.parse_args()
    icon = draw()
    icon.save(args.out, optimize=True)
    print(f"wrote {args.out}: {icon.size[0]}x{icon.size[1]}, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
