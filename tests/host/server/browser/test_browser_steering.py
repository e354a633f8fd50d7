"""Steering a running generation in a real browser (issue 18, docs/steering.md): the panel's
Pause, the steer area at a pause (tiles to pick, prompt fields, cfg, Continue), the record the
panel writes into the workflow, and the saved workflow replaying the same image; on the canvas
and the Vue node renderer of the host's own frontend.

The demo digits model (NestedDiffusionDemoModel: MODEL, CLIP and VAE, fast on CPU) with CLIP Text
Encode nodes, as a user builds it. Screenshots go to $NESTED_BROWSER_SHOTS when set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

import pytest

from test_browser_ui import PACK_NEEDLES, PANEL_STATE_OF, RENDERERS, Session, node, session  # noqa: F401

SAMPLER_ID = 5        # the RECORDER of test_browser_ui watches this node id
SAVE_ID = 7
CUSTOM_ID = 9
NESTED_ID = 12
BATCH = 4
PICKED_ROW = 2        # 0-based: the third tile
NEW_PROMPT = "a handwritten 3"


def demo_graph(outer: int, inner: int, *, pause_every: bool, timeout_min: float = 10.0) -> dict:
    """API-format prompt: demo model -> CLIP Text Encode x2 -> NestedKSampler (clip connected,
    batch 4) -> VAE Decode -> Save Image."""
    return {
        "1": node("NestedDiffusionDemoModel"),
        "2": node("CLIPTextEncode", text="a handwritten 7", clip=["1", 1]),
        "3": node("CLIPTextEncode", text="", clip=["1", 1]),
        "4": node("EmptyLatentImage", width=64, height=64, batch_size=BATCH),
        str(SAMPLER_ID): node("NestedKSampler", model=["1", 0], seed=7, outer_steps=outer, inner_steps=inner,
                              cfg=3.0, sampler_name="euler_ancestral", scheduler="simple", positive=["2", 0],
                              negative=["3", 0], latent_image=["4", 0], denoise=1.0, max_seconds=0.0,
                              clip=["1", 1], pause_every_outer_step=pause_every,
                              pause_timeout_minutes=timeout_min, steering=""),
        "6": node("VAEDecode", samples=[str(SAMPLER_ID), 0], vae=["1", 2]),
        str(SAVE_ID): node("SaveImage", images=["6", 0], filename_prefix=f"nd_steer/{uuid.uuid4().hex[:10]}"),
    }


def custom_graph(outer: int, inner: int) -> dict:
    """SamplerCustomAdvanced fed by SamplerNestedDiffusion (which pauses), RandomNoise, CFGGuider."""
    prompt = {k: v for k, v in demo_graph(outer, inner, pause_every=True).items() if k in ("1", "2", "3", "4")}
    prompt["8"] = node("RandomNoise", noise_seed=11)
    prompt["10"] = node("CFGGuider", model=["1", 0], positive=["2", 0], negative=["3", 0], cfg=3.0)
    prompt["11"] = node("BasicScheduler", model=["1", 0], scheduler="simple", steps=outer, denoise=1.0)
    prompt[str(NESTED_ID)] = node("SamplerNestedDiffusion", inner_sampler="euler_ancestral", inner_steps=inner,
                                  inner_scheduler="simple", eta=1.0, max_seconds=0.0, pause_every_outer_step=True,
                                  pause_timeout_minutes=10.0, steering="")
    prompt[str(CUSTOM_ID)] = node("SamplerCustomAdvanced", noise=["8", 0], guider=["10", 0],
                                  sampler=[str(NESTED_ID), 0], sigmas=["11", 0], latent_image=["4", 0])
    prompt["6"] = node("VAEDecode", samples=[str(CUSTOM_ID), 0], vae=["1", 2])
    prompt[str(SAVE_ID)] = node("SaveImage", images=["6", 0], filename_prefix=f"nd_steer/{uuid.uuid4().hex[:10]}")
    return prompt


@pytest.fixture(autouse=True)
def nothing_left_paused(session):
    """A test that fails mid-pause would leave its run waiting and block every later prompt:
    after each test the queue is emptied and whatever runs is cancelled."""
    yield
    session.server.request("POST", "/queue", {"clear": True})
    if session.server.get_json("/queue").get("queue_running"):
        session.server.interrupt()
        for _ in range(100):
            if not session.server.get_json("/queue").get("queue_running"):
                break
            session.run(asyncio.sleep(0.1))


# The steer area as the user sees it: tiles (loaded, picked, in order), fields, and whether each
# control is really on top at its centre (not clipped by the node or covered by something else).
STEER_STATE_OF = """(() => {
  const node = app.graph.getNodeById(%(id)d);
  const panel = node?.nestedDiffusionPanel;
  if (!panel) return null;
  const e = panel.steer.elements;
  const onTop = (el) => { const r = el.getBoundingClientRect();
    if (!r.width || !r.height) return false;
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return hit === el || el.contains(hit); };
  const centre = (el) => { const r = el.getBoundingClientRect(); return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; };
  const figures = [...e.tiles.querySelectorAll('figure')];
  return {
    status: panel.status.textContent,
    open: panel.steer.isOpen(),
    tiles: figures.length,
    loaded: figures.filter((f) => { const i = f.querySelector('img'); return i.complete && i.naturalWidth > 0; }).length,
    srcs: figures.map((f) => f.querySelector('img').src),
    picked: figures.map((f, i) => f.classList.contains('nd-picked') ? [i, f.querySelector('.nd-order').textContent] : null)
      .filter(Boolean),
    tileBoxes: figures.map(centre),
    tilesOnTop: figures.map((f) => onTop(f.querySelector('img'))),
    prompt: { value: e.prompt.value, disabled: e.prompt.disabled, title: e.prompt.title, onTop: onTop(e.prompt),
              at: centre(e.prompt) },
    negative: { value: e.negative.value, disabled: e.negative.disabled },
    cfg: { value: e.cfg.value, disabled: e.cfg.disabled, shown: e.cfg.getClientRects().length > 0 },
    continueOnTop: onTop(e.button), continueAt: centre(e.button), continueDisabled: e.button.disabled,
    error: e.error.textContent,
    pauseDisabled: panel.pause.disabled, pauseAt: centre(panel.pause), pauseOnTop: onTop(panel.pause),
    stopDisabled: panel.button.disabled, stopAt: centre(panel.button),
    replay: panel.replay.isOpen() ? panel.root.querySelector('.nd-replay span').textContent : '',
    clearAt: centre(panel.replay.clear), clearOnTop: onTop(panel.replay.clear),
    panelHeight: panel.root.getBoundingClientRect().height,
    nodeHeight: node.size[1],
  };
})()"""
STEER_STATE = STEER_STATE_OF % {"id": SAMPLER_ID}
WIDGETS_OF = """(() => { const out = {}; for (const id of %s) {
  const n = app.graph.getNodeById(id); out[id] = Object.fromEntries((n?.widgets ?? [])
    .filter((w) => typeof w.value !== 'object').map((w) => [w.name, w.value])); } return out; })()"""


def wait_steer(session: Session, condition: str, what: str, node_id: int = SAMPLER_ID, timeout: float = 180) -> dict:
    state = STEER_STATE_OF % {"id": node_id}
    return session.wait(f"(() => {{ const s = {state}; return s && ({condition}) ? s : null; }})()", what,
                        timeout=timeout)


def click(session: Session, at: dict) -> None:
    session.run(session.page.click(at["x"], at["y"]))


def on_screen(session: Session, node_id: int = SAMPLER_ID) -> dict:
    """The steer state once the panel is in view and drawn where it now is (the node grows and
    the canvas places DOM widgets on its next frame)."""
    session.bring_into_view(node_id)
    return session.js(STEER_STATE_OF % {"id": node_id})


def press_continue(session: Session, node_id: int = SAMPLER_ID, shot: str | None = None) -> dict:
    """Clicks Continue as a user does, checks the pause ends, and returns the state it had."""
    state = on_screen(session, node_id)
    assert state["open"] and state["continueOnTop"], f"Continue is not clickable: {state}"
    if shot:
        session.shot(shot)
    click(session, state["continueAt"])
    status = state["status"]
    wait_steer(session, f"!s.open || s.status !== {json.dumps(status)}", f"the run to go on after {status}",
               node_id=node_id, timeout=30)
    return state


def type_into(session: Session, at: dict, text: str) -> None:
    """Clicks the field, selects what it holds and types over it, as a user does."""
    click(session, at)
    session.js("(() => { document.activeElement?.select?.(); return true; })()")
    session.run(session.page.send("Input.insertText", text=text))


def finished_history(session: Session, prompt_id: str) -> dict:
    """The prompt's /history entry (stored just after the page hears the prompt end)."""
    for _ in range(100):
        entry = session.server.get_json(f"/history/{prompt_id}").get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            assert entry["status"]["status_str"] == "success", entry["status"]
            return entry
        session.run(asyncio.sleep(0.1))
    raise AssertionError(f"no history for prompt {prompt_id}")


