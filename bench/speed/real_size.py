"""Real-size bench: SD 1.5, SDXL and SD3-medium at their true size and usual latent size, nested
against ComfyUI's KSampler at equal model calls. Not a test: it prints figures and asserts nothing.

The models are ComfyUI's own classes with random weights (bench/harness/real_size_models.py); timings and
memory do not depend on the weights. For each model, three child processes of this script, one
model in memory at a time:

* plain:   ComfyUI's ``KSampler`` node function (``nodes.KSampler().sample``), sampler ``euler``,
           scheduler ``normal``, as many steps as the nested run makes model calls;
* nested:  the pack's ``NestedKSampler`` node function (sample_custom with the nested KSAMPLER),
           ``outer x inner`` steps, inner sampler ``euler``, scheduler ``normal``; its model calls
           are planned with ``nested_core.nfe_plan`` (the progress bar's plan) and counted by a
           forward hook, as are the plain run's;
* preview: the cost of one outer step's preview at this latent size: the pack's fallback
           latent2rgb previewer (``outer_step_reporter.latent2rgb_previewer``, what a nested run
           sends when ComfyUI runs with ``--preview-method none``, the default) and ComfyUI's
           ``TAESDPreviewerImpl`` around ``comfy.taesd.taesd.TAESD`` with random weights (what
           ``--preview-method taesd`` sends); each as the sampler thread's decode to a PIL image
           plus the JPEG encode ComfyUI's server does before sending it.

Reported per model: wall and process-CPU time of each run and their ratio nested / plain; the
peak memory each run adds while sampling (Linux RSS high-water mark, reset after the model is
built, or ``torch.cuda.max_memory_allocated`` on CUDA) and the nested run's peak above the plain
run's, in MB and in latents of this size; the preview costs in ms and as a share of one model
call; and the ``outer_step_images`` output (N outer latents) in MB.

Memory: one model at a time. On CPU, SD 1.5 keeps float32 weights (3.4 GB); SDXL (2.6 B
parameters, 10.3 GB in float32) and SD3-medium (2.0 B, 8.3 GB) run with bfloat16 weights and
compute (half that) so that they fit beside other jobs; ``--dtype float32`` overrides. On CUDA the
weight dtype is ComfyUI's own choice (``comfy.model_management.unet_dtype``).

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI nice -n 10 <comfy python> bench/speed/real_size.py
Options: --models sd15,sdxl,sd3  --outer 2 --inner 2  --threads 2  --device cpu|cuda
         --dtype auto|float32|bfloat16|float16  --preview-reps 5  --dit-blocks N (SD3-medium with N of
         its 24 blocks, same width and latent)  --tiny (tiny configs of the same classes: a smoke run)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402
from harness import real_size_models as rsm  # noqa: E402
from harness.model_calls import ModelCalls  # noqa: E402

SCRIPT = "speed/real_size.py"
from harness.cli_options import comma_list  # noqa: E402
from harness.results_file import results_path, write_results  # noqa: E402

SEED = 1234
SCHEDULER = "normal"
INNER_SAMPLER = "euler"
RESULT_TAG = "REAL_SIZE_RESULT "
COLUMNS = ["model", "weights", "latent", "NFE", "plain s", "nested s", "ratio wall", "ratio cpu", "s/call",
           "outside calls s",
           "plain peak MB", "nested-plain MB", "in latents", "latent2rgb ms", "TAESD ms", "TAESD/call %",
           "outer_step_images MB"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="sd15,sdxl,sd3", help="comma separated: sd15, sdxl, sd3 (default %(default)s)")
    p.add_argument("--outer", type=int, default=2, help="nested outer steps (default 2)")
    p.add_argument("--inner", type=int, default=2, help="nested inner steps (default 2)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="weight and compute dtype; auto: see the module docstring")
    p.add_argument("--preview-reps", type=int, default=5,
                   help="timed preview repetitions (median; default 5, 1 with --tiny)")
    p.add_argument("--dit-blocks", type=int, default=None,
                   help="build only this many of SD3-medium's 24 joint blocks (same width and latent; default all)")
    p.add_argument("--tiny", action="store_true", help="tiny configs of the same classes (a smoke run, seconds)")
    p.add_argument("--out", default=str(comfy_host.PACK_ROOT / "bench" / "real_size.out"),
                   help="also write the table here ('' for none)")
    p.add_argument("--results", help="figures as JSON (default: bench/results/real_size.json; none with --tiny)")
    p.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    if opts.tiny and "--preview-reps" not in " ".join(argv if argv is not None else sys.argv):
        opts.preview_reps = 1
    opts.models = comma_list(opts.models)
    unknown = [m for m in opts.models if m not in rsm.REAL]
    if unknown:
        p.error(f"--models: unknown {unknown}; choose from {sorted(rsm.REAL)}")
    if opts.outer < 1 or opts.inner < 1:
        p.error("--outer and --inner must be at least 1")
    return opts


# ---------------------------------------------------------------- child processes

def _rss_mb(field: str) -> float | None:
    """VmRSS / VmHWM of this process in MB (Linux), or None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs 5), so the peak measured is the run's."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


