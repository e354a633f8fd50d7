"""The demo as pictures: nested outer-step images next to a plain sampler's previews.

Runs the demo template (example_workflows/nested_diffusion_demo_digits.json) in-process on the
real ComfyUI named by COMFYUI_PATH, once per digit ("a handwritten <d>", batch 1), and writes a
PNG filmstrip. For each digit, two rows at the same model-call counts (NFE 20, 40, ..., 100):

* nested: the image each outer step of the template's Nested KSampler finished (5 x 20);
* plain: the x0 preview that ComfyUI's KSampler path shows during one 100-step run with the
  template's sampler, cfg and seed (``comfy.sample.sample``, euler_ancestral, normal scheduler),
  i.e. what a user watching a normal run sees after the same number of model calls.

Both are VAE-decoded by the demo VAE. With ``--thumbnail`` it also writes the template's
thumbnail: the template as shipped (digit 7, batch 4), every outer step's images.

Run:  cd <pack> && COMFYUI_PATH=/path/to/ComfyUI <comfy python> bench/assets/demo.py
Options: --digits 0,3,5,8 --seed 7 --out docs/demo_filmstrip.png --thumbnail PATH.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness.comfy_host import PACK_ROOT, open_demo  # noqa: E402

SCRIPT = "assets/demo.py"

TEMPLATE = PACK_ROOT / "example_workflows" / "nested_diffusion_demo_digits.json"

OUTPUT_NODES = ("7", "9")          # SaveImage / PreviewImage: the bench keeps its pictures itself
TILE = 128                          # each 64x64 IMAGE drawn at 2x, nearest
LABEL_W, HEADER_H = 210, 28


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--digits", default="0,3,5,8")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=PACK_ROOT / "docs" / "demo_filmstrip.png")
    p.add_argument("--thumbnail", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def main():
    args = parse_args()
    env = open_demo(SCRIPT, args.threads)
    torch, pack, judge, space = env.torch, env.pack, env.classifier.load_classifier(), env.digit_space
    import nodes

    import ui_workflow  # tests/helpers

    classes = {**nodes.NODE_CLASS_MAPPINGS, **pack.NODE_CLASS_MAPPINGS}
    template = ui_workflow.api_prompt(json.loads(TEMPLATE.read_text()), lambda t: classes[t].INPUT_TYPES())

    def guess(images):
        with torch.no_grad():
            return judge(space.pixels_from_image(images)).argmax(1).tolist()

    if args.thumbnail:
        outputs = ui_workflow.run_graph(without_outputs(template), classes)
        steps, batch = template["5"]["inputs"]["outer_steps"], template["4"]["inputs"]["batch_size"]
        grid = outputs["8"][0].reshape(steps, batch, 64, 64, 3).movedim(0, 1)  # rows: images, cols: steps
        save_grid(grid, args.thumbnail)
        print(f"thumbnail {args.thumbnail}: final images recognised as {guess(outputs['6'][0])}")

    rows, labels = [], []
    for digit in [int(d) for d in args.digits.split(",")]:
        prompt = without_outputs(json.loads(json.dumps(template)))
        prompt["2"]["inputs"]["text"] = f"a handwritten {digit}"
        prompt["4"]["inputs"]["batch_size"] = 1
        prompt["5"]["inputs"]["seed"] = args.seed
        outputs = ui_workflow.run_graph(prompt, classes)
        nested = outputs["8"][0]
        plain = plain_previews(torch, outputs, prompt, classes)
        rows += [nested, plain]
        labels += [f"'{digit}' nested {len(nested)}x{prompt['5']['inputs']['inner_steps']}",
                   f"'{digit}' plain x0 preview"]
        print(f"digit {digit}: nested outer steps read as {guess(nested)}, plain previews as {guess(plain)}")
    inner = template["5"]["inputs"]["inner_steps"]
    header = [f"NFE {inner * (i + 1)}" for i in range(len(rows[0]))]
    filmstrip(rows, labels, header, args.out)
    print(f"wrote {args.out}")


def without_outputs(prompt: dict) -> dict:
    return {k: v for k, v in prompt.items() if k not in OUTPUT_NODES}


def plain_previews(torch, outputs, prompt, classes):
    """x0 of a plain 100-step run at every `inner_steps` model calls, decoded like the nested images."""
    import comfy.sample

    s = prompt["5"]["inputs"]
    model, _clip, vae = outputs["1"]
    latent = comfy.sample.fix_empty_latent_channels(model, outputs["4"][0]["samples"])
    total = s["outer_steps"] * s["inner_steps"]
    x0s = []

    def callback(step, x0, x, total_steps):
        if (step + 1) % s["inner_steps"] == 0:
            x0s.append(model.model.process_latent_out(x0.detach().clone()))

    with torch.inference_mode():
        noise = comfy.sample.prepare_noise(latent, s["seed"])
        comfy.sample.sample(model, noise, total, s["cfg"], s["sampler_name"], "normal", outputs["2"][0],
                            outputs["3"][0], latent, seed=s["seed"], callback=callback, disable_pbar=True)
        return vae.decode(torch.cat(x0s))


def save_grid(grid, path: Path):
    from PIL import Image

    rows, cols = grid.shape[:2]
    canvas = Image.new("RGB", (cols * 66 + 2, rows * 66 + 2), "#808080")
    for r in range(rows):
        for c in range(cols):
            canvas.paste(to_pil(grid[r, c]), (2 + c * 66, 2 + r * 66))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, quality=92)


def to_pil(image, size: int = 64):
    from PIL import Image

    array = (image.detach().float().clamp(0, 1) * 255).round().byte().cpu().numpy()
    return Image.fromarray(array).resize((size, size), Image.NEAREST)


def filmstrip(rows, labels, header, path: Path):
    from PIL import Image, ImageDraw

    cols = len(header)
    canvas = Image.new("RGB", (LABEL_W + cols * (TILE + 4), HEADER_H + len(rows) * (TILE + 4)), "white")
    draw = ImageDraw.Draw(canvas)
    for c, text in enumerate(header):
        draw.text((LABEL_W + c * (TILE + 4) + 8, 8), text, fill="black")
    for r, (images, label) in enumerate(zip(rows, labels)):
        y = HEADER_H + r * (TILE + 4)
        draw.text((8, y + TILE // 2 - 6), label, fill="black")
        for c, image in enumerate(images):
            canvas.paste(to_pil(image, TILE), (LABEL_W + c * (TILE + 4), y))
        if r % 2 == 1 and r + 1 < len(rows):
            draw.line((0, y + TILE + 1, canvas.width, y + TILE + 1), fill="#999999", width=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


if __name__ == "__main__":
    main()
