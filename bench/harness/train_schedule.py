"""What both demo trainers share: the learning-rate schedule and the EMA of the weights they save."""

from __future__ import annotations

import math

import torch


def warmup_cosine(base_lr: float, steps: int, warmup: int):
    """Learning rate at each step: linear warm-up over ``warmup`` steps, then cosine decay to 0."""
    def lr_at(step: int) -> float:
        if step < warmup:
            return base_lr * (step + 1) / warmup
        return base_lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
    return lr_at


class WeightsEma:
    """An exponential moving average of ``params``, with a decay that ramps up from 0.1 so early steps
    do not freeze the average at the random start; the saved demo weights are this average."""

    def __init__(self, params: list, max_decay: float):
        self.params = params
        self.max_decay = max_decay
        self.average = [p.detach().clone() for p in params]

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.max_decay, (1 + step) / (10 + step))
        for e, p in zip(self.average, self.params):
            e.lerp_(p.detach(), 1 - decay)

    @torch.no_grad()
    def copy_to_params(self) -> None:
        for e, p in zip(self.average, self.params):
            p.copy_(e)
