"""Features switched by position in the schedule keep their NOISE-LEVEL meaning in a nested run
(docs/schedule-position.md): a feature active for noise levels in a range is active for every
inner model call whose noise level is in that range, in whichever inner run; and each inner run
sees, as sample_sigmas, its path: the outer levels above it, then its own schedule.

Every model call is recorded through a public model wrapper (ModelPatcher's unet function
wrapper, or the denoise-mask function), with its sigma and what was active at that call."""

from __future__ import annotations

import inspect

import pytest
import torch

import comfy.hooks
import nodes as comfy_nodes
from comfy_extras import nodes_custom_sampler as custom
from comfy_extras import nodes_hooks

from host_fixtures import NODES, conds, empty_latent, pack_module, tiny
from tiny_models import build_tiny_controlnet, build_tiny_model, tiny_conditioning

comfy_schedules = pack_module("nodes.runtime.comfy_schedules")
nested_sampler = pack_module("nodes.runtime.ksampler_function")


def recorded(model, record):
    """A clone of ``model`` whose every diffusion-model call is passed to ``record(call)`` first."""
    model = model.clone()

    def wrapper(apply_model, call):
        record(call)
        return apply_model(call["input"], call["timestep"], **call["c"])

    model.set_model_unet_function_wrapper(wrapper)
    return model


def sigma_of(call) -> float:
    return float(call["timestep"][0])


def nested_ksampler(model, positive, negative, outer=4, inner=3, scheduler="normal", cfg=2.0, latent=None, seed=3):
    return NODES["NestedKSampler"]().sample(
        model=model, seed=seed, outer_steps=outer, inner_steps=inner, cfg=cfg, sampler_name="euler",
        scheduler=scheduler, positive=positive, negative=negative, latent_image=latent or empty_latent(),
        denoise=1.0)[0]["samples"]


def custom_advanced(model, positive, negative, sampler, sigmas, latent=None, cfg=2.0, seed=3):
    guider = custom.CFGGuider().get_guider(model, positive, negative, cfg)[0]
    noise = custom.RandomNoise().get_noise(seed)[0]
    return custom.SamplerCustomAdvanced().sample(noise, guider, sampler, sigmas, latent or empty_latent())[0]["samples"]


def nested_custom(model, positive, negative, outer=4, inner=3, scheduler="normal", **kwargs):
    sampler = nested_sampler.nested_sampler_object("euler", inner, scheduler, 0.0)
    sigmas = custom.BasicScheduler().get_sigmas(model, scheduler, outer, 1.0)[0]
    return custom_advanced(model, positive, negative, sampler, sigmas, **kwargs)


def plain_euler(model, positive, negative, steps=4, scheduler="normal", **kwargs):
    sampler = custom.KSamplerSelect().get_sampler("euler")[0]
    sigmas = custom.BasicScheduler().get_sigmas(model, scheduler, steps, 1.0)[0]
    return custom_advanced(model, positive, negative, sampler, sigmas, **kwargs)


RUNNERS = {"NestedKSampler": nested_ksampler, "SamplerCustomAdvanced": nested_custom}


def inner_runs(calls: list) -> list[list]:
    """Consecutive calls grouped by the sample_sigmas they saw (one group per inner run)."""
    runs: list[list] = []
    for call in calls:
        if not runs or runs[-1][0]["path"] != call["path"]:
            runs.append([])
        runs[-1].append(call)
    return runs


def percent_sigma(model, percent: float) -> float:
    return float(model.get_model_object("model_sampling").percent_to_sigma(percent))


# --- sample_sigmas ----------------------------------------------------------------------------

@pytest.mark.parametrize("inner", [3, 1])
def test_sample_sigmas_is_the_path_to_each_inner_run(inner):
    calls = []
    model = recorded(tiny("eps"), lambda call: calls.append(
        {"sigma": sigma_of(call), "path": call["c"]["transformer_options"]["sample_sigmas"].tolist()}))
    outer = comfy_schedules.outer_sigmas(model.get_model_object("model_sampling"), "paper_faithful", 3).tolist()
    nested_ksampler(model, *conds(), outer=3, inner=inner, scheduler="paper_faithful", cfg=1.0)
    runs = inner_runs(calls)
    assert len(runs) == 3
    for i, run in enumerate(runs):
        path = run[0]["path"]
        assert path[:i + 1] == pytest.approx(outer[:i + 1], rel=1e-6), (i, path)  # the levels above, then its start
        assert path[-1] == 0.0 and all(a > b for a, b in zip(path, path[1:]))
        assert run[0]["sigma"] == pytest.approx(outer[i], rel=1e-6)
        for call in run:  # every call's level is found in the path (context windows, HunyuanVideo need it)
            assert any(abs(level - call["sigma"]) <= 1e-4 * call["sigma"] for level in path), call
    if inner == 1:  # one inner step: the outer schedule down to this level, then the inner run's 0
        assert all(run[0]["path"] == pytest.approx(outer[:i + 1] + [0.0], rel=1e-6) for i, run in enumerate(runs))