def saved_image_digest(session: Session, prompt_id: str) -> tuple[str, list[str]]:
    """The pixels of the prompt's Save Image files (not the PNG bytes: the embedded workflow
    differs between the runs), and their file names."""
    from PIL import Image

    history = finished_history(session, prompt_id)
    images = history["outputs"][str(SAVE_ID)]["images"]
    digest = hashlib.sha256()
    for item in images:
        with Image.open(session.server.output_dir / item["subfolder"] / item["filename"]) as im:
            digest.update(im.convert("L").tobytes())
    return digest.hexdigest(), [item["filename"] for item in images]


def queue_and_note_pauses(session: Session) -> None:
    """Queues with empty logs of the paused and resumed events."""
    session.js("(() => { __ndPauses.length = 0; __ndResumes.length = 0; return true; })()")
    session.queue()


PAUSE_LOG = """(async () => {
  if (window.__ndPauseLog) return true;
  const { api } = await import('/scripts/api.js');
  window.__ndPauses = []; window.__ndResumes = [];
  api.addEventListener('nested_diffusion.paused', ({ detail }) => __ndPauses.push(detail));
  api.addEventListener('nested_diffusion.resumed', ({ detail }) => __ndResumes.push(detail));
  window.__ndPauseLog = true;
  return true;
})()"""


