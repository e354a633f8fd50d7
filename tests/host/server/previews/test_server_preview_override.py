"""A prompt that chooses its own preview method (``extra_data["preview_method"]``, ComfyUI
0.3.76+): the pack's fallback preview follows the method of the running prompt, not the
server's default. Exactly one preview per outer step either way: the pack's own when the prompt
turns previews off, the host's when it turns them on."""

from __future__ import annotations

import pytest

import latent_preview

from server_asserts import assert_outer_steps, assert_previews, assert_progress
from server_prompts import base_graph, nested_ksampler_node, save_latent

pytestmark = pytest.mark.skipif(
    not hasattr(latent_preview, "set_preview_method"),
    reason="this ComfyUI has no per-prompt preview method (extra_data preview_method, added in 0.3.76)")

OUTER = 3


def run_with_preview_method(server, override: str):
    prompt = base_graph()
    prompt["5"] = nested_ksampler_node(outer_steps=OUTER, inner_steps=2)
    prompt["6"] = save_latent("5", 0)
    run = server.run_prompt(prompt, extra_data={"preview_method": override})
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", OUTER, total=OUTER)
    assert_progress(run, "5", OUTER)
    return run


@pytest.mark.parametrize("server_default, override", [("latent2rgb", "none"), ("none", "latent2rgb")])
def test_one_preview_per_outer_step_under_the_prompts_method(comfy_servers, server_default, override):
    server = comfy_servers(server_default)
    run = run_with_preview_method(server, override)
    assert_previews(run, "5", OUTER)


def test_the_override_lasts_one_prompt(comfy_servers):
    # After a prompt that turned previews on, the next prompt runs under the server's default
    # (none) again, and the pack previews it itself: still one image per outer step.
    server = comfy_servers("none")
    run_with_preview_method(server, "latent2rgb")
    run = run_with_preview_method(server, "default")
    assert_previews(run, "5", OUTER)
