// The node panel of a nested run: Stop & keep, the status line, the planned cost and a strip of
// the outer-step images. The images are the per-outer-step previews ComfyUI already sends
// (b_preview_with_metadata, which names the node), paired with the pack's
// nested_diffusion.outer_step event; for a video run each entry is that event's draft clip
// instead (a looping animated WebP), which the large view plays with a frame counter. The state
// lives in run_state.js, the cost in planned_calls.js, the clip playback in clip_player.js, the
// steering rules in steer_state.js and its DOM in steer_panel.js (Pause, the steer area while a
// run is paused, the replay line: docs/steering.md); this file only wires events to them, to the
// routes and to the graph.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { NestedRuns, PHASE, canPause, canStop, costLine, frameLabel, statusText } from "./run_state.js";
import { plannedCalls, useCallTable } from "./planned_calls.js";
import { ClipPlayer, clipFactsText, frameCounterText } from "./clip_player.js";
import { sourceNode, typeOf, widgetOf, widgetValue } from "./graph_lookup.js";
import { parseRecord, replayText, seedWidgets, steerPrefill } from "./steer_state.js";
import { hasNodeMenuHook, nodeMenuItems } from "./node_menu.js";
import { REPLAY_HEIGHT, STEER_CSS, STEER_HEIGHT, createReplayRow, createSteerArea } from "./steer_panel.js";

const EVENT = "nested_diffusion.outer_step";
const STOP_ROUTE = "/nested_diffusion/stop";
const CALLS_ROUTE = "/nested_diffusion/model_calls";
const PAUSE_ROUTE = "/nested_diffusion/pause";
const STEER_ROUTE = "/nested_diffusion/steer";
const PAUSED_EVENT = "nested_diffusion.paused";
const RESUMED_EVENT = "nested_diffusion.resumed";
const STEERING_WIDGET = "steering";
const PACK_NODES = new Set(["NestedKSampler", "NestedKSamplerAdvanced"]);
const CUSTOM_SAMPLING_NODES = new Set(["SamplerCustom", "SamplerCustomAdvanced"]);
const NESTED_SAMPLER = "SamplerNestedDiffusion";
const PANEL = "nested_diffusion_panel";
const PANEL_HEIGHT = 148;
const NODE_SIDE_MARGINS = 30;  // px between a node's edge and its widgets, both sides
const LARGE_SIDE = 512;  // the host's default --preview-size, which bounds a clip's long side
const VUE_ADOPT_INTERVAL_MS = 500;

const runs = new NestedRuns({
  createUrl: (blob) => URL.createObjectURL(blob),
  revokeUrl: (url) => URL.revokeObjectURL(url),
});
let currentPrompt = null;
// Whether the node menu entries come from the extension hook or from the prototype patch, never
// both (a frontend with the hook also still calls getExtraMenuOptions: each entry would show twice).
const MENU_HOOK = hasNodeMenuHook(app);

// ---- graph lookups --------------------------------------------------------------------------

/** Execution ids of nodes inside subgraphs are "outer:inner"; walk down from the root graph. */
function nodeByExecutionId(id) {
  let graph = app.graph;
  let node = null;
  for (const part of String(id).split(":")) {
    node = graph?.getNodeById(Number(part)) ?? graph?.getNodeById(part) ?? null;
    graph = node?.subgraph;
  }
  return node;
}

function runsNested(node) {
  if (PACK_NODES.has(typeOf(node))) return true;
  return CUSTOM_SAMPLING_NODES.has(typeOf(node)) && typeOf(sourceNode(node, "sampler")) === NESTED_SAMPLER;
}

/** The node's right-click entries (node_menu.js), for whichever mechanism the frontend has. */
function menuItems(node) {
  const run = node.nestedDiffusionKey != null ? runs.run(node.nestedDiffusionKey) : null;
  return nodeMenuItems({ nested: runsNested(node), run, stop: () => stopAndKeep(node), pause: () => pauseRun(node) });
}

// ---- cost before running --------------------------------------------------------------------

