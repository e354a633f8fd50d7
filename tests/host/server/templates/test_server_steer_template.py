"""The steering template (example_workflows/Nested Diffusion - steer a running generation.json)
through the real server, as its Note tells a user to try it: queued as the editor would, it
pauses after every outer step; the test answers like a user (pick a tile after outer step 1,
change the prompt to another digit at the next pause, Continue at the rest), then queues the
recorded run again, which replays without pausing and saves the same images. Nobody answering
must not hang it: with a short pause timeout every pause times out and the run finishes."""

from __future__ import annotations

import json

from PIL import Image

from comfy_server import REPO_ROOT
from ui_workflow import api_prompt

TEMPLATE = REPO_ROOT / "example_workflows" / "Nested Diffusion - steer a running generation.json"
PAUSED, RESUMED, STEER_ROUTE = "nested_diffusion.paused", "nested_diffusion.resumed", "/nested_diffusion/steer"
SAMPLER, SAVE = "5", "7"


def template_prompt(info: dict) -> dict:
    workflow = json.loads(TEMPLATE.read_text())
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] != "Note"]  # frontend only
    return api_prompt(workflow, lambda t: info[t]["input"])


def saved_pixels(server, run) -> list[bytes]:
    out = []
    for item in run.history["outputs"][SAVE]["images"]:
        with Image.open(server.output_dir / item["subfolder"] / item["filename"]) as image:
            out.append(image.convert("RGB").tobytes())
    return out


def test_template_is_steered_as_its_note_says_then_replays(nested_none):
    prompt = template_prompt(nested_none.object_info())
    s = prompt[SAMPLER]["inputs"]
    assert s["pause_every_outer_step"] is True and s["steering"] == "" and s["clip"] == ["1", 1]
    outer, batch = s["outer_steps"], prompt["4"]["inputs"]["batch_size"]
    changes = [{"pick": [batch - 1]}, {"prompt": "a handwritten 8"}]
    answers: list = []

    def on_message(server, message):
        if message.get("type") == PAUSED:
            change = changes[len(answers)] if len(answers) < len(changes) else {}
            answers.append(server.request("POST", STEER_ROUTE, {"prompt_id": message["data"]["prompt_id"], **change}))

    run = nested_none.run_prompt(prompt, on_message=on_message)
    assert run.status == "success", run.describe()
    assert [a[0] for a in answers] == [200] * (outer - 1), answers
    paused = run.of_type(PAUSED)
    assert [p["step"] for p in paused] == list(range(1, outer)) and all(len(p["tiles"]) == batch for p in paused)
    assert paused[0]["can_edit_prompt"] is True
    assert [r["reason"] for r in run.of_type(RESUMED)] == ["steered", "steered"] + ["continued"] * (outer - 3)
    record = run.history["outputs"][SAMPLER]["nested_steering"][0]
    assert json.loads(record)["steps"] == [{"after": 1, "pick": [batch - 1]}, {"after": 2, "prompt": "a handwritten 8"}]
    live = saved_pixels(nested_none, run)
    assert len(live) == batch

    # Queue again with the record (the seed is fixed in the template): no pause, the same images.
    prompt[SAMPLER]["inputs"]["steering"] = record
    replay = nested_none.run_prompt(prompt)
    assert replay.status == "success", replay.describe()
    assert replay.of_type(PAUSED) == []
    assert saved_pixels(nested_none, replay) == live


def test_template_nobody_answering_times_out_at_every_pause_and_finishes(nested_none):
    prompt = template_prompt(nested_none.object_info())
    prompt[SAMPLER]["inputs"]["pause_timeout_minutes"] = 0.01       # 0.6 s per pause
    outer, batch = prompt[SAMPLER]["inputs"]["outer_steps"], prompt["4"]["inputs"]["batch_size"]
    run = nested_none.run_prompt(prompt)
    assert run.status == "success", run.describe()
    assert [r["reason"] for r in run.of_type(RESUMED)] == ["timeout"] * (outer - 1)
    assert len(run.history["outputs"][SAVE]["images"]) == batch
