"""What EasyCache and LazyCache do to a nested run, measured on the demo digits model through real ComfyUI.

Both caches skip a model call when their estimate of how much the output changed since the last
computed call stays below ``reuse_threshold``, and ComfyUI gives them a fresh state once per
sampling call. A nested run restarts the noise level at every inner run inside one call, so the
pack gives every inner run a fresh cache state (``nodes/runtime/schedule_position.py``); the ``shared``
rows let one state run through all inner runs (``fresh_cache_per_inner_run=False``, which no
node sets) to show what that choice changes.

For each cache (none, EasyCache, LazyCache, same settings everywhere) and each method (a plain
KSampler run of outer x inner steps; the nested SAMPLER with fresh and with shared cache state)
on the same seeds and requested digits, it prints:

* calls made / calls requested: forwards of the diffusion model (a CFG pair is one; a skipped
  call never reaches the model) against the same method without a cache;
* CPU seconds (process time of all chunks, median of ``--reps`` interleaved repetitions after an
  untimed warm-up) and their ratio to the uncached method;
* FID-like: Frechet distance of the digit classifier's features of the final images to the
  held-out real digits (bench/quality/quality_vs_nfe.py's measure; lower is better), and the change
  against the uncached method; accuracy of the requested digit;
* |x - uncached|: mean absolute difference of the final latents from the uncached method's
  (same seeds), in latent units (the digit's grey level in [-1, 1]).

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/quality/cache_effect.py
Options: --samples 200 --chunk 100 --config 5x20 --sampler euler_ancestral --cfg 3.0
         --threshold 0.2 --start 0.15 --end 0.95 --reps 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402
from harness.model_calls import CacheAwareCalls  # noqa: E402
from harness.quality_runs import DIGITS, Judge, batched_conditioning, held_out_real  # noqa: E402
from harness.quality_table import frechet_distance  # noqa: E402
from harness.results_file import Printed, add_results_option, write_results  # noqa: E402

SCRIPT = "quality/cache_effect.py"
CACHES = ("none", "EasyCache", "LazyCache")
METHODS = ("plain", "nested fresh", "nested shared")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=200, help="samples per row, a multiple of --chunk (default 200)")
    p.add_argument("--chunk", type=int, default=100, help="samples per batch, a multiple of 10 (default 100)")
    p.add_argument("--config", default="5x20", help="nested outer x inner steps; the plain run makes "
                   "outer*inner steps (default %(default)s, the demo template's)")
    p.add_argument("--sampler", default="euler_ancestral", help="plain and inner sampler (default %(default)s)")
    p.add_argument("--nested-scheduler", default="paper_faithful", help="(default %(default)s)")
    p.add_argument("--plain-scheduler", default="normal", help="(default %(default)s)")
    p.add_argument("--cfg", type=float, default=3.0, help="(default %(default)s)")
    p.add_argument("--threshold", type=float, default=0.2, help="reuse_threshold of both caches "
                   "(default %(default)s, the nodes' default)")
    p.add_argument("--start", type=float, default=0.15, help="start_percent (default %(default)s)")
    p.add_argument("--end", type=float, default=0.95, help="end_percent (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of chunk 0; chunk j uses seed + j (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions of every run, interleaved; CPU "
                   "seconds are their median (default %(default)s)")
    add_results_option(p, __file__)
    opts = p.parse_args()
    opts.outer, opts.inner = (int(v) for v in opts.config.lower().split("x"))
    if opts.chunk % DIGITS or opts.samples % opts.chunk:
        p.error(f"--chunk must be a multiple of {DIGITS} and --samples a multiple of --chunk")
    return opts


def cached_models(model, opts, calls: CacheAwareCalls) -> dict:
    """The model without a cache and through ComfyUI's own EasyCache and LazyCache nodes."""
    from comfy_extras.nodes_easycache import EasyCacheNode, LazyCacheNode

    settings = (opts.threshold, opts.start, opts.end, False)
    return {"none": calls.counted(model), "EasyCache": calls.counted(EasyCacheNode.execute(model, *settings)[0]),
            "LazyCache": calls.counted(LazyCacheNode.execute(model, *settings)[0])}


def run_method(ctx, opts, method: str, model, noise, latent, positive, negative, seed):
    comfy = ctx["comfy"]
    if method == "plain":
        return comfy.sample.sample(model, noise, opts.outer * opts.inner, opts.cfg, opts.sampler,
                                   opts.plain_scheduler, positive, negative, latent, disable_pbar=True, seed=seed)
    sampler = ctx["nested_sampler_object"](opts.sampler, opts.inner, opts.nested_scheduler, 0.0,
                                           fresh_cache_per_inner_run=(method == "nested fresh"))
    sigmas = ctx["outer_sigmas"](ctx["ms"], opts.nested_scheduler, opts.outer)
    return comfy.sample.sample_custom(model, noise, opts.cfg, sampler, sigmas, positive, negative, latent,
                                      disable_pbar=True, seed=seed)


def warm_up(ctx, opts, models) -> None:
    """One small untimed run of every (cache, method), so no timed run pays for first-call setup."""
    comfy = ctx["comfy"]
    latent = comfy.sample.fix_empty_latent_channels(ctx["model"], torch.zeros((DIGITS, 4) + ctx["latent_hw"]))
    positive = batched_conditioning(ctx["conds"], torch.arange(DIGITS))
    noise = comfy.sample.prepare_noise(latent, opts.seed)
    for cache in CACHES:
        for method in METHODS:
            run_method(ctx, opts, method, models[cache], noise, latent, positive, ctx["uncond"], opts.seed)


