"""Steering through a real server: pause events, POST /nested_diffusion/pause and /steer, the
record in /history and in the saved image's metadata, replay from that metadata, Cancel, Stop
& keep and timeouts while paused, two clients, and hostile bodies on both routes.

The graph is the digits demo's (its own MODEL, CLIP and VAE, no download): a batch of digits
sampled by a Nested KSampler whose `clip` input is connected, decoded and saved as PNG.
"""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest
import torch
from PIL import Image

from raw_http import raw_post
from server_prompts import load_latent, node, save_latent
from stop_route_bodies import stop_route_bodies

PAUSED, RESUMED = "nested_diffusion.paused", "nested_diffusion.resumed"
PAUSE_ROUTE, STEER_ROUTE = "/nested_diffusion/pause", "/nested_diffusion/steer"
SAMPLER = "5"


def demo_prompt(*, outer=3, inner=4, batch=2, step_mode=True, steering="", timeout_min=10.0, text="3",
                clip=True, seed=21) -> dict:
    sampler = node("NestedKSampler", model=["1", 0], seed=seed, outer_steps=outer, inner_steps=inner, cfg=3.0,
                   sampler_name="euler_ancestral", scheduler="paper_faithful", positive=["2", 0],
                   negative=["3", 0], latent_image=["4", 0], denoise=1.0, max_seconds=0.0,
                   pause_every_outer_step=step_mode, pause_timeout_minutes=timeout_min, steering=steering)
    if clip:
        sampler["inputs"]["clip"] = ["1", 1]
    return {
        "1": node("NestedDiffusionDemoModel"),
        "2": node("CLIPTextEncode", clip=["1", 1], text=text),
        "3": node("CLIPTextEncode", clip=["1", 1], text=""),
        "4": node("EmptyLatentImage", width=64, height=64, batch_size=batch),
        SAMPLER: sampler,
        "6": save_latent(SAMPLER, 0),
        "7": node("VAEDecode", samples=[SAMPLER, 0], vae=["1", 2]),
        "8": node("SaveImage", images=["7", 0], filename_prefix=f"nd_steer/{uuid.uuid4().hex[:10]}"),
    }


def ui_workflow(prompt: dict) -> dict:
    """The sampler node as a saved UI workflow lays it out (widgets_values by position, the
    seed's control slot after it), for the image metadata."""
    i = prompt[SAMPLER]["inputs"]
    values = [i["seed"], "fixed", i["outer_steps"], i["inner_steps"], i["cfg"], i["sampler_name"], i["scheduler"],
              i["denoise"], i["max_seconds"], i["pause_every_outer_step"], i["pause_timeout_minutes"], i["steering"]]
    return {"nodes": [{"id": int(SAMPLER), "type": "NestedKSampler", "widgets_values": values}]}


def steerer(changes: list, answers: list):
    """An on_message hook answering the k-th pause with changes[k] through the steer route."""
    def on_message(server, message):
        if message.get("type") == PAUSED:
            data = message["data"]
            change = changes[len(answers)] if len(answers) < len(changes) else {}
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": data["prompt_id"], **change}))
    return on_message


def png_text(path) -> dict:
    with Image.open(path) as image:
        return {k: json.loads(v) for k, v in image.text.items()}


def saved_png(server, run, node_id="8"):
    item = run.history["outputs"][node_id]["images"][0]
    return server.output_dir / item["subfolder"] / item["filename"]


