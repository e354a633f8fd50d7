"""Video runs through the real server: every outer step's ``nested_diffusion.outer_step`` event
carries a clip that ComfyUI's own ``/view`` serves from the temp folder, only the submitting
client hears of it, the files stay bounded, stop-and-keep and the time budget keep the last one,
image runs are unchanged, the save-every-outer-step template gives one clip per outer step, and
VideoHelperSuite's animated previews coexist with the clips (when NESTED_VHS_PATH names an
unpacked VHS)."""

from __future__ import annotations

import io
import json
import os
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from PIL import Image, ImageSequence

from comfy_server import EVENT, PACK_LINK_NAME, REPO_ROOT, ComfyServer
from server_asserts import assert_outer_steps
from server_prompts import LATENT, NEGATIVE, POSITIVE, nested_ksampler_node, node, sampling_prompt, save_latent
from ui_workflow import api_prompt

SUBFOLDER = "nested_diffusion_clips"  # restated, not imported: the tests check the released name
FRAMES, SIDE = 3, 8                   # EmptyHunyuanLatentVideo 64x64, length 9 -> 3 latent frames of 8x8
TEMPLATE = REPO_ROOT / "example_workflows" / "Nested Diffusion - save every outer step clip.json"
VHS_UNSET = "set NESTED_VHS_PATH to an unpacked ComfyUI-VideoHelperSuite to run the coexistence test"


def video_prompt(outer_steps: int = 3, inner_steps: int = 2, max_seconds: float | None = None) -> dict:
    sampler = nested_ksampler_node(outer_steps=outer_steps, inner_steps=inner_steps)
    if max_seconds is not None:
        sampler["inputs"]["max_seconds"] = max_seconds
    return {
        "1": node("NestedTestTinyVideoModel", seed=0),
        POSITIVE: node("NestedTestConditioning", seed=1, zero=False),
        NEGATIVE: node("NestedTestConditioning", seed=0, zero=True),
        LATENT: node("EmptyHunyuanLatentVideo", width=SIDE * 8, height=SIDE * 8, length=4 * FRAMES - 3, batch_size=1),
        "5": sampler,
        "6": save_latent("5", 0),  # a prompt needs an output node
    }


def view(server: ComfyServer, clip: dict) -> tuple[int, bytes]:
    return server.get_bytes("/view?" + urlencode({k: clip[k] for k in ("filename", "subfolder", "type")}))


def webp_frames(data: bytes) -> list[Image.Image]:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "WEBP", im.format
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(im)]


def clip_files(server: ComfyServer) -> set[str]:
    folder = server.temp_dir / SUBFOLDER
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def assert_served_clips(server: ComfyServer, events: list[dict], frames: int = FRAMES, side: int = SIDE) -> None:
    for event in events:
        clip = event["clip"]
        assert clip["type"] == "temp" and clip["subfolder"] == SUBFOLDER, clip
        assert clip["frames"] == frames and (clip["width"], clip["height"]) == (side, side), clip
        assert clip["fps"] == 4.0, "tiny WAN 2.1: 16 fps over a temporal compression of 4"
        status, data = view(server, clip)
        assert status == 200, (status, clip)
        pictures = webp_frames(data)
        assert len(pictures) == frames and all(p.size == (side, side) for p in pictures)


def test_each_outer_step_announces_a_clip_only_to_its_client(nested):
    run = nested.run_prompt(video_prompt(), observer=True)
    assert run.status == "success", run.describe()
    events = assert_outer_steps(run, "5", 3, total=3)
    assert_served_clips(nested, events)
    assert not [m for m in run.observer_messages if m.get("type") == EVENT], "another client heard of the clips"
    # The node's ordinary preview stays one still image per outer step.
    stills = run.previews_for("5")
    assert len(stills) == 3
    for still in stills:
        with Image.open(io.BytesIO(still.image)) as im:
            assert im.format == "JPEG" and getattr(im, "n_frames", 1) == 1


