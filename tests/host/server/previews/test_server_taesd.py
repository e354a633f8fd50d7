"""With --preview-method taesd and a TAESD decoder installed, the outer-step previews come from
ComfyUI's TAESD previewer, not from the pack's latent2rgb fallback."""

from __future__ import annotations

import io
import os

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from comfy.taesd.taesd import TAESD

from comfy_server import ComfyServer
from server_asserts import assert_outer_steps
from server_prompts import nested_ksampler_node, sampling_prompt

LATENT_SIDE = 16  # a 128 px empty latent
COLOUR = (230, 25, 128)


def constant_colour_taesd_decoder(path) -> None:
    """A TAESD decoder (real shapes, no download) that paints every image one colour: zero
    weights, and the last convolution's bias set to COLOUR / 255. latent2rgb never does that."""
    decoder = TAESD().taesd_decoder
    with torch.no_grad():
        for p in decoder.parameters():
            p.zero_()
        decoder[-1].bias.copy_(torch.tensor(COLOUR, dtype=torch.float32) / 255)
    save_file({k: v.contiguous() for k, v in decoder.state_dict().items()}, str(path))


@pytest.fixture(scope="module")
def taesd_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("comfy-taesd")
    approx = workdir / "vae_approx"
    approx.mkdir()
    constant_colour_taesd_decoder(approx / "taesd_decoder.safetensors")
    server = ComfyServer(os.environ["COMFYUI_PATH"], workdir, "taesd", model_folders={"vae_approx": approx})
    server.start()
    try:
        yield server.require_pack_nodes()
    finally:
        server.stop()


def colour_stats(preview) -> tuple[torch.Tensor, float]:
    pixels = torch.tensor(list(Image.open(io.BytesIO(preview.image)).convert("RGB").getdata()), dtype=torch.float32)
    return pixels.mean(0), float(pixels.std(0).max())


def outer_step_previews(server) -> list:
    run = server.run_prompt(sampling_prompt(nested_ksampler_node(outer_steps=3, inner_steps=2), size=LATENT_SIDE * 8))
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", 3, total=3)
    previews = run.previews_for("5")
    assert len(previews) == 3
    return previews


def test_taesd_previews_are_used_when_configured(taesd_server):
    assert "TAESD previews enabled, but could not find" not in taesd_server.log_text()
    for preview in outer_step_previews(taesd_server):
        mean, spread = colour_stats(preview)
        assert float((mean - torch.tensor(COLOUR, dtype=torch.float32)).abs().max()) <= 6, mean.tolist()
        assert spread <= 4, spread
