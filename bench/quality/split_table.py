"""Which split at my budget: outer x inner and the outer scheduler, at 20, 30, 50 and 100 model calls.

Not a test: it reads the saved states of ``quality_vs_nfe.py`` runs (one per scheduler, the same
scheduler for the nested runs' outer and inner schedules and for the plain runs) and writes one
table per budget: for every split whose planned calls equal the budget, the FID-like distance of
its first outer image and of its final image under each scheduler, next to the plain run of that
many steps under each scheduler (the best of them marked). Lower is better; the floor (real
training digits against the held-out ones) is printed with it.

The states are made by (one run per scheduler S, 1,000 samples per point, same seeds):

    cd <pack> && COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy/venv/bin/python bench/quality/quality_vs_nfe.py \\
        --configs 2x10,4x5,3x10,5x6,5x10,10x5,5x20,10x10 --plain-steps 20,30,50,100 --preview-steps 100 \\
        --sampler euler --nested-scheduler S --plain-scheduler S --samples 1000 --chunk 100 \\
        --state /path/to/states/split_S.pt

    python bench/quality/split_table.py --states /path/to/states --json bench/results/split_table.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness.quality_table import frechet_distance  # noqa: E402

SCHEDULERS = ["paper_faithful", "simple", "sgm_uniform", "beta", "normal", "karras", "exponential"]
CONFIGS = [(2, 10), (4, 5), (3, 10), (5, 6), (5, 10), (10, 5), (5, 20), (10, 10)]
BUDGETS = [20, 30, 50, 100]
PACK_ONLY = {"paper_faithful"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--states", type=Path, required=True, help="folder with split_<scheduler>.pt states")
    p.add_argument("--json", type=Path, help="write the figures here (e.g. bench/results/split_table.json)")
    return p.parse_args()


def scores(state: dict) -> dict:
    """(method, nfe) -> {"fid", "accuracy", "samples"} of one state."""
    real = state["real"]["features"]
    out = {}
    for (method, nfe), parts in state["points"].items():
        logits = torch.cat([p["logits"] for p in parts])
        wanted = torch.cat([p["digits"] for p in parts])
        out[(method, nfe)] = {"fid": frechet_distance(torch.cat([p["features"] for p in parts]), real),
                              "accuracy": float((logits.argmax(1) == wanted).double().mean()),
                              "samples": len(wanted)}
    return out


def nested_points(points: dict, outer: int, inner: int) -> tuple[tuple[int, dict], tuple[int, dict]] | None:
    """The first and the final outer image of a split: (calls, score) each."""
    method = f"nested {outer}x{inner}"
    calls = sorted(nfe for m, nfe in points if m == method)
    if not calls:
        return None
    return (calls[0], points[(method, calls[0])]), (calls[-1], points[(method, calls[-1])])


def build(states: dict) -> dict:
    figures = {"budgets": {}, "floor": None, "samples": None}
    for scheduler, state in states.items():
        figures["floor"] = state["real"]["floor"]
    per = {s: scores(state) for s, state in states.items()}
    figures["samples"] = min(v["samples"] for pts in per.values() for v in pts.values())
    for budget in BUDGETS:
        table = {"plain": {}, "splits": {}}
        for scheduler, points in per.items():
            plain = points.get(("plain k steps", budget))
            # paper_faithful is the pack's own grid, not a ComfyUI scheduler: a KSampler given it
            # falls back to ComfyUI's first scheduler, so its plain run is not a plain run of it.
            if plain is not None and scheduler not in PACK_ONLY:
                table["plain"][scheduler] = round(plain["fid"], 2)
        for outer, inner in CONFIGS:
            if outer * inner != budget:
                continue
            row = {}
            for scheduler, points in per.items():
                found = nested_points(points, outer, inner)
                if found is not None:
                    (first_calls, first), (final_calls, final) = found
                    row[scheduler] = {"first": round(first["fid"], 2), "first_calls": first_calls,
                                      "final": round(final["fid"], 2), "final_calls": final_calls,
                                      "final_accuracy": round(final["accuracy"], 3)}
            table["splits"][f"{outer}x{inner}"] = row
        figures["budgets"][budget] = table
    return figures


def markdown(figures: dict, schedulers: list[str]) -> str:
    lines = []
    for budget, table in figures["budgets"].items():
        best = min(table["plain"].values()) if table["plain"] else None
        lines += [f"**{budget} model calls** (FID-like, lower is better: final image (first outer image); "
                  "calls made, where fewer than planned)", "",
                  "| split | " + " | ".join(schedulers) + " |", "|---|" + "---|" * len(schedulers)]
        for split, row in table["splits"].items():
            cells = []
            for s in schedulers:
                c = row.get(s)
                if c is None:
                    cells.append("")
                    continue
                calls = f", {c['final_calls']} calls" if c["final_calls"] != budget else ""
                mark = " **(beats best plain)**" if best is not None and c["final"] < best else ""
                cells.append(f"{c['final']:.1f} ({c['first']:.1f}){calls}{mark}")
            lines.append(f"| nested {split.replace('x', ' x ')} | " + " | ".join(cells) + " |")
        plain = [(f"{table['plain'][s]:.1f}" + (" (best)" if table["plain"][s] == best else "")) if s in table["plain"]
                 else ("(not a ComfyUI scheduler)" if s in PACK_ONLY else "") for s in schedulers]
        lines += [f"| plain {budget} steps | " + " | ".join(plain) + " |", ""]
    lines.append(f"Floor (real training digits against the held-out ones): {figures['floor']:.2f}; "
                 f"{figures['samples']} samples per point.")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    states = {}
    for scheduler in SCHEDULERS:
        path = args.states / f"split_{scheduler}.pt"
        if path.exists():
            states[scheduler] = torch.load(path, weights_only=False)
    if not states:
        sys.exit(f"no split_<scheduler>.pt states in {args.states}")
    figures = build(states)
    text = markdown(figures, list(states))
    print(text)
    if args.json:
        settings = next(iter(states.values()))["settings"]
        record = {"made": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  "command": "bench/quality/quality_vs_nfe.py per scheduler (see bench/quality/split_table.py), then "
                             "bench/quality/split_table.py", "sampler": settings["sampler"], "cfg": settings["cfg"],
                  "schedulers": list(states), **figures}
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        args.json.with_suffix(".md").write_text(f"# Which split at my budget\n\n{text}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
