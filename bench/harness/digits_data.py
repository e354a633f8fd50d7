"""scikit-learn's handwritten digits with the demo's fixed split (bench only).

scikit-learn is a bench dependency, not a pack one: ``pip install scikit-learn`` into the
Python that runs the benches. The data ships inside its wheel (no download).

``load_split()`` returns pixels in the demo's form (``nodes/demos/digits/digit_space.py``:
``[N, 1, 8, 8]`` float in [0, 1], 1 = white paper) and labels, for a fixed 80/20 stratified
split: 1437 training images (the UNet and the classifier learn from them) and 360 held out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SPLIT_SEED = 0
HELD_OUT_FRACTION = 0.2


@dataclass
class DigitsSplit:
    train_pixels: torch.Tensor
    train_labels: torch.Tensor
    test_pixels: torch.Tensor
    test_labels: torch.Tensor


def load_split() -> DigitsSplit:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise SystemExit("the digits data comes from scikit-learn: pip install scikit-learn "
                         "(a bench/training dependency only)") from exc
    digits = load_digits()
    idx = torch.arange(len(digits.target))
    train_idx, test_idx = train_test_split(idx.numpy(), test_size=HELD_OUT_FRACTION,
                                           random_state=SPLIT_SEED, stratify=digits.target)
    pixels = (1.0 - torch.as_tensor(digits.images, dtype=torch.float32) / 16.0).unsqueeze(1)
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    train_idx, test_idx = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    return DigitsSplit(pixels[train_idx], labels[train_idx], pixels[test_idx], labels[test_idx])
