"""The draft clip of every outer step of a video run (nodes/previews/outer_step_clip.py), in-process on a
tiny WAN 2.1 and LTXAV from the host's classes: what the ``nested_diffusion.outer_step`` event's
``clip`` field says, and what the file in the temp folder holds.

The event goes to the running server's submitting client; in-process there is no server, so
the pack's own lookup of it (``prompt_server``) is pointed at a recorder here. The temp folder
is the host's, moved to a test folder with ``folder_paths.set_temp_directory``.
"""

from __future__ import annotations

import functools
import logging
import os
import time

import pytest
import torch
from PIL import Image, ImageSequence
from safetensors.torch import save_file

import folder_paths
import latent_preview
from comfy.cli_args import LatentPreviewMethod, args

from host_fixtures import NODES, empty_latent, pack_module, preview_method, stopping_after, tiny
from tiny_models import (
    PACKED_LATENTS_MISSING,
    VIDEO_CHANNELS,
    av_conditioning,
    build_tiny_av_model,
    build_tiny_video_model,
    empty_av_latent,
    empty_video_latent,
    host_packs_latents,
    tiny_conditioning,
    tiny_video_tae_decoder,
)

REPORTER = pack_module("nodes.previews.outer_step_reporter")
CLIP = pack_module("nodes.previews.outer_step_clip")
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
    assert all(f.startswith(CLIP.SUBFOLDER + "/") for f in files_in(temp_dir))


def test_another_clients_run_of_the_same_node_keeps_the_first_clients_clips(server, temp_dir):
    # Two tabs (or two people running copies of one template) run node 7: each keeps its clips.
    run_video()
    a_first = set(files_in(temp_dir))
    server.client_id = "client-b"
    run_video(seed=6)
    b_first = set(files_in(temp_dir)) - a_first
    assert len(a_first) == len(b_first) == OUTER and a_first < set(files_in(temp_dir)), "client a's clips were deleted"
    assert all(sid == "client-b" for _, _, sid in server.sent[-OUTER:])
    server.client_id = "client-a"  # client a runs node 7 again: only its own old clips go
    run_video(seed=7)
    now = set(files_in(temp_dir))
    assert b_first < now and not a_first & now and len(now) == 2 * OUTER


def test_clips_of_many_nodes_are_bounded(server, temp_dir, monkeypatch):
    monkeypatch.setattr(CLIP, "MAX_TRACKED_RUNS", 2)
    for node in ("a", "b", "c"):
        server.last_node_id = node
        run_video()
    names = files_in(temp_dir)
    assert len(names) == 2 * OUTER and not any(n.split("/")[1].startswith("a_") for n in names), names


def test_clips_of_many_clients_are_bounded(server, temp_dir, monkeypatch):
    # The bound counts runs of (client, node): the same node id from three clients keeps two runs.
    monkeypatch.setattr(CLIP, "MAX_TRACKED_RUNS", 2)
    tokens = []
    for client in ("a", "b", "c"):
        server.client_id = client
        run_video()
        tokens.append(server.events()[-1]["clip"]["filename"].split("_")[1])
    names = files_in(temp_dir)
    assert len(names) == 2 * OUTER and not any(tokens[0] in n for n in names), names
    assert all(any(token in n for n in names) for token in tokens[1:]), names


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
    decoder = tiny_video_tae_decoder(0)
    if decoder is not None:  # hosts before 0.3.76 have no video TAE: an empty folder, latent2rgb
        # Seeded random, not one flat colour: the WebP encoder merges identical frames.
        save_file(decoder, str(approx / "lighttaew2_1.safetensors"))
    folder_paths.add_model_folder_path("vae_approx", str(approx))
    folder_paths.filename_list_cache.pop("vae_approx", None)
    try:
        yield
    finally:
        folder_paths.folder_names_and_paths["vae_approx"][0].remove(str(approx))
        folder_paths.filename_list_cache.pop("vae_approx", None)


HAVE_VIDEO_TAE = getattr(latent_preview, "TAEHVPreviewerImpl", None) is not None


@pytest.mark.skipif(not HAVE_VIDEO_TAE, reason=VIDEO_TAES_MISSING)
def test_taesd_method_decodes_every_frame_with_the_hosts_video_tae(server, temp_dir, video_tae, monkeypatch):
    # As on a GPU: here the CPU TAE's clip (0.5 s) outweighs the tiny WAN's outer step, and the
    # cost bound below would make the later clips latent2rgb.
    monkeypatch.setattr(CLIP, "tae_on_cpu", lambda tae: False)
    with preview_method(LatentPreviewMethod.TAESD):
        run_video()
    events = server.events()
    assert len(events) == OUTER
    for event in events:
        clip = event["clip"]
        # The TAE decodes 4x in time (4T-3 pixel frames) and 8x in space: pixel frames at 16 fps.
        assert clip["frames"] == 4 * FRAMES - 3 and (clip["width"], clip["height"]) == (64, 64)
        assert clip["fps"] == 16.0 and "clip_note" not in event
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


