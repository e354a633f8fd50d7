"""Steering a running nested run inside the real host: pause at an outer-step boundary, pick,
change the prompt or cfg, continue; and the record that replays it bit-identically.

In-process there is no prompt id (the executor is not running), so the run is paused and steered
under the empty prompt id, as the routes would do for a named prompt.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import torch

import comfy.model_management
import nodes as comfy_nodes

from host_fixtures import NODES, conds, empty_latent, pack_module, tiny
from tiny_models import build_tiny_controlnet

board = pack_module("nodes.runtime.pause_board")
stops = pack_module("nodes.runtime.stop_requests").STOPS
steering_inputs = pack_module("nodes.declarations.steering_inputs")
schedules = pack_module("nodes.runtime.comfy_schedules")
core = pack_module("nested_core.steering")


@pytest.fixture(scope="module")
def clip():
    # The digits demo's CLIP gives (1, 4, 32) embeddings, the tiny UNet's context shape.
    return NODES["NestedDiffusionDemoModel"]().load()[1]


def encode(clip, text):
    return comfy_nodes.CLIPTextEncode().encode(clip, text)[0]


def run(positive, negative, clip=None, batch=2, sampler="euler_ancestral", steering="", step_mode=False,
        timeout_min=10.0, outer=4, seed=11, cfg=2.0, prompt=None, extra_pnginfo=None, unique_id="9"):
    out = NODES["NestedKSampler"]().sample(
        model=tiny("eps"), seed=seed, outer_steps=outer, inner_steps=2, cfg=cfg, sampler_name=sampler,
        scheduler="normal", positive=positive, negative=negative, latent_image=empty_latent(batch), denoise=1.0,
        clip=clip, pause_every_outer_step=step_mode, pause_timeout_minutes=timeout_min, steering=steering,
        unique_id=unique_id, prompt=prompt, extra_pnginfo=extra_pnginfo)
    if isinstance(out, dict):
        return out["result"], out["ui"]["nested_steering"][0]
    return out, ""


class Background:
    """The node run in a thread, as the prompt worker runs it while the server steers it."""

    def __init__(self, fn):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._go, args=(fn,), daemon=True)
        self.thread.start()

    def _go(self, fn):
        try:
            self.result = fn()
        except BaseException as e:  # noqa: BLE001 - the interrupt is a BaseException on newer hosts
            self.error = e

    def join(self, timeout=60):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run did not finish"
        return self


def wait_paused(timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if "" in board.PAUSES.paused():
            return
        time.sleep(0.02)
    raise AssertionError("the run never paused")


def steer_each_pause(changes: list):
    """Answer successive pauses with ``changes`` (one per pause), checking each is accepted."""
    for change in changes:
        wait_paused()
        status, body = board.PAUSES.steer("", change)
        assert status == 200, body


def test_live_steering_is_recorded_and_replays_bit_identically(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    live = Background(lambda: run(positive, negative, clip, step_mode=True))
    steer_each_pause([{"pick": [1]}, {"prompt": "8", "cfg": 3.5}, {}])
    live.join()
    assert live.error is None, live.error
    (latent, images), record = live.result
    data = json.loads(record)
    assert data["steps"] == [{"after": 1, "pick": [1]}, {"after": 2, "cfg": 3.5, "prompt": "8"}]
    assert data["run"]["seed"] == 11 and data["run"]["batch"] == 2 and data["run"]["outer_steps"] == 4

    (replayed, replayed_images), again = run(positive, negative, clip, steering=record)
    assert again == record
    assert torch.equal(replayed["samples"], latent["samples"])
    assert torch.equal(replayed_images["samples"], images["samples"])

    (plain, _), none = run(positive, negative, clip)
    assert none == "" and not torch.equal(plain["samples"], latent["samples"])


def test_pick_copies_the_picked_rows_outer_state(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    record = json.loads(run(positive, negative, clip, batch=3, steering="")[1] or "{}") or None
    assert record is None
    (plain, plain_images), _ = run(positive, negative, clip, batch=3, sampler="euler")
    fingerprint = _fingerprint(batch=3, sampler="euler")
    steered = json.dumps({"version": 1, "run": fingerprint, "steps": [{"after": 2, "pick": [2, 0]}]})
    (picked, picked_images), _ = run(positive, negative, clip, batch=3, sampler="euler", steering=steered)
    # Outer images 1 and 2 are the unsteered run's; after the pick, rows cycle through (2, 0) and a
    # deterministic inner sampler gives each copy the same future.
    per_step = 3
    assert torch.equal(picked_images["samples"][:2 * per_step], plain_images["samples"][:2 * per_step])
    final = picked["samples"]
    assert torch.equal(final[0], final[2])
    assert not torch.equal(final[0], final[1])


def _fingerprint(batch, sampler, outer=4, seed=11):
    """The fingerprint of ``run``'s run, computed as a record writer would."""
    sigmas = schedules.outer_sigmas(tiny("eps").get_model_object("model_sampling"), "normal", outer, 1.0)
    return core.run_fingerprint(seed, sigmas, batch, sampler, 2)


