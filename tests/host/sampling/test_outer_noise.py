"""The ``outer_noise`` input of the three nested nodes inside the real host: ``fresh`` re-noises
each outer step's image with the run's outer noise; ``ddim``, the default, is the paper's step and
what every workflow saved before the input existed runs with."""

import pytest
import torch

from comfy_extras import nodes_custom_sampler as custom

from host_fixtures import (
    NODES,
    conds,
    empty_latent,
    pack_module,
    run_nested_ksampler,
    run_nested_ksampler_advanced,
    tiny,
)

core = pack_module("nested_core")
schedules = pack_module("nodes.runtime.comfy_schedules")


def test_default_is_the_paper_step():
    default, default_images = run_nested_ksampler(seed=4)
    ddim, ddim_images = run_nested_ksampler(seed=4, outer_noise="ddim")
    assert torch.equal(default["samples"], ddim["samples"])
    assert torch.equal(default_images["samples"], ddim_images["samples"])


@pytest.mark.parametrize("kind", ["eps", "v_prediction", "flow"])
def test_fresh_changes_the_later_steps_only_and_repeats_with_its_seed(kind):
    ddim, ddim_images = run_nested_ksampler(kind, seed=4, outer=3, outer_noise="ddim")
    fresh, fresh_images = run_nested_ksampler(kind, seed=4, outer=3, outer_noise="fresh")
    again, _ = run_nested_ksampler(kind, seed=4, outer=3, outer_noise="fresh")
    # The first image comes before any outer step, so it is the same inner run.
    torch.testing.assert_close(fresh_images["samples"][:1], ddim_images["samples"][:1], rtol=0, atol=0)
    assert not torch.allclose(fresh["samples"], ddim["samples"], atol=1e-4)
    assert torch.equal(fresh["samples"], again["samples"])


@pytest.mark.parametrize("kind", ["eps", "flow"])
def test_fresh_outer_state_is_the_image_renoised_with_the_outer_noise(kind):
    """One outer step with leftover noise hands on exactly the image at the next level plus the
    run's outer noise (the seeded draw every eta > 0 step also uses)."""
    model = tiny(kind)
    seed, outer = 9, 4
    state, images = run_nested_ksampler_advanced(kind, "enable", 0, 1, "enable", empty_latent(), seed=seed,
                                                 outer=outer, outer_noise="fresh")
    ms = model.get_model_object("model_sampling")
    sigmas = schedules.outer_sigmas(ms, "normal", outer)
    level = float(sigmas[1])
    scale = 1.0 if kind == "eps" else 1.0 - level
    # The host hands a flow model's leftover state on divided by 1 - sigma (CONST.inverse_noise_scaling).
    x = model.model.process_latent_in(state["samples"]) * scale
    image = model.model.process_latent_in(images["samples"])
    z = core.outer_noise_source(x, seed)(float(sigmas[0]), level)
    torch.testing.assert_close(x, scale * image + level * z, rtol=1e-5, atol=1e-5)


def test_sampler_node_passes_outer_noise_to_sampler_custom():
    positive, negative = conds()
    model = tiny("eps")
    latent = empty_latent()
    sigmas = schedules.outer_sigmas(model.get_model_object("model_sampling"), "normal", 3)

    def run(outer_noise):
        (sampler,) = NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "normal", 0.0,
                                                                   outer_noise=outer_noise)
        out, _ = custom.SamplerCustom().sample(model, True, 5, 2.0, positive, negative, sampler, sigmas, latent)
        return out["samples"]

    assert not torch.allclose(run("fresh"), run("ddim"), atol=1e-4)
    # eta belongs to the ddim step: a fresh run ignores it.
    (eta_one,) = NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "normal", 1.0, outer_noise="fresh")
    out, _ = custom.SamplerCustom().sample(model, True, 5, 2.0, positive, negative, eta_one, sigmas, latent)
    assert torch.equal(out["samples"], run("fresh"))


@pytest.mark.parametrize("call", [
    lambda: run_nested_ksampler(outer_noise="stale"),
    lambda: run_nested_ksampler_advanced("eps", "enable", 0, 2, "disable", empty_latent(), outer_noise=""),
    lambda: NODES["SamplerNestedDiffusion"]().get_sampler("euler", 2, "normal", 0.0, outer_noise="DDIM"),
])
def test_unknown_outer_noise_is_refused_before_sampling(call):
    with pytest.raises(ValueError, match=r"outer_noise must be one of \['ddim', 'fresh'\]"):
        call()

