"""The pack's nodes inside the real host: results, previews, progress, masks, seeds, errors."""

import pytest
import torch

import comfy.model_management
import comfy.sample
import comfy.samplers
from comfy.cli_args import LatentPreviewMethod
from comfy_extras import nodes_custom_sampler as custom

from host_fixtures import NODES, captured_progress, conds, empty_latent, nested_ksampler, preview_method, tiny


def advanced(kind, add_noise, start, end, leftover, latent, seed=3, outer=4, inner=2, positive_seed=1,
             sampler="euler"):
    positive, negative = conds(positive_seed)
    return NODES["NestedKSamplerAdvanced"]().sample(
        tiny(kind), add_noise, seed, outer, inner, 2.0, sampler, "normal", positive, negative, latent,
        start, end, leftover)


def test_same_seed_is_bit_identical_and_seed_matters():
    a, _ = nested_ksampler(seed=5, sampler="euler_ancestral")
    b, _ = nested_ksampler(seed=5, sampler="euler_ancestral")
    c, _ = nested_ksampler(seed=6, sampler="euler_ancestral")
    assert torch.equal(a["samples"], b["samples"])
    assert not torch.equal(a["samples"], c["samples"])


def test_intermediates_are_one_image_per_outer_step_ending_in_the_result():
    out, images = nested_ksampler(outer=4, latent=empty_latent(batch=2))
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
    nested, _ = nested_ksampler(seed=11, outer=4, inner=1, sampler="euler", scheduler="normal", latent=latent)
    torch.testing.assert_close(nested["samples"], plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["eps", "v_prediction", "flow"])
def test_chained_advanced_nodes_continue_one_generation(kind):
    first, first_images = advanced(kind, "enable", 0, 2, "enable", empty_latent())
    second, second_images = advanced(kind, "disable", 2, 10000, "disable", first)
    whole, whole_images = advanced(kind, "enable", 0, 10000, "disable", empty_latent())
    assert first_images["samples"].shape[0] == 2 and second_images["samples"].shape[0] == 2
    # A deterministic inner sampler makes the split run the same computation as the whole one.
    torch.testing.assert_close(second["samples"], whole["samples"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(first_images["samples"], whole_images["samples"][:2], rtol=1e-4, atol=1e-4)


def test_prompt_change_mid_run_changes_only_the_later_steps():
    first, _ = advanced("eps", "enable", 0, 2, "enable", empty_latent())
    same, _ = advanced("eps", "disable", 2, 10000, "disable", first)
    changed, _ = advanced("eps", "disable", 2, 10000, "disable", first, positive_seed=9)
    assert torch.isfinite(changed["samples"]).all()
    assert not torch.allclose(changed["samples"], same["samples"], atol=1e-3)


def test_advanced_end_before_last_step_returns_that_steps_image():
    out, images = advanced("eps", "enable", 0, 2, "disable", empty_latent())
    torch.testing.assert_close(out["samples"], images["samples"][-1:], rtol=0, atol=1e-6)


def test_denoise_half_keeps_the_input_closer():
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))}
    half, _ = nested_ksampler(latent=latent, denoise=0.5, outer=4)
    full, _ = nested_ksampler(latent=latent, denoise=1.0, outer=4)
    assert torch.isfinite(half["samples"]).all()
    assert (half["samples"] - latent["samples"]).abs().mean() < (full["samples"] - latent["samples"]).abs().mean()


@pytest.mark.parametrize("kind", ["eps", "flow"])
def test_noise_mask_keeps_the_unmasked_region(kind):
    source = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :, 4:] = 1.0  # 1 = regenerate
    latent = {"samples": source, "noise_mask": mask}
    out, _ = nested_ksampler(kind, latent=latent, outer=3, inner=3, sampler="euler_ancestral")
    kept = out["samples"][..., :, :4]
    torch.testing.assert_close(kept, source[..., :, :4], rtol=0, atol=1e-5)
    assert not torch.allclose(out["samples"][..., :, 4:], source[..., :, 4:], atol=1e-2)


def test_batch_items_are_reproducible_and_distinct():
    a, _ = nested_ksampler(latent=empty_latent(batch=3), sampler="euler_ancestral")
    b, _ = nested_ksampler(latent=empty_latent(batch=3), sampler="euler_ancestral")
    assert torch.equal(a["samples"], b["samples"])
    assert not torch.allclose(a["samples"][0], a["samples"][1])
    # With a deterministic inner sampler an item depends only on its own starting noise.
    batch, _ = nested_ksampler(latent=empty_latent(batch=3))
    single = dict(empty_latent(), batch_index=[2])
    alone, _ = nested_ksampler(latent=single)
    torch.testing.assert_close(batch["samples"][2:3], alone["samples"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", [LatentPreviewMethod.NoPreviews, LatentPreviewMethod.Latent2RGB])
def test_one_preview_and_progress_per_outer_step(method):
    with preview_method(method), captured_progress() as calls:
        nested_ksampler(outer=4, inner=3)
    # Two bars: the host's over outer steps (its callback), the pack's over model calls (10
    # planned: the table scheduler's inner runs shorten as the outer level falls).
    assert {total for _, total, _ in calls} == {4, 10}
    assert sum(has for _, _, has in calls) == 4, "one preview per outer step"
    assert sorted({value for value, total, _ in calls if total == 4}) == [1, 2, 3, 4]


def test_previews_do_not_change_the_result():
    with preview_method(LatentPreviewMethod.NoPreviews):
        quiet, _ = nested_ksampler(sampler="euler_ancestral")
    with preview_method(LatentPreviewMethod.Latent2RGB), captured_progress():
        shown, _ = nested_ksampler(sampler="euler_ancestral")
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
    steps = []
    guider_callback = sampler.sampler_function
    assert guider_callback is not None
    with captured_progress() as calls:
        out, denoised = custom_advanced(guider, sampler, sigmas)
    steps = [value for value, total, _ in calls if total == 4]  # the host's bar over outer steps
    assert sorted(set(steps)) == [1, 2, 3, 4]
    assert torch.isfinite(out["samples"]).all()
    torch.testing.assert_close(denoised["samples"], out["samples"], rtol=1e-5, atol=1e-5)


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
    positive, negative = conds()
    NODES["NestedKSampler"]().sample(model, 1, 2, 3, 1.0, "euler", "paper_faithful", positive, negative,
                                     empty_latent(), 1.0)
    schedules = [s for _, s in seen]
    assert len(seen) == 6
    assert schedules[0] == schedules[2] and schedules[3] == schedules[5] and schedules[0] != schedules[3]
    assert all(s[-1] == 0.0 and len(s) == 4 for s in schedules)


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
    out, _ = nested_ksampler()
    assert torch.isfinite(out["samples"]).all()


@pytest.mark.parametrize("call, message", [
    (lambda: nested_ksampler(denoise=0.0), "denoise"),
    (lambda: nested_ksampler(outer=0), "outer_steps"),
    (lambda: nested_ksampler(inner=0), "inner_steps"),
    (lambda: nested_ksampler(latent={"samples": torch.ones(1, 3, 8, 8)}), "latent_image"),
    (lambda: advanced("eps", "enable", 2, 2, "disable", empty_latent()), "start_at_outer_step"),
    (lambda: advanced("eps", "enable", 4, 10000, "disable", empty_latent()), "start_at_outer_step"),
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
