"""Evidence for steering a running generation (issue 18), measured on the shipped digits demo.

Everything runs the pack's nodes in-process on the real ComfyUI named by COMFYUI_PATH, through the
*replay* path: each steered run gets a steering record (the ``steering`` input, see
docs/steering.md), so nothing pauses and a run is bit-identical to the live steered run it stands
for. The outer image of every outer step comes from the node's ``outer_step_images`` output.

Pick (the template's settings: 5 x 20, cfg 3, paper_faithful): a batch of 4, steered with
``{"after": 1, "pick": [j]}`` (j = seed mod 4, a stand-in for the user's choice).

* distances: the mean pixel distance of the 4 finals to the picked item's outer image 1, against
  their distance to the 3 other items' outer images 1; one genuine batch-4 run per seed.
* spread: the mean pairwise pixel distance of the 4 finals, steered against an unsteered batch,
  for several inner samplers and outer eta (SamplerNestedDiffusion's ``eta``; the KSampler
  nodes run eta 0). To keep the bench short, groups of 4 are rows of one large batch: rows
  g, G+g, 2G+g, 3G+g form group g, and the record picks one row per group (the record cycles
  through its picks, so every row of a group takes its group's pick). Rows of a batch are
  independent samples, so a group is a batch of 4 in everything but the random numbers.

Prompt change: "a handwritten A" for the whole batch, steered with ``{"after": k, "prompt":
"a handwritten B"}``; for each k the share of finals the digit classifier (the bench's judge) reads as B (and as
A), and how much of the old image stays: the mean Pearson correlation of each final with the
unsteered run's outer image k of the same row (and, as the chance level, with the unsteered
outer image k of another row).

Pixel distance: the mean absolute difference of decoded images (VAE Decode's grey, 0 = ink,
1 = paper). The demo VAE draws each pixel of a bilinear 16x16 upscale of the 8x8 latent as a
4x4 block, so the bench computes that 16x16 drawing in closed form and checks it against the
real VAE Decode on one chunk (the largest difference is recorded in the JSON).

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/quality/steer_evidence.py
Options: --seeds 200 --pairs 3:8,1:0,7:2 --ks 1,2,3,4 --chunk 50 --quick (a few seeds, for
development) --json --markdown --filmstrip --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import time
from itertools import combinations
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "quality/steer_evidence.py"
OUTER, INNER, CFG, SCHEDULER = 5, 20, 3.0, "paper_faithful"   # the digits demo template's settings
BATCH = 4
# (label, node, inner sampler, outer eta): the KSampler nodes run eta 0; eta > 0 needs
# SamplerNestedDiffusion (in SamplerCustom).
SETTINGS = (
    ("NestedKSampler, euler_ancestral (eta 0)", "ksampler", "euler_ancestral", 0.0, 1),
    ("NestedKSampler, euler (eta 0)", "ksampler", "euler", 0.0, 1),
    ("SamplerNestedDiffusion, euler_ancestral, eta 1", "custom", "euler_ancestral", 1.0, 1),
    ("SamplerNestedDiffusion, euler, eta 1", "custom", "euler", 1.0, 1),
    ("NestedKSampler, euler_ancestral (eta 0), pick after outer step 2", "ksampler", "euler_ancestral", 0.0, 2),
)
# The template's run (and the filmstrip's): a seed whose batch of 4 differs visibly at outer step 1
# (the largest spread of seeds 0-23 for "3"), and its most distinct row as the pick.
TEMPLATE_SEED, TEMPLATE_DIGIT, TEMPLATE_PICK, NEW_DIGIT = 18, 3, 3, 8
TEMPLATE = PACK_ROOT / "example_workflows" / "Nested Diffusion - steer a running generation.json"
MARKERS = ("<!-- steer_evidence.py: tables start -->", "<!-- steer_evidence.py: tables end -->")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=200, help="seeds (batches of 4) for the pick distances")
    p.add_argument("--groups", type=int, default=200, help="groups of 4 per setting for the spread")
    p.add_argument("--runs", type=int, default=200, help="images per (pair, k) for the prompt change")
    p.add_argument("--chunk", type=int, default=50, help="latent batch per call (prompt change; groups per call)")
    p.add_argument("--pairs", default="3:8,1:0,7:2")
    p.add_argument("--ks", default="1,2,3,4")
    p.add_argument("--quick", action="store_true", help="8 seeds, 8 groups, 16 runs (development)")
    p.add_argument("--json", type=Path, default=PACK_ROOT / "bench" / "results" / "steer_evidence.json")
    p.add_argument("--markdown", type=Path, default=PACK_ROOT / "bench" / "results" / "steer_evidence.md")
    p.add_argument("--page", type=Path, default=PACK_ROOT / "docs" / "steering.md",
                   help="page whose table markers get the tables ('' for none)")
    p.add_argument("--filmstrip", type=Path, default=PACK_ROOT / "docs" / "steering_filmstrip.png")
    p.add_argument("--thumbnail", type=Path, default=None,
                   help="also write the template's thumbnail (a steered run of the template graph) to this .jpg")
    p.add_argument("--pictures-only", action="store_true", help="only the filmstrip (and --thumbnail): no measurements")
    p.add_argument("--from-json", type=Path, default=None,
                   help="only write the Markdown table and the page's tables again from this result file")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.groups, args.runs, args.chunk = 8, 8, 16, 8
    return args


# ---------------------------------------------------------------------------------------------
# Pure measurements (torch only): what the tests run on tiny inputs.

def decoded_grey(latent):
    """The demo VAE's drawing of ``latent`` [B, 1, 8, 8] as grey [B, 16, 16] (0 ink, 1 paper):
    the bilinear 2x upscale of the ink with paper beyond the border. VAE Decode draws each of
    these pixels as a 4x4 block of its 64x64 IMAGE. The ink is the VAE's own piecewise-linear
    function of TAESD's clamped latent 3 tanh(l / 3) (nodes/demos/digits/digits_vae.py)."""
    import torch

    knots, weights = _undo_clamp_pieces()
    c = 3.0 * torch.tanh(latent.float() / 3.0)
    ink = (torch.relu(knots.view(-1, 1, 1) - c[..., None, :, :]) * weights.view(-1, 1, 1)).sum(-3)
    padded = torch.nn.functional.pad(ink, (1, 1, 1, 1))
    up = torch.nn.functional.interpolate(padded, scale_factor=2, mode="bilinear", align_corners=False)
    return (1.0 - up[:, 0, 2:-2, 2:-2]).clamp(0.0, 1.0)


