"""The draft clip of every outer step of a video run (nodes/outer_step_clip.py), in-process on a
tiny WAN 2.1 and LTXAV from the host's classes: what the ``nested_diffusion.outer_step`` event's
``clip`` field says, and what the file in the temp folder holds.

The event goes to the running server's submitting client; in-process there is no server, so
the pack's own lookup of it (``prompt_server``) is pointed at a recorder here. The temp folder
is the host's, moved to a test folder with ``folder_paths.set_temp_directory``.
"""

from __future__ import annotations

import functools
import os

import pytest
import torch
from PIL import Image, ImageSequence
from safetensors.torch import save_file

import folder_paths
import latent_preview
from comfy.cli_args import LatentPreviewMethod, args

from host_fixtures import NODES, empty_latent, pack_module, preview_method, stopping_after, tiny
from tiny_models import tiny_conditioning
from tiny_video_models import (
    PACKED_LATENTS_MISSING,
    VIDEO_CHANNELS,
    av_conditioning,
    build_tiny_av_model,
    build_tiny_video_model,
    empty_av_latent,
    empty_video_latent,
    host_packs_latents,
    tiny_video_tae_decoder,
)

REPORTER = pack_module("nodes.outer_step_reporter")
CLIP = pack_module("nodes.outer_step_clip")
OUTER, INNER, FRAMES = 3, 2, 3
video_model = functools.lru_cache(maxsize=None)(build_tiny_video_model)
av_model = functools.lru_cache(maxsize=None)(build_tiny_av_model)


class Recorder:
    """Stands in for the server the event is sent through: the submitting client and what it got."""

    def __init__(self, client_id="client-a", node="7"):
        self.client_id, self.last_node_id, self.last_prompt_id = client_id, node, "prompt-1"
        self.sent: list[tuple[str, dict, str]] = []

    def send_sync(self, event, data, sid=None):
        self.sent.append((event, data, sid))

    def events(self) -> list[dict]:
        return [data for event, data, _ in self.sent if event == REPORTER.EVENT]


@pytest.fixture
def temp_dir(tmp_path):
    old = folder_paths.get_temp_directory()
    folder_paths.set_temp_directory(str(tmp_path / "temp"))
    try:
        yield tmp_path / "temp"
    finally:
        folder_paths.set_temp_directory(old)


@pytest.fixture
def server(monkeypatch, temp_dir):
    recorder = Recorder()
    monkeypatch.setattr(REPORTER, "prompt_server", lambda: recorder)
    return recorder


def run_video(latent=None, seed=5, max_seconds=0.0, model=None):
    return NODES["NestedKSampler"]().sample(model or video_model(), seed, OUTER, INNER, 3.0, "euler", "normal",
                                            tiny_conditioning(1), tiny_conditioning(zero=True),
                                            latent or empty_video_latent(1, FRAMES), 1.0, max_seconds=max_seconds)


def clip_path(temp: str, clip: dict) -> str:
    return os.path.join(temp, clip["subfolder"], clip["filename"])


def clip_frames(temp, clip: dict, durations: list | None = None) -> list[Image.Image]:
    """The file's frames as RGB images (and each frame's duration in ms appended to ``durations``)."""
    frames = []
    with Image.open(clip_path(str(temp), clip)) as im:
        assert im.format == "WEBP" and im.info.get("loop") == 0, im.info  # loops forever
        for frame in ImageSequence.Iterator(im):
            frames.append(frame.convert("RGB"))
            if durations is not None:
                durations.append(frame.info.get("duration"))
    return frames


