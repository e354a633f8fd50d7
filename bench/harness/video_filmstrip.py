"""The animated filmstrip of the video evidence: nested outer-step clips next to a plain sampler's x0
previews at the same model calls, as one looping animated WebP (and a GIF fallback).

Drawn by ``bench/quality/video_quality.py`` from its first chunk (the same seeds and runs it scores). Layout: one
column per outer step of the first nested configuration with the last --outer-noise (labelled with
its model calls), and for
each example clip two rows: the nested run's outer-step clip and the plain run's x0 preview after
the same number of model calls. Needs pillow (ComfyUI's own dependency).
"""

from __future__ import annotations

from pathlib import Path

import torch

SCALE = 4            # each latent pixel drawn as a SCALE x SCALE block
GAP = 4
LABEL_W = 74
HEADER_H = 16
GIF_LEVELS = 16
EXAMPLES = (3, 17, 25, 38)   # clip i asks for digit i % 10 moving (i // 10) % 4: 3 left, 7 right, 5 up, 8 down


def _grey(clip: torch.Tensor, clips_module):
    """[T, H, W] uint8 frames of one clip latent [1, T, H, W]."""
    pixels = clips_module.pixels_from_latent(clip)[0]
    return (pixels * 255).round().to(torch.uint8)


def save(pending: list, method: str, path: Path, digits, directions, clips_module) -> list[Path]:
    from PIL import Image, ImageDraw

    nested = {nfe: x for m, nfe, x in pending if m == method}
    preview = {nfe: x for m, nfe, x in pending if m == "plain x0 preview"}
    columns = [n for n in sorted(nested) if n in preview]
    chosen = [i for i in EXAMPLES if i < len(digits)] or list(range(min(2, len(digits))))
    frames_n = nested[columns[0]].shape[2]
    side = nested[columns[0]].shape[-1] * SCALE
    width = LABEL_W + len(columns) * (side + GAP)
    height = HEADER_H + len(chosen) * 2 * (side + GAP) + GAP * len(chosen)
    names = clips_module.DIRECTIONS
    frames = []
    for f in range(frames_n):
        canvas = Image.new("L", (width, height), 200)
        draw = ImageDraw.Draw(canvas)
        for c, nfe in enumerate(columns):
            draw.text((LABEL_W + c * (side + GAP), 2), f"{c + 1} · {nfe} calls", fill=0)
        y = HEADER_H
        for i in chosen:
            for row, (label, source) in enumerate((("nested", nested), ("plain x0", preview))):
                text = f"{int(digits[i])} {names[int(directions[i])]}\n{label}" if row == 0 else label
                draw.text((2, y + 2), text, fill=0)
                for c, nfe in enumerate(columns):
                    tile = Image.fromarray(_grey(source[nfe][i], clips_module)[f].numpy(), "L")
                    canvas.paste(tile.resize((side, side), Image.NEAREST), (LABEL_W + c * (side + GAP), y))
                y += side + GAP
            y += GAP
        draw.text((2, 2), f"frame {f + 1}/{frames_n}", fill=0)
        frames.append(canvas)
    fps = getattr(clips_module, "FPS", 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    gif = path.with_suffix(".gif")
    options = {"save_all": True, "append_images": frames[1:], "duration": int(1000 / fps), "loop": 0}
    frames[0].save(path, lossless=True, **options)
    # The GIF fallback in 16 grey levels (a third of the size at 256); the WebP keeps every level.
    levels = [f.point(lambda v: (v * GIF_LEVELS // 256) * 255 // (GIF_LEVELS - 1)) for f in frames]
    options["append_images"] = levels[1:]
    levels[0].save(gif, optimize=True, **options)
    return [path, gif]