def prepare(session: Session, renderer: str, prompt: dict, center: int) -> None:
    session.use_renderer(renderer)
    session.js(PAUSE_LOG)
    session.load(prompt, center=center)
    state = PANEL_STATE_OF % {"id": center}
    session.wait(f"(() => {{ const s = {state}; return s?.cost && s.visible ? s : null; }})()",
                 f"the panel in the {renderer} renderer")
    session.bring_into_view(center)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_steer_a_paused_run_then_the_saved_workflow_replays_it(session, renderer):
    outer, inner = 4, 6
    prepare(session, renderer, demo_graph(outer, inner, pause_every=True), SAMPLER_ID)
    before = session.js(STEER_STATE)
    assert not before["open"] and before["pauseDisabled"] and before["replay"] == "", before
    queue_and_note_pauses(session)

    # The first pause: one tile per batch row, the fields prefilled from the graph.
    wait_steer(session, "s.open && s.loaded === s.tiles && s.tiles > 0", "the first pause")
    paused = on_screen(session)
    assert paused["status"] == f"paused after outer step 1/{outer}", paused["status"]
    assert paused["tiles"] == BATCH and paused["loaded"] == BATCH, paused
    assert all("/view?" in src and "type=temp" in src for src in paused["srcs"]), paused["srcs"]
    assert paused["prompt"]["value"] == "a handwritten 7" and not paused["prompt"]["disabled"], paused["prompt"]
    assert paused["negative"]["value"] == "" and not paused["negative"]["disabled"]
    assert paused["cfg"]["shown"] and float(paused["cfg"]["value"]) == 3.0, paused["cfg"]
    assert paused["pauseDisabled"] and not paused["stopDisabled"], "Stop & keep stays usable while paused"
    assert paused["panelHeight"] > before["panelHeight"] + 100, (before["panelHeight"], paused["panelHeight"])
    assert all(paused["tilesOnTop"]) and paused["prompt"]["onTop"] and paused["continueOnTop"], \
        f"the steer area is clipped or covered ({renderer}): {paused}"

    # Pick the third row, type a new prompt, Continue.
    click(session, paused["tileBoxes"][PICKED_ROW])
    picked = wait_steer(session, "s.picked.length === 1", "the picked tile", timeout=10)
    assert picked["picked"] == [[PICKED_ROW, "1"]], picked["picked"]
    type_into(session, paused["prompt"]["at"], NEW_PROMPT)
    assert session.js(STEER_STATE)["prompt"]["value"] == NEW_PROMPT
    press_continue(session, shot=f"20_paused_steer_{renderer}")

    # Later pauses: the prompt field starts from what was steered; Continue unchanged.
    for k in range(2, outer):
        state = wait_steer(session, f"s.open && s.status === 'paused after outer step {k}/{outer}'",
                           f"the pause after outer step {k}")
        assert state["prompt"]["value"] == NEW_PROMPT, state["prompt"]
        assert state["picked"] == [], "a new pause starts with no pick"
        press_continue(session)
    done = wait_steer(session, "s.status.startsWith('done') && !s.open", "the steered run to finish")
    session.shot(f"21_steered_done_{renderer}")
    assert done["status"] == f"done {outer}/{outer}"
    first_prompt = session.js("__nd.prompt")

    resumes = session.js("__ndResumes")
    assert [r["reason"] for r in resumes] == ["steered"] + ["continued"] * (outer - 2), resumes
    assert resumes[0]["applied"] == {"pick": [PICKED_ROW], "prompt": NEW_PROMPT}, resumes[0]["applied"]

    # The record is in the node's steering widget, the seed fixed to the run's.
    widgets = session.js(WIDGETS_OF % f"[{SAMPLER_ID}]")[str(SAMPLER_ID)]
    record = json.loads(widgets["steering"])
    assert record["steps"] == [{"after": 1, "pick": [PICKED_ROW], "prompt": NEW_PROMPT}], record
    assert record["run"]["batch"] == BATCH and record["run"]["outer_steps"] == outer, record["run"]
    assert widgets["seed"] == record["run"]["seed"] and widgets["control_after_generate"] == "fixed", widgets
    assert done["replay"] == "replay set: 1 intervention", done["replay"]
    assert done["panelHeight"] < paused["panelHeight"] - 100, "the panel shrinks back after the pause"
    history = finished_history(session, first_prompt)
    assert history["outputs"][str(SAMPLER_ID)]["nested_steering"] == [widgets["steering"]]
    first_digest, first_files = saved_image_digest(session, first_prompt)

    # Save the workflow from the page, open it again and queue it: the record replays without
    # pausing and gives the same images.
    saved = session.js("JSON.stringify(app.graph.serialize())")
    session.js(f"(async () => {{ await app.loadGraphData({saved}); return true; }})()")
    session.wait(f"app.graph.getNodeById({SAMPLER_ID})?.nestedDiffusionPanel != null", "the reopened workflow",
                 timeout=30)
    replay_line = wait_steer(session, "s.replay", "the replay line of the reopened workflow", timeout=10)
    assert replay_line["replay"] == "replay set: 1 intervention"
    session.bring_into_view()
    session.shot(f"22_replay_set_{renderer}")
    queue_and_note_pauses(session)
    replayed = wait_steer(session, "s.status.startsWith('done')", "the replay to finish")
    second_prompt = session.js("__nd.prompt")
    assert second_prompt != first_prompt
    assert session.js("__ndPauses") == [], "a replay must not pause"
    assert replayed["status"] == f"done {outer}/{outer}"
    second_digest, second_files = saved_image_digest(session, second_prompt)
    assert second_files != first_files
    assert second_digest == first_digest, "the saved workflow does not replay the steered image"
    print(f"{renderer}: record {widgets['steering']}; images {first_files} and {second_files} equal "
          f"(sha256 of pixels {first_digest[:12]})")

    # Clear empties the record; the line goes.
    here = on_screen(session)
    assert here["clearOnTop"], here
    click(session, here["clearAt"])
    cleared = wait_steer(session, "!s.replay", "the replay line to go after Clear", timeout=10)
    assert session.js(WIDGETS_OF % f"[{SAMPLER_ID}]")[str(SAMPLER_ID)]["steering"] == ""
    assert cleared["panelHeight"] < replayed["panelHeight"]
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors or warnings from the pack while steering ({renderer}): {ours}"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_advanced_node_records_and_fixes_its_noise_seed(session, renderer):
    outer, inner = 3, 4
    prompt = demo_graph(outer, inner, pause_every=True)
    simple = prompt[str(SAMPLER_ID)]["inputs"]
    prompt[str(SAMPLER_ID)] = node("NestedKSamplerAdvanced", add_noise="enable", noise_seed=21, start_at_outer_step=0,
                                   end_at_outer_step=10000, return_with_leftover_noise="disable",
                                   **{k: v for k, v in simple.items() if k != "seed"})
    prepare(session, renderer, prompt, SAMPLER_ID)
    queue_and_note_pauses(session)
    wait_steer(session, "s.open && s.loaded === s.tiles && s.tiles > 0", "the pause of NestedKSamplerAdvanced")
    paused = on_screen(session)
    assert paused["status"] == f"paused after outer step 1/{outer}" and paused["tiles"] == BATCH
    click(session, paused["tileBoxes"][3])
    click(session, paused["tileBoxes"][0])
    assert session.js(STEER_STATE)["picked"] == [[0, "2"], [3, "1"]], "the picks keep their click order"
    cfg = on_screen(session)["cfg"]
    assert cfg["shown"] and float(cfg["value"]) == 3.0
    session.js(f"(() => {{ const e = app.graph.getNodeById({SAMPLER_ID}).nestedDiffusionPanel.steer.elements.cfg;"
               " e.focus(); e.select(); return true; })()")
    session.run(session.page.send("Input.insertText", text="4.5"))
    press_continue(session, shot=f"25_advanced_paused_{renderer}")
    wait_steer(session, f"s.open && s.status === 'paused after outer step 2/{outer}'", "the second pause")
    press_continue(session)
    wait_steer(session, "s.status.startsWith('done')", "the run to finish")
    finished_history(session, session.js("__nd.prompt"))
    assert session.js("__ndResumes")[0]["applied"] == {"pick": [3, 0], "cfg": 4.5}
    widgets = session.js(WIDGETS_OF % f"[{SAMPLER_ID}]")[str(SAMPLER_ID)]
    record = json.loads(widgets["steering"])
    assert record["steps"] == [{"after": 1, "cfg": 4.5, "pick": [3, 0]}], record
    assert widgets["noise_seed"] == record["run"]["seed"] == 21 and widgets["control_after_generate"] == "fixed", \
        widgets
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors or warnings from the pack ({renderer}): {ours}"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_pause_button_then_stop_and_keep_while_paused(session, renderer):
    outer, inner = 8, 40
    prompt = demo_graph(outer, inner, pause_every=False)
    prepare(session, renderer, prompt, SAMPLER_ID)
    queue_and_note_pauses(session)
    running = wait_steer(session, "!s.pauseDisabled && s.status.startsWith('outer step')", "an enabled Pause")
    click(session, running["pauseAt"])
    pausing = wait_steer(session, "s.status.startsWith('will pause') || s.open", "the pause to be requested",
                         timeout=30)
    print(f"{renderer}: after Pause: {pausing['status']!r}")
    paused = wait_steer(session, "s.open && s.loaded === s.tiles", "the requested pause")
    k = int(paused["status"].split()[-1].split("/")[0])
    assert paused["status"] == f"paused after outer step {k}/{outer}" and 1 <= k < outer, paused["status"]
    assert paused["tiles"] == BATCH and not paused["stopDisabled"]
    here = on_screen(session)
    session.shot(f"23_paused_by_button_{renderer}")
    click(session, here["stopAt"])
    stopped = wait_steer(session, "/^(stopped|done|cancelled)/.test(s.status)", "the run to end after Stop & keep")
    assert stopped["status"] == f"stopped at {k}/{outer}" and not stopped["open"], stopped["status"]
    assert [r["reason"] for r in session.js("__ndResumes")][-1:] == ["stopped"]
    history = finished_history(session, session.js("__nd.prompt"))
    assert history["outputs"][str(SAVE_ID)]["images"], "Stop & keep while paused still saves the image"
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors or warnings from the pack ({renderer}): {ours}"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_custom_sampling_pauses_for_a_pick_only_and_records_on_the_nested_sampler(session, renderer):
    outer, inner = 3, 4
    prepare(session, renderer, custom_graph(outer, inner), CUSTOM_ID)
    queue_and_note_pauses(session)
    wait_steer(session, "s.open && s.loaded === s.tiles && s.tiles > 0", "the pause of SamplerCustomAdvanced",
               node_id=CUSTOM_ID)
    paused = on_screen(session, CUSTOM_ID)
    assert paused["status"] == f"paused after outer step 1/{outer}"
    assert paused["tiles"] == BATCH
    # The guider owns the conditioning and cfg: the fields are off and say why.
    assert paused["prompt"]["disabled"] and paused["negative"]["disabled"], paused
    assert paused["prompt"]["title"], "the disabled prompt field names why"
    assert not paused["cfg"]["shown"], paused["cfg"]
    assert all(paused["tilesOnTop"]) and paused["continueOnTop"], paused
    click(session, paused["tileBoxes"][1])
    wait_steer(session, "s.picked.length === 1", "the picked tile", node_id=CUSTOM_ID, timeout=10)
    press_continue(session, CUSTOM_ID, shot=f"24_custom_paused_{renderer}")
    wait_steer(session, f"s.open && s.status === 'paused after outer step 2/{outer}'", "the second pause",
               node_id=CUSTOM_ID)
    press_continue(session, CUSTOM_ID)
    wait_steer(session, "s.status.startsWith('done')", "the custom run to finish", node_id=CUSTOM_ID)
    finished_history(session, session.js("__nd.prompt"))
    widgets = session.js(WIDGETS_OF % f"[{NESTED_ID}, 8]")
    record = json.loads(widgets[str(NESTED_ID)]["steering"])
    assert record["steps"] == [{"after": 1, "pick": [1]}], record
    assert widgets["8"]["noise_seed"] == record["run"]["seed"], (widgets["8"], record["run"])
    assert widgets["8"]["control_after_generate"] == "fixed", widgets["8"]
    done = session.js(STEER_STATE_OF % {"id": CUSTOM_ID})
    assert done["replay"] == "replay set: 1 intervention"
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors or warnings from the pack ({renderer}): {ours}"