def _undo_clamp_pieces():
    """digits_vae's knots and weights, without importing ComfyUI (the same few lines)."""
    import math

    import torch

    top = 3.0 * math.tanh(1.0 / 3.0)
    knots = torch.linspace(top, -top, 63, dtype=torch.float64)
    ink = (1.0 - 3.0 * torch.atanh(knots / 3.0)) / 2.0
    slopes = (ink[1:] - ink[:-1]) / (knots[:-1] - knots[1:])
    slopes = torch.cat([slopes, slopes[-1:]])
    return knots.float(), torch.cat([slopes[:1], slopes[1:] - slopes[:-1]]).float()


def pixel_distance(a, b):
    """Mean absolute difference over the pixels (last two dims)."""
    return (a - b).abs().mean(dim=(-2, -1))


def spread_of(groups):
    """Mean pairwise pixel distance within each group: [G, n, H, W] -> [G]."""
    import torch

    n = groups.shape[1]
    pairs = [pixel_distance(groups[:, i], groups[:, j]) for i, j in combinations(range(n), 2)]
    return torch.stack(pairs, 1).mean(1)


def pick_figures(outer1, finals, picked):
    """outer1, finals: [G, n, H, W] (each group's n items at outer step 1, its n finals after the
    pick); picked: [G] indices. Per group: the finals' mean distance to the picked item's outer
    image 1, their mean distance to the other items' outer images 1, and the finals' spread."""
    import torch

    g, n = outer1.shape[:2]
    d = pixel_distance(finals[:, :, None], outer1[:, None, :])       # [G, finals, items]
    own = d[torch.arange(g), :, picked].mean(1)
    mask = torch.ones(g, n, dtype=torch.bool)
    mask[torch.arange(g), picked] = False
    others = (d * mask[:, None, :]).sum((1, 2)) / (mask.sum(1) * n)
    return {"to_picked": own, "to_others": others, "spread": spread_of(finals)}


