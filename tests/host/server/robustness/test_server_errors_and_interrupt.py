"""Bad inputs give clear errors (validation or execution), an interrupt stops a run between
model calls, and after each the same server runs the next good prompt normally."""

from __future__ import annotations

from comfy_server import EVENT
from server_asserts import assert_outer_steps, assert_previews
from server_prompts import (
    LATENT,
    MODEL,
    NEGATIVE,
    POSITIVE,
    base_graph,
    nested_ksampler_advanced_node,
    nested_ksampler_node,
    node,
    sampler_nested_diffusion_node,
    sampling_prompt,
    save_latent,
)


def good_prompt() -> dict:
    return sampling_prompt(nested_ksampler_node(outer_steps=3, inner_steps=2))


def assert_server_still_serves(server) -> None:
    run = server.run_prompt(good_prompt())
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", 3, total=3)
    assert_previews(run, "5", 3)


def assert_execution_error(run, node_id: str, *names: str) -> None:
    assert run.http_status == 200 and run.status == "error", run.describe()
    errors = run.of_type("execution_error")
    assert [e["node_id"] for e in errors] == [node_id], errors
    assert all(name in run.error_text() for name in names), run.error_text()


def test_outer_steps_zero_fails_validation(nested_none):
    prompt = good_prompt()
    prompt["5"]["inputs"]["outer_steps"] = 0
    run = nested_none.run_prompt(prompt)
    assert run.http_status == 400, run.describe()
    errors = run.response["node_errors"]["5"]["errors"]
    assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [("value_smaller_than_min", "outer_steps")]
    assert_server_still_serves(nested_none)


def test_denoise_zero_is_an_execution_error_naming_denoise(nested_none):
    prompt = good_prompt()
    prompt["5"]["inputs"]["denoise"] = 0.0
    run = nested_none.run_prompt(prompt)
    assert_execution_error(run, "5", "denoise")
    assert run.of_type(EVENT) == []
    assert_server_still_serves(nested_none)


def test_advanced_start_not_before_end_is_an_execution_error(nested_none):
    run = nested_none.run_prompt(sampling_prompt(nested_ksampler_advanced_node(outer_steps=4, start=3, end=2)))
    assert_execution_error(run, "5", "start_at_outer_step", "end_at_outer_step")
    assert_server_still_serves(nested_none)


def custom_with_sigmas(sigmas_nodes: dict, sigmas_link: list) -> dict:
    prompt = base_graph()
    prompt.update(sigmas_nodes)
    prompt["5"] = node("RandomNoise", noise_seed=3)
    prompt["6"] = node("CFGGuider", model=[MODEL, 0], positive=[POSITIVE, 0], negative=[NEGATIVE, 0], cfg=3.0)
    prompt["7"] = sampler_nested_diffusion_node()
    prompt["9"] = node("SamplerCustomAdvanced", noise=["5", 0], guider=["6", 0], sampler=["7", 0],
                       sigmas=sigmas_link, latent_image=[LATENT, 0])
    prompt["10"] = save_latent("9", 0)
    return prompt


def test_empty_sigmas_never_reach_the_nested_sampler(nested_none):
    # BasicScheduler denoise 0 gives an empty SIGMAS; ComfyUI's guider then returns the latent
    # without calling any sampler (comfy/samplers.py CFGGuider.sample), so no outer step runs.
    basic = {"8": node("BasicScheduler", model=[MODEL, 0], scheduler="normal", steps=3, denoise=0.0)}
    run = nested_none.run_prompt(custom_with_sigmas(basic, ["8", 0]))
    assert run.status == "success", run.describe()
    assert run.of_type(EVENT) == [] and run.previews == []
    assert_server_still_serves(nested_none)


def test_single_sigma_is_an_error_naming_sigmas(nested_none):
    # The low half of a split at the last step is [0.0]: no outer step can be made from it.
    split = {"8": node("BasicScheduler", model=[MODEL, 0], scheduler="normal", steps=3, denoise=1.0),
             "11": node("SplitSigmas", sigmas=["8", 0], step=3)}
    run = nested_none.run_prompt(custom_with_sigmas(split, ["11", 1]))
    assert_execution_error(run, "9", "sigmas")
    assert_server_still_serves(nested_none)


def test_interrupt_after_first_outer_step_then_next_prompt_runs(nested_none):
    # A 32x32 latent and 6 x 6 model calls: far longer than one round trip.
    prompt = sampling_prompt(nested_ksampler_node(outer_steps=6, inner_steps=6), size=256)
    sent = []

    def interrupt_on_first_step(server, message):
        if message.get("type") == EVENT and not sent:
            sent.append(message["data"]["step"])
            server.interrupt()

    run = nested_none.run_prompt(prompt, on_message=interrupt_on_first_step)
    assert sent == [1]
    interrupted = run.of_type("execution_interrupted")
    assert [(m["node_id"], m["node_type"]) for m in interrupted] == [("5", "NestedKSampler")], run.describe()
    assert run.status == "error" and run.of_type("execution_error") == []
    assert 1 <= len(run.outer_steps("5")) < 6
    assert "6" not in run.history.get("outputs", {})
    assert_server_still_serves(nested_none)
