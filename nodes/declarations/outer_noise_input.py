"""The ``outer_noise`` input of the nested nodes: how each outer step moves toward its image.

Added after every older input, with the paper's step as the default, so a saved workflow that
lacks it loads with the outer process it was made with.
"""

from __future__ import annotations

from ...nested_core import OUTER_DDIM, OUTER_NOISES
from .input_checks import check_choice

OUTER_NOISE_TIP = (
    "How each outer step moves toward its image. ddim: the paper's DDIM step, which keeps the run's noise; "
    "it assumes a stochastic inner sampler (euler_ancestral, the paper's choice). fresh: the image re-noised "
    "with new noise to the next level; use it with a deterministic inner sampler (euler, heun, dpmpp_2m), "
    "where ddim makes every outer step's image noisier and harsher than the last.")


def outer_noise_input() -> dict:
    return {"outer_noise": (list(OUTER_NOISES), {"default": OUTER_DDIM, "tooltip": OUTER_NOISE_TIP})}


def check_outer_noise(value) -> str:
    return check_choice("outer_noise", value, list(OUTER_NOISES))
