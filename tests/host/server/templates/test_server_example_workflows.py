"""The shipped example workflows (UI format) still match the nodes the server describes:
every widget value in its slot, every combo string offered, every link between matching types.
UI workflows store widget values by position, so this is also the guard on widget order."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from comfy_server import PACK_LINK_NAME, REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / "example_workflows").glob("*.json"))
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
# Files a user supplies: not on a test machine, so not in the server's lists.
USER_FILES = {("CheckpointLoaderSimple", "ckpt_name"), ("UNETLoader", "unet_name"), ("CLIPLoader", "clip_name"),
              ("VAELoader", "vae_name")}
# Templates whose thumbnail is an animation (a GIF under the .jpg name the frontends ask for).
ANIMATED_THUMBNAILS = {"nested_diffusion_demo_video"}
# Nodes that live in the frontend only (never sent to the server).
FRONTEND_ONLY = {"Note", "MarkdownNote"}
SD15 = "v1-5-pruned-emaonly-fp16.safetensors"  # the file name ComfyUI's own SD 1.5 templates use
EXPECTED = {
    "Nested Diffusion - text to image": {"NestedKSampler"},
    "Nested Diffusion - SamplerCustomAdvanced": {"SamplerCustomAdvanced", "SamplerNestedDiffusion",
                                                               "CFGGuider"},
    "Nested Diffusion - prompt change mid-run": {"NestedKSamplerAdvanced"},
    "Nested Diffusion - inpainting with a mask": {"NestedKSampler", "SetLatentNoiseMask", "LoadImage"},
    "Nested Diffusion - time budget": {"NestedKSampler"},
}
# WAN 2.1 text-to-video (ComfyUI's repackaged files), not SD 1.5.
VIDEO_TEMPLATES = {
    "Nested Diffusion - save every outer step clip": {"NestedKSampler", "RebatchLatents", "VAEDecode",
                                                      "SaveAnimatedWEBP", "UNETLoader", "CLIPLoader", "VAELoader"},
}
# On the pack's digits demo model (no download), beyond the demo templates named for the model.
DEMO_TEMPLATES = {
    "Nested Diffusion - steer a running generation": {"NestedDiffusionDemoModel", "CLIPTextEncode", "NestedKSampler",
                                                      "Note"},
}
WAN_FILES = {"UNETLoader": ("wan2.1_t2v_1.3B_fp16.safetensors", "diffusion_models"),
             "CLIPLoader": ("umt5_xxl_fp8_e4m3fn_scaled.safetensors", "text_encoders"),
             "VAELoader": ("wan_2.1_vae.safetensors", "vae")}
WAN_REPO = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"


def widget_inputs(info: dict) -> list[tuple[str, object, dict]]:
    """(name, type, options) of the node's widget inputs, in the order the editor stores them."""
    out = []
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                out.append((name, kind, options))
    return out


def expected_values(info: dict) -> list[tuple[str, object, dict]]:
    slots = []
    for name, kind, options in widget_inputs(info):
        slots.append((name, kind, options))
        if options.get("control_after_generate"):  # the editor stores the "fixed"/"randomize" choice
            slots.append((f"{name} (control)", ["fixed", "increment", "decrement", "randomize"], {}))
        if options.get("image_upload"):  # and the upload button's value
            slots.append((f"{name} (upload)", ["image"], {}))
    return slots


def test_there_are_the_five_templates_each_with_its_nodes():
    assert {p.stem for p in WORKFLOWS} >= set(EXPECTED) | set(VIDEO_TEMPLATES) | set(DEMO_TEMPLATES)
    for path in WORKFLOWS:
        types = {n["type"] for n in json.loads(path.read_text())["nodes"]}
        assert {**EXPECTED, **VIDEO_TEMPLATES, **DEMO_TEMPLATES}.get(path.stem, set()) <= types, (path.name, types)


def test_steer_template_note_clip_and_step_mode():
    path = REPO_ROOT / "example_workflows" / "Nested Diffusion - steer a running generation.json"
    workflow = json.loads(path.read_text())
    notes = [n for n in workflow["nodes"] if n["type"] == "Note"]
    assert len(notes) == 1
    text = notes[0]["widgets_values"][0]
    for word in ("pause", "Pick", "prompt", "Continue", "steering", "replay", "thumbnail"):
        assert word.lower() in text.lower(), word
    sampler, = [n for n in workflow["nodes"] if n["type"] == "NestedKSampler"]
    by_link = {link[0]: link for link in workflow["links"]}
    clip, = [i for i in sampler["inputs"] if i["name"] == "clip"]
    assert by_link[clip["link"]][1] == 1 and by_link[clip["link"]][2] == 1   # the demo model's CLIP
    # widgets: seed, control, outer, inner, cfg, sampler, scheduler, denoise, max_seconds, then steering's,
    # then outer_noise (the paper's step: the template's inner sampler is euler_ancestral)
    assert sampler["widgets_values"][9:] == [True, 10.0, "", "ddim"]