/** What the node's widgets plan, for run_state's costLine. */
function nodePlan(node) {
  if (PACK_NODES.has(typeOf(node))) {
    const outer = widgetValue(node, "outer_steps");
    const range = typeOf(node) === "NestedKSamplerAdvanced"
      ? { start: widgetValue(node, "start_at_outer_step"), end: widgetValue(node, "end_at_outer_step") }
      : {};
    const plan = plannedCalls({ outer, inner: widgetValue(node, "inner_steps"),
      sampler: widgetValue(node, "sampler_name"), scheduler: widgetValue(node, "scheduler"), ...range });
    const outerRuns = Math.min(range.end ?? outer, outer) - (range.start ?? 0);
    return { plan, outerRuns, inner: widgetValue(node, "inner_steps"), maxSeconds: widgetValue(node, "max_seconds") };
  }
  // SamplerCustom(Advanced): the outer steps are its SIGMAS; countable when BasicScheduler makes them.
  const nested = sourceNode(node, "sampler");
  const sigmas = sourceNode(node, "sigmas");
  const inner = widgetValue(nested, "inner_steps");
  if (typeOf(sigmas) !== "BasicScheduler") return { text: nested ? `${inner} model calls per outer step` : "" };
  const outer = widgetValue(sigmas, "steps");
  const plan = plannedCalls({ outer, inner, sampler: widgetValue(nested, "inner_sampler"),
    scheduler: widgetValue(sigmas, "scheduler") });
  // The inner schedule is the nested sampler's own; the count is exact when it matches.
  if (plan && (widgetValue(nested, "inner_scheduler") !== widgetValue(sigmas, "scheduler")
      || sourceNode(nested, "inner_sampler_override"))) plan.exact = false;
  return { plan, outerRuns: outer, inner, maxSeconds: widgetValue(nested, "max_seconds") };
}

// ---- the panel (a DOM widget: it works with the canvas and the Vue node renderers) ------------

// The panel carries its own stylesheet (nothing is added to the shared document head); every
// selector is under the pack's own class prefix.
function panelStyle() {
  const style = document.createElement("style");
  style.textContent = `
.nd-panel { display: flex; flex-direction: column; gap: 3px; font: 11px sans-serif; color: #cde;
  box-sizing: border-box; overflow: hidden; }
.nd-row { display: flex; gap: 6px; align-items: center; min-width: 0; }
.nd-row button { flex: none; font: 11px sans-serif; padding: 2px 8px; cursor: pointer; }
.nd-row button:disabled { cursor: default; opacity: 0.45; }
.nd-status, .nd-cost { overflow: hidden; white-space: nowrap; text-overflow: ellipsis; min-width: 0; }
.nd-cost { color: #9ab; }
.nd-strip { display: flex; gap: 4px; overflow-x: auto; overflow-y: hidden; flex: 1; min-height: 0; }
.nd-strip figure { margin: 0; flex: none; width: 64px; cursor: zoom-in; text-align: center; }
.nd-strip img { width: 64px; height: 64px; object-fit: contain; background: #222; display: block; }
.nd-strip figure.nd-clip img { outline: 1px solid #5a7; outline-offset: -1px; }
.nd-strip figcaption { font-size: 10px; white-space: nowrap; overflow: hidden; }
.nd-large { position: fixed; inset: 0; width: 100vw; height: 100vh; max-width: none; max-height: none;
  margin: 0; border: 0; padding: 0; background: rgba(0,0,0,0.8); color: #eee; font: 13px sans-serif;
  cursor: zoom-out; }
.nd-large:popover-open { display: flex; flex-direction: column; align-items: center;
  justify-content: center; gap: 8px; }
.nd-large img { max-width: 90vw; max-height: 85vh; image-rendering: auto; }
.nd-large canvas { max-width: 90vw; max-height: 85vh; object-fit: contain; background: #222;
  image-rendering: pixelated; }
.nd-counter { font-variant-numeric: tabular-nums; color: #9cf; }${STEER_CSS}`;
  return style;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text != null) el.textContent = text;
  return el;
}

function showLarge(root, frame) {
  // A popover inside the node's own widget: the top layer shows it over the whole page without
  // adding to the shared document, and Escape or a click closes it.
  const overlay = element("div", "nd-large");
  overlay.popover = "auto";
  const caption = `outer step ${frame.step}/${frame.total} · ${frame.nfe} model calls · σ ${Number(frame.sigma).toFixed(3)}`;
  const player = frame.clip ? showClip(overlay, frame.clip) : null;
  if (!frame.clip) {
    const img = element("img");
    img.src = frame.url;
    overlay.append(img);
  }
  overlay.append(element("div", null, caption));
  overlay.tabIndex = -1;  // focused while open, so its own key listener hears Escape
  overlay.addEventListener("click", () => overlay.hidePopover());
  overlay.addEventListener("keydown", (e) => { if (e.key === "Escape") overlay.hidePopover(); });
  overlay.addEventListener("toggle", (e) => {
    if (e.newState !== "closed") return;
    player?.stop();
    overlay.remove();
  });
  root.append(overlay);
  overlay.showPopover();
  overlay.focus();
}

