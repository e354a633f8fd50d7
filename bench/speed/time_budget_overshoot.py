"""How far past ``max_seconds`` a nested run ends: the median of 10 runs through a real server.

Not a test: it prints numbers and asserts nothing. It starts ComfyUI's ``main.py`` (the one
named by COMFYUI_PATH, with the Python running this script) on a free 127.0.0.1 port with the
pack and the test-only tiny model nodes (tests/host/server/support/comfy_server.py), runs a Nested
KSampler (8 outer x 3 inner steps, karras, 256x256) once with a budget shorter than one step to
measure a step, then 10 times with ``max_seconds`` = ``--steps-in-budget`` x that step time.

Per run it reads the ``elapsed`` field of the last ``nested_diffusion.outer_step`` event (seconds
from the nested sampler's start to that step's end; the run ends right after it) and prints
``overshoot = elapsed - max_seconds`` (negative: ended before the budget), plus the outer steps
run and the longest step.

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/speed/time_budget_overshoot.py
Options: --runs 10 --steps-in-budget 3.5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402

comfy_host.use_test_helpers(server=True)  # the host tests' server harness (tests/host/server/support)
from harness.results_file import Printed, add_results_option, write_results  # noqa: E402

from comfy_server import ComfyServer  # noqa: E402
from server_prompts import base_graph, nested_ksampler_node  # noqa: E402


def prompt(max_seconds: float) -> dict:
    graph = base_graph(size=256)
    graph["5"] = nested_ksampler_node(outer_steps=8, inner_steps=3, scheduler="karras")
    graph["5"]["inputs"]["max_seconds"] = max_seconds
    graph["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": "nd_bench/budget"}}
    return graph


def events(server: ComfyServer, max_seconds: float) -> list[dict]:
    run = server.run_prompt(prompt(max_seconds))
    if run.status != "success":
        raise RuntimeError(run.describe())
    return run.outer_steps("5")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--steps-in-budget", type=float, default=3.5)
    add_results_option(p, __file__)
    opts = p.parse_args()
    printed, steps_run = Printed(), []
    if not os.environ.get("COMFYUI_PATH"):
        print("needs a real ComfyUI: COMFYUI_PATH=/path/to/ComfyUI <its python> bench/speed/time_budget_overshoot.py",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="nd-budget-") as work:
        server = ComfyServer(os.environ["COMFYUI_PATH"], Path(work), "none").start()
        try:
            events(server, 0.0)  # warm-up
            step = events(server, 0.001)[0]["elapsed"]
            budget = round(opts.steps_in_budget * step, 3)
            print(f"one outer step: {step:.3f} s; max_seconds = {budget:.3f} s ({opts.steps_in_budget} steps)")
            overshoots = []
            for k in range(opts.runs):
                ev = events(server, budget)
                ends = [0.0] + [e["elapsed"] for e in ev]
                longest = max(b - a for a, b in zip(ends, ends[1:]))
                overshoots.append(ends[-1] - budget)
                steps_run.append(len(ev))
                print(f"run {k + 1:2d}: {len(ev)} outer steps, last ended at {ends[-1]:.3f} s, "
                      f"overshoot {overshoots[-1]:+.3f} s, longest step {longest:.3f} s")
        finally:
            server.stop()
    print(f"median overshoot over {opts.runs} runs: {statistics.median(overshoots):+.3f} s "
          f"(max {max(overshoots):+.3f} s, min {min(overshoots):+.3f} s)")
    write_results(opts.results, {"outer_step_s": step, "max_seconds": budget, "steps_in_budget": opts.steps_in_budget,
                                 "outer_steps_run": steps_run, "overshoot_s": overshoots,
                                 "median_overshoot_s": statistics.median(overshoots)}, printed=printed, host=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
