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


def graph(outer: int, inner: int, size: int = 256) -> dict:
    """API-format prompt: tiny model -> NestedKSampler -> SaveLatent."""
    return {
        "1": node("NestedTestTinyModel", kind="eps", seed=0),
        "2": node("NestedTestConditioning", seed=1, zero=False),
        "3": node("NestedTestConditioning", seed=0, zero=True),
        "4": node("EmptyLatentImage", width=size, height=size, batch_size=1),
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
    { t: performance.now(), node: String(detail.node), step: detail.step, planned: detail.planned }));
  // What the node's own progress bar shows (the frontend sets node.progress from progress_state).
  setInterval(() => {
    const p = app.graph.getNodeById(%(id)d)?.progress;
    if (p != null) __nd.nodeProgress.push({ t: performance.now(), p });
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

    def queue(self) -> None:
        self.js("(async () => { __nd.progress.length = 0; __nd.steps.length = 0; __nd.nodeProgress.length = 0;"
                " await app.queuePrompt(0); return true; })()")


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