def test_prompt_change_keeps_what_is_attached_to_the_text(clip):
    """Re-encoding the same text replaces the embedding with an equal one: if the mask, the
    timestep range and the ControlNet stay attached, the result is bit-identical to no change."""
    positive = encode(clip, "3")
    mask = torch.zeros(1, 64, 64)
    mask[:, :, :32] = 1.0
    positive = comfy_nodes.ConditioningSetMask().append(positive, mask, "default", 0.8)[0]
    positive = comfy_nodes.ConditioningSetTimestepRange().set_range(positive, 0.0, 0.9)[0] \
        if hasattr(comfy_nodes, "ConditioningSetTimestepRange") else positive
    negative = encode(clip, "")
    hint = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    positive, negative = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        positive, negative, build_tiny_controlnet(), hint, 1.0, 0.0, 1.0)
    (plain, _), _ = run(positive, negative, clip, sampler="euler")
    fp = _fingerprint(batch=2, sampler="euler")
    same = json.dumps({"version": 1, "run": fp, "steps": [{"after": 1, "prompt": "3", "negative": ""}]})
    (kept, _), _ = run(positive, negative, clip, sampler="euler", steering=same)
    assert torch.equal(kept["samples"], plain["samples"])
    other = json.dumps({"version": 1, "run": fp, "steps": [{"after": 1, "prompt": "8"}]})
    (changed, _), _ = run(positive, negative, clip, sampler="euler", steering=other)
    assert not torch.allclose(changed["samples"], plain["samples"], atol=1e-4)