def correlation(a, b):
    """Pearson correlation of each pair of images: [N, H, W] x [N, H, W] -> [N]."""
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def prompt_figures(labels, finals, reference_k, old: int, new: int):
    """labels: the classifier's reading of the steered finals [N]; finals, reference_k: [N, H, W]
    (the unsteered run's outer image k, same rows). Chance: the same correlation with another row."""
    import torch

    return {"new": float((labels == new).float().mean()), "old": float((labels == old).float().mean()),
            "corr_old_k": float(correlation(finals, reference_k).mean()),
            "corr_chance": float(correlation(finals, torch.roll(reference_k, 1, 0)).mean())}


def mean_sd(values) -> dict:
    import torch

    v = torch.as_tensor(values, dtype=torch.float64)
    return {"mean": float(v.mean()), "se": float(v.std() / len(v) ** 0.5) if len(v) > 1 else 0.0, "n": len(v)}


# ---------------------------------------------------------------------------------------------
# Runs through the pack's nodes.

def schedule_hash(sigmas) -> str:
    """docs/steering.md: the first 12 hex digits of the SHA-256 of the outer sigmas as float32 bytes."""
    import numpy

    return hashlib.sha256(sigmas.float().cpu().numpy().astype(numpy.float32).tobytes()).hexdigest()[:12]


def record(batch, inner_sampler, inner_steps, outer_steps, sigmas, seed, steps) -> str:
    """A steering record (docs/steering.md), compact, for the run it was made for."""
    value = {"run": {"batch": batch, "inner_sampler": inner_sampler, "inner_steps": inner_steps,
                     "outer_steps": outer_steps, "schedule": schedule_hash(sigmas), "seed": seed},
             "steps": steps, "version": 1}
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Session:
    """The demo model, its CLIP, VAE and classifier, and the pack's nodes, in-process."""

    def __init__(self, env, outer=OUTER, inner=INNER, cfg=CFG):
        import comfy.utils
        import nodes

        comfy.utils.PROGRESS_BAR_ENABLED = False   # the nodes' progress bars (thousands of runs)
        self.torch, self.pack, self.nodes = env.torch, env.pack, nodes
        self.model, self.clip, self.vae = env.pack.NODE_CLASS_MAPPINGS["NestedDiffusionDemoModel"]().load()
        self.judge = env.classifier.load_classifier()
        self.space = env.digit_space
        self.outer, self.inner, self.cfg = outer, inner, cfg
        schedules = __import__(f"{env.pack.__name__}.nodes.runtime.comfy_schedules", fromlist=["outer_sigmas"])
        self.sigmas = schedules.outer_sigmas(self.model.get_model_object("model_sampling"), SCHEDULER, outer)
        self._cond = {}
        self.model_seconds = 0.0

    def text(self, text: str):
        if text not in self._cond:
            self._cond[text] = self.nodes.CLIPTextEncode().encode(self.clip, text)[0]
        return self._cond[text]

    def read(self, latent):
        with self.torch.no_grad():
            return self.judge(self.space.pixels_from_latent(latent)).argmax(1)

    def run(self, seed, batch, text, sampler="euler_ancestral", eta=0.0, node="ksampler", steps=None):
        """One run; ``steps`` (the record's interventions) makes it a steered replay. Returns the final
        latent [B, 1, 8, 8] and the outer images [outer, B, 1, 8, 8]."""
        torch = self.torch
        steering = record(batch, sampler, self.inner, self.outer, self.sigmas, seed, steps) if steps else ""
        latent = self.nodes.EmptyLatentImage().generate(64, 64, batch)[0]
        start = time.process_time()
        with torch.inference_mode():
            if node == "ksampler":
                extra = {"clip": self.clip, "steering": steering} if steering else {}
                result = self.pack.NODE_CLASS_MAPPINGS["NestedKSampler"]().sample(
                    self.model, seed, self.outer, self.inner, self.cfg, sampler, SCHEDULER, self.text(text),
                    self.text(""), latent, **extra)
                out, images = result["result"] if isinstance(result, dict) else result  # with a UI output
                final, outer = out["samples"], images["samples"]
            else:
                final, outer = self._custom(seed, latent, text, sampler, eta, steering)
        self.model_seconds += time.process_time() - start
        return final.float().cpu(), outer.float().cpu().reshape(-1, batch, *final.shape[1:])

    def _custom(self, seed, latent, text, sampler, eta, steering):
        """SamplerNestedDiffusion in ComfyUI's custom sampling (what SamplerCustom does: its noise,
        sample_custom, the x0 of every outer step from the callback)."""
        import comfy.sample

        extra = {"steering": steering} if steering else {}
        nested = self.pack.NODE_CLASS_MAPPINGS["SamplerNestedDiffusion"]().get_sampler(
            sampler, self.inner, SCHEDULER, eta, **extra)[0]
        samples = comfy.sample.fix_empty_latent_channels(self.model, latent["samples"])
        noise = comfy.sample.prepare_noise(samples, seed)
        images = []
        final = comfy.sample.sample_custom(
            self.model, noise, self.cfg, nested, self.sigmas, self.text(text), self.text(""), samples,
            callback=lambda step, x0, x, total: images.append(x0.to("cpu", copy=True)), disable_pbar=True, seed=seed)
        outer = self.model.model.process_latent_out(self.torch.cat(images))
        return final, outer


