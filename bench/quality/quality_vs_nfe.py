"""Quality versus model calls (NFE) on the pack's trained demo digits model, through real ComfyUI.

The paper's claim, measured: nested sampling gives a usable image after every outer step, and its
final image is as good as a plain sampler's at the same total NFE. Every method samples the same
requested digits from the same seeds (chunks of ``--chunk`` samples, an equal share of each digit;
chunk j uses seed ``--seed + j`` for the starting noise and the sampler's own noise):

* ``nested NxM``: the pack's nested SAMPLER (``nested_sampler_object``, the SAMPLER the Nested KSampler
  node runs) through ComfyUI's ``comfy.sample.sample_custom``; each outer step's image is a point.
* ``plain x0 preview``: ComfyUI's ``comfy.sample.sample`` (the KSampler path) over ``--preview-steps``
  steps; its x0 prediction (what a sampler preview shows) after each model call is a point.
* ``plain k steps``: a separate KSampler run of k steps for each k in ``--plain-steps`` (what a
  user can do instead when the budget is known in advance). k = the preview run's length is that
  very run's final image (the same call with the same seed), so it is not run twice.

Judge: the demo's digit classifier (``bench/harness/digit_classifier.py``), on the decoded images:
accuracy against the requested digit, mean softmax probability of the requested digit
("confidence"), and the Frechet distance between classifier features of the generated images and
of the held-out real digits ("FID-like"; a bootstrap standard deviation over the generated set is
printed beside it). Reference rows: the held-out real digits themselves, and real training digits
against the held-out ones (the floor of the distance at this sample size).

Run (prints the tables, saves the plot):
  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/quality/quality_vs_nfe.py
  ... --samples 100        a quick run (10 of each digit)
  ... --from-state FILE    tables and plot again from a saved (possibly partial) run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402
from harness.cli_options import nested_configs, step_counts  # noqa: E402
from harness.model_calls import ModelCalls  # noqa: E402
from harness.quality_runs import DIGITS, Judge, batched_conditioning, held_out_real, run_methods  # noqa: E402
from harness.quality_table import Measure, Row, format_pivot, format_table, frechet_distance, plot, row_records  # noqa: E402
from harness.results_file import Printed, results_path, write_results  # noqa: E402

SCRIPT = "quality/quality_vs_nfe.py"
MEASURES = [Measure("accuracy", "accuracy", fraction=True), Measure("confidence", "confidence", fraction=True),
            Measure("fid", "FID-like", "{:.2f}", "lower"), Measure("fid_sd", "FID boot sd", "{:.2f}", "lower")]
PLOTTED = [MEASURES[0], MEASURES[2]]
README_NFE = [4, 10, 20, 40, 60, 80, 100]
BOOTSTRAPS = 20


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=1000, help="samples per point, a multiple of --chunk (default 1000)")
    p.add_argument("--chunk", type=int, default=100, help="samples per batch, a multiple of 10 (default 100)")
    p.add_argument("--configs", default="25x4,10x10,5x20", help="nested outer x inner steps (default %(default)s)")
    p.add_argument("--preview-steps", type=int, default=100, help="steps of the plain run whose x0 previews are "
                   "scored (default 100)")
    p.add_argument("--plain-steps", default="4,8,10,20,40,60,80,100", help="k of the separate plain k-step runs "
                   "(default %(default)s)")
    p.add_argument("--sampler", default="euler_ancestral", help="ComfyUI sampler of the plain runs and of every "
                   "inner run (default %(default)s)")
    p.add_argument("--nested-scheduler", default="paper_faithful", help="outer and inner schedule of the nested "
                   "runs (default %(default)s, the Nested KSampler's default)")
    p.add_argument("--plain-scheduler", default="normal", help="ComfyUI scheduler of the plain runs "
                   "(default %(default)s)")
    p.add_argument("--cfg", type=float, default=3.0, help="guidance scale (default %(default)s)")
    p.add_argument("--unet", help="demo UNet weights file (default: the shipped nodes/demos/digits/unet.safetensors)")
    p.add_argument("--classifier", help="classifier weights file (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0, help="seed of chunk 0; chunk j uses seed + j (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    root = comfy_host.PACK_ROOT
    p.add_argument("--state", default=str(root / "bench" / "out" / "quality_vs_nfe.pt"),
                   help="classifier outputs so far, saved after every chunk (default %(default)s)")
    p.add_argument("--plot", default=str(root / "docs" / "quality_vs_nfe.png"), help="PNG plot (default %(default)s)")
    p.add_argument("--from-state", metavar="FILE", help="no sampling: tables and plot from a saved state")
    p.add_argument("--results", help="figures as JSON (default: bench/results/quality_vs_nfe.json when every point "
                   "has 1,000 samples, none for smaller runs)")
    opts = p.parse_args()
    opts.configs = nested_configs(opts.configs)
    opts.plain_steps = step_counts(opts.plain_steps)
    if opts.chunk % DIGITS or opts.samples % opts.chunk:
        p.error(f"--chunk must be a multiple of {DIGITS} and --samples a multiple of --chunk")
    return opts


def sample_chunk(ctx, opts, chunk: int, record) -> dict:
    """Every method on one chunk; ``record(method, nfe, latents)`` gets each scored image batch.
    Returns (seconds per method, the requested digits)."""
    comfy, model = ctx["comfy"], ctx["model"]
    per = opts.chunk // DIGITS
    digits = torch.arange(DIGITS).repeat_interleave(per)
    positive = batched_conditioning(ctx["conds"], digits)
    negative = ctx["uncond"]
    # An empty 4-channel latent, as Empty Latent Image makes; ComfyUI adapts its channels to the model.
    latent = comfy.sample.fix_empty_latent_channels(model, torch.zeros((opts.chunk, 4) + ctx["latent_hw"]))
    return run_methods(ctx, opts, latent, positive, negative, opts.seed + chunk, record), digits


def rows_from_state(state: dict, opts_nfe_filter=None) -> tuple[list[Row], dict]:
    real = state["real"]
    rows = []
    g = torch.Generator().manual_seed(0)
    for (method, nfe), parts in state["points"].items():
        logits = torch.cat([p["logits"] for p in parts])
        feats = torch.cat([p["features"] for p in parts])
        wanted = torch.cat([p["digits"] for p in parts])
        prob = torch.softmax(logits, dim=1)
        boots = [frechet_distance(feats[torch.randint(len(feats), (len(feats),), generator=g)], real["features"])
                 for _ in range(BOOTSTRAPS)]
        rows.append(Row(method, nfe, {
            "accuracy": float((logits.argmax(1) == wanted).double().mean()),
            "confidence": float(prob.gather(1, wanted[:, None]).double().mean()),
            "fid": frechet_distance(feats, real["features"]),
            "fid_sd": float(torch.tensor(boots).std()),
            "samples": len(wanted),
        }))
    order = list(dict.fromkeys(m for m, _ in state["points"]))
    rows.sort(key=lambda r: (order.index(r.method), r.nfe))
    return rows, real


def verdict(ratio: float) -> str:
    if ratio > 1.05:
        return "more than 5% above plain: the claim fails"
    if ratio >= 0.95:
        return "within 5% of plain: the claim holds"
    return f"{100 * (1 - ratio):.0f}% below (better than) plain: the claim holds"


def report(state: dict, plot_path: Path) -> list[Row]:
    rows, real = rows_from_state(state)
    counts = sorted({r.values["samples"] for r in rows})
    print(f"\nsamples per point: {counts}; settings: {state['settings']}")
    print(format_table(rows, MEASURES))
    print(f"\nreference: held-out real digits ({real['count']}): accuracy {real['accuracy']:.3f}, confidence "
          f"{real['confidence']:.3f}; FID-like of {real['train_count']} real training digits against them: "
          f"{real['floor']:.2f} (the floor at this sample size)")
    plain_final = {r.nfe: r for r in rows if r.method == "plain k steps"}
    print("\nclaim: the nested final image at equal total NFE is within 5% of the plain sampler's FID-like distance")
    for r in rows:
        last = max(x.nfe for x in rows if x.method == r.method)
        if r.method.startswith("nested") and r.nfe == last:
            ref = plain_final.get(r.nfe)
            if ref is None:
                print(f"  {r.method}: final NFE {r.nfe}, no plain run of {r.nfe} steps to compare with")
                continue
            ratio = r.values["fid"] / ref.values["fid"]
            print(f"  {r.method} final (NFE {r.nfe}): FID-like {r.values['fid']:.2f} vs plain {ref.nfe} steps "
                  f"{ref.values['fid']:.2f}: ratio {ratio:.3f} -> {verdict(ratio)}; "
                  f"accuracy {r.values['accuracy']:.3f} vs {ref.values['accuracy']:.3f}")
    for measure in (MEASURES[2], MEASURES[0]):
        print(f"\n{measure.header} by NFE (Markdown, for docs/benchmarks.md):")
        print(format_pivot(rows, measure, [n for n in README_NFE if any(r.nfe == n for r in rows)]))
    refs = {"fid": (real["floor"], "real train vs held-out"), "accuracy": (real["accuracy"], "held-out real digits")}
    title = (f"demo digits model through ComfyUI: {counts[-1]} samples per point, cfg {state['settings']['cfg']}, "
             f"{state['settings']['sampler']}")
    print(f"\nplot: {plot(rows, PLOTTED, plot_path, title, refs)}")
    return rows


def write_figures(opts, state: dict, rows: list[Row], printed: Printed) -> None:
    """The figures of ``report`` as bench/results JSON; small runs write none unless ``--results`` says where."""
    path = results_path(opts.results, __file__, full=min(r.values["samples"] for r in rows) >= 1000)
    real = {k: v for k, v in state["real"].items() if k != "features"}
    figures = {"from_state": opts.from_state, "settings": state["settings"], "real": real,
               "rows": row_records(rows)}
    write_results(path, figures, printed=printed)


def main() -> int:
    opts = parse_args()
    printed = Printed()
    if opts.from_state:
        state = torch.load(opts.from_state, weights_only=False)
        write_figures(opts, state, report(state, Path(opts.plot)), printed)
        return 0
    demo = comfy_host.open_demo(SCRIPT, opts.threads)
    import comfy.sample

    nested_sampler_object = comfy_host.pack_module("nodes.runtime.ksampler_function").nested_sampler_object
    outer_sigmas = comfy_host.pack_module("nodes.runtime.comfy_schedules").outer_sigmas

    model, clip, _vae = demo.load_demo(opts.unet)
    ctx = {
        "comfy": comfy, "model": model, "calls": ModelCalls(model),
        "ms": model.get_model_object("model_sampling"), "nested_sampler_object": nested_sampler_object,
        "outer_sigmas": outer_sigmas, "conds": [demo.digit_conditioning(clip, d) for d in range(DIGITS)],
        "uncond": demo.digit_conditioning(clip, None), "latent_hw": demo.latent_hw,
    }
    judge = Judge(demo, opts.classifier)
    test_x, test_y, train_x = held_out_real()
    real_out = judge.pixels(test_x)
    train_feats = judge.pixels(train_x[:opts.samples])["features"]
    prob = torch.softmax(real_out["logits"], 1)
    real = {"features": real_out["features"], "count": len(test_x), "train_count": len(train_feats),
            "accuracy": float((real_out["logits"].argmax(1) == test_y).double().mean()),
            "confidence": float(prob.gather(1, test_y[:, None]).double().mean()),
            "floor": frechet_distance(train_feats, real_out["features"])}
    settings = {"unet": opts.unet or "shipped", "cfg": opts.cfg, "sampler": opts.sampler,
                "nested_scheduler": opts.nested_scheduler, "plain_scheduler": opts.plain_scheduler,
                "seed": opts.seed, "chunk": opts.chunk,
                "configs": opts.configs, "preview_steps": opts.preview_steps, "plain_steps": opts.plain_steps}
    state = {"points": {}, "real": real, "settings": settings}
    scored_nfe = {n * i for n_outer, n in opts.configs for i in range(1, n_outer + 1)} | set(opts.plain_steps)

    print("Quality versus NFE on the demo digits model (ComfyUI in-process, CPU)")
    print(f"command: {comfy_host.command_line(SCRIPT)}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; {settings}")
    totals: dict = {}
    state_path = Path(opts.state)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for chunk in range(opts.samples // opts.chunk):
        pending = []

        def record(method, nfe, latents):
            if method != "plain x0 preview" or nfe in scored_nfe:
                pending.append((method, nfe, latents))

        seconds, digits = sample_chunk(ctx, opts, chunk, record)
        for method, nfe, latents in pending:
            scored = judge.latents(latents)
            scored["digits"] = digits
            state["points"].setdefault((method, nfe), []).append(scored)
        for k, v in seconds.items():
            totals[k] = totals.get(k, 0.0) + v
        torch.save(state, state_path)
        print(f"chunk {chunk + 1}/{opts.samples // opts.chunk} done at {time.perf_counter() - started:.0f} s; "
              f"seconds per method so far: " + ", ".join(f"{k} {v:.0f}" for k, v in totals.items()), flush=True)
    write_figures(opts, state, report(state, Path(opts.plot)), printed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
