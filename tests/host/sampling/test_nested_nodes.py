"""The pack's nodes inside the real host: results, previews, progress, masks, seeds, errors."""

import pytest
import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
import latent_preview
from comfy.cli_args import LatentPreviewMethod
from comfy_extras import nodes_custom_sampler as custom

from host_fixtures import (
    NODES,
    captured_progress,
    conds,
    empty_latent,
    preview_method,
    run_nested_ksampler,
    run_nested_ksampler_advanced,
    tiny,
)


def test_same_seed_is_bit_identical_and_seed_matters():
    a, _ = run_nested_ksampler(seed=5, sampler="euler_ancestral")
    b, _ = run_nested_ksampler(seed=5, sampler="euler_ancestral")
    c, _ = run_nested_ksampler(seed=6, sampler="euler_ancestral")
    assert torch.equal(a["samples"], b["samples"])
    assert not torch.equal(a["samples"], c["samples"])


def test_intermediates_are_one_image_per_outer_step_ending_in_the_result():
    out, images = run_nested_ksampler(outer=4, latent=empty_latent(batch=2))
    assert images["samples"].shape == (8, 4, 8, 8)
    torch.testing.assert_close(images["samples"][-2:], out["samples"], rtol=0, atol=1e-6)
    assert not torch.allclose(images["samples"][:2], out["samples"])


def test_one_inner_step_is_comfyui_euler():
    """inner_steps = 1 puts the single call at the outer sigma: the nested run is plain DDIM."""
    positive, negative = conds()
    latent = empty_latent()
    noise = comfy.sample.prepare_noise(latent["samples"], 11)
    plain = comfy.sample.sample(tiny("eps"), noise, 4, 2.0, "euler", "normal", positive, negative,
                                latent["samples"], seed=11, disable_pbar=True)
    nested, _ = run_nested_ksampler(seed=11, outer=4, inner=1, sampler="euler", scheduler="normal", latent=latent)
    torch.testing.assert_close(nested["samples"], plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["eps", "v_prediction", "flow"])
def test_chained_advanced_nodes_continue_one_generation(kind):
    first, first_images = run_nested_ksampler_advanced(kind, "enable", 0, 2, "enable", empty_latent())
    second, second_images = run_nested_ksampler_advanced(kind, "disable", 2, 10000, "disable", first)
    whole, whole_images = run_nested_ksampler_advanced(kind, "enable", 0, 10000, "disable", empty_latent())
    assert first_images["samples"].shape[0] == 2 and second_images["samples"].shape[0] == 2
    # A deterministic inner sampler makes the split run the same computation as the whole one.
    torch.testing.assert_close(second["samples"], whole["samples"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(first_images["samples"], whole_images["samples"][:2], rtol=1e-4, atol=1e-4)


def test_prompt_change_mid_run_changes_only_the_later_steps():
    first, _ = run_nested_ksampler_advanced("eps", "enable", 0, 2, "enable", empty_latent())
    same, _ = run_nested_ksampler_advanced("eps", "disable", 2, 10000, "disable", first)
    changed, _ = run_nested_ksampler_advanced("eps", "disable", 2, 10000, "disable", first, positive_seed=9)
    assert torch.isfinite(changed["samples"]).all()
    assert not torch.allclose(changed["samples"], same["samples"], atol=1e-3)


def test_advanced_end_before_last_step_returns_that_steps_image():
    out, images = run_nested_ksampler_advanced("eps", "enable", 0, 2, "disable", empty_latent())
    torch.testing.assert_close(out["samples"], images["samples"][-1:], rtol=0, atol=1e-6)


def test_denoise_half_keeps_the_input_closer():
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))}
    half, _ = run_nested_ksampler(latent=latent, denoise=0.5, outer=4)
    full, _ = run_nested_ksampler(latent=latent, denoise=1.0, outer=4)
    assert torch.isfinite(half["samples"]).all()
    assert (half["samples"] - latent["samples"]).abs().mean() < (full["samples"] - latent["samples"]).abs().mean()


