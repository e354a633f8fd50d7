"""The video demo template (example_workflows/nested_diffusion_demo_video.json) through the real
server: converted to API format with the server's own node definitions and queued as the editor
would, it runs with the shipped video model, a core empty-video-latent node and ComfyUI's own
Save Animated WEBP, which writes the final clip and the outer-step clips as animations."""

from __future__ import annotations

import json

from PIL import Image

from comfy_server import REPO_ROOT
from server_asserts import assert_outer_steps
from ui_workflow import api_prompt

TEMPLATE = REPO_ROOT / "example_workflows" / "nested_diffusion_demo_video.json"
FRAMES = 8


def test_video_demo_loader_node_is_served(nested_none):
    info = nested_none.object_info()["NestedDiffusionDemoVideoModel"]
    assert info["output"] == ["MODEL", "CLIP", "VAE"]
    assert info["category"] == "sampling/nested_diffusion"
    assert info["input"]["required"] == {}
    assert "Empty HunyuanVideo Latent" in info["description"] and "length 29" in info["description"]


def test_video_demo_template_runs_on_the_server(nested):
    info = nested.object_info()
    workflow = json.loads(TEMPLATE.read_text())
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] != "Note"]  # the editor never sends notes
    prompt = api_prompt(workflow, lambda t: info[t]["input"])
    outer = prompt["5"]["inputs"]["outer_steps"]
    run = nested.run_prompt(prompt)
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", outer, total=outer)
    for node, frames in (("7", FRAMES), ("9", outer * FRAMES)):
        saved = run.history["outputs"][node]["images"]
        assert len(saved) == 1, saved
        clip = Image.open(nested.output_dir / saved[0]["subfolder"] / saved[0]["filename"])
        assert clip.format == "WEBP" and clip.size == (128, 128) and clip.n_frames == frames, (node, clip.n_frames)
        assert run.history["outputs"][node]["animated"] == [True]
