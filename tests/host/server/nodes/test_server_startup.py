"""The real server starts with the pack installed, imports it cleanly, lists its nodes and
web JS, and runs a built-in KSampler prompt on the tiny test model (harness sanity)."""

from __future__ import annotations

import io

import torch
from PIL import Image

from comfy_server import PACK_LINK_NAME, PACK_NODES, REPO_ROOT, TEST_NODES
from server_prompts import LATENT, MODEL, NEGATIVE, POSITIVE, base_graph, load_latent, node, save_latent


def test_pack_imports_without_failure(comfy):
    failures = [line for line in comfy.log_text().splitlines()
                if ("IMPORT FAILED" in line or "Cannot import" in line)
                and (PACK_LINK_NAME in line or "nested_test_nodes" in line)]
    assert failures == [], "\n".join(failures) + "\n" + comfy.log_tail()


def test_object_info_lists_pack_and_test_nodes(comfy):
    info = comfy.object_info()
    missing = [name for name in PACK_NODES + TEST_NODES if name not in info]
    assert missing == [], f"missing from /object_info: {missing}"


def test_builtin_ksampler_runs_on_the_tiny_model(comfy):
    # Independent of the pack: proves the harness, the test nodes and the preview counting.
    prompt = base_graph()
    prompt["5"] = node("KSampler", model=[MODEL, 0], seed=3, steps=3, cfg=3.0, sampler_name="euler",
                       scheduler="normal", positive=[POSITIVE, 0], negative=[NEGATIVE, 0],
                       latent_image=[LATENT, 0], denoise=1.0)
    prompt["6"] = save_latent("5")
    run = comfy.run_prompt(prompt)
    assert run.status == "success", run.describe()
    # Newer hosts (0.33.0) coalesce intermediate progress messages; every host sends the last one.
    progress = run.progress_for("5")
    assert progress and progress[-1] == (3, 3) and {m for _, m in progress} == {3}, progress
    assert [v for v, _ in progress] == sorted({v for v, _ in progress}), progress
    # ComfyUI's own previews follow --preview-method: none gives no image at all.
    expected_previews = 0 if comfy.preview_method == "none" else 3
    assert len(run.previews_for("5")) == expected_previews == len(run.previews)
    for preview in run.previews:
        Image.open(io.BytesIO(preview.image)).verify()
    out = load_latent(comfy.saved_latent_path(run, "6"))
    assert out.shape == (1, 4, 16, 16) and bool(torch.isfinite(out).all())


def test_extensions_lists_the_pack_web_js(comfy_none):
    js_files = sorted(p.relative_to(REPO_ROOT / "web").as_posix() for p in (REPO_ROOT / "web").rglob("*.js"))
    assert "nested_diffusion.js" in js_files, f"the pack's web extension is missing from web/: {js_files}"
    status, listed = comfy_none.request("GET", "/extensions")
    assert status == 200
    # ComfyUI serves WEB_DIRECTORY under /extensions/<the pack's folder name>/: exactly web/'s files.
    prefix = f"/extensions/{PACK_LINK_NAME}/"
    served = sorted(u[len(prefix):] for u in listed if u.startswith(prefix))
    assert served == js_files, f"/extensions lists {listed}"


# Workflows store widget values by position and link outputs by index: the released node inputs.
NESTED_KSAMPLER_INPUTS = ["model", "seed", "outer_steps", "inner_steps", "cfg", "sampler_name", "scheduler",
                          "positive", "negative", "latent_image", "denoise"]
NESTED_ADVANCED_INPUTS = ["model", "add_noise", "noise_seed", "outer_steps", "inner_steps", "cfg", "sampler_name",
                          "scheduler", "positive", "negative", "latent_image", "start_at_outer_step",
                          "end_at_outer_step", "return_with_leftover_noise"]


def test_pack_node_inputs_and_outputs_are_the_released_ones(comfy_none):
    info = comfy_none.object_info()
    samplers = info["KSampler"]["input"]["required"]["sampler_name"][0]
    schedulers = info["KSampler"]["input"]["required"]["scheduler"][0] + ["paper_faithful", "paper_exact"]

    ks = info["NestedKSampler"]
    assert ks["input_order"]["required"] == NESTED_KSAMPLER_INPUTS
    steering = ["pause_every_outer_step", "pause_timeout_minutes", "steering"]
    for name in ("NestedKSampler", "NestedKSamplerAdvanced", "SamplerNestedDiffusion"):
        # Added later, each after the inputs before it (0.2.0: max_seconds; 0.3.0: steering, with
        # the clip link first on the KSamplers; then outer_noise): saved workflows' widget
        # positions are unchanged.
        added = (["clip"] if name != "SamplerNestedDiffusion" else []) + steering + ["outer_noise"]
        assert info[name]["input_order"]["optional"][-len(added) - 1:] == ["max_seconds"] + added, name
        budget = info[name]["input"]["optional"]["max_seconds"]
        assert budget[0] == "FLOAT" and (budget[1]["default"], budget[1]["min"]) == (0.0, 0.0), budget
        # The default is the step every workflow saved before the input existed was made with.
        outer_noise = info[name]["input"]["optional"]["outer_noise"]
        assert outer_noise[0] == ["ddim", "fresh"] and outer_noise[1]["default"] == "ddim", outer_noise
    assert ks["output"] == ["LATENT", "LATENT"]
    req = ks["input"]["required"]
    assert (req["outer_steps"][1]["default"], req["outer_steps"][1]["min"]) == (5, 1)
    assert (req["inner_steps"][1]["default"], req["inner_steps"][1]["min"]) == (20, 1)
    assert req["cfg"][1]["default"] == 7.5
    assert (req["denoise"][1]["default"], req["denoise"][1]["min"], req["denoise"][1]["max"]) == (1.0, 0.0, 1.0)
    assert req["sampler_name"][0] == samplers and req["scheduler"][0] == schedulers

    adv = info["NestedKSamplerAdvanced"]
    assert adv["input_order"]["required"] == NESTED_ADVANCED_INPUTS
    assert adv["output"] == ["LATENT", "LATENT"]
    req = adv["input"]["required"]
    assert req["add_noise"][0] == ["enable", "disable"]
    assert req["return_with_leftover_noise"][0] == ["disable", "enable"]
    assert req["start_at_outer_step"][1]["default"] == 0 and req["end_at_outer_step"][1]["default"] == 10000
    assert req["scheduler"][0] == schedulers

    nested = info["SamplerNestedDiffusion"]
    assert nested["input_order"]["required"] == ["inner_sampler", "inner_steps", "inner_scheduler", "eta"]
    assert nested["input_order"].get("optional") == ["inner_sampler_override", "max_seconds"] + steering + [
        "outer_noise"]
    assert nested["input"]["optional"]["inner_sampler_override"][0] == "SAMPLER"
    assert nested["output"] == ["SAMPLER"]
    req = nested["input"]["required"]
    assert req["inner_sampler"][0] == samplers and req["inner_scheduler"][0] == schedulers
    assert (req["eta"][1]["min"], req["eta"][1]["max"]) == (0.0, 1.0)

    # One limit for every steps input of every node.
    steps_inputs = [(name, key) for name in ("NestedKSampler", "NestedKSamplerAdvanced", "SamplerNestedDiffusion")
                    for key in info[name]["input"]["required"] if key.endswith("_steps") or key.endswith("_step")]
    assert len(steps_inputs) == 7
    assert {info[name]["input"]["required"][key][1]["max"] for name, key in steps_inputs} == {10000}
