"""Cost of the draft clip a video run makes after every outer step (nodes/previews/outer_step_clip.py):
decode all frames + bound the size + encode the animated WebP + write it, in ms, and as a share
of the outer step's own time.

* tiny video model: the tests' one-block WAN 2.1 from ComfyUI's classes
  (tests/helpers/tiny_models.py) on a ``--tiny-latent`` latent, nested ``--outer`` x
  ``--inner`` with euler. The outer step's time is the median of the gaps between outer-step
  callbacks of runs without clips; the clip's time is the median of clip calls on the finished
  latents of those runs. (The trained video demo model, when present, is a few blocks bigger:
  its outer steps are longer, so its share is smaller than this one's.)
* WAN 2.1 480p size: a 1x16x21x60x104 latent (832x480, 81 frames) with the Wan21 format's
  latent2rgb tables; a "smooth" latent (trilinear upsampling of coarse noise, like a real
  latent's frames) and white noise (the worst case for the encoder).
* ``--tae``: the same with ComfyUI's video TAE (TAEHV, lighttaew2_1 architecture, seeded
  weights: a real decoder costs the same) on hosts that have it (0.3.76+), at ``--tae-latent``.

Medians over ``--reps`` after one warm-up; wall clock. Prints one line per figure.

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/speed/clip_cost.py
Options: --reps 7 --threads 1 --outer 5 --inner 20 --tiny-latent 8x16x16 --tae --tae-latent 5x30x52
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402
from harness.results_file import Printed, add_results_option, write_results  # noqa: E402

SCRIPT = "speed/clip_cost.py"


def shape(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split("x"))


def median_ms(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def clip_parts(clip_module, decoder, latent, reps: int, folder: str, exact: bool) -> dict[str, float]:
    """decode / encode+write / total ms of one outer step's clip of ``latent`` (model space)."""
    frames = decoder.frames(latent)
    bounded = clip_module.bounded(frames, 512)
    path = str(Path(folder) / "bench.webp")
    fps = 4.0
    decode = median_ms(lambda: clip_module.bounded(decoder.frames(latent), 512), reps)
    encode = median_ms(lambda: clip_module.write_webp(bounded, path, fps, exact=exact), reps)
    size = Path(path).stat().st_size
    return {"decode": decode, "encode": encode, "total": decode + encode, "frames": frames.shape[0],
            "size": tuple(bounded.shape[1:3]), "bytes": size}


def tiny_model_figures(args, clip_module, reporter_module, folder: str) -> None:
    import torch

    import comfy.sample
    import comfy.samplers

    from tiny_models import VIDEO_CHANNELS, build_tiny_video_model, tiny_conditioning

    sampler = comfy_host.pack_module("nodes.runtime.ksampler_function").nested_sampler_object(
        "euler", args.inner, "normal", 0.0)
    model = build_tiny_video_model()
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", args.outer)
    frames, height, width = shape(args.tiny_latent)
    latent = torch.zeros(1, VIDEO_CHANNELS, frames, height, width)

    def timed_run(seed: int) -> tuple[list[float], torch.Tensor]:
        """Gaps between outer-step callbacks (no clip is made: no client), and the last x0."""
        stamps, last = [time.perf_counter()], []

        def callback(step, x0, x, total):
            stamps.append(time.perf_counter())
            last[:] = [x0]

        noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(seed))
        comfy.sample.sample_custom(model, noise, 3.0, sampler, sigmas, tiny_conditioning(1),
                                   tiny_conditioning(zero=True), latent, callback=callback, disable_pbar=True)
        return [b - a for a, b in zip(stamps, stamps[1:])], last[0]

    timed_run(0)  # warm-up
    gaps = []
    for rep in range(args.reps):
        run_gaps, x0 = timed_run(rep + 1)
        gaps.extend(run_gaps[1:])  # the first gap also holds the run's setup
    step_ms = 1000 * statistics.median(gaps)
    fmt = model.get_model_object("latent_format")
    decoder = clip_module.ClipDecoder(fmt, reporter_module.latent2rgb_previewer(fmt))
    parts = clip_parts(clip_module, decoder, x0, args.reps, folder, exact=True)
    print(f"tiny WAN (1 block, dim 32), latent 1x{VIDEO_CHANNELS}x{args.tiny_latent}, nested {args.outer}x"
          f"{args.inner} euler: outer step {step_ms:.1f} ms (median of {len(gaps)})")
    print(f"  clip latent2rgb: {parts['frames']} frames {parts['size'][1]}x{parts['size'][0]}: decode "
          f"{parts['decode']:.2f} ms + encode/write {parts['encode']:.2f} ms = {parts['total']:.2f} ms "
          f"= {100 * parts['total'] / step_ms:.2f}% of the outer step ({parts['bytes']} bytes)")