@pytest.mark.parametrize("kind", ["eps", "flow"])
def test_noise_mask_keeps_the_unmasked_region(kind):
    source = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, 4:] = 1.0  # 1 = regenerate
    latent = {"samples": source, "noise_mask": mask}
    out, _ = run_nested_ksampler(kind, latent=latent, outer=3, inner=3, sampler="euler_ancestral")
    kept = out["samples"][..., :, :4]
    torch.testing.assert_close(kept, source[..., :, :4], rtol=0, atol=1e-5)
    assert not torch.allclose(out["samples"][..., :, 4:], source[..., :, 4:], atol=1e-2)


def test_batch_items_are_reproducible_and_distinct():
    a, _ = run_nested_ksampler(latent=empty_latent(batch=3), sampler="euler_ancestral")
    b, _ = run_nested_ksampler(latent=empty_latent(batch=3), sampler="euler_ancestral")
    assert torch.equal(a["samples"], b["samples"])
    assert not torch.allclose(a["samples"][0], a["samples"][1])
    # With a deterministic inner sampler an item depends only on its own starting noise.
    batch, _ = run_nested_ksampler(latent=empty_latent(batch=3))
    single = dict(empty_latent(), batch_index=[2])
    alone, _ = run_nested_ksampler(latent=single)
    torch.testing.assert_close(batch["samples"][2:3], alone["samples"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", [LatentPreviewMethod.NoPreviews, LatentPreviewMethod.Latent2RGB])
def test_one_preview_and_progress_per_outer_step(method):
    with preview_method(method), captured_progress() as calls:
        run_nested_ksampler(outer=4, inner=3)
    # Two bars: the host's over outer steps (its callback), the pack's over model calls (10
    # planned: the table scheduler's inner runs shorten as the outer level falls).
    assert {total for _, total, _ in calls} == {4, 10}
    assert sum(has for _, _, has in calls) == 4, "one preview per outer step"
    host_bar = [value for value, total, _ in calls if total == 4]  # newer hosts throttle it
    assert host_bar and host_bar == sorted(host_bar) and host_bar[-1] == 4, calls


def test_previews_do_not_change_the_result():
    with preview_method(LatentPreviewMethod.NoPreviews):
        quiet, _ = run_nested_ksampler(sampler="euler_ancestral")
    with preview_method(LatentPreviewMethod.Latent2RGB), captured_progress():
        shown, _ = run_nested_ksampler(sampler="euler_ancestral")
    assert torch.equal(quiet["samples"], shown["samples"])


def custom_advanced(guider, sampler, sigmas, latent=None, seed=4):
    noise = custom.RandomNoise().get_noise(seed)[0]
    return custom.SamplerCustomAdvanced().sample(noise, guider, sampler, sigmas, latent or empty_latent())


@pytest.mark.parametrize("kind", ["eps", "v_prediction", "flow"])
@pytest.mark.parametrize("guider_kind", ["cfg", "basic"])
def test_sampler_node_in_sampler_custom_advanced(kind, guider_kind):
    positive, negative = conds()
    model = tiny(kind)
    if guider_kind == "cfg":
        guider = custom.CFGGuider().get_guider(model, positive, negative, 3.0)[0]
    else:
        guider = custom.BasicGuider().get_guider(model, positive)[0]
    sampler = NODES["SamplerNestedDiffusion"]().get_sampler("dpmpp_2m", 3, "karras", 0.3)[0]
    sigmas = custom.BasicScheduler().get_sigmas(model, "normal", 4, 1.0)[0]
    with captured_progress() as calls:
        out, denoised = custom_advanced(guider, sampler, sigmas)
    # The host's bar over the 4 outer steps (newer hosts throttle it, so only its order and end
    # are certain) and the pack's over the planned model calls (at most 4 x 3), which ends full.
    host_bar = [value for value, total, _ in calls if total == 4]
    assert host_bar and host_bar == sorted(host_bar) and host_bar[-1] == 4, calls
    call_bar = [(value, total) for value, total, _ in calls if total != 4]
    assert call_bar and 4 < call_bar[-1][1] <= 12 and call_bar[-1][0] == call_bar[-1][1], calls
    assert torch.isfinite(out["samples"]).all()
    torch.testing.assert_close(denoised["samples"], out["samples"], rtol=1e-5, atol=1e-5)
    # The SAMPLER is configuration only: used again, it carries nothing over from the first run.
    again, _ = custom_advanced(guider, sampler, sigmas)
    assert torch.equal(again["samples"], out["samples"])


def test_exactly_one_callback_per_outer_step_with_outer_indices():
    positive, negative = conds()
    model = tiny("eps")
    sampler = NODES["SamplerNestedDiffusion"]().get_sampler("heun", 3, "paper_faithful", 0.0)[0]
    sigmas = custom.BasicScheduler().get_sigmas(model, "simple", 5, 1.0)[0]
    seen = []
    latent = torch.zeros(1, 4, 8, 8)
    comfy.sample.sample_custom(model, comfy.sample.prepare_noise(latent, 1), 2.0, sampler, sigmas, positive, negative,
                               latent, callback=lambda i, x0, x, total: seen.append((i, total)), disable_pbar=True,
                               seed=1)
    assert seen == [(i, 5) for i in range(5)]


def test_override_sampler_is_used_for_inner_runs():
    override = custom.SamplerEulerAncestral().get_sampler(0.85, 1.0)[0]
    node = NODES["SamplerNestedDiffusion"]()
    with_override = node.get_sampler("euler", 3, "normal", 0.0, inner_sampler_override=override)[0]
    plain = node.get_sampler("euler", 3, "normal", 0.0)[0]
    positive, negative = conds()
    model = tiny("eps")
    guider = custom.CFGGuider().get_guider(model, positive, negative, 2.0)[0]
    sigmas = custom.BasicScheduler().get_sigmas(model, "normal", 3, 1.0)[0]
    a = custom_advanced(guider, with_override, sigmas)[0]["samples"]
    b = custom_advanced(guider, plain, sigmas)[0]["samples"]
    assert not torch.allclose(a, b, atol=1e-4)


def test_each_inner_run_sees_its_own_sample_sigmas():
    model = tiny("eps").clone()
    seen = []

    def wrapper(apply_model, call):
        options = call["c"]["transformer_options"]
        seen.append((float(call["timestep"][0]), options["sample_sigmas"].tolist()))
        return apply_model(call["input"], call["timestep"], **call["c"])

    model.set_model_unet_function_wrapper(wrapper)
    run_nested_ksampler(model=model, seed=1, outer=2, inner=3, cfg=1.0, scheduler="paper_faithful")
    schedules = [s for _, s in seen]
    assert len(seen) == 6
    assert schedules[0] == schedules[2] and schedules[3] == schedules[5] and schedules[0] != schedules[3]
    # The second run's is its path: the outer level above it, then its own 3 steps (schedule_position.py).
    assert [len(s) for s in schedules] == [4, 4, 4, 5, 5, 5] and all(s[-1] == 0.0 for s in schedules)
    assert schedules[3][0] == schedules[0][0] and schedules[3][1] == seen[3][0]


def test_paper_exact_ends_inner_runs_at_the_models_smallest_level():
    model = tiny("eps").clone()
    ends = []

    def wrapper(apply_model, call):
        ends.append(float(call["c"]["transformer_options"]["sample_sigmas"][-1]))
        return apply_model(call["input"], call["timestep"], **call["c"])

    model.set_model_unet_function_wrapper(wrapper)
    exact, _ = run_nested_ksampler(model=model, outer=2, inner=3, cfg=1.0, scheduler="paper_exact")
    sigma_min = float(model.get_model_object("model_sampling").sigma_min)
    assert len(ends) == 6 and all(abs(end - sigma_min) <= 1e-6 * sigma_min for end in ends), ends
    faithful, _ = run_nested_ksampler(outer=2, inner=3, cfg=1.0, scheduler="paper_faithful")
    assert torch.isfinite(exact["samples"]).all()
    assert not torch.equal(exact["samples"], faithful["samples"])


def test_interrupt_propagates_and_leaves_no_state():
    def interrupt_at_second_step(i, x0, x, total):
        if i == 1:
            comfy.model_management.interrupt_current_processing(True)

    positive, negative = conds()
    model = tiny("eps")
    sampler = NODES["SamplerNestedDiffusion"]().get_sampler("euler", 3, "normal", 0.0)[0]
    sigmas = custom.BasicScheduler().get_sigmas(model, "normal", 4, 1.0)[0]
    latent = torch.zeros(1, 4, 8, 8)
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        comfy.sample.sample_custom(model, comfy.sample.prepare_noise(latent, 1), 2.0, sampler, sigmas, positive,
                                   negative, latent, callback=interrupt_at_second_step, disable_pbar=True, seed=1)
    assert not comfy.model_management.processing_interrupted()
    out, _ = run_nested_ksampler()
    assert torch.isfinite(out["samples"]).all()


@pytest.mark.parametrize("call, message", [
    (lambda: run_nested_ksampler(denoise=0.0), "denoise"),
    (lambda: run_nested_ksampler(outer=0), "outer_steps"),
    (lambda: run_nested_ksampler(inner=0), "inner_steps"),
    (lambda: run_nested_ksampler(inner=10001), "inner_steps"),
    (lambda: run_nested_ksampler(sampler="no_such_sampler"), "sampler_name"),
    (lambda: run_nested_ksampler(scheduler="no_such_scheduler"), "scheduler"),
    (lambda: run_nested_ksampler(latent={"samples": torch.ones(1, 3, 8, 8)}), "latent_image"),
    (lambda: run_nested_ksampler_advanced("eps", "enable", 2, 2, "disable", empty_latent()), "start_at_outer_step"),
    (lambda: run_nested_ksampler_advanced("eps", "enable", 4, 10000, "disable", empty_latent()), "start_at_outer_step"),
    (lambda: NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "normal", 0.0, object()),
     "inner_sampler_override"),
    (lambda: NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "no_such_scheduler", 0.0), "inner_scheduler"),
    (lambda: NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "normal", 1.5), "eta"),
])
def test_bad_input_names_the_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_outer_sigmas_must_end_at_zero():
    positive, negative = conds()
    model = tiny("eps")
    sampler = NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "normal", 0.0)[0]
    sigmas = custom.BasicScheduler().get_sigmas(model, "normal", 4, 1.0)[0]
    high = custom.SplitSigmas().get_sigmas(sigmas, 2)[0]
    guider = custom.CFGGuider().get_guider(model, positive, negative, 2.0)[0]
    with pytest.raises(ValueError, match="sigmas must end at 0"):
        custom_advanced(guider, sampler, high)


