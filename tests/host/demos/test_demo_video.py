"""The shipped video demo model inside the real host: loading through the loader node and
ComfyUI's own classes, text, the empty latent from a core node, the VAE on 5-D latents, the
template graph, clip quality judged per frame by the digit classifier (the bench's judge), broken files."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from harness import digit_classifier as classifier_mod
from harness import digit_clips_data as clips

import comfy.model_base
import comfy.model_patcher
import comfy.model_sampling
import comfy.sample
import comfy.sd
import comfy.utils
import nodes
from comfy_extras import nodes_hunyuan

from host_env import PACK_ROOT
from host_fixtures import NODES, pack_module
from ui_workflow import api_prompt, core_node_output, run_graph, v1_node

vm = pack_module("nodes.demos.video.video_model")
prompts = pack_module("nodes.demos.video.prompt_clips")
weights_file = pack_module("nodes.demos.shared.weights_file")

TEMPLATE = PACK_ROOT / "example_workflows" / "nested_diffusion_demo_video.json"
EMPTY_VIDEO = nodes_hunyuan.EmptyHunyuanLatentVideo

# The template's settings: 5 x 20 nested, cfg 2, euler, paper_faithful, outer_noise fresh; seeds
# 2000 + digit, CLIPS clips per digit, prompt "<digit>"; every frame's inkiest 8x8 window judged by
# the digit classifier (the bench's judge; 100% per frame on real held-out clips). Measured with the
# shipped (stage-7) weights on CPU: final clips 283/320 frames (88%), first-outer-step clips 257/320
# (80%); chance is 10%. The bounds are issue 20's targets (85% and 75%). (Stage 5 at cfg 3 with the
# paper's outer step: 261/320 and 280/320; stage 3: 142/320 and 169/320.)
CLIPS = 4
CFG = 2.0
OUTER_NOISE = "fresh"
FINAL_BOUND = 0.85
FIRST_OUTER_BOUND = 0.75
# The template's own run (seed 7, "6 moving right"): every frame, 8/8, with the shipped weights.
TEMPLATE_MIN_FRAMES = 8


EmptyVideoLatent = v1_node(EMPTY_VIDEO)  # the core Empty HunyuanVideo Latent as run_graph calls nodes


@pytest.fixture(scope="module")
def loaded():
    return NODES["NestedDiffusionDemoVideoModel"]().load()


@pytest.fixture(scope="module")
def judge():
    return classifier_mod.load_classifier()


def frame_hits(judge, latents: torch.Tensor, digit: int) -> tuple[int, int]:
    crops, _ = clips.digit_windows(latents)
    with torch.no_grad():
        guesses = judge(crops.flatten(0, 1)).argmax(1)
    return int((guesses == digit).sum()), guesses.numel()


def test_loader_node_gives_a_comfyui_wan_model_clip_and_vae(loaded):
    model, clip, vae = loaded
    assert isinstance(model, comfy.model_patcher.ModelPatcher)
    assert isinstance(model.model, comfy.model_base.WAN21)
    assert model.model.model_type == comfy.model_base.ModelType.FLOW
    sampling = model.get_model_object("model_sampling")
    assert isinstance(sampling, comfy.model_sampling.CONST)
    assert isinstance(sampling, comfy.model_sampling.ModelSamplingDiscreteFlow)
    assert sampling.shift == vm.SHIFT and sampling.multiplier == 1000
    fmt = model.get_model_object("latent_format")
    assert fmt.latent_channels == 1 and fmt.latent_dimensions == 3 and fmt.nested_clip_fps == clips.FPS
    assert isinstance(clip, comfy.sd.CLIP) and isinstance(vae, comfy.sd.VAE)
    assert NODES["NestedDiffusionDemoVideoModel"].INPUT_TYPES() == {"required": {}}


def test_shipped_weights_read_by_comfyui_give_the_same_model(loaded):
    sd, metadata = comfy.utils.load_torch_file(str(vm.WEIGHTS_PATH), safe_load=True, return_metadata=True)
    config = json.loads(metadata["config"])
    assert config == json.loads(json.dumps(vm.DEFAULT_CONFIG))
    assert vm.WEIGHTS_PATH.stat().st_size <= 10 * 1024 * 1024
    base = vm.build_base_model(config)
    base.load_model_weights(sd, vm.UNET_PREFIX)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, clips.FRAMES, clips.CANVAS, clips.CANVAS, generator=g)
    sigma = torch.tensor([1.0, 0.5, 0.05])
    context = torch.randn(3, 8, 32, generator=g)
    with torch.no_grad():
        ours = loaded[0].model.apply_model(x, sigma, c_crossattn=context)
        theirs = base.apply_model(x, sigma, c_crossattn=context)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert ours.shape == x.shape and torch.isfinite(ours).all() and ours.abs().max() > 0.1


@pytest.mark.parametrize("text, digit, direction", [
    ("7", 7, None), ("seven", 7, None), ("7 moving left", 7, "left"), ("a 3 going up", 3, "up"),
    ("9 moving rightwards", 9, "right"), ("", None, None), ("moving down", None, "down"),
])
def test_clip_text_encode_reads_digit_and_direction(loaded, text, digit, direction):
    clip = loaded[1]
    (cond, _), = nodes.CLIPTextEncode().encode(clip, text)[0]
    table = clip.cond_stage_model.digit_tokens
    d_row = 10 if digit is None else digit
    expected = torch.cat([table[d_row], table[prompts.direction_row(direction)]])[None]
    torch.testing.assert_close(cond, expected.to(cond.dtype))
    torch.testing.assert_close(vm.clip_conditioning(clip, digit, direction)[0][0], cond)


def test_core_empty_video_latent_becomes_the_models_latent(loaded):
    (latent,) = core_node_output(EMPTY_VIDEO, 128, 128, 29, 2)
    assert latent["samples"].shape == (2, 16, clips.FRAMES, clips.CANVAS, clips.CANVAS)
    extra = [latent[k] for k in ("downscale_ratio_spacial",) if k in latent]  # 0.33.0 adds it
    fixed = comfy.sample.fix_empty_latent_channels(loaded[0], latent["samples"], *extra)
    assert fixed.shape == (2, 1, clips.FRAMES, clips.CANVAS, clips.CANVAS) and not fixed.any()


def test_vae_decode_gives_the_frames_and_encode_gives_the_clip_back(loaded):
    pytest.importorskip("sklearn", reason="scikit-learn (the real clips' digits; a bench dependency) is not "
                        "installed in this Python")
    vae = loaded[2]
    latents, _, _ = clips.real_clips("held_out", 2, seed=0)
    with torch.inference_mode():
        (frames,) = nodes.VAEDecode().decode(vae, {"samples": latents})
        (again,) = nodes.VAEEncode().encode(vae, frames[:clips.FRAMES])
    assert frames.shape == (2 * clips.FRAMES, 128, 128, 3)
    # Each frame is the latent frame drawn in 8x8 blocks (bilinear inside): block means match it.
    grey = frames.float().mean(-1)[:, None]
    means = torch.nn.functional.avg_pool2d(grey, 8).reshape(2, clips.FRAMES, clips.CANVAS, clips.CANVAS)
    assert (means - clips.pixels_from_latent(latents[:, 0])).abs().mean() < 0.05
    assert again["samples"].shape == (1, 1, clips.FRAMES, clips.CANVAS, clips.CANVAS)
    assert (again["samples"] - latents[:1]).abs().mean() < 0.1


def test_template_graph_runs_in_process(judge):
    """The template's graph up to its VAE Decodes (the two Save Animated WEBP nodes are ComfyUI's
    own; the server test runs them)."""
    workflow = json.loads(TEMPLATE.read_text())
    classes = {**nodes.NODE_CLASS_MAPPINGS, **NODES, "EmptyHunyuanLatentVideo": EmptyVideoLatent}
    saves = {str(n["id"]) for n in workflow["nodes"] if n["type"] == "SaveAnimatedWEBP"}
    assert len(saves) == 2
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] not in ("SaveAnimatedWEBP", "Note")]
    prompt = api_prompt(workflow, lambda t: classes[t].INPUT_TYPES())
    assert prompt["1"]["class_type"] == "NestedDiffusionDemoVideoModel"
    # The settings the quality test below measures are the template's.
    assert (prompt["5"]["inputs"]["cfg"], prompt["5"]["inputs"]["outer_noise"]) == (CFG, OUTER_NOISE)
    outputs = run_graph(prompt, classes)
    outer = prompt["5"]["inputs"]["outer_steps"]
    assert outputs["6"][0].shape == (clips.FRAMES, 128, 128, 3)
    assert outputs["8"][0].shape == (outer * clips.FRAMES, 128, 128, 3)
    final = outputs["5"][0]["samples"]
    assert final.shape == (1, 1, clips.FRAMES, clips.CANVAS, clips.CANVAS)
    asked = int(re.search(r"\d", prompt["2"]["inputs"]["text"]).group())  # the digit the template's prompt names
    hits, total = frame_hits(judge, final, asked)
    print(f"template clip: {hits}/{total} frames recognised as {asked}")
    assert hits >= TEMPLATE_MIN_FRAMES


def test_nested_clips_are_the_requested_digit_in_every_frame(loaded, judge):
    model, clip, _ = loaded
    negative = vm.clip_conditioning(clip, None)
    latent = {"samples": torch.zeros(CLIPS, 1, clips.FRAMES, clips.CANVAS, clips.CANVAS)}
    final_hits = first_hits = total = 0
    per_digit = []
    with torch.inference_mode():
        for digit in range(10):
            out, steps = NODES["NestedKSampler"]().sample(
                model, 2000 + digit, 5, 20, CFG, "euler", "paper_faithful",
                vm.clip_conditioning(clip, digit), negative, latent, outer_noise=OUTER_NOISE)
            hits, n = frame_hits(judge, out["samples"], digit)
            first, _ = frame_hits(judge, steps["samples"][:CLIPS], digit)
            per_digit.append(hits)
            final_hits, first_hits, total = final_hits + hits, first_hits + first, total + n
    print(f"video demo quality: final {final_hits}/{total} frames, first outer step {first_hits}/{total}, "
          f"per digit {per_digit} of {total // 10}")
    assert final_hits >= FINAL_BOUND * total, per_digit
    assert first_hits >= FIRST_OUTER_BOUND * total


def damaged_copy(damage: str, path):
    data = vm.WEIGHTS_PATH.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"this is not a safetensors file" * 10)
    else:  # a valid demo weights file of another kind: the image demo's UNet
        shutil.copy(PACK_ROOT / "nodes" / "demos" / "digits" / "unet.safetensors", path)
    return path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong_kind"])
def test_broken_weights_file_is_named(tmp_path, damage):
    bad = damaged_copy(damage, tmp_path / "wan_digits.safetensors")
    with pytest.raises(weights_file.DemoWeightsError) as err:
        vm.load_video_demo(bad)
    assert str(bad) in str(err.value) and "train_demo_video_model.py" in str(err.value)


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "wan_digits.safetensors"
    with pytest.raises(weights_file.DemoWeightsError, match="not found") as err:
        vm.load_video_demo(missing)
    assert str(missing) in str(err.value)