# ---------------------------------------------------------------------------------------------
# The three measurements.

def measure_pick_distances(s: Session, seeds, after=1, sampler="euler_ancestral"):
    """One batch-4 run per seed, picking item seed % 4 after outer step ``after``."""
    torch = s.torch
    outer_k, finals, picked = [], [], []
    for seed in seeds:
        j = seed % BATCH
        final, outer = s.run(seed, BATCH, f"a handwritten {seed % 10}", sampler, steps=[{"after": after, "pick": [j]}])
        outer_k.append(decoded_grey(outer[after - 1]))
        finals.append(decoded_grey(final))
        picked.append(j)
    fig = pick_figures(torch.stack(outer_k), torch.stack(finals), torch.tensor(picked))
    return {k: mean_sd(v) for k, v in fig.items()}


def grouped_pick(groups: int, rows_per_group: int = BATCH):
    """Picks for ``groups`` groups of a batch of groups x rows: group g = rows g, G+g, ...; one
    picked row per group (item g mod rows of its group). Returns (picks, item index per group)."""
    items = [g % rows_per_group for g in range(groups)]
    return [g + groups * items[g] for g in range(groups)], items


def measure_spread(s: Session, setting, n_groups: int, chunk: int):
    """Steered (pick after the setting's outer step) and unsteered spread of groups of 4, and the
    pick distances."""
    torch = s.torch
    label, node, sampler, eta, after = setting
    steered, unsteered, to_picked, to_others = [], [], [], []
    for c in range(0, n_groups, chunk):
        g = min(chunk, n_groups - c)
        seed, text = 1000 + c, f"a handwritten {c // chunk % 10}"
        picks, items = grouped_pick(g)
        final_u, _ = s.run(seed, g * BATCH, text, sampler, eta, node)
        final_s, outer_s = s.run(seed, g * BATCH, text, sampler, eta, node, steps=[{"after": after, "pick": picks}])
        as_groups = lambda x: decoded_grey(x).reshape(BATCH, g, 16, 16).movedim(0, 1)  # noqa: E731
        fig = pick_figures(as_groups(outer_s[after - 1]), as_groups(final_s), torch.tensor(items))
        steered.append(fig["spread"])
        to_picked.append(fig["to_picked"])
        to_others.append(fig["to_others"])
        unsteered.append(spread_of(as_groups(final_u)))
    cat = torch.cat
    return {"setting": label, "node": node, "inner_sampler": sampler, "eta": eta, "after": after,
            "spread_steered": mean_sd(cat(steered)), "spread_unsteered": mean_sd(cat(unsteered)),
            "to_picked": mean_sd(cat(to_picked)), "to_others": mean_sd(cat(to_others))}


def measure_prompt_change(s: Session, old: int, new: int, ks, runs: int, chunk: int):
    torch = s.torch
    per_k = {k: {"labels": [], "finals": [], "ref": []} for k in ks}
    unsteered_labels = []
    for c in range(0, runs, chunk):
        n, seed = min(chunk, runs - c), 2000 + c
        final_u, outer_u = s.run(seed, n, f"a handwritten {old}")
        unsteered_labels.append(s.read(final_u))
        for k in ks:
            final, _ = s.run(seed, n, f"a handwritten {old}", steps=[{"after": k, "prompt": f"a handwritten {new}"}])
            per_k[k]["labels"].append(s.read(final))
            per_k[k]["finals"].append(decoded_grey(final))
            per_k[k]["ref"].append(decoded_grey(outer_u[k - 1]))
    unsteered = torch.cat(unsteered_labels)
    rows = []
    for k in ks:
        fig = prompt_figures(torch.cat(per_k[k]["labels"]), torch.cat(per_k[k]["finals"]), torch.cat(per_k[k]["ref"]),
                             old, new)
        rows.append({"after": k, **fig})
    return {"old": old, "new": new, "runs": runs, "unsteered_old": float((unsteered == old).float().mean()),
            "unsteered_new": float((unsteered == new).float().mean()), "by_k": rows}


