"""Endpoint report: how far the pack's inner-run endpoint (noise 0: ``paper_faithful``) moves the
images from the reference code's endpoint (sigma(t=0) with its sqrt(alpha_bar_0) factor:
``paper_exact``), per outer step and on the final image, where the per-step differences compound.

Exact denoisers of a Gaussian mixture at latent-like scale stand in for the model; everything
else is the pack's own core: ``sample_nested`` on the paper grids of SD-1.5's sigma table, with
ComfyUI's starting-noise scaling and the same seeds for both endpoints. The figure is the
relative L2 difference ||zero - sigma_min|| / ||sigma_min|| per image: its mean over the batch
at the first and at the last outer step, its median on the final image, and how many final
images moved by more than 10% (near a boundary between mixture components, a small change can
carry an image to another component).

Run from anywhere: ``python bench/quality/endpoint_report.py`` (needs torch only).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402

# tests/helpers: the helpers this report shares with the core tests; the pack's nested_core.
comfy_host.use_test_helpers(core=True)

from harness.results_file import results_only_cli, write_results  # noqa: E402

from gmm import random_mixture  # noqa: E402
from ksamplers import sample_euler_ancestral  # noqa: E402
from nested_core import END_SIGMA_MIN, END_ZERO, paper_inner_sigmas, paper_outer_sigmas, sample_nested  # noqa: E402
from sigma_tables import sd_sigma_table  # noqa: E402

SETTINGS = [(5, 20), (25, 4), (10, 10)]
INNER_ETAS = [0.0, 0.85]
DIM, COMPONENTS, BATCH, SEEDS = 64, 8, 256, 3


def outer_images(gmm, table, outer_steps, inner_steps, inner_eta, end, seed):
    outer = paper_outer_sigmas(table, outer_steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, DIM, generator=g, dtype=torch.float64) * math.sqrt(1.0 + float(outer[0]) ** 2)
    images = []
    sample_nested(gmm.ve_model, x, outer, extra_args={"seed": seed + 1},
                  callback=lambda d: images.append(d["denoised"]), inner_sampler=sample_euler_ancestral,
                  inner_sigmas=lambda s: paper_inner_sigmas(table, s, inner_steps, end=end),
                  inner_options={"eta": inner_eta})
    return images


def relative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).norm(dim=1) / b.norm(dim=1)


def main() -> None:
    results, printed = results_only_cli(__doc__, __file__)
    rows = []
    torch.set_num_threads(1)
    table = sd_sigma_table()
    print(f"Gaussian mixture, dim {DIM}, {COMPONENTS} components (random_mixture, unit scale), batch {BATCH}, "
          f"seeds 0..{SEEDS - 1}; SD-1.5 sigma table; inner sampler euler_ancestral")
    print("relative L2 difference of each image, end at 0 vs the reference endpoint, over all seeds")
    print(" N x  n  inner eta   mean at outer step 1   mean on the final image   median on the final image"
          "   final images moved > 10%")
    for outer_steps, inner_steps in SETTINGS:
        for eta in INNER_ETAS:
            per_step, final = [], []
            for seed in range(SEEDS):
                gmm = random_mixture(dim=DIM, components=COMPONENTS, seed=seed)
                zero = outer_images(gmm, table, outer_steps, inner_steps, eta, END_ZERO, seed)
                exact = outer_images(gmm, table, outer_steps, inner_steps, eta, END_SIGMA_MIN, seed)
                per_step.append(torch.stack([relative(a, b).mean() for a, b in zip(zero, exact)]))
                final.append(relative(zero[-1], exact[-1]))
            steps = torch.stack(per_step).mean(0)
            final_all = torch.cat(final)
            moved = int((final_all > 0.1).sum())
            print(f"{outer_steps:2d} x {inner_steps:2d}  {eta:9.2f}   {float(steps[0]) * 100:19.3f}%"
                  f"   {float(steps[-1]) * 100:22.3f}%   {float(final_all.median()) * 100:24.3f}%"
                  f"   {moved:12d} of {final_all.numel()}")
            rows.append({"outer": outer_steps, "inner": inner_steps, "inner_eta": eta,
                         "mean_outer_step_1_pct": float(steps[0]) * 100, "mean_final_pct": float(steps[-1]) * 100,
                         "median_final_pct": float(final_all.median()) * 100, "moved_over_10pct": moved,
                         "images": final_all.numel()})
    write_results(results, {"dim": DIM, "components": COMPONENTS, "batch": BATCH, "seeds": SEEDS, "rows": rows},
                  printed=printed)


if __name__ == "__main__":
    main()
