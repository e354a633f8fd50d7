"""The demo template (example_workflows/nested_diffusion_demo_digits.json) through the real
server: converted to API format with the server's own node definitions, queued as the editor
would, it runs with the shipped digits model and shows a digit in every outer-step preview."""

from __future__ import annotations

import io
import json

import torch
from PIL import Image

from comfy_server import REPO_ROOT
from server_asserts import assert_outer_steps, assert_previews
from ui_workflow import api_prompt

TEMPLATE = REPO_ROOT / "example_workflows" / "nested_diffusion_demo_digits.json"


def test_demo_loader_node_is_served(nested_none):
    info = nested_none.object_info()["NestedDiffusionDemoModel"]
    assert info["output"] == ["MODEL", "CLIP", "VAE"]
    assert info["category"] == "sampling/nested_diffusion"
    assert info["input"]["required"] == {}
    assert "64" in info["description"]


def test_demo_template_runs_on_the_server(nested):
    info = nested.object_info()
    prompt = api_prompt(json.loads(TEMPLATE.read_text()), lambda t: info[t]["input"])
    outer, batch = prompt["5"]["inputs"]["outer_steps"], prompt["4"]["inputs"]["batch_size"]
    run = nested.run_prompt(prompt)
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", outer, total=outer)
    assert_previews(run, "5", outer)
    assert len(run.history["outputs"]["7"]["images"]) == batch
    assert len(run.history["outputs"]["9"]["images"]) == batch * outer
    saved = run.history["outputs"]["7"]["images"][0]
    image = Image.open(nested.output_dir / saved["subfolder"] / saved["filename"])
    assert image.size == (64, 64)
    # The last outer step's preview is the first image's latent drawn by latent2rgb: a dark
    # digit on light paper (grey values of an 8x8 JPEG).
    preview = Image.open(io.BytesIO(run.previews[-1].image)).convert("L")
    grey = torch.frombuffer(bytearray(preview.tobytes()), dtype=torch.uint8).float() / 255
    assert grey.max() > 0.8 and grey.min() < 0.2 and 0.3 < grey.mean() < 0.9, grey.reshape(preview.size[::-1])
