"""Cost of nested sampling on the pack's demo digits model, against ComfyUI's own sampler, in one run.

Time (one process; every run is interleaved with the others, alternating order, after a warm-up
of each; medians on the wall clock and on the process CPU clock):

* nested / plain at equal NFE: the pack's nested SAMPLER (``nested_sampler_object``, inner sampler
  ``--sampler``, ``paper_faithful`` schedules) and ComfyUI's ``sampler_object(--sampler)`` over
  ``calculate_sigmas(ms, "normal", NFE)``, both through ``comfy.sample.sample_custom``, with the
  nested run's counted NFE (a forward hook on the diffusion model) given to the plain run.
* time to the first outer image: from calling ``sample_custom`` to the first outer callback,
  against (model calls made by then) x (plain time per model call).
* the cost of per-step previews: each sampler with ComfyUI's latent2rgb previewer
  (``latent_preview.prepare_callback``, ``--preview-method latent2rgb``) against the same run
  with a callback that only notes the time. The plain sampler previews every step, the nested
  sampler every outer step.

Peak memory (one fresh subprocess per measurement, so nothing is shared between them): each child
loads ComfyUI and the demo model, makes one warm-up run of its method, then measures one run by

* tensor memory: the peak of live CPU tensor bytes above the start of the call, from
  ``torch.profiler`` (profile_memory=True): every allocation and free, ordered in time. Exact
  at the granularity of torch operators (a temporary freed inside one operator is not seen;
  those are the same for both samplers);
* resident memory: Linux's peak RSS (VmHWM, reset by writing 5 to /proc/self/clear_refs just
  before the call) minus the RSS at the start of the call; this includes malloc's caching and
  page granularity, so it is coarse.

Methods: ``plain`` (ComfyUI's KSampler path, ``comfy.sample.sample``), ``nested`` (the SAMPLER
through ``sample_custom``, outer images not kept) and ``nested+images`` (the Nested KSampler
node's own ``sample``, which keeps every outer image for its ``outer_step_images`` output).
Goal: nested <= plain + 3 latents, and + one latent per outer step more with the images kept.

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/speed/demo_cost.py
Options: --reps 7 --batch 1 --configs 5x20,10x10,25x4 --threads 1 --memory-batches 1,64 --no-memory --no-time
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402
from harness.cli_options import nested_configs  # noqa: E402
from harness.model_calls import ModelCalls  # noqa: E402
from harness.results_file import Printed, add_results_option, write_results  # noqa: E402

SCRIPT = "speed/demo_cost.py"
MEMORY_METHODS = ("plain", "nested", "nested+images")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7, help="timed repetitions of every run (default 7)")
    p.add_argument("--batch", type=int, default=1, help="latent batch size (default 1)")
    p.add_argument("--configs", default="5x20,10x10,25x4", help="nested outer x inner steps (default %(default)s)")
    p.add_argument("--sampler", default="euler_ancestral", help="plain sampler and inner sampler (default %(default)s)")
    p.add_argument("--cfg", type=float, default=3.0, help="guidance scale (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--memory-batches", default="1,64", help="latent batch sizes of the memory measurements "
                   "(default %(default)s: the per-call constant shows at 1, the per-latent cost at 64)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--no-time", action="store_true", help="skip the timing runs")
    add_results_option(p, __file__)
    p.add_argument("--child", help=argparse.SUPPRESS)  # "method:NxM": one memory measurement, prints JSON
    opts = p.parse_args()
    opts.configs = nested_configs(opts.configs)
    opts.memory_batches = [int(b) for b in opts.memory_batches.split(",") if b]
    return opts


class Setup:
    """The demo model, its conditioning and one starting noise, shared by every run."""

    def __init__(self, opts):
        demo = comfy_host.open_demo(SCRIPT, opts.threads)
        torch = demo.torch

        import comfy.sample
        import comfy.samplers

        self.torch, self.comfy = torch, comfy
        self.model, clip, _vae = demo.load_demo()
        self.cfg = opts.cfg
        self.calls = ModelCalls(self.model)
        self.ms = self.model.get_model_object("model_sampling")
        self.positive = demo.digit_conditioning(clip, 7)
        self.negative = demo.digit_conditioning(clip, None)
        # An empty 4-channel latent, as Empty Latent Image makes; ComfyUI adapts its channels to the model.
        self.latent = comfy.sample.fix_empty_latent_channels(self.model, torch.zeros((opts.batch, 4) + demo.latent_hw))
        self.latent_bytes = self.latent.numel() * self.latent.element_size()
        self.seed = 7
        self.noise = comfy.sample.prepare_noise(self.latent, self.seed)
        self.sampler_name = opts.sampler
        self.nested_module = comfy_host.pack_module("nodes.runtime.ksampler_function")
        self.schedules = comfy_host.pack_module("nodes.runtime.comfy_schedules")
        self.nodes = comfy_host.pack_module("nodes.declarations.nested_ksampler")

    def nested(self, big_n, small_n):
        sampler = self.nested_module.nested_sampler_object(self.sampler_name, small_n, "paper_faithful", 0.0)
        return sampler, self.schedules.outer_sigmas(self.ms, "paper_faithful", big_n)

    def plain(self, nfe):
        sampler = self.comfy.samplers.sampler_object(self.sampler_name)
        return sampler, self.comfy.samplers.calculate_sigmas(self.ms, "normal", nfe).cpu()

    def run_custom(self, sampler, sigmas, callback=None):
        with self.torch.inference_mode():  # as ComfyUI's executor runs nodes
            return self.comfy.sample.sample_custom(self.model, self.noise, self.cfg, sampler, sigmas, self.positive,
                                                   self.negative, self.latent, callback=callback, disable_pbar=True,
                                                   seed=self.seed)


def timed_run(setup, sampler, sigmas, preview: bool) -> dict:
    """One sample_custom call: wall and CPU seconds, to the first callback too, and the NFE."""
    import latent_preview

    first = []
    host = latent_preview.prepare_callback(setup.model, len(sigmas) - 1) if preview else None

    def callback(step, x0, x, total):
        if not first:
            first.append((time.perf_counter(), time.process_time(), setup.calls.count))
        if host is not None:
            host(step, x0, x, total)

    setup.calls.count = 0
    t0, c0 = time.perf_counter(), time.process_time()
    setup.run_custom(sampler, sigmas, callback)
    t1, c1 = time.perf_counter(), time.process_time()
    return {"wall": t1 - t0, "cpu": c1 - c0, "first_wall": first[0][0] - t0, "first_cpu": first[0][1] - c0,
            "nfe": setup.calls.count, "nfe1": first[0][2]}


def time_all(setup, opts) -> tuple[dict, dict]:
    from comfy.cli_args import LatentPreviewMethod, args

    args.preview_method = LatentPreviewMethod.Latent2RGB  # previews only where a run asks for them
    jobs = {}
    for big_n, small_n in opts.configs:
        sampler, sigmas = setup.nested(big_n, small_n)
        jobs[f"nested {big_n}x{small_n}"] = (sampler, sigmas)
    nfe = {name: timed_run(setup, *job, False)["nfe"] for name, job in jobs.items()}  # also the warm-up
    for value in sorted(set(nfe.values())):
        jobs[f"plain {value}"] = setup.plain(value)
        timed_run(setup, *jobs[f"plain {value}"], False)
    runs = [(name, preview) for name in jobs for preview in (False, True)]
    results = {run: [] for run in runs}
    for rep in range(opts.reps):
        for run in (runs if rep % 2 == 0 else runs[::-1]):
            results[run].append(timed_run(setup, *jobs[run[0]], run[1]))
    return results, nfe


def report_time(results, nfe, opts) -> None:
    def med(name, preview, key):
        return statistics.median(r[key] for r in results[(name, preview)])

    def paired(a, b, key_a, key_b, scale=1.0):
        """Median over repetitions of a/b, each pair measured within one round (robust to load drift)."""
        return statistics.median(x[key_a] / (y[key_b] * scale) for x, y in zip(results[a], results[b]))

    for clock in ("wall", "cpu"):
        print(f"\n[{'wall clock' if clock == 'wall' else 'process CPU time (less disturbed by other load)'}; "
              f"medians of {opts.reps}; ratios are medians of per-round ratios]")
        head = (f"{'config':>7} {'NFE':>4} {'nested s':>9} {'plain s':>8} {'ratio':>6}   {'1st image s':>11} "
                f"{'n1':>3} {'ratio':>6}   {'nested prev':>11} {'plain prev':>10}")
        print(head)
        print("-" * len(head))
        for name, value in nfe.items():
            plain = f"plain {value}"
            n1 = max(r["nfe1"] for r in results[(name, False)])
            print(f"{name.split()[1]:>7} {value:>4} {med(name, False, clock):>9.3f} {med(plain, False, clock):>8.3f} "
                  f"{paired((name, False), (plain, False), clock, clock):>6.3f}   "
                  f"{med(name, False, 'first_' + clock):>11.3f} {n1:>3} "
                  f"{paired((name, False), (plain, False), 'first_' + clock, clock, n1 / value):>6.3f}   "
                  f"{paired((name, True), (name, False), clock, clock):>11.3f} "
                  f"{paired((plain, True), (plain, False), clock, clock):>10.3f}")
    print("ratio: nested / plain time at equal NFE. 1st image: time to the first outer image; n1: model calls by then;"
          "\n  its ratio is against n1 x the plain sampler's time per model call. prev: time with latent2rgb previews"
          "\n  / time without (nested: one per outer step; plain: one per step).")


def memory_child(opts) -> int:
    """One memory measurement in this fresh process; prints one JSON line."""
    method, config = opts.child.split(":")
    big_n, small_n = (int(v) for v in config.split("x"))
    setup = Setup(opts)
    torch = setup.torch
    from torch.profiler import ProfilerActivity, profile

    def plain():
        setup.calls.count = 0
        with torch.inference_mode():
            setup.comfy.sample.sample(setup.model, setup.noise, big_n * small_n, setup.cfg, setup.sampler_name,
                                      "normal", setup.positive, setup.negative, setup.latent, disable_pbar=True,
                                      seed=setup.seed)

    def nested():
        setup.calls.count = 0
        setup.run_custom(*setup.nested(big_n, small_n))

    def nested_images():
        setup.calls.count = 0
        with torch.inference_mode():
            out = setup.nodes.NestedKSampler().sample(setup.model, setup.seed, big_n, small_n, setup.cfg,
                                                      setup.sampler_name, "paper_faithful", setup.positive,
                                                      setup.negative, {"samples": setup.latent})
        assert out[1]["samples"].shape[0] == big_n * setup.latent.shape[0]

    run = {"plain": plain, "nested": nested, "nested+images": nested_images}[method]
    run()  # warm-up: lazy initialisation is not part of the sampler's cost
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.end)
    live = peak = 0
    for e in events:
        live += e.self_cpu_memory_usage
        peak = max(peak, live)
    rss_start = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    run()
    hwm = _status_kib("VmHWM")
    print(json.dumps({"method": method, "config": config, "batch": opts.batch, "tensor_peak": peak,
                      "rss_peak_kib": hwm - rss_start, "nfe": setup.calls.count, "latent_bytes": setup.latent_bytes}))
    return 0


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def measure_memory(opts) -> list[dict]:
    rows = []
    for batch in opts.memory_batches:
        for big_n, small_n in opts.configs:
            for method in MEMORY_METHODS:
                cmd = [sys.executable, __file__, "--child", f"{method}:{big_n}x{small_n}", "--batch", str(batch),
                       "--threads", str(opts.threads), "--sampler", opts.sampler, "--cfg", str(opts.cfg)]
                done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
                if done.returncode != 0:
                    raise SystemExit(f"memory child {method} {big_n}x{small_n} failed:\n{done.stderr[-3000:]}")
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def report_memory(rows, opts) -> None:
    print("\n[peak memory during one sampling call, each in its own process; one latent = batch x 1 x 8 x 8 float32]")
    head = (f"{'batch':>5} {'config':>7} {'method':<14} {'NFE':>4} {'tensor peak KiB':>15} {'- plain KiB':>11} "
            f"{'in latents':>10} {'goal':>10}   {'RSS peak KiB':>12} {'- plain':>8}")
    print(head)
    print("-" * len(head))
    for batch in opts.memory_batches:
        for big_n, small_n in opts.configs:
            config = f"{big_n}x{small_n}"
            by = {r["method"]: r for r in rows if r["config"] == config and r["batch"] == batch}
            base = by["plain"]
            for method in MEMORY_METHODS:
                r = by[method]
                extra = r["tensor_peak"] - base["tensor_peak"]
                latents = extra / r["latent_bytes"]
                goal = {"plain": None, "nested": 3, "nested+images": 3 + big_n}[method]
                mark = "" if goal is None else f"<={goal}" + ("" if latents <= goal else " MISS")
                print(f"{batch:>5} {config:>7} {method:<14} {r['nfe']:>4} {r['tensor_peak'] / 1024:>15.1f} "
                      f"{extra / 1024:>11.1f} {latents:>10.2f} {mark:>10}   {r['rss_peak_kib']:>12} "
                      f"{r['rss_peak_kib'] - base['rss_peak_kib']:>8}")
    print("tensor peak: live CPU tensor bytes above the start of the call (torch.profiler, profile_memory); "
          "RSS peak: VmHWM - VmRSS at the start (coarse: malloc caching, 4 KiB pages).")


def main() -> int:
    opts = parse_args()
    comfy_host.require_comfy(SCRIPT)
    if opts.child:
        return memory_child(opts)
    setup = Setup(opts)
    import torch

    printed, figures = Printed(), {"batch": opts.batch, "reps": opts.reps, "sampler": opts.sampler, "cfg": setup.cfg}
    print("Nested Diffusion cost on the demo digits model (ComfyUI in-process, CPU)")
    print(f"command: {comfy_host.command_line(SCRIPT)}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {opts.batch}, cfg {setup.cfg}, "
          f"sampler {opts.sampler}; load average {os.getloadavg()[0]:.2f} (cpu_count {os.cpu_count()})")
    if not opts.no_time:
        results, nfe = time_all(setup, opts)
        report_time(results, nfe, opts)
        figures["nfe"] = nfe
    if not opts.no_memory:
        figures["memory"] = measure_memory(opts)
        report_memory(figures["memory"], opts)
    write_results(opts.results, figures, printed=printed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