def wan480_figures(args, clip_module, reporter_module, folder: str) -> None:
    import torch
    import torch.nn.functional as F

    import comfy.latent_formats

    fmt = comfy.latent_formats.Wan21()
    decoder = clip_module.ClipDecoder(fmt, reporter_module.latent2rgb_previewer(fmt))
    g = torch.Generator().manual_seed(0)
    size = (21, 60, 104)
    coarse = torch.randn(1, 16, 6, 8, 13, generator=g)
    latents = {
        "smooth": F.interpolate(coarse, size=size, mode="trilinear", align_corners=False) * 2,
        "white noise": torch.randn(1, 16, *size, generator=g),
    }
    for name, latent in latents.items():
        parts = clip_parts(clip_module, decoder, latent, args.reps, folder, exact=True)
        print(f"WAN 2.1 480p latent 1x16x21x60x104 ({name}), latent2rgb: {parts['frames']} frames "
              f"{parts['size'][1]}x{parts['size'][0]}: decode {parts['decode']:.1f} ms + encode/write "
              f"{parts['encode']:.1f} ms = {parts['total']:.1f} ms ({parts['bytes']} bytes)")


def tae_figures(args, clip_module, folder: str) -> None:
    import torch

    import comfy.sd

    from tiny_models import tiny_video_tae_decoder

    decoder_sd = tiny_video_tae_decoder(0)
    if decoder_sd is None:
        print("video TAE: this ComfyUI has no TAEHV (0.3.76+); its clips use latent2rgb")
        return
    tae = comfy.sd.VAE(sd=decoder_sd)

    class TaeDecoder:  # ClipDecoder's TAE branch, on this TAE
        def frames(self, x0):
            with torch.no_grad():
                return (tae.decode(x0.float())[0].clamp(0, 1) * 255).to(torch.uint8).cpu()

    frames, height, width = shape(args.tae_latent)
    latent = torch.randn(1, 16, frames, height, width, generator=torch.Generator().manual_seed(0))
    parts = clip_parts(clip_module, TaeDecoder(), latent, max(1, args.reps // 3), folder, exact=False)
    print(f"video TAE (lighttaew2_1 shape), latent 1x16x{args.tae_latent}: {parts['frames']} frames "
          f"{parts['size'][1]}x{parts['size'][0]}: decode {parts['decode']:.0f} ms + encode/write "
          f"{parts['encode']:.0f} ms = {parts['total']:.0f} ms ({parts['bytes']} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--outer", type=int, default=5)
    parser.add_argument("--inner", type=int, default=20)
    parser.add_argument("--tiny-latent", default="8x16x16", help="frames x height x width of the tiny model's latent")
    parser.add_argument("--tae", action="store_true", help="also time the video TAE (0.3.76+)")
    parser.add_argument("--tae-latent", default="5x30x52")
    add_results_option(parser, __file__)
    args = parser.parse_args()
    printed = Printed()
    comfy_host.require_comfy(SCRIPT)
    comfy_host.use_test_helpers()  # tests/helpers: tiny_models
    comfy_host.start(args.threads)
    clip_module = comfy_host.pack_module("nodes.previews.outer_step_clip")
    reporter_module = comfy_host.pack_module("nodes.previews.outer_step_reporter")
    print(f"ComfyUI {comfy_host.host_env().host_version()}, torch threads {args.threads}")
    with tempfile.TemporaryDirectory() as folder:
        tiny_model_figures(args, clip_module, reporter_module, folder)
        wan480_figures(args, clip_module, reporter_module, folder)
        if args.tae:
            tae_figures(args, clip_module, folder)
    write_results(args.results, {"settings": {k: v for k, v in vars(args).items() if k != "results"},
                                 "figures": "the printed lines (ms; share of an outer step)"}, printed=printed)


if __name__ == "__main__":
    main()