def test_pause_pick_and_prompt_change_then_replay_from_the_saved_image(nested_none):
    prompt = demo_prompt()
    answers: list = []
    workflow = ui_workflow(prompt)
    run = nested_none.run_prompt(prompt, on_message=steerer([{"pick": [1]}, {"prompt": "8", "cfg": 4.0}], answers),
                                 extra_data={"extra_pnginfo": {"workflow": workflow}})
    assert run.status == "success", run.describe()
    assert [a[0] for a in answers] == [200, 200], answers
    paused = run.of_type(PAUSED)
    assert [p["step"] for p in paused] == [1, 2] and all(p["total"] == 3 and p["batch"] == 2 for p in paused)
    assert paused[0]["can_edit_prompt"] is True and paused[0]["cfg"] == 3.0 and paused[0]["steering"] == ""
    assert paused[0]["node"] == SAMPLER and paused[0]["record_node"] == SAMPLER
    for tile in paused[0]["tiles"]:
        status, data = nested_none.get_bytes(f"/view?filename={tile['filename']}&subfolder={tile['subfolder']}"
                                             f"&type={tile['type']}")
        assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(paused[0]["tiles"]) == 2
    resumed = run.of_type(RESUMED)
    assert [r["reason"] for r in resumed] == ["steered", "steered"]
    assert resumed[1]["applied"] == {"prompt": "8", "cfg": 4.0}
    record = resumed[1]["steering"]
    assert json.loads(record)["steps"] == [{"after": 1, "pick": [1]}, {"after": 2, "cfg": 4.0, "prompt": "8"}]
    assert run.history["outputs"][SAMPLER]["nested_steering"] == [record]

    # The PNG carries the steered record in both the API prompt and the UI workflow.
    meta = png_text(saved_png(nested_none, run))
    assert meta["prompt"][SAMPLER]["inputs"]["steering"] == record
    assert meta["workflow"]["nodes"][0]["widgets_values"][11] == record

    # Queueing the image's prompt replays it exactly, without pausing (step mode is still on).
    replay_prompt = meta["prompt"]
    replay_prompt["6"] = save_latent(SAMPLER, 0)
    replay = nested_none.run_prompt(replay_prompt)
    assert replay.status == "success", replay.describe()
    assert replay.of_type(PAUSED) == []
    steered = load_latent(nested_none.saved_latent_path(run, "6"))
    assert torch.equal(load_latent(nested_none.saved_latent_path(replay, "6")), steered)

    unsteered = demo_prompt(step_mode=False)
    plain = nested_none.run_prompt(unsteered)
    assert not torch.equal(load_latent(nested_none.saved_latent_path(plain, "6")), steered)


def test_pause_button_pauses_a_plain_run_and_continue_changes_nothing(nested_none):
    answers: list = []
    asked: list = []

    def on_message(server, message):
        if message.get("type") == "nested_diffusion.outer_step" and not asked:
            asked.append(server.request("POST", PAUSE_ROUTE, {"prompt_id": message["data"]["prompt_id"]}))
        steerer([{}], answers)(server, message)

    run = nested_none.run_prompt(demo_prompt(outer=4, step_mode=False), on_message=on_message)
    assert run.status == "success", run.describe()
    assert asked[0][0] == 200 and asked[0][1]["pausing"] == [run.prompt_id]
    paused = run.of_type(PAUSED)
    assert len(paused) == 1 and 1 <= paused[0]["step"] <= 3
    assert [r["reason"] for r in run.of_type(RESUMED)] == ["continued"]
    assert "nested_steering" not in run.history["outputs"].get(SAMPLER, {})
    plain = nested_none.run_prompt(demo_prompt(outer=4, step_mode=False))
    assert torch.equal(load_latent(nested_none.saved_latent_path(run, "6")),
                       load_latent(nested_none.saved_latent_path(plain, "6")))


def test_pause_events_go_to_the_submitting_client_only(nested_none):
    answers: list = []
    run = nested_none.run_prompt(demo_prompt(outer=2), observer=True, on_message=steerer([{}], answers))
    assert run.status == "success" and len(run.of_type(PAUSED)) == 1
    assert not [m for m in run.observer_messages if m.get("type") in (PAUSED, RESUMED)]


def test_cancel_while_paused_ends_the_prompt_within_a_second(nested_none):
    timing: dict = {}

    def on_message(server, message):
        if message.get("type") == PAUSED and "sent" not in timing:
            timing["sent"] = time.monotonic()
            server.interrupt()
        if message.get("type") == "execution_interrupted":
            timing["ended"] = time.monotonic()

    run = nested_none.run_prompt(demo_prompt(outer=3), on_message=on_message)
    assert run.of_type("execution_interrupted"), run.describe()
    assert timing["ended"] - timing["sent"] < 1.0, timing
    after = nested_none.run_prompt(demo_prompt(outer=2, step_mode=False))
    assert after.status == "success", after.describe()


