"""The anytime experiment (test_core_anytime and bench/anytime_report): nested vs vanilla sampling
of a well-separated 2-D mixture, with exact denoisers, at equal NFE."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gmm import four_mode_mixture
from ksamplers import sample_ddim_flow, sample_euler_ancestral
from nested_core import paper_inner_sigmas, paper_outer_sigmas, sample_nested
from sigma_tables import table_for

# The reference's command-line defaults for Stable Diffusion: 25 outer x 4 inner steps = 100 NFE,
# inner DDIM eta 0.85, outer eta 0.
OUTER_STEPS, INNER_STEPS, INNER_ETA = 25, 4, 0.85


@dataclass
class AnytimeRun:
    nfe: list              # NFE spent when each outer image was ready
    nested_on_mode: list   # fraction of nested images within 3 std of a mean, per outer step
    vanilla_on_mode: list  # same for the vanilla x0 prediction at the same NFE
    nested_final: torch.Tensor
    vanilla_final: torch.Tensor
    data: torch.Tensor     # a fresh sample of the mixture, for distances
    data_twin: torch.Tensor  # a second one: two samples of the truth set the finite-sample floor


def run_anytime(path: str, count: int = 4000, seed: int = 0, outer_steps: int = OUTER_STEPS,
                inner_steps: int = INNER_STEPS, inner_eta: float = INNER_ETA) -> AnytimeRun:
    gmm = four_mode_mixture()
    table = table_for(path)
    model, sampler = (gmm.ve_model, sample_euler_ancestral) if path == "ve" else (gmm.flow_model, sample_ddim_flow)
    outer = paper_outer_sigmas(table, outer_steps)
    vanilla_sigmas = paper_outer_sigmas(table, outer_steps * inner_steps)

    g = torch.Generator().manual_seed(seed)
    x0, _ = gmm.sample(count, g)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    s0 = float(outer[0])
    # Start from the exact marginal at the top level: the data are far from unit scale, so the
    # host's sqrt(1+sigma^2) noise scaling would bias both samplers alike and blur the comparison.
    x = x0 + s0 * eps if path == "ve" else (1.0 - s0) * x0 + s0 * eps

    images, nfe = [], []

    def keep(d):
        images.append(d["denoised"])
        nfe.append(d["nfe"])

    nested_final = sample_nested(
        model, x.clone(), outer, extra_args={"seed": seed + 1}, callback=keep, path=path,
        inner_sampler=sampler, inner_sigmas=lambda s: paper_inner_sigmas(table, s, inner_steps),
        inner_options={"eta": inner_eta},
    )
    predictions = []
    vanilla_final = sampler(model, x.clone(), vanilla_sigmas, extra_args={"seed": seed + 2},
                            callback=lambda d: predictions.append(d["denoised"]), eta=inner_eta)
    data, _ = gmm.sample(count, torch.Generator().manual_seed(seed + 3))
    data_twin, _ = gmm.sample(count, torch.Generator().manual_seed(seed + 4))
    return AnytimeRun(
        nfe=nfe,
        nested_on_mode=[gmm.on_mode_fraction(img) for img in images],
        vanilla_on_mode=[gmm.on_mode_fraction(predictions[k - 1]) for k in nfe],
        nested_final=nested_final, vanilla_final=vanilla_final, data=data, data_twin=data_twin,
    )
