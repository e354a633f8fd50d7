"""Make the video demo template's animated thumbnail from a real run of the template's graph.

    cd <pack folder>
    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy/venv/bin/python bench/assets/demo_video_thumbnail.py

Runs ``example_workflows/nested_diffusion_demo_video.json`` in-process (its seed, prompt and
settings; the Save Animated WEBP nodes left out) and writes a 256x256 animated GIF of four of
its outer-step clips in a 2x2 grid (outer steps 1, 2, 3 and the last), playing at the model's
frame rate, to ``example_workflows/nested_diffusion_demo_video.jpg``. The file name ends in .jpg
because the frontends (1.27.10 and 1.49.6) ask every custom-node template for ``<name>.jpg``;
browsers pick the image decoder from the file's bytes, so the GIF animates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for the harness
from harness import comfy_host  # noqa: E402

SCRIPT = "assets/demo_video_thumbnail.py"
PACK_ROOT = comfy_host.PACK_ROOT

TEMPLATE = PACK_ROOT / "example_workflows" / "nested_diffusion_demo_video.json"
OUT = TEMPLATE.with_suffix(".jpg")


def main():
    env = comfy_host.open_demo(SCRIPT, 1)
    torch = env.torch
    from PIL import Image

    import nodes

    from ui_workflow import api_prompt, run_graph  # tests/helpers, through the harness

    classes = {**nodes.NODE_CLASS_MAPPINGS, **env.pack.NODE_CLASS_MAPPINGS,
               "EmptyHunyuanLatentVideo": comfy_host.empty_video_latent_node()}
    workflow = json.loads(TEMPLATE.read_text())
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] not in ("SaveAnimatedWEBP", "Note")]
    prompt = api_prompt(workflow, lambda t: classes[t].INPUT_TYPES())
    outputs = run_graph(prompt, classes)
    outer = prompt["5"]["inputs"]["outer_steps"]
    frames = outputs["8"][0]                        # [outer * T, 128, 128, 3]
    clips = frames.reshape(outer, -1, *frames.shape[1:])
    picks = [0, 1, 2, outer - 1]
    fps = outputs["1"][0].get_model_object("latent_format").nested_clip_fps
    grid = []
    for t in range(clips.shape[1]):
        cells = [clips[i, t] for i in picks]
        top, bottom = torch.cat(cells[:2], dim=1), torch.cat(cells[2:], dim=1)
        grid.append(Image.fromarray((torch.cat([top, bottom], dim=0) * 255).round().byte().numpy()))
    grid[0].save(OUT, format="GIF", save_all=True, append_images=grid[1:], duration=round(1000 / fps), loop=0)
    print(f"wrote {OUT}: {len(grid)} frames of {grid[0].size[0]}x{grid[0].size[1]} at {fps} fps "
          f"(outer steps {[i + 1 for i in picks]} of {outer}; prompt {prompt['2']['inputs']['text']!r})")


if __name__ == "__main__":
    main()
