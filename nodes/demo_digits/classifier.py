"""The digit judge: a small CNN trained on the training split of scikit-learn's 8x8 digits.

Plain torch (no ComfyUI). ``load_classifier()`` returns it in eval mode. Input: pixels as
defined in ``digit_space`` (``[B, 1, 8, 8]``, float in ``[0, 1]``, 1 = white paper), e.g.
``pixels_from_latent(latent)`` or ``pixels_from_image(vae_decoded_image)``. Output: ``[B, 10]``
logits. ``features(x)`` gives the 128-wide penultimate activations, for a Frechet distance.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .weights_file import HERE, read_weights

CLASSIFIER_PATH = HERE / "classifier.safetensors"
DEFAULT_CONFIG = {"width": 32, "features": 128}


class DigitClassifier(nn.Module):
    def __init__(self, width: int = 32, features: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * 16, features), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(features, 10)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (1, 8, 8):
            raise ValueError(f"the digit classifier takes pixels [B, 1, 8, 8] in [0, 1], got shape "
                             f"{tuple(pixels.shape)}")
        ink = 1.0 - pixels.float()
        return self.body(ink)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(pixels)))


def load_classifier(path: str | Path | None = None) -> DigitClassifier:
    state, config = read_weights(CLASSIFIER_PATH if path is None else path, "classifier")
    model = DigitClassifier(**{k: config[k] for k in DEFAULT_CONFIG})
    model.load_state_dict(state)
    return model.eval()