def test_cfg_change_applies_to_the_remaining_steps(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    fp = _fingerprint(batch=2, sampler="euler")
    (plain, plain_images), _ = run(positive, negative, clip, sampler="euler")
    same = json.dumps({"version": 1, "run": fp, "steps": [{"after": 2, "cfg": 2.0}]})
    assert torch.equal(run(positive, negative, clip, sampler="euler", steering=same)[0][0]["samples"],
                       plain["samples"])
    higher = json.dumps({"version": 1, "run": fp, "steps": [{"after": 2, "cfg": 6.0}]})
    (steered, steered_images), _ = run(positive, negative, clip, sampler="euler", steering=higher)
    assert torch.equal(steered_images["samples"][:4], plain_images["samples"][:4])
    assert not torch.allclose(steered["samples"], plain["samples"], atol=1e-4)


@pytest.mark.parametrize("record, needle", [
    ("{not json", "not JSON"),
    ('{"version": 1, "run": {}, "steps": [], "extra": 1}', "unknown keys"),
    ("[1, 2]", "JSON object"),
])
def test_malformed_steering_is_refused_before_sampling(clip, record, needle):
    with pytest.raises(ValueError, match=needle):
        run(*conds(), steering=record)


def test_steering_that_does_not_fit_the_run_is_refused(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    fp = _fingerprint(batch=2, sampler="euler_ancestral")
    cases = [
        ({**fp, "seed": 12}, [{"after": 1, "pick": [0]}], "different run: seed 12"),
        (fp, [{"after": 4, "pick": [0]}], "after must be an outer step from 1 to 3"),
        (fp, [{"after": 1, "pick": [2]}], "pick must be a list of 1 to 64 batch indices from 0 to 1"),
        (fp, [{"after": 1, "prompt": "x" * 4001}], "at most 4000 characters"),
        (fp, [{"after": 1, "cfg": 101}], "cfg must be a number from 0 to 100"),
        (fp, [{"after": 1, "seed": 3}], "unknown keys"),
        (fp, [{"after": 2, "pick": [0]}, {"after": 1, "pick": [1]}], "outer-step order"),
    ]
    for run_fp, steps, needle in cases:
        record = json.dumps({"version": 1, "run": run_fp, "steps": steps})
        with pytest.raises(ValueError, match=needle):
            run(positive, negative, clip, steering=record)
    no_clip = json.dumps({"version": 1, "run": fp, "steps": [{"after": 1, "prompt": "8"}]})
    with pytest.raises(ValueError, match="connect a CLIP"):
        run(positive, negative, None, steering=no_clip)
    assert stops.running() == [], "a refused record leaves no run registered"


def test_steer_refuses_a_change_the_paused_run_cannot_take(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    live = Background(lambda: run(positive, negative, None, step_mode=True, outer=2))
    wait_paused()
    assert board.PAUSES.steer("", {"pick": [5]})[0] == 400
    status, body = board.PAUSES.steer("", {"prompt": "8"})
    assert status == 400 and "connect a CLIP" in body["error"]
    assert board.PAUSES.steer("other-prompt", {})[0] == 409
    assert board.PAUSES.steer("", {})[0] == 200  # still paused after the refusals: continue
    live.join()
    assert live.error is None and live.result[1] == ""


def test_pause_timeout_continues_unchanged(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    started = time.monotonic()
    (timed_out, _), record = run(positive, negative, clip, step_mode=True, timeout_min=0.01, outer=3)
    assert time.monotonic() - started >= 2 * 0.6  # two pauses of 0.6 s
    (plain, _), _ = run(positive, negative, clip, outer=3)
    assert record == "" and torch.equal(timed_out["samples"], plain["samples"])


def test_stop_and_keep_while_paused_returns_the_current_images(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    live = Background(lambda: run(positive, negative, clip, step_mode=True, outer=4))
    wait_paused()
    stops.request("")
    live.join()
    (latent, images), _ = live.result
    assert images["samples"].shape[0] == 2  # one outer step of a batch of 2
    assert torch.equal(latent["samples"], images["samples"])


def test_cancel_while_paused_ends_the_run_within_a_second(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    live = Background(lambda: run(positive, negative, clip, step_mode=True, outer=4))
    wait_paused()
    comfy.model_management.interrupt_current_processing(True)
    try:
        started = time.monotonic()
        live.join(timeout=5)
        assert time.monotonic() - started < 1.0
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert isinstance(live.error, comfy.model_management.InterruptProcessingException)
    assert board.PAUSES.paused() == []


def test_record_is_written_into_prompt_and_workflow(clip):
    positive, negative = encode(clip, "3"), encode(clip, "")
    slot = steering_inputs.widget_slot(NODES["NestedKSampler"])
    values = [11, "fixed", 4, 2, 2.0, "euler_ancestral", "normal", 1.0, 0.0, True, 10.0, ""]
    assert values[slot] == ""
    workflow = {"nodes": [{"id": 9, "type": "NestedKSampler", "widgets_values": list(values)}]}
    prompt = {"9": {"class_type": "NestedKSampler", "inputs": {"steering": ""}}}
    live = Background(lambda: run(positive, negative, clip, step_mode=True, prompt=prompt,
                                  extra_pnginfo={"workflow": workflow}))
    steer_each_pause([{"pick": [0]}, {}, {}])
    live.join()
    record = live.result[1]
    assert record and prompt["9"]["inputs"]["steering"] == record
    assert workflow["nodes"][0]["widgets_values"][slot] == record
    assert workflow["nodes"][0]["widgets_values"][:slot] == values[:slot]


def test_live_steered_output_is_not_served_from_cache(clip):
    cls = NODES["NestedKSampler"]
    before = cls.IS_CHANGED()
    positive, negative = encode(clip, "3"), encode(clip, "")
    live = Background(lambda: run(positive, negative, clip, step_mode=True, outer=2))
    steer_each_pause([{"pick": [0]}])
    live.join()
    assert cls.IS_CHANGED() != before
    step_mode = cls.IS_CHANGED(pause_every_outer_step=True)
    assert step_mode != step_mode  # NaN: a step-mode node runs at every Queue


def test_a_steer_that_arrives_before_the_wait_is_not_lost():
    """The board takes the run before the paused event goes out, so the quickest client's steer
    (answered before the sampler thread starts waiting) still reaches it."""
    paused = board.PAUSES.open("quick", lambda change: dict(change))
    assert board.PAUSES.steer("quick", {"pick": (0,)})[0] == 200
    reason, change = board.PAUSES.wait(paused, 5.0, poll=lambda: False)
    assert (reason, change) == ("steered", {"pick": (0,)})
    assert board.PAUSES.steer("quick", {})[0] == 409


def test_a_wait_wakes_on_stop_and_timeout_without_busy_looping():
    paused = board.PAUSES.open("idle", lambda change: change)
    cpu, wall = time.process_time(), time.monotonic()
    assert board.PAUSES.wait(paused, 1.0, poll=lambda: False) == ("timeout", None)
    assert time.monotonic() - wall >= 1.0 and time.process_time() - cpu < 0.1
    paused = board.PAUSES.open("idle", lambda change: change)
    assert board.PAUSES.wait(paused, 60.0, poll=lambda: True) == ("stopped", None)
    assert board.PAUSES.paused() == []