def check_decoding(s: Session, latent) -> float:
    """Largest difference between the closed-form drawing and ComfyUI's VAE Decode of ``latent``."""
    with s.torch.inference_mode():
        image = s.vae.decode(latent)[..., 0].float()
    drawn = decoded_grey(latent).repeat_interleave(4, 1).repeat_interleave(4, 2)
    return float((image - drawn).abs().max())


# ---------------------------------------------------------------------------------------------
# Reports.

def last_winning_k(pair: dict):
    wins = [row["after"] for row in pair["by_k"] if row["new"] > row["old"]]
    return max(wins) if wins else None


def markdown(result: dict) -> str:
    lines = [f"Measured by `{result['command_short']}` (ComfyUI {result['comfyui_version']}, {result['date']}, "
             f"{result['threads']} torch thread, {result['seconds']:.0f} s wall, {result['cpu_seconds']:.0f} s CPU). "
             "Distances are mean absolute differences of decoded images (0 = ink, 1 = paper); "
             "+- is one standard error.", ""]
    d = result["pick_distances"]
    lines += [f"**Pick** (batch of 4, 5 x 20, euler_ancestral, cfg 3, `{{\"after\":1,\"pick\":[j]}}`, "
              f"{d['to_picked']['n']} seeds, one batch-4 run each):", "",
              "| finals' distance to the picked item's outer image 1 | to the other items' outer images 1 | "
              "spread of the 4 finals |", "|---|---|---|",
              f"| {fmt(d['to_picked'])} | {fmt(d['to_others'])} | {fmt(d['spread'])} |", ""]
    lines += [f"**Spread of the 4 finals**, steered (pick after outer step 1 unless said) against unsteered, "
              f"{result['spread'][0]['spread_steered']['n']} groups of 4 per setting; last column: the finals' "
              "distance to the picked item's outer image / to the other items' (at the step of the pick):", "",
              "| setting | spread, unsteered batch | spread after the pick | distance to the pick / to the others |",
              "|---|---|---|---|"]
    for row in result["spread"]:
        lines.append(f"| {row['setting']} | {fmt(row['spread_unsteered'])} | {fmt(row['spread_steered'])} | "
                     f"{row['to_picked']['mean']:.3f} / {row['to_others']['mean']:.3f} |")
    lines += ["", f"**Prompt change** after outer step k (5 x 20, euler_ancestral, cfg 3, "
              f"{result['prompt'][0]['runs']} images per cell): share of finals the classifier reads as the new "
              "digit / as the old one, and the correlation of the final with the unsteered run's outer image k "
              "(chance: with another image's).", "",
              "| change | unsteered (old / new) | "
              + " | ".join(f"after {r['after']}" for r in result["prompt"][0]["by_k"])
              + " | last k where the new digit wins |",
              "|---|---|" + "---|" * len(result["prompt"][0]["by_k"]) + "---|"]
    for pair in result["prompt"]:
        cells = [f"{r['new']:.0%} / {r['old']:.0%}, r = {r['corr_old_k']:.2f} ({r['corr_chance']:.2f})"
                 for r in pair["by_k"]]
        lines.append(f"| \"{pair['old']}\" -> \"{pair['new']}\" | {pair['unsteered_old']:.0%} / "
                     f"{pair['unsteered_new']:.0%} | " + " | ".join(cells) + f" | {pair['last_winning_k']} |")
    return "\n".join(lines) + "\n"


def fmt(stat: dict) -> str:
    return f"{stat['mean']:.3f} +- {stat['se']:.3f}"


def write_page(page: Path, table: str) -> None:
    text = page.read_text(encoding="utf-8")
    if MARKERS[0] not in text:
        return
    head, rest = text.split(MARKERS[0], 1)
    _, tail = rest.split(MARKERS[1], 1)
    page.write_text(f"{head}{MARKERS[0]}\n{table}{MARKERS[1]}{tail}", encoding="utf-8")


