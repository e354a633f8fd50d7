"""Speed benchmark: the nested sampler against ComfyUI's own euler, at equal NFE.

Not a test: it asserts nothing about timing; it prints ratios next to their goals.

Both samplers run through ComfyUI's ``comfy.sample.sample_custom`` on the same tiny real model
(tests/helpers/tiny_models.py; an eps row and a flow row), with cfg 3.0 (cond and uncond in one
batch) on a 1x4x32x32 latent, with the same trivial callback:

* ComfyUI euler: ``sampler_object("euler")`` over ``calculate_sigmas(ms, "normal", NFE)``.
* nested: ``nested_sampler_object("euler", n, "normal", 0.0)`` over ``calculate_sigmas(ms, "normal", N)``.

NFE (one diffusion-model forward; a CFG pair is one forward) are counted with a forward hook on
``model.diffusion_model``. Euler gets as many steps as the nested run really makes (N x n when
every inner run gets its n steps; the counts are printed either way).

1. wall(nested) / wall(euler)                                   goal <= 1.03
2. time to the nested run's first outer callback / (NFE of that first inner run x per-NFE time
   of euler, i.e. wall(euler) / NFE(euler))                     goal <= 1.05

Both ratios are printed twice: on the wall clock (time.perf_counter) and on the process CPU
clock (time.process_time), which other processes on a shared machine disturb far less. With
one torch thread the two agree on an idle machine.

Repetitions of every (model, config, sampler) are interleaved, alternating which sampler goes
first, after one warm-up run of each; medians are reported.

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/speed/bench_speed.py
Options: --reps 7 --threads 1 --configs 3x6,6x2,10x1 --kinds eps,flow
         --profile (afterwards cProfile one nested and one euler run per config).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import platform
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402
from harness.model_calls import ModelCalls  # noqa: E402

SCRIPT = "speed/bench_speed.py"
PACK_ROOT = comfy_host.PACK_ROOT
from harness.cli_options import comma_list, nested_configs  # noqa: E402
from harness.results_file import Printed, add_results_option, write_results  # noqa: E402

# (outer steps N, inner steps n). The tiny UNet costs ~0.12 s per CFG forward on one CPU thread
# (its 32x32 level runs 1024-token attention), so the default set is sized for ~3 minutes; a
# larger set such as --configs 5x20,10x4,25x4 takes about 7x longer.
CONFIGS = [(3, 6), (6, 2), (10, 1)]
KINDS = ["eps", "flow"]
CFG = 3.0
LATENT_SHAPE = (1, 4, 32, 32)
SEED = 1234
GOAL_WALL = 1.03
GOAL_FIRST = 1.05


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7, help="timed repetitions per sampler and config (default 7)")
    p.add_argument("--configs", default=",".join(f"{a}x{b}" for a, b in CONFIGS),
                   help="outer x inner steps, comma separated (default %(default)s)")
    p.add_argument("--kinds", default=",".join(KINDS), help="tiny model kinds (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--no-server-module", action="store_true",
                   help="do not import ComfyUI's server module first (by default it is imported, as main.py does, "
                        "so the pack's lookup of sys.modules['server'] finds it as it would inside ComfyUI)")
    p.add_argument("--profile", action="store_true",
                   help="after timing, cProfile one nested and one euler run of every config and print the top entries")
    p.add_argument("--top", type=int, default=25, help="entries per profile (default 25)")
    add_results_option(p, __file__)
    opts = p.parse_args()
    opts.configs = nested_configs(opts.configs)
    opts.kinds = comma_list(opts.kinds)
    return opts


def main() -> int:
    opts = parse_args()
    printed = Printed()
    if not os.environ.get("COMFYUI_PATH"):
        print(f"{SCRIPT} needs a real ComfyUI: set COMFYUI_PATH to a ComfyUI checkout (0.3.64 or later) and "
              "run it with that ComfyUI's Python, e.g.\n  cd " + str(PACK_ROOT) +
              f" && COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy/python bench/{SCRIPT}", file=sys.stderr)
        return 2

    host = comfy_host.start(opts.threads, server_module=not opts.no_server_module)
    server_note = "not imported (--no-server-module)" if opts.no_server_module else host.server_note
    torch = host.torch

    import comfy.sample
    import comfy.samplers

    import tiny_models  # tests/helpers (on sys.path through the harness); imports comfy, so only after start()

    nested_sampler_object = comfy_host.pack_module("nodes.runtime.ksampler_function").nested_sampler_object

    class FirstCall:
        """sample_custom callback (step, x0, x, total): records when it is first called (wall and
        process CPU clocks) and the forwards counted by then. Both samplers get one."""

        def __init__(self, calls):
            self.calls = calls
            self.at = None

        def __call__(self, step, x0, x, total):
            if self.at is None:
                self.at = (time.perf_counter(), time.process_time(), self.calls.count)

    # Models, conditioning, noise; forward hooks count NFE and time the first forward.
    models = {}
    for kind in opts.kinds:
        mp = tiny_models.build_tiny_model(kind)
        models[kind] = (mp, ModelCalls(mp))
    positive = tiny_models.tiny_conditioning(seed=1)
    negative = tiny_models.tiny_conditioning(seed=2)
    latent = torch.zeros(LATENT_SHAPE)
    noise = comfy.sample.prepare_noise(latent, SEED)
    nan = float("nan")

    def run(kind, sampler, sigmas, profiler=None):
        """One sample_custom call -> dict of wall/cpu seconds (whole run, to first callback), NFE."""
        mp, calls = models[kind]
        cb = FirstCall(calls)
        calls.reset()
        gc.collect()
        with torch.inference_mode():  # as ComfyUI's executor runs nodes
            if profiler is not None:
                profiler.enable()
            t0, c0 = time.perf_counter(), time.process_time()
            comfy.sample.sample_custom(mp, noise, CFG, sampler, sigmas, positive, negative, latent,
                                       callback=cb, disable_pbar=True, seed=SEED)
            t1, c1 = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.disable()
        first = cb.at or (nan, nan, None)
        return {"wall": t1 - t0, "cpu": c1 - c0, "first_wall": first[0] - t0, "first_cpu": first[1] - c0,
                "nfe": calls.count, "nfe1": first[2],
                "to_fwd": (calls.first_start - t0) if calls.first_start is not None else nan}

    # Jobs: per (kind, N, n) the nested sampler and an euler run of the same NFE. The probe run of
    # each nested job and one euler run of each job are the warm-up.
    jobs = []
    for kind in opts.kinds:
        ms = models[kind][0].get_model_object("model_sampling")
        for big_n, small_n in opts.configs:
            nested = nested_sampler_object("euler", small_n, "normal", 0.0)
            outer = comfy.samplers.calculate_sigmas(ms, "normal", big_n).cpu()
            nested_nfe = run(kind, nested, outer)["nfe"]  # the NFE the nested run really makes
            euler = comfy.samplers.sampler_object("euler")
            flat = comfy.samplers.calculate_sigmas(ms, "normal", nested_nfe).cpu()
            run(kind, euler, flat)
            jobs.append({"kind": kind, "N": big_n, "n": small_n, "planned": big_n * small_n,
                         "last_outer": float(outer[-2]), "nested": (nested, outer), "euler": (euler, flat),
                         "res": {"nested": [], "euler": []}})

    load0 = os.getloadavg()
    t_start = time.perf_counter()
    for rep in range(opts.reps):
        for j, job in enumerate(jobs):
            order = ("nested", "euler") if (rep + j) % 2 == 0 else ("euler", "nested")
            for name in order:
                job["res"][name].append(run(job["kind"], *job[name]))
    t_total = time.perf_counter() - t_start
    load1 = os.getloadavg()

    # Report.
    cmd = comfy_host.command_line(SCRIPT)
    print("Nested Diffusion speed bench (ComfyUI sample_custom, tiny real UNet, CPU)")
    print(f"command : {cmd}")
    print(f"torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"os.cpu_count()={os.cpu_count()}, torch.set_num_threads({opts.threads}) -> "
          f"get_num_threads()={torch.get_num_threads()}, interop threads={torch.get_num_interop_threads()}, "
          f"device={models[opts.kinds[0]][0].load_device}, torch.inference_mode; ComfyUI server module: {server_note}")
    print(f"latent {'x'.join(map(str, LATENT_SHAPE))}, cfg {CFG} (CFG batch), seed {SEED}; ComfyUI "
          f"sampler_object('euler') over calculate_sigmas(ms, 'normal', NFE) vs nested_sampler_object('euler', n, "
          f"'normal', 0.0) over calculate_sigmas(ms, 'normal', N); same callback for both")
    print(f"warm-up: one run of each sampler and config; then {opts.reps} timed repetitions, interleaved over "
          f"configs with alternating sampler order; medians. Timed part took {t_total:.1f} s; load average "
          f"{load0[0]:.2f} before, {load1[0]:.2f} after (cpu_count {os.cpu_count()})")

    def med(rs, key):
        return statistics.median(r[key] for r in rs)

    notes, measured = [], []
    for clock in ("wall", "cpu"):
        print()
        print("[wall clock (time.perf_counter)]" if clock == "wall" else
              "[process CPU time (time.process_time): far less disturbed by other load on the machine]")
        hdr = (f"{'model':5} {'N':>3} {'n':>3} {'NFE e/n':>9} {'euler ms':>9} {'nested ms':>9} {'ratio':>7} "
               f"{'goal':>6}   {'1st prev ms':>11} {'n1':>3} {'n1*NFE ms':>9} {'ratio':>7} {'goal':>6}")
        print(hdr)
        print("-" * len(hdr))
        for job in jobs:
            e, nz = job["res"]["euler"], job["res"]["nested"]
            e_nfe, n_nfe = {r["nfe"] for r in e}, {r["nfe"] for r in nz}
            n1 = max(r["nfe1"] for r in nz)
            e_t, n_t, first = med(e, clock), med(nz, clock), med(nz, "first_" + clock)
            per_nfe = e_t / max(e_nfe)
            ratio, first_ratio = n_t / e_t, first / (n1 * per_nfe)
            miss = ("" if ratio <= GOAL_WALL else "  MISS") + ("" if first_ratio <= GOAL_FIRST else "  1st MISS")
            print(f"{job['kind']:5} {job['N']:>3} {job['n']:>3} {f'{max(e_nfe)}/{max(n_nfe)}':>9} {e_t * 1e3:>9.1f} "
                  f"{n_t * 1e3:>9.1f} {ratio:>7.3f} {'<=' + str(GOAL_WALL):>6}   {first * 1e3:>11.1f} {n1:>3} "
                  f"{n1 * per_nfe * 1e3:>9.1f} {first_ratio:>7.3f} {'<=' + str(GOAL_FIRST):>6}{miss}")
            measured.append({"clock": clock, "kind": job["kind"], "N": job["N"], "n": job["n"], "nfe": max(e_nfe),
                             "euler_ms": e_t * 1e3, "nested_ms": n_t * 1e3, "ratio": ratio,
                             "first_ms": first * 1e3, "n1": n1, "first_ratio": first_ratio})
            paired = statistics.median(b[clock] / a[clock] for a, b in zip(e, nz))
            notes.append(f"{job['kind']} ({job['N']},{job['n']}) {clock}: paired median ratio {paired:.3f}; "
                         f"range euler {min(r[clock] for r in e) * 1e3:.0f}-{max(r[clock] for r in e) * 1e3:.0f} ms, "
                         f"nested {min(r[clock] for r in nz) * 1e3:.0f}-{max(r[clock] for r in nz) * 1e3:.0f} ms")
            if clock == "wall":
                notes.append(f"{job['kind']} ({job['N']},{job['n']}): sample_custom() to first forward: euler "
                             f"{med(e, 'to_fwd') * 1e3:.1f} ms, nested {med(nz, 'to_fwd') * 1e3:.1f} ms")
                if len(e_nfe) > 1 or len(n_nfe) > 1:
                    notes.append(f"{job['kind']} ({job['N']},{job['n']}): NFE varied between runs: euler "
                                 f"{sorted(e_nfe)}, nested {sorted(n_nfe)}")
                if max(n_nfe) != job["planned"]:
                    notes.append(f"{job['kind']} ({job['N']},{job['n']}): the nested run made {max(n_nfe)} forwards, "
                                 f"not N*n = {job['planned']} (its last outer sigma {job['last_outer']:.4g} gets a "
                                 f"shorter inner run); euler was given {max(e_nfe)} steps to match")
                if n1 != job["n"]:
                    notes.append(f"{job['kind']} ({job['N']},{job['n']}): the first inner run made {n1} forwards, "
                                 "not n")
    print()
    print("NFE e/n: diffusion_model forwards counted by a forward hook, euler/nested (a CFG pair is one forward).")
    print(f"ratio (first): median nested time / median euler time at equal NFE; goal <= {GOAL_WALL}.")
    print("1st prev: median time from calling sample_custom() to the nested sampler's first outer callback; "
          "n1: forwards made by then;")
    print(f"  ratio (second) = 1st prev / (n1 x euler time per NFE); goal <= {GOAL_FIRST}.")
    for note in notes:
        print("  - " + note)

    if opts.profile:
        for job in jobs:
            for name in ("nested", "euler"):
                prof = cProfile.Profile(time.process_time)  # CPU time: robust to other load
                run(job["kind"], *job[name], profiler=prof)
                out = io.StringIO()
                stats = pstats.Stats(prof, stream=out)
                stats.sort_stats("tottime").print_stats(opts.top)
                if name == "nested":  # the pack's own frames and what they call into, by cumulative time
                    pattern = re.escape(str(PACK_ROOT)) + "|samplers.py.*normal_scheduler"
                    stats.sort_stats("cumulative").print_stats(pattern, opts.top)
                print(f"\n===== cProfile {name} {job['kind']} N={job['N']} n={job['n']} (CPU seconds) =====")
                print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    write_results(opts.results, {"threads": opts.threads, "reps": opts.reps, "load_average": [load0[0], load1[0]],
                                 "goals": {"ratio": GOAL_WALL, "first_ratio": GOAL_FIRST}, "rows": measured},
                  printed=printed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