def test_stop_and_keep_while_paused_returns_the_current_images(nested_none):
    def on_message(server, message):
        if message.get("type") == PAUSED:
            server.request("POST", "/nested_diffusion/stop", {"prompt_id": message["data"]["prompt_id"]})

    run = nested_none.run_prompt(demo_prompt(outer=4), on_message=on_message)
    assert run.status == "success", run.describe()
    assert len(run.outer_steps(SAMPLER)) == 1
    assert [r["reason"] for r in run.of_type(RESUMED)] == ["stopped"]


def test_a_pause_that_times_out_continues_unchanged(nested_none):
    run = nested_none.run_prompt(demo_prompt(outer=2, timeout_min=0.01))
    assert run.status == "success", run.describe()
    assert [r["reason"] for r in run.of_type(RESUMED)] == ["timeout"]
    assert "timed out" in nested_none.log_text()
    plain = nested_none.run_prompt(demo_prompt(outer=2, step_mode=False))
    assert torch.equal(load_latent(nested_none.saved_latent_path(run, "6")),
                       load_latent(nested_none.saved_latent_path(plain, "6")))


def test_refused_steer_keeps_the_run_paused(nested_none):
    answers: list = []

    def on_message(server, message):
        if message.get("type") == PAUSED and not answers:
            prompt_id = message["data"]["prompt_id"]
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": prompt_id, "pick": [9]}))
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": prompt_id, "prompt": "8"}))
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": prompt_id, "cfg": "high"}))
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": prompt_id}))

    run = nested_none.run_prompt(demo_prompt(outer=2, clip=False), on_message=on_message)
    assert run.status == "success", run.describe()
    assert [a[0] for a in answers] == [400, 400, 400, 200], answers
    assert "from 0 to 1" in answers[0][1]["error"] and "connect a CLIP" in answers[1][1]["error"]
    assert run.of_type(PAUSED)[0]["can_edit_prompt"] is False


def test_bad_steering_fails_that_prompt_before_sampling_and_the_server_keeps_serving(nested_none):
    run = nested_none.run_prompt(demo_prompt(steering='{"version": 1}'))
    assert run.status == "error" and "steering run must be an object" in run.error_text(), run.describe()
    assert not run.outer_steps(SAMPLER)
    after = nested_none.run_prompt(demo_prompt(outer=2, step_mode=False))
    assert after.status == "success", after.describe()


def test_routes_answer_409_when_nothing_runs_or_is_paused(nested_none):
    assert nested_none.request("POST", PAUSE_ROUTE, {})[0] == 409
    assert nested_none.request("POST", STEER_ROUTE, {"prompt_id": "nope"})[0] == 409
    assert nested_none.request("POST", STEER_ROUTE, {})[0] == 400


