"""POST /nested_diffusion/stop: the running nested sampler ends with its last finished outer
image, the graph completes on it, and the next prompt runs in full."""

from __future__ import annotations

import torch

from comfy_server import EVENT
from server_asserts import assert_outer_steps
from server_prompts import load_latent, nested_ksampler_node, sampling_prompt

ROUTE = "/nested_diffusion/stop"


def long_prompt() -> dict:
    return sampling_prompt(nested_ksampler_node(outer_steps=6, inner_steps=6), size=256, save_outer_images=True)


def test_stop_route_rejects_bad_bodies_and_idle_stops(nested_none):
    assert nested_none.request("POST", ROUTE, {}) == (409, {"stopping": []})
    status, body = nested_none.request("POST", ROUTE, {"prompt_id": 7})
    assert status == 400 and "prompt_id" in body["error"]


def test_stop_keeps_the_last_finished_image_and_the_next_prompt_runs_in_full(nested_none):
    answers = []

    def stop_on_first_step(server, message):
        if message.get("type") == EVENT and not answers:
            answers.append(server.request("POST", ROUTE, {"prompt_id": message["data"]["prompt_id"]}))

    run = nested_none.run_prompt(long_prompt(), on_message=stop_on_first_step)
    assert answers and answers[0][0] == 200, answers
    assert run.status == "success", run.describe()
    steps = len(run.outer_steps("5"))
    assert 1 <= steps < 6
    final = load_latent(nested_none.saved_latent_path(run, "6"))
    images = load_latent(nested_none.saved_latent_path(run, "7"))
    assert images.shape[0] == steps
    torch.testing.assert_close(final, images[-1:], rtol=0, atol=1e-6)

    again = nested_none.run_prompt(long_prompt())
    assert again.status == "success", again.describe()
    assert_outer_steps(again, "5", 6, total=6)
