"""POST /nested_diffusion/stop: the running nested sampler ends with its last finished outer
image, the graph completes on it, and the next prompt runs in full."""

from __future__ import annotations

import torch

from comfy_server import EVENT
from server_asserts import assert_outer_steps
from server_prompts import (
    base_graph,
    load_latent,
    nested_ksampler_advanced_node,
    nested_ksampler_node,
    node,
    sampling_prompt,
    save_latent,
)

ROUTE = "/nested_diffusion/stop"


def long_prompt() -> dict:
    return sampling_prompt(nested_ksampler_node(outer_steps=6, inner_steps=6), size=256, save_outer_images=True)


def stopper():
    """An on_message hook that asks the prompt to stop at its first outer-step event, and the
    list of the route's answers."""
    answers = []

    def stop_on_first_step(server, message):
        if message.get("type") == EVENT and not answers:
            answers.append(server.request("POST", ROUTE, {"prompt_id": message["data"]["prompt_id"]}))

    return answers, stop_on_first_step


def test_stop_route_rejects_bad_bodies_and_idle_stops(nested_none):
    assert nested_none.request("POST", ROUTE, {}) == (409, {"stopping": []})
    status, body = nested_none.request("POST", ROUTE, {"prompt_id": 7})
    assert status == 400 and "prompt_id" in body["error"]


def test_stop_keeps_the_last_finished_image_and_the_next_prompt_runs_in_full(nested_none):
    answers, stop_on_first_step = stopper()
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


def chain_prompt() -> dict:
    """Outer steps 0-4 of 6 with leftover noise (node 10), then 4-6 without new noise on another
    positive (node 11): the prompt-change template's chain."""
    prompt = base_graph(size=256)
    prompt["9"] = node("NestedTestConditioning", seed=99, zero=False)
    prompt["10"] = nested_ksampler_advanced_node(outer_steps=6, inner_steps=6, start=0, end=4, leftover="enable")
    prompt["11"] = nested_ksampler_advanced_node(add_noise="disable", outer_steps=6, inner_steps=6, start=4,
                                            positive="9", latent=["10", 0])
    prompt["12"] = save_latent("11", 0)
    prompt["13"] = save_latent("11", 1)
    prompt["14"] = save_latent("10", 1)
    return prompt


def test_a_stop_in_the_first_node_of_a_chain_ends_the_prompts_nested_work(nested_none):
    answers, stop_on_first_step = stopper()
    run = nested_none.run_prompt(chain_prompt(), on_message=stop_on_first_step)
    assert answers and answers[0][0] == 200, answers
    assert run.status == "success", run.describe()
    first, second = len(run.outer_steps("10")), len(run.outer_steps("11"))
    assert 1 <= first < 4, "the leftover-noise node stops too"
    assert second == 1, "a later nested node of the stopped prompt runs one outer step"
    assert load_latent(nested_none.saved_latent_path(run, "14")).shape[0] == first
    final = load_latent(nested_none.saved_latent_path(run, "12"))
    images = load_latent(nested_none.saved_latent_path(run, "13"))
    assert images.shape[0] == 1 and bool(torch.isfinite(final).all())
    torch.testing.assert_close(final, images[-1:], rtol=0, atol=1e-6)

    # The stop belonged to that prompt only: the same chain queued again runs in full.
    again = nested_none.run_prompt(chain_prompt())
    assert again.status == "success", again.describe()
    assert_outer_steps(again, "10", 4)
    assert_outer_steps(again, "11", 2)