# --- ConditioningSetTimestepRange -------------------------------------------------------------

@pytest.mark.parametrize("entry", sorted(RUNNERS))
def test_timestep_range_switches_by_noise_level_in_every_inner_run(entry):
    early, late = tiny_conditioning(1), tiny_conditioning(2)
    ranged = comfy_nodes.ConditioningSetTimestepRange()
    positive = comfy_nodes.ConditioningCombine().combine(ranged.set_range(early, 0.0, 0.5)[0],
                                                         ranged.set_range(late, 0.5, 1.0)[0])[0]
    negative = tiny_conditioning(zero=True)

    def record_into(calls):
        def record(call):
            rows = call["c"]["c_crossattn"]
            calls.append({"sigma": sigma_of(call), "path": call["c"]["transformer_options"]["sample_sigmas"].tolist(),
                          "early": any(torch.equal(r, early[0][0][0]) for r in rows),
                          "late": any(torch.equal(r, late[0][0][0]) for r in rows)})
        return record

    nested_calls, plain_calls = [], []
    half = percent_sigma(tiny("eps"), 0.5)
    RUNNERS[entry](recorded(tiny("eps"), record_into(nested_calls)), positive, negative)
    plain_euler(recorded(tiny("eps"), record_into(plain_calls)), positive, negative, steps=12)
    for call in nested_calls + plain_calls:  # the plain run shows the rule is the host's own
        assert call["early"] == (call["sigma"] >= half), (half, call)
        assert call["late"] == (call["sigma"] <= half), (half, call)
    # The meaning is exercised where it matters: inner runs that start above 50% after an
    # earlier inner run went below it.
    climbs_back = [run for run in inner_runs(nested_calls)[1:] if run[0]["sigma"] > half]
    assert climbs_back and all(run[0]["early"] and not run[-1]["early"] for run in climbs_back)


# --- ControlNet start / end -------------------------------------------------------------------

def test_controlnet_start_end_percent_is_a_noise_level_range():
    positive, negative = conds()
    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    controlled = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        positive, negative, build_tiny_controlnet(), hint, 1.0, 0.3, 0.7)
    calls = []
    model = recorded(tiny("eps"), lambda call: calls.append(
        (sigma_of(call), call["c"].get("control") is not None)))
    high, low = percent_sigma(model, 0.3), percent_sigma(model, 0.7)
    nested_ksampler(model, *controlled, outer=4, inner=4)
    assert any(on for _, on in calls) and any(not on for _, on in calls)
    for sigma, on in calls:
        assert on == (low <= sigma <= high), (low, high, sigma)


# --- hook keyframes ---------------------------------------------------------------------------

WEIGHT = "diffusion_model.input_blocks.0.0.weight"


def hooked_model_and_conds(keyframes):
    """A fresh tiny model whose positive and negative carry a model-as-LoRA hook (what
    CreateHookModelAsLora makes from a checkpoint) toward another tiny model, scheduled by
    ``keyframes``; and a function reading the hook strength in effect from the live weight."""
    model = build_tiny_model("eps", seed=0)
    target = build_tiny_model("eps", seed=9)
    hooks = comfy.hooks.create_hook_model_as_lora(comfy.hooks.get_patch_weights_from_model(target), None, 1.0, 0.0)
    hooks = nodes_hooks.SetHookKeyframes().set_hook_keyframes(hooks, keyframes)[0]
    positive, negative = nodes_hooks.PairConditioningSetProperties().set_properties(
        tiny_conditioning(1), tiny_conditioning(zero=True), 1.0, "default", hooks=hooks)
    base = model.model.state_dict()[WEIGHT].clone()
    step = target.model.state_dict()[WEIGHT] - base

    def strength() -> float:
        live = model.model.state_dict()[WEIGHT]
        return float(((live - base) * step).sum() / (step * step).sum())

    return model, positive, negative, strength


def keyframe_strength_rule(model, keyframes) -> callable:
    """ComfyUI's keyframe choice at a level when no guaranteed step holds a keyframe: the last
    keyframe whose start level is at or above it (the first keyframe above them all)."""
    starts = [(percent_sigma(model, kf.start_percent), float(kf.strength)) for kf in keyframes.keyframes]
    return lambda sigma: [s for start, s in starts if start >= sigma][-1:] or [starts[0][1]]


