"""Outer-noise report: which outer step keeps a nested run's images on the data distribution, with
deterministic and with stochastic inner samplers.

Exact denoisers of a Gaussian mixture at latent-like scale stand in for the model, so every gap
is the sampler's, not a model's; everything else is the pack's own core: ``sample_nested`` on the
paper grids (SD-1.5's sigma table for VE paths, a shift-3 flow table for flow paths), 5 x 20,
starting from the exact marginal. For each inner sampler (``euler``: an ODE solve; ancestral:
euler_ancestral at eta 1 on VE, the DDPM-posterior DDIM step on flow) and each outer step
(``ddim`` at eta 0 and 1, ``fresh``), per outer step: the spread of the images (their mean
per-coordinate standard deviation over the data's) and their sliced Wasserstein distance to a
sample of the data; the plain sampler over 100 steps of the same grid is the reference, and the
distance between two data samples the floor.

Run from anywhere: ``python bench/quality/outer_noise_report.py`` (needs torch only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402

# tests/helpers: the helpers this report shares with the core tests; the pack's nested_core.
comfy_host.use_test_helpers(core=True)

from harness.results_file import results_only_cli, write_results  # noqa: E402

from gmm import random_mixture, sliced_wasserstein  # noqa: E402
from ksamplers import sample_ddim_flow, sample_euler, sample_euler_ancestral  # noqa: E402
from nested_core import OUTER_DDIM, OUTER_FRESH, paper_inner_sigmas, paper_outer_sigmas, sample_nested  # noqa: E402
from sigma_tables import table_for  # noqa: E402

OUTER, INNER = 5, 20
DIM, COMPONENTS, COUNT, SEED = 16, 8, 4000, 0
OUTER_STEPS = [("ddim eta 0", OUTER_DDIM, 0.0), ("ddim eta 1", OUTER_DDIM, 1.0), ("fresh", OUTER_FRESH, 0.0)]


def inner_samplers(path: str) -> list:
    ancestral = sample_euler_ancestral if path == "ve" else sample_ddim_flow
    return [("euler", sample_euler, {}), ("ancestral", ancestral, {"eta": 1.0})]


def spread(images: torch.Tensor, data: torch.Tensor) -> float:
    return float(images.std(0).mean() / data.std(0).mean())


def start(gmm, path: str, sigma: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x0, _ = gmm.sample(COUNT, g)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    return x0 + sigma * eps if path == "ve" else (1.0 - sigma) * x0 + sigma * eps


def main() -> None:
    results, printed = results_only_cli(__doc__, __file__)
    rows = []
    torch.set_num_threads(1)
    gmm = random_mixture(dim=DIM, components=COMPONENTS, seed=SEED)
    data, _ = gmm.sample(COUNT, torch.Generator().manual_seed(SEED + 10))
    twin, _ = gmm.sample(COUNT, torch.Generator().manual_seed(SEED + 11))
    floor = sliced_wasserstein(data, twin)
    print(f"Gaussian mixture, dim {DIM}, {COMPONENTS} components (random_mixture seed {SEED}), {COUNT} images, "
          f"exact denoisers; nested {OUTER} x {INNER} on the paper grids; plain: 100 steps of the same grid")
    print(f"sliced Wasserstein between two data samples (the floor): {floor:.4f}")
    for path in ("ve", "flow"):
        table = table_for(path)
        model = gmm.ve_model if path == "ve" else gmm.flow_model
        outer = paper_outer_sigmas(table, OUTER)
        x = start(gmm, path, float(outer[0]), SEED + 1)
        for inner_name, sampler, options in inner_samplers(path):
            plain = sampler(model, x.clone(), paper_outer_sigmas(table, OUTER * INNER),
                            extra_args={"seed": SEED + 2}, **options)
            plain_row = {"path": path, "inner": inner_name, "outer_step": "plain 100 steps",
                         "spread": [spread(plain, data)], "sliced_wasserstein": [sliced_wasserstein(plain, data)]}
            print(f"\n{path}, inner {inner_name}: per outer step, spread (images / data) | sliced Wasserstein")
            print(f"  {'plain 100 steps':<12} {plain_row['spread'][0]:6.3f}            | "
                  f"{plain_row['sliced_wasserstein'][0]:.4f}")
            rows.append(plain_row)
            for label, outer_noise, eta in OUTER_STEPS:
                images: list[torch.Tensor] = []
                sample_nested(model, x.clone(), outer, extra_args={"seed": SEED + 3},
                              callback=lambda d: images.append(d["denoised"]), path=path, eta=eta,
                              outer_noise=outer_noise, inner_sampler=sampler,
                              inner_sigmas=lambda s: paper_inner_sigmas(table, s, INNER), inner_options=options)
                row = {"path": path, "inner": inner_name, "outer_step": label,
                       "spread": [spread(img, data) for img in images],
                       "sliced_wasserstein": [sliced_wasserstein(img, data) for img in images]}
                rows.append(row)
                print(f"  {label:<12} " + " ".join(f"{v:6.3f}" for v in row["spread"]) + " | "
                      + " ".join(f"{v:.4f}" for v in row["sliced_wasserstein"]))
    write_results(results, {"outer": OUTER, "inner": INNER, "dim": DIM, "components": COMPONENTS, "count": COUNT,
                            "floor": floor, "rows": rows}, printed=printed)


if __name__ == "__main__":
    main()
