"""Stop and keep: a stop request ends the run with the last finished outer image."""

import torch

from host_fixtures import NODES, conds, empty_latent, pack_module, tiny

STOP_MODULE = pack_module("nodes.runtime.stop_requests")
STOPS = STOP_MODULE.STOPS


def run(outer=4, stop_at=None, leftover=False, end=10000):
    positive, negative = conds()
    node = NODES["NestedKSamplerAdvanced"]()
    seen = []
    model = tiny("eps").clone()

    def request_stop_after(apply_model, call):
        # Asked from inside the run, as the web button does while the sampler works.
        if stop_at is not None and len(seen) == stop_at:
            STOPS.request()
        seen.append(float(call["timestep"][0]))
        return apply_model(call["input"], call["timestep"], **call["c"])

    model.set_model_unet_function_wrapper(request_stop_after)
    out, images = node.sample(
        model=model, add_noise="enable", noise_seed=3, outer_steps=outer, inner_steps=2, cfg=1.0, sampler_name="euler",
        scheduler="paper_faithful", positive=positive, negative=negative, latent_image=empty_latent(),
        start_at_outer_step=0, end_at_outer_step=end, return_with_leftover_noise="enable" if leftover else "disable")
    return out["samples"], images["samples"], len(seen)


def test_stop_returns_the_last_finished_outer_image_and_counts():
    before = STOPS.stops
    final, images, calls = run(stop_at=3)  # during the inner run of outer step 1 (2 calls each)
    assert images.shape[0] == 2, "outer step 1 completes: a stop is polled between model calls"
    torch.testing.assert_close(final, images[-1:], rtol=0, atol=1e-6)
    assert calls == 4
    assert STOPS.stops == before + 1


def test_a_stop_does_not_leak_into_the_next_run():
    run(stop_at=1)
    final, images, calls = run()
    assert images.shape[0] == 4 and calls == 8
    assert STOPS.request() == [], "no sampler is running, so nothing can be asked to stop"


def test_first_outer_step_always_completes():
    final, images, calls = run(stop_at=0)
    assert images.shape[0] == 1 and calls == 2


def test_a_stopped_leftover_noise_run_hands_on_its_noisy_state():
    # Stopped in outer step 1 of 0-3: step 0's image exists, and the state handed on is the
    # noisy one at the end level (nested_core tests check its exact value), not that image.
    final, images, calls = run(stop_at=3, leftover=True, end=3)
    assert images.shape[0] == 2 and calls == 4
    assert (final - images[-1:]).abs().max() > 0.05


def test_stop_bookkeeping_is_per_prompt_and_bounded():
    stops = STOP_MODULE.StopRequests()
    for k in range(100):
        prompt = f"prompt-{k}"
        stops.begin(prompt)
        assert stops.request(prompt) == [prompt]
        stops.end(prompt, stopped_early=True)
        assert stops.should_stop(prompt), "later nested nodes of the stopped prompt see the stop"
        assert not stops.should_stop(f"prompt-{k + 1}"), "the next prompt never does"
    assert stops.remembered == STOP_MODULE.REMEMBERED_PROMPTS
    assert not stops.should_stop("prompt-0") and stops.should_stop("prompt-99")
    # A run without a prompt id (outside the executor): the request ends with the run.
    stops.begin("")
    stops.request()
    stops.end("", stopped_early=True)
    assert not stops.should_stop("")


SAMPLING_NODES = ("SamplerNestedDiffusion", "NestedKSampler", "NestedKSamplerAdvanced")


def test_stop_changes_the_cache_fingerprint_of_every_sampling_node():
    # Every sampling node's output can come from a stopped run (SamplerNestedDiffusion's through
    # the SamplerCustom node that runs it), so each one's fingerprint must move on after a stop.
    # (The demo model loader's output never depends on a run, so it has no fingerprint.)
    nodes = {name: NODES[name] for name in SAMPLING_NODES}
    before = {name: cls.IS_CHANGED() for name, cls in nodes.items()}
    run(stop_at=1)
    after = {name: cls.IS_CHANGED() for name, cls in nodes.items()}
    assert [name for name in nodes if after[name] == before[name]] == []
    # A run that is not stopped leaves it alone: cached outputs stay valid.
    run()
    assert {name: cls.IS_CHANGED() for name, cls in nodes.items()} == after