# ---- frame 0 of the clip is the host's still preview, on every host -----------------------------

def format_and_latent(seed: int = 3, frames: int = FRAMES, side: int = 8):
    fmt = video_model().get_model_object("latent_format")
    latent = torch.randn(1, VIDEO_CHANNELS, frames, side, side, generator=torch.Generator().manual_seed(seed))
    return fmt, video_model().model.process_latent_in(latent)


def pil_bytes(frame: torch.Tensor) -> tuple:
    return tuple(frame.shape[:2]), frame.numpy().tobytes()


@pytest.mark.parametrize("method", [LatentPreviewMethod.Latent2RGB, LatentPreviewMethod.TAESD])
def test_clip_frame_0_is_the_hosts_still_preview(video_tae, method):
    # 0.3.64 has no video TAE: under taesd both the host and the clip use latent2rgb there.
    fmt, x0 = format_and_latent()
    with preview_method(method):
        still = latent_preview.get_previewer("cpu", fmt).decode_latent_to_preview(x0)
        decoder = CLIP.ClipDecoder(fmt, REPORTER.latent2rgb_previewer(fmt))
        frames = decoder.frames(x0)
    taesd_here = method == LatentPreviewMethod.TAESD and HAVE_VIDEO_TAE
    assert decoder.method == ("taehv" if taesd_here else "latent2rgb")
    assert pil_bytes(frames[0]) == ((still.height, still.width), still.tobytes())
    assert frames.shape[0] == (4 * FRAMES - 3 if taesd_here else FRAMES)


@pytest.mark.skipif(not HAVE_VIDEO_TAE, reason=VIDEO_TAES_MISSING)
def test_clip_follows_a_previewer_that_maps_the_latent_before_its_tae(video_tae):
    """ComfyUI after 0.33.0 (upstream 2d619ed) applies the latent format's ``process_out`` in its
    video TAE previewer before decoding; the clip goes through the previewer's own code, so its
    frame 0 is still that previewer's still preview, and every frame is mapped the same way."""
    fmt, x0 = format_and_latent()

    class ProcessOutPreviewer(latent_preview.TAEHVPreviewerImpl):
        def __init__(self, taesd, latent_format):
            super().__init__(taesd)
            self.latent_format = latent_format

        def decode_latent_to_preview(self, x0):
            return super().decode_latent_to_preview(self.latent_format.process_out(x0))

    with preview_method(LatentPreviewMethod.TAESD):
        tae = latent_preview.get_previewer("cpu", fmt).taesd
    newer = ProcessOutPreviewer(tae, fmt)
    still = newer.decode_latent_to_preview(x0)
    with preview_method(LatentPreviewMethod.TAESD):
        frames = CLIP.ClipDecoder(fmt, None, host_previewer=lambda: newer).frames(x0)
    assert pil_bytes(frames[0]) == ((still.height, still.width), still.tobytes())
    mapped = (tae.decode(fmt.process_out(x0))[0].clamp(0, 1) * 255).to(torch.uint8)
    assert torch.equal(frames, mapped), "every frame through process_out, not only frame 0"
    as_is = (tae.decode(x0)[0].clamp(0, 1) * 255).to(torch.uint8)
    assert not torch.equal(as_is[0], frames[0]), "the latent as it is would give another picture"


def test_host_tae_call_sees_what_the_previewer_hands_on():
    fmt, x0 = format_and_latent(frames=4, side=6)

    class Recording(latent_preview.LatentPreviewer):
        def __init__(self, taesd):
            self.taesd = taesd

        def decode_latent_to_preview(self, x0):
            return self.taesd.decode(x0[:1, :, :1] * 2 + 1, "option", flag=True)

    host = Recording(taesd="the real TAE")
    latent, more, kwargs = CLIP.host_tae_call(host, x0)
    assert host.taesd == "the real TAE", "the host's previewer is never changed"
    assert torch.equal(latent, x0 * 2 + 1) and more == ("option",) and kwargs == {"flag": True}

    class Silent(Recording):
        def decode_latent_to_preview(self, x0):
            return None

    class Cropping(Recording):
        def decode_latent_to_preview(self, x0):
            return self.taesd.decode(x0[..., :4, :])

    assert CLIP.host_tae_call(Silent(taesd=None), x0) is None
    assert CLIP.host_tae_call(Cropping(taesd=None), x0) is None