class MemoryPeak:
    """Peak memory a block adds: CUDA allocator peak, or the RSS high-water mark on CPU."""

    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.before = torch.cuda.memory_allocated() / 2**20
        else:
            self.resettable = _reset_rss_peak()
            self.before = _rss_mb("VmRSS")
        return self

    def __exit__(self, *exc):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            self.peak = _rss_mb("VmHWM") if self.resettable else None
        self.added = None if self.peak is None or self.before is None else self.peak - self.before
        return False


def _dtype(opts, spec, torch):
    if opts.dtype != "auto":
        return getattr(torch, opts.dtype)
    if opts.device == "cpu":
        return getattr(torch, spec.cpu_dtype)
    return None  # ComfyUI's choice for the device, below


def _plan(model_patcher, opts) -> int:
    """Model calls of the nested run as the pack plans them (nested_core.nfe_plan with the node's
    own schedules; euler makes one call per step)."""
    schedules = comfy_host.pack_module("nodes.runtime.comfy_schedules")
    core = comfy_host.pack_module("nested_core")
    ms = model_patcher.get_model_object("model_sampling")
    outer = schedules.outer_sigmas(ms, SCHEDULER, opts.outer)
    return core.nfe_plan(outer, schedules.inner_schedule(ms, SCHEDULER, opts.inner), 1).total


def _start_comfy(opts):
    return comfy_host.start(opts.threads, device=opts.device).torch


def child_sample(opts, key: str, mode: str) -> dict:
    torch = _start_comfy(opts)
    import comfy.model_management
    import nodes as comfy_nodes  # ComfyUI's nodes.py

    spec = rsm.spec_for(key, opts.tiny, opts.dit_blocks)
    dtype = _dtype(opts, spec, torch)
    if dtype is None:
        config = rsm.model_config(spec, torch.float32, not opts.tiny)
        dtype = comfy.model_management.unet_dtype(supported_dtypes=config.supported_inference_dtypes)
    patcher, params = rsm.build(spec, dtype, opts.device, not opts.tiny)
    timer = ModelCalls(patcher, opts.device)
    positive, negative = rsm.conditioning(spec, 1), rsm.conditioning(spec, 2)
    latent = {"samples": torch.zeros((1,) + spec.latent)}
    planned = _plan(patcher, opts)
    outer_mb = None
    with MemoryPeak(opts.device) as mem:
        wall, cpu = time.perf_counter(), time.process_time()
        if mode == "plain":
            (out,) = comfy_nodes.KSampler().sample(patcher, SEED, planned, spec.cfg, INNER_SAMPLER, SCHEDULER,
                                                   positive, negative, latent)
        else:
            nested = comfy_host.pack_module("nodes.declarations.nested_ksampler").NestedKSampler()
            out, outer_images = nested.sample(patcher, SEED, opts.outer, opts.inner, spec.cfg, INNER_SAMPLER,
                                              SCHEDULER, positive, negative, latent)
            outer_mb = outer_images["samples"].nbytes / 2**20
        if opts.device == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    samples = out["samples"]
    return {
        "model": spec.title, "mode": mode, "params": params, "weights": str(dtype).replace("torch.", ""),
        "latent": "x".join(map(str, spec.latent)), "planned": planned, "calls": timer.count,
        "wall": wall, "cpu": cpu, "model_s": timer.seconds, "peak_mb": mem.peak, "added_mb": mem.added,
        "finite": bool(torch.isfinite(samples).all()), "outer_images_mb": outer_mb,
        "latent_mb": rsm.latent_mb(spec), "device": opts.device,
        "device_name": torch.cuda.get_device_name() if opts.device == "cuda" else "cpu",
    }


