"""Quality versus model calls (NFE) on the pack's trained video demo model, through real ComfyUI.

The video counterpart of ``quality_vs_nfe.py``, with the same methods (``harness/quality_runs.py``):
every method samples the same requested clips (digit ``i % 10`` moving in direction ``(i // 10) % 4``
for clip ``i``) from the same seeds (chunk j of ``--chunk`` clips uses seed ``--seed + j`` for the
starting noise and the sampler's own noise):

* ``nested NxM``: the pack's nested SAMPLER through ComfyUI's ``comfy.sample.sample_custom``, with
  the paper's outer step (``outer_noise`` ddim); each outer step's clip is a point.
  ``nested NxM fresh``: the same with ``outer_noise`` fresh (``--outer-noise`` picks which run).
* ``plain x0 preview``: ComfyUI's ``comfy.sample.sample`` (the KSampler path) over ``--preview-steps``
  steps; its x0 prediction (what a sampler preview shows) after each model call is a point.
* ``plain k steps``: a separate KSampler run of k steps for each k in ``--plain-steps``; k = the
  preview run's length is that run's own final clip.

Judge: ``bench/harness/video_judge.py`` (the digit classifier (the bench's judge) on every frame, around the digit):
clip accuracy (the clip's majority label is the requested digit), agreement (the fraction of frames
with the clip's majority label), direction accuracy, flicker and jerk (temporal smoothness; real
clips score about 0), and Frechet distances of frame features and of clip features to held-out
real clips, with the same distances of real training clips as the floor at this sample size.

Run (prints the table; writes the plot, the Markdown table into docs/video-evidence.md between its
markers, and the animated filmstrip of chunk 0):
  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/quality/video_quality.py
  ... --clips 100           a smaller run
  ... --quick --clips 8     a smoke run (2x3 and 3x2 nested, 6 preview steps) for the tests
  ... --from-state FILE     tables, plot and Markdown again from a saved run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host, video_filmstrip, video_judge  # noqa: E402
from harness.cli_options import comma_list, nested_configs, step_counts  # noqa: E402
from harness.model_calls import SamplerCalls  # noqa: E402
from harness.quality_runs import batched_conditioning, nested_method, run_methods  # noqa: E402
from harness.quality_table import Measure, Row, format_pivot, format_table, frechet_distance, plot, row_records  # noqa: E402
from harness.results_file import Printed, clean, host_version, results_path, write_results  # noqa: E402

SCRIPT = "quality/video_quality.py"
DIGITS, DIRECTIONS = 10, 4
MEASURES = [Measure("accuracy", "accuracy", fraction=True), Measure("agreement", "agreement", fraction=True),
            Measure("one_digit", "one digit", fraction=True),
            Measure("direction", "direction ok", fraction=True), Measure("flicker", "flicker", "{:.4f}", "lower"),
            Measure("jerk", "jerk px", "{:.3f}", "lower"), Measure("fd_frame", "FD frames", "{:.1f}", "lower"),
            Measure("fd_clip", "FD clips", "{:.1f}", "lower")]
BY_KEY = {m.key: m for m in MEASURES}
PLOTTED = [BY_KEY["accuracy"], BY_KEY["fd_frame"], BY_KEY["fd_clip"]]
PIVOTED = ["fd_clip", "fd_frame", "accuracy", "agreement", "jerk"]
REFERENCE_CLIPS = 1000
MARK_START = "<!-- video_quality.py: table start -->"
MARK_END = "<!-- video_quality.py: table end -->"
ROOT = comfy_host.PACK_ROOT


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=500, help="clips per point, a multiple of --chunk (default 500)")
    p.add_argument("--chunk", type=int, default=100, help="clips per batch, a multiple of 10 (default 100)")
    p.add_argument("--configs", default="5x20,10x10", help="nested outer x inner steps (default %(default)s)")
    p.add_argument("--preview-steps", type=int, default=100, help="steps of the plain run whose x0 previews are "
                   "scored (default 100)")
    p.add_argument("--plain-steps", default="10,20,40,100", help="k of the plain k-step runs (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="a smoke run: nested 2x3 and 3x2, 6 preview steps, "
                   "plain 2,3,6 steps (overrides the three options above)")
    p.add_argument("--sampler", default="euler", help="ComfyUI sampler of the plain runs and of every inner run "
                   "(default %(default)s)")
    p.add_argument("--nested-scheduler", default="paper_faithful", help="outer and inner schedule of the nested "
                   "runs (default %(default)s)")
    p.add_argument("--outer-noise", default="ddim,fresh",
                   help="outer steps of each nested configuration, comma-separated: ddim (the paper's) and/or "
                        "fresh (default %(default)s)")
    p.add_argument("--plain-scheduler", default="simple", help="ComfyUI scheduler of the plain runs "
                   "(default %(default)s)")
    p.add_argument("--cfg", type=float, default=2.0,
                   help="guidance scale (default %(default)s: the video demo template's)")
    p.add_argument("--weights", help="video demo weights file (default: the shipped "
                   "nodes/demos/video/wan_digits.safetensors)")
    p.add_argument("--seed", type=int, default=0, help="seed of chunk 0; chunk j uses seed + j (default 0)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--state", default=str(ROOT / "bench" / "out" / "video_quality.pt"),
                   help="judged clips so far, saved after every chunk (default %(default)s)")
    p.add_argument("--plot", default=str(ROOT / "docs" / "video_quality_vs_nfe.png"),
                   help="PNG plot (needs matplotlib); empty: none (default %(default)s)")
    p.add_argument("--markdown", default=str(ROOT / "docs" / "video-evidence.md"),
                   help="Markdown page whose table (between its markers) is rewritten (default %(default)s)")
    p.add_argument("--filmstrip", default=str(ROOT / "docs" / "video_filmstrip.webp"),
                   help="animated WebP of chunk 0 (a .gif beside it); empty: none (default %(default)s)")
    p.add_argument("--from-state", metavar="FILE", help="no sampling: table, plot and Markdown from a saved state")
    p.add_argument("--results", help="figures as JSON (default: bench/results/video_quality.json for runs of 500 "
                   "or more clips per point and for --from-state; otherwise none)")
    opts = p.parse_args()
    if opts.quick:
        opts.configs, opts.preview_steps, opts.plain_steps = "2x3,3x2", 6, "2,3,6"
    opts.configs = nested_configs(opts.configs)
    opts.plain_steps = step_counts(opts.plain_steps)
    opts.outer_noise = comma_list(opts.outer_noise)
    if not opts.outer_noise or not set(opts.outer_noise) <= {"ddim", "fresh"}:
        p.error(f"--outer-noise takes ddim and/or fresh, comma-separated; got {','.join(opts.outer_noise)!r}")
    if opts.chunk > opts.clips:
        opts.chunk = opts.clips
    if opts.chunk % DIGITS or opts.clips % opts.chunk:
        p.error(f"--chunk must be a multiple of {DIGITS} and --clips a multiple of --chunk")
    return opts


def requests(first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(digits, directions) asked of clips first .. first + count - 1."""
    i = torch.arange(first, first + count)
    return i % DIGITS, (i // DIGITS) % DIRECTIONS


def sample_chunk(ctx, opts, chunk: int, record) -> tuple:
    """Every method on one chunk; ``record(method, nfe, latents)`` gets every scored clip batch.
    Returns (seconds per method, requested digits, requested directions)."""
    comfy, model = ctx["comfy"], ctx["model"]
    digits, directions = requests(chunk * opts.chunk, opts.chunk)
    positive = batched_conditioning(ctx["conds"], digits * DIRECTIONS + directions)
    # A zero 16-channel latent, as Empty HunyuanVideo Latent makes; ComfyUI adapts its channels to the model.
    latent = comfy.sample.fix_empty_latent_channels(model, torch.zeros((opts.chunk, 16) + ctx["latent_thw"]))
    seconds = run_methods(ctx, opts, latent, positive, ctx["uncond"], opts.seed + chunk, record)
    return seconds, digits, directions


def measures(judged: video_judge.Judged, wanted, directions, real: dict) -> dict:
    values = video_judge.summary(judged, wanted, directions)
    values["fd_frame"] = frechet_distance(judged.features.flatten(0, 1), real["frame_features"])
    values["fd_clip"] = frechet_distance(judged.clip_features(real["motion_scale"]), real["clip_features"])
    return values


def rows_from_state(state: dict) -> list[Row]:
    rows = []
    for (method, nfe), parts in state["points"].items():
        judged = video_judge.cat([video_judge.Judged(**p["judged"]) for p in parts])
        wanted = torch.cat([p["digits"] for p in parts])
        directions = torch.cat([p["directions"] for p in parts])
        rows.append(Row(method, nfe, measures(judged, wanted, directions, state["real"])))
    order = list(dict.fromkeys(m for m, _ in state["points"]))
    rows.sort(key=lambda r: (order.index(r.method), r.nfe))
    return rows


def markdown(rows: list[Row], state: dict) -> str:
    real, settings = state["real"], state["settings"]
    counts = sorted({r.values["clips"] for r in rows})
    nested_nfe = sorted({r.nfe for r in rows if r.method.startswith("nested")})
    lines = [f"Clips per point: {', '.join(map(str, counts))}; {settings['summary']}.", ""]
    for key in PIVOTED:
        lines += [f"**{BY_KEY[key].header}** ({BY_KEY[key].better} is better) by model calls:", "",
                  format_pivot(rows, BY_KEY[key], nested_nfe), ""]
    ref = real["reference"]
    lines += [f"Real clips: {real['count']} held-out clips are the reference; {ref['clips']} real training clips "
              f"score FD frames {ref['fd_frame']:.1f} and FD clips {ref['fd_clip']:.1f} against them (the floor at "
              f"this sample size), accuracy {ref['accuracy']:.3f}, agreement {ref['agreement']:.3f}, direction "
              f"{ref['direction']:.3f}, flicker {ref['flicker']:.4f}, jerk {ref['jerk']:.3f} px.", "",
              "Every point (from the same run):", "", "```text", format_table(rows, MEASURES), "```", "",
              f"Command: `{clean(settings['command'])}`"]
    return "\n".join(lines)


def write_markdown(path: Path, text: str) -> None:
    block = f"{MARK_START}\n{text}\n{MARK_END}"
    page = path.read_text(encoding="utf-8") if path.is_file() else f"# Video evidence\n\n{MARK_START}\n{MARK_END}\n"
    if MARK_START not in page or MARK_END not in page:
        raise SystemExit(f"{path} lacks the markers {MARK_START} / {MARK_END} that say where the table goes")
    head, rest = page.split(MARK_START, 1)
    path.write_text(head + block + rest.split(MARK_END, 1)[1], encoding="utf-8")


def report(state: dict, opts) -> list[Row]:
    rows = rows_from_state(state)
    print(f"\nclips per point: {sorted({r.values['clips'] for r in rows})}; {state['settings']['summary']}")
    print(format_table(rows, MEASURES))
    ref = state["real"]["reference"]
    print(f"\nreference: {ref['clips']} real training clips against {state['real']['count']} held-out clips: "
          + ", ".join(f"{BY_KEY[k].header} {BY_KEY[k].fmt.format(ref[k])}" for k in BY_KEY))
    text = markdown(rows, state)
    write_markdown(Path(opts.markdown), text)
    print(f"\nMarkdown table written into {opts.markdown}")
    if not opts.plot:
        return rows
    floor = "real train vs held-out"
    refs = {"fd_frame": (ref["fd_frame"], floor), "fd_clip": (ref["fd_clip"], floor),
            "accuracy": (ref["accuracy"], "real clips")}
    title = f"video demo (WAN 2.1 class) through ComfyUI: {rows[0].values['clips']} clips per point, " \
            f"cfg {state['settings']['cfg']}, {state['settings']['sampler']}"
    print(f"plot: {plot(rows, PLOTTED, Path(opts.plot), title, refs)}")
    return rows


def write_figures(state: dict, rows: list[Row], opts, printed: Printed) -> None:
    """The table's figures, the reference's and the sampling run's settings, as JSON (quick runs:
    only with ``--results``)."""
    full = bool(opts.from_state) or min(r.values["clips"] for r in rows) >= 500
    write_results(results_path(opts.results, __file__, full),
                  {"sampling_run": state["settings"], "rows": row_records(rows),
                   "reference": state["real"]["reference"]},
                  printed=printed, host=None if not opts.from_state else False)


def real_reference(judge, n_compare: int) -> dict:
    clips = judge.clips
    held, _, _ = clips.real_clips("held_out", REFERENCE_CLIPS, seed=1)
    real = judge.judge(held)
    scale = video_judge.motion_scale(real)
    train, train_y, train_d = clips.real_clips("train", n_compare, seed=2)
    info = {"frame_features": real.features.flatten(0, 1), "clip_features": real.clip_features(scale),
            "motion_scale": scale, "count": REFERENCE_CLIPS}
    info["reference"] = measures(judge.judge(train), train_y, train_d, info)
    return info


def main() -> int:
    opts = parse_args()
    printed = Printed()
    if opts.from_state:
        state = torch.load(opts.from_state, weights_only=False)
        write_figures(state, report(state, opts), opts, printed)
        return 0
    comfy_host.require_comfy(SCRIPT)
    comfy_host.start(opts.threads)
    import comfy.sample

    video_model = comfy_host.pack_module("nodes.demos.video.video_model")
    from harness import digit_classifier
    from harness import digit_clips_data as clips_module

    judge = video_judge.VideoJudge(digit_classifier, clips_module)
    model, clip, _vae = video_model.load_video_demo(opts.weights)
    model = model.clone()
    ctx = {
        "comfy": comfy, "model": model, "calls": SamplerCalls(model),
        "ms": model.get_model_object("model_sampling"),
        "nested_sampler_object": comfy_host.pack_module("nodes.runtime.ksampler_function").nested_sampler_object,
        "outer_sigmas": comfy_host.pack_module("nodes.runtime.comfy_schedules").outer_sigmas,
        "conds": [video_model.clip_conditioning(clip, d, r) for d in range(DIGITS) for r in range(DIRECTIONS)],
        "uncond": video_model.clip_conditioning(clip, None),
        "latent_thw": (clips_module.FRAMES, clips_module.CANVAS, clips_module.CANVAS),
    }
    command = comfy_host.command_line(SCRIPT)
    configs = ", ".join(f"{a}x{b}" for a, b in opts.configs)
    settings = {"weights": opts.weights or "shipped", "cfg": opts.cfg, "sampler": opts.sampler, "command": command,
                "host": f"ComfyUI {host_version(True)}",
                "summary": f"nested {configs} ({opts.nested_scheduler}), plain {opts.plain_scheduler} "
                           f"{opts.preview_steps}-step preview and {opts.plain_steps} steps; {opts.sampler}, "
                           f"cfg {opts.cfg}, seeds {opts.seed}..{opts.seed + opts.clips // opts.chunk - 1}"}
    print("Quality versus NFE on the video demo model (ComfyUI in-process, CPU)")
    print(f"command: {command}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; {settings['summary']}", flush=True)
    state = {"points": {}, "real": real_reference(judge, opts.clips), "settings": settings}
    scored_nfe = {n * i for _, n in opts.configs for i in range(1, _ + 1)} | set(opts.plain_steps)
    state_path = Path(opts.state)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    totals: dict = {}
    started = time.perf_counter()
    for chunk in range(opts.clips // opts.chunk):
        pending = []

        def record(method, nfe, latents):
            if method != "plain x0 preview" or nfe in scored_nfe:
                pending.append((method, nfe, latents))

        seconds, digits, directions = sample_chunk(ctx, opts, chunk, record)
        if chunk == 0 and opts.filmstrip:
            shown = nested_method(*opts.configs[0], opts.outer_noise[-1])
            for path in video_filmstrip.save(pending, shown, Path(opts.filmstrip), digits, directions,
                                             clips_module):
                print(f"filmstrip: {path} ({path.stat().st_size // 1024} KiB)")
        for method, nfe, latents in pending:
            state["points"].setdefault((method, nfe), []).append(
                {"judged": vars(judge.judge(latents)), "digits": digits, "directions": directions})
        for k, v in seconds.items():
            totals[k] = totals.get(k, 0.0) + v
        torch.save(state, state_path)
        print(f"chunk {chunk + 1}/{opts.clips // opts.chunk} done at {time.perf_counter() - started:.0f} s; "
              f"seconds per method so far: " + ", ".join(f"{k} {v:.0f}" for k, v in totals.items()), flush=True)
    write_figures(state, report(state, opts), opts, printed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
