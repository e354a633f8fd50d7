"""What the quality benches on the demo models share: the methods they compare (nested
configurations, a plain run's x0 previews, plain k-step runs, all from the same noise), one
CONDITIONING batch of requested digits, the digit judge on latents and the held-out real digits.

Used by quality/quality_vs_nfe.py, quality/cache_effect.py and quality/video_quality.py.
"""

from __future__ import annotations

import time

import torch

DIGITS = 10


class Judge:
    """The demo's digit classifier on generated latents: logits and Frechet features per sample.
    The demo's latent is the 8x8 digit itself, so it is judged as pixels without a decode (VAE
    Decode only redraws those pixels larger)."""

    def __init__(self, demo, path=None):
        self.demo = demo
        self.net = demo.classifier.load_classifier(path)

    @torch.no_grad()
    def pixels(self, pixels: torch.Tensor) -> dict:
        return {"logits": self.net(pixels).float(), "features": self.net.features(pixels).float()}

    def latents(self, latents: torch.Tensor) -> dict:
        return self.pixels(self.demo.pixels_from_latent(latents))


def held_out_real():
    """The demo's fixed split (``harness/digits_data.py``): held-out pixels and labels, training pixels."""
    from .digits_data import load_split

    split = load_split()
    return split.test_pixels, split.test_labels, split.train_pixels


def batched_conditioning(per_digit: list, digits: torch.Tensor) -> list:
    """One CONDITIONING whose batch row i asks for digits[i] (ComfyUI uses a cond batch that
    matches the latent batch row by row)."""
    first = per_digit[0][0]
    rows = [per_digit[int(d)][0] for d in digits]
    cond = torch.cat([r[0] for r in rows])
    extra = {}
    for key, value in first[1].items():
        if torch.is_tensor(value) and value.shape[0] == 1:
            extra[key] = torch.cat([r[1][key] for r in rows])
        else:
            extra[key] = value
    return [[cond, extra]]


def nested_method(big_n: int, small_n: int, outer_noise: str = "ddim") -> str:
    """A nested configuration's row name: the paper's outer step keeps the historical name."""
    return f"nested {big_n}x{small_n}" + ("" if outer_noise == "ddim" else f" {outer_noise}")


def run_methods(ctx, opts, latent, positive, negative, seed: int, record) -> dict:
    """The nested configurations, the plain run whose x0 previews are scored and the plain k-step
    runs, all from the same noise (``seed``); ``record(method, nfe, latents)`` gets each scored
    batch, ``nfe`` read from ``ctx["calls"].count``. Returns seconds per method."""
    comfy, model, calls = ctx["comfy"], ctx["model"], ctx["calls"]
    noise = comfy.sample.prepare_noise(latent, seed)
    out = model.model.process_latent_out
    seconds = {}

    def keep(method):
        def callback(step, x0, x, total):
            record(method, calls.count, out(x0.detach().to("cpu", torch.float32)))
        return callback

    for big_n, small_n in opts.configs:
        for outer_noise in getattr(opts, "outer_noise", ["ddim"]):
            method = nested_method(big_n, small_n, outer_noise)
            sampler = ctx["nested_sampler_object"](opts.sampler, small_n, opts.nested_scheduler, 0.0,
                                                   outer_noise=outer_noise)
            sigmas = ctx["outer_sigmas"](ctx["ms"], opts.nested_scheduler, big_n)
            calls.count, t0 = 0, time.perf_counter()
            comfy.sample.sample_custom(model, noise, opts.cfg, sampler, sigmas, positive, negative, latent,
                                       callback=keep(method), disable_pbar=True, seed=seed)
            seconds[method] = time.perf_counter() - t0

    def plain(steps, callback=None):
        calls.count = 0
        result = comfy.sample.sample(model, noise, steps, opts.cfg, opts.sampler, opts.plain_scheduler, positive,
                                     negative, latent, callback=callback, disable_pbar=True, seed=seed)
        return result.to("cpu", torch.float32), calls.count

    t0 = time.perf_counter()
    final, nfe = plain(opts.preview_steps, keep("plain x0 preview"))
    seconds["plain x0 preview"] = time.perf_counter() - t0
    if opts.preview_steps in opts.plain_steps:
        record("plain k steps", nfe, final)
    t0 = time.perf_counter()
    for k in opts.plain_steps:
        if k != opts.preview_steps:
            result, nfe = plain(k)
            record("plain k steps", nfe, result)
    seconds["plain k steps"] = time.perf_counter() - t0
    return seconds