@pytest.mark.parametrize("path", [p for p in WORKFLOWS if p.stem in VIDEO_TEMPLATES], ids=lambda p: p.stem)
def test_video_template_note_and_wan_download_metadata(path: Path):
    workflow = json.loads(path.read_text())
    notes = [n for n in workflow["nodes"] if n["type"] == "Note"]
    assert len(notes) == 1 and "Change:" in notes[0]["widgets_values"][0] and "Watch:" in notes[0]["widgets_values"][0]
    for n in workflow["nodes"]:
        if n["type"] in WAN_FILES:
            name, directory = WAN_FILES[n["type"]]
            assert n["widgets_values"][0] == name, (n["type"], n["widgets_values"])
            assert n["properties"]["models"] == [{"name": name, "url": f"{WAN_REPO}/{directory}/{name}?download=true",
                                                  "directory": directory}]


SD15_TEMPLATES = [p for p in WORKFLOWS if p.stem in EXPECTED]


@pytest.mark.parametrize("path", SD15_TEMPLATES, ids=lambda p: p.stem)
def test_template_note_checkpoint_metadata_and_zoom(path: Path):
    workflow = json.loads(path.read_text())
    notes = [n for n in workflow["nodes"] if n["type"] == "Note"]
    assert len(notes) == 1, path.name
    text = notes[0]["widgets_values"][0]
    assert "Change:" in text and "Watch:" in text and "thumbnail" in text, text
    loaders = [n for n in workflow["nodes"] if n["type"] == "CheckpointLoaderSimple"]
    assert loaders, path.name
    for loader in loaders:
        # ComfyUI offers the download of a missing model from this list, as for its own templates.
        assert loader["widgets_values"] == [SD15]
        assert loader["properties"]["models"] == [{
            "name": SD15, "directory": "checkpoints",
            "url": f"https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/{SD15}?download=true"}]
    ds = workflow["extra"]["ds"]
    assert 0.8 <= ds["scale"] <= 1.2, ds
    # The graph's top-left corner opens near the screen's top-left (screen = (pos + offset) * scale),
    # and the nodes fit the width of a full-HD screen.
    left = min(n["pos"][0] for n in workflow["nodes"])
    top = min(n["pos"][1] for n in workflow["nodes"])
    right = max(n["pos"][0] + n["size"][0] for n in workflow["nodes"])
    screen_left, screen_top = (left + ds["offset"][0]) * ds["scale"], (top + ds["offset"][1]) * ds["scale"]
    assert 0 <= screen_left <= 200 and 0 <= screen_top <= 200, (ds, left, top)
    assert (right - left + ds["offset"][0]) * ds["scale"] <= 1920, (path.name, right - left)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_workflow_matches_the_servers_nodes(nested_none, path: Path):
    workflow = json.loads(path.read_text())
    info = nested_none.object_info()
    by_id = {n["id"]: n for n in workflow["nodes"]}
    for n in workflow["nodes"]:
        if n["type"] in FRONTEND_ONLY:
            continue
        assert n["type"] in info, f"{path.name}: unknown node {n['type']}"
        slots = expected_values(info[n["type"]])
        values = n.get("widgets_values", [])
        assert len(values) == len(slots), (path.name, n["type"], values, [s[0] for s in slots])
        for (name, kind, options), value in zip(slots, values):
            if isinstance(kind, list):
                if (n["type"], name) not in USER_FILES:
                    assert value in kind, (path.name, n["type"], name, value)
            elif kind in ("INT", "FLOAT"):
                assert isinstance(value, (int, float)), (path.name, n["type"], name, value)
                assert options.get("min", value) <= value <= options.get("max", value), (n["type"], name, value)
            elif kind == "STRING":
                assert isinstance(value, str), (path.name, n["type"], name, value)
    for link_id, src, src_slot, dst, dst_slot, kind in workflow["links"]:
        source, target = by_id[src], by_id[dst]
        assert info[source["type"]]["output"][src_slot] == kind, (path.name, link_id)
        target_input = target["inputs"][dst_slot]
        assert target_input["link"] == link_id and target_input["type"] == kind, (path.name, link_id)
        required = {**info[target["type"]]["input"]["required"], **info[target["type"]]["input"].get("optional", {})}
        assert required[target_input["name"]][0] == kind, (path.name, link_id, target_input["name"])


def test_examples_are_served_as_templates_with_thumbnails(nested_none):
    templates = nested_none.get_json("/api/workflow_templates")
    assert sorted(templates.get(PACK_LINK_NAME, [])) == sorted(p.stem for p in WORKFLOWS), templates
    for path in WORKFLOWS:
        # The frontend asks for <name>.json and <name>.jpg (percent-encoded, as a browser does).
        base = f"/api/workflow_templates/{PACK_LINK_NAME}/{quote(path.stem)}"
        served = nested_none.get_json(base + ".json")
        assert served == json.loads(path.read_text())
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(nested_none.base + base + ".jpg") as r:
            assert r.status == 200
            image = Image.open(io.BytesIO(r.read()))
            if path.stem in ANIMATED_THUMBNAILS:
                # Frames of a real run; browsers decode an image by its bytes, not its .jpg name.
                assert image.format == "GIF" and image.n_frames > 1, (path.stem, image.format)
            else:
                assert image.format == "JPEG", (path.stem, image.format)
            assert min(image.size) >= 256, (path.stem, image.size)
