"""The digit judge: a small CNN trained on the training split of scikit-learn's 8x8 digits.

A bench and test instrument: no node runs it, so it is not shipped. Plain torch (no ComfyUI);
its weights file uses the demo's format (``nodes/demos/shared/weights_file.py``).
``load_classifier()`` returns it in eval mode. Input: pixels as defined in ``digit_space``
(``[B, 1, 8, 8]``, float in ``[0, 1]``, 1 = white paper), e.g. ``pixels_from_latent(latent)`` or
``pixels_from_image(vae_decoded_image)``. Output: ``[B, 10]`` logits.
``features(x)`` gives the 128-wide penultimate activations, for a Frechet distance.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .pack_files import plain_pack_module

_weights_file = plain_pack_module("nodes/demos/shared/weights_file.py")
DemoWeightsError = _weights_file.DemoWeightsError
CLASSIFIER_PATH = Path(__file__).resolve().parent / "digit_classifier.safetensors"
REBUILD_HINT = "rebuild it with bench/training/train_demo_model.py"
DEFAULT_CONFIG = {"width": 32, "features": 128}


class _Affine(nn.Module):
    """A 3x3 convolution (padding 1) or a linear layer with torch's own parameter names and
    initialisation. The judge is a test and benchmark instrument that no node runs, so it stays
    plain torch rather than ComfyUI's memory-managed ``comfy.ops`` layers (which need ComfyUI
    and leave weights uninitialised, which training from scratch cannot use)."""

    def __init__(self, fan_in: int, out: int, shape: tuple, conv: bool):
        super().__init__()
        self.conv = conv
        self.weight = nn.Parameter(torch.empty(out, *shape))
        self.bias = nn.Parameter(torch.empty(out))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as torch's Conv2d and Linear do
        bound = 1 / math.sqrt(fan_in)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv:
            return F.conv2d(x, self.weight, self.bias, padding=1)
        return F.linear(x, self.weight, self.bias)


def _conv3x3(cin: int, cout: int) -> _Affine:
    return _Affine(cin * 9, cout, (cin, 3, 3), conv=True)


def _linear(cin: int, cout: int) -> _Affine:
    return _Affine(cin, cout, (cin,), conv=False)


class DigitClassifier(nn.Module):
    def __init__(self, width: int = 32, features: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            _conv3x3(1, width), nn.ReLU(),
            _conv3x3(width, 2 * width), nn.ReLU(),
            nn.MaxPool2d(2),
            _conv3x3(2 * width, 2 * width), nn.ReLU(),
            nn.Flatten(),
            _linear(2 * width * 16, features), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = _linear(features, 10)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (1, 8, 8):
            raise ValueError(f"the digit classifier takes pixels [B, 1, 8, 8] in [0, 1], got shape "
                             f"{tuple(pixels.shape)}")
        ink = 1.0 - pixels.float()
        return self.body(ink)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(pixels)))


def load_classifier(path: str | Path | None = None) -> DigitClassifier:
    state, config = _weights_file.read_weights(CLASSIFIER_PATH if path is None else path, "classifier", REBUILD_HINT)
    model = DigitClassifier(**{k: config[k] for k in DEFAULT_CONFIG})
    model.load_state_dict(state)
    return model.eval()
