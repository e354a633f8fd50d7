"""Anytime report: nested vs vanilla sampling of a 2-D four-mode mixture with exact denoisers,
plus the conformance error against the VP re-derivation of the reference (tests/core).

Then the quality-versus-NFE table of bench/quality/quality_vs_nfe.py on the same mixture (no training
noise: the denoisers are exact posterior means), per path: nested 25x4, 10x10 and 5x20 (each
outer step a point), the plain sampler's x0 prediction during one 100-step run, and separate
plain runs of k steps. Measures: the fraction of samples on a mode (the analogue of the digit
classifier's accuracy), and the Frechet distance (the FID formula on the 2-D points) and the
sliced Wasserstein distance to an exact data sample. It is plotted to
``bench/results/anytime_gmm.png``.

Run from anywhere: ``python bench/quality/anytime_report.py`` (needs torch; the plot needs matplotlib).
Options: ``--plot PATH``, ``--no-plot``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402
from harness.quality_table import Measure, Row, format_pivot, format_table, frechet_distance, plot  # noqa: E402

ROOT = comfy_host.PACK_ROOT
# tests/helpers: the helpers this report shares with the core tests; ROOT: the pack's nested_core.
comfy_host.use_test_helpers(core=True)

import torch  # noqa: E402
from harness.results_file import Printed, add_results_option, write_results  # noqa: E402

from anytime import INNER_ETA, INNER_STEPS, OUTER_STEPS, run_anytime  # noqa: E402
from gmm import four_mode_mixture, sliced_wasserstein, sliced_wasserstein_null  # noqa: E402
from ksamplers import sample_ddim_flow, sample_euler_ancestral  # noqa: E402
from nested_core import paper_inner_sigmas, paper_outer_sigmas, sample_nested  # noqa: E402
from sigma_tables import flow_sigma_table, sd_sigma_table  # noqa: E402
from vp_reference import CONFIGS, ENDS, INNER_ETAS, conformance_errors  # noqa: E402

COUNT = 4000
SETUPS = {"ve": "VE path, SD-1.5 sigma table", "flow": "flow path, shift-3 flow table"}
NESTED = [(25, 4), (10, 10), (5, 20)]
PREVIEW_STEPS = 100
MEASURES = [Measure("on_mode", "on a mode", fraction=True), Measure("frechet", "Frechet 2-D", "{:.3f}", "lower"),
            Measure("sliced_w", "sliced W", "{:.3f}", "lower")]
README_NFE = [4, 10, 20, 40, 60, 80, 100]


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def report_path(path: str, null_mean: float) -> dict:
    gmm = four_mode_mixture()
    run = run_anytime(path, count=COUNT)
    print(f"\n== {SETUPS[path]}: {OUTER_STEPS} outer x {INNER_STEPS} inner, inner eta {INNER_ETA}, "
          f"{COUNT} samples, vanilla = the same sampler over {OUTER_STEPS * INNER_STEPS} steps")
    print("outer step   NFE   nested on a mode   vanilla x0 prediction on a mode")
    for k, (nfe, nested, vanilla) in enumerate(zip(run.nfe, run.nested_on_mode, run.vanilla_on_mode)):
        print(f"{k:10d} {nfe:5d} {nested:18.3f} {vanilla:33.3f}")
    print(f"final mode occupancy: nested {_fmt(gmm.occupancy(run.nested_final))}, "
          f"vanilla {_fmt(gmm.occupancy(run.vanilla_final))}, weights {_fmt(gmm.weights)}")
    print(f"sliced Wasserstein to a data sample: nested {sliced_wasserstein(run.nested_final, run.data):.3f}, "
          f"vanilla {sliced_wasserstein(run.vanilla_final, run.data):.3f} "
          f"(two exact samples: {null_mean:.3f} on average)")
    print(f"for scale: exact data samples on a mode: {gmm.on_mode_fraction(run.data):.3f}")
    split = run_anytime(path, count=COUNT, outer_steps=5, inner_steps=20)
    print(f"same 100 NFE as 5 x 20: occupancy {_fmt(gmm.occupancy(split.nested_final))}, "
          f"sliced Wasserstein {sliced_wasserstein(split.nested_final, split.data):.3f}, "
          f"on a mode from outer step 0: {_fmt(split.nested_on_mode)} "
          f"(vanilla at NFE {split.nfe[0]}: {split.vanilla_on_mode[0]:.3f})")
    return {"nfe": list(run.nfe), "nested_on_mode": [float(v) for v in run.nested_on_mode],
            "vanilla_on_mode": [float(v) for v in run.vanilla_on_mode],
            "sliced_w": {"nested": float(sliced_wasserstein(run.nested_final, run.data)),
                         "vanilla": float(sliced_wasserstein(run.vanilla_final, run.data)), "null": float(null_mean)}}


def report_conformance() -> list[dict]:
    print("\n== conformance: max abs error of every outer image vs the VP reference (float64)")
    print("  N    n   inner eta   end          max error")
    errors = []
    for outer_steps, inner_steps in CONFIGS:
        for eta in INNER_ETAS:
            for end in ENDS:
                error, _, _ = conformance_errors(outer_steps, inner_steps, eta, end)
                print(f"{outer_steps:3d} {inner_steps:4d} {eta:11.2f}   {end:10s} {error:11.2e}")
                errors.append({"outer": outer_steps, "inner": inner_steps, "inner_eta": eta, "end": end,
                               "max_error": float(error)})
    return errors


def quality_rows(path: str, count: int = COUNT, seed: int = 0) -> tuple[list[Row], torch.Tensor]:
    """The rows of the quality-versus-NFE table for one path, and the data sample they are scored against.
    Every method starts from the same points and the same sampler settings as run_anytime."""
    gmm = four_mode_mixture()
    table = sd_sigma_table() if path == "ve" else flow_sigma_table(3.0)
    model, sampler = (gmm.ve_model, sample_euler_ancestral) if path == "ve" else (gmm.flow_model, sample_ddim_flow)
    g = torch.Generator().manual_seed(seed)
    x0, _ = gmm.sample(count, g)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    top = float(paper_outer_sigmas(table, PREVIEW_STEPS)[0])  # all grids start at the table's top level
    start = x0 + top * eps if path == "ve" else (1.0 - top) * x0 + top * eps
    data, _ = gmm.sample(count, torch.Generator().manual_seed(seed + 3))

    def scored(method, nfe, points):
        return Row(method, nfe, {"on_mode": gmm.on_mode_fraction(points),
                                 "frechet": frechet_distance(points, data),
                                 "sliced_w": sliced_wasserstein(points, data)})

    rows = []
    for outer_steps, inner_steps in NESTED:
        seen = []
        sample_nested(model, start.clone(), paper_outer_sigmas(table, outer_steps), extra_args={"seed": seed + 1},
                      callback=lambda d, seen=seen: seen.append((d["nfe"], d["denoised"])), path=path,
                      inner_sampler=sampler, inner_sigmas=lambda s, n=inner_steps: paper_inner_sigmas(table, s, n),
                      inner_options={"eta": INNER_ETA})
        rows += [scored(f"nested {outer_steps}x{inner_steps}", nfe, img) for nfe, img in seen]
    scored_nfe = sorted({r.nfe for r in rows})
    previews = []
    sampler(model, start.clone(), paper_outer_sigmas(table, PREVIEW_STEPS), extra_args={"seed": seed + 2},
            callback=lambda d: previews.append(d["denoised"]), eta=INNER_ETA)
    rows += [scored("plain x0 preview", k, previews[k - 1]) for k in scored_nfe]
    for k in scored_nfe:
        final = sampler(model, start.clone(), paper_outer_sigmas(table, k), extra_args={"seed": seed + 2},
                        eta=INNER_ETA)
        rows.append(scored("plain k steps", k, final))
    return rows, data


def report_quality(path: str, plot_path: Path | None) -> dict:
    rows, data = quality_rows(path)
    twin, _ = four_mode_mixture().sample(COUNT, torch.Generator().manual_seed(4))
    floor = {"on_mode": four_mode_mixture().on_mode_fraction(data), "frechet": frechet_distance(twin, data),
             "sliced_w": sliced_wasserstein(twin, data)}
    print(f"\n== quality versus NFE, {SETUPS[path]}: {COUNT} samples per point, inner eta {INNER_ETA}, "
          f"paper_faithful grids, the same start points for every method")
    print(format_table(rows, MEASURES))
    print(f"reference: two exact data samples: on a mode {floor['on_mode']:.3f}, Frechet {floor['frechet']:.3f}, "
          f"sliced W {floor['sliced_w']:.3f}")
    for measure in (MEASURES[2], MEASURES[0]):
        print(f"\n{measure.header} by NFE (Markdown):")
        print(format_pivot(rows, measure, README_NFE))
    if plot_path is not None:
        refs = {key: (value, "two exact data samples") for key, value in floor.items()}
        target = plot_path.with_name(f"{plot_path.stem}_{path}{plot_path.suffix}")
        title = f"exact 2-D Gaussian-mixture denoiser, {SETUPS[path]}, {COUNT} samples per point"
        print(f"plot: {plot(rows, MEASURES, target, title, refs)}")
    return {"rows": [{"method": r.method, "nfe": r.nfe, **{k: float(v) for k, v in r.values.items()}} for r in rows],
            "reference": {k: float(v) for k, v in floor.items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plot", default=str(ROOT / "bench" / "results" / "anytime_gmm.png"),
                   help="PNG base name; the path (ve, flow) is appended (default %(default)s)")
    p.add_argument("--no-plot", action="store_true", help="print the tables only (no matplotlib needed)")
    add_results_option(p, __file__)
    opts = p.parse_args()
    printed = Printed()
    torch.set_num_threads(1)
    null_mean, _ = sliced_wasserstein_null(four_mode_mixture(), COUNT)
    anytime = {path: report_path(path, null_mean) for path in SETUPS}
    conformance = report_conformance()
    quality = {path: report_quality(path, None if opts.no_plot else Path(opts.plot)) for path in SETUPS}
    write_results(opts.results, {"samples": COUNT, "anytime": anytime, "conformance": conformance,
                                 "quality": quality}, printed=printed)


if __name__ == "__main__":
    main()
