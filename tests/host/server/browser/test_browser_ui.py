"""End to end in a real browser: the host's own frontend (1.27.10 on ComfyUI 0.3.64, 1.49.6 on
0.33.0) served by a real ComfyUI with the pack loaded, driven in Debian's headless chromium.

Skips with one line when chromium is missing (COMFYUI_PATH gates the whole server folder).
Screenshots go to $NESTED_BROWSER_SHOTS when set (else the test's temporary folder).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import pytest

from browser_cdp import Page, find_chromium
from comfy_server import ComfyServer

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="browser test skipped: no chromium on PATH "
                                                          "(Debian: apt-get install chromium)")

EXTENSION = "nested_diffusion.outer_step_status"
PACK_MODULE = "nested-diffusion"  # the folder name the server tests link the pack under
# What an error caused by the pack would name: its files (in stacks and failed URLs), its
# events and routes, its nodes.
PACK_NEEDLES = (f"/extensions/{PACK_MODULE}/", "nested_diffusion", "NestedKSampler", "SamplerNestedDiffusion")
SAMPLER_ID = 5
LOAD_TIMEOUT_S = 120
RUN_TIMEOUT_S = 180


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


def graph(outer: int, inner: int, size: int = 256, video_length: int | None = None) -> dict:
    """API-format prompt: tiny model -> NestedKSampler -> SaveLatent; with ``video_length``
    (pixel frames) the tiny WAN 2.1 video model on an empty video latent of that length."""
    if video_length is None:
        model = node("NestedTestTinyModel", kind="eps", seed=0)
        latent = node("EmptyLatentImage", width=size, height=size, batch_size=1)
    else:
        model = node("NestedTestTinyVideoModel", seed=0)
        latent = node("EmptyHunyuanLatentVideo", width=size, height=size, length=video_length, batch_size=1)
    return {
        "1": model,
        "2": node("NestedTestConditioning", seed=1, zero=False),
        "3": node("NestedTestConditioning", seed=0, zero=True),
        "4": latent,
        str(SAMPLER_ID): node("NestedKSampler", model=["1", 0], seed=7, outer_steps=outer, inner_steps=inner,
                              cfg=3.0, sampler_name="euler", scheduler="simple", positive=["2", 0],
                              negative=["3", 0], latent_image=["4", 0], denoise=1.0),
        "6": node("SaveLatent", samples=[str(SAMPLER_ID), 0],
                  filename_prefix=f"nd_browser/{uuid.uuid4().hex[:10]}"),
    }


CUSTOM_ID = 9


def custom_graph(outer: int, inner: int, nested: bool = True) -> dict:
    """SamplerCustomAdvanced with SamplerNestedDiffusion (or a plain KSamplerSelect) and CFGGuider."""
    prompt = {k: v for k, v in graph(outer, inner).items() if k in ("1", "2", "3", "4")}
    prompt["5"] = node("RandomNoise", noise_seed=11)
    prompt["6"] = node("CFGGuider", model=["1", 0], positive=["2", 0], negative=["3", 0], cfg=3.0)
    prompt["7"] = (node("SamplerNestedDiffusion", inner_sampler="euler", inner_steps=inner, inner_scheduler="simple",
                        eta=0.0) if nested else node("KSamplerSelect", sampler_name="euler"))
    prompt["8"] = node("BasicScheduler", model=["1", 0], scheduler="simple", steps=outer, denoise=1.0)
    prompt[str(CUSTOM_ID)] = node("SamplerCustomAdvanced", noise=["5", 0], guider=["6", 0], sampler=["7", 0],
                                  sigmas=["8", 0], latent_image=["4", 0])
    prompt["10"] = node("SaveLatent", samples=[str(CUSTOM_ID), 0],
                        filename_prefix=f"nd_browser/{uuid.uuid4().hex[:10]}")
    return prompt


# Records what the page receives, with the page's clock, to order progress against outer steps.
RECORDER = """(async () => {
  const { api } = await import('/scripts/api.js');
  window.__nd = { progress: [], steps: [], nodeProgress: [], prompt: null };
  api.addEventListener('execution_start', ({ detail }) => { __nd.prompt = detail.prompt_id; __nd.ended = null; });
  api.addEventListener('execution_success', ({ detail }) => { __nd.ended = detail.prompt_id; });
  api.addEventListener('progress', ({ detail }) => __nd.progress.push(
    { t: performance.now(), node: String(detail.node), value: detail.value, max: detail.max }));
  api.addEventListener('nested_diffusion.outer_step', ({ detail }) => __nd.steps.push(
    { t: performance.now(), node: String(detail.node), step: detail.step, planned: detail.planned,
      clip: detail.clip ?? null }));
  // What the node's own progress bar shows (the frontend sets node.progress from progress_state),
  // and the panel's cost and status lines as the user sees them during the run.
  window.__ndLines = [];
  setInterval(() => {
    const node = app.graph.getNodeById(%(id)d);
    const p = node?.progress;
    if (p != null) __nd.nodeProgress.push({ t: performance.now(), p });
    const panel = node?.nestedDiffusionPanel;
    if (panel) __ndLines.push({ cost: panel.cost.textContent, status: panel.status.textContent });
  }, 25);
  return true;
})()""" % {"id": SAMPLER_ID}

PANEL_STATE_OF = """(() => {
  const node = app.graph.getNodeById(%(id)d);
  const panel = node?.nestedDiffusionPanel;
  if (!panel) return null;
  const box = panel.button.getBoundingClientRect();
  return {
    status: panel.status.textContent,
    cost: panel.cost.textContent,
    thumbs: panel.strip.querySelectorAll('img').length,
    loaded: [...panel.strip.querySelectorAll('img')].filter((i) => i.complete && i.naturalWidth > 0).length,
    labels: [...panel.strip.querySelectorAll('figcaption')].map((e) => e.textContent),
    disabled: panel.button.disabled,
    visible: panel.strip.isConnected && panel.strip.getClientRects().length > 0,
    button: { x: box.x + box.width / 2, y: box.y + box.height / 2 },
  };
})()"""
PANEL_STATE = PANEL_STATE_OF % {"id": SAMPLER_ID}


class Session:
    def __init__(self, server: ComfyServer, page: Page, shots: Path, loop: asyncio.AbstractEventLoop):
        self.server, self.page, self.shots, self.loop = server, page, shots, loop

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def js(self, expression: str):
        return self.run(self.page.evaluate(expression))

    def wait(self, expression: str, what: str, timeout: float = RUN_TIMEOUT_S):
        return self.run(self.page.wait_for(expression, timeout, what))

    def shot(self, name: str) -> Path:
        return self.run(self.page.screenshot(self.shots / f"{name}.png"))

    def panel(self) -> dict:
        return self.js(PANEL_STATE)

    def load(self, prompt: dict, center: int = SAMPLER_ID) -> None:
        self.js(f"(async () => {{ await app.loadApiJson({json.dumps(prompt)}, 'nested_browser_test'); "
                f"const n = app.graph.getNodeById({center}); app.canvas.centerOnNode?.(n); "
                "app.graph.setDirtyCanvas(true, true); return true; })()")

    def queue(self, then: str = "") -> None:
        """Queues the graph as the Run button does; ``then``: a statement run right after the
        prompt was sent (the queued prompt no longer changes)."""
        self.js("(async () => { __nd.progress.length = 0; __nd.steps.length = 0; __nd.nodeProgress.length = 0;"
                f" __ndLines.length = 0; __nd.prompt = null; await app.queuePrompt(0); {then}; return true; }})()")

    def run_to_end(self, what: str) -> dict:
        """Waits for the queued prompt to end and returns the panel's state then."""
        self.wait("__nd.prompt != null && __nd.ended === __nd.prompt", what)
        return self.panel()

    def bring_into_view(self, node_id: int = SAMPLER_ID) -> None:
        """Pans the canvas so that the node's panel is on screen (in both renderers the nodes
        follow the canvas's offset)."""
        self.js(f"""(() => {{
          const r = app.graph.getNodeById({node_id}).nestedDiffusionPanel.root.getBoundingClientRect();
          const ds = app.canvas.ds;
          const dy = r.bottom + 40 > innerHeight ? (innerHeight - 40 - r.bottom) : r.top < 80 ? 80 - r.top : 0;
          ds.offset[1] += dy / ds.scale;
          app.canvas.setDirty(true, true);
          return true; }})()""")
        self.run(asyncio.sleep(0.5))  # the next frame draws the nodes at the new offset

    def close_dialogs(self) -> None:
        """Closes open dialogs (a template browser left by an earlier test) as a user does."""
        for _ in range(3):
            if not self.js("[...document.querySelectorAll('[role=dialog]')].some((d) => d.getClientRects().length)"):
                return
            self.run(self.page.press_escape())
            self.run(asyncio.sleep(0.5))
        raise AssertionError("a dialog stays open after Escape")

    def use_renderer(self, renderer: str) -> None:
        """The canvas (LiteGraph) or the Vue node renderer, as the setting a user toggles."""
        self.close_dialogs()
        vue = "true" if renderer == "vue" else "false"
        self.js(f"(async () => {{ await app.extensionManager.setting.set('Comfy.VueNodes.Enabled', {vue}); "
                "return true; })()")
        self.wait(f"app.extensionManager.setting.get('Comfy.VueNodes.Enabled') === {vue}", "the renderer setting",
                  timeout=10)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser")
    user_dir = workdir / "user"
    # A returning user: no first-run template dialog over the canvas.
    (user_dir / "default").mkdir(parents=True)
    (user_dir / "default" / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    shots = Path(os.environ.get("NESTED_BROWSER_SHOTS") or workdir / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    server = ComfyServer(os.environ["COMFYUI_PATH"], workdir, "none",
                         extra_args=("--user-directory", str(user_dir))).start()
    loop = asyncio.new_event_loop()
    page = Page(CHROMIUM, workdir)
    try:
        loop.run_until_complete(page.start())
        loop.run_until_complete(page.goto(server.base + "/"))
        loop.run_until_complete(page.wait_for(
            f"window.app?.graph && app.extensions?.some((e) => e.name === {json.dumps(EXTENSION)})",
            LOAD_TIMEOUT_S, "the frontend and the pack's extension"))
        loop.run_until_complete(page.evaluate(RECORDER))
        yield Session(server, page, shots, loop)
    finally:
        loop.run_until_complete(page.close())
        loop.close()
        server.stop()


def test_node_docs_are_served_where_the_info_panel_asks(session):
    # The frontend asks /extensions/<custom node folder>/docs/<Node>.md, the folder being the
    # second part of the node's python_module, and rejects an HTML answer.
    info = session.server.object_info()
    for name in ("NestedKSampler", "NestedKSamplerAdvanced", "SamplerNestedDiffusion"):
        folder = info[name]["python_module"].split(".")[1]
        doc = session.js(f"""(async () => {{
          const r = await fetch('/extensions/{folder}/docs/{name}.md');
          return {{ status: r.status, type: r.headers.get('content-type'), text: await r.text() }}; }})()""")
        assert doc["status"] == 200 and "html" not in (doc["type"] or ""), (name, doc["status"], doc["type"])
        assert doc["text"].startswith("# "), doc["text"][:80]


def test_extension_registers_without_console_errors(session):
    session.run(asyncio.sleep(2))  # late errors of the startup (extension imports, first draw)
    version = session.js("window.__COMFYUI_FRONTEND_VERSION__ ?? null")
    names = session.js("app.extensions.map((e) => e.name)")
    assert names.count(EXTENSION) == 1
    session.shot("01_loaded")
    # The frontends log errors of their own on a fresh user folder (404s of optional user files,
    # 1.27.10 a TypeError in a settings callback); reported, but only the pack's are failures.
    print(f"frontend {version}: all console errors after load: {[e.splitlines()[0] for e in session.page.errors()]}")
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors or warnings from the pack on frontend {version}: {ours}"


def test_a_full_run_fills_the_strip_step_by_step(session):
    outer, inner = 4, 6
    session.load(graph(outer, inner))
    state = session.wait("(() => { const s = %s; return s?.cost ? s : null; })()" % PANEL_STATE, "the cost line")
    assert state["cost"] == f"planned: {outer} x {inner} \u2192 {outer * inner} model calls"
    assert state["disabled"] and state["status"] == ""
    session.shot("02_before_run")
    session.queue()
    done = session.wait(f"(() => {{ const s = {PANEL_STATE}; return s?.status.startsWith('done') ? s : null; }})()",
                        "the run to finish")
    session.shot("03_done")
    record = session.js("__nd")
    steps = [s for s in record["steps"] if s["node"] == str(SAMPLER_ID)]
    assert [s["step"] for s in steps] == list(range(1, outer + 1))
    assert done["status"] == f"done {outer}/{outer}"
    assert done["thumbs"] == outer and done["loaded"] == outer, done
    assert done["labels"] == [f"{k} · {k * inner} calls" for k in range(1, outer + 1)]
    assert done["disabled"], "Stop & keep must be disabled after the run"
    assert done["visible"]
    # The progress bar moves inside the first inner run, before the first outer step's image.
    first_step_t = steps[0]["t"]
    early = [p for p in record["progress"]
             if p["node"] == str(SAMPLER_ID) and p["t"] < first_step_t and 0 < p["value"] < p["max"]]
    shown = [p["p"] for p in record["nodeProgress"] if p["t"] < first_step_t]
    print(f"progress updates before the first outer step: {[(p['value'], p['max']) for p in early]}; "
          f"node.progress before it: {len(shown)} samples, max {max(shown, default=None)}")
    assert early, f"no progress update before the first outer step ended: {record['progress'][:8]}"
    assert steps[-1]["planned"] == outer * inner


def test_a_thumbnail_opens_large_and_closes(session):
    box = session.js(f"""(() => {{
      const img = app.graph.getNodeById({SAMPLER_ID}).nestedDiffusionPanel.strip.querySelectorAll('img')[1];
      const r = img.getBoundingClientRect(); return {{ x: r.x + r.width / 2, y: r.y + r.height / 2 }}; }})()""")
    session.run(session.page.click(box["x"], box["y"]))
    large = session.wait("(() => { const o = document.querySelector('.nd-large'); "
                         "return o ? { text: o.textContent, w: o.querySelector('img').naturalWidth } : null; })()",
                         "the large view", timeout=10)
    session.shot("04_large")
    assert large["text"].startswith("outer step 2/4") and large["w"] > 0
    session.run(session.page.press_escape())
    session.wait("!document.querySelector('.nd-large')", "the large view to close", timeout=10)


def test_stop_and_keep_ends_the_run_with_the_image_saved(session):
    outer, inner = 8, 8
    session.load(graph(outer, inner))
    session.queue()
    state = session.wait(
        f"(() => {{ const s = {PANEL_STATE}; return s && s.thumbs >= 1 && !s.disabled ? s : null; }})()",
        "the first outer step and an enabled Stop & keep")
    assert state["status"].startswith("outer step ")
    session.shot("05_running")
    session.run(session.page.click(state["button"]["x"], state["button"]["y"]))
    stopped = session.wait(
        f"(() => {{ const s = {PANEL_STATE}; return /^(stopped|done|cancelled)/.test(s?.status) ? s : null; }})()",
        "the run to end after Stop & keep")
    session.shot("06_stopped")
    k = stopped["thumbs"]
    assert stopped["status"] == f"stopped at {k}/{outer}", stopped
    assert 1 <= k < outer
    assert stopped["disabled"]
    prompt_id = session.js("__nd.prompt")
    history = session.server.get_json(f"/history/{prompt_id}")[prompt_id]
    assert history["status"]["status_str"] == "success"
    saved = history["outputs"]["6"]["latents"][0]
    assert (session.server.output_dir / saved["subfolder"] / saved["filename"]).is_file()
    print(f"stop and keep: status {stopped['status']!r}, thumbnails {k}, saved {saved['filename']}")
    ours = session.page.problems_mentioning(*PACK_NEEDLES, "409")
    assert not ours, f"errors or warnings from the pack during the runs: {ours}"


def test_a_node_deleted_mid_run_breaks_nothing(session):
    session.load(graph(6, 6))
    session.queue()
    session.wait(f"(() => {{ const s = {PANEL_STATE}; return s && s.thumbs >= 1 ? s : null; }})()",
                 "the first outer step")
    session.js(f"(() => {{ app.graph.remove(app.graph.getNodeById({SAMPLER_ID})); return true; }})()")
    # The server finishes the prompt it was given; the page goes on receiving its events.
    session.wait("__nd.ended && __nd.ended === __nd.prompt", "the prompt to finish")
    assert session.js(PANEL_STATE) is None
    assert len([s for s in session.js("__nd.steps") if s["node"] == str(SAMPLER_ID)]) == 6
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors after deleting the running node: {ours}"


def test_sampler_custom_advanced_gets_the_strip_only_with_a_nested_sampler(session):
    outer, inner = 3, 2
    custom_state = PANEL_STATE_OF % {"id": CUSTOM_ID}
    session.load(custom_graph(outer, inner, nested=False), center=CUSTOM_ID)
    assert session.js(custom_state) is None, "a plain SamplerCustomAdvanced must stay untouched"
    session.load(custom_graph(outer, inner), center=CUSTOM_ID)
    state = session.wait(f"(() => {{ const s = {custom_state}; return s?.cost ? s : null; }})()", "the cost line")
    assert state["cost"] == f"planned: {outer} x {inner} \u2192 {outer * inner} model calls"
    session.queue()
    done = session.wait(f"(() => {{ const s = {custom_state}; return s?.status.startsWith('done') ? s : null; }})()",
                        "the custom-sampling run to finish")
    session.shot("07_custom_advanced")
    assert done["status"] == f"done {outer}/{outer}"
    assert done["thumbs"] == outer and done["loaded"] == outer, done
    print(f"SamplerCustomAdvanced: status {done['status']!r}, thumbnails {done['thumbs']}, cost {done['cost']!r}")


def test_templates_show_thumbnails_and_titles(session):
    names = session.server.get_json("/api/workflow_templates").get(PACK_MODULE, [])
    assert names, "the pack serves no templates"
    session.js("(async () => { await app.extensionManager.command.execute('Comfy.BrowseTemplates'); return true; })()")
    # The pack's own category in the dialog's side list, clicked as a user would; again if the
    # click landed while the dialog was still opening (its cards did not come).
    find_entry = f"""(() => {{
      // 1.27.10 lists categories as <li>, 1.49.6 as buttons around a <span>.
      const label = [...document.querySelectorAll('[role=dialog] *')]
        .find((e) => e.children.length === 0 && e.textContent.trim() === '{PACK_MODULE}');
      const item = label?.closest('li, button, a, [role=button], [role=option], [role=menuitem]') ?? label;
      if (!item) return null;
      item.scrollIntoView({{ block: 'center' }});
      const r = item.getBoundingClientRect(); return {{ x: r.x + r.width / 2, y: r.y + r.height / 2 }};
    }})()"""
    first_card = f"""[...document.querySelectorAll('[role=dialog] *')]
      .some((e) => e.children.length === 0 && e.textContent.trim() === {json.dumps(names[0])})"""
    for attempt in range(3):
        entry = session.wait(find_entry, "the pack's category in the template dialog", timeout=60)
        session.run(session.page.click(entry["x"], entry["y"]))
        try:
            session.wait(first_card, "the pack's template cards", timeout=20)
            break
        except TimeoutError:
            if attempt == 2:
                session.shot("08_templates_missing")
                raise
    # Each card: its title (the template's name) and its thumbnail, scrolled into view (cards load
    # lazily). 1.27.10 shows a thumbnail as a blob: URL and drops a failed one's src; 1.49.6
    # shows /workflow_templates/... and swaps a failed one for default-template.png.
    shown = {}
    for name in names:
        shown[name] = session.wait(f"""(() => {{
          const title = [...document.querySelectorAll('[role=dialog] *')]
            .find((e) => e.children.length === 0 && e.textContent.trim() === {json.dumps(name)});
          let card = title;
          while (card && !card.querySelector('img')) card = card.parentElement;
          if (!card) return null;
          card.scrollIntoView({{ block: 'center' }});
          const img = card.querySelector('img');
          const ok = img.complete && img.naturalWidth > 0 && img.src && !img.src.includes('default-template');
          window.__ndSince ??= {{}};
          window.__ndSince[{json.dumps(name)}] ??= performance.now();
          if (!ok && performance.now() - window.__ndSince[{json.dumps(name)}] < 15000) return null;
          return {{ ok, src: img.src, w: img.naturalWidth }};
        }})()""", f"the card of template {name!r}", timeout=60)
    session.shot("08_templates")
    missing = {name: card["src"] for name, card in shown.items() if not card["ok"]}
    assert not missing, f"template thumbnails not shown (placeholder instead): {missing}"
    print(f"templates shown with thumbnails: {names}")
    session.close_dialogs()


RENDERERS = ("canvas", "vue")
VIDEO_LENGTH = 29  # pixel frames: (29 - 1) // 4 + 1 = 8 latent frames of WAN 2.1
VIDEO_SIDE = 128   # 16 x 16 latents

# Each filmstrip entry: is it a clip, what it loads, where it is on the page.
STRIP_OF = """(() => {
  const panel = app.graph.getNodeById(%(id)d)?.nestedDiffusionPanel;
  return panel ? [...panel.strip.querySelectorAll('figure')].map((f) => {
    const img = f.querySelector('img'); const r = img.getBoundingClientRect();
    return { clip: f.classList.contains('nd-clip'), src: img.src, loaded: img.complete && img.naturalWidth > 0,
             w: img.naturalWidth, h: img.naturalHeight, box: { x: r.x, y: r.y, width: r.width, height: r.height } };
  }) : null;
})()"""
# The large view now: its frame counter and a checksum of its canvas's pixels.
LARGE_VIEW = """(() => {
  const view = document.querySelector('.nd-large'); if (!view) return null;
  const canvas = view.querySelector('canvas'); const counter = view.querySelector('.nd-counter');
  let sum = null;
  if (canvas && canvas.width > 0) {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    sum = 0; for (let i = 0; i < d.length; i += 4) sum = (sum * 31 + d[i] + 3 * d[i + 1] + 7 * d[i + 2]) >>> 0;
  }
  const img = view.querySelector('img');
  return { canvas: !!canvas, img: img ? { src: img.src, w: img.naturalWidth } : null,
           counter: counter?.textContent ?? null, sum, text: view.textContent };
})()"""


def distinct_looks(session: Session, box: dict, samples: int = 12, interval_s: float = 0.15) -> int:
    """How many different pictures a page rectangle shows over ``samples`` screenshots."""
    seen = set()
    for _ in range(samples):
        seen.add(session.run(session.page.screenshot_region(box["x"], box["y"], box["width"], box["height"])))
        session.run(asyncio.sleep(interval_s))
    return len(seen)


def open_large(session: Session, box: dict) -> dict:
    session.run(session.page.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
    return session.wait(f"(() => {{ const v = {LARGE_VIEW}; "
                        "return v && (v.counter?.startsWith('frame') || v.img?.w > 0) ? v : null; })()",
                        "the clip's large view", timeout=20)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_video_run_shows_a_playing_clip_per_outer_step(session, renderer):
    outer, inner = 3, 2
    session.use_renderer(renderer)
    session.load(graph(outer, inner, size=VIDEO_SIDE, video_length=VIDEO_LENGTH))
    session.wait("(() => { const s = %s; return s?.cost && s.visible ? s : null; })()" % PANEL_STATE,
                 f"the panel in the {renderer} renderer")
    session.bring_into_view()
    session.queue()
    # What a user sees while it runs (the run may also end before this look).
    session.wait(f"(() => {{ const s = {PANEL_STATE}; return s?.status.startsWith('outer step') "
                 "|| __nd.ended === __nd.prompt; })()", "the first outer step")
    session.shot(f"09_video_running_{renderer}")
    done = session.run_to_end("the video run to finish")
    steps = [s for s in session.js("__nd.steps") if s["node"] == str(SAMPLER_ID)]
    clips = [s["clip"] for s in steps]
    assert len(steps) == outer and all(clips), f"every outer step of a video run names its clip: {clips}"
    frames = clips[-1]["frames"]
    assert frames == (VIDEO_LENGTH - 1) // 4 + 1, clips[-1]
    assert done["status"] == f"done {outer}/{outer} \u00b7 {frames}-frame clip"
    assert done["labels"] == [f"{k} \u00b7 {k * inner} calls" for k in range(1, outer + 1)]
    running = [line["status"] for line in session.js("__ndLines") if line["status"].startswith("outer step")]
    assert running and all(f"{frames}-frame clip" in status for status in running), running[:3]
    session.bring_into_view()
    # One panel on screen (a renderer switch or a reloaded graph leaves no second one).
    panels = session.js("[...document.querySelectorAll('.nd-panel')].filter((e) => e.getClientRects().length).length")
    assert panels == 1, f"{panels} panels shown for one nested node ({renderer})"
    strip = session.wait(f"(() => {{ const s = {STRIP_OF % {'id': SAMPLER_ID}}; "
                         "return s && s.every((f) => f.loaded) ? s : null; })()", "the clips to load", timeout=30)
    for entry, clip in zip(strip, clips):
        assert entry["clip"] and "/view?" in entry["src"] and f"filename={clip['filename']}" in entry["src"], entry
        assert (entry["w"], entry["h"]) == (clip["width"], clip["height"]), (entry, clip)
    # The entries play: the same thumbnail looks different from moment to moment.
    looks = [distinct_looks(session, entry["box"]) for entry in (strip[0], strip[-1])]
    session.shot(f"09_video_strip_{renderer}")
    print(f"{renderer}: status {done['status']!r}, clip {clips[-1]}, distinct pictures of the first and last "
          f"thumbnails in 12 screenshots: {looks}")
    assert all(n >= 2 for n in looks), f"a clip thumbnail does not animate: {looks}"

    # The large view plays the last outer step's clip frame by frame, with its counter.
    has_decoder = session.js("typeof ImageDecoder === 'function'")
    large = open_large(session, strip[-1]["box"])
    if has_decoder:
        seen = []
        for _ in range(12):
            seen.append(session.js(LARGE_VIEW))
            session.run(asyncio.sleep(0.12))
        session.shot(f"10_video_large_{renderer}")
        counters = {v["counter"].split(" \u00b7 ")[0] for v in seen}
        sums = {v["sum"] for v in seen}
        print(f"{renderer}: large view counters {sorted(counters)}, {len(sums)} distinct canvas pictures")
        assert all(c.startswith("frame ") and c.endswith(f"/{frames}") for c in counters), counters
        assert len(counters) >= 2 and len(sums) >= 2, f"the large view does not play: {counters}, {len(sums)}"
        assert f"outer step {outer}/{outer}" in seen[-1]["text"]
    else:
        print(f"{renderer}: no ImageDecoder in this chromium: the large view is the looping image")
        assert large["img"] and large["img"]["w"] > 0 and f"{frames} frames" in large["text"], large
    session.run(session.page.press_escape())
    session.wait("!document.querySelector('.nd-large')", "the large view to close", timeout=10)
    ours = session.page.problems_mentioning(*PACK_NEEDLES)
    assert not ours, f"errors or warnings from the pack during the video run ({renderer}): {ours}"


def test_the_large_view_without_imagedecoder_shows_the_looping_clip_and_its_frame_count(session):
    # Browsers without WebCodecs' ImageDecoder (or where it cannot decode the clip) get the
    # clip as a looping image with its frame count; the strip of the last video test is reused.
    strip = session.js(STRIP_OF % {"id": SAMPLER_ID})
    clip = [s for s in session.js("__nd.steps") if s["node"] == str(SAMPLER_ID)][-1]["clip"]
    session.js("(() => { window.__ndDecoder = window.ImageDecoder; delete window.ImageDecoder; return true; })()")
    try:
        large = open_large(session, strip[-1]["box"])
    finally:
        session.js("(() => { window.ImageDecoder = window.__ndDecoder; return true; })()")
    assert not large["canvas"] and large["img"]["w"] > 0, large
    assert f"{clip['frames']} frames" in large["text"], large["text"]
    session.run(session.page.press_escape())
    session.wait("!document.querySelector('.nd-large')", "the large view to close", timeout=10)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_planned_line_shows_the_runs_figure_when_widgets_were_set_by_a_script(session, renderer):
    # Widgets set without their callbacks (a script, another extension, an API-format load)
    # leave the line as it was; once the run starts it shows what the run plans. The seed is
    # fixed (its control after generate would otherwise call a widget callback after queueing).
    session.use_renderer(renderer)
    session.load(graph(4, 6))
    session.wait("(() => { const s = %s; return s?.cost ? s : null; })()" % PANEL_STATE, "the cost line")
    set_widgets = ("const n = app.graph.getNodeById(%d); for (const [k, v] of Object.entries(%%s)) "
                   "n.widgets.find((w) => w.name === k).value = v" % SAMPLER_ID)
    runs = []
    # First the widgets as queued; then widgets changed again right after queueing (the run
    # keeps what was queued: 5 x 3).
    for widgets, then, expected in (
            ('{"outer_steps": 5, "inner_steps": 3, "control_after_generate": "fixed", "seed": 101}', "",
             "planned: 5 x 3 \u2192 15 model calls"),
            ('{"seed": 102}', set_widgets % '{"outer_steps": 7, "inner_steps": 7}',
             "planned: 5 outer steps \u2192 15 model calls (this run)")):
        session.js("(() => { %s; return true; })()" % (set_widgets % widgets))
        before = session.panel()["cost"]
        session.queue(then)
        assert session.run_to_end("the run to finish")["status"] == "done 5/5"
        planned = {s["planned"] for s in session.js("__nd.steps") if s["node"] == str(SAMPLER_ID)}
        running = {line["cost"] for line in session.js("__ndLines") if line["status"].startswith("outer step")}
        runs.append((before, sorted(running)))
        assert planned == {15}, planned
        assert running == {expected}, f"while running: {running}, expected {expected!r}"
    session.shot(f"11_planned_line_{renderer}")
    print(f"{renderer}: (line before queueing, lines while running) per run: {runs}; "
          f"after: {session.panel()['cost']!r}")


MENU_LABELS = ("Nested Diffusion: stop and keep current image", "Nested Diffusion: pause after this outer step")
# The node's menu as the frontend's own code builds it for a right-click (the canvas and, on
# 1.49.6, the Vue node menu both call it): the extensions' getNodeMenuItems answers included.
NODE_MENU_OF = """(() => {
  const node = app.graph.getNodeById(%(id)d);
  return app.canvas.getNodeMenuOptions(node).filter((o) => o && typeof o === 'object')
    .map((o) => ({ content: String(o.content), disabled: !!o.disabled }));
})()"""
# Which mechanism gives the pack's entries: the extension hook (app.collectNodeMenuItems calls
# every extension's getNodeMenuItems; null where the frontend has no such hook) or the node's own
# getExtraMenuOptions (the prototype patch, what 1.27.10 calls).
MENU_SOURCES_OF = """(() => {
  const node = app.graph.getNodeById(%(id)d);
  const labels = %(labels)s;
  const pick = (items) => (items ?? []).filter((o) => o && labels.includes(o.content)).map((o) => o.content);
  const extra = [];
  const returned = node.getExtraMenuOptions?.(app.canvas, extra);
  return { hook: typeof app.collectNodeMenuItems === 'function' ? pick(app.collectNodeMenuItems(node)) : null,
           patch: pick([...extra, ...(Array.isArray(returned) ? returned : [])]) };
})()"""
# Where to right-click the node: its title bar, in page coordinates (a Vue node's own element,
# or the canvas position of the LiteGraph node).
NODE_TITLE_AT = """(() => {
  const node = app.graph.getNodeById(%(id)d);
  const el = document.querySelector('[data-node-id="%(id)d"]');
  if (el && el.getClientRects().length) {
    const r = el.getBoundingClientRect();
    return { x: r.x + Math.min(60, r.width / 3), y: r.y + 12, vue: true };
  }
  const c = app.canvas.canvas.getBoundingClientRect();
  const ds = app.canvas.ds;
  const titleY = node.pos[1] - (LiteGraph.NODE_TITLE_HEIGHT ?? 30) / 2;
  return { x: c.x + (node.pos[0] + 60 + ds.offset[0]) * ds.scale, y: c.y + (titleY + ds.offset[1]) * ds.scale,
           vue: false };
})()"""
# The shown menu entries carrying each label (the innermost visible element with that text, and
# the menu item around it): how many there are, whether disabled, where.
MENU_SHOWN = """(() => {
  const labels = %(labels)s;
  const visible = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  const shown = {};
  for (const label of labels) {
    const hits = [...document.querySelectorAll('body *')].filter((e) => e.textContent.trim() === label && visible(e)
      && ![...e.children].some((c) => c.textContent.trim() === label));
    shown[label] = hits.map((e) => {
      const item = e.closest('.litemenu-entry, [role="menuitem"], li') ?? e;
      const r = item.getBoundingClientRect();
      return { disabled: item.classList.contains('disabled') || item.classList.contains('p-disabled')
                 || item.getAttribute('aria-disabled') === 'true'
                 || item.hasAttribute('data-disabled') || item.getAttribute('data-p-disabled') === 'true',
               tag: item.tagName, cls: String(item.className), x: r.x + r.width / 2, y: r.y + r.height / 2 };
    });
  }
  return shown;
})()""" % {"labels": json.dumps(MENU_LABELS)}


def open_node_menu(session: Session, node_id: int = SAMPLER_ID) -> dict:
    """Right-clicks the node's title as a user does; the menu entries of the pack once shown."""
    at = session.js(NODE_TITLE_AT % {"id": node_id})
    session.run(session.page.right_click(at["x"], at["y"]))
    shown = session.wait(f"(() => {{ const m = {MENU_SHOWN}; "
                         "return Object.values(m).every((h) => h.length) ? m : null; })()",
                         "the pack's entries in the node's context menu", timeout=15)
    session.run(asyncio.sleep(0.4))  # the Vue menu fades in: screenshots after it
    return shown


def close_menu(session: Session) -> None:
    session.run(session.page.press_escape())
    session.run(asyncio.sleep(0.3))
    if any(session.js(MENU_SHOWN).values()):  # the canvas menu closes on a click elsewhere: empty canvas
        session.run(session.page.click(1370, 350))  # right of the test graph, above the minimap
        session.run(asyncio.sleep(0.3))


@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_node_menu_shows_stop_and_pause_once_with_their_states(session, renderer):
    outer, inner = 8, 8
    version = session.js("window.__COMFYUI_FRONTEND_VERSION__ ?? null")
    session.use_renderer(renderer)
    session.load(graph(outer, inner))
    session.wait("(() => { const s = %s; return s?.cost && s.visible ? s : null; })()" % PANEL_STATE,
                 f"the panel in the {renderer} renderer")
    session.bring_into_view()
    built = [o for o in session.js(NODE_MENU_OF % {"id": SAMPLER_ID}) if o["content"] in MENU_LABELS]
    assert built == [{"content": label, "disabled": True} for label in MENU_LABELS], (version, built)
    sources = session.js(MENU_SOURCES_OF % {"id": SAMPLER_ID, "labels": json.dumps(MENU_LABELS)})
    print(f"frontend {version}: entries from the hook {sources['hook']}, from getExtraMenuOptions {sources['patch']}")
    if sources["hook"] is None:  # 1.27.10: no extension hook, the prototype patch
        assert sources["patch"] == list(MENU_LABELS), sources
    else:  # 1.49.6: the supported hook only, the node's own method adds nothing
        assert sources == {"hook": list(MENU_LABELS), "patch": []}, sources
    # A plain node gets none of them.
    plain = session.js(NODE_MENU_OF % {"id": 6})
    assert not [o for o in plain if o["content"] in MENU_LABELS], plain
    if renderer == "vue" and version.startswith("1.27."):
        pytest.skip("frontend 1.27.10's Vue nodes open no context menu on right-click (only the selection "
                    "toolbox); its node menu was checked as the frontend builds it")
    shown = open_node_menu(session)
    session.shot(f"10_node_menu_idle_{renderer}")
    print(f"frontend {version} ({renderer}): menu entries {json.dumps(shown)}")
    assert [len(shown[label]) for label in MENU_LABELS] == [1, 1], shown
    assert [shown[label][0]["disabled"] for label in MENU_LABELS] == [True, True], shown
    close_menu(session)
    # While the nested sampler runs both are enabled, and the Stop entry stops the run.
    session.queue()
    session.wait(f"(() => {{ const s = {PANEL_STATE}; return s && s.thumbs >= 1 && !s.disabled ? s : null; }})()",
                 "the first outer step and an enabled Stop & keep")
    shown = open_node_menu(session)
    session.shot(f"11_node_menu_running_{renderer}")
    assert [len(shown[label]) for label in MENU_LABELS] == [1, 1], shown
    assert [shown[label][0]["disabled"] for label in MENU_LABELS] == [False, False], shown
    stop = shown[MENU_LABELS[0]][0]
    session.run(session.page.click(stop["x"], stop["y"]))
    stopped = session.wait(
        f"(() => {{ const s = {PANEL_STATE}; return /^(stopped|done|cancelled)/.test(s?.status) ? s : null; }})()",
        "the run to end after the menu's Stop")
    assert stopped["status"] == f"stopped at {stopped['thumbs']}/{outer}", stopped
    built = [o for o in session.js(NODE_MENU_OF % {"id": SAMPLER_ID}) if o["content"] in MENU_LABELS]
    assert built == [{"content": label, "disabled": True} for label in MENU_LABELS], (version, built)
    # 1.49.6 warns about menu monkey-patching ("[DEPRECATED] Monkey-patching getNodeMenuOptions ...
    # (Extension: ...)", "[Context Menu Compat] ..."); none may name the pack or getExtraMenuOptions.
    warned = [t for t in session.page.problems_mentioning("getExtraMenuOptions", "deprecated", "DEPRECATED",
                                                          "Context Menu Compat")
              if any(n in t for n in (*PACK_NEEDLES, EXTENSION)) or "getExtraMenuOptions" in t]
    assert not warned, f"menu deprecation warnings on frontend {version}: {warned}"
    ours = session.page.problems_mentioning(*PACK_NEEDLES, "409")
    assert not ours, f"errors or warnings from the pack around the node menu: {ours}"