def test_a_nodes_next_run_replaces_its_clips_in_the_temp_folder(nested_none):
    tab = uuid.uuid4().hex  # one client (browser tab) runs the node twice
    first = nested_none.run_prompt(video_prompt(), client_id=tab)
    second = nested_none.run_prompt(video_prompt(), client_id=tab)
    assert first.status == second.status == "success", (first.describe(), second.describe())
    old = [e["clip"] for e in first.outer_steps("5")]
    new = [e["clip"] for e in second.outer_steps("5")]
    # This client's clips of node 5 are the second run's three; the first run's are gone.
    assert {c["filename"] for c in new} <= clip_files(nested_none)
    assert not {c["filename"] for c in old} & clip_files(nested_none)
    assert all(view(nested_none, c)[0] == 404 for c in old)
    # Other prompts on this shared server (the video demo template) save their own WebPs to the output
    # folder; none of them may be one of the pack's clips.
    in_output = {p.name for p in nested_none.output_dir.rglob("*.webp")}
    clip_names = {c["filename"] for c in old + new}
    assert not in_output & clip_names, "clips are never written to the output folder"
    assert not list(nested_none.output_dir.rglob("nested_diffusion_clips")), "no clip subfolder in the output folder"


def test_another_clients_run_of_the_same_node_keeps_the_first_clients_clips(nested_none):
    # Two tabs, or two people running copies of one template: the same node id "5" from two clients.
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    first = nested_none.run_prompt(video_prompt(), client_id=a)
    second = nested_none.run_prompt(video_prompt(), client_id=b)
    assert first.status == second.status == "success", (first.describe(), second.describe())
    a_clips, b_clips = assert_outer_steps(first, "5", 3, total=3), assert_outer_steps(second, "5", 3, total=3)
    assert_served_clips(nested_none, a_clips)   # client a's clips are still served after b's run
    assert_served_clips(nested_none, b_clips)
    # Client a runs the node again: its own old clips go, client b's stay.
    third = nested_none.run_prompt(video_prompt(), client_id=a)
    assert third.status == "success", third.describe()
    assert all(view(nested_none, e["clip"])[0] == 404 for e in a_clips)
    assert_served_clips(nested_none, b_clips + third.outer_steps("5"))


def test_image_runs_carry_no_clip(nested_none):
    before = clip_files(nested_none)
    run = nested_none.run_prompt(sampling_prompt(nested_ksampler_node(outer_steps=3, inner_steps=2)))
    assert run.status == "success", run.describe()
    events = assert_outer_steps(run, "5", 3, total=3)
    assert all("clip" not in e for e in events)
    assert clip_files(nested_none) == before


def test_stop_and_keep_keeps_the_last_clip(nested_none):
    asked = []

    def stop_on_first_step(server, message):
        if message.get("type") == EVENT and not asked:
            asked.append(server.request("POST", "/nested_diffusion/stop", {"prompt_id": message["data"]["prompt_id"]}))

    run = nested_none.run_prompt(video_prompt(outer_steps=8, inner_steps=8), on_message=stop_on_first_step)
    assert asked and asked[0][0] == 200 and run.status == "success", (asked, run.describe())
    events = run.outer_steps("5")
    assert 1 <= len(events) < 8
    assert_served_clips(nested_none, events[-1:])


def test_time_budget_keeps_the_last_clip(nested_none):
    run = nested_none.run_prompt(video_prompt(outer_steps=4, max_seconds=0.001))
    assert run.status == "success", run.describe()
    events = run.outer_steps("5")
    assert len(events) == 1
    assert_served_clips(nested_none, events)


