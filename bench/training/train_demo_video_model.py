"""Train the video demo model (a tiny WAN 2.1 on clips of sliding digits); write its weights file.

The shipped weights were made with exactly the command in docs/video-demo.md (seeded; two torch
threads; on ComfyUI 0.3.64's classes, whose WAN rotary-embedding op has a backward pass, which
0.33.0's ``comfy_kitchen.apply_rope1`` lacks; the weights load on both):

    cd <pack folder>
    COMFYUI_PATH=/path/to/ComfyUI-0.3.64 /path/to/comfy/venv/bin/python \\
        bench/training/train_demo_video_model.py --seed 0

It needs scikit-learn in that Python (``pip install scikit-learn``; bench/training only). It
writes ``nodes/demos/video/wan_digits.safetensors`` (or ``--out``) every ``--save-every`` steps
(the file is usable while training goes on; its metadata says how many steps it holds), prints
the loss curve and, at the end, a short sampling check.

The model is ComfyUI's own ``WanModel`` (config in ``nodes/demos/video/video_model.py``), trained
on the flow objective ComfyUI samples WAN with (``CONST`` + ``ModelSamplingDiscreteFlow``):
x_t = (1 - sigma) x0 + sigma eps at sigma from the model's own shifted table, timestep
1000 sigma, target eps - x0 (``CONST`` denoises as x_t - sigma * output). The cross-attention
context is a digit row and a direction row of a learned token table; "no class" and "any
direction" rows stand in for dropped labels, so classifier-free guidance works.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness.comfy_host import PACK_ROOT, open_demo  # noqa: E402
from harness.train_schedule import WeightsEma, warmup_cosine  # noqa: E402

SCRIPT = "training/train_demo_video_model.py"

VIDEO_MODULES = ("prompt_clips", "video_model")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--uncond-fraction", type=float, default=0.1, help="clips with neither digit nor direction")
    p.add_argument("--no-digit-fraction", type=float, default=0.05, help="further clips with the direction only")
    p.add_argument("--any-direction-fraction", type=float, default=0.3, help="further clips with the digit only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--low-noise-fraction", type=float, default=0.0,
                   help="share of each batch whose sigma is drawn from the low end of the table only (where a "
                        "nested run's later outer steps start); 0 keeps the uniform draw (default %(default)s)")
    p.add_argument("--low-noise-top", type=float, default=0.4,
                   help="the low end: this fraction of the sigma table from its smallest sigma (default %(default)s)")
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--out", type=Path, default=PACK_ROOT / "nodes" / "demos" / "video" / "wan_digits.safetensors")
    p.add_argument("--init", type=Path, default=None,
                   help="start from this weights file (a second stage) instead of fresh weights")
    p.add_argument("--note", default="")
    return p.parse_args()


def reset_parameters(module, torch, dim):
    """ComfyUI's ops leave weights uninitialised (torch.empty) and make reset_parameters a no-op:
    give layers torch's defaults, norms ones, WAN's modulation tables its own N(0, 1/dim) start,
    and zero the output head so training starts from a model that predicts no velocity."""
    nn = torch.nn
    with torch.no_grad():
        for m in module.modules():
            base = next((b for b in (nn.Linear, nn.Conv3d, nn.Conv2d) if isinstance(m, b)), None)
            if base is not None:
                base.reset_parameters(m)
            elif getattr(m, "weight", None) is not None and "Norm" in type(m).__name__:
                m.weight.fill_(1.0)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
        for name, p in module.named_parameters():
            if name.endswith("modulation"):
                p.copy_(torch.randn(p.shape) / math.sqrt(dim))
        for p in module.head.head.parameters():
            p.zero_()


def main():
    args = parse_args()
    env = open_demo(SCRIPT, args.threads)
    torch, weights_file = env.torch, env.weights_file
    mods = {n: importlib.import_module(f"{env.pack.__name__}.nodes.demos.video.{n}") for n in VIDEO_MODULES}
    from harness import digit_clips_data as clips  # bench/harness: the training clips are not shipped

    prompts, vm = mods["prompt_clips"], mods["video_model"]

    start = time.perf_counter()
    pixels, labels = clips.source_digits("train")
    print(f"data: {len(labels)} training digits, clips of {clips.FRAMES} frames on {clips.CANVAS}x{clips.CANVAS} "
          f"(seed {args.seed}, {args.threads} thread(s), batch {args.batch}, {args.steps} steps)", flush=True)

    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    config = vm.DEFAULT_CONFIG
    model = vm.build_base_model(config)
    wan = model.diffusion_model
    reset_parameters(wan, torch, config["wan"]["dim"])
    k, text_dim = config["tokens"], config["wan"]["text_dim"]
    tokens = torch.nn.Parameter(torch.randn(prompts.NUM_ROWS, k, text_dim, generator=g))
    if args.init is not None:
        state, _ = weights_file.read_weights(args.init, vm.WEIGHTS_KIND, hint=vm.REBUILD_HINT)
        wan.load_state_dict({key[len(vm.UNET_PREFIX):]: v for key, v in state.items()
                             if key.startswith(vm.UNET_PREFIX)}, strict=True)
        with torch.no_grad():
            tokens.copy_(state[vm.TOKENS_KEY])
        print(f"started from {args.init}", flush=True)
    params = list(wan.parameters()) + [tokens]
    print(f"wan: {sum(p.numel() for p in wan.parameters())} parameters, tokens {tuple(tokens.shape)}, "
          f"shift {config['shift']}", flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    lr_at = warmup_cosine(args.lr, args.steps, warmup=min(100, args.steps // 10 + 1))
    ema = WeightsEma(params, max_decay=0.998)
    sigmas = model.model_sampling.sigmas.float()
    no_class, any_dir = prompts.DIGIT_ROWS - 1, prompts.direction_row(None)
    notes = {"trained_by": f"bench/{SCRIPT} --seed {args.seed} --steps {args.steps} "
                           f"--batch {args.batch} --lr {args.lr} --threads {args.threads}"
                           + (f" --low-noise-fraction {args.low_noise_fraction} --low-noise-top {args.low_noise_top}"
                              if args.low_noise_fraction > 0 else "")
                           + (f" --init {args.init.name}" if args.init else ""), "note": args.note}

    def save(steps_done):
        backup = [p.detach().clone() for p in params]
        ema.copy_to_params()
        state = {vm.UNET_PREFIX + key: v for key, v in wan.state_dict().items()}
        state[vm.TOKENS_KEY] = tokens.detach()
        weights_file.write_weights(args.out, vm.WEIGHTS_KIND, state, config, steps_done=str(steps_done),
                                   final_loss=f"{last_logged:.4f}", **notes)
        with torch.no_grad():
            for b, p in zip(backup, params):
                p.copy_(b)

    running, last_logged = 0.0, float("nan")
    wan.train()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for step in range(args.steps):
        x0, y, d = clips.clips_from_digits(pixels, labels, args.batch, seed=args.seed * 1_000_003 + step)
        u = torch.rand(args.batch, generator=g)
        digit_row = torch.where(u < args.uncond_fraction + args.no_digit_fraction, no_class, y)
        dir_row = torch.where((u < args.uncond_fraction) | (u >= 1.0 - args.any_direction_fraction),
                              any_dir, prompts.DIGIT_ROWS + d)
        context = torch.cat([tokens[digit_row], tokens[dir_row]], dim=1)
        index = torch.randint(0, len(sigmas), (args.batch,), generator=g)
        if args.low_noise_fraction > 0:  # extra draws only then, so older commands keep their noise stream
            low = torch.rand(args.batch, generator=g) < args.low_noise_fraction
            top = max(1, int(len(sigmas) * args.low_noise_top))
            index = torch.where(low, torch.randint(0, top, (args.batch,), generator=g), index)
        sigma = sigmas[index]
        eps = torch.randn(x0.shape, generator=g)
        s = sigma.view(-1, 1, 1, 1, 1)
        out = wan(x0 * (1.0 - s) + eps * s, sigma * 1000.0, context)
        loss = torch.nn.functional.mse_loss(out, eps - x0)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(step)
        running += loss.item()
        if (step + 1) % args.log_every == 0:
            last_logged = running / args.log_every
            print(f"step {step + 1:6d}  loss {last_logged:.4f}  lr {lr_at(step):.2e}  "
                  f"{time.perf_counter() - start:7.1f} s", flush=True)
            running = 0.0
        if (step + 1) % args.save_every == 0 and step + 1 < args.steps:
            save(step + 1)
            print(f"checkpoint: {args.out} at step {step + 1}", flush=True)

    save(args.steps)
    print(f"wrote {args.out} after {time.perf_counter() - start:.1f} s "
          f"({args.out.stat().st_size / 1e6:.2f} MB)", flush=True)
    sampling_check(torch, vm, clips, env.classifier, args.out)
    print(f"total {time.perf_counter() - start:.1f} s wall, {time.process_time():.1f} s CPU", flush=True)


def sampling_check(torch, vm, clips, classifier_mod, path, per_digit=4, steps=20, cfg=3.0):
    """A quick look, not the tests' measure: ComfyUI's euler, 20 steps, frames recognised per digit."""
    import comfy.sample

    model, clip, _vae = vm.load_video_demo(path)
    judge = classifier_mod.load_classifier()
    negative = vm.clip_conditioning(clip, None)
    correct = total = 0
    for digit in range(10):
        latent = torch.zeros(per_digit, 1, clips.FRAMES, clips.CANVAS, clips.CANVAS)
        noise = comfy.sample.prepare_noise(latent, 100 + digit)
        out = comfy.sample.sample(model, noise, steps, cfg, "euler", "simple", vm.clip_conditioning(clip, digit),
                                  negative, latent, seed=100 + digit, disable_pbar=True)
        crops, _ = clips.digit_windows(out)
        with torch.no_grad():
            pred = judge(crops.flatten(0, 1)).argmax(1)
        correct += (pred == digit).sum().item()
        total += pred.numel()
    print(f"sampling check: euler {steps} steps, cfg {cfg}: {correct}/{total} frames recognised "
          f"as the requested digit", flush=True)


if __name__ == "__main__":
    main()