def _median_ms(fn, reps: int, device: str) -> float:
    import torch

    fn()  # warm-up: first-call allocation and kernel selection
    times = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _jpeg_ms(image, reps: int) -> float:
    """The server's encode of a preview before sending it (server.PromptServer.send_image)."""
    from io import BytesIO

    from PIL import Image, ImageOps

    import latent_preview

    limit = getattr(latent_preview, "MAX_PREVIEW_RESOLUTION", 512)

    def encode():
        small = ImageOps.contain(image, (limit, limit), Image.Resampling.BILINEAR)
        small.save(BytesIO(), format="JPEG", quality=95, compress_level=1)

    return _median_ms(encode, reps, "cpu")


def child_preview(opts, key: str) -> dict:
    torch = _start_comfy(opts)
    import comfy.model_management
    import comfy.supported_models
    import comfy.taesd.taesd
    import latent_preview

    spec = rsm.spec_for(key, opts.tiny, opts.dit_blocks)
    device = comfy.model_management.get_torch_device()
    latent_format = getattr(comfy.supported_models, spec.supported).latent_format()
    x0 = torch.randn((1,) + spec.latent, generator=torch.Generator().manual_seed(3)).to(device)
    reporter = comfy_host.pack_module("nodes.previews.outer_step_reporter")
    l2rgb = reporter.latent2rgb_previewer(latent_format)
    taesd = comfy.taesd.taesd.TAESD(None, None, latent_channels=latent_format.latent_channels)
    rsm.fill_weights(taesd)
    taesd_preview = latent_preview.TAESDPreviewerImpl(taesd.to(device))
    out = {"model": spec.title, "mode": "preview"}
    for name, previewer in (("latent2rgb", l2rgb), ("taesd", taesd_preview)):
        decode = lambda p=previewer: p.decode_latent_to_preview_image("JPEG", x0)  # noqa: E731
        with torch.no_grad():
            out[name + "_ms"] = _median_ms(decode, opts.preview_reps, opts.device)
            image = decode()[1]
        out[name + "_jpeg_ms"] = _jpeg_ms(image, opts.preview_reps)
        out[name + "_size"] = list(image.size)
    return out


# ---------------------------------------------------------------- parent: one child per run

def run_in_process(opts, key: str, mode: str) -> dict:
    """--tiny: the same child functions in this process (a smoke run; imports once, not 3x per model)."""
    result = child_preview(opts, key) if mode == "preview" else child_sample(opts, key, mode)
    return json.loads(json.dumps(result))