def files_in(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def host_frame(model, latent: torch.Tensor, t: int) -> Image.Image:
    """The host's own latent2rgb preview of frame ``t`` of batch item 0."""
    with preview_method(LatentPreviewMethod.Latent2RGB):
        host = latent_preview.get_previewer("cpu", model.get_model_object("latent_format"))
    return host.decode_latent_to_preview(model.model.process_latent_in(latent[:1, :, t:t + 1]))


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("method", [LatentPreviewMethod.NoPreviews, LatentPreviewMethod.Latent2RGB])
def test_one_clip_per_outer_step_with_every_frame(server, temp_dir, method):
    with preview_method(method):
        _, images = run_video()
    events = server.events()
    assert [e["step"] for e in events] == [1, 2, 3]
    assert all(sid == "client-a" for _, _, sid in server.sent), "sent only to the submitting client"
    for step, event in enumerate(events):
        clip = event["clip"]
        assert clip["type"] == "temp" and clip["frames"] == FRAMES and (clip["width"], clip["height"]) == (8, 8)
        assert clip["fps"] == 4.0, "WAN 2.1: 16 fps over a temporal compression of 4"
        durations = []
        frames = clip_frames(temp_dir, clip, durations)
        assert len(frames) == FRAMES and durations == [250] * FRAMES
        # latent2rgb clips are lossless: frame t is the host's own preview of frame t, exactly.
        latent = images["samples"][step:step + 1]
        exact = [host_frame(video_model(), latent, t) for t in range(FRAMES)]
        assert all(same_pixels(frame, exact[t]) for t, frame in enumerate(frames)), step
        assert not same_pixels(exact[0], exact[1]), "frames differ, so frame 0 repeated would fail"
    assert files_in(temp_dir) == sorted(f"{CLIP.SUBFOLDER}/{e['clip']['filename']}" for e in events)


def test_latent2rgb_frames_are_the_hosts_frame_by_frame():
    latent = torch.randn(1, VIDEO_CHANNELS, 4, 6, 10, generator=torch.Generator().manual_seed(3))
    previewer = REPORTER.latent2rgb_previewer(video_model().get_model_object("latent_format"))
    frames = CLIP.latent2rgb_frames(previewer, video_model().model.process_latent_in(latent))
    assert frames.shape == (4, 6, 10, 3) and frames.dtype == torch.uint8
    for t in range(4):
        assert frames[t].numpy().tobytes() == host_frame(video_model(), latent, t).tobytes(), t


def test_size_is_bounded_by_the_hosts_preview_size(server, temp_dir, monkeypatch):
    monkeypatch.setattr(args, "preview_size", 6)
    with preview_method(LatentPreviewMethod.Latent2RGB):
        run_video(latent={"samples": torch.zeros(1, VIDEO_CHANNELS, FRAMES, 8, 12)})
    for event in server.events():
        clip = event["clip"]
        assert (clip["width"], clip["height"]) == (6, 4) and clip["frames"] == FRAMES
        assert all(frame.size == (6, 4) for frame in clip_frames(temp_dir, clip))


def test_a_batch_shows_item_0(server, temp_dir):
    with preview_method(LatentPreviewMethod.Latent2RGB):
        _, images = run_video(latent=empty_video_latent(2, FRAMES), seed=9)
    last = server.events()[-1]["clip"]
    frames = clip_frames(temp_dir, last)
    steps = images["samples"]
    item0 = [host_frame(video_model(), steps[-2:-1], t) for t in range(FRAMES)]
    item1 = [host_frame(video_model(), steps[-1:], t) for t in range(FRAMES)]
    assert all(same_pixels(frame, item0[t]) for t, frame in enumerate(frames))
    assert not any(same_pixels(frame, item1[t]) for t, frame in enumerate(frames))
    assert len(files_in(temp_dir)) == OUTER, "one clip per outer step, not one per batch item"


def test_a_nodes_next_run_replaces_its_clips_and_other_nodes_keep_theirs(server, temp_dir):
    run_video()
    first = files_in(temp_dir)
    run_video(seed=6)
    second = files_in(temp_dir)
    assert len(first) == len(second) == OUTER and not set(first) & set(second)
    server.last_node_id = "8"
    run_video()
    assert set(second) < set(files_in(temp_dir)) and len(files_in(temp_dir)) == 2 * OUTER
    server.client_id = "client-b"  # node 7 again, from another client: node 7's clips are replaced
    server.last_node_id = "7"
    run_video()
    assert not set(second) & set(files_in(temp_dir)) and len(files_in(temp_dir)) == 2 * OUTER
    assert all(f.startswith(CLIP.SUBFOLDER + "/") for f in files_in(temp_dir))


def test_clips_of_many_nodes_are_bounded(server, temp_dir, monkeypatch):
    monkeypatch.setattr(CLIP, "MAX_TRACKED_RUNS", 2)
    for node in ("a", "b", "c"):
        server.last_node_id = node
        run_video()
    names = files_in(temp_dir)
    assert len(names) == 2 * OUTER and not any(n.split("/")[1].startswith("a_") for n in names), names


def test_stop_and_keep_keeps_the_last_clip(server, temp_dir):
    model = stopping_after(video_model(), INNER + 1)  # during outer step 2
    out, images = run_video(model=model)
    events = server.events()
    assert len(events) == images["samples"].shape[0] == 2
    assert os.path.exists(clip_path(str(temp_dir), events[-1]["clip"]))
    assert len(files_in(temp_dir)) == 2


def test_time_budget_keeps_the_last_clip(server, temp_dir):
    _, images = run_video(max_seconds=0.001)
    events = server.events()
    assert len(events) == images["samples"].shape[0] == 1
    assert os.path.exists(clip_path(str(temp_dir), events[-1]["clip"]))


def test_image_runs_have_no_clip(server, temp_dir):
    NODES["NestedKSampler"]().sample(tiny("eps"), 5, OUTER, INNER, 2.0, "euler", "normal", tiny_conditioning(1),
                                     tiny_conditioning(zero=True), empty_latent(), 1.0)
    events = server.events()
    assert len(events) == OUTER and all("clip" not in e for e in events)
    assert set(events[0]) == {"node", "prompt_id", "step", "total", "nfe", "sigma", "elapsed", "planned"}
    assert files_in(temp_dir) == []


def test_no_client_no_clip_files(monkeypatch, temp_dir):
    monkeypatch.setattr(REPORTER, "prompt_server", lambda: None)
    run_video()
    assert files_in(temp_dir) == []


@pytest.mark.skipif(not host_packs_latents(), reason=PACKED_LATENTS_MISSING)
def test_packed_audio_video_gives_the_video_streams_clip(server, temp_dir):
    with preview_method(LatentPreviewMethod.Latent2RGB):
        NODES["NestedKSampler"]().sample(av_model(), 5, OUTER, INNER, 3.0, "euler", "normal", av_conditioning(1),
                                         av_conditioning(zero=True), empty_av_latent(1, frames=2, side=4), 1.0)
    events = server.events()
    assert len(events) == OUTER
    for event in events:
        clip = event["clip"]
        assert clip["frames"] == 2 and (clip["width"], clip["height"]) == (4, 4)
        assert clip["fps"] == 25 / 8, "LTXAV plays at LTXV's 25 fps over 8"
        assert len(clip_frames(temp_dir, clip)) == 2


class NamedFormat:
    """A latent format object of a given class name (the fps table is keyed by class name)."""


@pytest.mark.parametrize("name,latent_fps", [("Wan21", 4.0), ("Wan22", 6.0), ("HunyuanVideo", 6.0),
                                             ("LTXV", 3.125), ("Mochi", 5.0), ("Cosmos1CV8x8x8", 3.0),
                                             ("SomethingNew", 4.0)])
def test_clip_fps_table(name, latent_fps):
    fmt = type(name, (), {})()
    assert CLIP.clip_fps(fmt) == latent_fps
    assert CLIP.clip_fps(fmt, pixel_frames=True) == CLIP.CLIP_RATES.get(name, CLIP.DEFAULT_RATE)[0]


def test_clip_fps_honours_the_formats_own_rate_and_subclasses():
    import comfy.latent_formats

    class Demo(comfy.latent_formats.Wan21):
        nested_clip_fps = 8.0

    assert CLIP.clip_fps(Demo()) == 8.0 and CLIP.clip_fps(Demo(), pixel_frames=True) == 32.0
    assert CLIP.clip_fps(comfy.latent_formats.Wan21()) == 4.0
    new_format = type("NewVideo", (), {"temporal_downscale_ratio": 8})()
    assert CLIP.clip_fps(new_format) == 2.0, "unlisted: 16 fps over the format's own temporal ratio"


VIDEO_TAES_MISSING = ("this ComfyUI has no video TAE previewer (latent_preview.TAEHVPreviewerImpl, added in "
                      "0.3.76): its video clips use latent2rgb, tested above")


@pytest.fixture
def video_tae(tmp_path):
    approx = tmp_path / "vae_approx"
    approx.mkdir()
    # Seeded random, not one flat colour: the WebP encoder merges identical frames.
    save_file(tiny_video_tae_decoder(0), str(approx / "lighttaew2_1.safetensors"))
    folder_paths.add_model_folder_path("vae_approx", str(approx))
    folder_paths.filename_list_cache.pop("vae_approx", None)
    try:
        yield
    finally:
        folder_paths.folder_names_and_paths["vae_approx"][0].remove(str(approx))
        folder_paths.filename_list_cache.pop("vae_approx", None)


@pytest.mark.skipif(getattr(latent_preview, "TAEHVPreviewerImpl", None) is None, reason=VIDEO_TAES_MISSING)
def test_taesd_method_decodes_every_frame_with_the_hosts_video_tae(server, temp_dir, video_tae):
    with preview_method(LatentPreviewMethod.TAESD):
        run_video()
    events = server.events()
    assert len(events) == OUTER
    for event in events:
        clip = event["clip"]
        # The TAE decodes 4x in time (4T-3 pixel frames) and 8x in space: pixel frames at 16 fps.
        assert clip["frames"] == 4 * FRAMES - 3 and (clip["width"], clip["height"]) == (64, 64)
        assert clip["fps"] == 16.0
        durations = []
        frames = clip_frames(temp_dir, clip, durations)
        assert len(frames) == clip["frames"] and durations == [round(1000 / 16)] * clip["frames"]
        assert all(frame.size == (64, 64) for frame in frames)


def test_taesd_method_without_a_video_decoder_uses_latent2rgb(server, temp_dir):
    with preview_method(LatentPreviewMethod.TAESD):
        _, images = run_video()
    clip = server.events()[-1]["clip"]
    assert clip["frames"] == FRAMES and clip["fps"] == 4.0
    exact = [host_frame(video_model(), images["samples"][-1:], t) for t in range(FRAMES)]
    assert all(same_pixels(frame, exact[t]) for t, frame in enumerate(clip_frames(temp_dir, clip)))