def test_hook_keyframes_switch_strength_by_noise_level_in_every_inner_run():
    # Interpolated keyframes: only the first has a guaranteed step, so the strength is a
    # function of the noise level alone.
    keyframes = nodes_hooks.CreateHookKeyframesInterpolated().create_hook_keyframes(
        1.0, 0.0, "linear", 0.2, 0.8, 4)[0]
    model, positive, negative, strength = hooked_model_and_conds(keyframes)
    calls = []
    watched = recorded(model, lambda call: calls.append(
        {"sigma": sigma_of(call), "path": call["c"]["transformer_options"]["sample_sigmas"].tolist(),
         "strength": strength()}))
    rule = keyframe_strength_rule(model, keyframes)
    nested_ksampler(watched, positive, negative, outer=5, inner=3)
    assert len({round(c["strength"], 3) for c in calls}) >= 3
    for call in calls:
        assert call["strength"] == pytest.approx(rule(call["sigma"])[0], abs=1e-4), call
    later = [run for run in inner_runs(calls)[1:] if run[0]["strength"] > run[-1]["strength"] + 0.1]
    assert later  # later inner runs climb back to a stronger keyframe and come down again


def test_hook_keyframes_with_guaranteed_steps_match_plain_euler_with_one_inner_step():
    # Keyframes from CreateHookKeyframe hold at least one step each: two that start between the
    # same two outer levels are used one step after the other, a step-count rule that nested
    # reproduces by walking the keyframes down the path to each inner run.
    keyframes = None
    for strength, start in [(1.0, 0.0), (0.6, 0.3), (0.3, 0.32), (0.0, 0.7)]:
        keyframes = nodes_hooks.CreateHookKeyframe().create_hook_keyframe(strength, start, keyframes)[0]
    model, positive, negative, strength = hooked_model_and_conds(keyframes)
    nested_calls, plain_calls = [], []
    nested_model = recorded(model, lambda call: nested_calls.append((sigma_of(call), round(strength(), 4))))
    nested = nested_custom(nested_model, positive, negative, outer=6, inner=1)
    plain = plain_euler(recorded(model, lambda call: plain_calls.append((sigma_of(call), round(strength(), 4)))),
                        positive, negative, steps=6)
    assert nested_calls == plain_calls and 0.3 in {s for _, s in plain_calls}
    # Relative to the latent's scale (values reach ~300 here): float32 summation order alone
    # moves single elements by ~3e-5 on some torch builds.
    torch.testing.assert_close(nested, plain, rtol=1e-5, atol=1e-6 * float(plain.abs().max()))


# --- Differential Diffusion -------------------------------------------------------------------

def differential_diffusion(model, record):
    from comfy_extras.nodes_differential_diffusion import DifferentialDiffusion

    patched = DifferentialDiffusion.execute(model)[0]
    mask_function = patched.model_options["denoise_mask_function"]

    def watched(sigma, denoise_mask, extra_options):
        out = mask_function(sigma, denoise_mask, extra_options=extra_options)
        record(float(sigma[0]), denoise_mask.clone(), out.clone())
        return out

    patched = patched.clone()
    patched.set_model_denoise_mask_function(watched)
    return patched


def test_differential_diffusion_threshold_is_the_plain_runs_function_of_noise_level():
    ramp = torch.linspace(0.0, 1.0, 64).reshape(1, 8, 8)
    latent = {"samples": torch.zeros(1, 4, 8, 8), "noise_mask": ramp}
    ms = tiny("eps").get_model_object("model_sampling")
    outer = custom.BasicScheduler().get_sigmas(tiny("eps"), "normal", 4, 1.0)[0]
    t_from = ms.timestep(outer[0])
    t_to = ms.timestep(torch.maximum(outer[-1], ms.sigma_min))
    nested_masks, plain_masks = {}, {}

    def expected(sigma, mask_in):
        threshold = (ms.timestep(torch.tensor(sigma)) - t_to) / (t_from - t_to)
        return (mask_in >= threshold).to(mask_in.dtype)

    def keep(into):
        def record(sigma, mask_in, mask_out):
            assert torch.equal(mask_out, expected(sigma, mask_in)), sigma  # the whole run's noise-level map
            into.setdefault(round(sigma, 5), mask_out)
        return record

    positive, negative = conds()
    nested_custom(differential_diffusion(tiny("eps"), keep(nested_masks)), positive, negative, outer=4, inner=3,
                  latent=latent)
    plain_euler(differential_diffusion(tiny("eps"), keep(plain_masks)), positive, negative, steps=4, latent=latent)
    shared = set(nested_masks) & set(plain_masks)
    assert len(shared) >= 3 and len(nested_masks) > len(shared)
    assert all(torch.equal(nested_masks[s], plain_masks[s]) for s in shared)


# --- context windows --------------------------------------------------------------------------