# ---- a video TAE on the CPU: its clips' cost is bounded ----------------------------------------

class SlowTAE:
    """The host's video TAE, slowed down: each decode first waits ``seconds``."""

    def __init__(self, tae, seconds: float):
        self.tae, self.seconds, self.decodes = tae, seconds, 0

    def decode(self, *args, **kwargs):
        self.decodes += 1
        time.sleep(self.seconds)
        return self.tae.decode(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tae, name)


@pytest.fixture
def slow_tae(monkeypatch):
    """The clips' TAE waits 3 s per clip: far over a quarter of the tiny WAN's outer step (under
    1 s, and still a few seconds on a busy machine)."""
    made = []
    real = CLIP._video_tae

    def slow(previewer):
        tae = real(previewer)
        if tae is not None:
            made.append(SlowTAE(tae, 3.0))
            return made[-1]
        return None

    monkeypatch.setattr(CLIP, "_video_tae", slow)
    return made


def slow_model(seconds: float):
    """The tiny WAN, each model call first waiting ``seconds`` (the host's unet wrapper hook)."""
    model = video_model().clone()

    def wait_then_call(apply_model, call):
        time.sleep(seconds)
        return apply_model(call["input"], call["timestep"], **call["c"])

    model.set_model_unet_function_wrapper(wait_then_call)
    return model


@pytest.mark.skipif(not HAVE_VIDEO_TAE, reason=VIDEO_TAES_MISSING)
def test_a_slow_cpu_tae_clip_makes_the_later_clips_latent2rgb(server, temp_dir, video_tae, slow_tae, caplog):
    with preview_method(LatentPreviewMethod.TAESD), caplog.at_level(logging.WARNING):
        _, images = run_video()
    events = server.events()
    assert [e["clip"]["frames"] for e in events] == [4 * FRAMES - 3, FRAMES, FRAMES], "TAE once, then latent2rgb"
    assert slow_tae[0].decodes == 1
    assert "clip_note" in events[0] and all(e["clip_note"] == events[0]["clip_note"] for e in events)
    assert events[0]["clip_note"].startswith("latent2rgb clips: the video TAE took ")
    assert events[1]["clip"]["fps"] == 4.0
    exact = [host_frame(video_model(), images["samples"][1:2], t) for t in range(FRAMES)]
    assert all(same_pixels(f, exact[t]) for t, f in enumerate(clip_frames(temp_dir, events[1]["clip"])))
    warnings = [r.getMessage() for r in caplog.records if "video TAE clip" in r.getMessage()]
    assert len(warnings) == 1 and "latent2rgb" in warnings[0] and "on the CPU" in warnings[0], warnings


@pytest.mark.skipif(not HAVE_VIDEO_TAE, reason=VIDEO_TAES_MISSING)
def test_a_fast_cpu_tae_clip_keeps_the_tae(server, temp_dir, video_tae, caplog):
    # The real tiny TAE on a 2x4x4 latent (0.1-0.3 s) against outer steps of 2 model calls of 1.5 s.
    latent = empty_video_latent(1, frames=2, side=4)
    with preview_method(LatentPreviewMethod.TAESD), caplog.at_level(logging.WARNING):
        run_video(latent=latent, model=slow_model(1.5))
    events = server.events()
    assert [e["clip"]["frames"] for e in events] == [5, 5, 5] and not any("clip_note" in e for e in events)
    assert not [r for r in caplog.records if "video TAE clip" in r.getMessage()]


@pytest.mark.skipif(not HAVE_VIDEO_TAE, reason=VIDEO_TAES_MISSING)
def test_a_slow_tae_on_a_gpu_is_never_switched(server, temp_dir, video_tae, slow_tae, monkeypatch, caplog):
    monkeypatch.setattr(CLIP, "tae_on_cpu", lambda tae: False)   # the device check, as on a GPU
    with preview_method(LatentPreviewMethod.TAESD), caplog.at_level(logging.WARNING):
        run_video()
    events = server.events()
    assert [e["clip"]["frames"] for e in events] == [4 * FRAMES - 3] * OUTER and slow_tae[0].decodes == OUTER
    assert not any("clip_note" in e for e in events)
    assert not [r for r in caplog.records if "video TAE clip" in r.getMessage()]


def test_the_tae_device_check():
    assert CLIP.tae_on_cpu(type("OnCpu", (), {"device": torch.device("cpu")})())
    assert not CLIP.tae_on_cpu(type("OnGpu", (), {"device": torch.device("cuda", 0)})())
    assert not CLIP.tae_on_cpu(type("OnMps", (), {"device": "mps"})())
