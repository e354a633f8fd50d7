"""SamplerNestedDiffusion as a SAMPLER in ComfyUI's SamplerCustomAdvanced and SamplerCustom:
events, previews and progress belong to the node that samples, for eps, v and flow models."""

from __future__ import annotations

import pytest
import torch

from comfy_server import EVENT
from server_asserts import assert_outer_steps, assert_previews, assert_progress
from server_prompts import (
    LATENT,
    MODEL,
    NEGATIVE,
    POSITIVE,
    base_graph,
    load_latent,
    node,
    sampler_nested_diffusion_node,
    save_latent,
)

SAMPLER, SIGMAS, SAMPLING, SAVE = "7", "8", "9", "10"


def custom_advanced_prompt(kind: str = "eps", guider: str = "cfg", steps: int = 3, **sampler_inputs) -> dict:
    prompt = base_graph(kind=kind)
    prompt["5"] = node("RandomNoise", noise_seed=11)
    if guider == "cfg":
        prompt["6"] = node("CFGGuider", model=[MODEL, 0], positive=[POSITIVE, 0], negative=[NEGATIVE, 0], cfg=3.0)
    else:
        prompt["6"] = node("BasicGuider", model=[MODEL, 0], conditioning=[POSITIVE, 0])
    prompt[SAMPLER] = sampler_nested_diffusion_node(**sampler_inputs)
    prompt[SIGMAS] = node("BasicScheduler", model=[MODEL, 0], scheduler="normal", steps=steps, denoise=1.0)
    prompt[SAMPLING] = node("SamplerCustomAdvanced", noise=["5", 0], guider=["6", 0], sampler=[SAMPLER, 0],
                            sigmas=[SIGMAS, 0], latent_image=[LATENT, 0])
    prompt[SAVE] = save_latent(SAMPLING, 0)
    return prompt


def assert_three_outer_steps_on_sampling_node(server, run) -> None:
    assert run.status == "success", run.describe()
    assert_outer_steps(run, SAMPLING, 3, total=3)
    assert len(run.of_type(EVENT)) == 3  # none attributed to the SAMPLER-building node
    assert_previews(run, SAMPLING, 3)
    assert_progress(run, SAMPLING, 3)
    out = load_latent(server.saved_latent_path(run, SAVE))
    assert out.shape == (1, 4, 16, 16) and bool(torch.isfinite(out).all())


def test_sampler_custom_advanced_eps(nested):
    run = nested.run_prompt(custom_advanced_prompt())
    assert_three_outer_steps_on_sampling_node(nested, run)


@pytest.mark.parametrize("kind,guider", [("v_prediction", "cfg"), ("flow", "cfg"), ("flow", "basic")])
def test_sampler_custom_advanced_other_model_kinds(nested_none, kind, guider):
    run = nested_none.run_prompt(custom_advanced_prompt(kind=kind, guider=guider))
    assert_three_outer_steps_on_sampling_node(nested_none, run)


def test_sampler_custom_advanced_inner_sampler_override(nested_none):
    prompt = custom_advanced_prompt(inner_sampler="euler")
    prompt["11"] = node("KSamplerSelect", sampler_name="dpmpp_2m")
    prompt[SAMPLER]["inputs"]["inner_sampler_override"] = ["11", 0]
    run = nested_none.run_prompt(prompt)
    assert_three_outer_steps_on_sampling_node(nested_none, run)


def test_sampler_custom_events_on_its_node(nested_none):
    prompt = base_graph()
    prompt[SAMPLER] = sampler_nested_diffusion_node()
    prompt[SIGMAS] = node("BasicScheduler", model=[MODEL, 0], scheduler="normal", steps=3, denoise=1.0)
    prompt[SAMPLING] = node("SamplerCustom", model=[MODEL, 0], add_noise=True, noise_seed=5, cfg=3.0,
                            positive=[POSITIVE, 0], negative=[NEGATIVE, 0], sampler=[SAMPLER, 0],
                            sigmas=[SIGMAS, 0], latent_image=[LATENT, 0])
    prompt[SAVE] = save_latent(SAMPLING, 0)
    run = nested_none.run_prompt(prompt)
    assert_three_outer_steps_on_sampling_node(nested_none, run)