def steer_body_ok(data: bytes | None) -> bool:
    """Whether the steer route must take ``data`` as well-formed (then 409 on an idle server)."""
    try:
        parsed = json.loads((data or b"").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return (isinstance(parsed, dict) and isinstance(parsed.get("prompt_id"), str) and bool(parsed["prompt_id"])
            and set(parsed) <= {"prompt_id", "pick", "prompt", "negative", "cfg"})


def test_fuzzed_bodies_get_400_or_409_never_500(nested_none):
    rng = random.Random(3)
    bodies = stop_route_bodies(300, seed=5)
    extra = [json.dumps({"prompt_id": "x", "pick": rng.choice([[1], "1", None, [[]], -1]),
                         rng.choice(["cfg", "prompt", "negative", "seed"]): rng.choice([1, "a", None, [], {}])}
                        ).encode() for _ in range(100)]
    for body in bodies:
        answer = raw_post(nested_none.port, PAUSE_ROUTE, body.data, body.headers())
        assert answer.status == (409 if body.ok else 400), (body.kind, body.data[:80] if body.data else None,
                                                            answer.status, answer.body[:200])
    for data in [b.data for b in bodies] + extra:
        answer = raw_post(nested_none.port, STEER_ROUTE, data, {"Content-Type": "application/json"})
        want = 409 if steer_body_ok(data) else 400
        assert answer.status == want, ((data or b"")[:80], answer.status, answer.body[:200])
    assert nested_none.proc.poll() is None
    assert "Error handling request" not in nested_none.log_text(), nested_none.log_tail(40)


@pytest.mark.parametrize("batch", [1, 64])
def test_pick_works_for_batch_sizes_one_to_sixty_four(nested_none, batch):
    answers: list = []
    pick = [0] if batch == 1 else [63, 5]
    run = nested_none.run_prompt(demo_prompt(outer=2, inner=2, batch=batch),
                                 on_message=steerer([{"pick": pick}], answers))
    assert run.status == "success" and answers[0][0] == 200, (answers, run.describe())
    assert len(run.of_type(PAUSED)[0]["tiles"]) == batch
    final = load_latent(nested_none.saved_latent_path(run, "6"))
    assert final.shape[0] == batch and torch.isfinite(final).all()


def test_video_runs_pause_with_a_clip_per_batch_item(nested_none):
    prompt = {
        "1": node("NestedTestTinyVideoModel", seed=0),
        "2": node("NestedTestConditioning", seed=1, zero=False),
        "3": node("NestedTestConditioning", seed=0, zero=True),
        "4": node("EmptyHunyuanLatentVideo", width=64, height=64, length=9, batch_size=2),
        SAMPLER: node("NestedKSampler", model=["1", 0], seed=3, outer_steps=2, inner_steps=2, cfg=3.0,
                      sampler_name="euler", scheduler="normal", positive=["2", 0], negative=["3", 0],
                      latent_image=["4", 0], denoise=1.0, pause_every_outer_step=True),
        "6": save_latent(SAMPLER, 0),
    }
    answers: list = []
    run = nested_none.run_prompt(prompt, on_message=steerer([{"pick": [1]}], answers))
    assert run.status == "success" and answers[0][0] == 200, (answers, run.describe())
    paused = run.of_type(PAUSED)[0]
    assert len(paused["tiles"]) == 2 and len(paused["clips"]) == 2
    for clip in paused["clips"]:
        status, data = nested_none.get_bytes(f"/view?filename={clip['filename']}&subfolder={clip['subfolder']}"
                                             f"&type=temp")
        assert status == 200 and data[8:12] == b"WEBP" and clip["frames"] == 3
    final = load_latent(nested_none.saved_latent_path(run, "6"))
    assert final.ndim == 5 and final.shape[0] == 2


def custom_sampling_prompt(steering: str = "", step_mode: bool = True) -> dict:
    prompt = demo_prompt(step_mode=False)
    del prompt[SAMPLER]
    prompt.update({
        "10": node("SamplerNestedDiffusion", inner_sampler="euler_ancestral", inner_steps=3,
                   inner_scheduler="paper_faithful", eta=0.5, pause_every_outer_step=step_mode, steering=steering),
        "11": node("CFGGuider", model=["1", 0], positive=["2", 0], negative=["3", 0], cfg=3.0),
        "12": node("BasicScheduler", model=["1", 0], scheduler="simple", steps=3, denoise=1.0),
        "13": node("RandomNoise", noise_seed=8),
        SAMPLER: node("SamplerCustomAdvanced", noise=["13", 0], guider=["11", 0], sampler=["10", 0],
                      sigmas=["12", 0], latent_image=["4", 0]),
    })
    return prompt


def test_custom_sampling_pauses_and_picks_and_its_record_replays(nested_none):
    answers: list = []

    def on_message(server, message):
        if message.get("type") == PAUSED and not answers:
            prompt_id = message["data"]["prompt_id"]
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": prompt_id, "cfg": 5.0}))
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": prompt_id, "pick": [0]}))
        elif message.get("type") == PAUSED:
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": message["data"]["prompt_id"]}))

    run = nested_none.run_prompt(custom_sampling_prompt(), on_message=on_message)
    assert run.status == "success", run.describe()
    assert answers[0][0] == 400 and "guider of SamplerCustom owns" in answers[0][1]["error"]
    assert [a[0] for a in answers[1:]] == [200, 200]
    paused = run.of_type(PAUSED)[0]
    assert paused["node"] == SAMPLER and paused["record_node"] == "10"
    assert paused["can_edit_prompt"] is False and paused["cfg"] is None
    record = run.of_type(RESUMED)[-1]["steering"]
    assert json.loads(record)["steps"] == [{"after": 1, "pick": [0]}]
    steered = load_latent(nested_none.saved_latent_path(run, "6"))

    replay = nested_none.run_prompt(custom_sampling_prompt(steering=record))
    assert replay.status == "success" and not replay.of_type(PAUSED), replay.describe()
    assert torch.equal(load_latent(nested_none.saved_latent_path(replay, "6")), steered)
