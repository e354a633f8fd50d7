"""NestedKSampler and NestedKSamplerAdvanced through the real server: per-outer-step previews,
websocket events and progress, and the saved latents (final vs. outer-step images)."""

from __future__ import annotations

import pytest
import torch

from comfy_server import EVENT
from server_asserts import assert_outer_steps, assert_previews, assert_progress
from server_prompts import (
    POSITIVE,
    base_graph,
    load_latent,
    nested_ksampler_advanced_node,
    nested_ksampler_node,
    node,
    sampling_prompt,
    save_latent,
)


def nested_prompt(batch: int = 1, **sampler_inputs) -> dict:
    return sampling_prompt(nested_ksampler_node(**sampler_inputs), batch=batch, save_outer_images=True)


def test_nested_ksampler_previews_events_and_outer_images(nested):
    run = nested.run_prompt(nested_prompt(outer_steps=3, inner_steps=2), observer=True)
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", 3, total=3)
    assert len(run.of_type(EVENT)) == 3
    assert_previews(run, "5", 3)
    assert_progress(run, "5", 3)
    # Sent only to the submitting client, never broadcast.
    assert [m for m in run.observer_messages if m.get("type") == EVENT] == []
    assert run.observer_binary_frames == 0

    final = load_latent(nested.saved_latent_path(run, "6"))
    images = load_latent(nested.saved_latent_path(run, "7"))
    assert final.shape == (1, 4, 16, 16) and images.shape == (3, 4, 16, 16)
    assert bool(torch.isfinite(images).all())
    # The last outer step ends at sigma 0, so its image is the result.
    assert (images[-1] - final[0]).abs().max().item() <= 1e-6
    # Each outer step's image is its own (the anytime sequence changes).
    assert not torch.equal(images[0], images[1])


def test_nested_ksampler_previews_without_preview_metadata(nested):
    # A client without supports_preview_metadata gets legacy type-1 images, still one per step.
    run = nested.run_prompt(nested_prompt(outer_steps=3, inner_steps=2), preview_metadata=False)
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", 3, total=3)
    assert len(run.previews) == 3 and {p.event for p in run.previews} == {1}


def test_nested_ksampler_batch_of_two(nested_none):
    run = nested_none.run_prompt(nested_prompt(outer_steps=3, inner_steps=2, batch=2))
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", 3, total=3)
    assert_previews(run, "5", 3)  # one image per outer step, not per batch item
    final = load_latent(nested_none.saved_latent_path(run, "6"))
    images = load_latent(nested_none.saved_latent_path(run, "7"))
    assert final.shape == (2, 4, 16, 16) and images.shape == (6, 4, 16, 16)
    # Outer order: the last outer step's batch closes the stack.
    assert (images[-2:] - final).abs().max().item() <= 1e-6


def advanced_chain_prompt(change_prompt: bool) -> dict:
    """Outer steps 0-2 of 4 with leftover noise (node 10), then 2-end without new noise
    (node 11) on positive B, or on the same positive A when ``change_prompt`` is False: the
    paper's mid-run prompt change. A separate prompt per variant, because ComfyUI runs two
    identical nodes of one prompt only once."""
    prompt = base_graph()
    prompt["9"] = node("NestedTestConditioning", seed=99, zero=False)  # positive B
    prompt["10"] = nested_ksampler_advanced_node(add_noise="enable", outer_steps=4, start=0, end=2, leftover="enable")
    prompt["11"] = nested_ksampler_advanced_node(add_noise="disable", outer_steps=4, start=2, end=10000,
                                            positive="9" if change_prompt else POSITIVE, latent=["10", 0])
    prompt["12"] = save_latent("11", 0)
    prompt["13"] = save_latent("10", 0)
    return prompt


def test_nested_ksampler_advanced_chain_with_prompt_change(nested_none):
    outputs = {}
    for change_prompt in (True, False):
        run = nested_none.run_prompt(advanced_chain_prompt(change_prompt))
        assert run.status == "success", run.describe()
        for node_id in ("10", "11"):
            assert_outer_steps(run, node_id, 2)
            assert len(run.previews_for(node_id)) == 2
            assert_progress(run, node_id, 2)
        assert len(run.of_type(EVENT)) == 4
        outputs[change_prompt] = [load_latent(nested_none.saved_latent_path(run, n)) for n in ("13", "12")]
    (halfway_b, changed), (halfway_a, unchanged) = outputs[True], outputs[False]
    for t in (halfway_a, changed, unchanged):
        assert t.shape == (1, 4, 16, 16) and bool(torch.isfinite(t).all())
    assert torch.equal(halfway_a, halfway_b)  # same seed and inputs: same leftover state
    assert not torch.allclose(changed, unchanged, atol=1e-4), "the prompt change had no effect"


@pytest.mark.parametrize("leftover", ["enable", "disable"])
def test_nested_ksampler_advanced_partial_run_output(nested_none, leftover):
    # Stopping at outer step 2 of 4: leftover noise returns the noisy outer state, which is not
    # the step's image; without it the node returns that image.
    prompt = sampling_prompt(nested_ksampler_advanced_node(outer_steps=4, start=0, end=2, leftover=leftover),
                             save_outer_images=True)
    run = nested_none.run_prompt(prompt)
    assert run.status == "success", run.describe()
    assert_outer_steps(run, "5", 2)
    out = load_latent(nested_none.saved_latent_path(run, "6"))
    images = load_latent(nested_none.saved_latent_path(run, "7"))
    assert images.shape == (2, 4, 16, 16) and bool(torch.isfinite(out).all())
    same = (images[-1] - out[0]).abs().max().item() <= 1e-6
    assert same == (leftover == "disable")