def context_windows(model):
    """ComfyUI's Context Windows (Manual) over a video's frames (dim 2): windows of 2 latent
    frames that move with the step index (uniform looped)."""
    import comfy.context_windows
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    looped = comfy.context_windows.ContextSchedules.UNIFORM_LOOPED
    wanted = {"model": model, "context_length": 2, "context_overlap": 1, "context_schedule": looped,
              "context_stride": 1, "closed_loop": False, "fuse_method": "pyramid", "dim": 2, "freenoise": False}
    accepted = inspect.signature(ContextWindowsManualNode.execute).parameters
    return ContextWindowsManualNode.execute(**{k: v for k, v in wanted.items() if k in accepted})[0]


def test_context_windows_follow_the_path_step_index():
    # Uniform context schedules move their windows with the index of the current sigma in
    # sample_sigmas; along the path that index is the outer step when there is one inner step,
    # so nested equals ComfyUI's euler on the outer schedule (the frames of this tiny WAN attend
    # to each other, so other windows give another result).
    from tiny_models import build_tiny_video_model, empty_video_latent

    positive, negative = conds()
    model = context_windows(build_tiny_video_model())
    latent = empty_video_latent(frames=4)
    nested = nested_custom(model, positive, negative, outer=4, inner=1, latent=latent)
    plain = plain_euler(model, positive, negative, steps=4, latent=latent)
    assert torch.isfinite(nested).all()
    assert (nested - plain).abs().max() <= 1e-5 * plain.abs().max(), float((nested - plain).abs().max())
    longer = nested_custom(model, positive, negative, outer=3, inner=3, latent=latent)
    assert torch.isfinite(longer).all()


# --- EasyCache / LazyCache --------------------------------------------------------------------

def cache_node(name):
    from comfy_extras import nodes_easycache

    node = {"EasyCache": nodes_easycache.EasyCacheNode, "LazyCache": nodes_easycache.LazyCacheNode}[name]
    return lambda model, threshold: node.execute(model, threshold, 0.0, 1.0, False)[0]


@pytest.mark.parametrize("name", ["EasyCache", "LazyCache"])
def test_every_inner_run_gets_a_fresh_cache_state(name):
    import comfy.patcher_extension

    model = cache_node(name)(tiny("eps"), 3.0)  # the largest threshold: reuse whenever the cache can
    node_holder = model.model_options["transformer_options"]["easycache"]
    calls = []

    def computed(executor, *args, **kwargs):  # inside the cache's wrapper: only calls it lets through
        options = args[-1] if isinstance(args[-1], dict) else kwargs["transformer_options"]
        calls.append({"holder": options["easycache"], "path": options["sample_sigmas"].tolist()})
        return executor(*args, **kwargs)

    model = model.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_computed", computed)

    def run(fresh):
        calls.clear()
        # "simple" ends its outer schedule above the inner runs' last level: every inner run
        # starts above the level of the call before it.
        sampler = nested_sampler.nested_sampler_object("euler", 4, "simple", 0.0, fresh_cache_per_inner_run=fresh)
        sigmas = custom.BasicScheduler().get_sigmas(model, "simple", 3, 1.0)[0]
        out = custom_advanced(model, *conds(), sampler, sigmas)
        return out, inner_runs(calls)

    out, runs = run(fresh=True)
    assert torch.isfinite(out).all() and len(runs) == 3
    holders = [{id(c["holder"]) for c in r} for r in runs]  # the calls keep them alive: ids are unique
    assert all(len(h) == 1 for h in holders) and len(set.union(*holders)) == 3
    assert id(node_holder) not in set.union(*holders)
    # A fresh state has nothing to reuse: each inner run computes its first two calls (the
    # second gives the cache its first change rate), and reuses after that.
    planned = [len(r[0]["path"]) - i - 1 for i, r in enumerate(runs)]  # its levels above 0
    assert all(len(r) >= min(2, n) for r, n in zip(runs, planned)) and sum(map(len, runs)) < sum(planned)
    _, shared_runs = run(fresh=False)
    assert len({id(c["holder"]) for r in shared_runs for c in r}) == 1


@pytest.mark.parametrize("name", ["EasyCache", "LazyCache"])
def test_a_cache_with_one_inner_step_runs_on_as_in_plain_euler(name):
    # With one inner step the noise level never rises between calls, so the state runs on from
    # one inner run into the next: what the cache skips, and the result, are plain euler's.
    model = cache_node(name)(tiny("eps"), 3.0)
    positive, negative = conds()
    nested_calls, plain_calls = [], []
    nested = nested_custom(recorded(model, lambda call: nested_calls.append(sigma_of(call))), positive, negative,
                           outer=8, inner=1)
    plain = plain_euler(recorded(model, lambda call: plain_calls.append(sigma_of(call))), positive, negative, steps=8)
    assert nested_calls == plain_calls
    assert (nested - plain).abs().max() <= 1e-5 * plain.abs().max(), float((nested - plain).abs().max())
