"""Train the demo digits model and its classifier judge; write both weight files.

The shipped weights were made with exactly this command (seed 0, one torch thread):

    cd <pack folder>
    COMFYUI_PATH=/path/to/ComfyUI-0.3.64 /path/to/comfy/venv/bin/python bench/training/train_demo_model.py --seed 0

It needs scikit-learn in that Python (``pip install scikit-learn``; bench/training only). It
writes ``nodes/demos/digits/unet.safetensors`` (or into ``--out-dir``) and the judge's
``bench/harness/digit_classifier.safetensors`` (or ``--classifier-out``; not shipped), prints
the classifier's held-out accuracy, the UNet's loss curve and a short sampling check, and takes
well under 30 minutes on 2 CPU cores (see bench/README.md for
the measured time). Both models learn only from the training split of ``bench/harness/digits_data.py``.

The UNet is ComfyUI's own ``UNetModel`` (config in ``nodes/demos/digits/demo_model.py``), trained
for v-prediction on the model's own discrete schedule: x_t = a x0 + s eps with a = 1/sqrt(1 +
sigma^2), s = sigma a, target v = a eps - s x0, exactly what ``BaseModel`` undoes when it
samples. Each digit has its own learned cross-attention tokens, and a learned "no class" entry
is used for 15% of the training images, so classifier-free guidance works.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness.comfy_host import PACK_ROOT, open_demo  # noqa: E402
from harness.digits_data import load_split  # noqa: E402
from harness.train_schedule import WeightsEma, warmup_cosine  # noqa: E402

SCRIPT = "training/train_demo_model.py"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=4000, help="UNet optimiser steps")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--uncond-fraction", type=float, default=0.15)
    p.add_argument("--classifier-epochs", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out-dir", type=Path, default=PACK_ROOT / "nodes" / "demos" / "digits",
                   help="where unet.safetensors goes (default: the shipped one)")
    p.add_argument("--classifier-out", type=Path,
                   default=PACK_ROOT / "bench" / "harness" / "digit_classifier.safetensors",
                   help="the judge's weights (default: the bench's; not shipped)")
    p.add_argument("--note", default="", help="extra text stored in the files' metadata (e.g. 'placeholder')")
    return p.parse_args()


def reset_parameters(module, torch):
    """ComfyUI's ops leave weights uninitialised (torch.empty): give them torch's defaults, and
    zero the layers that latent-diffusion UNets start at zero (outputs of blocks)."""
    nn = torch.nn
    for m in module.modules():
        for base in (nn.Conv2d, nn.Linear, nn.GroupNorm, nn.LayerNorm):
            if isinstance(m, base):
                base.reset_parameters(m)
                break
    with torch.no_grad():
        for name, m in module.named_modules():
            if name == "out.2" or name.endswith("out_layers.3") or name.endswith("proj_out"):
                for p in m.parameters():
                    p.zero_()


def train_classifier(torch, classifier_mod, split, epochs, seed):
    g = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed + 1)
    model = classifier_mod.DigitClassifier(**classifier_mod.DEFAULT_CONFIG)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = split.train_pixels, split.train_labels
    n = len(y)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=g)
        total = 0.0
        for i in range(0, n, 64):
            idx = order[i:i + 64]
            # Shift by up to one pixel (paper beyond the border): handwriting is not centred exactly.
            padded = torch.nn.functional.pad(x[idx], (1, 1, 1, 1), value=1.0)
            dx, dy = torch.randint(0, 3, (2,), generator=g).tolist()
            batch = padded[:, :, dy:dy + 8, dx:dx + 8]
            loss = torch.nn.functional.cross_entropy(model(batch), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0:
            print(f"classifier epoch {epoch + 1:3d}  train loss {total / n:.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        acc = (model(split.test_pixels).argmax(1) == split.test_labels).float().mean().item()
    return model, acc


def main():
    args = parse_args()
    env = open_demo(SCRIPT, args.threads)
    torch, demo, classifier_mod = env.torch, env.demo_model, env.classifier
    digit_space, weights_file, prompt_digits = env.digit_space, env.weights_file, env.prompt_digits

    start = time.perf_counter()
    split = load_split()
    print(f"data: {len(split.train_labels)} training / {len(split.test_labels)} held-out images "
          f"(seed {args.seed}, {args.threads} thread(s))", flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    notes = {"trained_by": f"bench/{SCRIPT} --seed {args.seed} --steps {args.steps}",
             "note": args.note}

    classifier, acc = train_classifier(torch, classifier_mod, split, args.classifier_epochs, args.seed)
    print(f"classifier held-out accuracy: {acc * 100:.2f}% ({len(split.test_labels)} images)", flush=True)
    weights_file.write_weights(args.classifier_out, "classifier", classifier.state_dict(),
                               classifier_mod.DEFAULT_CONFIG, held_out_accuracy=f"{acc:.4f}", **notes)

    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    config = demo.DEFAULT_CONFIG
    model = demo.build_base_model(config)
    unet = model.diffusion_model
    reset_parameters(unet, torch)
    context_dim = config["unet"]["context_dim"]
    tokens = torch.nn.Parameter(torch.randn(prompt_digits.NUM_TOKENS, config["tokens"], context_dim, generator=g))
    params = list(unet.parameters()) + [tokens]
    print(f"unet: {sum(p.numel() for p in unet.parameters())} parameters, tokens {tuple(tokens.shape)}", flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    lr_at = warmup_cosine(args.lr, args.steps, warmup=min(200, args.steps // 10 + 1))
    ema = WeightsEma(params, max_decay=0.999)
    sigmas = model.model_sampling.sigmas.float()
    x_all = digit_space.latent_from_pixels(split.train_pixels)
    y_all = split.train_labels
    no_class = prompt_digits.NO_CLASS
    running = 0.0
    unet.train()
    for step in range(args.steps):
        idx = torch.randint(0, len(y_all), (args.batch,), generator=g)
        x0, y = x_all[idx], y_all[idx].clone()
        y[torch.rand(args.batch, generator=g) < args.uncond_fraction] = no_class
        t = torch.randint(0, len(sigmas), (args.batch,), generator=g)
        sigma = sigmas[t].view(-1, 1, 1, 1)
        a = 1.0 / torch.sqrt(1.0 + sigma ** 2)
        s = sigma * a
        eps = torch.randn(x0.shape, generator=g)
        out = unet(a * x0 + s * eps, t.float(), context=tokens[y])
        loss = torch.nn.functional.mse_loss(out, a * eps - s * x0)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema.update(step)
        running += loss.item()
        if (step + 1) % 200 == 0:
            print(f"step {step + 1:6d}  loss {running / 200:.4f}  lr {lr_at(step):.2e}  "
                  f"{time.perf_counter() - start:7.1f} s", flush=True)
            running = 0.0

    ema.copy_to_params()
    state = {demo.UNET_PREFIX + k: v for k, v in unet.state_dict().items()}
    state[demo.TOKENS_KEY] = tokens.detach()
    weights_file.write_weights(args.out_dir / "unet.safetensors", "unet", state, config, **notes)
    print(f"wrote {args.out_dir / 'unet.safetensors'} and {args.classifier_out} "
          f"after {time.perf_counter() - start:.1f} s", flush=True)
    sampling_check(torch, demo, classifier, digit_space, args.out_dir / "unet.safetensors")
    print(f"total {time.perf_counter() - start:.1f} s wall, {time.process_time():.1f} s CPU", flush=True)


def sampling_check(torch, demo, classifier, digit_space, unet_path, per_digit=20, steps=20, cfg=3.0):
    """A quick look, not the tests' measure: ComfyUI's euler, 20 steps, 20 images per digit."""
    import comfy.sample

    model, clip, _vae = demo.load_demo(unet_path)
    negative = demo.digit_conditioning(clip, None)
    correct = 0
    for digit in range(10):
        latent = torch.zeros(per_digit, 1, 8, 8)
        noise = comfy.sample.prepare_noise(latent, 100 + digit)
        out = comfy.sample.sample(model, noise, steps, cfg, "euler", "normal", demo.digit_conditioning(clip, digit),
                                  negative, latent, seed=100 + digit, disable_pbar=True)
        with torch.no_grad():
            pred = classifier(digit_space.pixels_from_latent(out)).argmax(1)
        correct += (pred == digit).sum().item()
    print(f"sampling check: euler {steps} steps, cfg {cfg}: {correct}/{10 * per_digit} recognised "
          f"as the requested digit", flush=True)


if __name__ == "__main__":
    main()