def template_on_tiny_models(info: dict, outer_steps: int = 2) -> dict:
    """The template as the editor queues it, with the tiny WAN, conditioning and video VAE in
    place of WAN's loaders and text encoder, and a 32x32, 5-frame video."""
    workflow = json.loads(TEMPLATE.read_text())
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] != "Note"]  # the editor never sends them
    titles = {str(n["id"]): n.get("title") for n in workflow["nodes"]}
    prompt = api_prompt(workflow, lambda t: info[t]["input"])
    loaders = {"UNETLoader": node("NestedTestTinyVideoModel", seed=0),
               "VAELoader": node("NestedTestTinyVideoVAE", seed=0)}
    for node_id, spec in list(prompt.items()):
        if spec["class_type"] in loaders:
            prompt[node_id] = loaders[spec["class_type"]]
        elif spec["class_type"] == "CLIPLoader":
            del prompt[node_id]
        elif spec["class_type"] == "CLIPTextEncode":
            negative = titles[node_id] == "Negative"
            prompt[node_id] = node("NestedTestConditioning", seed=0 if negative else 1, zero=negative)
        elif spec["class_type"] == "EmptyHunyuanLatentVideo":
            spec["inputs"].update(width=32, height=32, length=5)
        elif spec["class_type"] == "NestedKSampler":
            spec["inputs"].update(outer_steps=outer_steps, inner_steps=2)
    return prompt


def saved_webps(server: ComfyServer, run, node_id: str) -> list[list[Image.Image]]:
    items = run.history["outputs"][node_id]["images"]
    return [webp_frames((server.output_dir / i["subfolder"] / i["filename"]).read_bytes()) for i in items]


def test_template_saves_one_clip_per_outer_step(nested_none):
    info = nested_none.object_info()
    prompt = template_on_tiny_models(info)
    by_title = {n.get("title"): str(n["id"]) for n in json.loads(TEMPLATE.read_text())["nodes"]}
    run = nested_none.run_prompt(prompt, timeout=300)
    assert run.status == "success", run.describe()
    # 2 latent frames -> 5 video frames of 32x32, for the final video and for each outer step.
    final = saved_webps(nested_none, run, by_title["Final clip (16 fps)"])
    per_step = saved_webps(nested_none, run, by_title["One clip per outer step"])
    assert len(final) == 1 and len(per_step) == 2, (len(final), len(per_step))
    for clip in final + per_step:
        assert len(clip) == 5 and all(frame.size == (32, 32) for frame in clip)


@pytest.fixture(scope="module")
def vhs_server(tmp_path_factory):
    vhs = os.environ.get("NESTED_VHS_PATH")
    if not vhs:
        pytest.skip(VHS_UNSET)
    workdir = tmp_path_factory.mktemp("comfy-vhs")
    packs = workdir / "other_packs"
    packs.mkdir()
    (packs / "ComfyUI-VideoHelperSuite").symlink_to(Path(vhs).resolve(), target_is_directory=True)
    deps = tuple(Path(p) for p in os.environ.get("NESTED_VHS_DEPS", "").split(os.pathsep) if p)
    server = ComfyServer(os.environ["COMFYUI_PATH"], workdir, "latent2rgb", custom_nodes=(packs,), python_path=deps)
    server.start()
    try:
        assert "VHS_VideoCombine" in server.object_info(), f"VideoHelperSuite did not load:\n{server.log_tail()}"
        yield server.require_pack_nodes()
    finally:
        server.stop()


def test_videohelpersuite_animated_previews_coexist_with_the_clips(vhs_server):
    # VHS's "Display animated previews when sampling" setting rides in the workflow's extra data.
    extra = {"extra_pnginfo": {"workflow": {"extra": {"VHS_latentpreview": True, "VHS_latentpreviewrate": 0}}}}
    log_start = len(vhs_server.log_text())
    run = vhs_server.run_prompt(video_prompt(), extra_data=extra)
    assert run.status == "success" and not run.of_type("execution_error"), run.describe()
    started = run.of_type("VHS_latentpreview")
    assert started and started[0]["length"] == FRAMES and started[0]["rate"] == 4, started
    assert run.previews, "VHS's animated preview frames"
    events = assert_outer_steps(run, "5", 3, total=3)
    assert_served_clips(vhs_server, events)
    # No traceback through VHS or the pack. (Not "no traceback at all": startup logs the host's
    # optional imports, and 0.3.64 logs its in-memory database's connections closed on another thread.)
    during = vhs_server.log_text()[log_start:]
    assert not [line for line in during.splitlines() if "videohelpersuite" in line.lower()
                or PACK_LINK_NAME in line or "outer_step" in line], during