def test_a_pause_left_alone_times_out_and_says_so(session):
    outer, inner = 2, 2
    prepare(session, "canvas", demo_graph(outer, inner, pause_every=True, timeout_min=0.1), SAMPLER_ID)
    queue_and_note_pauses(session)
    wait_steer(session, "s.open", "the pause")
    session.wait("__ndLines.some((l) => l.status.startsWith('pause timed out'))", "the timeout", timeout=60)
    lines = {line["status"] for line in session.js("__ndLines") if line["status"].startswith("pause timed out")}
    assert lines == {"pause timed out after 0.1 min; continued unchanged"}, lines
    done = wait_steer(session, "s.status.startsWith('done')", "the run to finish")
    assert not done["open"] and done["status"] == f"done {outer}/{outer}"


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_video_pause_shows_each_rows_clip_as_its_tile(session, renderer):
    from test_browser_ui import VIDEO_LENGTH, VIDEO_SIDE, graph

    outer, inner, batch = 2, 2, 2
    prompt = graph(outer, inner, size=VIDEO_SIDE, video_length=VIDEO_LENGTH)
    prompt["4"]["inputs"]["batch_size"] = batch
    prompt[str(SAMPLER_ID)]["inputs"].update(pause_every_outer_step=True, pause_timeout_minutes=10.0, steering="")
    prepare(session, renderer, prompt, SAMPLER_ID)
    queue_and_note_pauses(session)
    wait_steer(session, "s.open && s.loaded === s.tiles && s.tiles > 0", "the pause of a video run")
    paused = on_screen(session)
    clips = session.js("__ndPauses")[0]["clips"]
    assert paused["tiles"] == batch and len(clips) == batch, (paused, clips)
    for src, clip in zip(paused["srcs"], clips):
        assert f"filename={clip['filename']}" in src and "/view?" in src, (src, clip)
    # No clip input: the fields are off and say why; cfg is the node's own and can change.
    assert paused["prompt"]["disabled"] and paused["prompt"]["title"], paused["prompt"]
    assert paused["cfg"]["shown"]
    session.shot(f"26_video_paused_{renderer}")
    press_continue(session)
    done = wait_steer(session, "s.status.startsWith('done')", "the video run to finish")
    assert not done["open"] and done["replay"] == ""
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors or warnings from the pack ({renderer}): {ours}"