/** The large view of a clip: a canvas played frame by frame with a counter; where the browser
 *  has no ImageDecoder (or the clip does not decode) the looping <img> and its frame count. */
function showClip(overlay, clip) {
  const canvas = element("canvas");
  // Small draft clips (latent2rgb is at latent size) are shown enlarged by a whole factor, about
  // as large as a still's large view, with crisp pixels.
  const fit = (w, h) => {
    [canvas.width, canvas.height] = [w, h];
    canvas.style.width = `${w * Math.max(1, Math.floor(LARGE_SIDE / Math.max(w, h)))}px`;
  };
  fit(clip.width || LARGE_SIDE, clip.height || LARGE_SIDE);
  const counter = element("div", "nd-counter", clipFactsText(clip.frames, clip.fps));
  overlay.append(canvas, counter);
  const context = canvas.getContext("2d");
  const player = new ClipPlayer({
    url: clip.url,
    fps: clip.fps,
    Decoder: globalThis.ImageDecoder,
    fetchBytes: async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${response.status} for the clip`);
      return response.arrayBuffer();
    },
    draw: (image) => {
      const w = image.displayWidth ?? image.width;
      const h = image.displayHeight ?? image.height;
      if (canvas.width !== w || canvas.height !== h) fit(w, h);
      context.drawImage(image, 0, 0);
    },
    onFrame: (index, count) => {
      counter.textContent = `${frameCounterText(index, count)}${clip.fps ? ` · ${Number(clip.fps.toFixed(2))} fps` : ""}`;
    },
    onError: () => fallBack(),
    schedule: (fn, ms) => setTimeout(fn, ms),
    cancel: (handle) => clearTimeout(handle),
  });
  function fallBack() {
    if (!canvas.isConnected) return;
    const img = element("img");
    img.src = clip.url;
    img.style.width = canvas.style.width;
    img.style.imageRendering = "pixelated";
    canvas.replaceWith(img);
    counter.textContent = clipFactsText(clip.frames, clip.fps);
  }
  player.start().then((playing) => { if (!playing) fallBack(); });
  return player;
}

/** The panel's height now: it grows by the steer area while paused and by the replay line. */
function panelHeight(panel) {
  if (!panel) return PANEL_HEIGHT;
  return PANEL_HEIGHT + (panel.steer.isOpen() ? STEER_HEIGHT : 0) + (panel.replay.isOpen() ? REPLAY_HEIGHT : 0);
}

function ensurePanel(node) {
  if (node.nestedDiffusionPanel) return node.nestedDiffusionPanel;
  const root = element("div", "nd-panel");
  root.nestedDiffusionNode = node;
  const button = element("button", null, "Stop & keep");
  button.title = "End this nested run now and keep its last finished outer-step image";
  const pause = element("button", null, "Pause");
  pause.title = "Pause after the current outer step: pick rows, edit the prompt or cfg, then Continue";
  // The status has a line of its own: "paused after outer step k/N" and the running line must
  // be read whole beside two buttons.
  const status = element("div", "nd-status");
  const row = element("div", "nd-row");
  row.append(button, pause);
  const cost = element("div", "nd-cost");
  const strip = element("div", "nd-strip");
  const replay = createReplayRow({ onClear: () => clearRecord(node) });
  const steer = createSteerArea({ onContinue: (body) => steerRun(node, body) });
  root.append(panelStyle(), row, status, cost, replay.root, strip, steer.root);
  button.addEventListener("click", () => stopAndKeep(node));
  pause.addEventListener("click", () => pauseRun(node));
  const widget = node.addDOMWidget(PANEL, "nested_diffusion", root, {
    getMinHeight: () => panelHeight(node.nestedDiffusionPanel),
    getMaxHeight: () => panelHeight(node.nestedDiffusionPanel),
  });
  // Display only: never saved in the workflow's widget values nor sent with the prompt.
  widget.serialize = false;
  widget.options.serialize = false;
  node.nestedDiffusionPanel = { widget, root, button, pause, status, cost, strip, replay, steer, shown: 0,
    height: PANEL_HEIGHT, shownPause: null };
  const removed = node.onRemoved;
  node.onRemoved = function () {
    if (this.nestedDiffusionKey != null) runs.forget(this.nestedDiffusionKey);
    return removed?.apply(this, arguments);
  };
  watchWidgets(node, () => refreshLines(node));
  fitNode(node);
  refreshLines(node);
  render(node);
  return node.nestedDiffusionPanel;
}

/** Calls `onChange` after any widget of the node changes (by the user, or by a workflow load,
 *  which sets the value and calls the widget's callback). */
function watchWidgets(node, onChange) {
  for (const widget of node.widgets ?? []) {
    if (widget.name === PANEL || widget.nestedDiffusionWatched) continue;
    const callback = widget.callback;
    widget.callback = function () {
      const result = callback?.apply(this, arguments);
      onChange();
      return result;
    };
    widget.nestedDiffusionWatched = true;
  }
}

function refreshAllLines() {
  for (const node of app.graph?._nodes ?? []) if (node.nestedDiffusionPanel) refreshLines(node);
}

/** Frontend 1.27.10's Vue node renderer (experimental there) draws only the widget types it
 *  knows and never mounts a DOM widget's element; there the panel is put under the node's own
 *  widgets. Later frontends mount it themselves (the panel is then connected and left alone). */
function adoptIntoVueNode(node) {
  const panel = node.nestedDiffusionPanel;
  if (!panel) return;
  const adopted = panel.root.parentElement?.classList.contains("lg-node-widgets");
  // Back in a frontend's own widget container (the canvas renderer): it sizes the panel.
  if (panel.root.isConnected && !adopted) panel.root.style.removeProperty("height");
  if (panel.root.isConnected || globalThis.LiteGraph?.vueNodesMode !== true) return;
  const id = CSS.escape(String(node.id));
  const widgets = document.querySelector(`.lg-node[data-node-id="${id}"] .lg-node-widgets`);
  if (!widgets) return;  // not drawn now (collapsed, or out of view)
  panel.root.style.height = `${panelHeight(panel)}px`;
  widgets.append(panel.root);
}

function adoptPanels() {
  const shown = app.canvas?.graph ?? app.graph;  // a subgraph while one is open
  // That renderer keeps a node's element when another graph with a node of the same id is
  // shown: a panel adopted there for the old node goes.
  for (const stale of document.querySelectorAll(".lg-node-widgets > .nd-panel")) {
    const owner = stale.nestedDiffusionNode;
    const host = stale.closest(".lg-node[data-node-id]")?.getAttribute("data-node-id");
    if (!owner || shown?.getNodeById(owner.id) !== owner || host !== String(owner.id)) stale.remove();
  }
  for (const node of shown?._nodes ?? []) adoptIntoVueNode(node);
}

/** Grows the node to hold the panel (a workflow saved without it stores a smaller size). */
function fitNode(node) {
  const size = node.computeSize?.();
  if (size && node.size[1] < size[1]) node.setSize([Math.max(node.size[0], size[0]), size[1]]);
}

/** Follows the panel's height when the steer area or the replay line comes or goes: the node
 *  grows or shrinks by the difference (a node the user made taller keeps its extra room), never
 *  below what its widgets need. */
function resizePanel(node) {
  const panel = node.nestedDiffusionPanel;
  const height = panelHeight(panel);
  const delta = height - panel.height;
  // While paused the node is also made wide enough for the first few tiles side by side (a
  // SamplerCustomAdvanced is narrow), and given its width back after.
  const tilesWidth = panel.steer.isOpen() ? panel.steer.neededWidth() + NODE_SIDE_MARGINS : 0;
  if (!delta && node.size[0] >= tilesWidth) return;
  if (delta > 0 && panel.steer.isOpen() && panel.widthBefore == null) panel.widthBefore = node.size[0];
  panel.height = height;
  // The 1.27.10 Vue renderer's adopted panel (adoptIntoVueNode) is sized by the pack.
  if (panel.root.parentElement?.classList.contains("lg-node-widgets")) panel.root.style.height = `${height}px`;
  const size = node.computeSize?.();
  if (!size) return;
  let width = Math.max(node.size[0], size[0], tilesWidth);
  if (!panel.steer.isOpen() && panel.widthBefore != null) {
    width = Math.max(size[0], panel.widthBefore);
    panel.widthBefore = null;
  }
  node.setSize([width, Math.max(size[1], node.size[1] + delta)]);
  app.graph?.setDirtyCanvas(true, true);
}

/** The lines that come from widgets: the planned cost and the replay line. Read from the
 *  widgets each time: they may have been set without their callbacks. */
function refreshLines(node) {
  const panel = node.nestedDiffusionPanel;
  if (!panel) return;
  const run = node.nestedDiffusionKey != null ? runs.run(node.nestedDiffusionKey) : null;
  panel.cost.textContent = costLine(nodePlan(node), run);
  panel.replay.set(replayText(widgetValue(recordNodeOf(node), STEERING_WIDGET) ?? ""));
  resizePanel(node);
}

/** Brings the panel up to date with the node's run: appends new thumbnails only. */
function render(node) {
  const panel = node.nestedDiffusionPanel;
  if (!panel) return;
  const run = node.nestedDiffusionKey != null ? runs.run(node.nestedDiffusionKey) : null;
  const frames = run?.frames ?? [];
  if (panel.run !== run) {
    panel.strip.replaceChildren();
    panel.run = run;
    panel.shown = 0;
  }
  for (; panel.shown < frames.length; panel.shown++) {
    const frame = frames[panel.shown];
    const figure = element("figure");
    figure.title = `outer step ${frame.step}/${frame.total} · ${frame.nfe} model calls`;
    if (frame.clip) {
      // The clip loops by itself in an <img>; if it cannot be loaded, the step's still preview.
      const img = element("img");
      figure.classList.add("nd-clip");
      figure.title += frame.clip.frames ? ` · ${frame.clip.frames}-frame clip` : " · clip";
      img.alt = `outer step ${frame.step} clip`;
      img.addEventListener("error", () => {
        figure.classList.remove("nd-clip");
        if (frame.url && img.src !== frame.url) img.src = frame.url;
      }, { once: true });
      img.src = frame.clip.url;
      figure.append(img);
      figure.addEventListener("click", () => showLarge(panel.root, frame));
    } else if (frame.url) {
      const img = element("img");
      img.src = frame.url;
      img.alt = `outer step ${frame.step}`;
      figure.append(img);
      figure.addEventListener("click", () => showLarge(panel.root, frame));
    }
    figure.append(element("figcaption", null, frameLabel(frame)));
    panel.strip.append(figure);
    panel.strip.scrollLeft = panel.strip.scrollWidth;
  }
  panel.status.textContent = panel.status.title = statusText(run);
  panel.button.disabled = !canStop(run);
  panel.pause.disabled = !canPause(run);
  const pause = run?.phase === PHASE.PAUSED ? run.pause : null;
  if (pause !== panel.shownPause) {
    panel.shownPause = pause;
    if (pause) panel.steer.show(run.promptId, pause, steerPrefill(pause.detail, promptTexts(node)));
    else panel.steer.hide();
  }
  refreshLines(node);
  app.graph?.setDirtyCanvas(true, false);
}

function update(key) {
  const node = nodeByExecutionId(key);
  if (!node) return;  // deleted mid-run, or in a graph not shown: nothing to draw
  node.nestedDiffusionKey = key;
  ensurePanel(node);
  render(node);
}

// ---- stop and keep --------------------------------------------------------------------------

async function stopAndKeep(node) {
  const run = node.nestedDiffusionKey != null ? runs.run(node.nestedDiffusionKey) : null;
  // Nothing running here: no request, so no 409 in the console.
  if (!canStop(run)) return;
  // Ends the running nested sampler with its last finished outer-step image; the rest of the
  // graph (decode, save) then runs on it.
  const response = await api.fetchApi(STOP_ROUTE, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt_id: run.promptId }),
  });
  if (response.ok) runs.stopRequested(node.nestedDiffusionKey);
  render(node);
}

// ---- pause and steer (docs/steering.md) -----------------------------------------------------

/** The node whose `steering` widget holds the record: the KSampler itself, or the
 *  SamplerNestedDiffusion feeding SamplerCustom(Advanced). */
function recordNodeOf(node) {
  return PACK_NODES.has(typeOf(node)) ? node : sourceNode(node, "sampler");
}

/** The texts of the CLIP Text Encode nodes feeding positive and negative (null for another
 *  conditioning node), the steer fields' first values. */
function promptTexts(node) {
  const text = (input) => {
    const source = sourceNode(node, input);
    return typeOf(source) === "CLIPTextEncode" ? widgetValue(source, "text") ?? null : null;
  };
  return { prompt: text("positive"), negative: text("negative") };
}

async function postJson(route, body) {
  return api.fetchApi(route, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) });
}

async function pauseRun(node) {
  const key = node.nestedDiffusionKey;
  const run = key != null ? runs.run(key) : null;
  if (!canPause(run)) return;  // nothing running here: no request, so no 409 in the console
  const response = await postJson(PAUSE_ROUTE, { prompt_id: run.promptId });
  if (response.ok) runs.pauseRequested(key);
  render(node);
}

/** Continue: resolves to an error text for the steer area, or null once the server goes on
 *  (its resumed event then hides the area). */
async function steerRun(node, body) {
  let response;
  try {
    response = await postJson(STEER_ROUTE, body);
  } catch (error) {
    return `not sent: ${error?.message ?? error}`;
  }
  if (response.ok) return null;
  const answer = await response.json().catch(() => ({}));
  if (response.status === 409) return "this run is no longer paused";
  return answer?.error ? String(answer.error) : `refused (${response.status})`;
}

function setWidget(node, widget, value) {
  if (widget.value === value) return;
  widget.value = value;
  // As a user's edit does: the frontend and the pack's own watchers hear it.
  widget.callback?.(value, app.canvas, node);
}

/** The frontend marks the workflow modified on its next state check; ask for it now. */
function markChanged() {
  app.graph?.setDirtyCanvas(true, true);
  const tracker = app.extensionManager?.workflow?.activeWorkflow?.changeTracker;
  // captureCanvasState since frontend 1.4x (checkState then warns that it is deprecated).
  (tracker?.captureCanvasState ?? tracker?.checkState)?.call(tracker);
}

/** A resumed run's record goes into the record node's `steering` widget, and the seed is fixed
 *  to the run's own, so that queueing the saved workflow again replays this run exactly. */
function keepRecord(panelNode, detail) {
  const recordNode = nodeByExecutionId(detail.record_node ?? detail.node);
  const widget = widgetOf(recordNode, STEERING_WIDGET);
  // Nothing steered yet (the server sends ""): the widget keeps what it has.
  const record = parseRecord(detail.steering);
  if (!widget || !record?.steps.length) return;
  setWidget(recordNode, widget, detail.steering);
  const seed = seedWidgets(panelNode);
  const runSeed = record.run?.seed;
  if (seed && Number.isFinite(runSeed)) {
    setWidget(seed.owner, seed.seed, runSeed);
    if (seed.control) setWidget(seed.owner, seed.control, "fixed");
  }
  markChanged();
}

function clearRecord(node) {
  const recordNode = recordNodeOf(node);
  const widget = widgetOf(recordNode, STEERING_WIDGET);
  if (widget) setWidget(recordNode, widget, "");
  refreshLines(node);
  markChanged();
}

// ---- the server's model-call table ------------------------------------------------------------

/** The planned cost counts model calls with the server's own table (the one the progress bar
 *  uses); until it arrives, costs of multi-call samplers show as estimates. */
async function loadCallTable() {
  try {
    const response = await api.fetchApi(CALLS_ROUTE);
    if (!response.ok) return;
    useCallTable((await response.json())?.samplers);
    refreshAllLines();
  } catch {
    // An older server without the route: the estimates stay.
  }
}

// ---- websocket events -----------------------------------------------------------------------

function onExecuting(id) {
  if (id == null) {
    runs.endPrompt(currentPrompt, { failed: false });
    for (const key of [...runs.runs.keys()]) update(key);
    return;
  }
  for (const key of runs.activeIn(currentPrompt, id)) {
    runs.finish(key);
    update(key);
  }
  const node = nodeByExecutionId(id);
  if (node && runsNested(node)) {
    runs.begin(id, currentPrompt);
    update(String(id));
  }
}

function onPromptEnd(detail, failed) {
  const promptId = detail?.prompt_id ?? currentPrompt;
  const active = runs.activeIn(promptId, null);
  runs.endPrompt(promptId, { failed });
  for (const key of active) update(key);
}

app.registerExtension({
  name: "nested_diffusion.outer_step_status",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!PACK_NODES.has(nodeData.name) && !CUSTOM_SAMPLING_NODES.has(nodeData.name)) return;
    if (!MENU_HOOK) {
      // Frontends without the extension hook (1.27.10) only know the node's own menu method.
      const menu = nodeType.prototype.getExtraMenuOptions;
      nodeType.prototype.getExtraMenuOptions = function (canvas, options) {
        const result = menu?.apply(this, arguments);
        options.push(...menuItems(this));
        return result;
      };
    }
    if (CUSTOM_SAMPLING_NODES.has(nodeData.name)) {
      // Their panel appears once a nested sampler feeds them; other graphs stay untouched.
      const connections = nodeType.prototype.onConnectionsChange;
      nodeType.prototype.onConnectionsChange = function () {
        const result = connections?.apply(this, arguments);
        if (this.nestedDiffusionPanel) refreshLines(this);
        else if (runsNested(this) && this.graph) ensurePanel(this);
        return result;
      };
    }
  },
  // The supported way where the frontend calls it (see hasNodeMenuHook): entries appended to
  // every node's menu, none for other nodes. An array always: the frontend flattens the answers.
  getNodeMenuItems(node) {
    return MENU_HOOK ? menuItems(node) : [];
  },
  nodeCreated(node) {
    if (PACK_NODES.has(typeOf(node))) ensurePanel(node);
    // The cost (and the replay line) on a SamplerCustom panel come from these two nodes' widgets.
    if (typeOf(node) === NESTED_SAMPLER || typeOf(node) === "BasicScheduler") watchWidgets(node, refreshAllLines);
  },
  loadedGraphNode(node) {
    if (!node.nestedDiffusionPanel && !runsNested(node)) return;
    ensurePanel(node);
    fitNode(node);
    refreshLines(node);
  },
  async setup() {
    // Vue nodes come and go (the renderer setting, a workflow load) without a hook to hear.
    setInterval(adoptPanels, VUE_ADOPT_INTERVAL_MS);
    loadCallTable();
    api.addEventListener("execution_start", ({ detail }) => { currentPrompt = detail?.prompt_id ?? null; });
    api.addEventListener("executing", ({ detail }) => onExecuting(detail));
    api.addEventListener("execution_success", ({ detail }) => onPromptEnd(detail, false));
    api.addEventListener("execution_interrupted", ({ detail }) => onPromptEnd(detail, true));
    api.addEventListener("execution_error", ({ detail }) => onPromptEnd(detail, true));
    api.addEventListener("b_preview_with_metadata", ({ detail }) => {
      // promptId up to frontend 1.4x, jobId since; nodeId is the executing node's id.
      const key = detail?.nodeId;
      if (key == null) return;
      const mayRunNested = !runs.run(key) && CUSTOM_SAMPLING_NODES.has(typeOf(nodeByExecutionId(key)));
      runs.preview(key, detail.promptId ?? detail.jobId, detail.blob, mayRunNested);
    });
    api.addEventListener("progress", ({ detail }) => {
      if (runs.samplerProgress(detail?.node, detail?.prompt_id, detail?.max)) update(String(detail.node));
    });
    api.addEventListener(EVENT, ({ detail }) => {
      if (detail?.node == null) return;
      const node = nodeByExecutionId(detail.node);
      if (!node) return;  // not in this graph (deleted mid-run): keep no images for it
      runs.outerStep(detail, (path) => api.apiURL(path));
      update(String(detail.node));
    });
    api.addEventListener(PAUSED_EVENT, ({ detail }) => {
      if (detail?.node == null || !nodeByExecutionId(detail.node)) return;
      runs.paused(detail, (path) => api.apiURL(path));
      update(String(detail.node));
    });
    api.addEventListener(RESUMED_EVENT, ({ detail }) => {
      const node = detail?.node != null ? nodeByExecutionId(detail.node) : null;
      if (!node) return;
      runs.resumed(detail);
      keepRecord(node, detail);
      update(String(detail.node));
    });
  },
});