def filmstrip(s: Session, path: Path, seed=TEMPLATE_SEED, digit=TEMPLATE_DIGIT, pick=TEMPLATE_PICK, old=TEMPLATE_DIGIT,
              new=NEW_DIGIT, k=2):
    """A real run: the batch at outer step 1 with the pick framed, the 4 variants' later outer
    images; then a prompt change (old -> new after outer step k) against the unsteered run."""
    from PIL import Image, ImageDraw

    _, outer_u = s.run(seed, BATCH, f"a handwritten {digit}")
    _, outer_s = s.run(seed, BATCH, f"a handwritten {digit}", steps=[{"after": 1, "pick": [pick]}])
    _, old_run = s.run(seed, 1, f"a handwritten {old}")
    _, new_run = s.run(seed, 1, f"a handwritten {old}", steps=[{"after": k, "prompt": f"a handwritten {new}"}])
    tile, gap, label_w, head = 96, 6, 250, 30
    rows = BATCH + 2
    canvas = Image.new("RGB", (label_w + s.outer * (tile + gap), head + rows * (tile + gap) + 24), "white")
    draw = ImageDraw.Draw(canvas)

    def put(latent, r, c, frame=None):
        grey = decoded_grey(latent[None])[0]
        array = (grey.clamp(0, 1) * 255).round().byte().numpy()
        image = Image.fromarray(array).resize((tile, tile), Image.NEAREST).convert("RGB")
        x, y = label_w + c * (tile + gap), head + r * (tile + gap) + (24 if r >= BATCH else 0)
        canvas.paste(image, (x, y))
        if frame:
            draw.rectangle((x - 3, y - 3, x + tile + 2, y + tile + 2), outline=frame, width=3)

    for c in range(s.outer):
        draw.text((label_w + c * (tile + gap) + 8, 8), f"outer step {c + 1}", fill="black")
    for r in range(BATCH):
        put(outer_u[0][r], r, 0, frame="#d62728" if r == pick else None)
        for c in range(1, s.outer):
            put(outer_s[c][r], r, c)
        draw.text((8, head + r * (tile + gap) + tile // 2 - 12),
                  f"row {r + 1}" + (": picked after outer step 1" if r == pick else ""), fill="black")
    draw.text((8, 8), "column 1: the batch of 4; then\nevery row goes on from the pick", fill="black")
    y0 = head + BATCH * (tile + gap) + 4
    draw.line((0, y0 + 6, canvas.width, y0 + 6), fill="#999999")
    for i, (run, text) in enumerate(((old_run, f"'{old}', unsteered"),
                                     (new_run, f"'{old}', prompt -> '{new}'\nafter outer step {k}"))):
        for c in range(s.outer):
            put(run[c][0], BATCH + i, c, frame="#1f77b4" if (i == 1 and c == k) else None)
        draw.text((8, head + (BATCH + i) * (tile + gap) + 24 + tile // 2 - 12), text, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def template_steering(prompt: dict, sigmas) -> str:
    """The record the thumbnail replays on the template: pick after outer step 1, then the prompt
    changed to NEW_DIGIT after outer step 2 (what its Note asks the user to try)."""
    k = prompt["5"]["inputs"]
    steps = [{"after": 1, "pick": [TEMPLATE_PICK]}, {"after": 2, "prompt": f"a handwritten {NEW_DIGIT}"}]
    return record(prompt["4"]["inputs"]["batch_size"], k["sampler_name"], k["inner_steps"], k["outer_steps"], sigmas,
                  k["seed"], steps)


def thumbnail(s: Session, path: Path) -> list[int]:
    """The template graph as shipped, run in-process with the steering record of ``template_steering``:
    a grid of the batch (rows) by outer step (columns); column 1 holds the batch before the pick,
    the picked tile framed. Returns what the classifier reads in the finals."""
    from PIL import Image, ImageDraw

    import nodes

    import ui_workflow  # tests/helpers

    classes = {**nodes.NODE_CLASS_MAPPINGS, **s.pack.NODE_CLASS_MAPPINGS}
    workflow = json.loads(TEMPLATE.read_text())
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] != "Note"]       # frontend only
    prompt = ui_workflow.api_prompt(workflow, lambda t: classes[t].INPUT_TYPES())
    prompt = {key: node for key, node in prompt.items() if node["class_type"] not in ("SaveImage", "PreviewImage")}
    prompt["5"]["inputs"]["steering"] = template_steering(prompt, s.sigmas)
    outputs = ui_workflow.run_graph(prompt, classes)
    steps, batch = prompt["5"]["inputs"]["outer_steps"], prompt["4"]["inputs"]["batch_size"]
    images = outputs["8"][0].reshape(steps, batch, 64, 64, 3)            # VAE Decode of outer_step_images
    cell = 72
    canvas = Image.new("RGB", (steps * cell + 6, batch * cell + 6), "#808080")
    draw = ImageDraw.Draw(canvas)
    for r in range(batch):
        for c in range(steps):
            array = (images[c, r].float().clamp(0, 1) * 255).round().byte().cpu().numpy()
            x, y = 6 + c * cell, 6 + r * cell
            canvas.paste(Image.fromarray(array), (x, y))
            if c == 0 and r == TEMPLATE_PICK:
                draw.rectangle((x - 3, y - 3, x + 66, y + 66), outline="#d62728", width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, quality=92)
    return s.read(outputs["5"][0]["samples"]).tolist()


def write_tables(result: dict, args) -> None:
    table = markdown(result)
    print(table)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text("# Steering evidence\n\n" + table, encoding="utf-8")
    if str(args.page) not in ("", "."):
        write_page(args.page, table)


def main(argv=None):
    args = parse_args(argv)
    import sys

    if args.from_json:
        write_tables(json.loads(args.from_json.read_text(encoding="utf-8")), args)
        return

    sys.path.insert(0, str(PACK_ROOT / "bench"))  # bench/, for the harness (imported here: the tests load this file)
    from harness import comfy_host

    env = comfy_host.open_demo(SCRIPT, args.threads)
    host_env = comfy_host.host_env()

    started, cpu_started = time.time(), time.process_time()
    s = Session(env)
    ks = [int(k) for k in args.ks.split(",")]
    pairs = [tuple(int(d) for d in p.split(":")) for p in args.pairs.split(",")]

    if args.thumbnail:
        print(f"thumbnail {args.thumbnail}: finals read as {thumbnail(s, args.thumbnail)}", flush=True)
    if args.pictures_only:
        filmstrip(s, args.filmstrip)
        print(f"wrote {args.filmstrip}")
        return
    final, _ = s.run(TEMPLATE_SEED, 8, f"a handwritten {TEMPLATE_DIGIT}")
    decode_error = check_decoding(s, final)
    print(f"closed-form drawing vs VAE Decode: largest difference {decode_error:.2e}", flush=True)

    distances = measure_pick_distances(s, range(args.seeds))
    print("pick distances", json.dumps(distances), flush=True)
    spread = []
    for setting in SETTINGS:
        spread.append(measure_spread(s, setting, args.groups, args.chunk))
        print("spread", json.dumps(spread[-1]), flush=True)
    prompt = []
    for old, new in pairs:
        pair = measure_prompt_change(s, old, new, ks, args.runs, args.chunk)
        pair["last_winning_k"] = last_winning_k(pair)
        prompt.append(pair)
        print("prompt", json.dumps(pair), flush=True)

    # The exact command, with this machine's folders as the docs write them.
    command = (comfy_host.command_line(SCRIPT).replace(str(PACK_ROOT), "/path/to/nested-diffusion")
               .replace(os.environ["COMFYUI_PATH"], "/path/to/ComfyUI")
               .replace(sys.executable, "/path/to/comfy/venv/bin/python"))
    short = f"bench/{SCRIPT}" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(
        (argv if argv is not None else sys.argv[1:])))
    result = {"comfyui_version": host_env.host_version(), "date": datetime.datetime.now(datetime.timezone.utc)
              .strftime("%Y-%m-%d %H:%M UTC"), "command": command, "command_short": short,
              "threads": args.threads, "torch": env.torch.__version__, "seconds": time.time() - started,
              "cpu_seconds": time.process_time() - cpu_started,
              "model_cpu_seconds": s.model_seconds, "decode_check_max_abs": decode_error,
              "settings": {"outer_steps": OUTER, "inner_steps": INNER, "cfg": CFG, "scheduler": SCHEDULER},
              "pick_distances": distances, "spread": spread, "prompt": prompt}
    if args.filmstrip:
        filmstrip(s, args.filmstrip)
        print(f"wrote {args.filmstrip}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    write_tables(result, args)
    print(f"wrote {args.json}, {args.markdown}")


if __name__ == "__main__":
    main()