@pytest.mark.parametrize("server_default, override", [
    (LatentPreviewMethod.Latent2RGB, "none"), (LatentPreviewMethod.NoPreviews, "latent2rgb")])
def test_fallback_preview_follows_the_prompts_preview_method(server_default, override):
    if not hasattr(latent_preview, "set_preview_method"):
        pytest.skip("this ComfyUI has no per-prompt preview method (set_preview_method, added in 0.3.76)")
    # As the executor does at the start of a prompt with extra_data["preview_method"] set.
    with preview_method(server_default), captured_progress() as calls:
        latent_preview.set_preview_method(override)
        try:
            run_nested_ksampler(outer=3)
        finally:
            latent_preview.set_preview_method(None)
    # One image per outer step: the host's when the prompt turns previews on (on its bar over
    # outer steps), else the pack's (on its bar over model calls); the last at the run's end.
    previews = [(value, total) for value, total, has in calls if has]
    assert len(previews) == 3, calls
    assert [value for value, _ in previews] == sorted(value for value, _ in previews), calls
    assert previews[-1][0] == previews[-1][1], calls


def test_empty_latent_is_prepared_and_returned_like_ksamplers():
    # Newer hosts tag an empty latent with the VAE scale it was made for; KSampler resizes it to
    # the model's scale and drops the tag. Older hosts ignore the tag. Either way: as KSampler.
    import nodes

    positive, negative = conds()
    latent = {"samples": torch.zeros(1, 4, 8, 8), "downscale_ratio_spacial": 16}
    host = nodes.KSampler().sample(tiny("eps"), 3, 2, 2.0, "euler", "normal", positive, negative, dict(latent))[0]
    ours, images = NODES["NestedKSampler"]().sample(tiny("eps"), 3, 2, 1, 2.0, "euler", "normal", positive, negative,
                                                    dict(latent), 1.0)
    assert ours["samples"].shape == host["samples"].shape and images["samples"].shape[1:] == host["samples"].shape[1:]
    assert sorted(ours) == sorted(host), (sorted(ours), sorted(host))