def run_child(opts, key: str, mode: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", key, mode, "--outer", str(opts.outer),
           "--inner", str(opts.inner), "--threads", str(opts.threads), "--device", opts.device,
           "--dtype", opts.dtype, "--preview-reps", str(opts.preview_reps)] + (["--tiny"] if opts.tiny else [])
    if opts.dit_blocks is not None:
        cmd += ["--dit-blocks", str(opts.dit_blocks)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    raise RuntimeError(f"{key} {mode} child failed (exit {proc.returncode}):\n{tail}")


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def row(plain: dict, nested: dict, preview: dict) -> dict:
    """One table row from the three children's results."""
    per_call = plain["model_s"] / plain["calls"] if plain["calls"] else float("nan")
    extra = (None if nested["added_mb"] is None or plain["added_mb"] is None
             else nested["added_mb"] - plain["added_mb"])
    taesd_total = preview["taesd_ms"] + preview["taesd_jpeg_ms"]
    return {
        "model": nested["model"], "weights": nested["weights"], "latent": nested["latent"],
        "NFE": f"{plain['calls']} / {nested['calls']}" + ("" if plain["calls"] == nested["calls"] == nested["planned"]
                                                            else f" (planned {nested['planned']})"),
        "plain s": _fmt(plain["wall"], 1), "nested s": _fmt(nested["wall"], 1),
        "ratio wall": _fmt(nested["wall"] / plain["wall"], 3), "ratio cpu": _fmt(nested["cpu"] / plain["cpu"], 3),
        "s/call": _fmt(per_call, 2),
        "outside calls s": f"{_fmt(plain['wall'] - plain['model_s'])} / {_fmt(nested['wall'] - nested['model_s'])}",
        "plain peak MB": _fmt(plain["added_mb"], 0), "nested-plain MB": _fmt(extra, 0),
        "in latents": _fmt(None if extra is None else extra / nested["latent_mb"], 1),
        "latent2rgb ms": f"{preview['latent2rgb_ms']:.1f}+{preview['latent2rgb_jpeg_ms']:.1f}",
        "TAESD ms": f"{preview['taesd_ms']:.0f}+{preview['taesd_jpeg_ms']:.0f}",
        "TAESD/call %": _fmt(100 * taesd_total / 1000 / per_call, 2),
        "outer_step_images MB": f"{nested['outer_images_mb']:.2f} ({nested['latent_mb']:.2f}/step)",
    }


def table(rows: list[dict]) -> str:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in COLUMNS}
    lines = ["| " + " | ".join(c.ljust(widths[c]) for c in COLUMNS) + " |",
             "|" + "|".join("-" * (widths[c] + 2) for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(r[c].ljust(widths[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def host_line() -> str:
    host_env = comfy_host.host_env()
    try:
        version = host_env.host_version()
    except (OSError, TypeError, ValueError):
        version = "unknown"
    return f"ComfyUI {version} at {host_env.COMFYUI_PATH}"


def main(argv=None) -> int:
    opts = parse_args(argv)
    if not os.environ.get("COMFYUI_PATH"):
        comfy_host.require_comfy(SCRIPT)
    if opts.child:
        key, mode = opts.child
        result = child_preview(opts, key) if mode == "preview" else child_sample(opts, key, mode)
        print(RESULT_TAG + json.dumps(result), flush=True)
        return 0

    rows, notes, raw = [], [], []
    for key in opts.models:
        runs = {}
        for mode in ("plain", "nested", "preview"):
            print(f"[{time.strftime('%H:%M:%S')}] {key} {mode} ...", file=sys.stderr, flush=True)
            runs[mode] = (run_in_process if opts.tiny else run_child)(opts, key, mode)
        for mode in ("plain", "nested"):
            if not runs[mode]["finite"]:
                notes.append(f"{key} {mode}: output has non-finite values")
        rows.append(row(runs["plain"], runs["nested"], runs["preview"]))
        raw += [runs["plain"], runs["nested"], runs["preview"]]
        p = runs["preview"]
        notes.append(f"{runs['nested']['model']}: {runs['nested']['params'] / 1e6:.0f} M parameters; "
                     f"previews {p['latent2rgb_size'][0]}x{p['latent2rgb_size'][1]} (latent2rgb), "
                     f"{p['taesd_size'][0]}x{p['taesd_size'][1]} (TAESD) before the server's downscale")
    device = runs["nested"]["device_name"] if rows else opts.device
    text = "\n".join([
        f"# bench/{SCRIPT}{' --tiny' if opts.tiny else ''}: nested {opts.outer}x{opts.inner} "
        f"(inner {INNER_SAMPLER}, {SCHEDULER}) vs KSampler {INNER_SAMPLER} at equal NFE",
        f"# host: {host_line()}; device: {device}; torch threads: {opts.threads}",
        f"# command: {comfy_host.command_line(SCRIPT)}",
        "", table(rows), "", *(f"- {n}" for n in notes),
        "- NFE: plain / nested model calls counted by a forward hook (a CFG pair is one call).",
        "- ratio cpu: process CPU time (all threads), less disturbed than wall time by other load on the machine; "
        "s/call: the plain run's wall time per model call; outside calls s: plain / nested wall time spent "
        "outside model calls (sampler, the nested run's per-outer-step latent2rgb preview, output copies).",
        "- peak MB: memory added while sampling (RSS high-water mark on CPU, CUDA allocator peak on CUDA); "
        "nested-plain is the nested run's minus the plain run's, 'in latents' divides it by one latent.",
        "- latent2rgb / TAESD ms: decode to an image in the sampler thread + JPEG encode in the server; "
        "TAESD/call % is both as a share of one model call.",
    ])
    print(text)
    if opts.out:
        raw_lines = "\n".join("# raw " + json.dumps(r) for r in raw)
        Path(opts.out).write_text(text + "\n\n" + raw_lines + "\n", encoding="utf-8")
    write_results(results_path(opts.results, __file__, full=not opts.tiny),
                  {"table": text.splitlines(), "runs": raw}, argv=[f"bench/{SCRIPT}", *(argv or sys.argv[1:])],
                  host=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
