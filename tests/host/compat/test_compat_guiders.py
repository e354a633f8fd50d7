"""Compatibility matrix, guiders and noise: SamplerCustomAdvanced's GUIDER and NOISE inputs with
SamplerNestedDiffusion (NestedKSampler has neither input: it always uses a CFG guider and random
noise). See compat_stack.py for the two checks; docs/compatibility-matrix.md for the results."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from compat_families import demo, encode, stack_case
from compat_stack import Stack, call_node, check_identity, check_runs, matrix_params
from tiny_models import tiny_conditioning

PATH = ("SamplerCustomAdvanced",)


def guided(node: str, **inputs):
    """The stack's guider replaced by ``node``; inputs may be callables of the stack."""
    def change(s: Stack) -> Stack:
        def guider():
            given = {k: (v(s) if callable(v) else v) for k, v in inputs.items()}
            return call_node(node, model=s.model, **given)[0]
        return dataclasses.replace(s, guider=guider)
    return change


def noised(node: str, latent_seed: int | None = None, **inputs):
    """The stack's noise replaced by ``node``; with ``latent_seed`` the latent is a seeded random
    one, so that a run without added noise still starts from something."""
    def change(s: Stack) -> Stack:
        latent = s.latent
        if latent_seed is not None:
            latent = {"samples": torch.randn(s.latent["samples"].shape,
                                             generator=torch.Generator().manual_seed(latent_seed))}
        return dataclasses.replace(s, noise=lambda seed: call_node(node, **inputs)[0], latent=latent)
    return change


def second_prompt(s: Stack) -> list:
    return encode(demo()[1], "1") if s.latent["samples"].shape[1] == 1 else tiny_conditioning(9)


CASES = [
    stack_case("CFGGuider", "eps", guided("CFGGuider", positive=lambda s: s.positive, negative=lambda s: s.negative,
                                          cfg=4.0), paths=PATH),
    stack_case("CFGGuider", "demo", guided("CFGGuider", positive=lambda s: s.positive, negative=lambda s: s.negative,
                                           cfg=4.0), paths=PATH),
    stack_case("BasicGuider", "eps", guided("BasicGuider", conditioning=lambda s: s.positive), paths=PATH),
    stack_case("DualCFGGuider", "eps", guided("DualCFGGuider", cond1=lambda s: s.positive, cond2=second_prompt,
                                              negative=lambda s: s.negative, cfg_conds=3.0, cfg_cond2_negative=1.5,
                                              style="regular"), paths=PATH),
    stack_case("DualCFGGuider", "demo", guided("DualCFGGuider", cond1=lambda s: s.positive, cond2=second_prompt,
                                               negative=lambda s: s.negative, cfg_conds=3.0, cfg_cond2_negative=1.5,
                                               style="regular"), paths=PATH),
    stack_case("PerpNegGuider", "eps", guided("PerpNegGuider", positive=lambda s: s.positive,
                                              negative=lambda s: tiny_conditioning(9),
                                              empty_conditioning=lambda s: s.negative, cfg=3.0, neg_scale=1.0),
               paths=PATH),
    stack_case("DisableNoise", "eps", noised("DisableNoise", latent_seed=4), paths=PATH),
    stack_case("RandomNoise", "eps", noised("RandomNoise", noise_seed=1234), paths=PATH),
]


@pytest.mark.parametrize("case,path", matrix_params(CASES))
def test_runs(case, path):
    check_runs(case, path)


@pytest.mark.parametrize("case,path", matrix_params(CASES, identity=True))
def test_meaning_kept(case, path):
    check_identity(case, path)
