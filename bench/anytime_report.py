"""Anytime report: nested vs vanilla sampling of a 2-D four-mode mixture with exact denoisers,
plus the conformance error against the VP re-derivation of the reference (tests/core).

Run from anywhere: ``python bench/anytime_report.py`` (needs torch only).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# tests/helpers: the helpers this report shares with the core tests; ROOT: the pack's nested_core.
for entry in (ROOT / "tests" / "helpers", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from anytime import INNER_ETA, INNER_STEPS, OUTER_STEPS, run_anytime  # noqa: E402
from gmm import four_mode_mixture, sliced_wasserstein, sliced_wasserstein_null  # noqa: E402
from vp_reference import CONFIGS, ENDS, INNER_ETAS, conformance_errors  # noqa: E402

COUNT = 4000
SETUPS = {"ve": "VE path, SD-1.5 sigma table", "flow": "flow path, shift-3 flow table"}


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def report_path(path: str, null_mean: float) -> None:
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


def report_conformance() -> None:
    print("\n== conformance: max abs error of every outer image vs the VP reference (float64)")
    print("  N    n   inner eta   end          max error")
    for outer_steps, inner_steps in CONFIGS:
        for eta in INNER_ETAS:
            for end in ENDS:
                error, _, _ = conformance_errors(outer_steps, inner_steps, eta, end)
                print(f"{outer_steps:3d} {inner_steps:4d} {eta:11.2f}   {end:10s} {error:11.2e}")


def main() -> None:
    null_mean, _ = sliced_wasserstein_null(four_mode_mixture(), COUNT)
    for path in SETUPS:
        report_path(path, null_mean)
    report_conformance()


if __name__ == "__main__":
    main()