def measure(ctx, opts, judge) -> dict:
    """{(cache, method): {"calls", "cpu", "latents", "digits"}} over all chunks."""
    comfy, calls = ctx["comfy"], CacheAwareCalls()
    models = cached_models(ctx["model"], opts, calls)
    per = opts.chunk // DIGITS
    results: dict = {}
    warm_up(ctx, opts, models)
    for rep in range(opts.reps):
        for chunk in range(opts.samples // opts.chunk):
            digits = torch.arange(DIGITS).repeat_interleave(per)
            positive = batched_conditioning(ctx["conds"], digits)
            latent = comfy.sample.fix_empty_latent_channels(
                ctx["model"], torch.zeros((opts.chunk, 4) + ctx["latent_hw"]))
            seed = opts.seed + chunk
            noise = comfy.sample.prepare_noise(latent, seed)
            for cache in CACHES:
                for method in METHODS:
                    if cache == "none" and method == "nested shared":
                        continue  # without a cache there is no state to share
                    calls.count, t0 = 0, time.process_time()
                    out = run_method(ctx, opts, method, models[cache], noise, latent, positive, ctx["uncond"], seed)
                    cpu = time.process_time() - t0
                    row = results.setdefault((cache, method), {"calls": 0, "cpu_reps": [0.0] * opts.reps,
                                                               "latents": [], "digits": []})
                    row["cpu_reps"][rep] += cpu
                    if rep == 0:  # the runs are deterministic: later repetitions only time them again
                        row["calls"] += calls.count
                        row["latents"].append(out.to("cpu", torch.float32))
                        row["digits"].append(digits)
            print(f"repetition {rep + 1}/{opts.reps}, chunk {chunk + 1}/{opts.samples // opts.chunk} done", flush=True)
    for row in results.values():
        row["cpu"] = float(torch.tensor(row["cpu_reps"]).median())
        row["latents"] = torch.cat(row["latents"])
        row["digits"] = torch.cat(row["digits"])
        scored = judge.latents(row["latents"])
        row["fid"] = frechet_distance(scored["features"], ctx["real_features"])
        row["accuracy"] = float((scored["logits"].argmax(1) == row["digits"]).double().mean())
    return results


def report(results: dict, opts) -> None:
    head = (f"{'cache':<10} {'method':<14} {'calls made/requested':>21} {'CPU s':>7} {'CPU ratio':>9} "
            f"{'FID-like':>8} {'vs uncached':>11} {'accuracy':>8} {'|x - uncached|':>14}")
    print("\n" + head + "\n" + "-" * len(head))
    for (cache, method), row in results.items():
        base = results[("none", "plain" if method == "plain" else "nested fresh")]
        made = f"{row['calls']}/{base['calls']} ({row['calls'] / base['calls']:.2f})"
        diff = float((row["latents"] - base["latents"]).abs().mean())
        print(f"{cache:<10} {method:<14} {made:>21} {row['cpu']:>7.2f} {row['cpu'] / base['cpu']:>9.2f} "
              f"{row['fid']:>8.2f} {row['fid'] - base['fid']:>+11.2f} {row['accuracy']:>8.3f} {diff:>14.4f}")
    print("\ncalls: diffusion-model forwards summed over all chunks; 'requested' is the same method without a "
          "cache. CPU ratio: against the same method without a cache.")


def main() -> int:
    opts = parse_args()
    printed = Printed()
    demo = comfy_host.open_demo(SCRIPT, opts.threads)
    import comfy.sample

    model, clip, _vae = demo.load_demo()
    judge = Judge(demo)
    test_x, _test_y, _train_x = held_out_real()
    ctx = {
        "comfy": comfy, "model": model,
        "ms": model.get_model_object("model_sampling"),
        "nested_sampler_object": comfy_host.pack_module("nodes.runtime.ksampler_function").nested_sampler_object,
        "outer_sigmas": comfy_host.pack_module("nodes.runtime.comfy_schedules").outer_sigmas,
        "conds": [demo.digit_conditioning(clip, d) for d in range(DIGITS)],
        "uncond": demo.digit_conditioning(clip, None), "latent_hw": demo.latent_hw,
        "real_features": judge.pixels(test_x)["features"],
    }
    print("EasyCache / LazyCache with nested and plain runs on the demo digits model (ComfyUI in-process, CPU)")
    print(f"command: {comfy_host.command_line(SCRIPT)}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; samples {opts.samples}, nested "
          f"{opts.outer}x{opts.inner} ({opts.nested_scheduler}), plain {opts.outer * opts.inner} steps "
          f"({opts.plain_scheduler}), {opts.sampler}, cfg {opts.cfg}; caches: reuse_threshold {opts.threshold}, "
          f"start_percent {opts.start}, end_percent {opts.end}")
    results = measure(ctx, opts, judge)
    report(results, opts)
    write_results(opts.results, {"settings": {k: v for k, v in vars(opts).items() if k != "results"}, "rows": [
        {"cache": cache, "method": method, "calls": row["calls"], "cpu_s": row["cpu"], "fid_like": float(row["fid"]),
         "accuracy": row["accuracy"], "mean_abs_diff_from_uncached": float((row["latents"] - results[
             ("none", "plain" if method == "plain" else "nested fresh")]["latents"]).abs().mean())}
        for (cache, method), row in results.items()]}, printed=printed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
